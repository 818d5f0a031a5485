"""Writes for the Authkey section. Pages, admin, commands and (later) the API call these.

Every change writes exactly one SecurityEvent in the same transaction and invalidates the cached
grants it affects.
"""

import re
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from accounts.models import Company, User
from authkeys import auth, keys
from authkeys.ipaddrs import normalize_entry
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

Kind = SecurityEvent.Kind
_NAME_RE = re.compile(r"^[A-Za-z0-9 _-]+$")


def record_event(
    *,
    company: Company,
    kind: str,
    actor: User | None = None,
    actor_ip: str | None = None,
    actor_key: AuthKey | None = None,
    authkey: AuthKey | None = None,
    target: str = "",
    before: Any = None,
    after: Any = None,
) -> SecurityEvent:
    return SecurityEvent.objects.create(
        company=company,
        kind=kind,
        actor_user=actor,
        actor_key=actor_key,
        actor_ip=actor_ip or None,
        authkey=authkey,
        target=target[:120],
        before=before,
        after=after,
    )


# --- Validation shared by every entry point ---------------------------------------------------


def clean_key_name(name: str) -> str:
    name = " ".join((name or "").split())
    if not name:
        raise ValidationError("Give the key a name.", code="required")
    if len(name) > 50:
        raise ValidationError("A key name has at most 50 characters.", code="max_length")
    if not _NAME_RE.match(name):
        raise ValidationError(
            "Use letters, digits, spaces, - and _ only in the key name: no special characters.",
            code="special_characters",
        )
    return name


def clean_use_case(use_case: str) -> str:
    use_case = " ".join((use_case or "").split())
    if len(use_case) > 60:
        raise ValidationError("“Where are you integrating” has at most 60 characters.", code="max_length")
    return use_case


def _check_rule(company: Company, rule: Rule) -> None:
    if rule.company_id not in (None, company.pk):
        raise ValidationError("That rule belongs to another company.", code="foreign_rule")


def _check_expiry(expires_at: datetime | None) -> None:
    if expires_at is not None and expires_at <= timezone.now():
        raise ValidationError("The expiry must be in the future.", code="expiry_past")


def check_validity(valid_from: datetime | None, expires_at: datetime | None) -> None:
    """The validity window: the end (valid to / expiry) after the start (valid from)."""
    if valid_from is not None and expires_at is not None and expires_at <= valid_from:
        raise ValidationError(
            "The expiry (valid to) must be after the start of validity (valid from).", code="validity_order"
        )


class _Unchanged:
    """Marker: leave the field as it is."""


UNCHANGED = _Unchanged()


def _check_name_free(company: Company, name: str, exclude_pk: int | None = None) -> None:
    taken = AuthKey.objects.filter(company=company, name__iexact=name)
    if exclude_pk is not None:
        taken = taken.exclude(pk=exclude_pk)
    if taken.exists():
        raise ValidationError(
            "Another key of this company is already named “%(name)s”.", code="taken", params={"name": name}
        )


# --- Keys -------------------------------------------------------------------------------------


@transaction.atomic
def authkey_create(
    *,
    company: Company,
    actor: User | None,
    name: str,
    rule: Rule,
    use_case: str = "",
    ip_security: bool = True,
    expires_at: datetime | None = None,
    valid_from: datetime | None = None,
    actor_ip: str | None = None,
) -> tuple[AuthKey, str]:
    """Create a key. Returns it with the full secret, which is shown once and never stored.
    `valid_from` / `expires_at`: the validity window (empty: from creation / no expiry)."""
    name = clean_key_name(name)
    use_case = clean_use_case(use_case)
    _check_rule(company, rule)
    _check_expiry(expires_at)
    check_validity(valid_from, expires_at)
    Company.objects.select_for_update().filter(pk=company.pk).first()  # serialise the limit check
    if AuthKey.objects.filter(company=company).count() >= settings.AUTHKEYS_MAX_PER_COMPANY:
        raise ValidationError(
            "A company can have at most %(max)d keys. Delete one you no longer use first.",
            code="limit",
            params={"max": settings.AUTHKEYS_MAX_PER_COMPANY},
        )
    _check_name_free(company, name)
    secret = keys.generate_key()
    authkey = AuthKey.objects.create(
        company=company,
        name=name,
        use_case=use_case,
        rule=rule,
        ip_security=ip_security,
        valid_from=valid_from,
        expires_at=expires_at,
        display_prefix=keys.display_prefix(secret),
        created_by=actor,
    )
    KeySecret.objects.create(authkey=authkey, digest=keys.digest(secret))
    record_event(
        company=company,
        kind=Kind.KEY_CREATED,
        actor=actor,
        actor_ip=actor_ip,
        authkey=authkey,
        target=authkey.name,
        after=_key_snapshot(authkey),
    )
    return authkey, secret


