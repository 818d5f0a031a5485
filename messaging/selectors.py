"""Reads for the SMS section, always scoped to one company."""

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Q, QuerySet

from accounts.models import Company
from messaging.models import FailedRequest


@dataclass(frozen=True)
class FailedLogFilters:
    code: str = ""
    ip: str = ""
    key_prefix: str = ""
    since: datetime | None = None
    until: datetime | None = None


def failed_requests(
    *,
    company: Company,
    filters: FailedLogFilters,
    before: tuple[datetime, int] | None = None,
    limit: int = 50,
) -> list[FailedRequest]:
    """Newest first, keyset-paginated on (created_at, id) so a page costs the same at any depth."""
    rows: QuerySet[FailedRequest] = FailedRequest.objects.filter(company=company)
    if filters.code:
        rows = rows.filter(code=filters.code)
    if filters.ip:
        rows = rows.filter(client_ip=filters.ip)
    if filters.key_prefix:
        rows = rows.filter(key_prefix=filters.key_prefix)
    if filters.since:
        rows = rows.filter(created_at__gte=filters.since)
    if filters.until:
        rows = rows.filter(created_at__lt=filters.until)
    if before is not None:
        at, pk = before
        rows = rows.filter(Q(created_at__lt=at) | Q(created_at=at, id__lt=pk))
    return list(rows.select_related("authkey").order_by("-created_at", "-id")[:limit])
