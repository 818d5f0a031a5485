"""MSG91 OTP endpoints (messaging/otp.py): sendotp / retryotp / verifyRequestOTP and their v5 forms."""

import json
import logging
import re
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from accounts.models import Company
from authkeys import auth
from authkeys import services as key_services
from authkeys.models import Service
from messaging import sealing
from messaging.delivery import locmem, outbox
from messaging.models import FailedRequest, Flow, Message, OtpRequest
from tests.factories import CompanyFactory, make_key

pytestmark = pytest.mark.django_db

MOBILE = "919876543210"
SEND, RETRY, VERIFY = "/api/sendotp.php", "/api/retryotp.php", "/api/verifyRequestOTP.php"
V5_SEND, V5_RETRY, V5_VERIFY = "/api/v5/otp", "/api/v5/otp/retry", "/api/v5/otp/verify"


@pytest.fixture(autouse=True)
def _fresh(settings):
    settings.AUTHKEY_LOCAL_CACHE_SECONDS = 0
    auth._local.clear()
    locmem.outbox.clear()


@pytest.fixture
def company():
    return CompanyFactory(sms_balance=100)


@pytest.fixture
def secret(company):
    return make_key(company=company, ip_security=False)[1]


def call(client, path, secret, method="get", **params):
    headers = {"authkey": secret} if secret else {}
    if method == "post":
        return client.post(path + "?" + "&".join(f"{k}={v}" for k, v in params.items()), headers=headers)
    return client.get(path, params, headers=headers)


def send(client, secret, path=SEND, **params):
    params.setdefault("mobile", MOBILE)
    response = call(client, path, secret, **params)
    assert response.status_code == 200, response.content
    return response.json()


def code_in(message: Message) -> str:
    """The code in the SMS text (before delivery it is kept only sealed, messaging/sealing.py)."""
    return re.search(r"\b(\d{4,9})\b", sealing.unseal(message.sealed_text)).group(1)


def latest_code() -> str:
    return code_in(Message.objects.order_by("-pk").first())


def verify(client, secret, otp, path=VERIFY, mobile=MOBILE):
    return call(client, path, secret, mobile=mobile, otp=otp).json()


def balance(company) -> int:
    return Company.objects.get(pk=company.pk).sms_balance


# --- Send -----------------------------------------------------------------------------------------


def test_legacy_send_and_verify(client, company, secret):
    reply = send(client, secret)

    assert reply["type"] == "success" and re.fullmatch(r"[0-9a-f]{24}", reply["message"])
    message = Message.objects.get(request_id=reply["message"])
    assert (message.dialect, message.endpoint, message.sender) == ("msg91", SEND, "OTPSMS")
    assert message.text == "Your verification code is ****."  # the database never holds the code
    assert re.fullmatch(r"Your verification code is \d{4}\.", sealing.unseal(message.sealed_text))
    assert code_in(message) not in message.sealed_text
    assert list(message.recipients.values_list("msisdn", flat=True)) == [MOBILE]
    assert balance(company) == 99
    otp = OtpRequest.objects.get()
    assert (otp.company, otp.mobile, otp.code_length, otp.message) == (company, MOBILE, 4, message)
    assert code_in(message) not in otp.token_digest and len(otp.token_digest) == 64
    assert otp.valid_until == pytest.approx(timezone.now() + timedelta(days=1), abs=timedelta(seconds=5))

    assert verify(client, secret, code_in(message)) == {
        "type": "success",
        "message": "number_verified_successfully",
    }
    assert verify(client, secret, code_in(message)) == {"type": "error", "message": "already_verified"}


def test_v5_send_and_verify(client, company, secret):
    reply = send(client, secret, V5_SEND, method="post", otp_length=6, otp_expiry=5)
    assert set(reply) == {"type", "request_id"} and reply["type"] == "success"
    message = Message.objects.get(request_id=reply["request_id"])
    assert message.endpoint == V5_SEND and len(code_in(message)) == 6
    otp = OtpRequest.objects.get()
    assert otp.valid_until == pytest.approx(timezone.now() + timedelta(minutes=5), abs=timedelta(seconds=5))

    assert verify(client, secret, "000000" if code_in(message) != "000000" else "111111", V5_VERIFY) == {
        "type": "error",
        "message": "OTP not match",
    }
    assert verify(client, secret, code_in(message), V5_VERIFY) == {
        "type": "success",
        "message": "OTP verified success",
    }
    assert verify(client, secret, code_in(message), V5_VERIFY)["message"] == "Mobile no. already verified"


