"""Real delivery backends that fail, for the retry tests (named in settings, like any backend)."""

from smtplib import SMTPException

from django.core.mail.backends.base import BaseEmailBackend

from portal.sms import SmsMessage
from portal.sms.backends import locmem
from portal.sms.backends.base import BaseSmsBackend, SmsDeliveryError

attempts: list[str] = []  # one entry per send attempt, whatever the channel
failures_left = {"count": 0}  # FlakySmsBackend fails this many times, then delivers


class DownSmsBackend(BaseSmsBackend):
    def send(self, message: SmsMessage) -> None:
        attempts.append(message.to)
        raise SmsDeliveryError("gateway answered 503")


class FlakySmsBackend(BaseSmsBackend):
    def send(self, message: SmsMessage) -> None:
        attempts.append(message.to)
        if failures_left["count"] > 0:
            failures_left["count"] -= 1
            raise SmsDeliveryError("gateway timed out")
        locmem.outbox.append(message)


class DownEmailBackend(BaseEmailBackend):
    def send_messages(self, email_messages):  # type: ignore[no-untyped-def]
        attempts.extend(",".join(m.to) for m in email_messages)
        raise SMTPException("421 service not available")
