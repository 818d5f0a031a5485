"""Reads for the Authkey section. Everything is looked up through the user's company, so another
company's keys, IPs, rules and events are 404, exactly as if they did not exist."""

from datetime import datetime, timedelta

from django.db.models import Count, Q, QuerySet
from django.shortcuts import get_object_or_404

from accounts.models import Company
from authkeys.models import (
    ApiSecurity,
    AuthKey,
    CompanyAllowedIP,
    KeyAllowedIP,
    RecentIP,
    Rule,
    SecurityEvent,
    Service,
)


def authkeys_for_company(*, company: Company) -> QuerySet[AuthKey]:
    return (
        AuthKey.objects.filter(company=company)
        .select_related("rule", "created_by")
        .annotate(ip_count=Count("allowed_ips"))
        .order_by("name")
    )


def authkey_for_company(*, company: Company, pk: int) -> AuthKey:
    return get_object_or_404(AuthKey.objects.select_related("rule", "company"), company=company, pk=pk)


def key_allowed_ips(*, authkey: AuthKey) -> QuerySet[KeyAllowedIP]:
    return KeyAllowedIP.objects.filter(authkey=authkey).order_by("created_at", "pk")


def key_allowed_ip_for_company(*, company: Company, pk: int) -> KeyAllowedIP:
    return get_object_or_404(KeyAllowedIP.objects.select_related("authkey"), authkey__company=company, pk=pk)


def company_allowed_ips(*, company: Company) -> QuerySet[CompanyAllowedIP]:
    return CompanyAllowedIP.objects.filter(company=company).order_by("created_at", "pk")


def company_allowed_ip_for_company(*, company: Company, pk: int) -> CompanyAllowedIP:
    return get_object_or_404(CompanyAllowedIP, company=company, pk=pk)


def additional_security_enabled(*, company: Company) -> bool:
    return ApiSecurity.objects.filter(company=company, additional_security=True).exists()


def rules_for_company(*, company: Company) -> QuerySet[Rule]:
    """The built-in "All services" rule first, then the company's own rules."""
    return (
        Rule.objects.filter(Q(company=company) | Q(company__isnull=True))
        .prefetch_related("services")
        .annotate(key_count=Count("authkeys", filter=Q(authkeys__company=company)))
        .order_by("-all_services", "name")
    )


def rule_for_company(*, company: Company, pk: int) -> Rule:
    """Only the company's own rules are addressable for changes (the built-in one is not)."""
    return get_object_or_404(Rule, company=company, pk=pk)


def usable_rule(*, company: Company, pk: int) -> Rule:
    return get_object_or_404(Rule.objects.filter(Q(company=company) | Q(company__isnull=True)), pk=pk)


def services_catalogue() -> QuerySet[Service]:
    return Service.objects.order_by("name")


def use_cases(*, company: Company) -> list[str]:
    """Earlier answers to "Where are you integrating", for the pick-or-type field."""
    return list(
        AuthKey.objects.filter(company=company)
        .exclude(use_case="")
        .values_list("use_case", flat=True)
        .distinct()
        .order_by("use_case")
    )


def recent_ips(*, company: Company) -> QuerySet[RecentIP]:
    return RecentIP.objects.filter(company=company).select_related("last_key").order_by("-last_seen")


def recent_ip_for_company(*, company: Company, pk: int) -> RecentIP:
    return get_object_or_404(RecentIP, company=company, pk=pk)


def security_events(*, company: Company) -> QuerySet[SecurityEvent]:
    return (
        SecurityEvent.objects.filter(company=company)
        .select_related("actor_user", "actor_key")
        .order_by("-created_at", "-pk")
    )


def keys_expiring(*, within: timedelta, now: datetime) -> QuerySet[AuthKey]:
    """Enabled keys of active companies whose validity ends (expires_at, Infobip's validTo) after
    `now` and at or before `now + within`, soonest first: what the expiry alert warns about (the
    alert itself remembers which keys it has warned about, so each is warned once)."""
    return (
        AuthKey.objects.filter(
            enabled=True,
            company__status=Company.Status.ACTIVE,
            expires_at__gt=now,
            expires_at__lte=now + within,
        )
        .select_related("company")
        .order_by("expires_at", "pk")
    )


def rule_service_codes(*, rule: Rule) -> frozenset[str]:
    """The service codes a rule allows (the whole catalogue for the built-in "All services")."""
    if rule.all_services:
        return frozenset(Service.objects.values_list("code", flat=True))
    return frozenset(service.code for service in rule.services.all())
