import json
import re
from datetime import timedelta

import pytest
from django.utils import timezone

from accounts import services as account_services
from accounts.models import Company
from authkeys import auth
from authkeys import services as key_services
from authkeys.models import Service
from messaging.models import BlockedIP, FailedRequest, Message, Recipient
from tests.factories import CompanyFactory, make_key

pytestmark = pytest.mark.django_db

URL = "/api/sendhttp.php"
V2 = "/api/v2/sendsms"


@pytest.fixture(autouse=True)
def _fresh_grants(settings):
    settings.AUTHKEY_LOCAL_CACHE_SECONDS = 0
    auth._local.clear()


@pytest.fixture
def company():
    return CompanyFactory(sms_balance=100)


@pytest.fixture
def key(company):
    authkey, secret = make_key(company=company, ip_security=False)
    return authkey, secret


def params(secret, **overrides):
    base = {
        "authkey": secret,
        "mobiles": "919876543210",
        "message": "Hello there",
        "sender": "ACMEIN",
        "route": "4",
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def _assert_refused_cleanly(company, code, before_balance):
    assert Message.objects.count() == 0
    assert Company.objects.get(pk=company.pk).sms_balance == before_balance
    failed = FailedRequest.objects.get()
    assert failed.code == code
    return failed


# --- Success ----------------------------------------------------------------------------------


def test_plain_reply_is_the_request_id_and_the_message_is_committed(client, company, key):
    response = client.get(URL, params(key[1], mobiles="9876543210,919812345678"))
    assert response.status_code == 200
    request_id = response.content.decode()
    assert re.fullmatch(r"[0-9a-f]{24}", request_id)
    message = Message.objects.get(request_id=request_id)
    assert message.company == company and message.authkey == key[0]
    assert sorted(Recipient.objects.filter(message=message).values_list("msisdn", flat=True)) == [
        "919812345678",
        "919876543210",
    ]
    assert message.parts == 1 and message.credits == 2
    assert Company.objects.get(pk=company.pk).sms_balance == 98
    assert FailedRequest.objects.count() == 0


def test_json_and_xml_replies(client, key):
    reply = client.post(URL, params(key[1], response="json")).json()
    assert reply["type"] == "success" and len(reply["message"]) == 24
    xml = client.post(URL, params(key[1], response="xml", message="Another text")).content.decode()
    assert xml.startswith("<RESPONSE><TYPE>success</TYPE><MESSAGE>") and xml.endswith("</MESSAGE></RESPONSE>")


def test_key_in_header(client, key):
    response = client.get(URL, params(None, response="json"), headers={"authkey": key[1]})
    assert response.json()["type"] == "success"


def test_unicode_parts_and_credits(client, company, key):
    text = "नमस्ते " * 20  # 140 UCS-2 units → 3 parts of 67
    reply = client.post(URL, params(key[1], message=text, response="json")).json()
    message = Message.objects.get(request_id=reply["message"])
    assert message.encoding == "ucs2" and message.parts == 3 and message.credits == 3
    assert Company.objects.get(pk=company.pk).sms_balance == 97


def test_v2_flat_json_as_msg91_py_sends_it(client, key):
    body = {"mobiles": "919876543210", "message": "Hi", "sender": "ACMEIN", "route": "4", "response": "json"}
    response = client.post(V2, json.dumps(body), content_type="application/json", headers={"authkey": key[1]})
    assert response.json()["type"] == "success"


def test_v2_documented_sms_list_shape(client, key):
    body = {
        "sender": "ACMEIN",
        "route": "4",
        "country": "91",
        "sms": [{"message": "Hi", "to": ["9876543210", "9812345678"]}],
    }
    response = client.post(V2, json.dumps(body), content_type="application/json", headers={"authkey": key[1]})
    reply = response.json()
    assert reply["type"] == "success"
    assert Message.objects.get(request_id=reply["message"]).recipient_count == 2


def test_success_updates_recent_ips_and_last_used(client, key):
    client.get(URL, params(key[1]))
    key[0].refresh_from_db()
    assert key[0].last_used_ip == "127.0.0.1" and key[0].last_used_at is not None
    from authkeys.models import RecentIP

    recent = RecentIP.objects.get(company=key[0].company)
    assert recent.last_outcome == "accepted" and recent.request_count == 1


# --- Refusals, one per catalogue code -----------------------------------------------------------

IN_A_DAY = (timezone.now() + timedelta(days=1)).strftime("%Y-%m-%d %H:%M:%S")


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"mobiles": None}, "101"),
        ({"mobiles": ""}, "101"),
        ({"message": None}, "102"),
        ({"message": "   "}, "102"),
        ({"mobiles": "12ab"}, "202"),
        ({"mobiles": "12ab,0000"}, "604"),
        ({"sender": None}, "203"),
        ({"sender": "AC"}, "203"),
        ({"sender": "ACME-IN"}, "203"),
        ({"route": "9"}, "210"),
        ({"schtime": "tomorrow"}, "307"),
        ({"schtime": "2001-01-01 10:00:00"}, "608"),
        ({"schtime": (timezone.now() + timedelta(weeks=4)).strftime("%Y-%m-%d %H:%M:%S")}, "606"),
        ({"campaign": "x" * 33}, "308"),
        ({"campaign": " "}, "607"),
        ({"message": "a" * 1531}, "310"),
        ({"authkey": "smsp_not-a-real-key"}, "207"),
        ({"authkey": None}, "207"),
    ],
)
def test_refusals(client, company, key, overrides, code):
    response = client.get(URL, params(key[1], response="json", **overrides))
    reply = response.json()
    assert reply["type"] == "error" and reply["code"] == code
    failed = _assert_refused_cleanly(company, code, 100)
    assert key[1] not in failed.reason and key[1] not in failed.key_prefix


