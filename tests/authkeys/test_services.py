"""authkeys.services: every change writes exactly one SecurityEvent; no-ops write none; refusals
raise ValidationError with a clear message and change nothing."""

import re
from datetime import timedelta
from types import SimpleNamespace
from unittest.mock import ANY

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.utils import timezone

from accounts import services as account_services
from accounts.models import Company, ContactChange
from authkeys import services
from authkeys.models import (
    ApiSecurity,
    AuthKey,
    CompanyAllowedIP,
    KeyAllowedIP,
    KeySecret,
    RecentIP,
    Rule,
    SecurityEvent,
    Service,
)
from tests.factories import CompanyFactory, UserFactory, builtin_rule, make_key, next_mobile
from tests.helpers import last_code

pytestmark = pytest.mark.django_db

Kind = SecurityEvent.Kind
IP = "203.0.113.50"


def _svc(*codes: str) -> list[Service]:
    return list(Service.objects.filter(code__in=codes).order_by("code"))


@pytest.fixture
def c():
    """An owner's company with a key "Billing" (All services) and a rule "OTP only" no key uses,
    next to another company with its own key and rule."""
    owner = UserFactory()
    company = owner.company
    key, _ = make_key(company, name="Billing", actor=owner)
    rule = services.rule_create(company=company, actor=owner, name="OTP only", services=_svc("otp"))
    other = CompanyFactory()
    foreign_key, _ = make_key(other, name="Foreign")
    foreign_rule = services.rule_create(company=other, actor=None, name="Foreign rule", services=_svc("otp"))
    return SimpleNamespace(
        owner=owner,
        company=company,
        key=key,
        rule=rule,
        builtin=builtin_rule(),
        other=other,
        foreign_key=foreign_key,
        foreign_rule=foreign_rule,
    )


def _db_state() -> dict:
    """Everything the services can change (an ApiSecurity row that is off counts as absent)."""
    return {
        "keys": list(
            AuthKey.objects.order_by("pk").values_list(
                "pk", "company_id", "name", "use_case", "rule_id", "ip_security", "enabled", "expires_at"
            )
        ),
        "prefixes": list(AuthKey.objects.order_by("pk").values_list("display_prefix", flat=True)),
        "secrets": list(
            KeySecret.objects.order_by("pk").values_list("pk", "authkey_id", "digest", "valid_until")
        ),
        "key_ips": list(KeyAllowedIP.objects.order_by("pk").values_list("pk", "authkey_id", "network")),
        "company_ips": list(
            CompanyAllowedIP.objects.order_by("pk").values_list("pk", "company_id", "network")
        ),
        "additional_security": sorted(
            ApiSecurity.objects.filter(additional_security=True).values_list("company_id", flat=True)
        ),
        "rules": [
            (rule.pk, rule.company_id, rule.name, sorted(rule.services.values_list("code", flat=True)))
            for rule in Rule.objects.order_by("pk")
        ],
        "recent": list(RecentIP.objects.order_by("pk").values_list()),
        "companies": list(
            Company.objects.order_by("pk").values_list(
                "pk", "status", "registered_mobile", "registered_email"
            )
        ),
        "events": SecurityEvent.objects.count(),
    }


def _last_event_pk() -> int:
    return SecurityEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0


def _events_since(pk: int) -> list[SecurityEvent]:
    return list(SecurityEvent.objects.filter(pk__gt=pk).order_by("pk"))


def _key_snapshot(**overrides):
    snapshot = {
        "name": "Billing",
        "use_case": "",
        "rule": "All services",
        "ip_security": True,
        "enabled": True,
        "valid_from": None,
        "expires_at": None,
        "prefix": ANY,
    }
    return {**snapshot, **overrides}


# --- Every change: exactly one event of the right kind ----------------------------------------


def _disable(c, settings=None):
    services.authkey_set_enabled(authkey=c.key, actor=c.owner, enabled=False)


def _security_off(c, settings=None):
    services.authkey_set_ip_security(authkey=c.key, actor=c.owner, enabled=False)


