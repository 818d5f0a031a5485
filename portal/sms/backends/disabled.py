from portal.sms import SmsMessage
from portal.sms.backends.base import BaseSmsBackend, SmsDeliveryError


class SmsBackend(BaseSmsBackend):
    """Production default until an operator names a real upstream gateway in SMS_BACKEND."""

    def send(self, message: SmsMessage) -> None:
        raise SmsDeliveryError(
            "No SMS gateway is configured: set SMS_BACKEND to an upstream gateway backend."
        )
