"""Recent IPs (with the + button that whitelists one) and the security log.

Both pages sit behind the OTP gate. Everyone in the company may look; whitelisting is for owners
and admins. Rows of Recent IPs are written by the API (services.recent_ip_record).

A refused whitelist comes back to an HTMX request as the row with its error and status 422, the
one 4xx that htmx is configured to swap (htmx-config in base.html; a 400 would not be swapped, and
django-htmx's debug script would replace the whole page with it); plain form posts get a 400 page.
"""

from dataclasses import dataclass
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views import View

from accounts.otp import CompanyMemberRequiredMixin, OtpVerifiedRequiredMixin, SecurityManagerRequiredMixin
from accounts.request import request_company, request_user
from authkeys import selectors, services
from authkeys.auth import client_ip
from authkeys.forms import WhitelistTargetForm
from authkeys.models import RecentIP, SecurityEvent

PAGE_SIZE = 50
HTMX_INVALID = 422


# --- Recent IPs -------------------------------------------------------------------------------


class RecentIpsView(CompanyMemberRequiredMixin, OtpVerifiedRequiredMixin, View):
    template_name = "authkeys/recent_ips.html"

    def get(self, request: HttpRequest) -> HttpResponse:
        page = Paginator(selectors.recent_ips(company=request_company(request)), PAGE_SIZE).get_page(
            request.GET.get("page")
        )
        context = {"page": page, "can_manage": request_user(request).can_manage_security}
        return render(request, self.template_name, context)


class RecentIpWhitelistView(
    CompanyMemberRequiredMixin, SecurityManagerRequiredMixin, OtpVerifiedRequiredMixin, View
):
    """GET: the inline form (HTMX: the row; otherwise a page with that row). POST: whitelist."""

    template_name = "authkeys/recent_ips.html"
    row_template = "authkeys/recent_ips.html#ip_row"

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        recent = selectors.recent_ip_for_company(company=request_company(request), pk=pk)
        if request.GET.get("cancel"):
            if request.htmx:  # type: ignore[attr-defined]
                return self._row(recent)
            return redirect("authkeys:recent_ips")
        initial = {"target": str(recent.last_key_id) if recent.last_key_id else WhitelistTargetForm.COMPANY}
        return self._open(recent, self._form(recent, initial=initial))

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        company = request_company(request)
        recent = selectors.recent_ip_for_company(company=company, pk=pk)
        form = self._form(recent, data=request.POST)
        if form.is_valid():
            key_pk = form.cleaned_data["target"]
            authkey = None if key_pk is None else selectors.authkey_for_company(company=company, pk=key_pk)
            try:
                services.recent_ip_whitelist(
                    recent=recent, actor=request_user(request), authkey=authkey, actor_ip=client_ip(request)
                )
            except ValidationError as error:
                form.add_error("target", error)
            else:
                note = (
                    f"Whitelisted for {authkey.name}." if authkey else "Whitelisted for all keys (company)."
                )
                if request.htmx:  # type: ignore[attr-defined]
                    return self._row(recent, note=note)
                messages.success(request, f"{recent.ip}: {note}")
                return redirect("authkeys:recent_ips")
        return self._open(recent, form, status=400)

    def _form(self, recent: RecentIP, **kwargs: Any) -> WhitelistTargetForm:
        authkeys = selectors.authkeys_for_company(company=request_company(self.request))
        return WhitelistTargetForm(authkeys=authkeys, auto_id=f"wl{recent.pk}_%s", **kwargs)

    def _open(self, recent: RecentIP, form: WhitelistTargetForm, status: int = 200) -> HttpResponse:
        context = {"recent": recent, "form": form, "can_manage": True}
        if self.request.htmx:  # type: ignore[attr-defined]
            # A refusal is 422, which htmx swaps (see the module docstring).
            return render(
                self.request, self.row_template, context, status=HTMX_INVALID if form.errors else 200
            )
        return render(self.request, self.template_name, {**context, "single": True}, status=status)

    def _row(self, recent: RecentIP, note: str = "") -> HttpResponse:
        return render(self.request, self.row_template, {"recent": recent, "can_manage": True, "note": note})


# --- Security log -----------------------------------------------------------------------------


class SecurityLogFilterForm(forms.Form):
    kind = forms.ChoiceField(
        label="What",
        required=False,
        choices=[("", "All changes"), *SecurityEvent.Kind.choices],
    )


@dataclass(frozen=True)
class Change:
    label: str
    before: str | None
    after: str | None


@dataclass(frozen=True)
class EventRow:
    event: SecurityEvent
    actor: str
    changes: list[Change]


def _format_value(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, list | tuple):
        return ", ".join(_format_value(item) for item in value) or "none"
    if isinstance(value, dict):
        return "; ".join(f"{key}: {_format_value(item)}" for key, item in value.items()) or "—"
    return str(value)


def _as_mapping(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if isinstance(value, dict):
        return value
    return {"value": value}


def event_changes(before: Any, after: Any) -> list[Change]:
    """Before → after as key: value pairs, keys in the order they first appear."""
    old, new = _as_mapping(before), _as_mapping(after)
    fields = list(dict.fromkeys([*old, *new]))
    return [
        Change(
            label=str(field).replace("_", " "),
            before=_format_value(old[field]) if field in old else None,
            after=_format_value(new[field]) if field in new else None,
        )
        for field in fields
    ]


def event_actor(event: SecurityEvent) -> str:
    if event.actor_user is not None:
        return event.actor_user.email
    if event.actor_key is not None:
        return f"API key {event.actor_key.name}"
    return "staff/system"


class SecurityLogView(CompanyMemberRequiredMixin, OtpVerifiedRequiredMixin, View):
    template_name = "authkeys/security_log.html"

    def get(self, request: HttpRequest) -> HttpResponse:
        events = selectors.security_events(company=request_company(request))
        form = SecurityLogFilterForm(request.GET)
        kind = form.cleaned_data["kind"] if form.is_valid() else ""
        if kind:
            events = events.filter(kind=kind)
        page = Paginator(events, PAGE_SIZE).get_page(request.GET.get("page"))
        rows = [
            EventRow(event=event, actor=event_actor(event), changes=event_changes(event.before, event.after))
            for event in page
        ]
        kind_label = SecurityEvent.Kind(kind).label if kind else ""
        context = {"form": form, "page": page, "rows": rows, "kind": kind, "kind_label": kind_label}
        return render(request, self.template_name, context)
