"""GatewayAPI dialect: POST /mobile/single with `Authorization: Token <key>`."""

import json
import uuid

import pytest

from accounts import services as account_services
from accounts.models import Company
from authkeys import auth
from authkeys import services as key_services
from authkeys.models import Service
from messaging.models import BlockedIP, FailedRequest, Message, Recipient
from tests.factories import CompanyFactory, make_key

pytestmark = pytest.mark.django_db

URL = "/mobile/single"


@pytest.fixture(autouse=True)
def _fresh_grants(settings):
    settings.AUTHKEY_LOCAL_CACHE_SECONDS = 0
    auth._local.clear()


@pytest.fixture
def company():
    return CompanyFactory(sms_balance=100)


@pytest.fixture
def key(company):
    return make_key(company=company, ip_security=False)


def body(**overrides):
    base = {"sender": "ACMEIN", "message": "Hello world", "recipient": 4512345678}
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def post(client, secret, payload, **headers):
    if secret is not None:
        headers.setdefault("Authorization", f"Token {secret}")
    data = payload if isinstance(payload, str | bytes) else json.dumps(payload)
    return client.post(URL, data, content_type="application/json", headers=headers)


def assert_error_shape(response, code, status):
    assert response.status_code == status
    assert response["Content-Type"] == "application/json"
    reply = response.json()
    assert set(reply) == {"code", "incident_uuid", "message"}
    assert reply["code"] == code
    assert uuid.UUID(reply["incident_uuid"]).version == 4
    assert reply["message"]
    return reply


def assert_nothing_changed(company, balance=100):
    assert Message.objects.count() == 0
    assert Recipient.objects.count() == 0
    assert Company.objects.get(pk=company.pk).sms_balance == balance


# --- Success ----------------------------------------------------------------------------------


def test_single_message_reply_shape_and_commit(client, company, key):
    response = post(client, key[1], body(reference="order-17", label="Spring sale"))
    assert response.status_code == 200
    reply = response.json()
    assert list(reply) == ["msg_id", "recipient", "reference"]
    recipient = Recipient.objects.get()
    assert reply == {"msg_id": recipient.message_uid, "recipient": 4512345678, "reference": "order-17"}
    assert isinstance(reply["recipient"], int)
    message = recipient.message
    assert message.company == company and message.authkey == key[0]
    assert (message.dialect, message.endpoint) == ("gatewayapi", "/mobile/single")
    assert (message.sender, message.text, message.campaign, message.reference) == (
        "ACMEIN",
        "Hello world",
        "Spring sale",
        "order-17",
    )
    assert recipient.msisdn == "4512345678"
    assert Company.objects.get(pk=company.pk).sms_balance == 99
    assert FailedRequest.objects.count() == 0


def test_reference_is_null_when_absent(client, key):
    reply = post(client, key[1], body()).json()
    assert reply["reference"] is None
    assert Message.objects.get().reference == ""


@pytest.mark.parametrize(
    ("recipient", "msisdn"),
    [
        (4512345678, "4512345678"),  # 10 digits: never completed with +91 (country "0")
        ("4512345678", "4512345678"),  # a digit string is tolerated
        ("+4512345678", "4512345678"),
        (919876543210, "919876543210"),
    ],
)
def test_recipient_carries_its_country_code(client, key, recipient, msisdn):
    reply = post(client, key[1], body(recipient=recipient)).json()
    assert reply["recipient"] == int(msisdn)
    assert Recipient.objects.get().msisdn == msisdn


def test_expiration_is_accepted(client, key):
    response = post(client, key[1], body(expiration="2030-01-01T00:00:00Z"))
    assert response.status_code == 200


def test_success_updates_recent_ips_and_last_used(client, key):
    post(client, key[1], body())
    key[0].refresh_from_db()
    assert key[0].last_used_ip == "127.0.0.1"


# --- Refusals ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"recipient": None}, "101"),
        ({"message": None}, "102"),
        ({"message": "  "}, "102"),
        ({"recipient": "abc"}, "202"),
        ({"recipient": True}, "202"),
        ({"recipient": 45123.5}, "202"),
        ({"recipient": [4512345678, 4587654321]}, "202"),
        ({"recipient": {"msisdn": 4512345678}}, "202"),
        ({"recipient": 123}, "202"),
        ({"sender": None}, "203"),
        ({"sender": "A&B"}, "203"),
        ({"label": "x" * 33}, "308"),
        ({"message": "a" * 1531}, "310"),
    ],
)
def test_validation_refusals_are_400(client, company, key, overrides, code):
    response = post(client, key[1], body(**overrides))
    assert_error_shape(response, code, 400)
    assert_nothing_changed(company)
    failed = FailedRequest.objects.get()
    assert (failed.code, failed.dialect, failed.endpoint) == (code, "gatewayapi", "/mobile/single")
    assert failed.company == company


