"""Reads for the SMS section, always scoped to one company."""

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from django.db.models import Count, Q, QuerySet
from django.shortcuts import get_object_or_404

from accounts.models import Company
from messaging.models import (
    ContactGroup,
    FailedRequest,
    Flow,
    GroupMember,
    Message,
    Recipient,
    SenderId,
)


@dataclass(frozen=True)
class FailedLogFilters:
    code: str = ""
    ip: str = ""
    key_prefix: str = ""
    authkey_id: int | None = None
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
    return list(failed_requests_queryset(company=company, filters=filters, before=before)[:limit])


def failed_requests_queryset(
    *, company: Company, filters: FailedLogFilters, before: tuple[datetime, int] | None = None
) -> QuerySet[FailedRequest]:
    """The Failed Logs page's query (each filter has an index ending in the page order)."""
    rows: QuerySet[FailedRequest] = FailedRequest.objects.filter(company=company)
    if filters.code:
        rows = rows.filter(code=filters.code)
    if filters.ip:
        rows = rows.filter(client_ip=filters.ip)
    if filters.key_prefix:
        rows = rows.filter(key_prefix=filters.key_prefix)
    if filters.authkey_id is not None:
        rows = rows.filter(authkey_id=filters.authkey_id)
    if filters.since:
        rows = rows.filter(created_at__gte=filters.since)
    if filters.until:
        rows = rows.filter(created_at__lt=filters.until)
    if before is not None:
        at, pk = before
        # The redundant `created_at <= at` is the index range; the OR alone would make the
        # database walk the index from the newest row (bench/failed_logs.py: 36 times slower half-way).
        rows = rows.filter(Q(created_at__lt=at) | Q(created_at=at, id__lt=pk), created_at__lte=at)
    return rows.select_related("authkey").order_by("-created_at", "-id")


def failed_request_for_company(*, company: Company, pk: int) -> FailedRequest:
    return get_object_or_404(
        FailedRequest.objects.select_related("authkey", "company"), company=company, pk=pk
    )


@dataclass(frozen=True)
class RequestReport:
    message: Message
    status_counts: list[tuple[str, int]]
    recipients: list[Recipient]
    shown: int


def is_request_id(value: str) -> bool:
    return len(value) == 24 and all(ch in "0123456789abcdef" for ch in value)


def is_message_id(value: str) -> bool:
    try:
        return str(UUID(value)) == value
    except ValueError:
        return False


def request_report(*, company: Company, request_id: str, limit: int = 500) -> RequestReport | None:
    """A request id of the company → what was accepted and each recipient's status (the first
    `limit` recipients; counts cover all of them)."""
    value = request_id.strip().lower()
    messages = Message.objects.select_related("authkey").filter(company=company)
    if is_request_id(value):
        message = messages.filter(request_id=value).first()
    elif is_message_id(value):
        message = messages.filter(recipients__message_uid=value).first()
    else:
        message = None
    if message is None:
        return None
    counts = list(
        Recipient.objects.filter(message=message)
        .values_list("status")
        .annotate(n=Count("id"))
        .order_by("status")
    )
    recipients = list(Recipient.objects.filter(message=message).order_by("pk")[:limit])
    return RequestReport(message, [(status, n) for status, n in counts], recipients, len(recipients))


# --- Sender IDs, contact groups and flows ---------------------------------------------------------


def sender_ids(*, company: Company) -> list[SenderId]:
    return list(SenderId.objects.filter(company=company).order_by("sender"))


def contact_groups(*, company: Company) -> list[ContactGroup]:
    """With `member_count`, by name."""
    return list(
        ContactGroup.objects.filter(company=company).annotate(member_count=Count("members")).order_by("name")
    )


def contact_group_for_company(*, company: Company, pk: int) -> ContactGroup:
    return get_object_or_404(ContactGroup.objects.select_related("company"), company=company, pk=pk)


def group_member_count(*, group: ContactGroup) -> int:
    return GroupMember.objects.filter(group=group).count()


def group_members(*, group: ContactGroup, after: str = "", limit: int = 100) -> list[GroupMember]:
    """By number, keyset-paginated on the (group, msisdn) unique index."""
    rows = GroupMember.objects.filter(group=group)
    if after:
        rows = rows.filter(msisdn__gt=after)
    return list(rows.order_by("msisdn")[:limit])


def group_member_for_group(*, group: ContactGroup, pk: int) -> GroupMember:
    return get_object_or_404(GroupMember, group=group, pk=pk)


def flows(*, company: Company) -> list[Flow]:
    return list(Flow.objects.filter(company=company).order_by("-created_at", "-pk"))


def flow_for_company(*, company: Company, pk: int) -> Flow:
    return get_object_or_404(Flow, company=company, pk=pk)