def _add_key_ip(c, settings=None):
    c.allowed = services.key_ip_add(authkey=c.key, actor=c.owner, entry="192.0.2.7")


def _add_company_ip(c, settings=None):
    c.allowed = services.company_ip_add(company=c.company, actor=c.owner, entry="192.0.2.0/24")


def _additional_on(c, settings=None):
    _add_company_ip(c)
    services.additional_security_set(company=c.company, actor=c.owner, enabled=True)


def _rule_in_use(c, settings=None):
    services.authkey_update(
        authkey=c.key, actor=c.owner, name="Billing", use_case="", rule=c.rule, expires_at=None
    )


def _recent(c, settings=None):
    services.recent_ip_record(company_id=c.company.pk, ip="198.51.100.7", authkey_id=c.key.pk, accepted=False)
    c.recent = RecentIP.objects.get(company=c.company)


CHANGES = [
    pytest.param(
        None,
        lambda c: services.authkey_create(
            company=c.company, actor=c.owner, name=" New  key ", rule=c.rule, use_case="CRM", actor_ip=IP
        ),
        Kind.KEY_CREATED,
        "New key",
        None,
        _key_snapshot(name="New key", use_case="CRM", rule="OTP only"),
        id="key created",
    ),
    pytest.param(
        None,
        lambda c: services.authkey_regenerate(authkey=c.key, actor=c.owner, actor_ip=IP),
        Kind.KEY_REGENERATED,
        "Billing",
        {"prefix": ANY},
        {"prefix": ANY, "old_key_valid_for_seconds": 0},
        id="key regenerated",
    ),
    pytest.param(
        None,
        lambda c: services.authkey_regenerate(authkey=c.key, actor=c.owner, grace_seconds=86400, actor_ip=IP),
        Kind.KEY_REGENERATED,
        "Billing",
        {"prefix": ANY},
        {"prefix": ANY, "old_key_valid_for_seconds": 86400},
        id="key regenerated with 24 h grace",
    ),
    pytest.param(
        None,
        lambda c: services.authkey_set_enabled(authkey=c.key, actor=c.owner, enabled=False, actor_ip=IP),
        Kind.KEY_DISABLED,
        "Billing",
        {"enabled": True},
        {"enabled": False},
        id="key disabled",
    ),
    pytest.param(
        _disable,
        lambda c: services.authkey_set_enabled(authkey=c.key, actor=c.owner, enabled=True, actor_ip=IP),
        Kind.KEY_ENABLED,
        "Billing",
        {"enabled": False},
        {"enabled": True},
        id="key enabled",
    ),
    pytest.param(
        None,
        lambda c: services.authkey_set_ip_security(authkey=c.key, actor=c.owner, enabled=False, actor_ip=IP),
        Kind.IP_SECURITY_OFF,
        "Billing",
        {"ip_security": True},
        {"ip_security": False},
        id="IP security off",
    ),
    pytest.param(
        _security_off,
        lambda c: services.authkey_set_ip_security(authkey=c.key, actor=c.owner, enabled=True, actor_ip=IP),
        Kind.IP_SECURITY_ON,
        "Billing",
        {"ip_security": False},
        {"ip_security": True},
        id="IP security on",
    ),
    pytest.param(
        None,
        lambda c: services.authkey_update(
            authkey=c.key,
            actor=c.owner,
            name="Billing v2",
            use_case="ERP",
            rule=c.builtin,
            expires_at=None,
            actor_ip=IP,
        ),
        Kind.KEY_UPDATED,
        "Billing v2",
        {"name": "Billing", "use_case": ""},
        {"name": "Billing v2", "use_case": "ERP"},
        id="key settings changed",
    ),
    pytest.param(
        None,
        lambda c: services.authkey_update(
            authkey=c.key,
            actor=c.owner,
            name="Billing",
            use_case="",
            rule=c.rule,
            expires_at=None,
            actor_ip=IP,
        ),
        Kind.KEY_RULE_CHANGED,
        "Billing",
        {"rule": "All services"},
        {"rule": "OTP only"},
        id="key rule changed",
    ),
    pytest.param(
        None,
        lambda c: services.authkey_delete(authkey=c.key, actor=c.owner, actor_ip=IP),
        Kind.KEY_DELETED,
        "Billing",
        _key_snapshot(),
        None,
        id="key deleted",
    ),
    pytest.param(
        None,
        lambda c: services.key_ip_add(authkey=c.key, actor=c.owner, entry=" ::ffff:192.0.2.7 ", actor_ip=IP),
        Kind.IP_ADDED,
        "Billing: 192.0.2.7",
        None,
        {"scope": "key", "key": "Billing", "ip": "192.0.2.7"},
        id="key IP added (normalised)",
    ),
    pytest.param(
        _add_key_ip,
        lambda c: services.key_ip_delete(allowed=c.allowed, actor=c.owner, actor_ip=IP),
        Kind.IP_DELETED,
        "Billing: 192.0.2.7",
        {"scope": "key", "key": "Billing", "ip": "192.0.2.7"},
        None,
        id="key IP deleted",
    ),
    pytest.param(
        None,
        lambda c: services.company_ip_add(
            company=c.company, actor=c.owner, entry="2001:DB8:0:0::/64", actor_ip=IP
        ),
        Kind.IP_ADDED,
        "Company: 2001:db8::/64",
        None,
        {"scope": "company", "ip": "2001:db8::/64"},
        id="company IP added (normalised)",
    ),
    pytest.param(
        _add_company_ip,
        lambda c: services.company_ip_delete(allowed=c.allowed, actor=c.owner, actor_ip=IP),
        Kind.IP_DELETED,
        "Company: 192.0.2.0/24",
        {"scope": "company", "ip": "192.0.2.0/24"},
        None,
        id="company IP deleted",
    ),
    pytest.param(
        _add_key_ip,
        lambda c: services.additional_security_set(
            company=c.company, actor=c.owner, enabled=True, actor_ip=IP
        ),
        Kind.ADDITIONAL_SECURITY_ON,
        "Company",
        {"additional_security": False},
        {"additional_security": True},
        id="Additional Security on (a key IP is enough)",
    ),
    pytest.param(
        _additional_on,
        lambda c: services.additional_security_set(
            company=c.company, actor=c.owner, enabled=False, actor_ip=IP
        ),
        Kind.ADDITIONAL_SECURITY_OFF,
        "Company",
        {"additional_security": True},
        {"additional_security": False},
        id="Additional Security off",
    ),
    pytest.param(
        None,
        lambda c: services.rule_create(
            company=c.company, actor=c.owner, name="Reports", services=_svc("reports", "balance"), actor_ip=IP
        ),
        Kind.RULE_CREATED,
        "Reports",
        None,
        {"name": "Reports", "services": ["balance", "reports"]},
        id="rule created",
    ),
    pytest.param(
        None,
        lambda c: services.rule_update(
            rule=c.rule, actor=c.owner, name="OTP and SMS", services=_svc("otp", "sms-send"), actor_ip=IP
        ),
        Kind.RULE_CHANGED,
        "OTP and SMS",
        {"name": "OTP only", "services": ["otp"]},
        {"name": "OTP and SMS", "services": ["otp", "sms-send"]},
        id="rule changed",
    ),
    pytest.param(
        None,
        lambda c: services.rule_delete(rule=c.rule, actor=c.owner, actor_ip=IP),
        Kind.RULE_DELETED,
        "OTP only",
        {"name": "OTP only", "services": ["otp"]},
        {"keys_moved_to": None, "keys_moved": 0},
        id="unused rule deleted",
    ),
    pytest.param(
        _rule_in_use,
        lambda c: services.rule_delete(rule=c.rule, actor=c.owner, replacement=c.builtin, actor_ip=IP),
        Kind.RULE_DELETED,
        "OTP only",
        {"name": "OTP only", "services": ["otp"]},
        {"keys_moved_to": "All services", "keys_moved": 1},
        id="rule in use deleted with a replacement",
    ),
    pytest.param(
        _recent,
        lambda c: services.recent_ip_whitelist(recent=c.recent, actor=c.owner, authkey=c.key, actor_ip=IP),
        Kind.IP_ADDED,
        "Billing: 198.51.100.7",
        None,
        {"scope": "key", "key": "Billing", "ip": "198.51.100.7"},
        id="recent IP whitelisted for a key",
    ),
    pytest.param(
        _recent,
        lambda c: services.recent_ip_whitelist(recent=c.recent, actor=c.owner, actor_ip=IP),
        Kind.IP_ADDED,
        "Company: 198.51.100.7",
        None,
        {"scope": "company", "ip": "198.51.100.7"},
        id="recent IP whitelisted for the company",
    ),
]


