from collections.abc import Sequence

from django.core.mail import EmailMessage
from django.core.mail.backends.console import EmailBackend as ConsoleEmailBackend

from portal import dev_outbox


class DevOutboxEmailBackend(ConsoleEmailBackend):
    """Development email: printed to the console and listed on /dev/outbox/."""

    def send_messages(self, email_messages: Sequence[EmailMessage]) -> int:
        sent = super().send_messages(email_messages)
        for message in email_messages:
            dev_outbox.append(
                channel="email",
                to=", ".join(message.to),
                subject=str(message.subject),
                body=str(message.body),
            )
        return sent