def test_unknown_key_is_401_and_not_attributed(client, company):
    response = client.get(URL, params("smsp_" + "A" * 38, response="json"))
    assert response.status_code == 401 and response.json()["code"] == "207"
    assert FailedRequest.objects.get().company is None


@pytest.mark.parametrize(
    ("status", "code"),
    [(Company.Status.EXPIRED, "302"), (Company.Status.BANNED, "303"), (Company.Status.TERMINATED, "421")],
)
def test_company_status_codes(client, company, key, status, code):
    account_services.company_set_status(company=company, status=status)
    reply = client.get(URL, params(key[1], response="json")).json()
    assert reply["code"] == code
    assert _assert_refused_cleanly(company, code, 100).company == company


def test_disabled_and_expired_keys_are_207(client, company, key):
    key_services.authkey_set_enabled(authkey=key[0], actor=None, enabled=False)
    assert client.get(URL, params(key[1], response="json")).json()["code"] == "207"
    assert "disabled" in FailedRequest.objects.get().reason


def test_ip_not_whitelisted_is_418_and_recorded_for_recent_ips(client, company):
    authkey, secret = make_key(company=company)  # IP security on, no IPs
    reply = client.get(URL, params(secret, response="json")).json()
    assert reply["code"] == "418" and "127.0.0.1" in reply["message"]
    failed = _assert_refused_cleanly(company, "418", 100)
    assert failed.authkey == authkey and failed.key_prefix == authkey.display_prefix
    from authkeys.models import RecentIP

    assert RecentIP.objects.get(company=company).last_code == "418"


def test_blacklisted_ip_is_208(client, company, key):
    BlockedIP.objects.create(network="127.0.0.0/8")
    assert client.get(URL, params(key[1], response="json")).json()["code"] == "208"
    _assert_refused_cleanly(company, "208", 100)


def test_rule_without_sms_send_is_refused(client, company):
    rule = key_services.rule_create(
        company=company, actor=None, name="Reports only", services=[Service.objects.get(code="reports")]
    )
    _, secret = make_key(company=company, rule=rule, ip_security=False)
    reply = client.get(URL, params(secret, response="json")).json()
    assert reply["code"] == "207" and "rule" in reply["message"]
    _assert_refused_cleanly(company, "207", 100)


def test_insufficient_balance_is_301_and_nothing_debited(client, company, key):
    Company.objects.filter(pk=company.pk).update(sms_balance=1)
    reply = client.get(URL, params(key[1], mobiles="919876543210,919812345678", response="json")).json()
    assert reply["code"] == "301"
    _assert_refused_cleanly(company, "301", 1)


def test_duplicate_within_ten_seconds_is_311_and_charged_once(client, company, key):
    first = client.get(URL, params(key[1], response="json")).json()
    second = client.get(URL, params(key[1], response="json")).json()
    assert first["type"] == "success"
    assert second["code"] == "311"
    assert Message.objects.count() == 1
    assert Company.objects.get(pk=company.pk).sms_balance == 99


def test_the_duplicate_window_ends_and_expired_claims_are_purged(client, company, key, settings):
    import time_machine
    from django.db import connection

    from messaging.models import DuplicateGuard
    from messaging.tasks import sweep_outbox

    with time_machine.travel("2026-11-22 10:00:00+00:00", tick=False) as traveller:
        assert client.get(URL, params(key[1], response="json")).json()["type"] == "success"
        traveller.shift(settings.SMS_DUPLICATE_WINDOW_SECONDS - 1)
        assert client.get(URL, params(key[1], response="json")).json()["code"] == "311"
        traveller.shift(2)
        assert client.get(URL, params(key[1], response="json")).json()["type"] == "success"
        assert Message.objects.count() == 2
        traveller.shift(settings.SMS_DUPLICATE_WINDOW_SECONDS + 1)
        if connection.vendor == "postgresql":
            assert DuplicateGuard.objects.count() == 1  # one claim, taken again after the window
        sweep_outbox()
        # PostgreSQL keeps the window in DuplicateGuard (one-statement path), SQLite in the cache.
        assert not DuplicateGuard.objects.exists()


