from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from portal import dev_outbox


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
