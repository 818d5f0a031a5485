"""SMS section pages."""

from datetime import datetime, time, timedelta
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.decorators import method_decorator
from django.views import View
from django.views.generic import TemplateView

from accounts.otp import CompanyMemberRequiredMixin, OtpVerifiedRequiredMixin, SecurityManagerRequiredMixin
from accounts.request import request_company, request_user
from authkeys import scopes
from authkeys import selectors as authkey_selectors
from authkeys.auth import client_ip
from authkeys.forms import WhitelistTargetForm
from messaging import diagnostics, selectors, services
from messaging.catalogue import CATALOGUE, Code
from messaging.error_advice import ERROR_ADVICE
from messaging.forms import FailedLogFilterForm, IpCheckForm, RequestLookupForm
from messaging.models import FailedRequest

PAGE_SIZE = 50
HTMX_INVALID = 422  # the one 4xx htmx is configured to swap (base.html)


def _day_start(day: Any) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


class FailedLogsView(CompanyMemberRequiredMixin, View):
    """Every refused API request of the company, newest first (seed 001 "Failed Logs")."""

    def get(self, request: HttpRequest) -> HttpResponse:
        company = request_company(request)
        form = FailedLogFilterForm(
            request.GET or None, authkeys=authkey_selectors.authkeys_for_company(company=company)
        )
        rows: list[Any] = []
        next_cursor = ""
        if form.is_bound and not form.is_valid():
            status = 400
        else:
            status = 200
            data = form.cleaned_data if form.is_bound else {}
            filters = selectors.FailedLogFilters(
                code=data.get("code", ""),
                ip=data.get("ip", ""),
                key_prefix=data.get("key_prefix", "").strip(),
                authkey_id=data.get("key"),
                since=_day_start(data["since"]) if data.get("since") else None,
                until=_day_start(data["until"]) + timedelta(days=1) if data.get("until") else None,
            )
            rows = selectors.failed_requests(
                company=company,
                filters=filters,
                before=_cursor(data.get("before", "")),
                limit=PAGE_SIZE + 1,
            )
            if len(rows) > PAGE_SIZE:
                rows = rows[:PAGE_SIZE]
                last = rows[-1]
                next_cursor = f"{last.created_at.isoformat()}|{last.pk}"
        query = request.GET.copy()
        query.pop("before", None)
        context = {
            "form": form,
            "rows": rows,
            "next_cursor": next_cursor,
            "filter_query": query.urlencode(),
            "can_manage": request_user(request).can_manage_security,
        }
        return render(request, "messaging/failed_logs.html", context, status=status)


class FailedLogWhitelistView(
    CompanyMemberRequiredMixin, SecurityManagerRequiredMixin, OtpVerifiedRequiredMixin, View
):
    """The Whitelist action of a 418 row. GET: the inline form (HTMX: the row; otherwise a page
    holding that row). POST: whitelist the row's IP for a key or the company. Refusals come back
    to HTMX as the row with its error and status 422 (see authkeys.views_activity)."""

    template_name = "messaging/failed_logs.html"
    row_template = "messaging/failed_logs.html#failed_row"

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        row = self._row_or_404(pk)
        if request.GET.get("cancel"):
            if request.htmx:  # type: ignore[attr-defined]
                return self._render_row(row)
            return redirect("messaging:failed_logs")
        initial = {"target": str(row.authkey_id) if row.authkey_id else WhitelistTargetForm.COMPANY}
        return self._open(row, self._form(row, initial=initial))

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        company = request_company(request)
        row = self._row_or_404(pk)
        form = self._form(row, data=request.POST)
        if form.is_valid():
            key_pk = form.cleaned_data["target"]
            authkey = (
                None if key_pk is None else authkey_selectors.authkey_for_company(company=company, pk=key_pk)
            )
            try:
                services.failed_request_whitelist(
                    failed=row, actor=request_user(request), authkey=authkey, actor_ip=client_ip(request)
                )
            except ValidationError as error:
                form.add_error("target", error)
            else:
                note = (
                    f"Whitelisted for {authkey.name}." if authkey else "Whitelisted for all keys (company)."
                )
                if request.htmx:  # type: ignore[attr-defined]
                    return self._render_row(row, note=note)
                messages.success(request, f"{row.client_ip}: {note}")
                return redirect("messaging:failed_logs")
        return self._open(row, form, status=400)

    def _row_or_404(self, pk: int) -> FailedRequest:
        row = selectors.failed_request_for_company(company=request_company(self.request), pk=pk)
        if row.code != Code.IP_NOT_WHITELISTED or not row.client_ip:
            raise Http404("Only 418 rows with a client IP can be whitelisted.")
        return row

    def _form(self, row: FailedRequest, **kwargs: Any) -> WhitelistTargetForm:
        authkeys = authkey_selectors.authkeys_for_company(company=request_company(self.request))
        return WhitelistTargetForm(authkeys=authkeys, auto_id=f"wl{row.pk}_%s", **kwargs)

    def _open(self, row: FailedRequest, form: WhitelistTargetForm, status: int = 200) -> HttpResponse:
        context = {"row": row, "whitelist_form": form, "can_manage": True}
        if self.request.htmx:  # type: ignore[attr-defined]
            return render(
                self.request, self.row_template, context, status=HTMX_INVALID if form.errors else 200
            )
        return render(self.request, self.template_name, {**context, "single": True}, status=status)

    def _render_row(self, row: FailedRequest, note: str = "") -> HttpResponse:
        return render(self.request, self.row_template, {"row": row, "can_manage": True, "note": note})


