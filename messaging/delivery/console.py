"""Prints one line per recipient, like django.core.mail.backends.console (development only)."""

import sys
import threading
from collections.abc import Sequence
from typing import TextIO

from messaging.delivery.base import BaseBackend, Outcome
from messaging.models import Message, Recipient


class Backend(BaseBackend):
    development_only = True

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout
        self._lock = threading.Lock()

    def send(self, message: Message, recipients: Sequence[Recipient]) -> list[Outcome]:
        text = message.text.replace("\\", "\\\\").replace("\n", "\\n")
        sender = message.sender or "-"
        lines = "".join(
            f"SMS {message.request_id} {r.message_uid} from {sender} to +{r.msisdn}: {text}\n"
            for r in recipients
        )
        with self._lock:
            self.stream.write(lines)
            self.stream.flush()
        return [Outcome(r.pk, Recipient.Status.ENROUTE) for r in recipients]