def test_the_callers_own_otp_and_message(client, secret):
    send(client, secret, message="Your ACME code: ##OTP## (valid 10 min)", otp="482913", sender="ACMEIN")
    message = Message.objects.get()
    assert (message.text, message.sender) == ("Your ACME code: ****** (valid 10 min)", "ACMEIN")
    assert sealing.unseal(message.sealed_text) == "Your ACME code: 482913 (valid 10 min)"
    assert verify(client, secret, "482913")["message"] == "number_verified_successfully"


def test_msg91s_legacy_form_with_the_otp_inside_the_message(client, secret):
    send(client, secret, message="Your otp is 2786", otp="2786")
    assert Message.objects.get().text == "Your otp is ****"
    assert verify(client, secret, "2786")["type"] == "success"


def test_v5_template_id_uses_an_approved_flow(client, company, secret):
    flow = Flow.objects.create(
        company=company, name="OTP", template="##otp## is your ##app## code", sender="ACMEIN",
        status=Flow.Status.APPROVED,
    )  # fmt: skip
    response = client.post(
        f"{V5_SEND}?template_id={flow.flow_id}&mobile={MOBILE}&otp=5150",
        json.dumps({"app": "Acme"}), content_type="application/json", headers={"authkey": secret},
    )  # fmt: skip
    assert response.json()["type"] == "success"
    message = Message.objects.get()
    assert (message.text, message.sender) == ("**** is your Acme code", "ACMEIN")
    assert sealing.unseal(message.sealed_text) == "5150 is your Acme code"
    assert verify(client, secret, "5150", V5_VERIFY)["type"] == "success"


def test_v5_template_must_be_approved(client, company, secret):
    flow = Flow.objects.create(company=company, name="OTP", template="##OTP##", status=Flow.Status.PENDING)
    reply = send(client, secret, V5_SEND, method="post", template_id=flow.flow_id)
    assert (reply["type"], reply["code"]) == ("error", "401")
    assert FailedRequest.objects.get().code == "401"
    assert not Message.objects.exists() and not OtpRequest.objects.exists()


def test_a_new_send_replaces_the_previous_code(client, secret):
    send(client, secret, otp="1111")
    send(client, secret, otp="2222")
    assert OtpRequest.objects.count() == 1
    assert verify(client, secret, "1111")["message"] == "otp_not_verified"
    assert verify(client, secret, "2222")["message"] == "number_verified_successfully"


# --- Parameter errors and pipeline refusals --------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "says"),
    [
        ({"otp_length": "3"}, "otp_length must be a whole number from 4 to 9"),
        ({"otp_length": "ten"}, "otp_length must be a whole number from 4 to 9"),
        ({"otp": "12ab"}, "otp must be 4 to 9 digits"),
        ({"otp": "1234567890"}, "otp must be 4 to 9 digits"),
        ({"otp_expiry": "0"}, "otp_expiry must be a whole number from 1 to 10080"),
        ({"message": "Hello there"}, "must contain ##OTP##"),
    ],
)
def test_invalid_otp_parameters_are_explained_and_nothing_is_sent(client, company, secret, params, says):
    reply = send(client, secret, **params)
    assert reply["type"] == "error" and says in reply["message"]
    assert not Message.objects.exists() and not OtpRequest.objects.exists()
    assert balance(company) == 100


@pytest.mark.parametrize(
    ("mobile", "code"),
    [("", "101"), ("12ab", "202"), ("919876543210,919876543211", "202")],
)
def test_bad_mobile_is_a_catalogue_refusal(client, company, secret, mobile, code):
    reply = send(client, secret, mobile=mobile)
    assert (reply["type"], reply["code"]) == ("error", code)
    assert FailedRequest.objects.get().code == code
    assert not Message.objects.exists() and not OtpRequest.objects.exists()


def test_invalid_key_is_401_and_in_failed_logs(client):
    response = call(client, SEND, "smsp_not-a-key", mobile=MOBILE)
    assert response.status_code == 401 and response.json()["code"] == "207"
    assert FailedRequest.objects.get().endpoint == SEND


