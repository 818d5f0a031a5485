"""Alerts: what is created when, and how it is delivered exactly once.

Sources (connected in alerts/receivers.py):
- `note_refusals(rows=…)`: every batch of Failed Logs rows (messaging.signals.refusals_recorded).
  Rows are grouped per company and family (418 / any other code) into an `AlertWindow` that opens
  at the first refusal and lasts `ALERTS_WINDOW_SECONDS`. The first refusal per (key, IP) — per
  (key, code) for other codes — in a window alerts at once (418: email and SMS; others: email);
  every other refusal is only counted, and `digest_window` sends one digest per channel once the
  window has closed (periodic `sweep`). Cost per flush: a handful of indexed queries per company
  and family, plus the inserts of the few alerts that are due.
- `security_alert_for_event(event=…)`: one email per SecurityEvent (dedupe key
  `security:<event id>`), never counted against the cap, never suppressed.

The hourly cap (`ALERTS_MAX_PER_COMPANY_PER_HOUR`) counts every refusal alert and digest created
in the last 60 minutes (rolling), checked and inserted while the company's `AlertQuota` row is
locked, so concurrent processes cannot overshoot. Immediate alerts may use the cap minus a
reserve kept for the digests (`digest_reserve()`); an immediate alert over it is stored as
`suppressed` and counted into its window's digest; a digest that finds no room waits for the
next sweep (it is never dropped).

Delivery (`deliver_alert`): a conditional UPDATE claims the row (pending → sending, attempts + 1);
only the claimant sends; success → sent; failure → pending again with a backoff, or failed after
`ALERTS_MAX_ATTEMPTS`. A row left in `sending` by a worker that died is marked failed by the
sweep (it may have gone out: resending is a staff decision, so nothing is ever sent twice).
"""

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import Count, Exists, F, OuterRef, Q
from django.template.loader import render_to_string
from django.utils import timezone

from alerts.models import Alert, AlertQuota, AlertWindow
from authkeys.models import AuthKey, SecurityEvent
from messaging.catalogue import CATALOGUE, Code
from messaging.models import FailedRequest
from messaging.refusals import RefusalRow
from portal.sms import send_sms

logger = logging.getLogger(__name__)

Family = AlertWindow.Family
Kind = Alert.Kind
Channel = Alert.Channel
Status = Alert.Status

IP_CODE = Code.IP_NOT_WHITELISTED.value
THROTTLED_KINDS = [Kind.IP_REFUSED, Kind.API_REFUSED, Kind.IP_REFUSED_DIGEST, Kind.API_REFUSED_DIGEST]
CHANNELS: dict[str, list[str]] = {
    Family.IP_REFUSED: [Channel.EMAIL, Channel.SMS],  # seed 001: registered mail ID and mobile
    Family.API_REFUSED: [Channel.EMAIL],  # seed 000: an email to the registered ID
}
IMMEDIATE_KIND: dict[str, str] = {Family.IP_REFUSED: Kind.IP_REFUSED, Family.API_REFUSED: Kind.API_REFUSED}
DIGEST_KIND: dict[str, str] = {
    Family.IP_REFUSED: Kind.IP_REFUSED_DIGEST,
    Family.API_REFUSED: Kind.API_REFUSED_DIGEST,
}
# Never shown in a security alert, whatever a SecurityEvent's before/after holds.
_SECRET_WORDS = ("secret", "token", "password", "digest", "otp")


# --- Settings ----------------------------------------------------------------------------------


def window_seconds() -> int:
    return max(1, int(getattr(settings, "ALERTS_WINDOW_SECONDS", 600)))


def hourly_cap() -> int:
    return max(0, int(getattr(settings, "ALERTS_MAX_PER_COMPANY_PER_HOUR", 20)))


