from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts import services as account_services
from accounts.models import Company
from authkeys import auth, keys, services
from authkeys.auth import Refusal, authenticate_key, client_ip
from authkeys.models import Rule, Service
from tests.factories import CompanyFactory, make_key

pytestmark = pytest.mark.django_db

OFFICE = "203.0.113.10"
ELSEWHERE = "198.51.100.7"


@pytest.fixture(autouse=True)
def _no_local_memo(settings):
    # Each assertion must see the current database state; the 1-second memo has its own test.
    settings.AUTHKEY_LOCAL_CACHE_SECONDS = 0
    auth._local.clear()


def _refusal(secret, ip=OFFICE):
    return authenticate_key(secret, ip).refusal


# --- Key shape -------------------------------------------------------------------------------


def test_generated_keys_are_well_formed_unique_and_long():
    generated = {keys.generate_key() for _ in range(200)}
    assert len(generated) == 200
    assert all(keys.is_well_formed(key) and key.startswith("smsp_") for key in generated)


@pytest.mark.parametrize(
    "mangle",
    [
        lambda k: k[:-1] + ("A" if k[-1] != "A" else "B"),  # checksum
        lambda k: k[:10] + ("x" if k[10] != "x" else "y") + k[11:],  # body typo
        lambda k: k[:-1],
        lambda k: k + "0",
        lambda k: "sk_" + k[5:],
        lambda k: k[:20] + "-" + k[21:],
        lambda k: "",
    ],
)
def test_mistyped_keys_are_refused_without_a_query(mangle):
    _, secret = make_key()
    with CaptureQueriesContext(connection) as queries:
        assert _refusal(mangle(secret)) == Refusal.MALFORMED
    assert len(queries) == 0


def test_unknown_well_formed_key():
    assert _refusal(keys.generate_key()) == Refusal.UNKNOWN


def test_key_stored_only_as_digest():
    authkey, secret = make_key()
    from authkeys.models import KeySecret

    stored = list(KeySecret.objects.filter(authkey=authkey).values_list("digest", flat=True))
    assert stored == [keys.digest(secret)]
    assert secret not in repr(list(type(authkey).objects.filter(pk=authkey.pk).values()))
    assert secret.startswith(authkey.display_prefix) and len(authkey.display_prefix) < 16


# --- Checks in order --------------------------------------------------------------------------


def test_fresh_key_with_ip_security_on_and_no_ips_is_refused_418():
    _, secret = make_key()
    assert _refusal(secret) == Refusal.IP_NOT_ALLOWED


def test_key_with_ip_security_off_accepts_any_ip():
    authkey, secret = make_key(ip_security=False)
    result = authenticate_key(secret, ELSEWHERE)
    assert result.ok and result.grant.authkey_id == authkey.pk


@pytest.mark.parametrize(
    ("status", "refusal"),
    [
        (Company.Status.EXPIRED, Refusal.COMPANY_INACTIVE),
        (Company.Status.BANNED, Refusal.COMPANY_INACTIVE),
        (Company.Status.TERMINATED, Refusal.COMPANY_INACTIVE),
    ],
)
def test_inactive_company_is_refused_with_its_status(status, refusal):
    authkey, secret = make_key(ip_security=False)
    account_services.company_set_status(company=authkey.company, status=status)
    result = authenticate_key(secret, OFFICE)
    assert result.refusal == refusal and result.grant.company_status == status


def test_disabled_key_is_refused():
    authkey, secret = make_key(ip_security=False)
    services.authkey_set_enabled(authkey=authkey, actor=None, enabled=False)
    assert _refusal(secret) == Refusal.DISABLED
    services.authkey_set_enabled(authkey=authkey, actor=None, enabled=True)
    assert _refusal(secret) is None


def test_expired_key_is_refused_at_the_instant():
    expiry = timezone.now() + timedelta(days=1)
    _, secret = make_key(ip_security=False, expires_at=expiry)
    with time_machine.travel(expiry - timedelta(microseconds=1), tick=False):
        assert _refusal(secret) is None
    with time_machine.travel(expiry, tick=False):
        assert _refusal(secret) == Refusal.EXPIRED


