"""Reads of the webhooks app, always scoped to a company (another company's rows are 404)."""

from datetime import datetime

from django.db.models import Count, Q, QuerySet
from django.shortcuts import get_object_or_404

from accounts.models import Company
from webhooks.models import Delivery, Endpoint

Status = Delivery.Status


def endpoints_for_company(*, company: Company) -> QuerySet[Endpoint]:
    return Endpoint.objects.filter(company=company).annotate(
        queued=Count("deliveries", filter=Q(deliveries__status__in=[Status.PENDING, Status.SENDING])),
        failed=Count("deliveries", filter=Q(deliveries__status=Status.FAILED)),
    )


def endpoint_for_company(*, company: Company, pk: int) -> Endpoint:
    return get_object_or_404(Endpoint.objects.select_related("company"), company=company, pk=pk)


def delivery_for_company(*, company: Company, pk: int) -> Delivery:
    return get_object_or_404(Delivery.objects.select_related("endpoint"), endpoint__company=company, pk=pk)


def deliveries(
    *, endpoint: Endpoint, before: tuple[datetime, int] | None = None, limit: int = 50
) -> list[Delivery]:
    """The endpoint's delivery log, newest first, keyset-paginated by (created_at, id)."""
    rows = Delivery.objects.filter(endpoint=endpoint)
    if before is not None:
        at, pk = before
        rows = rows.filter(Q(created_at__lt=at) | Q(created_at=at, pk__lt=pk))
    return list(rows.order_by("-created_at", "-pk")[:limit])
