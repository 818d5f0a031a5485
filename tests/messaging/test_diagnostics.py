"""The IP check tool gives the API's own verdict (the same code a real request gets) and
changes nothing."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from accounts import services as account_services
from accounts.models import Company
from authkeys import auth
from authkeys import services as key_services
from authkeys.models import AuthKey, RecentIP
from messaging import blacklist, diagnostics
from messaging.models import BlockedIP, FailedRequest, Message
from tests.factories import CompanyFactory, make_key

pytestmark = pytest.mark.django_db

IP = "198.51.100.7"


@pytest.fixture(autouse=True)
def _fresh_grants(settings):
    settings.AUTHKEY_LOCAL_CACHE_SECONDS = 0
    auth._local.clear()


def _setup(case):  # type: ignore[no-untyped-def]
    company = CompanyFactory(sms_balance=100)
    ip_security = case not in {"security_off", "additional_security"}
    authkey, secret = make_key(company, name="Billing", ip_security=ip_security)
    if case in {"key_ip", "blacklisted", "disabled", "expired", "suspended"}:
        key_services.key_ip_add(authkey=authkey, actor=None, entry=IP)
    elif case == "company_cidr":
        key_services.company_ip_add(company=company, actor=None, entry="198.51.100.0/24")
    elif case == "additional_security":
        key_services.company_ip_add(company=company, actor=None, entry="192.0.2.1")
        key_services.additional_security_set(company=company, actor=None, enabled=True)
    if case == "blacklisted":
        BlockedIP.objects.create(network="198.51.100.0/28")
        blacklist.forget()
    elif case == "disabled":
        key_services.authkey_set_enabled(authkey=authkey, actor=None, enabled=False)
    elif case == "expired":
        AuthKey.objects.filter(pk=authkey.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
        auth.invalidate_keys([authkey.pk])
    elif case == "suspended":
        account_services.company_set_status(company=company, status=Company.Status.BANNED)
    authkey.refresh_from_db()
    return authkey, secret


@pytest.mark.parametrize(
    ("case", "code", "failing_step"),
    [
        ("no_ips", "418", "IP security"),
        ("key_ip", None, None),
        ("company_cidr", None, None),
        ("security_off", None, None),
        ("additional_security", "418", "IP security"),
        ("blacklisted", "208", "Global blacklist"),
        ("disabled", "207", "Key enabled"),
        ("expired", "207", "Expiry"),
        ("suspended", "303", "Company"),
    ],
)
def test_verdict_matches_a_real_api_request_and_changes_nothing(client, case, code, failing_step):
    authkey, secret = _setup(case)
    before = (FailedRequest.objects.count(), RecentIP.objects.count(), authkey.last_used_at)

    result = diagnostics.ip_check(authkey=authkey, ip=IP)

    assert (FailedRequest.objects.count(), RecentIP.objects.count()) == before[:2]
    assert AuthKey.objects.get(pk=authkey.pk).last_used_at == before[2]
    assert result.accepted is (code is None)
    assert [step.label for step in result.steps if not step.ok][:1] == (
        [failing_step] if failing_step else []
    )
    response = client.get(
        "/api/sendhttp.php",
        {
            "authkey": secret,
            "mobiles": "919876543210",
            "message": "Hi",
            "sender": "ACMEIN",
            "response": "json",
        },
        REMOTE_ADDR=IP,
    )
    body = json.loads(response.content)
    if code is None:
        assert body["type"] == "success" and Message.objects.count() == 1
    else:
        assert result.error is not None and result.error.code.value == code
        assert body["type"] == "error" and body["code"] == code


def test_explains_which_entry_matched():
    authkey, _ = _setup("company_cidr")
    step = next(s for s in diagnostics.ip_check(authkey=authkey, ip=IP).steps if s.label == "IP security")
    assert step.ok and "whitelisted for all keys of the company (198.51.100.0/24)" in step.detail
    authkey, _ = _setup("no_ips")
    step = next(s for s in diagnostics.ip_check(authkey=authkey, ip=IP).steps if s.label == "IP security")
    assert (
        not step.ok and "neither the key's whitelist (0 entries) nor the company's (0 entries)" in step.detail
    )


def test_ipv4_mapped_address_is_checked_as_ipv4():
    authkey, _ = _setup("key_ip")
    result = diagnostics.ip_check(authkey=authkey, ip=f"::ffff:{IP}")
    assert result.accepted and result.ip == IP
