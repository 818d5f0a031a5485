"""MSG91 dialect: delivery report of a request id (/api/v5/report, /api/getReport.php)."""

import re
from datetime import datetime

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

SEND = "/api/sendhttp.php"


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


def send(client, secret, mobiles="919876543210,919812345678", **extra):
    params = {"authkey": secret, "mobiles": mobiles, "message": "Hello", "sender": "ACMEIN", **extra}
    reply = client.get(SEND, {**params, "response": "json"}).json()
    assert reply["type"] == "success", reply
    return reply["message"]


def report(client, secret, request_id, how="path"):
    headers = {"authkey": secret} if secret is not None else {}
    if how == "path":
        return client.get(f"/api/v5/report/{request_id}", headers=headers)
    if how == "v5-param":
        return client.get("/api/v5/report", {"request_id": request_id}, headers=headers)
    if how == "php-get":
        return client.get("/api/getReport.php", {"request_id": request_id, "authkey": secret})
    return client.post("/api/getReport.php", {"request_id": request_id, "authkey": secret})


def snapshot():
    return (
        sorted(Message.objects.values_list("request_id", "company_id")),
        sorted(Recipient.objects.values_list("message_uid", "status")),
        sorted(Company.objects.values_list("pk", "sms_balance")),
    )


# --- Success ----------------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["path", "v5-param", "php-get", "php-post"])
def test_report_shape(client, key, how):
    request_id = send(client, key[1], campaign="Diwali")
    response = report(client, key[1], request_id, how)
    assert response.status_code == 200
    reply = response.json()
    assert list(reply) == ["type", "requestId", "senderId", "campaignName", "data"]
    assert (reply["type"], reply["requestId"], reply["senderId"], reply["campaignName"]) == (
        "success",
        request_id,
        "ACMEIN",
        "Diwali",
    )
    assert [entry["number"] for entry in reply["data"]] == ["919876543210", "919812345678"]
    for entry in reply["data"]:
        assert list(entry) == ["number", "status", "desc", "description", "date", "failedReason"]
        assert (entry["status"], entry["desc"], entry["description"], entry["failedReason"]) == (
            "5",
            "PENDING",
            "Accepted",
            "",
        )
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", entry["date"])
    assert FailedRequest.objects.count() == 0


@pytest.mark.parametrize(
    ("status", "error", "code", "desc", "description"),
    [
        (Recipient.Status.ACCEPTED, "", "5", "PENDING", "Accepted"),
        (Recipient.Status.SCHEDULED, "", "5", "SCHEDULED", "Scheduled"),
        (Recipient.Status.ENROUTE, "", "8", "SENT", "En route"),
        (Recipient.Status.DELIVERED, "", "1", "DELIVERED", "Delivered"),
        (
            Recipient.Status.UNDELIVERABLE,
            "Absent subscriber",
            "2",
            "FAILED",
            "Undeliverable: Absent subscriber",
        ),
        (Recipient.Status.FAILED, "Network failure", "2", "FAILED", "Failed: Network failure"),
        (
            Recipient.Status.EXPIRED,
            "Validity period expired",
            "2",
            "EXPIRED",
            "Expired: Validity period expired",
        ),
        (
            Recipient.Status.REJECTED,
            "Rejected by the network",
            "16",
            "REJECTED",
            "Rejected: Rejected by the network",
        ),
    ],
)
def test_status_vocabulary(client, key, status, error, code, desc, description):
    request_id = send(client, key[1], mobiles="919876543210")
    at = timezone.make_aware(datetime(2030, 5, 17, 9, 30, 5))
    Recipient.objects.update(status=status, error=error, status_at=at)
    entry = report(client, key[1], request_id).json()["data"][0]
    assert entry == {
        "number": "919876543210",
        "status": code,
        "desc": desc,
        "description": description,
        "date": timezone.localtime(at).strftime("%Y-%m-%d %H:%M:%S"),
        "failedReason": error,
    }