def test_a_rule_without_the_otp_service_is_refused(client, company):
    rule = key_services.rule_create(
        company=company, actor=None, name="SMS only", services=[Service.objects.get(code="sms-send")]
    )
    _, secret = make_key(company=company, rule=rule, ip_security=False)
    for path in (SEND, VERIFY, RETRY, V5_SEND, V5_VERIFY, V5_RETRY):
        response = call(client, path, secret, mobile=MOBILE, otp="1234")
        assert response.status_code == 401 and "otp" in response.json()["message"], path
    assert FailedRequest.objects.filter(code="207").count() == 6
    assert not Message.objects.exists()


def test_ip_security_applies(client, company):
    _, secret = make_key(company=company)  # IP security on, no IPs
    assert send(client, secret)["code"] == "418"
    assert not OtpRequest.objects.exists()


def test_insufficient_balance_keeps_the_previous_code(client, company, secret):
    send(client, secret, otp="1111")
    Company.objects.filter(pk=company.pk).update(sms_balance=0)
    reply = send(client, secret, otp="2222")
    assert reply["code"] == "301"
    assert Message.objects.count() == 1
    assert verify(client, secret, "1111")["type"] == "success"


# --- Verify ---------------------------------------------------------------------------------------


def test_verify_unknown_mobile(client, secret):
    assert verify(client, secret, "1234", V5_VERIFY) == {"type": "error", "message": "Mobile no. not found"}
    assert verify(client, secret, "1234") == {"type": "error", "message": "mobile_not_found"}


def test_verify_is_scoped_to_the_company(client, secret):
    send(client, secret, otp="1234")
    other = make_key(company=CompanyFactory(), ip_security=False)[1]
    assert verify(client, other, "1234")["message"] == "mobile_not_found"
    assert verify(client, secret, "1234")["type"] == "success"


def test_wrong_codes_are_bounded(client, secret, settings):
    settings.OTP_API_MAX_VERIFY_ATTEMPTS = 3
    send(client, secret, otp="1234")
    for _ in range(3):
        assert verify(client, secret, "9999", V5_VERIFY)["message"] == "OTP not match"
    reply = verify(client, secret, "1234", V5_VERIFY)
    assert reply == {"type": "error", "message": "Max limit reached for this otp verification"}
    assert OtpRequest.objects.get().attempts == 3
    assert verify(client, secret, "1234")["message"] == "max_limit_reached_for_this_otp_verification"


def test_the_code_expires(client, secret):
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        send(client, secret, otp="1234", otp_expiry=1)
    with time_machine.travel(start + timedelta(seconds=61), tick=False):
        assert verify(client, secret, "1234", V5_VERIFY) == {"type": "error", "message": "OTP expired"}
        assert verify(client, secret, "1234")["message"] == "otp_expired"


def test_a_code_is_consumed_once(client, secret):
    send(client, secret, otp="1234")
    otp = OtpRequest.objects.get()
    assert verify(client, secret, "1234")["type"] == "success"
    otp.refresh_from_db()
    assert otp.token_digest == "" and otp.verified_at is not None


# --- Retry ----------------------------------------------------------------------------------------


def test_retry_texts_a_new_code_and_the_old_one_stops(client, company, secret):
    send(client, secret, otp="1234")
    reply = call(client, V5_RETRY, secret, mobile=MOBILE, retrytype="text").json()
    assert reply == {"type": "success", "message": "retry send successfully"}
    assert Message.objects.count() == 2 and balance(company) == 98
    new = latest_code()
    assert new != "1234" and len(new) == 4
    assert verify(client, secret, "1234")["message"] == "otp_not_verified"
    assert verify(client, secret, new)["type"] == "success"


def test_legacy_retry_defaults_to_text(client, secret):
    send(client, secret)
    assert call(client, RETRY, secret, mobile=MOBILE).json() == {
        "type": "success",
        "message": "otp_sent_successfully",
    }


@pytest.mark.parametrize(
    ("retrytype", "says"),
    [
        ("voice", "Voice retry is not supported: use retrytype=text."),
        ("fax", "retrytype must be text or voice"),
    ],
)
def test_voice_retry_is_not_supported(client, company, secret, retrytype, says):
    send(client, secret)
    reply = call(client, V5_RETRY, secret, mobile=MOBILE, retrytype=retrytype).json()
    assert reply["type"] == "error" and says in reply["message"]
    assert Message.objects.count() == 1 and balance(company) == 99


