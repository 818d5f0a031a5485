"""Bench-only reference endpoints (not in the product's URLs):

- /bench/bare: a constant reply, no database (case a);
- /bench/minimal?authkey=…: the least a durable send can do: one indexed KeySecret lookup by
  digest, then one row insert in a transaction (a FailedRequest row stands in for a message).
"""

from django.contrib.auth.decorators import login_not_required
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.urls import include, path
from django.views.decorators.csrf import csrf_exempt

from authkeys import keys
from authkeys.models import KeySecret
from messaging.models import FailedRequest


@csrf_exempt
@login_not_required
def bare(request: HttpRequest) -> HttpResponse:
    return HttpResponse(b"ok", content_type="text/plain")


@csrf_exempt
@login_not_required
def minimal(request: HttpRequest) -> HttpResponse:
    presented = request.GET.get("authkey", "")
    found = KeySecret.objects.filter(digest=keys.digest(presented)).values_list("authkey_id", flat=True)
    authkey_id = next(iter(found), None)
    if authkey_id is None:
        return HttpResponse(b"unknown", status=401, content_type="text/plain")
    with transaction.atomic():
        row = FailedRequest.objects.create(
            authkey_id=authkey_id,
            code="0",
            reason="bench",
            dialect="bench",
            endpoint="bench/minimal",
            method="GET",
            client_ip=request.META.get("REMOTE_ADDR"),
        )
    return HttpResponse(str(row.pk).encode(), content_type="text/plain")


urlpatterns = [
    path("bench/bare", bare),
    path("bench/minimal", minimal),
    path("", include("portal.urls")),
]
