from typing import Any
from urllib.parse import urlencode

import segno
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied, ValidationError
from django.forms import Form
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse, reverse_lazy
from django.utils.decorators import method_decorator
from django.utils.http import url_has_allowed_host_and_scheme
from django.views import View
from django.views.generic import FormView, TemplateView
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import selectors, services
from accounts.forms import (
    CodeForm,
    CompanyNameForm,
    ContactChangeForm,
    GateMobileForm,
    LoginForm,
    MemberAddForm,
    MemberRoleForm,
    SignUpForm,
)
from accounts.models import ContactChange, User
from accounts.otp import (
    CompanyMemberRequiredMixin,
    OtpVerifiedRequiredMixin,
    SecurityManagerRequiredMixin,
    gate_url,
    mark_session_verified,
    session_is_verified,
    totp_device_for,
)
from accounts.request import request_company, request_user

_GATE_DEVICE = "otp_gate_device"


def _safe_next(request: HttpRequest, default: str = "portal:dashboard") -> str:
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return reverse(default)


def _client_ip(request: HttpRequest) -> str | None:
    return request.META.get("REMOTE_ADDR")


# --- Sign-up, log in, log out, password reset ----------------------------------------------------


@method_decorator(login_not_required, name="dispatch")
class SignUpView(FormView):
    template_name = "accounts/signup.html"
    form_class = SignUpForm

    def form_valid(self, form: SignUpForm) -> HttpResponse:
        data = form.cleaned_data
        user = services.company_sign_up(
            company_name=data["company_name"],
            registered_mobile=data["registered_mobile"],
            registered_email=data["registered_email"],
            owner_email=data["email"],
            password=data["password1"],
            full_name=data["full_name"],
        )
        login(self.request, user, backend="django.contrib.auth.backends.ModelBackend")
        messages.success(
            self.request,
            f"Welcome! {user.company} is set up. Verify your registered mobile to manage keys.",
        )
        return redirect("portal:dashboard")


@method_decorator(login_not_required, name="dispatch")
class LoginView(auth_views.LoginView):
    template_name = "accounts/login.html"
    authentication_form = LoginForm
    redirect_authenticated_user = True


class LogoutView(auth_views.LogoutView):
    """POST only (Django's default); redirects to LOGOUT_REDIRECT_URL."""


@method_decorator(login_not_required, name="dispatch")
class PasswordResetView(auth_views.PasswordResetView):
    template_name = "accounts/password_reset.html"
    email_template_name = "accounts/password_reset_email.txt"
    subject_template_name = "accounts/password_reset_subject.txt"
    success_url = reverse_lazy("accounts:password_reset_done")


@method_decorator(login_not_required, name="dispatch")
class PasswordResetDoneView(auth_views.PasswordResetDoneView):
    template_name = "accounts/password_reset_done.html"


@method_decorator(login_not_required, name="dispatch")
class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    template_name = "accounts/password_reset_confirm.html"
    success_url = reverse_lazy("accounts:password_reset_complete")


@method_decorator(login_not_required, name="dispatch")
class PasswordResetCompleteView(auth_views.PasswordResetCompleteView):
    template_name = "accounts/password_reset_complete.html"


# --- The OTP gate -----------------------------------------------------------------------------


class OtpGateView(LoginRequiredMixin, View):
    """Step 1: type the registered mobile (or pick the authenticator app); a code is sent."""

    template_name = "accounts/otp_gate.html"

    def get(self, request: HttpRequest) -> HttpResponse:
        if session_is_verified(request):
            return HttpResponseRedirect(_safe_next(request))
        return self._render(GateMobileForm())

    def post(self, request: HttpRequest) -> HttpResponse:
        user = request_user(request)
        if request.POST.get("method") == "totp":
            device = totp_device_for(user)
            if device is None:
                messages.error(request, "You have no authenticator app set up.")
                return self._render(GateMobileForm())
            request.session[_GATE_DEVICE] = device.persistent_id
            return self._to_verify()
        form = GateMobileForm(request.POST)
        if not form.is_valid():
            return self._render(form, status=400)
        try:
            device, notice = services.otp_gate_request_code(user=user, mobile=form.cleaned_data["mobile"])
        except ValidationError as error:
            form.add_error("mobile", error)
            return self._render(form, status=400)
        request.session[_GATE_DEVICE] = device.persistent_id
        messages.info(request, notice)
        return self._to_verify()

    def _to_verify(self) -> HttpResponse:
        next_url = _safe_next(self.request)
        return HttpResponseRedirect(f"{reverse('accounts:otp_verify')}?{urlencode({'next': next_url})}")

    def _render(self, form: Form, status: int = 200) -> HttpResponse:
        user = request_user(self.request)
        context = {
            "form": form,
            "next": _safe_next(self.request),
            "has_totp": totp_device_for(user) is not None,
            "company": user.company,
        }
        return render(self.request, self.template_name, context, status=status)


