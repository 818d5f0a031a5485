"""The OTP gate: which devices a user may verify with, and the verified-session window.

A session is "verified" when django-otp has a device recorded in it (django_otp.login) *and* our
window marker for the same user has not run out. Pages under the Authkey section and every
security setting require it.
"""

import time
from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlencode

import django_otp
from django.conf import settings
from django.contrib.auth.mixins import AccessMixin
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django_otp.models import Device
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import SMSDevice, User
from portal.sms import send_sms

_VERIFIED_UNTIL = "otp_gate_verified_until"
_VERIFIED_USER = "otp_gate_verified_user"


def deliver_sms_code(*, to: str, code: str) -> None:
    minutes = max(1, settings.OTP_SMS_TOKEN_VALIDITY // 60)
    send_sms(
        to=to,
        body=f"{code} is your SMS Portal verification code. It expires in {minutes} minutes. Never share it.",
        sensitive=True,
    )


def sms_device_for(user: User) -> SMSDevice:
    device, _ = SMSDevice.objects.get_or_create(
        user=user, defaults={"name": "Registered mobile", "confirmed": True}
    )
    return device


def totp_device_for(user: User) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=True).first()


def mark_session_verified(request: HttpRequest, device: Device) -> None:
    """Called only with a device returned by django_otp.verify_token for request.user."""
    django_otp.login(request, device)
    # A new session id: whatever knew the pre-verification id (fixation) gets nothing.
    request.session.cycle_key()
    request.session[_VERIFIED_UNTIL] = time.time() + settings.OTP_GATE_WINDOW_SECONDS
    request.session[_VERIFIED_USER] = request.user.pk


def session_is_verified(request: HttpRequest) -> bool:
    user = request.user
    if not user.is_authenticated or not getattr(user, "is_verified", lambda: False)():
        return False
    if request.session.get(_VERIFIED_USER) != user.pk:
        return False
    until = request.session.get(_VERIFIED_UNTIL)
    return isinstance(until, int | float) and time.time() < until


def verified_seconds_left(request: HttpRequest) -> int:
    if not session_is_verified(request):
        return 0
    return int(request.session[_VERIFIED_UNTIL] - time.time())


def gate_url(next_url: str) -> str:
    return f"{reverse('accounts:otp_gate')}?{urlencode({'next': next_url})}"


def otp_verified_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not session_is_verified(request):
            return _to_gate(request)
        return view(request, *args, **kwargs)

    return wrapped


def _to_gate(request: HttpRequest) -> HttpResponse:
    target = gate_url(request.get_full_path() if request.method == "GET" else request.path)
    if getattr(request, "htmx", False):
        response = HttpResponse(status=204)
        response["HX-Redirect"] = target
        return response
    return HttpResponseRedirect(target)


class OtpVerifiedRequiredMixin(AccessMixin):
    """Class-based form of otp_verified_required."""

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not session_is_verified(request):
            return _to_gate(request)
        return super().dispatch(request, *args, **kwargs)  # type: ignore[misc]


class SecurityManagerRequiredMixin(AccessMixin):
    """Owners and admins only: members may look at security settings but not change them."""

    raise_exception = True
    permission_denied_message = "Only the company's owner or an admin can change security settings."

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.can_manage_security:  # type: ignore[union-attr]
            return self.handle_no_permission()
        return super().dispatch(request, *args, **kwargs)  # type: ignore[misc]


class CompanyMemberRequiredMixin(AccessMixin):
    """Company pages need a company: staff users without one get a clear 403."""

    raise_exception = True
    permission_denied_message = "This page belongs to a company account; your user has no company."

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.user.company_id is None:  # type: ignore[union-attr]
            return self.handle_no_permission()
        return super().dispatch(request, *args, **kwargs)  # type: ignore[misc]
