"""The default backend: a simulated gateway that accepts everything and, after a delay, reports a
final status decided deterministically by the recipient's number.

    number ends in   at submission                     delivery report (after the delay)
    --------------   -------------------------------   -------------------------------------
    0 1 2 3 4 5 6    ENROUTE                           DELIVERED
    7                ENROUTE                           UNDELIVERABLE  "Absent subscriber"
    8                ENROUTE                           EXPIRED        "Validity period expired"
    9 (not 99)       ENROUTE                           FAILED         "Network failure"
    99               REJECTED "Rejected by the network" (never ENROUTE, no report)

The report is the Celery task messaging.tasks.simulate_reports, scheduled with
countdown=SMS_SIMULATOR_REPORT_DELAY seconds (default 2) once the message is SUBMITTED; it updates
Recipient.status/error/status_at in a handful of bulk UPDATEs whatever the number of recipients.
"""

import logging
from collections.abc import Sequence

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from messaging.delivery.base import BaseBackend, Outcome
from messaging.models import Message, Recipient
from messaging.signals import recipient_statuses_changed

logger = logging.getLogger(__name__)

Status = Recipient.Status

REJECTED_SUFFIX = "99"
REJECTED_ERROR = "Rejected by the network"
#: (last digit, final status, error) in the order applied; every other ENROUTE number: DELIVERED.
REPORTS: list[tuple[str, str, str]] = [
    ("7", Status.UNDELIVERABLE, "Absent subscriber"),
    ("8", Status.EXPIRED, "Validity period expired"),
    ("9", Status.FAILED, "Network failure"),
]


def final_status(msisdn: str) -> tuple[str, str]:
    """The (status, error) the simulator ends with for this number: the table above, as code."""
    if msisdn.endswith(REJECTED_SUFFIX):
        return Status.REJECTED, REJECTED_ERROR
    for digit, status, error in REPORTS:
        if msisdn.endswith(digit):
            return status, error
    return Status.DELIVERED, ""


class Backend(BaseBackend):
    def send(self, message: Message, recipients: Sequence[Recipient]) -> list[Outcome]:
        return [
            Outcome(r.pk, Status.REJECTED, REJECTED_ERROR)
            if r.msisdn.endswith(REJECTED_SUFFIX)
            else Outcome(r.pk, Status.ENROUTE)
            for r in recipients
        ]

    def submitted(self, message: Message) -> None:
        from messaging.tasks import simulate_reports

        try:
            simulate_reports.apply_async((message.pk,), countdown=settings.SMS_SIMULATOR_REPORT_DELAY)
        except Exception:
            # The message itself is safe (SUBMITTED); only its simulated reports are missing.
            logger.exception("could not schedule the simulated delivery reports of message %s", message.pk)


def apply_reports(message_id: int) -> int:
    """Move the message's ENROUTE recipients to their final simulated status. Idempotent (only
    ENROUTE rows change). Returns the number of recipients updated."""
    now = timezone.now()
    enroute = Recipient.objects.filter(message_id=message_id, status=Status.ENROUTE)
    updated = 0
    with transaction.atomic():
        for digit, status, error in REPORTS:
            updated += enroute.filter(msisdn__endswith=digit).update(
                status=status, error=error, status_at=now
            )
        updated += enroute.update(status=Status.DELIVERED, error="", status_at=now)
        if updated:
            recipient_statuses_changed.send(Recipient, message_id=message_id, changed_at=now)
    return updated