def _key_snapshot(authkey: AuthKey) -> dict[str, Any]:
    return {
        "name": authkey.name,
        "use_case": authkey.use_case,
        "rule": authkey.rule.name,
        "ip_security": authkey.ip_security,
        "enabled": authkey.enabled,
        "valid_from": authkey.valid_from.isoformat() if authkey.valid_from else None,
        "expires_at": authkey.expires_at.isoformat() if authkey.expires_at else None,
        "prefix": authkey.display_prefix,
    }


@transaction.atomic
def authkey_regenerate(
    *,
    authkey: AuthKey,
    actor: User | None,
    grace_seconds: int = 0,
    actor_ip: str | None = None,
    actor_key: AuthKey | None = None,
) -> str:
    """New secret; the old one stops at once, or after `grace_seconds` (at most 24 h)."""
    if not 0 <= grace_seconds <= settings.AUTHKEYS_MAX_GRACE_SECONDS:
        raise ValidationError("The grace period must be between 0 seconds and 24 hours.", code="grace")
    authkey = AuthKey.objects.select_for_update().select_related("company", "rule").get(pk=authkey.pk)
    old_digests = list(authkey.secrets.values_list("digest", flat=True))
    now = timezone.now()
    # Only the current secret may live on; older grace secrets end now.
    authkey.secrets.exclude(valid_until=None).delete()
    if grace_seconds:
        authkey.secrets.filter(valid_until=None).update(valid_until=now + timedelta(seconds=grace_seconds))
    else:
        authkey.secrets.all().delete()
    secret = keys.generate_key()
    KeySecret.objects.create(authkey=authkey, digest=keys.digest(secret))
    before_prefix = authkey.display_prefix
    authkey.display_prefix = keys.display_prefix(secret)
    authkey.save(update_fields=["display_prefix"])
    record_event(
        company=authkey.company,
        kind=Kind.KEY_REGENERATED,
        actor=actor,
        actor_key=actor_key,
        actor_ip=actor_ip,
        authkey=authkey,
        target=authkey.name,
        before={"prefix": before_prefix},
        after={"prefix": authkey.display_prefix, "old_key_valid_for_seconds": grace_seconds},
    )
    auth.invalidate_digests(old_digests)
    return secret


def authkey_set_enabled(
    *, authkey: AuthKey, actor: User | None, enabled: bool, actor_ip: str | None = None
) -> AuthKey:
    return _set_key_switch(
        authkey, "enabled", enabled, Kind.KEY_ENABLED, Kind.KEY_DISABLED, actor=actor, actor_ip=actor_ip
    )


def authkey_set_ip_security(
    *, authkey: AuthKey, actor: User | None, enabled: bool, actor_ip: str | None = None
) -> AuthKey:
    return _set_key_switch(
        authkey,
        "ip_security",
        enabled,
        Kind.IP_SECURITY_ON,
        Kind.IP_SECURITY_OFF,
        actor=actor,
        actor_ip=actor_ip,
    )