def digest_reserve() -> int:
    """Slots of the hourly cap that immediate alerts leave to digests (one 418 digest by email
    and SMS, one for other codes), so that a flood of new IPs cannot starve the digests."""
    return min(3, hourly_cap() // 2)


def max_attempts() -> int:
    return max(1, int(getattr(settings, "ALERTS_MAX_ATTEMPTS", 5)))


def retry_delay(attempts: int) -> int:
    """Seconds before attempt `attempts + 1`: doubling from ALERTS_RETRY_BACKOFF_SECONDS."""
    base = int(getattr(settings, "ALERTS_RETRY_BACKOFF_SECONDS", 30))
    ceiling = int(getattr(settings, "ALERTS_RETRY_BACKOFF_MAX_SECONDS", 3600))
    return min(base * 2 ** max(0, attempts - 1), ceiling)


def stale_seconds() -> int:
    return int(getattr(settings, "ALERTS_STALE_SECONDS", 300))


# --- Refusals ---------------------------------------------------------------------------------


def note_refusals(*, rows: Iterable[RefusalRow]) -> None:
    """Count a batch of refusals into their windows; alert at once where due. One transaction."""
    by_family: dict[tuple[int, str], list[RefusalRow]] = defaultdict(list)
    for row in rows:
        if row.company_id is None:  # unknown key: nobody to tell
            continue
        family: str = Family.IP_REFUSED if row.code == IP_CODE else Family.API_REFUSED
        by_family[(row.company_id, family)].append(row)
    if not by_family:
        return
    with transaction.atomic():
        for (company_id, family), batch in sorted(by_family.items()):
            batch.sort(key=lambda row: row.created_at)
            while batch:
                window = _current_window(company_id=company_id, family=family, at=batch[0].created_at)
                inside = [row for row in batch if row.created_at < window.closes_at] or batch
                batch = batch[len(inside) :]
                _count_in_window(window, inside)


def _current_window(*, company_id: int, family: str, at: datetime) -> AlertWindow:
    """The company's open window of `family` that `at` falls into; opens one if needed. At most one
    open window per company and family (partial unique constraint): a concurrent opener loses
    with an IntegrityError and takes the winner's window."""
    for _ in range(3):
        window = AlertWindow.objects.filter(company_id=company_id, family=family, is_open=True).first()
        if window is not None and at < window.closes_at:
            return window
        if window is not None:  # ran out: close it (the sweep digests it)
            AlertWindow.objects.filter(pk=window.pk, is_open=True).update(is_open=False)
        try:
            with transaction.atomic():
                return AlertWindow.objects.create(
                    company_id=company_id,
                    family=family,
                    opened_at=at,
                    closes_at=at + timedelta(seconds=window_seconds()),
                )
        except IntegrityError:
            continue
    raise RuntimeError("could not open an alert window")


def _group(family: str, row: RefusalRow) -> tuple[int, str]:
    return (row.authkey_id or 0, (row.client_ip or "") if family == Family.IP_REFUSED else row.code)


def _immediate_key(window: AlertWindow, group: tuple[int, str]) -> str:
    key_id, what = group
    return f"{IMMEDIATE_KIND[window.family]}:w{window.pk}:k{key_id}:{what}"


def _count_in_window(window: AlertWindow, rows: Sequence[RefusalRow]) -> None:
    firsts: dict[tuple[int, str], RefusalRow] = {}
    for row in rows:
        firsts.setdefault(_group(window.family, row), row)
    keys = {group: _immediate_key(window, group) for group in firsts}
    known = set(
        Alert.objects.filter(dedupe_key__in=keys.values()).values_list("dedupe_key", flat=True).distinct()
    )
    for group, first in firsts.items():
        if keys[group] not in known:
            _alert_at_once(window, first, keys[group])
    AlertWindow.objects.filter(pk=window.pk).update(refusals=F("refusals") + len(rows))


def _lock_quota(company_id: int) -> None:
    AlertQuota.objects.select_for_update().get_or_create(company_id=company_id)


def _room(company_id: int, *, immediate: bool, now: datetime) -> int:
    """Alerts the company may still get in the rolling hour (call with its quota row locked)."""
    used = (
        Alert.objects.filter(
            company_id=company_id, kind__in=THROTTLED_KINDS, created_at__gt=now - timedelta(hours=1)
        )
        .exclude(status=Status.SUPPRESSED)
        .count()
    )
    limit = hourly_cap() - (digest_reserve() if immediate else 0)
    return limit - used


def _alert_at_once(window: AlertWindow, row: RefusalRow, dedupe_key: str) -> None:
    now = timezone.now()
    kind = IMMEDIATE_KIND[window.family]
    details = _refusal_details(row)
    subject = _render_subject(kind, details)
    summary = _one_line(render_to_string(f"alerts/{kind}_sms.txt", {"d": details}))
    with transaction.atomic():
        _lock_quota(window.company_id)
        if Alert.objects.filter(dedupe_key=dedupe_key).exists():  # another process was first
            return
        room = _room(window.company_id, immediate=True, now=now)
        due = []
        for channel in CHANNELS[window.family]:
            alert = Alert.objects.create(
                company_id=window.company_id,
                kind=kind,
                channel=channel,
                dedupe_key=dedupe_key,
                status=Status.PENDING if room > 0 else Status.SUPPRESSED,
                subject=subject,
                summary=summary,
                details=details,
                window=window,
                created_at=now,
            )
            room -= 1
            if alert.status == Status.PENDING:
                due.append(alert.pk)
        counter = "alerted_groups" if due else "suppressed_groups"
        AlertWindow.objects.filter(pk=window.pk).update(**{counter: F(counter) + 1})
        enqueue(due)


def _refusal_details(row: RefusalRow) -> dict[str, Any]:
    key = (
        AuthKey.objects.filter(pk=row.authkey_id).values("name", "display_prefix").first()
        if row.authkey_id is not None
        else None
    )
    try:
        description = CATALOGUE[Code(row.code)].description
    except ValueError:
        description = row.reason
    return {
        "code": row.code,
        "description": description,
        "reason": row.reason if row.reason != description else "",
        "ip": row.client_ip or "",
        "key_name": key["name"] if key else "",
        "key_prefix": (key["display_prefix"] if key else row.key_prefix) or "",
        "endpoint": f"{row.method} {row.endpoint}",
        "at": _when(row.created_at),
        "window_minutes": max(1, window_seconds() // 60),
    }


def digest_window(*, window_id: int, now: datetime | None = None) -> str:
    """Once a window has closed: one digest per channel of what was not alerted at once (counts,
    top IPs, codes). Idempotent (dedupe key `<kind>:w<window id>`); deferred while the hourly cap
    has no room. Returns what happened: "sent", "nothing", "deferred", "open" or "done"."""
    now = now or timezone.now()
    company_id = AlertWindow.objects.filter(pk=window_id).values_list("company_id", flat=True).first()
    if company_id is None:
        return "done"
    with transaction.atomic():
        _lock_quota(company_id)  # the quota first, as note_refusals does: no lock-order deadlock
        window = AlertWindow.objects.select_for_update().get(pk=window_id)
        if window.digested_at is not None:
            return "done"
        if window.closes_at > now:
            return "open"
        window.is_open = False
        extra = window.refusals - window.alerted_groups
        if extra <= 0 or hourly_cap() == 0:  # nothing more to say, or refusal alerts switched off
            window.digested_at = now
            window.save(update_fields=["is_open", "digested_at"])
            return "nothing"
        channels = CHANNELS[window.family]
        if _room(company_id, immediate=False, now=now) < len(channels):
            window.save(update_fields=["is_open"])
            return "deferred"
        kind = DIGEST_KIND[window.family]
        details = _digest_details(window, extra)
        subject = _render_subject(kind, details)
        summary = _one_line(render_to_string(f"alerts/{kind}_sms.txt", {"d": details}))
        due = []
        for channel in channels:
            alert, created = Alert.objects.get_or_create(
                dedupe_key=f"{kind}:w{window.pk}",
                channel=channel,
                defaults={
                    "company_id": company_id,
                    "kind": kind,
                    "subject": subject,
                    "summary": summary,
                    "details": details,
                    "refusal_count": extra,
                    "suppressed_count": window.suppressed_groups,
                    "window": window,
                    "created_at": now,
                },
            )
            if created:
                due.append(alert.pk)
        window.digested_at = now
        window.save(update_fields=["is_open", "digested_at"])
        enqueue(due)
    return "sent"


def _digest_details(window: AlertWindow, extra: int) -> dict[str, Any]:
    rows = FailedRequest.objects.filter(
        company_id=window.company_id, created_at__gte=window.opened_at, created_at__lt=window.closes_at
    )
    rows = rows.filter(code=IP_CODE) if window.family == Family.IP_REFUSED else rows.exclude(code=IP_CODE)
    top_ips = [
        [entry["client_ip"] or "unknown", entry["n"]]
        for entry in rows.values("client_ip").annotate(n=Count("id")).order_by("-n", "client_ip")[:5]
    ]
    codes = []
    if window.family == Family.API_REFUSED:
        for entry in rows.values("code").annotate(n=Count("id")).order_by("-n", "code")[:10]:
            try:
                description = CATALOGUE[Code(entry["code"])].description
            except ValueError:
                description = ""
            codes.append([entry["code"], description, entry["n"]])
    keys = [
        [entry["authkey__name"] or "", entry["key_prefix"] or "", entry["n"]]
        for entry in rows.values("authkey__name", "key_prefix").annotate(n=Count("id")).order_by("-n")[:5]
    ]
    return {
        "from": _when(window.opened_at),
        "until": _when(window.closes_at),
        "refusals": window.refusals,
        "extra": extra,
        "alerted": window.alerted_groups,
        "suppressed": window.suppressed_groups,
        "top_ips": top_ips,
        "codes": codes,
        "keys": keys,
        "cap": hourly_cap(),
    }


# --- Security changes -------------------------------------------------------------------------


def security_alert_for_event(*, event: SecurityEvent) -> Alert:
    """The one email alert of a security event; a second call finds the first row."""
    details = _security_details(event)
    alert, created = Alert.objects.get_or_create(
        dedupe_key=f"security:{event.pk}",
        channel=Channel.EMAIL,
        defaults={
            "company_id": event.company_id,
            "kind": Kind.SECURITY_CHANGE,
            "subject": _render_subject(Kind.SECURITY_CHANGE, details),
            "summary": f"{details['what']}: {details['target']}"[:300],
            "details": details,
            "security_event": event,
        },
    )
    if created:
        enqueue([alert.pk])
    return alert


def _security_details(event: SecurityEvent) -> dict[str, Any]:
    if event.actor_user_id is not None:
        actor = event.actor_user.email if event.actor_user else "a user"
    elif event.actor_key_id is not None and event.actor_key is not None:
        actor = f"API key “{event.actor_key.name}” ({event.actor_key.display_prefix}…)"
    else:
        actor = "SMS Portal staff or an automated process"
    return {
        "what": event.get_kind_display(),
        "kind": event.kind,
        "target": event.target,
        "key": str(event.authkey) if event.authkey_id and event.authkey else "",
        "actor": actor,
        "ip": event.actor_ip or "",
        "at": _when(event.created_at),
        "changes": _changes(event.before, event.after),
    }


def _changes(before: Any, after: Any) -> list[list[str]]:
    if not isinstance(before, dict) and not isinstance(after, dict):
        if before is None and after is None:
            return []
        return [["value", _show(before), _show(after)]]
    before = before if isinstance(before, dict) else {}
    after = after if isinstance(after, dict) else {}
    fields = list(dict.fromkeys([*before, *after]))
    return [
        [field.replace("_", " "), _show(before.get(field)), _show(after.get(field))]
        for field in fields
        if not any(word in field.lower() for word in _SECRET_WORDS)
    ]


def _show(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, list | tuple):
        return ", ".join(_show(item) for item in value) or "(none)"
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_show(v)}" for k, v in value.items() if not _secretish(k))
    return str(value)[:200]


def _secretish(name: Any) -> bool:
    return any(word in str(name).lower() for word in _SECRET_WORDS)


# --- Delivery ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Delivery:
    outcome: str  # "sent", "retry", "failed", "skipped"
    retry_in: int | None = None


def deliver_alert(*, alert_id: int, now: datetime | None = None) -> Delivery:
    """Send one alert if it is still pending. Safe to call any number of times, concurrently:
    only the caller whose conditional UPDATE claims the row sends."""
    now = now or timezone.now()
    claimed = Alert.objects.filter(pk=alert_id, status=Status.PENDING).update(
        status=Status.SENDING, attempts=F("attempts") + 1, claimed_at=now, next_attempt_at=None
    )
    if not claimed:
        return Delivery("skipped")
    alert = Alert.objects.select_related("company").get(pk=alert_id)
    try:
        _send(alert)
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"[:300]
        if alert.attempts >= max_attempts():
            Alert.objects.filter(pk=alert_id, status=Status.SENDING).update(
                status=Status.FAILED, last_error=error
            )
            logger.warning(
                "alert %s failed after %d attempts: %s", alert_id, alert.attempts, type(exc).__name__
            )
            return Delivery("failed")
        delay = retry_delay(alert.attempts)
        Alert.objects.filter(pk=alert_id, status=Status.SENDING).update(
            status=Status.PENDING, last_error=error, next_attempt_at=now + timedelta(seconds=delay)
        )
        return Delivery("retry", retry_in=delay)
    Alert.objects.filter(pk=alert_id, status=Status.SENDING).update(
        status=Status.SENT, sent_at=timezone.now(), last_error=""
    )
    return Delivery("sent")


def render_body(alert: Alert) -> str:
    """The message text of an alert (email body, or the SMS)."""
    template = f"alerts/{alert.kind}_{'email' if alert.channel == Channel.EMAIL else 'sms'}.txt"
    text = render_to_string(template, {"alert": alert, "company": alert.company, "d": alert.details})
    return text if alert.channel == Channel.EMAIL else _one_line(text)


def _send(alert: Alert) -> None:
    body = render_body(alert)
    if alert.channel == Channel.EMAIL:
        send_mail(alert.subject, body, None, [alert.company.registered_email])
    else:
        send_sms(to=alert.company.registered_mobile, body=body)


def enqueue(alert_ids: list[int]) -> None:
    """Publish the send tasks once the alert rows are committed."""
    if alert_ids:
        ids = list(alert_ids)

        def publish() -> None:
            for pk in ids:
                _publish(pk)

        transaction.on_commit(publish)


def _publish(alert_id: int) -> None:
    from alerts.tasks import send_alert

    try:
        send_alert.delay(alert_id)
    except (ConnectionError, OSError) as exc:  # the broker is down: the sweep publishes it later
        logger.error("could not enqueue alert %s: %s", alert_id, type(exc).__name__)
    except Exception as exc:
        if getattr(settings, "CELERY_TASK_ALWAYS_EAGER", False):
            raise
        logger.error("could not enqueue alert %s: %s", alert_id, type(exc).__name__)


def alert_resend(*, alert_id: int) -> bool:
    """Staff: send a failed, suppressed or sent alert again (attempts start over)."""
    updated = Alert.objects.filter(
        pk=alert_id, status__in=[Status.FAILED, Status.SUPPRESSED, Status.SENT]
    ).update(status=Status.PENDING, attempts=0, last_error="", claimed_at=None, next_attempt_at=None)
    if updated:
        enqueue([alert_id])
    return bool(updated)


# --- Periodic work ----------------------------------------------------------------------------


def sweep(*, now: datetime | None = None, batch_size: int = 500) -> dict[str, int]:
    """Periodic (CELERY_BEAT_SCHEDULE): digest closed windows; publish pending alerts whose task
    was lost (broker outage); fail alerts a dead worker left in `sending`."""
    now = now or timezone.now()
    outcomes: dict[str, int] = defaultdict(int)
    due = AlertWindow.objects.filter(digested_at__isnull=True, closes_at__lte=now).order_by("closes_at", "pk")
    for window_id in list(due.values_list("pk", flat=True)[:batch_size]):
        outcomes[f"digest_{digest_window(window_id=window_id, now=now)}"] += 1
    stale = now - timedelta(seconds=stale_seconds())
    outcomes["interrupted"] = Alert.objects.filter(status=Status.SENDING, claimed_at__lte=stale).update(
        status=Status.FAILED,
        last_error="Delivery was interrupted and may or may not have gone out; not retried "
        "automatically so that it is never sent twice (resend it from the admin).",
    )
    lost = Alert.objects.filter(status=Status.PENDING, created_at__lte=stale).filter(
        Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=stale)
    )
    for alert_id in list(lost.order_by("created_at").values_list("pk", flat=True)[:batch_size]):
        _publish(alert_id)
        outcomes["republished"] += 1
    # A security change whose alert row could not be created with it (the receiver logs the error
    # and lets the change stand): created now, for the changes of the last day.
    orphans = SecurityEvent.objects.filter(
        created_at__gte=now - timedelta(days=1), created_at__lte=stale
    ).filter(~Exists(Alert.objects.filter(security_event=OuterRef("pk"))))
    for event in orphans.order_by("created_at", "pk")[:batch_size]:
        with transaction.atomic():
            security_alert_for_event(event=event)
        outcomes["security_backfilled"] += 1
    return dict(outcomes)


def purge_alerts(*, older_than: datetime, batch_size: int = 1000) -> int:
    """Delete alerts created before `older_than`, and windows that closed before it, in batches
    of `batch_size` rows (short transactions). Returns the number of rows deleted."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    deleted = 0
    for model, condition in (
        (Alert, Q(created_at__lt=older_than)),
        (AlertWindow, Q(closes_at__lt=older_than, is_open=False)),
    ):
        while True:
            ids = list(
                model.objects.filter(condition).order_by("pk").values_list("pk", flat=True)[:batch_size]
            )
            if not ids:
                break
            with transaction.atomic():
                count, _ = model.objects.filter(pk__in=ids).delete()
            deleted += count
    return deleted


# --- Rendering helpers ------------------------------------------------------------------------


def _render_subject(kind: str, details: dict[str, Any]) -> str:
    return _one_line(render_to_string(f"alerts/{kind}_subject.txt", {"d": details}))[:200]


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _when(at: datetime) -> str:
    return timezone.localtime(at).strftime("%Y-%m-%d %H:%M:%S %Z")
