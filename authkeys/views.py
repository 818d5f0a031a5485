"""The Authkey page: keys, their IP security panels and the company-level IP security.

Every page sits behind the OTP gate (a verified session) and needs a company. Everyone in the
company may look; every change needs an owner or admin (members get 403). Objects are fetched
through selectors with the user's company, so another company's objects are 404. Writes go
through authkeys.services; the full key is rendered once, in the response to the POST that made it.
"""

from datetime import datetime, timedelta
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.forms import Form
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.views import View

from accounts.otp import CompanyMemberRequiredMixin, OtpVerifiedRequiredMixin, SecurityManagerRequiredMixin
from accounts.request import request_company, request_user
from authkeys import auth, selectors, services
from authkeys.forms import (
    GRACE_CHOICES,
    IpAddForm,
    KeyCreateForm,
    KeySettingsForm,
    RegenerateForm,
    SwitchForm,
)
from authkeys.models import AuthKey

# HTMX re-renders of a form with errors: 422, which htmx is configured to swap (base.html) and which
# django-htmx's DEBUG error overlay leaves alone (it takes over the page on 400). Plain POSTs get 400.
HTMX_INVALID = 422

# Which form field a service refusal belongs to (by the ValidationError's code).
_FIELD_FOR_CODE = {
    "required": "name",
    "special_characters": "name",
    "taken": "name",
    "expiry_past": "expires_at",
    "validity_order": "expires_at",
    "foreign_rule": "rule",
}


def _is_htmx(request: HttpRequest) -> bool:
    return bool(getattr(request, "htmx", False))


def _require_manager(request: HttpRequest) -> None:
    if not request_user(request).can_manage_security:
        raise PermissionDenied("Only the company's owner or an admin can change security settings.")


def _field_for(error: ValidationError) -> str | None:
    return _FIELD_FOR_CODE.get(getattr(error, "code", None) or "")


def _unless_untouched(typed: datetime | None, stored: datetime | None) -> datetime | None:
    """A datetime-local input shows minutes only: the stored value when the typed one is it."""
    if typed is not None and stored is not None and typed == stored.replace(second=0, microsecond=0):
        return stored
    return typed


def _grace_label(seconds: int) -> str:
    return dict(GRACE_CHOICES).get(seconds, f"{seconds} s")


class KeySectionMixin(CompanyMemberRequiredMixin, OtpVerifiedRequiredMixin):
    """Any role may look."""


class KeyManagerMixin(CompanyMemberRequiredMixin, SecurityManagerRequiredMixin, OtpVerifiedRequiredMixin):
    """Pages that only exist to change something: owners and admins only."""


def _security_context(request: HttpRequest) -> dict[str, Any]:
    company = request_company(request)
    return {
        "can_manage": request_user(request).can_manage_security,
        "additional_security": selectors.additional_security_enabled(company=company),
        "company_ips": selectors.company_allowed_ips(company=company),
    }


def _show_secret(request: HttpRequest, authkey: AuthKey, secret: str, **extra: Any) -> HttpResponse:
    """The one and only time the full key is shown: in the response to the POST that made it."""
    response = render(request, "authkeys/key_secret.html", {"authkey": authkey, "secret": secret, **extra})
    add_never_cache_headers(response)
    return response


# --- The list ---------------------------------------------------------------------------------


class AuthkeyIndexView(KeySectionMixin, View):
    template_name = "authkeys/index.html"

    def get(self, request: HttpRequest) -> HttpResponse:
        context = {
            "keys": selectors.authkeys_for_company(company=request_company(request)),
            **_security_context(request),
        }
        return render(request, self.template_name, context)