@transaction.atomic
def _set_key_switch(
    authkey: AuthKey,
    field: str,
    value: bool,
    on_kind: str,
    off_kind: str,
    *,
    actor: User | None,
    actor_ip: str | None,
) -> AuthKey:
    """Flip one boolean of a key; a no-op writes no event."""
    authkey = AuthKey.objects.select_for_update().select_related("company").get(pk=authkey.pk)
    if getattr(authkey, field) == value:
        return authkey
    setattr(authkey, field, value)
    authkey.save(update_fields=[field])
    record_event(
        company=authkey.company,
        kind=on_kind if value else off_kind,
        actor=actor,
        actor_ip=actor_ip,
        authkey=authkey,
        target=authkey.name,
        before={field: not value},
        after={field: value},
    )
    auth.invalidate_keys([authkey.pk])
    return authkey


@transaction.atomic
def authkey_update(
    *,
    authkey: AuthKey,
    actor: User | None,
    name: str,
    use_case: str,
    rule: Rule,
    expires_at: datetime | None,
    valid_from: datetime | _Unchanged | None = UNCHANGED,
    actor_ip: str | None = None,
) -> AuthKey:
    """Edit the key's settings; one event lists what changed (kind "rule changed" if the rule did).
    `valid_from` is left as it is unless given."""
    authkey = AuthKey.objects.select_for_update().select_related("company", "rule").get(pk=authkey.pk)
    name = clean_key_name(name)
    use_case = clean_use_case(use_case)
    _check_rule(authkey.company, rule)
    if expires_at != authkey.expires_at:
        _check_expiry(expires_at)
    new_valid_from = authkey.valid_from if isinstance(valid_from, _Unchanged) else valid_from
    check_validity(new_valid_from, expires_at)
    if name.lower() != authkey.name.lower():
        _check_name_free(authkey.company, name, exclude_pk=authkey.pk)
    before = _key_snapshot(authkey)
    authkey.name, authkey.use_case, authkey.rule, authkey.expires_at = name, use_case, rule, expires_at
    authkey.valid_from = new_valid_from
    after = _key_snapshot(authkey)
    changed = [field for field in after if after[field] != before[field]]
    if not changed:
        return authkey
    authkey.save(update_fields=["name", "use_case", "rule", "valid_from", "expires_at"])
    record_event(
        company=authkey.company,
        kind=Kind.KEY_RULE_CHANGED if "rule" in changed else Kind.KEY_UPDATED,
        actor=actor,
        actor_ip=actor_ip,
        authkey=authkey,
        target=authkey.name,
        before={field: before[field] for field in changed},
        after={field: after[field] for field in changed},
    )
    auth.invalidate_keys([authkey.pk])
    return authkey


@transaction.atomic
def authkey_delete(*, authkey: AuthKey, actor: User | None, actor_ip: str | None = None) -> None:
    authkey = AuthKey.objects.select_for_update().select_related("company", "rule").get(pk=authkey.pk)
    digests = list(authkey.secrets.values_list("digest", flat=True))
    record_event(
        company=authkey.company,
        kind=Kind.KEY_DELETED,
        actor=actor,
        actor_ip=actor_ip,
        target=authkey.name,
        before=_key_snapshot(authkey),
    )
    authkey.delete()
    auth.invalidate_digests(digests)


# --- IP allow-lists ---------------------------------------------------------------------------


@transaction.atomic
def key_ip_add(
    *, authkey: AuthKey, actor: User | None, entry: str, actor_ip: str | None = None
) -> KeyAllowedIP:
    network = normalize_entry(entry)
    authkey = AuthKey.objects.select_for_update().select_related("company").get(pk=authkey.pk)
    if authkey.allowed_ips.filter(network=network).exists():
        raise ValidationError(
            "%(network)s is already whitelisted for this key.", code="duplicate", params={"network": network}
        )
    if authkey.allowed_ips.count() >= settings.AUTHKEYS_MAX_IPS_PER_KEY:
        raise ValidationError(
            "A key can have at most %(max)d whitelisted IPs; use a CIDR range or the company list.",
            code="limit",
            params={"max": settings.AUTHKEYS_MAX_IPS_PER_KEY},
        )
    allowed = KeyAllowedIP.objects.create(authkey=authkey, network=network, created_by=actor)
    record_event(
        company=authkey.company,
        kind=Kind.IP_ADDED,
        actor=actor,
        actor_ip=actor_ip,
        authkey=authkey,
        target=f"{authkey.name}: {network}",
        after={"scope": "key", "key": authkey.name, "ip": network},
    )
    auth.invalidate_keys([authkey.pk])
    return allowed


