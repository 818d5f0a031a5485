"""A key's validity window (Infobip's validFrom / validTo): refused before valid_from and from
expires_at on, to the exact instant (frozen clock); the services, the Authkey pages and the API
all see the same window."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from accounts import services as account_services
from accounts.models import Company
from authkeys import selectors, services
from authkeys.auth import Refusal, authenticate_key
from authkeys.models import AuthKey, SecurityEvent
from messaging import diagnostics
from messaging.models import FailedRequest
from tests.factories import PASSWORD, CompanyFactory, UserFactory, builtin_rule, make_key
from tests.helpers import pass_otp_gate

pytestmark = pytest.mark.django_db

OFFICE = "203.0.113.10"
START = datetime(2031, 3, 1, 9, 0, tzinfo=UTC)
END = datetime(2031, 4, 1, 9, 0, tzinfo=UTC)
TICK = timedelta(microseconds=1)


def _refusal(secret: str) -> Refusal | None:
    return authenticate_key(secret, OFFICE).refusal


def _window_key(**kwargs):  # type: ignore[no-untyped-def]
    with time_machine.travel(START - timedelta(days=1), tick=False):
        return make_key(ip_security=False, valid_from=START, expires_at=END, **kwargs)


@pytest.mark.parametrize(
    ("moment", "refusal"),
    [
        (START - timedelta(days=1), Refusal.NOT_YET_VALID),
        (START - TICK, Refusal.NOT_YET_VALID),
        (START, None),
        (END - TICK, None),
        (END, Refusal.EXPIRED),
        (END + timedelta(days=1), Refusal.EXPIRED),
    ],
)
def test_the_window_is_exact_to_the_instant(moment, refusal):
    _, secret = _window_key()
    with time_machine.travel(moment, tick=False):
        assert _refusal(secret) == refusal


def test_cached_grant_still_sees_the_clock():
    """The grant is cached; the window is decided against the clock on every request."""
    _, secret = _window_key()
    with time_machine.travel(START - TICK, tick=False) as clock:
        assert _refusal(secret) == Refusal.NOT_YET_VALID
        clock.move_to(START)
        assert _refusal(secret) is None
        clock.move_to(END)
        assert _refusal(secret) == Refusal.EXPIRED


def test_disabled_and_company_status_come_before_the_window():
    authkey, secret = _window_key()
    services.authkey_set_enabled(authkey=authkey, actor=None, enabled=False)
    with time_machine.travel(START - TICK, tick=False):
        assert _refusal(secret) == Refusal.DISABLED
        account_services.company_set_status(company=authkey.company, status=Company.Status.BANNED)
        assert _refusal(secret) == Refusal.COMPANY_INACTIVE


def test_update_moves_the_window_at_once():
    authkey, secret = _window_key()
    with time_machine.travel(START - timedelta(hours=1), tick=False):
        assert _refusal(secret) == Refusal.NOT_YET_VALID
        services.authkey_update(
            authkey=authkey,
            actor=None,
            name=authkey.name,
            use_case="",
            rule=authkey.rule,
            expires_at=END,
            valid_from=None,
        )
        assert _refusal(secret) is None
        event = SecurityEvent.objects.filter(kind=SecurityEvent.Kind.KEY_UPDATED).get()
        assert event.before == {"valid_from": START.isoformat()} and event.after == {"valid_from": None}


def test_update_without_valid_from_keeps_it():
    authkey, _ = _window_key()
    with time_machine.travel(START - timedelta(hours=1), tick=False):
        services.authkey_update(
            authkey=authkey, actor=None, name="Renamed", use_case="", rule=authkey.rule, expires_at=END
        )
    authkey.refresh_from_db()
    assert authkey.valid_from == START and authkey.name == "Renamed"


@pytest.mark.parametrize(
    ("valid_from", "expires_at", "code"),
    [
        (END, START, "validity_order"),
        (START, START, "validity_order"),
        (None, START - timedelta(days=2), "expiry_past"),
    ],
)
def test_create_refuses_a_bad_window_and_creates_nothing(valid_from, expires_at, code):
    company = CompanyFactory()
    with time_machine.travel(START - timedelta(days=1), tick=False), pytest.raises(ValidationError) as error:
        make_key(company=company, valid_from=valid_from, expires_at=expires_at)
    assert error.value.code == code
    assert not AuthKey.objects.filter(company=company).exists()
    assert not SecurityEvent.objects.filter(company=company).exists()


def test_update_refuses_an_end_before_the_start():
    authkey, _ = _window_key()
    with time_machine.travel(START - timedelta(days=1), tick=False), pytest.raises(ValidationError) as error:
        services.authkey_update(
            authkey=authkey,
            actor=None,
            name=authkey.name,
            use_case="",
            rule=authkey.rule,
            expires_at=END,
            valid_from=END + timedelta(days=1),
        )
    assert error.value.code == "validity_order"
    authkey.refresh_from_db()
    assert (authkey.valid_from, authkey.expires_at) == (START, END)


# --- The API's answer ---------------------------------------------------------------------------


def test_api_refuses_a_key_before_its_start_with_207_and_a_failed_log(client):
    authkey, secret = _window_key()
    message = {"sender": "ACMEIN", "destinations": [{"to": "919876543210"}], "content": {"text": "Hi"}}
    body = {"messages": [message]}
    with time_machine.travel(START - TICK, tick=False):
        response = client.post(
            "/sms/3/messages", body, content_type="application/json", HTTP_AUTHORIZATION=f"App {secret}"
        )
    assert response.status_code == 401 and response.json()["errorCode"] == "E401"
    assert response.json()["description"] == (
        "[207] This authentication key is not valid before 2031-03-01 09:00:00 UTC."
    )
    failed = FailedRequest.objects.get()
    assert (failed.code, failed.authkey_id) == ("207", authkey.pk)


def test_ip_check_tool_explains_the_start():
    authkey, _ = _window_key()
    check = diagnostics.ip_check(authkey=authkey, ip=OFFICE, now=START - TICK)
    assert check.error is not None and check.error.code == "207"
    step = next(step for step in check.steps if step.label == "Expiry")
    assert not step.ok and "not valid before 2031-03-01 09:00" in step.detail
    assert diagnostics.ip_check(authkey=authkey, ip=OFFICE, now=START).error is None


# --- keys_expiring (for the expiry alert) -------------------------------------------------------


def test_keys_expiring_lists_enabled_keys_ending_within_the_window():
    now = datetime(2031, 3, 10, 12, 0, tzinfo=UTC)
    company = CompanyFactory()
    with time_machine.travel(now - timedelta(days=1), tick=False):
        soon, _ = make_key(company=company, name="Soon", expires_at=now + timedelta(days=3))
        edge, _ = make_key(company=company, name="Edge", expires_at=now + timedelta(days=7))
        make_key(company=company, name="Later", expires_at=now + timedelta(days=7, seconds=1))
        make_key(company=company, name="Never")
        off, _ = make_key(company=company, name="Off", expires_at=now + timedelta(days=1))
        make_key(company=company, name="Gone", expires_at=now + timedelta(hours=1))
        banned = CompanyFactory()
        make_key(company=banned, name="Banned", expires_at=now + timedelta(days=1))
    services.authkey_set_enabled(authkey=off, actor=None, enabled=False)
    account_services.company_set_status(company=banned, status=Company.Status.BANNED)
    assert list(selectors.keys_expiring(within=timedelta(days=7), now=now)) == [
        AuthKey.objects.get(name="Gone"),
        soon,
        edge,
    ]
    later = now + timedelta(hours=2)  # "Gone" has ended by then; "Later" comes into the window
    assert list(selectors.keys_expiring(within=timedelta(days=7), now=later)) == [
        soon,
        edge,
        AuthKey.objects.get(name="Later"),
    ]


# --- The Authkey pages --------------------------------------------------------------------------


@pytest.fixture
def owner(client, sms_outbox):  # type: ignore[no-untyped-def]
    user = UserFactory()
    client.login(email=user.email, password=PASSWORD)
    pass_otp_gate(client, user, sms_outbox)
    return user


def _local(moment: datetime) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%dT%H:%M")


def _form(**overrides):  # type: ignore[no-untyped-def]
    data = {
        "name": "Website",
        "use_case": "",
        "rule": builtin_rule().pk,
        "ip_security": "on",
        "valid_from": "",
        "expires_at": "",
        "whitelist_ips": "",
    }
    return {**data, **overrides}


def test_create_page_shows_and_saves_both_fields(client, owner):
    page = client.get(reverse("authkeys:create")).content.decode()
    assert 'name="valid_from"' in page and 'name="expires_at"' in page and "Valid from" in page
    start, end = timezone.now() + timedelta(days=1), timezone.now() + timedelta(days=30)
    response = client.post(
        reverse("authkeys:create"), _form(valid_from=_local(start), expires_at=_local(end))
    )
    assert response.status_code == 200
    authkey = AuthKey.objects.get(company=owner.company)
    assert authkey.valid_from == start.replace(second=0, microsecond=0)
    assert authkey.expires_at == end.replace(second=0, microsecond=0)
    assert "Valid from" in client.get(reverse("authkeys:index")).content.decode()


@pytest.mark.parametrize(
    ("valid_from", "expires_at", "message"),
    [
        (10, 5, "The expiry (valid to) must be after the start of validity (valid from)."),
        (10, 10, "The expiry (valid to) must be after the start of validity (valid from)."),
        (None, -1, "The expiry must be in the future."),
    ],
)
def test_create_page_refuses_a_bad_window(client, owner, valid_from, expires_at, message):
    now = timezone.now()
    data = _form(
        valid_from=_local(now + timedelta(days=valid_from)) if valid_from is not None else "",
        expires_at=_local(now + timedelta(days=expires_at)),
    )
    response = client.post(reverse("authkeys:create"), data)
    assert response.status_code == 400
    assert message in str(response.context["form"].errors["expires_at"])
    assert not AuthKey.objects.filter(company=owner.company).exists()


def test_edit_page_keeps_untouched_exact_values_and_saves_a_new_start(client, owner):
    start = timezone.now() + timedelta(days=1, seconds=17)
    end = timezone.now() + timedelta(days=9, seconds=42)
    authkey, _ = make_key(company=owner.company, name="Website", valid_from=start, expires_at=end)
    edit = reverse("authkeys:edit", args=[authkey.pk])
    page = client.get(edit).content.decode()
    assert f'value="{_local(start)}"' in page
    response = client.post(edit, _form(valid_from=_local(start), expires_at=_local(end)))
    assert response.status_code == 302
    authkey.refresh_from_db()
    assert (authkey.valid_from, authkey.expires_at) == (start, end)
    assert not SecurityEvent.objects.filter(kind=SecurityEvent.Kind.KEY_UPDATED).exists()
    new_start = timezone.now() + timedelta(days=2)
    client.post(edit, _form(valid_from=_local(new_start), expires_at=_local(end)))
    authkey.refresh_from_db()
    assert authkey.valid_from == new_start.replace(second=0, microsecond=0)
    response = client.post(edit, _form(valid_from=_local(end + timedelta(days=1)), expires_at=_local(end)))
    assert response.status_code == 400 and "valid from" in str(response.context["form"].errors["expires_at"])
