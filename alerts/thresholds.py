"""Alerts on thresholds, found by a periodic check (not on the API's hot path):

- low balance: a company whose balance is below the threshold it set (Settings → Balance) gets one
  email and one SMS per episode. An episode is identified by the company's latest balance credit
  and the threshold, so a top-up (or a new threshold) starts a new one and the check running every
  few minutes never repeats an alert;
- key expiry: every enabled key whose `expires_at` falls within `ALERTS_KEY_EXPIRY_DAYS` gets one
  email, once per key and expiry time (moving the expiry later alerts again when it nears).

Rows use the same Alert model, dedupe keys and delivery as every other alert.
"""

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Max
from django.utils import timezone

from accounts.models import Company
from alerts.models import Alert
from alerts.services import enqueue
from authkeys import selectors as authkey_selectors

Kind = Alert.Kind
Channel = Alert.Channel


def _create(
    *, company_id: int, kind: str, channels: list[str], dedupe: str, subject: str, details: dict[str, Any]
) -> list[int]:
    created: list[int] = []
    for channel in channels:
        try:
            with transaction.atomic():
                alert, new = Alert.objects.get_or_create(
                    dedupe_key=dedupe,
                    channel=channel,
                    defaults={
                        "company_id": company_id,
                        "kind": kind,
                        "subject": subject[:200],
                        "summary": subject[:300],
                        "details": details,
                    },
                )
        except IntegrityError:  # another checker created it at the same moment
            continue
        if new:
            created.append(alert.pk)
    enqueue(created)
    return created


def low_balance_alerts(*, now: datetime | None = None) -> int:
    """Create the due low-balance alerts; returns how many rows were created."""
    now = now or timezone.now()
    created = 0
    below = (
        Company.objects.filter(
            status=Company.Status.ACTIVE,
            low_balance_threshold__isnull=False,
            sms_balance__lt=F("low_balance_threshold"),
        )
        .annotate(last_credit=Max("balance_credits__id"))
        .values_list("pk", "sms_balance", "low_balance_threshold", "last_credit")
    )
    for company_id, balance, threshold, last_credit in below:
        details = {
            "balance": balance,
            "threshold": threshold,
            "at": timezone.localtime(now).strftime("%Y-%m-%d %H:%M %Z"),
        }
        created += len(
            _create(
                company_id=company_id,
                kind=Kind.LOW_BALANCE,
                channels=[Channel.EMAIL, Channel.SMS],
                dedupe=f"low_balance:{company_id}:{last_credit or 0}:{threshold}",
                subject=f"SMS balance low: {balance} credits (alert below {threshold})",
                details=details,
            )
        )
    return created


def key_expiry_alerts(*, now: datetime | None = None) -> int:
    """Create the due key-expiry alerts; returns how many rows were created."""
    now = now or timezone.now()
    expiring = authkey_selectors.keys_expiring(
        within=timedelta(days=settings.ALERTS_KEY_EXPIRY_DAYS), now=now
    ).values_list("pk", "company_id", "name", "display_prefix", "expires_at")
    created = 0
    for key_id, company_id, name, prefix, expires_at in expiring:
        assert expires_at is not None  # filtered above
        when = timezone.localtime(expires_at).strftime("%Y-%m-%d %H:%M %Z")
        created += len(
            _create(
                company_id=company_id,
                kind=Kind.KEY_EXPIRING,
                channels=[Channel.EMAIL],
                dedupe=f"key_expiring:{key_id}:{expires_at.isoformat()}",
                subject=f"API key “{name}” expires on {when}",
                details={"key": name, "prefix": prefix, "expires": when, "days": (expires_at - now).days},
            )
        )
    return created