@transaction.atomic
def key_ip_delete(*, allowed: KeyAllowedIP, actor: User | None, actor_ip: str | None = None) -> None:
    authkey = AuthKey.objects.select_for_update().select_related("company").get(pk=allowed.authkey_id)
    deleted, _ = KeyAllowedIP.objects.filter(pk=allowed.pk).delete()
    if not deleted:
        return
    record_event(
        company=authkey.company,
        kind=Kind.IP_DELETED,
        actor=actor,
        actor_ip=actor_ip,
        authkey=authkey,
        target=f"{authkey.name}: {allowed.network}",
        before={"scope": "key", "key": authkey.name, "ip": allowed.network},
    )
    auth.invalidate_keys([authkey.pk])


def _api_security(company: Company, *, lock: bool = False) -> ApiSecurity:
    settings_row, _ = ApiSecurity.objects.get_or_create(company=company)
    if lock:
        settings_row = ApiSecurity.objects.select_for_update().get(pk=settings_row.pk)
    return settings_row


@transaction.atomic
def company_ip_add(
    *, company: Company, actor: User | None, entry: str, actor_ip: str | None = None
) -> CompanyAllowedIP:
    network = normalize_entry(entry)
    _api_security(company, lock=True)
    if CompanyAllowedIP.objects.filter(company=company, network=network).exists():
        raise ValidationError(
            "%(network)s is already whitelisted for the company.",
            code="duplicate",
            params={"network": network},
        )
    if CompanyAllowedIP.objects.filter(company=company).count() >= settings.AUTHKEYS_MAX_IPS_PER_COMPANY:
        raise ValidationError(
            "A company can have at most %(max)d whitelisted IPs; use CIDR ranges.",
            code="limit",
            params={"max": settings.AUTHKEYS_MAX_IPS_PER_COMPANY},
        )
    allowed = CompanyAllowedIP.objects.create(company=company, network=network, created_by=actor)
    record_event(
        company=company,
        kind=Kind.IP_ADDED,
        actor=actor,
        actor_ip=actor_ip,
        target=f"Company: {network}",
        after={"scope": "company", "ip": network},
    )
    auth.invalidate_company(company.pk)
    return allowed


@transaction.atomic
def company_ip_delete(*, allowed: CompanyAllowedIP, actor: User | None, actor_ip: str | None = None) -> None:
    company = allowed.company
    _api_security(company, lock=True)
    deleted, _ = CompanyAllowedIP.objects.filter(pk=allowed.pk).delete()
    if not deleted:
        return
    record_event(
        company=company,
        kind=Kind.IP_DELETED,
        actor=actor,
        actor_ip=actor_ip,
        target=f"Company: {allowed.network}",
        before={"scope": "company", "ip": allowed.network},
    )
    auth.invalidate_company(company.pk)


@transaction.atomic
def additional_security_set(
    *, company: Company, actor: User | None, enabled: bool, actor_ip: str | None = None
) -> ApiSecurity:
    """Additional Security enforces the allow-lists on every key of the company."""
    settings_row = _api_security(company, lock=True)
    if settings_row.additional_security == enabled:
        return settings_row
    if enabled and not _company_has_any_ip(company):
        raise ValidationError(
            "Whitelist at least one IP (for the company or a key) before enabling Additional Security, "
            "or every API request would be refused.",
            code="no_ips",
        )
    settings_row.additional_security = enabled
    settings_row.save(update_fields=["additional_security"])
    record_event(
        company=company,
        kind=Kind.ADDITIONAL_SECURITY_ON if enabled else Kind.ADDITIONAL_SECURITY_OFF,
        actor=actor,
        actor_ip=actor_ip,
        target="Company",
        before={"additional_security": not enabled},
        after={"additional_security": enabled},
    )
    auth.invalidate_company(company.pk)
    return settings_row


def _company_has_any_ip(company: Company) -> bool:
    return (
        CompanyAllowedIP.objects.filter(company=company).exists()
        or KeyAllowedIP.objects.filter(authkey__company=company).exists()
    )