def test_retries_are_bounded(client, secret, settings):
    settings.OTP_API_MAX_RETRIES = 2
    send(client, secret)
    for _ in range(2):
        assert call(client, V5_RETRY, secret, mobile=MOBILE).json()["type"] == "success"
    assert call(client, V5_RETRY, secret, mobile=MOBILE).json()["message"] == "OTP retry count maxed out"
    assert Message.objects.count() == 3


def test_retry_needs_a_live_unverified_request(client, secret):
    assert (
        call(client, V5_RETRY, secret, mobile=MOBILE).json()["message"] == "No OTP request found to retryotp"
    )
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        send(client, secret, otp="1234", otp_expiry=1)
    with time_machine.travel(start + timedelta(seconds=61), tick=False):
        assert call(client, V5_RETRY, secret, mobile=MOBILE).json()["message"] == "OTP expired"
    send(client, secret, otp="1234")
    verify(client, secret, "1234")
    assert call(client, RETRY, secret, mobile=MOBILE).json()["message"] == "already_verified"


def test_retry_keeps_the_original_expiry_and_resets_the_attempts(client, secret):
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        send(client, secret, otp_expiry=10)
        verify(client, secret, "0000" if latest_code() != "0000" else "1111")
    with time_machine.travel(start + timedelta(minutes=4), tick=False):
        call(client, RETRY, secret, mobile=MOBILE)
    otp = OtpRequest.objects.get()
    assert otp.valid_until == pytest.approx(start + timedelta(minutes=10), abs=timedelta(seconds=1))
    assert (otp.attempts, otp.retries) == (0, 1)


# --- The code is never kept in clear --------------------------------------------------------------


def test_the_code_leaves_the_database_once_delivered_and_is_never_logged(client, secret, caplog):
    caplog.set_level(logging.DEBUG)
    send(client, secret, otp="735911")
    message = Message.objects.get()

    assert outbox.deliver(message.pk).startswith("submitted")

    assert locmem.outbox == [(message.request_id, MOBILE, "Your verification code is 735911.")]
    message.refresh_from_db()
    assert (message.text, message.sealed_text) == ("Your verification code is ******.", "")
    stored = json.dumps(list(OtpRequest.objects.values()), default=str)
    assert "735911" not in stored
    assert "735911" not in caplog.text
    logs = client.get("/sms/3/logs", headers={"Authorization": f"App {secret}"}).json()
    assert logs["results"][0]["content"]["text"] == "Your verification code is ******."


def test_an_otp_sms_that_expires_undelivered_is_masked_too(client, secret):
    send(client, secret, otp="735911")
    message = Message.objects.get()
    with time_machine.travel(timezone.now() + timedelta(days=3), tick=False):
        assert outbox.deliver(message.pk) == "expired"  # never handed over within its validity
    message.refresh_from_db()
    assert (message.delivery, message.text) == (Message.Delivery.EXPIRED, "Your verification code is ******.")
    assert locmem.outbox == []


def test_the_api_docs_page_documents_the_otp_endpoints(client, settings):
    settings.OTP_API_MAX_VERIFY_ATTEMPTS = 7
    page = client.get("/api-docs/").content.decode()
    for path in (SEND, RETRY, VERIFY, V5_SEND, V5_RETRY, V5_VERIFY):
        assert path in page
    assert "after 7 wrong codes" in page and "retrytype=voice</code> is not supported" in page


def test_an_internal_failure_is_506_without_details(client, secret, monkeypatch):
    send(client, secret, otp="1234")

    def broken(**kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("database exploded: secret details")

    monkeypatch.setattr("messaging.otp.otp_verify", broken)
    response = call(client, VERIFY, secret, mobile=MOBILE, otp="1234")
    assert response.status_code == 500
    assert response.json()["code"] == "506" and "exploded" not in response.content.decode()
    assert FailedRequest.objects.get().code == "506"


def test_staff_see_otp_requests_without_the_digest(admin_client, client, secret):
    send(client, secret, otp="482913")
    otp = OtpRequest.objects.get()
    listing = admin_client.get("/staff/messaging/otprequest/", {"q": MOBILE}).content.decode()
    detail = admin_client.get(f"/staff/messaging/otprequest/{otp.pk}/change/").content.decode()
    assert MOBILE in listing and MOBILE in detail
    for page in (listing, detail):
        assert otp.token_digest not in page and "482913" not in page