@pytest.mark.parametrize(("setup", "change", "kind", "target", "before", "after"), CHANGES)
def test_each_change_writes_exactly_one_event(c, setup, change, kind, target, before, after):
    if setup is not None:
        setup(c)
    since = _last_event_pk()
    change(c)
    events = _events_since(since)
    assert [event.kind for event in events] == [kind]
    event = events[0]
    assert event.company_id == c.company.pk
    assert event.actor_user_id == c.owner.pk
    assert event.actor_ip == IP
    assert event.target == target
    assert event.before == before
    assert event.after == after


def test_key_events_point_at_the_key_and_survive_its_deletion(c):
    services.authkey_set_enabled(authkey=c.key, actor=c.owner, enabled=False)
    event = SecurityEvent.objects.first()
    assert event.authkey == c.key
    services.authkey_delete(authkey=c.key, actor=c.owner)
    deleted = SecurityEvent.objects.first()
    assert deleted.kind == Kind.KEY_DELETED and deleted.authkey is None and deleted.target == "Billing"
    event.refresh_from_db()
    assert event.authkey is None and event.target == "Billing"


def test_regenerate_by_api_key_records_the_key_as_actor(c):
    since = _last_event_pk()
    services.authkey_regenerate(authkey=c.key, actor=None, actor_key=c.key, actor_ip=IP)
    [event] = _events_since(since)
    assert event.actor_user is None and event.actor_key == c.key and event.actor_ip == IP


