from datetime import timedelta

import pytest
import time_machine
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.otp import sms_device_for
from tests.factories import PASSWORD, UserFactory
from tests.helpers import last_code, pass_otp_gate

pytestmark = pytest.mark.django_db


@pytest.fixture
def owner_client(client):
    user = UserFactory()
    client.login(email=user.email, password=PASSWORD)
    client.user = user
    return client


def test_authkey_page_requires_the_gate_then_opens(owner_client, sms_outbox):
    response = owner_client.get(reverse("authkeys:index"))
    assert response.status_code == 302
    assert response.url == reverse("accounts:otp_gate") + "?next=%2Fauthkey%2F"

    pass_otp_gate(owner_client, owner_client.user, sms_outbox)

    response = owner_client.get(reverse("authkeys:index"))
    assert response.status_code == 200
    assert b"Authkey" in response.content


def test_gate_redirects_back_to_next_after_verification(owner_client, sms_outbox):
    mobile = owner_client.user.company.registered_mobile
    owner_client.post(reverse("accounts:otp_gate"), {"mobile": mobile, "next": "/authkey/rules/"})
    response = owner_client.post(
        reverse("accounts:otp_verify"), {"code": last_code(sms_outbox), "next": "/authkey/rules/"}
    )
    assert response.url == "/authkey/rules/"


def test_gate_ignores_an_offsite_next(owner_client, sms_outbox):
    mobile = owner_client.user.company.registered_mobile
    owner_client.post(reverse("accounts:otp_gate"), {"mobile": mobile})
    response = owner_client.post(
        reverse("accounts:otp_verify"), {"code": last_code(sms_outbox), "next": "https://evil.example/"}
    )
    assert response.url == reverse("portal:dashboard")


def test_verification_rotates_the_session_id(owner_client, sms_outbox):
    before = owner_client.session.session_key
    pass_otp_gate(owner_client, owner_client.user, sms_outbox)
    assert owner_client.session.session_key != before


def test_mobile_in_another_notation_is_accepted(owner_client, sms_outbox):
    national = owner_client.user.company.registered_mobile.removeprefix("+91")
    response = owner_client.post(reverse("accounts:otp_gate"), {"mobile": national})
    assert response.status_code == 302
    assert len(sms_outbox) == 1


@pytest.mark.parametrize(
    ("mobile", "message"),
    [
        ("+919812345678", "not the registered mobile"),
        ("12", "is not a valid number"),
        ("", "This field is required"),
    ],
)
def test_wrong_or_bad_mobile_is_refused_and_nothing_is_sent(owner_client, sms_outbox, mobile, message):
    response = owner_client.post(reverse("accounts:otp_gate"), {"mobile": mobile})
    assert response.status_code == 400
    assert message in response.content.decode()
    assert sms_outbox == []
    assert "otp_gate_device" not in owner_client.session


def _request_code(client, sms_outbox) -> str:
    client.post(reverse("accounts:otp_gate"), {"mobile": client.user.company.registered_mobile})
    return last_code(sms_outbox)


def _assert_not_verified(client):
    response = client.get(reverse("authkeys:index"))
    assert response.status_code == 302


def test_wrong_code_is_refused(owner_client, sms_outbox):
    code = _request_code(owner_client, sms_outbox)
    wrong = "000000" if code != "000000" else "111111"
    response = owner_client.post(reverse("accounts:otp_verify"), {"code": wrong})
    assert response.status_code == 400
    assert "That code is not correct." in response.content.decode()
    _assert_not_verified(owner_client)


@pytest.mark.parametrize("code", ["12345", "abcdef", "1234567", ""])
def test_malformed_code_is_refused_without_counting_a_failure(owner_client, sms_outbox, code):
    _request_code(owner_client, sms_outbox)
    response = owner_client.post(reverse("accounts:otp_verify"), {"code": code})
    assert response.status_code == 400
    assert "6-digit code" in response.content.decode() or "required" in response.content.decode()
    assert sms_device_for(owner_client.user).throttling_failure_count == 0


def test_expired_code_is_refused_with_its_reason(owner_client, sms_outbox):
    code = _request_code(owner_client, sms_outbox)
    with time_machine.travel(timezone.now() + timedelta(minutes=6)):
        response = owner_client.post(reverse("accounts:otp_verify"), {"code": code})
    assert "expired" in response.content.decode()
    _assert_not_verified(owner_client)


def test_replayed_code_is_refused(owner_client, sms_outbox):
    code = _request_code(owner_client, sms_outbox)
    response = owner_client.post(reverse("accounts:otp_verify"), {"code": code})
    assert response.status_code == 302
    # The same user, a second browser, replays the code it saw.
    client = Client()
    client.login(email=owner_client.user.email, password=PASSWORD)
    client.user = owner_client.user
    session = client.session
    session["otp_gate_device"] = sms_device_for(owner_client.user).persistent_id
    session.save()
    response = client.post(reverse("accounts:otp_verify"), {"code": code})
    assert response.status_code == 400
    assert "already used or never sent" in response.content.decode()
    _assert_not_verified(client)