def test_report_after_handover_is_sent(client, key, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        request_id = send(client, key[1], mobiles="919876543210")
    assert report(client, key[1], request_id).json()["data"][0]["desc"] == "SENT"


def test_another_key_of_the_same_company_with_a_reports_rule_may_read(client, company, key):
    request_id = send(client, key[1])
    rule = key_services.rule_create(
        company=company, actor=None, name="Reports", services=[Service.objects.get(code="reports")]
    )
    _, reader = make_key(company=company, rule=rule, ip_security=False)
    assert report(client, reader, request_id).json()["requestId"] == request_id


def test_request_id_is_case_insensitive(client, key):
    request_id = send(client, key[1])
    assert report(client, key[1], request_id.upper()).json()["requestId"] == request_id


def test_query_count_is_bounded_for_1000_recipients(client, company, key, django_assert_max_num_queries):
    Company.objects.filter(pk=company.pk).update(sms_balance=5000)
    request_id = send(client, key[1], mobiles=",".join(f"9198765{i:05d}" for i in range(1000)))
    report(client, key[1], request_id)  # warm the key cache
    with django_assert_max_num_queries(6):
        reply = report(client, key[1], request_id).json()
    assert len(reply["data"]) == 1000


def test_success_updates_last_used(client, key):
    request_id = send(client, key[1])
    key[0].__class__.objects.filter(pk=key[0].pk).update(last_used_at=None, last_used_ip=None)
    report(client, key[1], request_id)
    key[0].refresh_from_db()
    assert key[0].last_used_ip == "127.0.0.1"


# --- Not found, never another company's ------------------------------------------------------


def test_another_companys_request_id_is_not_found(client, company, key):
    other = CompanyFactory(sms_balance=10)
    _, other_secret = make_key(company=other, ip_security=False)
    theirs = send(client, other_secret)
    ours = send(client, key[1], mobiles="919811111111")
    response = report(client, key[1], theirs)
    assert response.status_code == 404
    assert response.json() == {"type": "error", "message": f"No request with id {theirs!r} in this account."}
    assert "919876543210" not in response.content.decode()
    # ... exactly as for an id that exists nowhere
    unknown = "0" * 24
    assert report(client, key[1], unknown).json() == {
        "type": "error",
        "message": f"No request with id {unknown!r} in this account.",
    }
    assert report(client, other_secret, ours).status_code == 404
    assert report(client, other_secret, theirs).status_code == 200


@pytest.mark.parametrize("request_id", ["not-a-request-id", "x" * 200, "0" * 23, "%27%20OR%201=1"])
def test_malformed_request_id_is_not_found(client, key, request_id):
    response = report(client, key[1], request_id, "v5-param")
    assert response.status_code == 404 and response.json()["type"] == "error"


@pytest.mark.parametrize("url", ["/api/v5/report", "/api/getReport.php"])
def test_missing_request_id_is_400(client, key, url):
    response = client.get(url, headers={"authkey": key[1]})
    assert response.status_code == 400
    assert response.json() == {"type": "error", "message": "Missing request_id."}


# --- Refusals ---------------------------------------------------------------------------------


def _assert_refused(response, code, status=401):
    assert response.status_code == status
    reply = response.json()
    assert list(reply) == ["type", "message", "code"]
    assert reply["type"] == "error" and reply["code"] == code
    assert "data" not in reply
    return reply


@pytest.mark.parametrize("secret", [None, "smsp_not-a-real-key", "smsp_" + "A" * 38])
def test_missing_or_invalid_key_is_refused(client, key, secret):
    request_id = send(client, key[1])
    before = snapshot()
    _assert_refused(report(client, secret, request_id), "207")
    assert snapshot() == before
    failed = FailedRequest.objects.get()
    assert (failed.code, failed.dialect, failed.endpoint, failed.company) == (
        "207",
        "msg91",
        "/api/v5/report",
        None,
    )


def test_rule_without_reports_is_refused(client, company, key):
    request_id = send(client, key[1])
    rule = key_services.rule_create(
        company=company, actor=None, name="Send only", services=[Service.objects.get(code="sms-send")]
    )
    authkey, sender_only = make_key(company=company, rule=rule, ip_security=False)
    before = snapshot()
    reply = _assert_refused(report(client, sender_only, request_id), "207")
    assert "reports" in reply["message"]
    assert snapshot() == before
    failed = FailedRequest.objects.get()
    assert (failed.code, failed.company, failed.authkey) == ("207", company, authkey)


def test_ip_not_whitelisted_is_418(client, company, key):
    request_id = send(client, key[1])
    _, guarded = make_key(company=company)  # IP security on, no IPs
    before = snapshot()
    _assert_refused(report(client, guarded, request_id), "418", status=200)
    assert snapshot() == before
    assert FailedRequest.objects.get().code == "418"


def test_blacklisted_ip_is_208(client, key):
    request_id = send(client, key[1])
    BlockedIP.objects.create(network="127.0.0.1")
    _assert_refused(report(client, key[1], request_id), "208", status=200)
    assert FailedRequest.objects.get().code == "208"


def test_banned_company_is_303(client, company, key):
    request_id = send(client, key[1])
    account_services.company_set_status(company=company, status=Company.Status.BANNED)
    before = snapshot()
    _assert_refused(report(client, key[1], request_id), "303", status=200)
    assert snapshot() == before
    assert FailedRequest.objects.get().company == company


def test_conflicting_keys_are_refused(client, company, key):
    request_id = send(client, key[1])
    _, other = make_key(company=company, ip_security=False)
    response = client.get(f"/api/v5/report/{request_id}", {"authkey": other}, headers={"authkey": key[1]})
    _assert_refused(response, "207")
    assert FailedRequest.objects.get().endpoint == "/api/v5/report"


def test_php_endpoint_is_recorded_under_its_own_name(client, key):
    client.get("/api/getReport.php", {"request_id": "0" * 24})
    assert FailedRequest.objects.get().endpoint == "/api/getReport.php"
