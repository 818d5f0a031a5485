"""The gateway through which the portal itself sends SMS (OTP codes, notices, alerts).

Modelled on django.core.mail: the backend is named by the SMS_BACKEND setting.
"""

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from django.conf import settings
from django.utils.module_loading import import_string

if TYPE_CHECKING:
    from portal.sms.backends.base import BaseSmsBackend


@dataclass(frozen=True)
class SmsMessage:
    to: str
    body: str
    sender: str = field(default_factory=lambda: settings.SMS_SENDER_ID)
    # True when the body carries a secret (an OTP): backends must never log such a body
    # outside development.
    sensitive: bool = False


def get_backend(path: str | None = None) -> "BaseSmsBackend":
    backend_class = import_string(path or settings.SMS_BACKEND)
    return backend_class()


def send_sms(*, to: str, body: str, sensitive: bool = False) -> None:
    get_backend().send(SmsMessage(to=to, body=body, sensitive=sensitive))
