"""SMS section pages."""

from datetime import datetime, time, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.decorators import method_decorator
from django.views import View
from django.views.generic import TemplateView

from accounts.otp import CompanyMemberRequiredMixin, OtpVerifiedRequiredMixin
from accounts.request import request_company
from messaging import selectors
from messaging.catalogue import CATALOGUE
from messaging.forms import FailedLogFilterForm

PAGE_SIZE = 50


def _day_start(day: Any) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


class FailedLogsView(CompanyMemberRequiredMixin, View):
    """Every refused API request of the company, newest first (seed 001 "Failed Logs")."""

    def get(self, request: HttpRequest) -> HttpResponse:
        form = FailedLogFilterForm(request.GET or None)
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
                key_prefix=data.get("key", "").strip(),
                since=_day_start(data["since"]) if data.get("since") else None,
                until=_day_start(data["until"]) + timedelta(days=1) if data.get("until") else None,
            )
            rows = selectors.failed_requests(
                company=request_company(request),
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
        context = {"form": form, "rows": rows, "next_cursor": next_cursor, "filter_query": query.urlencode()}
        return render(request, "messaging/failed_logs.html", context, status=status)


def _cursor(raw: str) -> tuple[datetime, int] | None:
    at, _, pk = raw.partition("|")
    parsed = parse_datetime(at) if at else None
    return (parsed, int(pk)) if parsed and pk.isdigit() else None


class WebhooksView(CompanyMemberRequiredMixin, OtpVerifiedRequiredMixin, TemplateView):
    template_name = "messaging/webhooks.html"


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
            "otp_length": settings.OTP_API_DEFAULT_LENGTH,
            "otp_expiry": settings.OTP_API_DEFAULT_EXPIRY_MINUTES,
            "otp_attempts": settings.OTP_API_MAX_VERIFY_ATTEMPTS,
            "otp_retries": settings.OTP_API_MAX_RETRIES,
            "auth_failures": settings.API_AUTH_FAILURES_PER_USERNAME,
            "auth_window": settings.API_AUTH_FAILURE_WINDOW_SECONDS,
        }
