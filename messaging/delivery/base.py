"""The interface every customer-message delivery backend implements.

Not to be confused with portal.sms.backends, the gateway through which the *portal* texts its own
users (OTP codes, notices): customer messages accepted by the API go through these backends.
"""

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from messaging.models import Message, Recipient


class DeliveryError(Exception):
    """The gateway could not take the chunk at all (unreachable, overloaded, 5xx).

    Transient: the delivery task releases its claim and retries with exponential backoff. A
    problem with one number is not a DeliveryError but an Outcome with a final status.
    """


class Outcome(NamedTuple):
    """What the gateway said about one recipient when it was handed over."""

    recipient_id: int
    status: str  # a Recipient.Status value other than ACCEPTED/SCHEDULED, usually ENROUTE
    error: str = ""


class BaseBackend(ABC):
    """Base class of delivery backends, in the manner of Django's email backends.

    `send()` is called once per chunk of at most SMS_DELIVERY_CHUNK_SIZE recipients, outside any
    database transaction, by exactly one worker holding the message's claim. The recipients carry
    only `pk`, `msisdn` and `message_uid` (other fields are deferred: do not touch them); the
    message is complete. `message_uid` is unique per recipient and the same on every attempt: a
    real gateway should receive it as its idempotency key / message id, which makes even the one
    chunk that a crash could resend harmless.
    """

    #: Backends that print or keep message bodies in memory; not for production.
    development_only = False

    @abstractmethod
    def send(self, message: "Message", recipients: Sequence["Recipient"]) -> list[Outcome]:
        """Hand the recipients over; return one Outcome per recipient (a missing one is recorded
        as FAILED). Raise DeliveryError if the gateway took none of them."""

    def submitted(self, message: "Message") -> None:  # noqa: B027 (an optional hook, not abstract)
        """Called once, after every recipient was handed over and Message.delivery=SUBMITTED is
        committed. Default: nothing (delivery reports arrive through their own channel)."""
