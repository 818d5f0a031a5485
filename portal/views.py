from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.generic import TemplateView

from accounts.otp import session_is_verified, verified_seconds_left
from portal import dev_outbox


class DashboardView(TemplateView):
    template_name = "portal/dashboard.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return {
            **super().get_context_data(**kwargs),
            "company": getattr(self.request.user, "company", None),
            "verified": session_is_verified(self.request),
            "verified_seconds_left": verified_seconds_left(self.request),
        }


@login_not_required
def dev_outbox_view(request: HttpRequest) -> HttpResponse:
    """Development only: the SMS and email the portal 'sent', OTP codes included."""
    if not settings.DEBUG:
        raise Http404("The outbox exists only in development.")
    return render(request, "portal/dev_outbox.html", {"entries": dev_outbox.recent()})


@login_not_required
def healthz(request: HttpRequest) -> JsonResponse:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})
