from portal.sms import SmsMessage
from portal.sms.backends.base import BaseSmsBackend

# The test outbox, like django.core.mail.outbox.
outbox: list[SmsMessage] = []


class SmsBackend(BaseSmsBackend):
    def send(self, message: SmsMessage) -> None:
        outbox.append(message)