class KeyToggleView(KeyManagerMixin, View):
    """The IP security and status switches. HTMX gets the re-rendered row (or panel switch) back."""

    setting = "status"  # or "ip_security"

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        company = request_company(request)
        authkey = selectors.authkey_for_company(company=company, pk=pk)
        form = SwitchForm(request.POST)
        if not form.is_valid():
            return HttpResponse("Choose on or off.", status=400, content_type="text/plain")
        enabled = form.cleaned_data["enabled"]
        in_panel = form.cleaned_data["view"] == "panel"
        if self.setting == "ip_security":
            services.authkey_set_ip_security(
                authkey=authkey,
                actor=request_user(request),
                enabled=enabled,
                actor_ip=auth.client_ip(request),
            )
            notice = f"IP security of {authkey.name} is {'on' if enabled else 'off'}."
        else:
            services.authkey_set_enabled(
                authkey=authkey,
                actor=request_user(request),
                enabled=enabled,
                actor_ip=auth.client_ip(request),
            )
            notice = f"{authkey.name} is {'enabled' if enabled else 'disabled'}."
        if _is_htmx(request):
            context: dict[str, Any] = {"can_manage": True}
            if in_panel:
                context["authkey"] = selectors.authkey_for_company(company=company, pk=pk)
                context["additional_security"] = selectors.additional_security_enabled(company=company)
                return render(request, "authkeys/key_ips.html#ip_security_switch", context)
            context["key"] = selectors.authkeys_for_company(company=company).get(pk=pk)
            return render(request, "authkeys/index.html#key_row", context)
        messages.success(request, notice)
        return redirect("authkeys:key_ips", pk=pk) if in_panel else redirect("authkeys:index")


# --- Create, edit, regenerate, delete ---------------------------------------------------------


class KeyCreateView(KeyManagerMixin, View):
    template_name = "authkeys/key_form.html"

    def get(self, request: HttpRequest) -> HttpResponse:
        return self._render(KeyCreateForm(company=request_company(request)))

    def post(self, request: HttpRequest) -> HttpResponse:
        company = request_company(request)
        form = KeyCreateForm(request.POST, company=company)
        if not form.is_valid():
            return self._render(form, status=400)
        data = form.cleaned_data
        user, actor_ip = request_user(request), auth.client_ip(request)
        field: str | None = None
        try:
            # The key and its IPs together: an IP the service refuses leaves no key behind.
            with transaction.atomic():
                authkey, secret = services.authkey_create(
                    company=company,
                    actor=user,
                    name=data["name"],
                    use_case=data["use_case"],
                    rule=data["rule"],
                    ip_security=data["ip_security"],
                    valid_from=data["valid_from"],
                    expires_at=data["expires_at"],
                    actor_ip=actor_ip,
                )
                field = "whitelist_ips"
                for entry in data["whitelist_ips"]:
                    services.key_ip_add(authkey=authkey, actor=user, entry=entry, actor_ip=actor_ip)
        except ValidationError as error:
            form.add_error(field or _field_for(error), error)
            return self._render(form, status=400)
        return _show_secret(request, authkey, secret, regenerated=False)

    def _render(self, form: Form, status: int = 200) -> HttpResponse:
        company = request_company(self.request)
        context = {
            "form": form,
            "creating": True,
            "use_cases": selectors.use_cases(company=company),
            "company_ips": selectors.company_allowed_ips(company=company),
        }
        return render(self.request, self.template_name, context, status=status)


class KeyEditView(KeyManagerMixin, View):
    """The pencil: name, use case, rule and validity (valid from, valid to)."""

    template_name = "authkeys/key_form.html"

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        authkey = selectors.authkey_for_company(company=request_company(request), pk=pk)
        initial = {
            "name": authkey.name,
            "use_case": authkey.use_case,
            "rule": authkey.rule,
            "valid_from": authkey.valid_from,
            "expires_at": authkey.expires_at,
        }
        return self._render(authkey, KeySettingsForm(initial=initial, company=request_company(request)))

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        company = request_company(request)
        authkey = selectors.authkey_for_company(company=company, pk=pk)
        form = KeySettingsForm(request.POST, company=company)
        if not form.is_valid():
            return self._render(authkey, form, status=400)
        data = form.cleaned_data
        # Untouched values stay exact (the inputs show minutes only).
        expires_at = _unless_untouched(data["expires_at"], authkey.expires_at)
        valid_from = _unless_untouched(data["valid_from"], authkey.valid_from)
        try:
            services.authkey_update(
                authkey=authkey,
                actor=request_user(request),
                name=data["name"],
                use_case=data["use_case"],
                rule=data["rule"],
                valid_from=valid_from,
                expires_at=expires_at,
                actor_ip=auth.client_ip(request),
            )
        except ValidationError as error:
            form.add_error(_field_for(error), error)
            return self._render(authkey, form, status=400)
        messages.success(request, f"Settings of {data['name']} saved.")
        return redirect("authkeys:index")

    def _render(self, authkey: AuthKey, form: Form, status: int = 200) -> HttpResponse:
        context = {
            "form": form,
            "authkey": authkey,
            "creating": False,
            "use_cases": selectors.use_cases(company=request_company(self.request)),
        }
        return render(self.request, self.template_name, context, status=status)