def test_created_key_and_events_never_contain_the_secret(c):
    since = _last_event_pk()
    authkey, secret = services.authkey_create(company=c.company, actor=c.owner, name="Fresh", rule=c.builtin)
    new_secret = services.authkey_regenerate(authkey=authkey, actor=c.owner, grace_seconds=60)
    for event in _events_since(since):
        dumped = repr((event.target, event.before, event.after))
        assert secret not in dumped and new_secret not in dumped
        assert secret[len(authkey.display_prefix) :][:12] not in dumped


# --- No-ops write nothing ----------------------------------------------------------------------


def _deleted_key_ip(c, settings=None):
    _add_key_ip(c)
    services.key_ip_delete(allowed=c.allowed, actor=c.owner)


def _deleted_company_ip(c, settings=None):
    _add_company_ip(c)
    services.company_ip_delete(allowed=c.allowed, actor=c.owner)


NO_OPS = [
    pytest.param(
        None,
        lambda c: services.authkey_set_enabled(authkey=c.key, actor=c.owner, enabled=True),
        id="enable enabled key",
    ),
    pytest.param(_disable, lambda c: _disable(c), id="disable disabled key"),
    pytest.param(
        None,
        lambda c: services.authkey_set_ip_security(authkey=c.key, actor=c.owner, enabled=True),
        id="IP security on when on",
    ),
    pytest.param(_security_off, lambda c: _security_off(c), id="IP security off when off"),
    pytest.param(
        None,
        lambda c: services.authkey_update(
            authkey=c.key, actor=c.owner, name="  Billing ", use_case=" ", rule=c.builtin, expires_at=None
        ),
        id="update with the same values",
    ),
    pytest.param(
        None,
        lambda c: services.additional_security_set(company=c.company, actor=c.owner, enabled=False),
        id="Additional Security off when off",
    ),
    pytest.param(
        _additional_on,
        lambda c: services.additional_security_set(company=c.company, actor=c.owner, enabled=True),
        id="Additional Security on when on",
    ),
    pytest.param(
        None,
        lambda c: services.rule_update(rule=c.rule, actor=c.owner, name=" OTP  only", services=_svc("otp")),
        id="rule update with the same values",
    ),
    pytest.param(
        _deleted_key_ip,
        lambda c: services.key_ip_delete(allowed=c.allowed, actor=c.owner),
        id="key IP deleted again",
    ),
    pytest.param(
        _deleted_company_ip,
        lambda c: services.company_ip_delete(allowed=c.allowed, actor=c.owner),
        id="company IP deleted again",
    ),
    pytest.param(
        None,
        lambda c: account_services.company_set_status(company=c.company, status=Company.Status.ACTIVE),
        id="company status unchanged",
    ),
    pytest.param(
        None,
        lambda c: account_services.company_credit_balance(company=c.company, amount=10),
        id="balance credit is not a security event",
    ),
]


