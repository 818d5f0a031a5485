from portal import dev_outbox
from portal.sms import SmsMessage
from portal.sms.backends import console


class SmsBackend(console.SmsBackend):
    """Console output plus the dev-only outbox page (/dev/outbox/)."""

    def send(self, message: SmsMessage) -> None:
        super().send(message)
        dev_outbox.append(channel="sms", to=message.to, subject="", body=message.body)
