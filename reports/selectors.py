"""Reads behind the Reports, Dashboard and Balance pages, always scoped to one company.

Every page runs a fixed number of queries whatever the data (tests assert the bounds): the
message list is keyset-paginated on (created_at, id); per-page details (status counts, the
recipients of small messages) are one query each for the whole page; dashboard figures are
aggregate queries over date ranges of the company's indexes.
"""

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from accounts.models import BalanceCredit, Company
from authkeys import selectors as authkey_selectors
from authkeys.models import AuthKey
from messaging.models import FailedRequest, Message, Recipient

INLINE_RECIPIENTS = 5  # messages with at most this many recipients list them on the page
FINAL_OK = {Recipient.Status.DELIVERED}
FINAL_FAILED = {
    Recipient.Status.UNDELIVERABLE,
    Recipient.Status.EXPIRED,
    Recipient.Status.REJECTED,
    Recipient.Status.FAILED,
}


# --- Reports ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class MessageFilters:
    since: datetime | None = None
    until: datetime | None = None
    status: str = ""
    authkey_id: int | None = None
    number: str = ""  # digits with country code, as stored
    campaign: str = ""
    request_id: str = ""


def messages_queryset(
    *, company: Company, filters: MessageFilters, before: tuple[datetime, int] | None = None
) -> QuerySet[Message]:
    """Newest first; keyset-paginated on (created_at, id)."""
    rows: QuerySet[Message] = Message.objects.filter(company=company)
    if filters.request_id:
        rows = rows.filter(request_id=filters.request_id)
    if filters.since:
        rows = rows.filter(created_at__gte=filters.since)
    if filters.until:
        rows = rows.filter(created_at__lt=filters.until)
    if filters.authkey_id is not None:
        rows = rows.filter(authkey_id=filters.authkey_id)
    if filters.campaign:
        rows = rows.filter(campaign=filters.campaign)
    if filters.status:
        rows = rows.filter(Exists(Recipient.objects.filter(message=OuterRef("pk"), status=filters.status)))
    if filters.number:
        rows = rows.filter(pk__in=Recipient.objects.filter(msisdn=filters.number).values("message_id"))
    if before is not None:
        at, pk = before
        # The redundant `created_at <= at` is the index range; the OR alone would make the
        # database walk the index from the newest row (bench/failed_logs.py: 36 times slower half-way).
        rows = rows.filter(Q(created_at__lt=at) | Q(created_at=at, id__lt=pk), created_at__lte=at)
    return rows.select_related("authkey").order_by("-created_at", "-id")


@dataclass
class MessageRow:
    message: Message
    status_counts: list[tuple[str, int]] = field(default_factory=list)
    recipients: list[Recipient] = field(default_factory=list)


def message_rows(messages: list[Message]) -> list[MessageRow]:
    """The page's messages with their status counts and, for small messages, their recipients:
    two queries for the whole page."""
    rows = {message.pk: MessageRow(message) for message in messages}
    if not rows:
        return []
    counts = (
        Recipient.objects.filter(message_id__in=list(rows))
        .values_list("message_id", "status")
        .annotate(n=Count("id"))
        .order_by("message_id", "status")
    )
    for message_id, status, n in counts:
        rows[message_id].status_counts.append((status, n))
    small = [m.pk for m in messages if m.recipient_count <= INLINE_RECIPIENTS]
    if small:
        for recipient in Recipient.objects.filter(message_id__in=small).order_by("message_id", "pk"):
            rows[recipient.message_id].recipients.append(recipient)
    return [rows[m.pk] for m in messages]


EXPORT_HEADER = [
    "request_id",
    "accepted_at",
    "key",
    "sender",
    "campaign",
    "number",
    "message_id",
    "status",
    "error",
    "status_at",
    "parts",
    "credits",
]
EXPORT_MESSAGES_PER_QUERY = 500
EXPORT_RECIPIENTS_PER_BATCH = 20_000