@pytest.mark.parametrize(("setup", "call"), NO_OPS)
def test_no_ops_write_no_event(c, setup, call):
    if setup is not None:
        setup(c)
    state = _db_state()
    call(c)
    assert _db_state() == state  # includes the number of events


# --- Refusals: a clear message, nothing changed ------------------------------------------------


def _past():
    return timezone.now() - timedelta(minutes=1)


def _create(c, **kwargs):
    kwargs.setdefault("name", "Fresh")
    kwargs.setdefault("rule", c.builtin)
    return services.authkey_create(company=c.company, actor=c.owner, actor_ip=IP, **kwargs)


def _update(c, **kwargs):
    values = {"name": "Billing", "use_case": "", "rule": c.builtin, "expires_at": None, **kwargs}
    return services.authkey_update(authkey=c.key, actor=c.owner, actor_ip=IP, **values)


def _second_key(c, settings=None):
    c.second, _ = make_key(c.company, name="Reports key")


def _key_cap(c, settings):
    settings.AUTHKEYS_MAX_PER_COMPANY = 1


def _key_ip_cap(c, settings):
    settings.AUTHKEYS_MAX_IPS_PER_KEY = 1
    _add_key_ip(c)


def _company_ip_cap(c, settings):
    settings.AUTHKEYS_MAX_IPS_PER_COMPANY = 1
    _add_company_ip(c)


