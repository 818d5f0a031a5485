"""The Alerts page: what was sent (or held back) to the company's registered email and mobile."""

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views import View

from accounts.otp import CompanyMemberRequiredMixin, OtpVerifiedRequiredMixin
from accounts.request import request_company
from alerts import selectors, services
from alerts.forms import AlertFilterForm

PAGE_SIZE = 50


class AlertsView(CompanyMemberRequiredMixin, OtpVerifiedRequiredMixin, View):
    """Behind the OTP gate like the Security log (alerts name IPs, keys and security changes);
    every member of the company may look."""

    def get(self, request: HttpRequest) -> HttpResponse:
        form = AlertFilterForm(request.GET or None)
        rows: list[Any] = []
        next_cursor = ""
        status = 200
        if form.is_bound and not form.is_valid():
            status = 400
        else:
            data = form.cleaned_data if form.is_bound else {}
            rows = selectors.alerts(
                company=request_company(request),
                filters=selectors.AlertFilters(kind=data.get("kind", ""), status=data.get("status", "")),
                before=data.get("before"),
                limit=PAGE_SIZE + 1,
            )
            if len(rows) > PAGE_SIZE:
                rows = rows[:PAGE_SIZE]
                next_cursor = f"{rows[-1].created_at.isoformat()}|{rows[-1].pk}"
        query = request.GET.copy()
        query.pop("before", None)
        context = {
            "form": form,
            "rows": rows,
            "next_cursor": next_cursor,
            "filter_query": query.urlencode(),
            "window_minutes": max(1, services.window_seconds() // 60),
            "cap": services.hourly_cap(),
        }
        return render(request, "alerts/index.html", context, status=status)
