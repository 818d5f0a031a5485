"""A delivery backend for real-worker tests: appends one line per recipient handed over
("<message id> <message_uid>") to the file named by RECORDING_BACKEND_PATH, so a test in another
process can count deliveries and see any duplicate. O_APPEND writes of one short line are atomic."""

import os
from collections.abc import Sequence

from messaging.delivery.base import BaseBackend, Outcome
from messaging.models import Message, Recipient


class Backend(BaseBackend):
    development_only = True

    def send(self, message: Message, recipients: Sequence[Recipient]) -> list[Outcome]:
        lines = "".join(f"{message.pk} {r.message_uid}\n" for r in recipients)
        with open(os.environ["RECORDING_BACKEND_PATH"], "a") as record:
            record.write(lines)
        return [Outcome(r.pk, Recipient.Status.ENROUTE) for r in recipients]