class DebugView(CompanyMemberRequiredMixin, OtpVerifiedRequiredMixin, View):
    """SMS → Debug: look up a request id, and check whether a key would be accepted from an IP."""

    template_name = "messaging/debug.html"

    def get(self, request: HttpRequest) -> HttpResponse:
        company = request_company(request)
        authkeys = list(authkey_selectors.authkeys_for_company(company=company))
        lookup = RequestLookupForm(request.GET if "request_id" in request.GET else None)
        check = IpCheckForm(
            request.GET if "ip" in request.GET else None, authkeys=authkeys, initial=self._check_initial()
        )
        context: dict[str, Any] = {"lookup": lookup, "check": check, "has_keys": bool(authkeys)}
        status = 200
        if lookup.is_bound:
            if lookup.is_valid():
                context["report"] = selectors.request_report(
                    company=company, request_id=lookup.cleaned_data["request_id"]
                )
                context["looked_up"] = True
            else:
                status = 400
        if check.is_bound:
            if check.is_valid():
                authkey = authkey_selectors.authkey_for_company(company=company, pk=check.cleaned_data["key"])
                context["ip_check"] = diagnostics.ip_check(authkey=authkey, ip=check.cleaned_data["ip"])
            else:
                status = 400
        return render(request, self.template_name, context, status=status)

    def _check_initial(self) -> dict[str, str]:
        return {"ip": self.request.GET.get("for_ip", "")}


@method_decorator(login_not_required, name="dispatch")
class ErrorCodesView(TemplateView):
    """Public: the error-code reference, generated from the catalogue the API answers with."""

    template_name = "messaging/error_codes.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return {
            **super().get_context_data(**kwargs),
            "rows": [
                (entry, ERROR_ADVICE[entry.code])
                for entry in sorted(CATALOGUE.values(), key=lambda entry: entry.code.value)
            ],
        }


def _cursor(raw: str) -> tuple[datetime, int] | None:
    at, _, pk = raw.partition("|")
    parsed = parse_datetime(at) if at else None
    return (parsed, int(pk)) if parsed and pk.isdigit() else None


@method_decorator(login_not_required, name="dispatch")
class ApiDocsView(TemplateView):
    """Public: integrators read it before they have an account."""

    template_name = "messaging/api_docs.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return {
            **super().get_context_data(**kwargs),
            "catalogue": sorted(CATALOGUE.values(), key=lambda entry: entry.code.value),
            "base_url": self.request.build_absolute_uri("/").rstrip("/"),
            "max_parts": settings.SMS_MAX_PARTS,
            "scopes": sorted((scope, sorted(codes)) for scope, codes in scopes.SCOPES.items()),
            "key_create_per_day": settings.AUTHKEYS_API_CREATE_PER_DAY,
            "otp_length": settings.OTP_API_DEFAULT_LENGTH,
            "otp_expiry": settings.OTP_API_DEFAULT_EXPIRY_MINUTES,
            "otp_attempts": settings.OTP_API_MAX_VERIFY_ATTEMPTS,
            "otp_retries": settings.OTP_API_MAX_RETRIES,
            "auth_failures": settings.API_AUTH_FAILURES_PER_USERNAME,
            "auth_window": settings.API_AUTH_FAILURE_WINDOW_SECONDS,
        }
