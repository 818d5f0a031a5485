"""Reports (sent messages, CSV export), the dashboard and the balance page."""

import csv
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from django.contrib import messages
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseBase, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.views import View

from accounts import services as account_services
from accounts.otp import CompanyMemberRequiredMixin, session_is_verified, verified_seconds_left
from accounts.request import request_company, request_user
from authkeys import selectors as authkey_selectors
from messaging.models import Recipient
from reports import charts, selectors
from reports.forms import LowBalanceForm, ReportFilterForm

PAGE_SIZE = 50
DASHBOARD_CACHE_SECONDS = 60
STATUS_CSS = {status.value: f"s-{status.value.lower()}" for status in Recipient.Status}


def _cursor(raw: str) -> tuple[datetime, int] | None:
    at, _, pk = raw.partition("|")
    parsed = parse_datetime(at) if at else None
    return (parsed, int(pk)) if parsed and pk.isdigit() else None


def _safe_cell(value: str) -> str:
    """Spreadsheets run cells starting with = + - @ as formulas: quote them (CSV injection)."""
    return "'" + value if value[:1] in {"=", "+", "-", "@", "\t", "\r"} else value


class _Echo:
    def write(self, value: str) -> str:
        return value


class ReportsView(CompanyMemberRequiredMixin, View):
    """SMS → Reports: the company's accepted requests, newest first, with per-recipient status."""

    def get(self, request: HttpRequest) -> HttpResponse:
        company = request_company(request)
        form = ReportFilterForm(
            request.GET or None, authkeys=authkey_selectors.authkeys_for_company(company=company)
        )
        rows: list[selectors.MessageRow] = []
        next_cursor = ""
        status = 200
        if form.is_bound and not form.is_valid():
            status = 400
        else:
            filters = form.filters() if form.is_bound else selectors.MessageFilters()
            before = _cursor(form.cleaned_data.get("before", "")) if form.is_bound else None
            page = list(
                selectors.messages_queryset(company=company, filters=filters, before=before)[: PAGE_SIZE + 1]
            )
            if len(page) > PAGE_SIZE:
                page = page[:PAGE_SIZE]
                next_cursor = f"{page[-1].created_at.isoformat()}|{page[-1].pk}"
            rows = selectors.message_rows(page)
        query = request.GET.copy()
        query.pop("before", None)
        context = {
            "form": form,
            "rows": rows,
            "next_cursor": next_cursor,
            "filter_query": query.urlencode(),
            "inline_recipients": selectors.INLINE_RECIPIENTS,
        }
        return render(request, "reports/messages.html", context, status=status)


class ReportsExportView(CompanyMemberRequiredMixin, View):
    """The same filters as CSV, one row per recipient, streamed (never the whole table in memory)."""

    def get(self, request: HttpRequest) -> HttpResponseBase:
        company = request_company(request)
        form = ReportFilterForm(request.GET, authkeys=authkey_selectors.authkeys_for_company(company=company))
        if not form.is_valid():
            return render(
                request, "reports/messages.html", {"form": form, "rows": [], "export_error": True}, status=400
            )
        filters = form.filters()
        writer = csv.writer(_Echo())

        def lines() -> Iterator[str]:
            yield writer.writerow(selectors.EXPORT_HEADER)
            for row in selectors.export_rows(company=company, filters=filters):
                yield writer.writerow([_safe_cell(cell) for cell in row])

        stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
        response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="sms-report-{stamp}.csv"'
        return response


class DashboardView(View):
    """What a person looks at first. Figures are cached per company for a minute."""

    def get(self, request: HttpRequest) -> HttpResponse:
        company = getattr(request.user, "company", None)
        context: dict[str, Any] = {
            "company": company,
            "verified": session_is_verified(request),
            "verified_seconds_left": verified_seconds_left(request),
        }
        if company is not None:
            key = f"reports:dashboard:{company.pk}"
            board = cache.get(key)
            if board is None:
                board = selectors.dashboard(company=company)
                cache.set(key, board, DASHBOARD_CACHE_SECONDS)
            context["board"] = board
            context["messages_chart"] = charts.stacked_bars(
                board.messages_per_day,
                title="Messages per day by status",
                labels={s.value: s.label for s in Recipient.Status},
                css=STATUS_CSS,
            )
            codes = [code for code, _ in board.refusals_by_code]
            context["refusals_chart"] = charts.stacked_bars(
                board.refusals_per_day,
                title="Refused requests per day by error code",
                labels={code: f"error {code}" for code in codes},
                css={code: f"c{i % 8}" for i, code in enumerate(codes)},
            )
        return render(request, "reports/dashboard.html", context)


class BalanceView(CompanyMemberRequiredMixin, View):
    """The balance, its ledger (debits per message, staff credits) and the low-balance alert."""

    def get(self, request: HttpRequest) -> HttpResponse:
        company = request_company(request)
        form = LowBalanceForm(initial={"threshold": company.low_balance_threshold})
        return self._render(request, form)

    def post(self, request: HttpRequest) -> HttpResponse:
        company = request_company(request)
        if not request_user(request).can_manage_security:
            raise PermissionDenied("Only the company's owner or an admin can change the alert.")
        form = LowBalanceForm(request.POST)
        if not form.is_valid():
            return self._render(request, form, status=400)
        account_services.company_set_low_balance_threshold(
            company=company, threshold=form.cleaned_data["threshold"]
        )
        messages.success(request, "Low-balance alert saved.")
        return redirect("reports:balance")

    def _render(self, request: HttpRequest, form: LowBalanceForm, status: int = 200) -> HttpResponse:
        company = request_company(request)
        before = _ledger_cursor(request.GET.get("before", ""))
        entries = selectors.ledger(company=company, before=before, limit=PAGE_SIZE + 1)
        next_cursor = entries[PAGE_SIZE - 1].cursor if len(entries) > PAGE_SIZE else ""
        context = {
            "company": company,
            "form": form,
            "entries": entries[:PAGE_SIZE],
            "next_cursor": next_cursor,
            "can_manage": request_user(request).can_manage_security,
        }
        return render(request, "reports/balance.html", context, status=status)


def _ledger_cursor(raw: str) -> tuple[datetime, str, int] | None:
    at, _, rest = raw.partition("|")
    kind, _, pk = rest.partition("|")
    parsed = parse_datetime(at) if at else None
    if parsed is None or kind not in {"debit", "credit"} or not pk.isdigit():
        return None
    return parsed, kind, int(pk)