@pytest.mark.parametrize("raw", ["{not json", "[1, 2]", '"text"', ""])
def test_body_that_is_not_a_json_object_is_400(client, company, key, raw):
    assert_error_shape(post(client, key[1], raw), "102", 400)
    assert_nothing_changed(company)
    assert FailedRequest.objects.get().code == "102"


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Token smsp_not-a-real-key"},
        {"Authorization": "Token smsp_" + "A" * 38},
        {"Authorization": "Token "},
    ],
)
def test_missing_or_invalid_token_is_401(client, company, headers):
    response = post(client, None, body(), **headers)
    assert_error_shape(response, "207", 401)
    assert response["WWW-Authenticate"].startswith("Token")
    assert_nothing_changed(company)
    failed = FailedRequest.objects.get()
    assert failed.code == "207" and failed.company is None


def test_secret_is_never_recorded(client, company, key):
    post(client, key[1], body(sender=None))
    failed = FailedRequest.objects.get()
    assert key[1] not in failed.reason
    assert failed.key_prefix == key[0].display_prefix and len(failed.key_prefix) < len(key[1])


def test_rule_without_sms_send_is_403(client, company):
    rule = key_services.rule_create(
        company=company, actor=None, name="Reports only", services=[Service.objects.get(code="reports")]
    )
    _, secret = make_key(company=company, rule=rule, ip_security=False)
    reply = assert_error_shape(post(client, secret, body()), "207", 403)
    assert "rule" in reply["message"]
    assert_nothing_changed(company)
    assert FailedRequest.objects.get().code == "207"


def test_ip_not_whitelisted_is_403_418(client, company):
    authkey, secret = make_key(company=company)  # IP security on, no IPs
    reply = assert_error_shape(post(client, secret, body()), "418", 403)
    assert "127.0.0.1" in reply["message"]
    assert_nothing_changed(company)
    assert FailedRequest.objects.get().authkey == authkey


def test_blacklisted_ip_is_403_208(client, company, key):
    BlockedIP.objects.create(network="127.0.0.1")
    assert_error_shape(post(client, key[1], body()), "208", 403)
    assert_nothing_changed(company)


@pytest.mark.parametrize(
    ("status", "code"),
    [(Company.Status.EXPIRED, "302"), (Company.Status.BANNED, "303"), (Company.Status.TERMINATED, "421")],
)
def test_company_status_is_403(client, company, key, status, code):
    account_services.company_set_status(company=company, status=status)
    assert_error_shape(post(client, key[1], body()), code, 403)
    assert_nothing_changed(company)
    assert FailedRequest.objects.get().company == company


def test_disabled_key_is_401(client, company, key):
    key_services.authkey_set_enabled(authkey=key[0], actor=None, enabled=False)
    assert_error_shape(post(client, key[1], body()), "207", 401)
    assert_nothing_changed(company)


def test_insufficient_balance_is_402(client, company, key):
    Company.objects.filter(pk=company.pk).update(sms_balance=0)
    assert_error_shape(post(client, key[1], body()), "301", 402)
    assert_nothing_changed(company, balance=0)
    assert FailedRequest.objects.get().code == "301"


def test_duplicate_is_409_and_charged_once(client, company, key):
    assert post(client, key[1], body()).status_code == 200
    assert_error_shape(post(client, key[1], body()), "311", 409)
    assert Message.objects.count() == 1
    assert Company.objects.get(pk=company.pk).sms_balance == 99


def test_conflicting_credentials_are_refused(client, company, key):
    _, other = make_key(company=company, ip_security=False)
    response = post(client, key[1], body(), authkey=other)
    reply = assert_error_shape(response, "207", 401)
    assert "Conflicting" in reply["message"]
    assert_nothing_changed(company)


def test_internal_error_is_500_without_details(client, company, key, monkeypatch):
    from messaging import encoding

    def boom(*args, **kwargs):
        raise RuntimeError("database password is hunter2")

    monkeypatch.setattr(encoding, "segment", boom)
    reply = assert_error_shape(post(client, key[1], body()), "506", 500)
    assert "hunter2" not in json.dumps(reply)
    assert_nothing_changed(company)
    assert "hunter2" not in FailedRequest.objects.get().reason


@pytest.mark.parametrize("method", ["get", "put", "delete"])
def test_only_post_is_allowed(client, key, method):
    response = getattr(client, method)(URL, headers={"Authorization": f"Token {key[1]}"})
    assert response.status_code == 405
    assert Message.objects.count() == 0


def test_another_companys_key_sends_for_its_own_company_only(client, company, key):
    other = CompanyFactory(sms_balance=10)
    _, other_secret = make_key(company=other, ip_security=False)
    post(client, other_secret, body())
    assert Message.objects.get().company == other
    assert Company.objects.get(pk=company.pk).sms_balance == 100
    assert Company.objects.get(pk=other.pk).sms_balance == 9