# --- Rules ------------------------------------------------------------------------------------


def rule_clean(company: Company, name: str, services: list[Service], exclude_pk: int | None = None) -> str:
    name = " ".join((name or "").split())
    if not name:
        raise ValidationError("Give the rule a name.", code="required")
    if len(name) > 60:
        raise ValidationError("A rule name has at most 60 characters.", code="max_length")
    same_name = Rule.objects.filter(company=company, name__iexact=name)
    if exclude_pk is not None:
        same_name = same_name.exclude(pk=exclude_pk)
    if name.lower() == "all services" or same_name.exists():
        raise ValidationError("A rule named “%(name)s” already exists.", code="taken", params={"name": name})
    if not services:
        raise ValidationError("Pick at least one service for the rule.", code="no_services")
    return name


@transaction.atomic
def rule_create(
    *, company: Company, actor: User | None, name: str, services: list[Service], actor_ip: str | None = None
) -> Rule:
    name = rule_clean(company, name, services)
    rule = Rule.objects.create(company=company, name=name)
    rule.services.set(services)
    record_event(
        company=company,
        kind=Kind.RULE_CREATED,
        actor=actor,
        actor_ip=actor_ip,
        target=rule.name,
        after={"name": rule.name, "services": sorted(s.code for s in services)},
    )
    return rule


@transaction.atomic
def rule_update(
    *, rule: Rule, actor: User | None, name: str, services: list[Service], actor_ip: str | None = None
) -> Rule:
    if rule.is_builtin:
        raise ValidationError("The built-in rule cannot be changed.", code="builtin")
    company = rule.company
    assert company is not None
    name = rule_clean(company, name, services, exclude_pk=rule.pk)
    before = {"name": rule.name, "services": sorted(rule.services.values_list("code", flat=True))}
    after = {"name": name, "services": sorted(s.code for s in services)}
    if before == after:
        return rule
    rule.name = name
    rule.save(update_fields=["name"])
    rule.services.set(services)
    record_event(
        company=company,
        kind=Kind.RULE_CHANGED,
        actor=actor,
        actor_ip=actor_ip,
        target=name,
        before=before,
        after=after,
    )
    auth.invalidate_rule(rule.pk)
    return rule


@transaction.atomic
def rule_delete(
    *, rule: Rule, actor: User | None, replacement: Rule | None = None, actor_ip: str | None = None
) -> None:
    """A rule in use needs a replacement for its keys."""
    if rule.is_builtin:
        raise ValidationError("The built-in rule cannot be deleted.", code="builtin")
    company = rule.company
    assert company is not None
    in_use = list(AuthKey.objects.filter(rule=rule).values_list("pk", flat=True))
    if in_use:
        if replacement is None:
            raise ValidationError(
                "%(count)d key(s) use this rule: choose the rule they should use instead.",
                code="in_use",
                params={"count": len(in_use)},
            )
        if replacement.pk == rule.pk:
            raise ValidationError("Choose a different rule as the replacement.", code="same_rule")
        _check_rule(company, replacement)
        AuthKey.objects.filter(pk__in=in_use).update(rule=replacement)
    record_event(
        company=company,
        kind=Kind.RULE_DELETED,
        actor=actor,
        actor_ip=actor_ip,
        target=rule.name,
        before={"name": rule.name, "services": sorted(rule.services.values_list("code", flat=True))},
        after={
            "keys_moved_to": replacement.name if (in_use and replacement) else None,
            "keys_moved": len(in_use),
        },
    )
    rule.delete()
    auth.invalidate_keys(in_use)


