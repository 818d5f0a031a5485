"""Expired Infobip sessions / OAuth access tokens are purged by a periodic task; staff see the live
ones in the admin (never their digests) and can revoke them through the service."""

from datetime import timedelta

import pytest
import time_machine
from django.conf import settings as django_settings
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from messaging import sessions
from messaging.models import ApiSession, Message, OAuthAccessToken
from messaging.tasks import purge_expired_credentials
from tests.factories import CompanyFactory, UserFactory, make_key
from tests.messaging.test_api_infobip import V3, access_token, new_session, post, v3_body

pytestmark = pytest.mark.django_db


@pytest.fixture
def company():
    return CompanyFactory(sms_balance=100)


@pytest.fixture
def key(company):
    return make_key(company=company, ip_security=False)


@pytest.fixture
def member(company):
    return UserFactory(company=company, role=User.Role.MEMBER)


def test_the_purge_deletes_only_expired_credentials(client, member, key, settings):
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        new_session(client, member)
        access_token(client, key[1])
    settings.INFOBIP_ACCESS_TOKEN_SECONDS = 7200
    with time_machine.travel(start + timedelta(minutes=30), tick=False):
        live_token = access_token(client, key[1])  # expires at start + 150 min

    assert sessions.purge_expired(now=start + timedelta(minutes=59)) == {"sessions": 0, "access_tokens": 0}
    assert ApiSession.objects.count() == 1 and OAuthAccessToken.objects.count() == 2

    assert sessions.purge_expired(now=start + timedelta(minutes=60)) == {"sessions": 1, "access_tokens": 1}
    assert ApiSession.objects.count() == 0
    assert OAuthAccessToken.objects.count() == 1
    with time_machine.travel(start + timedelta(minutes=61), tick=False):
        assert post(client, V3, v3_body(), f"Bearer {live_token}").status_code == 200


def test_the_purge_task_runs_the_service_and_is_on_beat(client, member):
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        new_session(client, member)
    with time_machine.travel(start + timedelta(hours=2), tick=False):
        assert purge_expired_credentials.delay().get() == {"sessions": 1, "access_tokens": 0}
    assert not ApiSession.objects.exists()
    entry = django_settings.CELERY_BEAT_SCHEDULE["messaging-purge-expired-credentials"]
    assert entry["task"] == "messaging.tasks.purge_expired_credentials"
    assert entry["schedule"] == django_settings.API_CREDENTIALS_PURGE_SECONDS


def test_admin_lists_sessions_and_tokens_without_digests(admin_client, client, member, key):
    new_session(client, member)
    access_token(client, key[1])
    session, token = ApiSession.objects.get(), OAuthAccessToken.objects.get()

    for name, obj, visible in (
        ("apisession", session, member.email),
        ("oauthaccesstoken", token, key[0].display_prefix),
    ):
        listing = admin_client.get(reverse(f"admin:messaging_{name}_changelist"), {"q": ""}).content.decode()
        detail = admin_client.get(reverse(f"admin:messaging_{name}_change", args=[obj.pk])).content.decode()
        assert visible in listing and visible in detail
        assert obj.digest not in listing and obj.digest not in detail
        assert admin_client.get(reverse(f"admin:messaging_{name}_add")).status_code == 403


def test_admin_revoke_action_stops_the_credentials_at_once(admin_client, client, member, key):
    session_token = new_session(client, member)
    bearer = access_token(client, key[1])
    assert post(client, V3, v3_body(), f"IBSSO {session_token}").status_code == 200

    for name, model in (("apisession", ApiSession), ("oauthaccesstoken", OAuthAccessToken)):
        response = admin_client.post(
            reverse(f"admin:messaging_{name}_changelist"),
            {"action": "revoke", "_selected_action": list(model.objects.values_list("pk", flat=True))},
            follow=True,
        )
        assert "1 revoked." in response.content.decode()
        assert not model.objects.exists()

    sent = Message.objects.count()
    assert post(client, V3, v3_body(), f"IBSSO {session_token}").status_code == 401
    assert post(client, V3, v3_body(), f"Bearer {bearer}").status_code == 401
    assert Message.objects.count() == sent
    new_session(client, member)  # the user may open a new session after a revocation