REFUSALS = [
    # Key create
    pytest.param(None, lambda c: _create(c, name="  "), "Give the key a name.", id="create: empty name"),
    pytest.param(
        None, lambda c: _create(c, name="Billing!"), "no special characters", id="create: special characters"
    ),
    pytest.param(None, lambda c: _create(c, name="Prod/EU"), "no special characters", id="create: slash"),
    pytest.param(
        None, lambda c: _create(c, name="Clé"), "no special characters", id="create: non-ASCII letter"
    ),
    pytest.param(None, lambda c: _create(c, name="x" * 51), "at most 50 characters", id="create: long name"),
    pytest.param(
        None, lambda c: _create(c, name="BILLING"), "already named “BILLING”", id="create: duplicate name"
    ),
    pytest.param(
        None, lambda c: _create(c, use_case="u" * 61), "at most 60 characters", id="create: long use case"
    ),
    pytest.param(_key_cap, lambda c: _create(c), "at most 1 keys", id="create: per-company cap"),
    pytest.param(
        None,
        lambda c: _create(c, rule=c.foreign_rule),
        "rule belongs to another company",
        id="create: foreign rule",
    ),
    pytest.param(
        None,
        lambda c: _create(c, expires_at=_past()),
        "expiry must be in the future",
        id="create: past expiry",
    ),
    # Key update
    pytest.param(
        None, lambda c: _update(c, name="Bill#ing"), "no special characters", id="update: special characters"
    ),
    pytest.param(
        _second_key, lambda c: _update(c, name="reports KEY"), "already named", id="update: duplicate name"
    ),
    pytest.param(
        None, lambda c: _update(c, rule=c.foreign_rule), "another company", id="update: foreign rule"
    ),
    pytest.param(
        None,
        lambda c: _update(c, expires_at=_past()),
        "expiry must be in the future",
        id="update: past expiry",
    ),
    # Regenerate
    pytest.param(
        None,
        lambda c: services.authkey_regenerate(authkey=c.key, actor=c.owner, grace_seconds=-1),
        "between 0 seconds and 24 hours",
        id="regenerate: negative grace",
    ),
    pytest.param(
        None,
        lambda c: services.authkey_regenerate(authkey=c.key, actor=c.owner, grace_seconds=86401),
        "between 0 seconds and 24 hours",
        id="regenerate: grace over 24 h",
    ),
    # Key IPs
    pytest.param(
        _add_key_ip,
        lambda c: services.key_ip_add(authkey=c.key, actor=c.owner, entry="::ffff:192.0.2.7"),
        "192.0.2.7 is already whitelisted for this key",
        id="key IP: duplicate after normalisation",
    ),
    pytest.param(
        _key_ip_cap,
        lambda c: services.key_ip_add(authkey=c.key, actor=c.owner, entry="192.0.2.8"),
        "at most 1 whitelisted IPs",
        id="key IP: per-key cap",
    ),
    pytest.param(
        None,
        lambda c: services.key_ip_add(authkey=c.key, actor=c.owner, entry="192.0. 2.146"),
        "“192.0. 2.146”: an IP address has no spaces.",
        id="key IP: bad entry",
    ),
    # Company IPs
    pytest.param(
        _add_company_ip,
        lambda c: services.company_ip_add(company=c.company, actor=c.owner, entry="192.0.2.0/24"),
        "192.0.2.0/24 is already whitelisted for the company",
        id="company IP: duplicate",
    ),
    pytest.param(
        _company_ip_cap,
        lambda c: services.company_ip_add(company=c.company, actor=c.owner, entry="10.0.0.1"),
        "at most 1 whitelisted IPs",
        id="company IP: per-company cap",
    ),
    pytest.param(
        None,
        lambda c: services.company_ip_add(company=c.company, actor=c.owner, entry="1.2.3"),
        "“1.2.3”: an IPv4 address has four numbers",
        id="company IP: bad entry",
    ),
    # Additional Security
    pytest.param(
        None,
        lambda c: services.additional_security_set(company=c.company, actor=c.owner, enabled=True),
        "Whitelist at least one IP",
        id="Additional Security without IPs",
    ),
    # Rules
    pytest.param(
        None,
        lambda c: services.rule_create(company=c.company, actor=c.owner, name=" ", services=_svc("otp")),
        "Give the rule a name.",
        id="rule create: empty name",
    ),
    pytest.param(
        None,
        lambda c: services.rule_create(
            company=c.company, actor=c.owner, name="otp ONLY", services=_svc("otp")
        ),
        "A rule named “otp ONLY” already exists.",
        id="rule create: duplicate name",
    ),
    pytest.param(
        None,
        lambda c: services.rule_create(
            company=c.company, actor=c.owner, name="All Services", services=_svc("otp")
        ),
        "already exists",
        id="rule create: the built-in name",
    ),
    pytest.param(
        None,
        lambda c: services.rule_create(company=c.company, actor=c.owner, name="Empty", services=[]),
        "Pick at least one service",
        id="rule create: no services",
    ),
    pytest.param(
        None,
        lambda c: services.rule_update(rule=c.builtin, actor=c.owner, name="Mine", services=_svc("otp")),
        "The built-in rule cannot be changed.",
        id="rule update: built-in",
    ),
    pytest.param(
        None,
        lambda c: services.rule_update(rule=c.rule, actor=c.owner, name="OTP only", services=[]),
        "Pick at least one service",
        id="rule update: no services",
    ),
    pytest.param(
        None,
        lambda c: services.rule_delete(rule=c.builtin, actor=c.owner),
        "The built-in rule cannot be deleted.",
        id="rule delete: built-in",
    ),
    pytest.param(
        _rule_in_use,
        lambda c: services.rule_delete(rule=c.rule, actor=c.owner),
        "1 key(s) use this rule: choose the rule they should use instead.",
        id="rule delete: in use without replacement",
    ),
    pytest.param(
        _rule_in_use,
        lambda c: services.rule_delete(rule=c.rule, actor=c.owner, replacement=c.rule),
        "Choose a different rule",
        id="rule delete: replacement is the rule itself",
    ),
    pytest.param(
        _rule_in_use,
        lambda c: services.rule_delete(rule=c.rule, actor=c.owner, replacement=c.foreign_rule),
        "another company",
        id="rule delete: replacement of another company",
    ),
    # Recent IPs
    pytest.param(
        _recent,
        lambda c: services.recent_ip_whitelist(recent=c.recent, actor=c.owner, authkey=c.foreign_key),
        "That key belongs to another company.",
        id="recent IP: key of another company",
    ),
]


