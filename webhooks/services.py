"""Writes of the webhooks app. The pages, the admin, `create_webhook` and the signal receiver call
these; none re-implements a rule.

Every change to an endpoint is a security change: it writes one SecurityEvent (authkeys'
audit log, through authkeys.services.record_event) in the same transaction. The audit snapshot
never holds a secret, and shows the URL without its query string (receivers sometimes put a
token there).
"""

import json
import logging
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.models import Company, User
from authkeys.models import SecurityEvent
from authkeys.services import record_event
from messaging.models import Message, Recipient
from webhooks import signing, ssrf
from webhooks.models import EVENT_TYPES, STATUS_EVENT, Delivery, Endpoint, EndpointSecret

logger = logging.getLogger(__name__)

Kind = SecurityEvent.Kind
Status = Delivery.Status
RStatus = Recipient.Status

#: Our recipient statuses in GatewayAPI's vocabulary (ENROUTE, DELIVERED, EXPIRED, DELETED,
#: UNDELIVERABLE, ACCEPTED, UNKNOWN, REJECTED). SCHEDULED is "accepted, not sent yet"; FAILED
#: (the network could not deliver) is GatewayAPI's UNDELIVERABLE, with our error text in `error`.
GATEWAYAPI_STATUS: dict[str, str] = {
    RStatus.ACCEPTED: "ACCEPTED",
    RStatus.SCHEDULED: "ACCEPTED",
    RStatus.ENROUTE: "ENROUTE",
    RStatus.DELIVERED: "DELIVERED",
    RStatus.UNDELIVERABLE: "UNDELIVERABLE",
    RStatus.EXPIRED: "EXPIRED",
    RStatus.REJECTED: "REJECTED",
    RStatus.FAILED: "UNDELIVERABLE",
}
BULK_BATCH = 1000


def iso(moment: datetime) -> str:
    """ISO-8601 in UTC with a Z, to the second (`2026-11-22T10:15:00Z`)."""
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


# --- Validation shared by every entry point ---------------------------------------------------


def clean_url(url: str, *, allow_private: bool | None = None) -> str:
    """The URL, stripped, if it is a safe webhook target (ssrf.check: form, resolution, every
    address); a ValidationError saying what is wrong otherwise."""
    url = (url or "").strip()
    try:
        ssrf.check(url, allow_private=allow_private)
    except ssrf.UnsafeURL as exc:
        raise ValidationError(str(exc), code="unsafe_url") from None
    return url


def clean_event_types(event_types: Any) -> list[str]:
    if isinstance(event_types, str):
        event_types = [event_types]
    chosen = [str(t).strip() for t in (event_types or []) if str(t).strip()]
    if not chosen:
        raise ValidationError("Choose at least one event type.", code="event_types")
    unknown = sorted(set(chosen) - set(EVENT_TYPES))
    if unknown:
        raise ValidationError(
            "Unknown event type %(unknown)s; the known ones are: %(known)s.",
            code="event_types",
            params={"unknown": ", ".join(unknown), "known": ", ".join(EVENT_TYPES)},
        )
    return [t for t in EVENT_TYPES if t in chosen]


def clean_description(description: str) -> str:
    description = " ".join((description or "").split())
    if len(description) > 100:
        raise ValidationError("The description has at most 100 characters.", code="description")
    return description


