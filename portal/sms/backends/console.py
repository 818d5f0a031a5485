import sys

from portal.sms import SmsMessage
from portal.sms.backends.base import BaseSmsBackend


class SmsBackend(BaseSmsBackend):
    development_only = True

    def send(self, message: SmsMessage) -> None:
        sys.stdout.write(f"[SMS to {message.to} from {message.sender}] {message.body}\n")
        sys.stdout.flush()