def export_rows(*, company: Company, filters: MessageFilters) -> Iterator[list[str]]:
    """One row per recipient of every matching message, newest message first, produced in
    bounded batches (messages by keyset, recipients batch by batch) so that memory stays flat
    whatever the size of the export."""
    before: tuple[datetime, int] | None = None
    while True:
        chunk = list(
            messages_queryset(company=company, filters=filters, before=before)[:EXPORT_MESSAGES_PER_QUERY]
        )
        if not chunk:
            return
        batch: list[Message] = []
        size = 0
        for message in chunk:
            batch.append(message)
            size += message.recipient_count
            if size >= EXPORT_RECIPIENTS_PER_BATCH:
                yield from _export_batch(batch, filters)
                batch, size = [], 0
        if batch:
            yield from _export_batch(batch, filters)
        last = chunk[-1]
        before = (last.created_at, last.pk)
        if len(chunk) < EXPORT_MESSAGES_PER_QUERY:
            return


def _export_batch(messages: list[Message], filters: MessageFilters) -> Iterator[list[str]]:
    recipients = Recipient.objects.filter(message_id__in=[m.pk for m in messages])
    if filters.status:
        recipients = recipients.filter(status=filters.status)
    if filters.number:
        recipients = recipients.filter(msisdn=filters.number)
    by_message: dict[int, list[Recipient]] = defaultdict(list)
    for recipient in recipients.order_by("message_id", "pk").iterator(chunk_size=5000):
        by_message[recipient.message_id].append(recipient)
    for message in messages:
        for recipient in by_message.pop(message.pk, []):
            yield [
                message.request_id,
                message.created_at.isoformat(),
                message.authkey.name if message.authkey else "",
                message.sender,
                message.campaign,
                recipient.msisdn,
                recipient.message_uid,
                recipient.status,
                recipient.error,
                recipient.status_at.isoformat(),
                str(message.parts),
                str(message.parts),
            ]


# --- Dashboard --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Series:
    days: list[date]
    values: dict[str, list[int]]  # series name → one value per day

    @property
    def totals(self) -> dict[str, int]:
        return {name: sum(values) for name, values in self.values.items()}

    def rows(self) -> list[tuple[date, list[int]]]:
        names = list(self.values)
        return [(day, [self.values[name][i] for name in names]) for i, day in enumerate(self.days)]


@dataclass(frozen=True)
class Dashboard:
    today: date
    messages_today: int
    sms_today: int
    messages_month: int
    sms_month: int
    delivered: int
    failed: int
    pending: int
    refusals_by_code: list[tuple[str, int]]
    top_refused_ips: list[tuple[str, int]]
    keys_expiring: list[AuthKey]
    messages_per_day: Series
    refusals_per_day: Series

    @property
    def delivery_rate(self) -> float | None:
        final = self.delivered + self.failed
        return None if final == 0 else self.delivered / final

    @property
    def delivery_percent(self) -> float | None:
        rate = self.delivery_rate
        return None if rate is None else rate * 100


def _days(start: date, count: int) -> list[date]:
    return [start + timedelta(days=i) for i in range(count)]


def _series(rows: list[tuple[date, str, int]], days: list[date], names: list[str]) -> Series:
    index = {day: i for i, day in enumerate(days)}
    values = {name: [0] * len(days) for name in names}
    for day, name, n in rows:
        if day in index and name in values:
            values[name][index[day]] += n
    return Series(days, values)


