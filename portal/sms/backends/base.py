from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from portal.sms import SmsMessage


class SmsDeliveryError(Exception):
    """The gateway could not accept the message."""


class BaseSmsBackend:
    #: Development-only backends write message bodies (OTPs included) where people can read
    #: them; the deploy check refuses them in production.
    development_only = False

    def send(self, message: "SmsMessage") -> None:
        raise NotImplementedError