@pytest.mark.parametrize(("setup", "call", "message"), REFUSALS)
def test_refusals_raise_a_clear_error_and_change_nothing(c, settings, setup, call, message):
    if setup is not None:
        setup(c, settings)
    state = _db_state()
    with pytest.raises(ValidationError) as excinfo:
        call(c)
    assert message in " ".join(excinfo.value.messages)
    assert _db_state() == state


def test_a_refused_rule_update_keeps_the_services(c):
    # rule_update sets the services after saving the name: a refusal must not leave half a change.
    services.rule_create(company=c.company, actor=c.owner, name="Reports", services=_svc("reports"))
    state = _db_state()
    with pytest.raises(ValidationError):
        services.rule_update(rule=c.rule, actor=c.owner, name="reports", services=_svc("sms-send"))
    assert _db_state() == state


def test_expired_key_can_still_be_renamed(c):
    with time_machine.travel(timezone.now() - timedelta(days=2), tick=False):
        services.authkey_update(
            authkey=c.key,
            actor=c.owner,
            name="Billing",
            use_case="",
            rule=c.builtin,
            expires_at=timezone.now() + timedelta(days=1),
        )
    c.key.refresh_from_db()
    assert c.key.is_expired
    _update(c, name="Billing old", expires_at=c.key.expires_at)
    c.key.refresh_from_db()
    assert c.key.name == "Billing old"


# --- Recent IPs: the API's upsert --------------------------------------------------------------


def test_recent_ip_record_upserts(c):
    start = timezone.now().replace(microsecond=0)
    with time_machine.travel(start, tick=False):
        services.recent_ip_record(
            company_id=c.company.pk, ip="198.51.100.7", authkey_id=c.key.pk, accepted=True
        )
    row = RecentIP.objects.get(company=c.company, ip="198.51.100.7")
    assert (row.request_count, row.first_seen, row.last_seen) == (1, start, start)
    assert (row.last_key, row.last_outcome, row.last_code) == (c.key, RecentIP.Outcome.ACCEPTED, "")

    later = start + timedelta(minutes=5)
    with time_machine.travel(later, tick=False):
        services.recent_ip_record(
            company_id=c.company.pk, ip="198.51.100.7", authkey_id=None, accepted=False, code="418"
        )
        services.recent_ip_record(
            company_id=c.company.pk, ip="198.51.100.7", authkey_id=c.key.pk, accepted=False, code="207"
        )
    row.refresh_from_db()
    assert row.request_count == 3
    assert row.first_seen == start and row.last_seen == later
    assert (row.last_key, row.last_outcome, row.last_code) == (c.key, RecentIP.Outcome.REJECTED, "207")
    assert RecentIP.objects.filter(company=c.company).count() == 1
    assert SecurityEvent.objects.filter(company=c.company).count() == 2  # the fixture's key and rule


