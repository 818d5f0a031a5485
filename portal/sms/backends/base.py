from abc import ABC, abstractmethod
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from portal.sms import SmsMessage


class SmsDeliveryError(Exception):
    """The gateway could not accept the message."""


class BaseSmsBackend(ABC):
    #: Development-only backends write message bodies (OTPs included) where people can read
    #: them; the deploy check refuses them in production.
    development_only = False

    @abstractmethod
    def send(self, message: "SmsMessage") -> None:
        """Hand one message to the gateway; raise SmsDeliveryError if it is not accepted."""