@transaction.atomic
def rule_for_services(
    *,
    company: Company,
    actor: User | None,
    codes: frozenset[str],
    current: Rule | None = None,
    actor_ip: str | None = None,
) -> Rule:
    """The rule that allows exactly the services `codes` (API scopes, authkeys/scopes.py): the
    `current` rule if it already does, else the company's oldest rule that does, else the built-in
    "All services" rule when `codes` is the whole catalogue, else a new company rule (created
    through rule_create: same validation and RULE_CREATED event as the Rules page)."""
    catalogue = {service.code: service for service in Service.objects.all()}
    unknown = sorted(codes - set(catalogue))
    if unknown:
        raise ValidationError(
            "Unknown service(s): %(codes)s.", code="unknown_service", params={"codes": ", ".join(unknown)}
        )
    if not codes:
        raise ValidationError("Pick at least one service for the rule.", code="no_services")

    def grants(rule: Rule) -> set[str]:
        return set(catalogue) if rule.all_services else {service.code for service in rule.services.all()}

    if current is not None and (current.company_id in (None, company.pk)) and grants(current) == codes:
        return current
    for rule in Rule.objects.filter(company=company, all_services=False).prefetch_related("services"):
        if grants(rule) == codes:
            return rule
    if codes == set(catalogue):
        return Rule.objects.get(company__isnull=True, all_services=True)
    chosen = sorted((catalogue[code] for code in codes), key=lambda service: service.name)
    base = " + ".join(service.name for service in chosen)
    if len(base) > 50:
        base = f"API scopes ({len(chosen)} services)"
    taken = {name.lower() for name in Rule.objects.filter(company=company).values_list("name", flat=True)}
    name, number = base, 1
    while name.lower() in taken:
        number += 1
        name = f"{base} ({number})"
    return rule_create(company=company, actor=actor, name=name, services=chosen, actor_ip=actor_ip)


@transaction.atomic
def key_ips_replace(
    *, authkey: AuthKey, actor: User | None, entries: list[str], actor_ip: str | None = None
) -> None:
    """Make the key's own allow-list exactly `entries` (each added or removed through key_ip_add /
    key_ip_delete: same validation, one event per entry, cache invalidation). Refuses the whole
    list if one entry is bad."""
    wanted: list[str] = []
    for entry in entries:
        network = normalize_entry(entry)
        if network not in wanted:
            wanted.append(network)
    for allowed in list(KeyAllowedIP.objects.filter(authkey=authkey).exclude(network__in=wanted)):
        key_ip_delete(allowed=allowed, actor=actor, actor_ip=actor_ip)
    present = set(KeyAllowedIP.objects.filter(authkey=authkey).values_list("network", flat=True))
    for network in wanted:
        if network not in present:
            key_ip_add(authkey=authkey, actor=actor, entry=network, actor_ip=actor_ip)


# --- Recent IPs -------------------------------------------------------------------------------


def recent_ip_record(
    *, company_id: int, ip: str, authkey_id: int | None, accepted: bool, code: str = ""
) -> None:
    """Count a submission from `ip` (API hot path: one UPDATE, an INSERT the first time)."""
    now = timezone.now()
    outcome = RecentIP.Outcome.ACCEPTED if accepted else RecentIP.Outcome.REJECTED
    fields = {
        "last_seen": now,
        "request_count": F("request_count") + 1,
        "last_key_id": authkey_id,
        "last_outcome": outcome,
        "last_code": code,
    }
    if RecentIP.objects.filter(company_id=company_id, ip=ip).update(**fields):
        return
    try:
        with transaction.atomic():
            RecentIP.objects.create(
                company_id=company_id,
                ip=ip,
                first_seen=now,
                last_seen=now,
                request_count=1,
                last_key_id=authkey_id,
                last_outcome=outcome,
                last_code=code,
            )
    except IntegrityError:  # another request inserted it first
        RecentIP.objects.filter(company_id=company_id, ip=ip).update(**fields)


def recent_ip_whitelist(
    *, recent: RecentIP, actor: User | None, authkey: AuthKey | None = None, actor_ip: str | None = None
) -> KeyAllowedIP | CompanyAllowedIP:
    """The + button: whitelist a recent IP for one key, or for the company when no key is given."""
    if authkey is not None:
        if authkey.company_id != recent.company_id:
            raise ValidationError("That key belongs to another company.", code="foreign_key")
        return key_ip_add(authkey=authkey, actor=actor, entry=recent.ip, actor_ip=actor_ip)
    return company_ip_add(company=recent.company, actor=actor, entry=recent.ip, actor_ip=actor_ip)
