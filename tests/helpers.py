"""Small helpers shared by the test suites."""

import re

from django.test import Client
from django.urls import reverse

from portal.sms import SmsMessage


def last_code(outbox: list[SmsMessage], to: str | None = None) -> str:
    """The 6-digit code in the newest SMS (to `to`, if given)."""
    for message in reversed(outbox):
        if to is None or message.to == to:
            match = re.search(r"\b(\d{6})\b", message.body)
            if match:
                return match.group(1)
    raise AssertionError(f"no code was texted{f' to {to}' if to else ''}: {outbox!r}")


def pass_otp_gate(client: Client, user, outbox: list[SmsMessage]) -> None:  # type: ignore[no-untyped-def]
    """Drive the real gate: type the registered mobile, read the code, submit it."""
    mobile = user.company.registered_mobile
    response = client.post(reverse("accounts:otp_gate"), {"mobile": mobile})
    assert response.status_code == 302, response.content
    response = client.post(reverse("accounts:otp_verify"), {"code": last_code(outbox, mobile)})
    assert response.status_code == 302, response.content