class OtpVerifyView(LoginRequiredMixin, View):
    """Step 2: enter the code; the session id is rotated and the session marked verified."""

    template_name = "accounts/otp_verify.html"

    def get(self, request: HttpRequest) -> HttpResponse:
        if _GATE_DEVICE not in request.session:
            return HttpResponseRedirect(gate_url(_safe_next(request)))
        return self._render(CodeForm())

    def post(self, request: HttpRequest) -> HttpResponse:
        device_id = request.session.get(_GATE_DEVICE)
        form = CodeForm(request.POST)
        if not device_id:
            form.add_error(None, "Start by requesting a code.")
            return self._render(form, status=400)
        if not form.is_valid():
            return self._render(form, status=400)
        try:
            device = services.otp_gate_verify(
                user=request_user(request), device_id=device_id, code=form.cleaned_data["code"]
            )
        except ValidationError as error:
            form.add_error("code", error)
            return self._render(form, status=400)
        request.session.pop(_GATE_DEVICE, None)
        mark_session_verified(request, device)
        messages.success(request, "Verified. Security pages are open for this session.")
        return HttpResponseRedirect(_safe_next(request))

    def _render(self, form: Form, status: int = 200) -> HttpResponse:
        device_id = self.request.session.get(_GATE_DEVICE, "")
        context = {
            "form": form,
            "next": _safe_next(self.request),
            "via_totp": "totpdevice" in device_id,
        }
        return render(self.request, self.template_name, context, status=status)


class TotpSetupView(OtpVerifiedRequiredMixin, View):
    """Add an authenticator app as a second way through the gate (needs a verified session)."""

    template_name = "accounts/totp_setup.html"

    def get(self, request: HttpRequest) -> HttpResponse:
        return self._render(CodeForm())

    def post(self, request: HttpRequest) -> HttpResponse:
        user = request_user(request)
        action = request.POST.get("action")
        if action == "start":
            services.totp_device_start(user=user)
            return redirect("accounts:totp_setup")
        if action == "remove":
            services.totp_device_remove(user=user)
            messages.success(request, "The authenticator app was removed.")
            return redirect("accounts:totp_setup")
        form = CodeForm(request.POST)
        pending = TOTPDevice.objects.filter(user=user, confirmed=False).first()
        if pending is None:
            form.add_error(None, "Start the set-up first.")
            return self._render(form, status=400)
        if not form.is_valid():
            return self._render(form, status=400)
        try:
            services.totp_device_confirm(user=user, device=pending, code=form.cleaned_data["code"])
        except ValidationError as error:
            form.add_error("code", error)
            return self._render(form, status=400)
        messages.success(request, "Authenticator app added. You can use it at the verification step.")
        return redirect("accounts:totp_setup")

    def _render(self, form: Form, status: int = 200) -> HttpResponse:
        user = request_user(self.request)
        pending = TOTPDevice.objects.filter(user=user, confirmed=False).first()
        context: dict[str, Any] = {
            "form": form,
            "confirmed": totp_device_for(user),
            "pending": pending,
        }
        if pending is not None:
            context["qr_svg"] = segno.make(pending.config_url, error="m").svg_inline(scale=4)
            context["secret_b32"] = pending.config_url.split("secret=", 1)[1].split("&", 1)[0]
        return render(self.request, self.template_name, context, status=status)


# --- Company profile --------------------------------------------------------------------------


class CompanyProfileView(CompanyMemberRequiredMixin, TemplateView):
    template_name = "accounts/company.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        user = request_user(self.request)
        company = user.company
        assert company is not None
        return {
            **super().get_context_data(**kwargs),
            "company": company,
            "members": selectors.company_members(company=company),
            "name_form": CompanyNameForm(instance=company),
            "pending_change": selectors.open_contact_change(company=company),
            "verified": session_is_verified(self.request),
            "can_manage": user.can_manage_security,
        }


class CompanyRenameView(CompanyMemberRequiredMixin, SecurityManagerRequiredMixin, View):
    def post(self, request: HttpRequest) -> HttpResponse:
        company = request_company(request)
        form = CompanyNameForm(request.POST, instance=company)
        if form.is_valid():
            services.company_rename(company=company, name=form.cleaned_data["name"])
            messages.success(request, "Company name saved.")
        else:
            messages.error(request, "; ".join(str(e) for e in form.errors.get("name", ["Check the name."])))
        return redirect("accounts:company")