def dashboard(
    *, company: Company, now: datetime | None = None, days: int = 30, expiring_within: int = 14
) -> Dashboard:
    """Everything the dashboard shows, in a fixed number of aggregate queries."""
    now = now or timezone.now()
    local_now = timezone.localtime(now)
    today = local_now.date()
    day_start = local_now.replace(hour=0, minute=0, second=0, microsecond=0)
    month_start = day_start.replace(day=1)
    series_start = day_start - timedelta(days=days - 1)
    messages = Message.objects.filter(company=company)

    month = messages.filter(created_at__gte=month_start).aggregate(
        requests=Count("id"),
        sms=Sum("credits"),
        requests_today=Count("id", filter=Q(created_at__gte=day_start)),
        sms_today=Sum("credits", filter=Q(created_at__gte=day_start)),
    )
    per_day_status = list(
        Recipient.objects.filter(message__company=company, message__created_at__gte=series_start)
        .annotate(day=TruncDate("message__created_at"))
        .values_list("day", "status")
        .annotate(n=Count("id"))
        .order_by()
    )
    statuses = [choice.value for choice in Recipient.Status]
    messages_per_day = _series(per_day_status, _days(series_start.date(), days), statuses)
    totals = messages_per_day.totals
    refusals = FailedRequest.objects.filter(company=company, created_at__gte=series_start)
    per_day_code = list(
        refusals.annotate(day=TruncDate("created_at"))
        .values_list("day", "code")
        .annotate(n=Count("id"))
        .order_by()
    )
    by_code: dict[str, int] = defaultdict(int)
    for _, code, n in per_day_code:
        by_code[code] += n
    codes = sorted(by_code, key=lambda code: (-by_code[code], code))
    top_ips = list(
        refusals.filter(code="418", created_at__gte=now - timedelta(days=7), client_ip__isnull=False)
        .values_list("client_ip")
        .annotate(n=Count("id"))
        .order_by("-n", "client_ip")[:5]
    )
    expiring = list(
        authkey_selectors.keys_expiring(within=timedelta(days=expiring_within), now=now).filter(
            company=company
        )[:10]
    )
    return Dashboard(
        today=today,
        messages_today=month["requests_today"] or 0,
        sms_today=month["sms_today"] or 0,
        messages_month=month["requests"] or 0,
        sms_month=month["sms"] or 0,
        delivered=sum(totals[s] for s in FINAL_OK),
        failed=sum(totals[s] for s in FINAL_FAILED),
        pending=sum(n for s, n in totals.items() if s not in FINAL_OK | FINAL_FAILED),
        refusals_by_code=[(code, by_code[code]) for code in codes],
        top_refused_ips=[(ip, n) for ip, n in top_ips],
        keys_expiring=expiring,
        messages_per_day=messages_per_day,
        refusals_per_day=_series(per_day_code, _days(series_start.date(), days), codes),
    )


# --- Balance ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class LedgerEntry:
    at: datetime
    kind: str  # "debit" | "credit"
    pk: int
    amount: int  # signed: debits negative
    description: str
    request_id: str = ""

    @property
    def cursor(self) -> str:
        return f"{self.at.isoformat()}|{self.kind}|{self.pk}"


def _debit_description(recipients: int, parts: int) -> str:
    people = f"{recipients} recipient{'s' if recipients != 1 else ''}"
    return f"{people}, {parts} part{'s' if parts != 1 else ''} each"


_RANK = {"debit": 0, "credit": 1}  # the order of two entries at the same instant (descending)


def _older(rank: int, before: tuple[datetime, str, int]) -> Q:
    at, kind, pk = before
    if rank < _RANK[kind]:
        return Q(created_at__lte=at)
    if rank > _RANK[kind]:
        return Q(created_at__lt=at)
    return (Q(created_at__lt=at) | Q(created_at=at, pk__lt=pk)) & Q(created_at__lte=at)


def ledger(
    *, company: Company, before: tuple[datetime, str, int] | None = None, limit: int = 50
) -> list[LedgerEntry]:
    """Debits (one per accepted message: its credits) and credits (staff top-ups/corrections),
    newest first, merged from two keyset queries of at most `limit` rows each."""
    debits = Message.objects.filter(company=company)
    credits = BalanceCredit.objects.filter(company=company)
    if before is not None:
        debits = debits.filter(_older(_RANK["debit"], before))
        credits = credits.filter(_older(_RANK["credit"], before))
    entries = [
        LedgerEntry(
            at,
            "debit",
            pk,
            -int(amount),
            _debit_description(recipients, parts),
            request_id,
        )
        for pk, at, amount, recipients, parts, request_id in debits.order_by(
            "-created_at", "-id"
        ).values_list("pk", "created_at", "credits", "recipient_count", "parts", "request_id")[:limit]
    ]
    entries += [
        LedgerEntry(at, "credit", pk, int(amount), note or ("Top-up" if amount > 0 else "Correction"))
        for pk, at, amount, note in credits.order_by("-created_at", "-id").values_list(
            "pk", "created_at", "amount", "note"
        )[:limit]
    ]
    entries.sort(key=lambda e: (e.at, _RANK[e.kind], e.pk), reverse=True)
    return entries[:limit]