def test_too_many_attempts_are_throttled(owner_client, sms_outbox):
    code = _request_code(owner_client, sms_outbox)
    wrong = "000000" if code != "000000" else "111111"
    with time_machine.travel(timezone.now(), tick=False):
        owner_client.post(reverse("accounts:otp_verify"), {"code": wrong})
        response = owner_client.post(reverse("accounts:otp_verify"), {"code": code})
    assert response.status_code == 400
    assert "Wrong codes slow down verification: wait" in response.content.decode()
    _assert_not_verified(owner_client)


def test_verification_window_runs_out(owner_client, sms_outbox, settings):
    pass_otp_gate(owner_client, owner_client.user, sms_outbox)
    assert owner_client.get(reverse("authkeys:index")).status_code == 200
    with time_machine.travel(timezone.now() + timedelta(seconds=settings.OTP_GATE_WINDOW_SECONDS + 1)):
        response = owner_client.get(reverse("authkeys:index"))
    assert response.status_code == 302


def test_window_is_configurable(owner_client, sms_outbox, settings):
    settings.OTP_GATE_WINDOW_SECONDS = 60
    pass_otp_gate(owner_client, owner_client.user, sms_outbox)
    with time_machine.travel(timezone.now() + timedelta(seconds=61)):
        assert owner_client.get(reverse("authkeys:index")).status_code == 302


def test_session_verified_for_another_user_does_not_count(owner_client, sms_outbox):
    pass_otp_gate(owner_client, owner_client.user, sms_outbox)
    intruder = UserFactory()
    session = owner_client.session
    session["otp_gate_verified_user"] = intruder.pk
    session.save()
    assert owner_client.get(reverse("authkeys:index")).status_code == 302


def test_logging_in_as_another_user_drops_the_verification(owner_client, sms_outbox):
    pass_otp_gate(owner_client, owner_client.user, sms_outbox)
    other = UserFactory()
    owner_client.login(email=other.email, password=PASSWORD)
    assert owner_client.get(reverse("authkeys:index")).status_code == 302


def test_code_request_started_by_another_user_is_refused(owner_client, sms_outbox):
    other = UserFactory()
    other_device = sms_device_for(other)
    other_device.generate_challenge()
    code = last_code(sms_outbox)
    session = owner_client.session
    session["otp_gate_device"] = other_device.persistent_id
    session.save()
    response = owner_client.post(reverse("accounts:otp_verify"), {"code": code})
    assert response.status_code == 400
    assert "another user" in response.content.decode()
    _assert_not_verified(owner_client)


def test_htmx_request_without_verification_gets_hx_redirect(owner_client):
    response = owner_client.get(reverse("authkeys:index"), headers={"HX-Request": "true"})
    assert response.status_code == 204
    assert response["HX-Redirect"].startswith(reverse("accounts:otp_gate"))


# --- TOTP ---------------------------------------------------------------------------------------


def _current_totp(device: TOTPDevice) -> str:
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):06d}"


def test_totp_setup_needs_a_verified_session(owner_client):
    response = owner_client.post(reverse("accounts:totp_setup"), {"action": "start"})
    assert response.status_code == 302
    assert TOTPDevice.objects.count() == 0


def test_totp_setup_and_use_at_the_gate(owner_client, sms_outbox):
    pass_otp_gate(owner_client, owner_client.user, sms_outbox)
    owner_client.post(reverse("accounts:totp_setup"), {"action": "start"})
    device = TOTPDevice.objects.get(user=owner_client.user)
    assert not device.confirmed
    page = owner_client.get(reverse("accounts:totp_setup")).content.decode()
    assert "<svg" in page

    response = owner_client.post(reverse("accounts:totp_setup"), {"code": "000000"})
    if _current_totp(device) != "000000":
        assert "does not match" in response.content.decode()
        assert not TOTPDevice.objects.get(pk=device.pk).confirmed

    with time_machine.travel(timezone.now() + timedelta(seconds=31), tick=False):
        owner_client.post(reverse("accounts:totp_setup"), {"code": _current_totp(device)})
        assert TOTPDevice.objects.get(pk=device.pk).confirmed

        # A fresh session passes the gate with the app instead of SMS.
        client = Client()
        client.login(email=owner_client.user.email, password=PASSWORD)
        client.post(reverse("accounts:otp_gate"), {"method": "totp"})
    with time_machine.travel(timezone.now() + timedelta(seconds=62), tick=False):
        response = client.post(reverse("accounts:otp_verify"), {"code": _current_totp(device)})
        assert response.status_code == 302
        assert client.get(reverse("authkeys:index")).status_code == 200


def test_next_with_a_query_string_survives_the_gate(owner_client, sms_outbox):
    target = "/authkey/rules/?a=1&b=2"
    response = owner_client.post(
        reverse("accounts:otp_gate"), {"mobile": owner_client.user.company.registered_mobile, "next": target}
    )
    assert response.status_code == 302
    verify_url = response.url
    response = owner_client.post(verify_url, {"code": last_code(sms_outbox)})
    assert response.url == target