class ContactChangeStartView(
    CompanyMemberRequiredMixin, SecurityManagerRequiredMixin, OtpVerifiedRequiredMixin, View
):
    template_name = "accounts/contact_change_start.html"

    def get(self, request: HttpRequest, kind: str) -> HttpResponse:
        return self._render(ContactChangeForm(initial={"kind": kind}), kind)

    def post(self, request: HttpRequest, kind: str) -> HttpResponse:
        form = ContactChangeForm(request.POST)
        if not form.is_valid():
            return self._render(form, kind, status=400)
        try:
            change = services.contact_change_request(
                company=request_company(request),
                actor=request_user(request),
                kind=form.cleaned_data["kind"],
                new_value=form.cleaned_data["new_value"],
                ip=_client_ip(request),
            )
        except ValidationError as error:
            form.add_error("new_value", error)
            return self._render(form, kind, status=400)
        return redirect("accounts:contact_change_confirm", pk=change.pk)

    def _render(self, form: Form, kind: str, status: int = 200) -> HttpResponse:
        if kind not in ContactChange.Kind.values:
            kind = ContactChange.Kind.MOBILE
        context = {"form": form, "kind": kind, "kind_label": ContactChange.Kind(kind).label}
        return render(self.request, self.template_name, context, status=status)


class ContactChangeConfirmView(
    CompanyMemberRequiredMixin, SecurityManagerRequiredMixin, OtpVerifiedRequiredMixin, View
):
    template_name = "accounts/contact_change_confirm.html"

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        change = selectors.contact_change_for_company(company=request_company(request), pk=pk)
        return render(request, self.template_name, {"form": CodeForm(), "change": change})

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        change = selectors.contact_change_for_company(company=request_company(request), pk=pk)
        form = CodeForm(request.POST)
        if form.is_valid():
            try:
                services.contact_change_confirm(
                    change=change,
                    actor=request_user(request),
                    code=form.cleaned_data["code"],
                    ip=_client_ip(request),
                )
            except ValidationError as error:
                form.add_error("code", error)
            else:
                messages.success(request, f"{change.get_kind_display()} changed. The old one was notified.")
                return redirect("accounts:company")
        return render(request, self.template_name, {"form": form, "change": change}, status=400)


# --- Team -------------------------------------------------------------------------------------


class TeamView(CompanyMemberRequiredMixin, View):
    """Everyone sees the team; owners and admins with a verified session add and change users."""

    template_name = "accounts/team.html"

    def get(self, request: HttpRequest) -> HttpResponse:
        return self._render(MemberAddForm())

    def post(self, request: HttpRequest) -> HttpResponse:
        user = request_user(request)
        if not user.can_manage_security:
            raise PermissionDenied("Only the owner or an admin can add users.")
        if not session_is_verified(request):
            return HttpResponseRedirect(gate_url(request.path))
        form = MemberAddForm(request.POST)
        if form.is_valid():
            try:
                member = services.member_add(
                    company=request_company(request),
                    actor=user,
                    email=form.cleaned_data["email"],
                    full_name=form.cleaned_data["full_name"],
                    role=form.cleaned_data["role"],
                    site_url=request.build_absolute_uri("/"),
                )
            except ValidationError as error:
                form.add_error(None, error)
            else:
                messages.success(request, f"{member.email} was added and emailed a link to set a password.")
                return redirect("accounts:team")
        return self._render(form, status=400)

    def _render(self, form: Form, status: int = 200) -> HttpResponse:
        context = {
            "form": form,
            "members": selectors.company_members(company=request_company(self.request)),
            "roles": User.Role.choices,
            "can_manage": request_user(self.request).can_manage_security,
            "verified": session_is_verified(self.request),
        }
        return render(self.request, self.template_name, context, status=status)


class MemberChangeView(
    CompanyMemberRequiredMixin, SecurityManagerRequiredMixin, OtpVerifiedRequiredMixin, View
):
    """Change a user's role or remove them; HTMX requests get the re-rendered row back."""

    def post(self, request: HttpRequest, pk: int, action: str) -> HttpResponse:
        company = request_company(request)
        member = selectors.company_member(company=company, pk=pk)
        error = None
        try:
            if action == "role":
                form = MemberRoleForm(request.POST)
                if not form.is_valid():
                    raise ValidationError([str(e) for e in form.errors.get("role", ["Choose a role."])])
                services.member_set_role(
                    company=company,
                    actor=request_user(request),
                    member=member,
                    role=form.cleaned_data["role"],
                )
            elif action == "remove":
                services.member_remove(company=company, actor=request_user(request), member=member)
            else:
                raise Http404("Unknown action.")
        except ValidationError as exc:
            error = " ".join(exc.messages)
            member.refresh_from_db()
        if request.htmx:  # type: ignore[attr-defined]
            if action == "remove" and error is None:
                return HttpResponse("")
            context = {"member": member, "roles": User.Role.choices, "can_manage": True, "row_error": error}
            return render(request, "accounts/team.html#member_row", context, status=422 if error else 200)
        if error:
            messages.error(request, error)
        else:
            messages.success(request, f"{member.email}: {'removed' if action == 'remove' else 'role saved'}.")
        return redirect("accounts:team")
