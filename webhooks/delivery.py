"""Delivery of webhook events: one drain task per endpoint, a sweeper, the retry policy.

The Delivery rows are the outbox (written in the transaction that changed the statuses, see
services.record_status_events); Celery carries only endpoint ids. A 10,000-recipient message
makes 10,000 rows per subscribed endpoint and a handful of drain tasks, not 10,000 tasks.

drain(endpoint_id) repeatedly claims a batch of due PENDING rows (WEBHOOK_DRAIN_BATCH; row locks
with SKIP LOCKED on PostgreSQL, so concurrent drains split the work) by marking them SENDING with
a lease, checks the URL and resolves it once (webhooks/ssrf.py), then POSTs each event over one
keep-alive connection to the checked address. After each attempt the row is updated with a
conditional UPDATE (status still SENDING). One drain sends at most WEBHOOK_DRAIN_MAX_EVENTS events,
then re-enqueues itself so other endpoints get workers too.

Per attempt (classify()):
    2xx                 DELIVERED.
    410 Gone            FAILED, the endpoint is disabled (reason recorded, audited), the rest of its
                        queue is given up.
    3xx                 a failure; the redirect is NOT followed (a redirect could point anywhere).
    429 / 503           retried at Retry-After (seconds or an HTTP date), capped at
                        WEBHOOK_RETRY_AFTER_MAX_SECONDS; without one, like any other failure.
    other failures      retried after an exponential backoff with jitter: base·2^(n-1), at most
                        WEBHOOK_BACKOFF_MAX_SECONDS, then a random 50-100 % of that.
    after WEBHOOK_MAX_ATTEMPTS attempts: FAILED ("gave up").
Failures that say "the endpoint is unwell" (no response, timeout, 3xx, 408, 429, 5xx, an address
refused at send time) pause the endpoint: the rest of the claimed batch goes back to PENDING,
due at the same retry time, without spending an attempt, and the drain stops. Other 4xx answers
concern one event only; the drain goes on.

The sweeper (every WEBHOOK_SWEEP_SECONDS) makes SENDING rows whose lease ran out PENDING again and
enqueues a drain for every endpoint with due rows: retries, and anything a lost task left behind.
"""

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.http import parse_http_date_safe

from authkeys.models import SecurityEvent
from webhooks import client, services, signing, ssrf
from webhooks.models import Delivery, Endpoint

logger = logging.getLogger(__name__)

Status = Delivery.Status

#: Answers that mean the receiver as a whole is not taking events right now.
PAUSING_STATUSES = frozenset({408, 425, 429}) | frozenset(range(500, 600))


@dataclass(frozen=True)
class Verdict:
    status: str  # Status.DELIVERED | PENDING (retry) | FAILED
    retry_at: datetime | None = None
    error: str = ""
    pause: bool = False  # stop the drain, put the rest of the batch back
    gone: bool = False  # 410: disable the endpoint


def backoff(attempts: int, *, rng: random.Random | None = None) -> timedelta:
    """Delay after the `attempts`-th failed attempt: exponential, capped, with jitter (50-100 %)."""
    base = settings.WEBHOOK_BACKOFF_BASE_SECONDS * 2 ** min(max(attempts - 1, 0), 30)
    capped = min(base, settings.WEBHOOK_BACKOFF_MAX_SECONDS)
    return timedelta(seconds=capped * (rng or random).uniform(0.5, 1.0))


