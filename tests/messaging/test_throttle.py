"""Brute-force throttle of password-style API credentials (messaging/throttle.py): Infobip Basic,
POST /auth/1/session, SMSGatewayCenter userId/password and the OAuth client credentials."""

import base64
import json
from datetime import timedelta

import pytest
import time_machine
from django.contrib.auth.signals import user_login_failed
from django.utils import timezone

from accounts.models import Company, User
from authkeys import auth
from authkeys.models import KeySecret
from messaging.models import ApiSession, FailedRequest, Message, OAuthAccessToken
from tests.factories import PASSWORD, CompanyFactory, UserFactory, make_key

pytestmark = pytest.mark.django_db

V2 = "/sms/2/text/advanced"
V3 = "/sms/3/messages"
SESSION = "/auth/1/session"
TOKEN = "/auth/1/oauth2/token"
REGENERATE = "/SMSApi/rest/regenerateAPIKey"
LIMIT = 3
WINDOW = 600
_count = iter(range(10**6))


@pytest.fixture(autouse=True)
def _limits(settings):
    settings.AUTHKEY_LOCAL_CACHE_SECONDS = 0
    auth._local.clear()
    settings.API_AUTH_FAILURES_PER_USERNAME = LIMIT
    settings.API_AUTH_FAILURES_PER_IP = 2 * LIMIT
    settings.API_AUTH_FAILURE_WINDOW_SECONDS = WINDOW


@pytest.fixture
def company():
    return CompanyFactory(sms_balance=100)


@pytest.fixture
def owner(company):
    return UserFactory(company=company, role=User.Role.OWNER)


@pytest.fixture
def key(company):
    return make_key(company=company, ip_security=False, name="Main")


@pytest.fixture
def hashed():
    """Every password check django.contrib.auth makes and fails (a locked attempt makes none)."""
    failures: list[str] = []

    def receiver(sender, credentials, **kwargs):  # type: ignore[no-untyped-def]
        failures.append(credentials["username"])

    user_login_failed.connect(receiver, dispatch_uid="test-throttle")
    yield failures
    user_login_failed.disconnect(dispatch_uid="test-throttle")


def basic(email, password=PASSWORD):
    return "Basic " + base64.b64encode(f"{email}:{password}".encode()).decode()


def send_v3(client, authorization, ip="127.0.0.1"):
    entry = {
        "sender": "InfoSMS",
        "destinations": [{"to": "41793026727"}],
        "content": {"text": f"Hi {next(_count)}"},
    }
    body = {"messages": [entry]}
    return client.post(
        V3, json.dumps(body), content_type="application/json",
        headers={"Authorization": authorization}, REMOTE_ADDR=ip,
    )  # fmt: skip


def fail_basic(client, email, times, ip="127.0.0.1"):
    for _ in range(times):
        assert send_v3(client, basic(email, "wrong-password"), ip).status_code == 401


def assert_locked_v3(response):
    assert response.status_code == 429
    assert response["Retry-After"] == str(WINDOW)
    body = response.json()
    assert body["errorCode"] == "E429" and body["description"].startswith("[201] Too many failed")


def test_basic_is_locked_after_the_limit_even_with_the_right_password(client, company, owner, hashed):
    fail_basic(client, owner.email, LIMIT)
    assert len(hashed) == LIMIT

    response = send_v3(client, basic(owner.email))

    assert_locked_v3(response)
    assert Message.objects.count() == 0
    assert Company.objects.get(pk=company.pk).sms_balance == 100
    locked = FailedRequest.objects.order_by("-pk").first()
    assert (locked.code, locked.company, locked.endpoint) == ("201", company, V3)
    assert "Too many failed" in locked.reason and PASSWORD not in locked.reason
    # A locked attempt is refused without checking the password at all.
    send_v3(client, basic(owner.email, "another-guess"))
    assert len(hashed) == LIMIT


def test_the_sms2_shape_is_too_many_requests(client, owner):
    fail_basic(client, owner.email, LIMIT)
    body = {"messages": [{"from": "InfoSMS", "destinations": [{"to": "41793026727"}], "text": "Hi"}]}
    response = client.post(
        V2, json.dumps(body), content_type="application/json", headers={"Authorization": basic(owner.email)}
    )
    assert response.status_code == 429 and response["Retry-After"] == str(WINDOW)
    assert response.json()["requestError"]["serviceException"]["messageId"] == "TOO_MANY_REQUESTS"


def test_below_the_limit_the_right_password_works(client, owner):
    fail_basic(client, owner.email, LIMIT - 1)
    assert send_v3(client, basic(owner.email)).status_code == 200