class KeyRegenerateView(KeyManagerMixin, View):
    template_name = "authkeys/key_regenerate.html"

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        authkey = selectors.authkey_for_company(company=request_company(request), pk=pk)
        return render(request, self.template_name, {"authkey": authkey, "form": RegenerateForm()})

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        authkey = selectors.authkey_for_company(company=request_company(request), pk=pk)
        form = RegenerateForm(request.POST)
        if form.is_valid():
            grace = form.cleaned_data["grace_seconds"]
            try:
                secret = services.authkey_regenerate(
                    authkey=authkey,
                    actor=request_user(request),
                    grace_seconds=grace,
                    actor_ip=auth.client_ip(request),
                )
            except ValidationError as error:
                form.add_error("grace_seconds", error)
            else:
                authkey = selectors.authkey_for_company(company=request_company(request), pk=pk)
                return _show_secret(
                    request,
                    authkey,
                    secret,
                    regenerated=True,
                    grace_label=_grace_label(grace),
                    old_key_until=timezone.now() + timedelta(seconds=grace) if grace else None,
                )
        return render(request, self.template_name, {"authkey": authkey, "form": form}, status=400)


class KeyDeleteView(KeyManagerMixin, View):
    template_name = "authkeys/key_delete.html"

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        authkey = selectors.authkey_for_company(company=request_company(request), pk=pk)
        return render(request, self.template_name, {"authkey": authkey})

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        authkey = selectors.authkey_for_company(company=request_company(request), pk=pk)
        services.authkey_delete(
            authkey=authkey, actor=request_user(request), actor_ip=auth.client_ip(request)
        )
        messages.success(request, f"The key {authkey.name} was deleted.")
        return redirect("authkeys:index")


# --- IP security ------------------------------------------------------------------------------


def _add_entries(request: HttpRequest, form: IpAddForm, add: Any) -> list[str] | None:
    """Add every entry of the form in one transaction (all or none); errors go on the form."""
    if not form.is_valid():
        return None
    entries: list[str] = form.cleaned_data["entries"]
    added: list[str] = []
    try:
        with transaction.atomic():
            for entry in entries:
                added.append(
                    add(entry=entry, actor=request_user(request), actor_ip=auth.client_ip(request)).network
                )
    except ValidationError as error:
        form.add_error("entries", error)
        return None
    return added


def _render_panel(
    request: HttpRequest,
    authkey: AuthKey,
    *,
    ip_form: IpAddForm | None = None,
    company_ip_form: IpAddForm | None = None,
    status: int = 200,
) -> HttpResponse:
    context = {
        "authkey": authkey,
        "key_ips": selectors.key_allowed_ips(authkey=authkey),
        "ip_form": ip_form or IpAddForm(),
        "company_ip_form": company_ip_form or IpAddForm(prefix="company"),
        **_security_context(request),
    }
    return render(request, "authkeys/key_ips.html", context, status=status)


class KeyIpsView(KeySectionMixin, View):
    """The arrow: a key's IP security switch and whitelisted IPs, the company's whitelisted IPs and
    the Additional Security switch. POST adds IPs to the key."""

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        authkey = selectors.authkey_for_company(company=request_company(request), pk=pk)
        return _render_panel(request, authkey)

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        _require_manager(request)
        authkey = selectors.authkey_for_company(company=request_company(request), pk=pk)
        form = IpAddForm(request.POST)
        added = _add_entries(request, form, lambda **kw: services.key_ip_add(authkey=authkey, **kw))
        if _is_htmx(request):
            if added is not None:
                form = IpAddForm()
            context = {
                "authkey": authkey,
                "key_ips": selectors.key_allowed_ips(authkey=authkey),
                "ip_form": form,
                "can_manage": True,
                "added": added,
            }
            status = HTMX_INVALID if added is None else 200
            return render(request, "authkeys/key_ips.html#key_ip_section", context, status=status)
        if added is None:
            return _render_panel(request, authkey, ip_form=form, status=400)
        messages.success(request, f"Whitelisted for {authkey.name}: {', '.join(added)}.")
        return redirect("authkeys:key_ips", pk=authkey.pk)


