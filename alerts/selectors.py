"""Reads for the Alerts page, always scoped to one company."""

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Q, QuerySet

from accounts.models import Company
from alerts.models import Alert


@dataclass(frozen=True)
class AlertFilters:
    kind: str = ""
    status: str = ""


def alerts(
    *, company: Company, filters: AlertFilters, before: tuple[datetime, int] | None = None, limit: int = 50
) -> list[Alert]:
    """Newest first, keyset-paginated on (created_at, id) (index alert_company_time)."""
    rows: QuerySet[Alert] = Alert.objects.filter(company=company)
    if filters.kind:
        rows = rows.filter(kind=filters.kind)
    if filters.status:
        rows = rows.filter(status=filters.status)
    if before is not None:
        at, pk = before
        rows = rows.filter(Q(created_at__lt=at) | Q(created_at=at, id__lt=pk))
    return list(rows.order_by("-created_at", "-id")[:limit])