def test_refused_request_does_not_poison_the_duplicate_window(client, company, key):
    Company.objects.filter(pk=company.pk).update(sms_balance=0)
    assert client.get(URL, params(key[1], response="json")).json()["code"] == "301"
    Company.objects.filter(pk=company.pk).update(sms_balance=5)
    assert client.get(URL, params(key[1], response="json")).json()["type"] == "success"


def test_conflicting_keys_are_refused(client, company, key):
    _, other = make_key(company=company, ip_security=False)
    reply = client.get(URL, params(key[1], response="json"), headers={"authkey": other}).json()
    assert reply["code"] == "207" and "Conflicting" in reply["message"]
    assert Message.objects.count() == 0


def test_same_key_in_header_and_param_is_fine(client, key):
    reply = client.get(URL, params(key[1], response="json"), headers={"authkey": key[1]}).json()
    assert reply["type"] == "success"


def test_parameter_repeated_with_different_values_is_refused(client, company, key):
    response = client.get(
        f"{URL}?authkey={key[1]}&mobiles=919876543210&mobiles=919812345678&message=x&sender=ACMEIN&response=json"
    )
    assert response.json()["code"] == "202"
    assert Message.objects.count() == 0


def test_scheduled_message_is_accepted_and_scheduled(client, key):
    reply = client.get(URL, params(key[1], schtime=IN_A_DAY, response="json")).json()
    message = Message.objects.get(request_id=reply["message"])
    assert message.delivery == Message.Delivery.SCHEDULED and message.scheduled_at is not None


def test_xml_error_shape(client, key):
    xml = client.get(URL, params(key[1], response="xml", mobiles=None)).content.decode()
    assert (
        xml
        == "<RESPONSE><TYPE>error</TYPE><MESSAGE>Missing mobile number</MESSAGE><CODE>101</CODE></RESPONSE>"
    )


def test_plain_error_shape(client, key):
    assert client.get(URL, params(key[1], message=None)).content.decode() == "ERROR 102: Missing message"


def test_query_count_is_bounded_for_1000_recipients(client, company, key, django_assert_max_num_queries):
    Company.objects.filter(pk=company.pk).update(sms_balance=5000)
    mobiles = ",".join(f"9198765{i:05d}" for i in range(1000))
    # 12, plus 3 on a cold cache: the sending-policy tables (routes, blacklisted senders, keywords).
    with django_assert_max_num_queries(15):
        reply = client.post(URL, params(key[1], mobiles=mobiles, response="json")).json()
    assert reply["type"] == "success", reply
    assert Message.objects.get(request_id=reply["message"]).recipients.count() == 1000


def test_accepted_message_is_delivered_after_commit(client, key, django_capture_on_commit_callbacks):
    from messaging.delivery import locmem

    locmem.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        reply = client.get(URL, params(key[1], response="json")).json()
    message = Message.objects.get(request_id=reply["message"])
    assert message.delivery == Message.Delivery.SUBMITTED
    assert [entry[1] for entry in locmem.outbox] == ["919876543210"]
    assert message.recipients.get().status == Recipient.Status.ENROUTE


def test_nothing_is_published_before_commit(client, key, django_capture_on_commit_callbacks):
    from messaging.delivery import locmem

    locmem.outbox.clear()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        client.get(URL, params(key[1], response="json"))
    assert locmem.outbox == [] and len(callbacks) == 1
    assert Message.objects.get().delivery == Message.Delivery.ENQUEUED


@pytest.mark.parametrize(
    ("failure", "code"),
    [
        (
            lambda: __import__("django.db").db.OperationalError("could not serialize access: secret detail"),
            "601",
        ),
        (lambda: RuntimeError("internal secret detail"), "506"),
    ],
)
def test_internal_failures_are_500_without_details_and_change_nothing(
    client, company, key, monkeypatch, failure, code
):
    """Fault injection: nothing real fails on demand, so the write of the acceptance is made to
    raise (on PostgreSQL the one-statement path, on SQLite the ORM's Message.save)."""
    from messaging import onestatement

    def broken_write(*args, **kwargs):
        raise failure()

    monkeypatch.setattr(onestatement, "accept", broken_write)
    monkeypatch.setattr(Message, "save", broken_write)
    response = client.get(URL, params(key[1], response="json"))
    assert response.status_code == 500
    reply = response.json()
    assert reply["code"] == code and "secret" not in reply["message"]
    failed = _assert_refused_cleanly(company, code, 100)
    assert "secret" not in failed.reason
