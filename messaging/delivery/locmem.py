"""In-memory backend for tests, like django.core.mail.backends.locmem."""

from collections.abc import Sequence

from messaging.delivery.base import BaseBackend, Outcome
from messaging.models import Message, Recipient

#: (request_id, msisdn, text) per recipient handed over, in order. Tests empty it.
outbox: list[tuple[str, str, str]] = []


class Backend(BaseBackend):
    development_only = True

    def send(self, message: Message, recipients: Sequence[Recipient]) -> list[Outcome]:
        outbox.extend((message.request_id, r.msisdn, message.text) for r in recipients)
        return [Outcome(r.pk, Recipient.Status.ENROUTE) for r in recipients]
