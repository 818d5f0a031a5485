import io
from datetime import datetime, time, timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from authkeys import auth, keys, services
from authkeys.auth import Refusal, authenticate_key
from authkeys.models import AuthKey, CompanyAllowedIP, KeyAllowedIP, KeySecret, SecurityEvent, Service
from tests.factories import CompanyFactory, make_key

pytestmark = pytest.mark.django_db

Kind = SecurityEvent.Kind
OFFICE = "203.0.113.10"
ELSEWHERE = "198.51.100.7"


@pytest.fixture(autouse=True)
def _no_local_memo(settings):
    settings.AUTHKEY_LOCAL_CACHE_SECONDS = 0
    auth._local.clear()


def run(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def _printed_key(out: str, err: str) -> str:
    """The key alone on the last line of stdout, printed once, never on stderr."""
    secret = out.splitlines()[-1]
    assert keys.is_well_formed(secret)
    assert out.count(secret) == 1
    assert secret not in err
    assert keys.display_prefix(secret) in err  # the summary names the key by its prefix
    return secret


# --- create_authkey ------------------------------------------------------------------------------


@pytest.mark.parametrize("lookup", ["id", "email", "EMAIL", "mobile", "local mobile"])
def test_create_authkey_prints_a_working_key_once(lookup):
    company = CompanyFactory(registered_mobile="+919876543210", registered_email="ops@acme.example")
    value = {
        "id": str(company.pk),
        "email": "ops@acme.example",
        "EMAIL": "OPS@Acme.example",
        "mobile": "+91 98765 43210",
        "local mobile": "98765 43210",
    }[lookup]
    out, err = run("create_authkey", "--company", value, "--name", "Billing", "--no-ip-security")
    secret = _printed_key(out, err)
    assert out == secret + "\n"  # nothing but the key on stdout
    authkey = AuthKey.objects.get()
    assert (authkey.company, authkey.name, authkey.ip_security, authkey.created_by) == (
        company,
        "Billing",
        False,
        None,
    )
    result = authenticate_key(secret, ELSEWHERE)
    assert result.ok and result.grant.authkey_id == authkey.pk
    event = SecurityEvent.objects.get()
    assert (event.kind, event.actor_user, event.actor_ip, event.authkey) == (
        Kind.KEY_CREATED,
        None,
        None,
        authkey,
    )


def test_create_authkey_with_ips_rule_use_case_and_expiry():
    company = CompanyFactory()
    rule = services.rule_create(
        company=company, actor=None, name="OTP only", services=[Service.objects.get(code="otp")]
    )
    day = timezone.localdate() + timedelta(days=30)
    out, err = run(
        "create_authkey",
        "--company",
        str(company.pk),
        "--name",
        "Shop  checkout",
        "--rule",
        "otp ONLY",
        "--use-case",
        "Website",
        "--expires",
        day.isoformat(),
        "--ip",
        OFFICE,
        "::ffff:203.0.113.10",
        "--ip",
        "2001:DB8::/32",
    )
    secret = _printed_key(out, err)
    authkey = AuthKey.objects.get()
    assert (authkey.name, authkey.rule, authkey.use_case, authkey.ip_security) == (
        "Shop checkout",
        rule,
        "Website",
        True,
    )
    # A date means "works until the end of that day" in TIME_ZONE.
    assert authkey.expires_at == timezone.make_aware(datetime.combine(day + timedelta(days=1), time.min))
    assert list(authkey.allowed_ips.values_list("network", flat=True)) == [OFFICE, "2001:db8::/32"]
    assert authenticate_key(secret, OFFICE).ok
    assert authenticate_key(secret, "2001:db8::1").ok
    assert authenticate_key(secret, ELSEWHERE).refusal == Refusal.IP_NOT_ALLOWED
    kinds = sorted(SecurityEvent.objects.filter(authkey=authkey).values_list("kind", flat=True))
    assert kinds == [Kind.IP_ADDED, Kind.IP_ADDED, Kind.KEY_CREATED]


def test_create_authkey_accepts_an_iso_datetime_and_warns_about_an_empty_list():
    company = CompanyFactory()
    moment = (timezone.now() + timedelta(days=2)).replace(microsecond=0)
    out, err = run(
        "create_authkey", "--company", str(company.pk), "--name", "K", "--expires", moment.isoformat()
    )
    _printed_key(out, err)
    assert AuthKey.objects.get().expires_at == moment
    assert "no whitelisted IP" in err


def test_create_authkey_with_a_start_date_is_refused_until_that_day_begins():
    company = CompanyFactory()
    day = timezone.localdate() + timedelta(days=3)
    out, err = run(
        "create_authkey",
        "--company",
        str(company.pk),
        "--name",
        "Later",
        "--no-ip-security",
        "--valid-from",
        day.isoformat(),
    )
    secret = _printed_key(out, err)
    start = timezone.make_aware(datetime.combine(day, time.min))  # a date: from the start of that day
    assert AuthKey.objects.get().valid_from == start
    assert f"Valid from: {start.isoformat()}" in err
    assert authenticate_key(secret, ELSEWHERE).refusal == Refusal.NOT_YET_VALID


def test_create_authkey_rolls_back_when_the_ip_limit_is_hit(settings):
    settings.AUTHKEYS_MAX_IPS_PER_KEY = 1
    company = CompanyFactory()
    with pytest.raises(CommandError, match=r"Nothing was created\. A key can have at most 1 "):
        run("create_authkey", "--company", str(company.pk), "--name", "K", "--ip", OFFICE, ELSEWHERE)
    assert AuthKey.objects.count() == KeyAllowedIP.objects.count() == SecurityEvent.objects.count() == 0


# --- regenerate_authkey ----------------------------------------------------------------------------


@pytest.mark.parametrize("by", ["id", "prefix", "prefix…", "full key"])
def test_regenerate_authkey_prints_the_new_key_and_stops_the_old(by):
    authkey, old = make_key(ip_security=False)
    value = {
        "id": str(authkey.pk),
        "prefix": authkey.display_prefix,
        "prefix…": authkey.display_prefix + "…",
        "full key": old,
    }[by]
    out, err = run("regenerate_authkey", value)
    new = _printed_key(out, err)
    assert new != old
    assert authenticate_key(new, OFFICE).ok
    assert authenticate_key(old, OFFICE).refusal == Refusal.UNKNOWN
    assert "old key has stopped working" in err
    event = SecurityEvent.objects.get(kind=Kind.KEY_REGENERATED)
    assert (event.actor_user, event.after["old_key_valid_for_seconds"]) == (None, 0)


def test_regenerate_authkey_with_a_grace_period_keeps_the_old_key_working():
    authkey, old = make_key(ip_security=False)
    out, err = run("regenerate_authkey", str(authkey.pk), "--grace-hours", "24")
    new = _printed_key(out, err)
    assert authenticate_key(new, OFFICE).ok
    assert authenticate_key(old, OFFICE).ok
    assert KeySecret.objects.get(authkey=authkey, valid_until__isnull=False).valid_until > timezone.now()
    assert "24 hour(s)" in err


# --- whitelist_ip ------------------------------------------------------------------------------------


def test_whitelist_ip_for_a_key_lets_it_in():
    authkey, secret = make_key()
    assert authenticate_key(secret, OFFICE).refusal == Refusal.IP_NOT_ALLOWED
    out, _ = run("whitelist_ip", "--key", authkey.display_prefix, OFFICE, "2001:db8::/48")
    assert "Whitelisted 203.0.113.10" in out
    assert authenticate_key(secret, OFFICE).ok
    assert list(authkey.allowed_ips.values_list("network", flat=True)) == [OFFICE, "2001:db8::/48"]
    assert SecurityEvent.objects.filter(kind=Kind.IP_ADDED, authkey=authkey).count() == 2


def test_whitelist_ip_for_a_company_covers_all_its_keys():
    company = CompanyFactory(registered_email="ops@acme.example")
    _, first_secret = make_key(company)
    _, second_secret = make_key(company)
    run("whitelist_ip", "--company", "ops@acme.example", "203.0.113.0/24")
    assert list(CompanyAllowedIP.objects.values_list("network", flat=True)) == ["203.0.113.0/24"]
    assert authenticate_key(first_secret, OFFICE).ok
    assert authenticate_key(second_secret, OFFICE).ok
    event = SecurityEvent.objects.get(kind=Kind.IP_ADDED)
    assert (event.company, event.actor_user, event.after["scope"]) == (company, None, "company")


def test_whitelist_ip_adds_what_it_can_and_exits_non_zero_for_the_rest():
    authkey, _ = make_key()
    services.key_ip_add(authkey=authkey, actor=None, entry=OFFICE)
    with pytest.raises(
        CommandError, match=r"1 of 2 entries not whitelisted \(1 added\).*203.0.113.10 is already"
    ):
        run("whitelist_ip", "--key", str(authkey.pk), OFFICE, ELSEWHERE)
    assert sorted(authkey.allowed_ips.values_list("network", flat=True)) == [ELSEWHERE, OFFICE]


# --- disable_authkey ---------------------------------------------------------------------------------


def test_disable_and_enable_authkey():
    authkey, secret = make_key(ip_security=False)
    out, _ = run("disable_authkey", authkey.display_prefix)
    assert "is now disabled" in out
    assert authenticate_key(secret, OFFICE).refusal == Refusal.DISABLED
    out, _ = run("disable_authkey", authkey.display_prefix)
    assert "already disabled" in out
    assert SecurityEvent.objects.filter(kind=Kind.KEY_DISABLED).count() == 1
    run("disable_authkey", str(authkey.pk), "--enable")
    assert authenticate_key(secret, OFFICE).ok
    assert SecurityEvent.objects.filter(kind=Kind.KEY_ENABLED, actor_user=None).count() == 1


# --- Bad arguments: a clear error and nothing created or changed -------------------------------------


def _state() -> tuple:
    return (
        list(AuthKey.objects.order_by("pk").values("name", "enabled", "ip_security", "display_prefix")),
        list(KeySecret.objects.order_by("pk").values_list("digest", "valid_until")),
        list(KeyAllowedIP.objects.order_by("pk").values_list("network", flat=True)),
        list(CompanyAllowedIP.objects.order_by("pk").values_list("network", flat=True)),
        SecurityEvent.objects.count(),
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        # create_authkey
        (["create_authkey", "--name", "K"], "the following arguments are required: --company"),
        (["create_authkey", "--company", "{company}"], "the following arguments are required: --name"),
        (["create_authkey", "--company", "ghost@x.example", "--name", "K"], "No company matches “ghost@x"),
        (["create_authkey", "--company", "999999", "--name", "K"], "No company matches “999999”"),
        (["create_authkey", "--company", "98765 11111", "--name", "K"], "No company matches “98765 11111”"),
        (
            ["create_authkey", "--company", "+91 12", "--name", "K"],
            "No company matches “\\+91 12”: .*not a valid number",
        ),
        (["create_authkey", "--company", "Acme", "--name", "K"], "No company matches “Acme”"),
        (["create_authkey", "--company", "{company}", "--name", "bad!"], "no special characters"),
        (["create_authkey", "--company", "{company}", "--name", "   "], "Give the key a name"),
        (["create_authkey", "--company", "{company}", "--name", "existing"], "already named “existing”"),
        (
            ["create_authkey", "--company", "{company}", "--name", "K", "--rule", "Nope"],
            "No rule named “Nope”",
        ),
        (["create_authkey", "--company", "{company}", "--name", "K", "--rule", "Other"], "No rule named"),
        (["create_authkey", "--company", "{company}", "--name", "K", "--use-case", "x" * 61], "at most 60"),
        (["create_authkey", "--company", "{company}", "--name", "K", "--expires", "2020-01-01"], "future"),
        (["create_authkey", "--company", "{company}", "--name", "K", "--expires", "soon"], "is not a date"),
        (
            ["create_authkey", "--company", "{company}", "--name", "K", "--valid-from", "tuesday"],
            "is not a date",
        ),
        (
            [
                "create_authkey",
                "--company",
                "{company}",
                "--name",
                "K",
                "--valid-from",
                "2031-01-10",
                "--expires",
                "2031-01-05",
            ],
            r"The expiry \(valid to\) must be after the start of validity",
        ),
        (
            ["create_authkey", "--company", "{company}", "--name", "K", "--expires", "2030-02-30"],
            "not a date",
        ),
        (
            [
                "create_authkey",
                "--company",
                "{company}",
                "--name",
                "K",
                "--ip",
                "1.2.3",
                OFFICE,
                "10.0.0.256",
            ],
            "Nothing was changed. Bad IP entries: “1.2.3”.*“10.0.0.256”",
        ),
        (["create_authkey", "--company", "{company}", "--name", "K", "--ip", "fe80::1%eth0"], "zone ids"),
        (["create_authkey", "--company", "{company}", "--name", "K", "--ip"], "expected at least one"),
        # regenerate_authkey
        (["regenerate_authkey", "999999"], "No key has the id 999999"),
        (["regenerate_authkey", "smsp_zzzzzz"], "No key has a display prefix starting with “smsp_zzzzzz”"),
        (["regenerate_authkey", "Billing"], "is not a key id or a display prefix"),
        (["regenerate_authkey", "smsp_"], "is not a key id or a display prefix"),
        (["regenerate_authkey", "smsp_AAAA"], "“smsp_AAAA” matches 2 keys: id .*; id "),
        (["regenerate_authkey", "{prefix}tooLongToBeAPrefix"], "not a valid key either"),
        (["regenerate_authkey", "{key}", "--grace-hours", "25"], "from 0 to 24"),
        (["regenerate_authkey", "{key}", "--grace-hours", "-1"], "from 0 to 24"),
        (["regenerate_authkey", "{key}", "--grace-hours", "1.5"], "from 0 to 24"),
        (["regenerate_authkey"], "the following arguments are required: key"),
        # whitelist_ip
        (["whitelist_ip", OFFICE], "one of the arguments --key --company is required"),
        (["whitelist_ip", "--key", "{key}", "--company", "{company}", OFFICE], "not allowed with argument"),
        (["whitelist_ip", "--key", "{key}"], "the following arguments are required: ENTRY"),
        (["whitelist_ip", "--key", "smsp_nope00", OFFICE], "No key has a display prefix"),
        (["whitelist_ip", "--company", "nobody@x.example", OFFICE], "No company matches"),
        (
            ["whitelist_ip", "--key", "{key}", OFFICE, "192.0. 2.146", "0x7f000001", "10.0.0.0/33", ""],
            "Nothing was changed. Bad IP entries: “192.0. 2.146”.*“0x7f000001”.*“10.0.0.0/33”.*empty",
        ),
        (["whitelist_ip", "--company", "{company}", "010.0.0.1"], "leading zeros"),
        (["whitelist_ip", "--company", "{company}", "2001:db8::/129"], "at most /128"),
        (["whitelist_ip", "--key", "{key}", "{existing_ip}"], "0 added.*already whitelisted for this key"),
        # disable_authkey
        (["disable_authkey", "424242"], "No key has the id 424242"),
        (["disable_authkey", "smsp_"], "is not a key id or a display prefix"),
        (["disable_authkey"], "the following arguments are required: key"),
    ],
)
def test_bad_arguments_fail_clearly_and_change_nothing(args, message):
    company = CompanyFactory(name="Acme")
    other_company = CompanyFactory()
    services.rule_create(
        company=other_company, actor=None, name="Other", services=[Service.objects.get(code="otp")]
    )
    existing, _ = make_key(company, name="existing")
    services.key_ip_add(authkey=existing, actor=None, entry=ELSEWHERE)
    # Two keys whose display prefixes start alike, for the ambiguity case.
    twin_a, _ = make_key(company)
    twin_b, _ = make_key(company)
    AuthKey.objects.filter(pk=twin_a.pk).update(display_prefix="smsp_AAAA11")
    AuthKey.objects.filter(pk=twin_b.pk).update(display_prefix="smsp_AAAA22")
    values = {
        "company": str(company.pk),
        "key": str(existing.pk),
        "prefix": existing.display_prefix,
        "existing_ip": ELSEWHERE,
    }
    args = [arg.format(**values) for arg in args]
    before = _state()
    with pytest.raises(CommandError, match=message):
        run(*args)
    assert _state() == before