def test_company_status_is_checked_before_key_state():
    authkey, secret = make_key()
    services.authkey_set_enabled(authkey=authkey, actor=None, enabled=False)
    account_services.company_set_status(company=authkey.company, status=Company.Status.BANNED)
    assert _refusal(secret, ELSEWHERE) == Refusal.COMPANY_INACTIVE


# --- Allow-list semantics ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key_ips", "company_ips", "ip", "allowed"),
    [
        ([OFFICE], [], OFFICE, True),
        ([OFFICE], [], ELSEWHERE, False),
        ([], [OFFICE], OFFICE, True),
        ([], [OFFICE], ELSEWHERE, False),
        (["203.0.113.0/24"], [], "203.0.113.200", True),
        (["203.0.113.0/24"], [], "203.0.114.1", False),
        ([OFFICE], [ELSEWHERE], ELSEWHERE, True),
        (["2001:db8::/32"], [], "2001:db8:3333:4444:5555:6666:7777:8888", True),
        (["2001:db8::1"], [], "2001:DB8:0:0:0:0:0:1", True),
        ([OFFICE], [], f"::ffff:{OFFICE}", True),  # IPv4-mapped request address
        ([f"::ffff:{OFFICE}"], [], OFFICE, True),  # IPv4-mapped entry
        ([OFFICE], [], "not-an-ip", False),
    ],
)
def test_allow_lists(key_ips, company_ips, ip, allowed):
    authkey, secret = make_key()
    for entry in key_ips:
        services.key_ip_add(authkey=authkey, actor=None, entry=entry)
    for entry in company_ips:
        services.company_ip_add(company=authkey.company, actor=None, entry=entry)
    assert (_refusal(secret, ip) is None) is allowed


def test_company_list_does_not_leak_to_other_companies():
    _, secret = make_key()
    other = CompanyFactory()
    services.company_ip_add(company=other, actor=None, entry=OFFICE)
    assert _refusal(secret, OFFICE) == Refusal.IP_NOT_ALLOWED


def test_additional_security_enforces_lists_on_keys_with_ip_security_off():
    authkey, secret = make_key(ip_security=False)
    services.company_ip_add(company=authkey.company, actor=None, entry=OFFICE)
    assert _refusal(secret, ELSEWHERE) is None
    services.additional_security_set(company=authkey.company, actor=None, enabled=True)
    assert _refusal(secret, ELSEWHERE) == Refusal.IP_NOT_ALLOWED
    assert _refusal(secret, OFFICE) is None
    services.additional_security_set(company=authkey.company, actor=None, enabled=False)
    assert _refusal(secret, ELSEWHERE) is None


def test_deleting_the_last_ip_never_opens_the_key():
    authkey, secret = make_key()
    allowed = services.key_ip_add(authkey=authkey, actor=None, entry=OFFICE)
    assert _refusal(secret, OFFICE) is None
    services.key_ip_delete(allowed=allowed, actor=None)
    assert _refusal(secret, OFFICE) == Refusal.IP_NOT_ALLOWED
    assert _refusal(secret, ELSEWHERE) == Refusal.IP_NOT_ALLOWED


def test_rule_services_are_part_of_the_grant():
    company = CompanyFactory()
    rule = services.rule_create(
        company=company, actor=None, name="Send only", services=[Service.objects.get(code="sms-send")]
    )
    _, secret = make_key(company=company, rule=rule, ip_security=False)
    grant = authenticate_key(secret, OFFICE).grant
    assert grant.may_use("sms-send") and not grant.may_use("key-management")
    _, all_secret = make_key(company=company, ip_security=False)
    assert authenticate_key(all_secret, OFFICE).grant.may_use("key-management")
    services.rule_update(
        rule=rule,
        actor=None,
        name="Send only",
        services=list(Service.objects.filter(code__in=["sms-send", "reports"])),
    )
    assert authenticate_key(secret, OFFICE).grant.may_use("reports")
    assert Rule.objects.filter(company=company).count() == 1


# --- Regeneration -----------------------------------------------------------------------------


def test_regenerate_stops_the_old_key_at_once():
    authkey, old = make_key(ip_security=False)
    new = services.authkey_regenerate(authkey=authkey, actor=None)
    assert _refusal(old) == Refusal.UNKNOWN
    assert _refusal(new) is None