def retry_after(value: str | None, *, now: datetime) -> timedelta | None:
    """A Retry-After header (delay-seconds or HTTP-date), capped; None if absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        seconds = int(value)
    else:
        moment = parse_http_date_safe(value)
        if moment is None:
            return None
        seconds = max(0, int(moment - now.timestamp()))
    return timedelta(seconds=min(seconds, settings.WEBHOOK_RETRY_AFTER_MAX_SECONDS))


def classify(
    *,
    attempts: int,
    now: datetime,
    response: client.Response | None = None,
    error: str = "",
    rng: random.Random | None = None,
) -> Verdict:
    """What one attempt (the `attempts`-th) means for its row. `response` None: no HTTP answer."""
    if response is not None and 200 <= response.status < 300:
        return Verdict(Status.DELIVERED)
    pause = True
    delay: timedelta | None = None
    if response is None:
        error = error or "no response"
    else:
        status = response.status
        if status == 410:
            return Verdict(Status.FAILED, error="410 Gone: the receiver asked us to stop", gone=True)
        if 300 <= status < 400:
            where = f" to {services.display_url(response.location)}" if response.location else ""
            error = f"HTTP {status}: redirect{where} not followed (a redirect is a failure)"
        else:
            error = f"HTTP {status}"
            pause = status in PAUSING_STATUSES
            if status in (429, 503):
                delay = retry_after(response.retry_after, now=now)
                if delay is not None:
                    error += f", Retry-After {int(delay.total_seconds())} s"
    if attempts >= settings.WEBHOOK_MAX_ATTEMPTS:
        return Verdict(Status.FAILED, error=f"gave up after {attempts} attempts; last: {error}"[:300])
    if delay is None:
        delay = backoff(attempts, rng=rng)
    return Verdict(Status.PENDING, retry_at=now + delay, error=error[:300], pause=pause)


def _locked(queryset: QuerySet[Delivery]) -> QuerySet[Delivery]:
    features = connection.features
    return queryset.select_for_update(
        skip_locked=features.has_select_for_update_skip_locked, no_key=features.has_select_for_no_key_update
    )


def _lease(now: datetime) -> datetime:
    # Long enough for a whole batch of attempts that each hit both timeouts.
    seconds = settings.WEBHOOK_DRAIN_BATCH * 2 * settings.WEBHOOK_TIMEOUT_SECONDS + 60
    return now + timedelta(seconds=seconds)


def _claim(endpoint_id: int, now: datetime, limit: int) -> list[Delivery]:
    with transaction.atomic():
        due = Delivery.objects.filter(endpoint_id=endpoint_id, status=Status.PENDING, next_retry_at__lte=now)
        ids = list(_locked(due.order_by("next_retry_at", "pk")).values_list("pk", flat=True)[:limit])
        if ids:
            Delivery.objects.filter(pk__in=ids).update(status=Status.SENDING, next_retry_at=_lease(now))
    return list(Delivery.objects.filter(pk__in=ids).order_by("pk"))


def _disable_gone(endpoint: Endpoint, now: datetime) -> None:
    reason = f"The receiver answered 410 Gone on {services.iso(now)}"
    with transaction.atomic():
        disabled = Endpoint.objects.filter(pk=endpoint.pk, active=True).update(
            active=False, disabled_reason=reason, updated_at=now
        )
        services.fail_queued(endpoint_id=endpoint.pk, error=f"Endpoint disabled: {reason}")
        if disabled:
            services._event(
                endpoint,
                SecurityEvent.Kind.WEBHOOK_DISABLED,
                None,
                None,
                before={"active": True},
                after={"active": False, "reason": reason},
            )
    logger.warning("webhook endpoint %s disabled: 410 Gone", endpoint.pk)


def _finish(row: Delivery, verdict: Verdict, *, now: datetime, response: client.Response | None) -> None:
    Delivery.objects.filter(pk=row.pk, status=Status.SENDING).update(
        status=verdict.status,
        attempts=row.attempts + 1,
        last_attempt_at=now,
        last_status_code=response.status if response else None,
        latency_ms=response.latency_ms if response else None,
        next_retry_at=verdict.retry_at,
        last_error=verdict.error,
    )


def drain(
    endpoint_id: int,
    *,
    now: datetime | None = None,
    clock: Callable[[], datetime] | None = None,
    rng: random.Random | None = None,
) -> dict[str, Any]:
    """Send the endpoint's due events (see the module docstring). `now` fixes the clock (tests);
    returns counts and whether due events are left (`more`)."""
    tick: Callable[[], datetime] = (lambda: now) if now is not None else (clock or timezone.now)
    result: dict[str, Any] = {"sent": 0, "delivered": 0, "retry": 0, "failed": 0, "more": False}
    try:
        endpoint = Endpoint.objects.select_related("company").get(pk=endpoint_id)
    except Endpoint.DoesNotExist:
        return {**result, "skipped": "endpoint deleted"}
    if not endpoint.active:
        services.fail_queued(endpoint_id=endpoint_id, error=f"Endpoint disabled: {endpoint.disabled_reason}")
        return {**result, "skipped": "endpoint disabled"}
    keys = services.signing_keys(endpoint, now=tick())
    sender: client.Sender | None = None
    try:
        while result["sent"] < settings.WEBHOOK_DRAIN_MAX_EVENTS:
            limit = min(settings.WEBHOOK_DRAIN_BATCH, settings.WEBHOOK_DRAIN_MAX_EVENTS - result["sent"])
            rows = _claim(endpoint_id, tick(), limit)
            if not rows:
                return result
            for index, row in enumerate(rows):
                moment = tick()
                response: client.Response | None = None
                error = ""
                try:
                    if sender is None:
                        sender = client.Sender(endpoint.url)  # the send-time SSRF check
                    body = services.envelope(row, now=moment)
                    headers = signing.headers(
                        keys, msg_id=str(row.event_id), timestamp=int(moment.timestamp()), body=body
                    )
                    response = sender.post(body, headers)
                except ssrf.UnsafeURL as exc:
                    error = f"refused at send time: {exc}"
                except client.SendError as exc:
                    error = str(exc)
                verdict = classify(
                    attempts=row.attempts + 1, now=moment, response=response, error=error, rng=rng
                )
                _finish(row, verdict, now=moment, response=response)
                result["sent"] += 1
                key = {"delivered": "delivered", "failed": "failed"}.get(str(verdict.status), "retry")
                result[key] += 1
                if verdict.gone:
                    _disable_gone(endpoint, moment)
                    return {**result, "disabled": True}
                if verdict.pause:
                    rest = [r.pk for r in rows[index + 1 :]]
                    Delivery.objects.filter(pk__in=rest, status=Status.SENDING).update(
                        status=Status.PENDING, next_retry_at=verdict.retry_at or moment
                    )
                    return {**result, "paused": verdict.error}
        result["more"] = Delivery.objects.filter(
            endpoint_id=endpoint_id, status=Status.PENDING, next_retry_at__lte=tick()
        ).exists()
        return result
    finally:
        if sender is not None:
            sender.close()


def enqueue_drain(endpoint_id: int) -> None:
    """Publish a drain task for the endpoint. Never raises: on a broker failure the sweeper
    enqueues it later (the rows are committed)."""
    from webhooks.tasks import drain_endpoint

    try:
        drain_endpoint.delay(endpoint_id)
    except Exception:
        # Broker unreachable, or (eager mode: tests, CELERY_TASK_ALWAYS_EAGER) the drain itself
        # failed here; the rows say what is left and the sweeper comes back to them.
        logger.exception("could not run the webhook drain of endpoint %s; left for the sweeper", endpoint_id)


def sweep(now: datetime | None = None, *, limit: int = 500) -> dict[str, int]:
    """Expired SENDING leases back to PENDING, then a drain per endpoint with due rows."""
    now = now or timezone.now()
    released = Delivery.objects.filter(status=Status.SENDING, next_retry_at__lte=now).update(
        status=Status.PENDING, next_retry_at=now
    )
    endpoint_ids = list(
        Delivery.objects.filter(status=Status.PENDING, next_retry_at__lte=now, endpoint__active=True)
        .order_by()
        .values_list("endpoint_id", flat=True)
        .distinct()[:limit]
    )
    for endpoint_id in endpoint_ids:
        enqueue_drain(endpoint_id)
    return {"released": released, "endpoints": len(endpoint_ids)}