def test_the_lock_ends_with_the_window(client, owner):
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        fail_basic(client, owner.email, LIMIT)
    with time_machine.travel(start + timedelta(seconds=WINDOW - 1), tick=False):
        assert_locked_v3(send_v3(client, basic(owner.email)))
    with time_machine.travel(start + timedelta(seconds=WINDOW + 1), tick=False):
        assert send_v3(client, basic(owner.email)).status_code == 200


def test_a_success_resets_nothing(client, owner):
    fail_basic(client, owner.email, LIMIT - 1)
    assert send_v3(client, basic(owner.email)).status_code == 200
    fail_basic(client, owner.email, 1)
    assert_locked_v3(send_v3(client, basic(owner.email)))


def test_the_username_is_case_folded(client, owner):
    fail_basic(client, owner.email.upper(), LIMIT)
    assert_locked_v3(send_v3(client, basic(owner.email)))


def test_the_username_lock_holds_from_any_ip(client, owner):
    fail_basic(client, owner.email, LIMIT, ip="10.0.0.1")
    assert_locked_v3(send_v3(client, basic(owner.email), ip="10.0.0.2"))


def test_the_ip_lock_covers_every_username_from_that_ip(client, company, owner):
    for index in range(2 * LIMIT):  # a different (unknown) username each time: a spraying attack
        fail_basic(client, f"nobody{index}@example.com", 1, ip="10.0.0.9")

    assert_locked_v3(send_v3(client, basic(owner.email), ip="10.0.0.9"))
    assert send_v3(client, basic(owner.email), ip="10.0.0.8").status_code == 200


@pytest.mark.parametrize(
    "credentials", ["Basic bm90LWJhc2U2NA", basic("", "x"), basic("someone@x.example", "")]
)
def test_malformed_or_incomplete_credentials_do_not_count(client, owner, credentials):
    for _ in range(LIMIT + 1):
        assert send_v3(client, credentials).status_code == 401
    assert send_v3(client, basic(owner.email)).status_code == 200


def test_session_creation_is_throttled(client, owner):
    def create(password):  # type: ignore[no-untyped-def]
        body = {"username": owner.email, "password": password}
        return client.post(SESSION, json.dumps(body), content_type="application/json")

    for _ in range(LIMIT):
        assert create("wrong-password").status_code == 401
    response = create(PASSWORD)
    assert response.status_code == 429 and response["Retry-After"] == str(WINDOW)
    assert response.json()["requestError"]["serviceException"]["messageId"] == "TOO_MANY_REQUESTS"
    assert not ApiSession.objects.exists()


def test_smsgatewaycenter_userid_password_is_throttled(client, company, owner, key, hashed):
    for _ in range(LIMIT):
        response = client.post(REGENERATE, {"userId": owner.email, "password": "wrong", "format": "json"})
        assert response.status_code == 401
    digests = set(KeySecret.objects.values_list("digest", flat=True))

    response = client.post(REGENERATE, {"userId": owner.email, "password": PASSWORD, "format": "json"})

    assert response.status_code == 429 and response["Retry-After"] == str(WINDOW)
    body = response.json()
    assert (body["status"], body["statusCode"]) == ("error", "911") and "apiKey" not in body
    assert set(KeySecret.objects.values_list("digest", flat=True)) == digests  # not regenerated
    locked = FailedRequest.objects.order_by("-pk").first()
    assert (locked.code, locked.company) == ("201", company)
    assert len(hashed) == LIMIT


def test_oauth_client_credentials_are_throttled(client, company, key):
    authkey, secret = key
    wrong = make_key(company=CompanyFactory())[1]  # well-formed, but not this client's secret
    for _ in range(LIMIT):
        form = {
            "client_id": authkey.display_prefix,
            "client_secret": wrong,
            "grant_type": "client_credentials",
        }
        assert client.post(TOKEN, form).status_code == 401

    form = {"client_id": authkey.display_prefix, "client_secret": secret, "grant_type": "client_credentials"}
    response = client.post(TOKEN, form)

    assert response.status_code == 429 and response["Retry-After"] == str(WINDOW)
    body = response.json()
    assert body["error"] == "invalid_client" and body["error_description"].startswith("[207] Too many")
    assert "no-store" in response["Cache-Control"]
    assert not OAuthAccessToken.objects.exists()
    assert FailedRequest.objects.order_by("-pk").first().code == "207"


def test_api_keys_themselves_are_not_throttled(client, company, key, owner):
    for index in range(2 * LIMIT):
        fail_basic(client, f"nobody{index}@example.com", 1)
    assert_locked_v3(send_v3(client, basic(owner.email)))  # the IP is locked for passwords ...
    assert send_v3(client, f"App {key[1]}").status_code == 200  # ... not for API keys