def test_recent_ip_record_is_per_company(c):
    for company in (c.company, c.other):
        services.recent_ip_record(company_id=company.pk, ip="198.51.100.7", authkey_id=None, accepted=True)
    assert sorted(RecentIP.objects.values_list("company_id", "request_count")) == sorted(
        [(c.company.pk, 1), (c.other.pk, 1)]
    )


def test_recent_ip_record_after_an_accepted_request_clears_the_code(c):
    services.recent_ip_record(
        company_id=c.company.pk, ip="192.0.2.1", authkey_id=None, accepted=False, code="418"
    )
    services.recent_ip_record(company_id=c.company.pk, ip="192.0.2.1", authkey_id=c.key.pk, accepted=True)
    row = RecentIP.objects.get(company=c.company)
    assert (row.last_outcome, row.last_code, row.request_count) == (RecentIP.Outcome.ACCEPTED, "", 2)


def test_deleting_the_last_key_keeps_the_recent_ip(c):
    services.recent_ip_record(company_id=c.company.pk, ip="192.0.2.1", authkey_id=c.key.pk, accepted=True)
    services.authkey_delete(authkey=c.key, actor=c.owner)
    row = RecentIP.objects.get(company=c.company)
    assert row.last_key is None and row.request_count == 1


# --- Accounts changes reach the log (authkeys/receivers.py) ------------------------------------


def test_company_status_change_writes_one_event(c):
    staff = UserFactory(company=None, is_staff=True)
    since = _last_event_pk()
    account_services.company_set_status(company=c.company, status=Company.Status.BANNED, actor=staff)
    [event] = _events_since(since)
    assert event.kind == Kind.COMPANY_STATUS_CHANGED
    assert event.company == c.company and event.actor_user == staff and event.target == "Company status"
    assert (event.before, event.after) == ({"status": "active"}, {"status": "banned"})


def test_company_status_change_by_the_system_has_no_actor(c):
    since = _last_event_pk()
    account_services.company_set_status(company=c.company, status=Company.Status.EXPIRED)
    [event] = _events_since(since)
    assert event.kind == Kind.COMPANY_STATUS_CHANGED and event.actor_user is None


@pytest.mark.parametrize("kind", [ContactChange.Kind.MOBILE, ContactChange.Kind.EMAIL])
def test_contact_change_writes_one_event(c, sms_outbox, mailoutbox, kind):
    old = c.company.registered_mobile if kind == ContactChange.Kind.MOBILE else c.company.registered_email
    new = next_mobile() if kind == ContactChange.Kind.MOBILE else "new-alerts@company.example"
    change = account_services.contact_change_request(
        company=c.company, actor=c.owner, kind=kind, new_value=new, ip=IP
    )
    if kind == ContactChange.Kind.MOBILE:
        code = last_code(sms_outbox, new)
    else:
        code = re.search(r"\b(\d{6})\b", mailoutbox[-1].body).group(1)
    since = _last_event_pk()
    account_services.contact_change_confirm(change=change, actor=c.owner, code=code, ip=IP)
    [event] = _events_since(since)
    assert event.kind == Kind.CONTACT_CHANGED
    assert event.company == c.company and event.actor_user == c.owner and event.actor_ip == IP
    assert event.target == f"Registered {kind}"
    assert (event.before, event.after) == ({kind: old}, {kind: new})


def test_a_wrong_contact_code_writes_no_event(c, sms_outbox):
    change = account_services.contact_change_request(
        company=c.company, actor=c.owner, kind=ContactChange.Kind.MOBILE, new_value=next_mobile(), ip=IP
    )
    code = last_code(sms_outbox)
    wrong = "000000" if code != "000000" else "111111"
    events = SecurityEvent.objects.count()
    with pytest.raises(ValidationError):
        account_services.contact_change_confirm(change=change, actor=c.owner, code=wrong, ip=IP)
    assert SecurityEvent.objects.count() == events