class KeyIpDeleteView(KeyManagerMixin, View):
    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        allowed = selectors.key_allowed_ip_for_company(company=request_company(request), pk=pk)
        services.key_ip_delete(allowed=allowed, actor=request_user(request), actor_ip=auth.client_ip(request))
        if _is_htmx(request):
            return HttpResponse("")
        messages.success(request, f"{allowed.network} is no longer whitelisted for {allowed.authkey.name}.")
        return redirect("authkeys:key_ips", pk=allowed.authkey_id)


def _panel_key(request: HttpRequest) -> AuthKey | None:
    """The key whose panel a company-wide form was posted from (to go back to it)."""
    raw = request.POST.get("key") or request.GET.get("key") or ""
    if not raw.isdigit():
        return None
    return selectors.authkey_for_company(company=request_company(request), pk=int(raw))


def _back(authkey: AuthKey | None) -> HttpResponse:
    if authkey is not None:
        return redirect("authkeys:key_ips", pk=authkey.pk)
    return redirect("authkeys:index")


class CompanyIpAddView(KeyManagerMixin, View):
    """Whitelist IPs for the whole company (every key)."""

    def post(self, request: HttpRequest) -> HttpResponse:
        company = request_company(request)
        authkey = _panel_key(request)
        form = IpAddForm(request.POST, prefix="company")
        added = _add_entries(request, form, lambda **kw: services.company_ip_add(company=company, **kw))
        if _is_htmx(request):
            if added is not None:
                form = IpAddForm(prefix="company")
            context = {
                "authkey": authkey,
                "company_ips": selectors.company_allowed_ips(company=company),
                "company_ip_form": form,
                "can_manage": True,
                "company_added": added,
            }
            status = HTMX_INVALID if added is None else 200
            return render(request, "authkeys/key_ips.html#company_ip_section", context, status=status)
        if added is None:
            if authkey is not None:
                return _render_panel(request, authkey, company_ip_form=form, status=400)
            messages.error(request, " ".join(str(error) for error in form.errors.get("entries", [])))
            return redirect("authkeys:index")
        messages.success(request, f"Whitelisted for every key of the company: {', '.join(added)}.")
        return _back(authkey)


class CompanyIpDeleteView(KeyManagerMixin, View):
    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        allowed = selectors.company_allowed_ip_for_company(company=request_company(request), pk=pk)
        authkey = _panel_key(request)
        services.company_ip_delete(
            allowed=allowed, actor=request_user(request), actor_ip=auth.client_ip(request)
        )
        if _is_htmx(request):
            return HttpResponse("")
        messages.success(request, f"{allowed.network} is no longer whitelisted for the company.")
        return _back(authkey)


class AdditionalSecurityView(KeyManagerMixin, View):
    """The confirmation step of the company-level Additional Security switch (on and off)."""

    template_name = "authkeys/key_additional_security.html"

    def get(self, request: HttpRequest) -> HttpResponse:
        enable = request.GET.get("enable", "1") == "1"
        return self._render(SwitchForm(initial={"enabled": "1" if enable else "0"}), enable)

    def post(self, request: HttpRequest) -> HttpResponse:
        form = SwitchForm(request.POST)
        enable = request.POST.get("enabled") == "1"
        if form.is_valid():
            enable = form.cleaned_data["enabled"]
            try:
                services.additional_security_set(
                    company=request_company(request),
                    actor=request_user(request),
                    enabled=enable,
                    actor_ip=auth.client_ip(request),
                )
            except ValidationError as error:
                form.add_error(None, error)
            else:
                messages.success(request, f"Additional Security is {'on' if enable else 'off'}.")
                return _back(_panel_key(request))
        return self._render(form, enable, status=400)

    def _render(self, form: Form, enable: bool, status: int = 200) -> HttpResponse:
        company = request_company(self.request)
        keys = selectors.authkeys_for_company(company=company)
        context = {
            "form": form,
            "enable": enable,
            "authkey": _panel_key(self.request),
            "keys_without_ips": [key for key in keys if key.ip_count == 0],  # type: ignore[attr-defined]
            "keys_ip_security_off": [key for key in keys if not key.ip_security],
            "key_count": len(keys),
            **_security_context(self.request),
        }
        return render(self.request, self.template_name, context, status=status)