def clean_grace_seconds(grace_seconds: int) -> int:
    if not 0 <= grace_seconds <= settings.WEBHOOK_MAX_GRACE_SECONDS:
        raise ValidationError(
            "The grace period must be between 0 and %(hours)d hours.",
            code="grace",
            params={"hours": settings.WEBHOOK_MAX_GRACE_SECONDS // 3600},
        )
    return grace_seconds


def display_url(url: str) -> str:
    """The URL for logs and the audit trail: no query string (it may carry a receiver's token)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "…" if parts.query else "", ""))


def _snapshot(endpoint: Endpoint) -> dict[str, Any]:
    return {
        "url": display_url(endpoint.url),
        "event_types": list(endpoint.event_types),
        "description": endpoint.description,
        "active": endpoint.active,
    }


def _event(endpoint: Endpoint, kind: str, actor: User | None, actor_ip: str | None, **kw: Any) -> None:
    record_event(
        company=endpoint.company,
        kind=kind,
        actor=actor,
        actor_ip=actor_ip,
        target=f"Webhook {display_url(endpoint.url)}",
        **kw,
    )


# --- Secrets ----------------------------------------------------------------------------------


def _new_secret(endpoint: Endpoint) -> str:
    row = EndpointSecret.objects.create(endpoint=endpoint, salt=signing.new_salt())
    return signing.secret_text(signing.derive_key(endpoint.pk, row.salt))


def signing_keys(endpoint: Endpoint, *, now: datetime | None = None) -> list[bytes]:
    """The keys that sign the endpoint's requests now: the current one first, then a rotated one
    still in its grace period."""
    now = now or timezone.now()
    rows = endpoint.secrets.order_by("-created_at", "-pk")
    return [
        signing.derive_key(endpoint.pk, row.salt)
        for row in rows
        if row.expires_at is None or row.expires_at > now
    ]


# --- Endpoints --------------------------------------------------------------------------------


@transaction.atomic
def endpoint_create(
    *,
    company: Company,
    actor: User | None,
    url: str,
    event_types: Any = (STATUS_EVENT,),
    description: str = "",
    actor_ip: str | None = None,
) -> tuple[Endpoint, str]:
    """Create an endpoint. Returns it with its secret (`whsec_…`), shown once and never stored."""
    url = clean_url(url)
    event_types = clean_event_types(event_types)
    description = clean_description(description)
    Company.objects.select_for_update().filter(pk=company.pk).first()  # serialise the limit check
    if Endpoint.objects.filter(company=company).count() >= settings.WEBHOOKS_MAX_PER_COMPANY:
        raise ValidationError(
            "A company can have at most %(max)d webhook endpoints. Delete one you no longer use first.",
            code="limit",
            params={"max": settings.WEBHOOKS_MAX_PER_COMPANY},
        )
    endpoint = Endpoint.objects.create(
        company=company, url=url, event_types=event_types, description=description, created_by=actor
    )
    secret = _new_secret(endpoint)
    _event(endpoint, Kind.WEBHOOK_CREATED, actor, actor_ip, after=_snapshot(endpoint))
    return endpoint, secret


@transaction.atomic
def endpoint_update(
    *,
    endpoint: Endpoint,
    actor: User | None,
    url: str,
    event_types: Any,
    description: str = "",
    actor_ip: str | None = None,
) -> Endpoint:
    url = clean_url(url)
    event_types = clean_event_types(event_types)
    description = clean_description(description)
    endpoint = Endpoint.objects.select_for_update().select_related("company").get(pk=endpoint.pk)
    if (endpoint.url, endpoint.event_types, endpoint.description) == (url, event_types, description):
        return endpoint
    before = _snapshot(endpoint)
    endpoint.url, endpoint.event_types, endpoint.description = url, event_types, description
    after = _snapshot(endpoint)
    endpoint.updated_at = timezone.now()
    endpoint.save(update_fields=["url", "event_types", "description", "updated_at"])
    _event(endpoint, Kind.WEBHOOK_CHANGED, actor, actor_ip, before=before, after=after)
    return endpoint


@transaction.atomic
def endpoint_set_active(
    *,
    endpoint: Endpoint,
    actor: User | None,
    active: bool,
    reason: str = "",
    actor_ip: str | None = None,
) -> Endpoint:
    """Enable or disable. Disabling gives up the endpoint's queued events (FAILED, with the reason);
    enabling clears the disabled reason. A no-op writes nothing."""
    endpoint = Endpoint.objects.select_for_update().select_related("company").get(pk=endpoint.pk)
    if endpoint.active == active:
        return endpoint
    if active:
        endpoint.url = clean_url(endpoint.url)  # it may have become unsafe while disabled
    now = timezone.now()
    endpoint.active = active
    endpoint.disabled_reason = "" if active else (reason or "Disabled by a user")[:300]
    endpoint.updated_at = now
    endpoint.save(update_fields=["active", "disabled_reason", "updated_at"])
    if not active:
        fail_queued(endpoint_id=endpoint.pk, error=f"Endpoint disabled: {endpoint.disabled_reason}")
    _event(
        endpoint,
        Kind.WEBHOOK_ENABLED if active else Kind.WEBHOOK_DISABLED,
        actor,
        actor_ip,
        before={"active": not active},
        after={"active": active, **({} if active else {"reason": endpoint.disabled_reason})},
    )
    return endpoint


def fail_queued(*, endpoint_id: int, error: str) -> int:
    """Give up every queued (PENDING or SENDING) event of an endpoint."""
    return Delivery.objects.filter(
        endpoint_id=endpoint_id, status__in=[Status.PENDING, Status.SENDING]
    ).update(status=Status.FAILED, next_retry_at=None, last_error=error[:300])


@transaction.atomic
def endpoint_delete(*, endpoint: Endpoint, actor: User | None, actor_ip: str | None = None) -> None:
    endpoint = Endpoint.objects.select_for_update().select_related("company").get(pk=endpoint.pk)
    _event(endpoint, Kind.WEBHOOK_DELETED, actor, actor_ip, before=_snapshot(endpoint))
    endpoint.delete()


@transaction.atomic
def endpoint_rotate_secret(
    *,
    endpoint: Endpoint,
    actor: User | None,
    grace_seconds: int = 0,
    actor_ip: str | None = None,
) -> tuple[str, datetime | None]:
    """A new secret (returned, shown once). The current one keeps signing alongside it for
    `grace_seconds` (then stops), or stops at once; an older secret still in grace stops now.
    Returns (new secret, when the old one stops signing or None)."""
    grace_seconds = clean_grace_seconds(grace_seconds)
    endpoint = Endpoint.objects.select_for_update().select_related("company").get(pk=endpoint.pk)
    now = timezone.now()
    endpoint.secrets.exclude(expires_at=None).delete()
    old_until = now + timedelta(seconds=grace_seconds) if grace_seconds else None
    if old_until:
        endpoint.secrets.filter(expires_at=None).update(expires_at=old_until)
    else:
        endpoint.secrets.all().delete()
    secret = _new_secret(endpoint)
    _event(
        endpoint,
        Kind.WEBHOOK_SECRET_ROTATED,
        actor,
        actor_ip,
        after={"old_secret_valid_until": iso(old_until) if old_until else None},
    )
    return secret, old_until


# --- Events -----------------------------------------------------------------------------------


def envelope(delivery: Delivery, *, now: datetime) -> bytes:
    """The exact request body: GatewayAPI's envelope. `timestamp` is the time of this attempt (so a
    receiver can reject replays, and a retry is not rejected as old); `event.status_at` is when
    the status changed. Receivers must tolerate fields added later."""
    body = {
        "event_id": str(delivery.event_id),
        "timestamp": iso(now),
        "event_type": delivery.event_type,
        "event": delivery.payload,
    }
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


def status_event(
    *, msg_id: str, msisdn: str, reference: str, status: str, status_at: datetime, error: str
) -> dict[str, Any]:
    return {
        "msg_id": msg_id,
        "recipient": int(msisdn) if msisdn.isdigit() else msisdn,
        "reference": reference or None,
        "status": GATEWAYAPI_STATUS.get(status, "UNKNOWN"),
        "status_at": iso(status_at),
        "error": error or None,
    }


def _enqueue_on_commit(endpoint_ids: set[int]) -> None:
    from webhooks.delivery import enqueue_drain

    for endpoint_id in sorted(endpoint_ids):
        transaction.on_commit(partial(enqueue_drain, endpoint_id))


def record_status_events(*, message_id: int, changed_at: datetime) -> int:
    """The outbox half of the signal receiver: inside the transaction that changed the statuses,
    one Delivery row per (subscribed active endpoint, changed recipient), bulk-inserted; one drain
    task per endpoint after the commit. One query when the company has no endpoint. Returns the
    number of rows written."""
    endpoints = [
        e
        for e in Endpoint.objects.filter(active=True, company__messages__id=message_id).only(
            "pk", "event_types"
        )
        if e.subscribes_to(STATUS_EVENT)
    ]
    if not endpoints:
        return 0
    message = Message.objects.only("pk", "reference").get(pk=message_id)
    changed = (
        Recipient.objects.filter(message_id=message_id, status_at=changed_at)
        .order_by("pk")
        .values_list("message_uid", "msisdn", "status", "status_at", "error")
    )
    written = 0
    batch: list[Delivery] = []
    for uid, msisdn, status, status_at, error in changed.iterator(chunk_size=BULK_BATCH):
        payload = status_event(
            msg_id=uid,
            msisdn=msisdn,
            reference=message.reference,
            status=status,
            status_at=status_at,
            error=error,
        )
        batch.extend(
            Delivery(endpoint=e, event_type=STATUS_EVENT, payload=payload, next_retry_at=changed_at)
            for e in endpoints
        )
        if len(batch) >= BULK_BATCH:
            Delivery.objects.bulk_create(batch)
            written += len(batch)
            batch = []
    if batch:
        Delivery.objects.bulk_create(batch)
        written += len(batch)
    if written:
        _enqueue_on_commit({e.pk for e in endpoints})
    return written


@transaction.atomic
def send_test_event(*, endpoint: Endpoint) -> Delivery:
    """Queue a sample `message.status.sms` event (reference "webhook-test") for the endpoint."""
    if not endpoint.active:
        raise ValidationError("Enable the endpoint before sending it a test event.", code="inactive")
    now = timezone.now()
    payload = status_event(
        msg_id="test-" + signing.new_salt()[:12],
        msisdn="4512345678",
        reference="webhook-test",
        status=RStatus.DELIVERED,
        status_at=now,
        error="",
    )
    delivery = Delivery.objects.create(
        endpoint=endpoint, event_type=STATUS_EVENT, payload=payload, is_test=True, next_retry_at=now
    )
    _enqueue_on_commit({endpoint.pk})
    return delivery


@transaction.atomic
def delivery_resend(*, delivery: Delivery) -> Delivery:
    """Send a delivered or failed event again (same event id, so receivers can deduplicate),
    with a fresh attempt budget."""
    delivery = Delivery.objects.select_for_update().select_related("endpoint").get(pk=delivery.pk)
    if not delivery.endpoint.active:
        raise ValidationError("Enable the endpoint before resending its events.", code="inactive")
    if delivery.status not in (Status.DELIVERED, Status.FAILED):
        raise ValidationError("This event is still queued; it will be sent on its own.", code="queued")
    delivery.status = Status.PENDING
    delivery.attempts = 0
    delivery.next_retry_at = timezone.now()
    delivery.save(update_fields=["status", "attempts", "next_retry_at"])
    _enqueue_on_commit({delivery.endpoint_id})
    return delivery


# --- Retention --------------------------------------------------------------------------------


def purge_deliveries(*, older_than: datetime | timedelta, batch_size: int = 1000) -> int:
    """Delete delivery rows created before `older_than` (a moment, or an age before now), in
    batches of `batch_size` rows, each its own short transaction. Rows being sent (SENDING) are
    kept. Returns how many were deleted."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    cutoff = timezone.now() - older_than if isinstance(older_than, timedelta) else older_than
    old = Delivery.objects.filter(created_at__lt=cutoff).exclude(status=Status.SENDING)
    deleted = 0
    while True:
        ids = list(old.order_by("pk").values_list("pk", flat=True)[:batch_size])
        if not ids:
            return deleted
        deleted += Delivery.objects.filter(pk__in=ids).delete()[0]