def test_regenerate_with_grace_keeps_both_until_it_ends():
    authkey, old = make_key(ip_security=False)
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        new = services.authkey_regenerate(authkey=authkey, actor=None, grace_seconds=3600)
        assert _refusal(old) is None and _refusal(new) is None
        clock.shift(3601)
        assert _refusal(old) == Refusal.UNKNOWN
        assert _refusal(new) is None


# --- Cost and caching -------------------------------------------------------------------------


def test_cold_lookup_is_one_query_and_warm_lookup_none(settings):
    authkey, secret = make_key()
    services.key_ip_add(authkey=authkey, actor=None, entry=OFFICE)
    services.company_ip_add(company=authkey.company, actor=None, entry="10.0.0.0/8")
    with CaptureQueriesContext(connection) as cold:
        assert authenticate_key(secret, OFFICE).ok
    assert len(cold) == 1
    assert "WHERE" in cold[0]["sql"] and "digest" in cold[0]["sql"]
    with CaptureQueriesContext(connection) as warm:
        assert authenticate_key(secret, "10.9.8.7").ok
    assert len(warm) == 0


def test_changes_invalidate_the_shared_cache():
    authkey, secret = make_key()
    services.key_ip_add(authkey=authkey, actor=None, entry=OFFICE)
    assert _refusal(secret) is None  # now cached
    services.authkey_set_enabled(authkey=authkey, actor=None, enabled=False)
    assert _refusal(secret) == Refusal.DISABLED


def test_process_memo_lasts_at_most_the_configured_second(settings):
    settings.AUTHKEY_LOCAL_CACHE_SECONDS = 1.0
    authkey, secret = make_key(ip_security=False)
    assert _refusal(secret) is None
    # Another process disables the key: it clears the shared cache, not this process's memo.
    from django.core.cache import cache

    from authkeys.models import AuthKey

    AuthKey.objects.filter(pk=authkey.pk).update(enabled=False)
    cache.clear()
    with time_machine.travel(timezone.now(), tick=False) as clock:
        auth._local[keys.digest(secret)] = (auth.time.monotonic() + 1.0, auth._local[keys.digest(secret)][1])
        assert _refusal(secret) is None
        clock.shift(1.01)
    auth._local.clear()  # time_machine does not move time.monotonic on every platform
    assert _refusal(secret) == Refusal.DISABLED


# --- Client IP --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("remote", "forwarded", "trusted", "expected"),
    [
        ("198.51.100.7", None, [], "198.51.100.7"),
        ("198.51.100.7", "1.2.3.4", [], "198.51.100.7"),  # spoofed header from an untrusted peer
        ("10.0.0.2", "203.0.113.10", ["10.0.0.0/8"], "203.0.113.10"),
        (
            "10.0.0.2",
            "1.2.3.4, 203.0.113.10",
            ["10.0.0.0/8"],
            "203.0.113.10",
        ),  # left part is client-controlled
        ("10.0.0.2", "203.0.113.10, 10.0.0.5", ["10.0.0.0/8"], "203.0.113.10"),  # skip trusted hops
        ("10.0.0.2", "garbage", ["10.0.0.0/8"], "10.0.0.2"),
        ("10.0.0.2", "203.0.113.10, not an ip", ["10.0.0.0/8"], "10.0.0.2"),
        ("10.0.0.2", "", ["10.0.0.0/8"], "10.0.0.2"),
        ("10.0.0.2", "10.0.0.7", ["10.0.0.0/8"], "10.0.0.7"),
        ("::ffff:10.0.0.2", "2001:db8::5", ["10.0.0.0/8"], "2001:db8::5"),
        ("::1", "fe80::1%eth0", ["::1/128"], "::1"),
    ],
)
def test_client_ip(settings, remote, forwarded, trusted, expected):
    import ipaddress

    settings.TRUSTED_PROXIES = [ipaddress.ip_network(n) for n in trusted]
    meta = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        meta["HTTP_X_FORWARDED_FOR"] = forwarded
    request = RequestFactory().get("/", **meta)
    assert client_ip(request) == expected
