"""MSG91 dialect: GET|POST /api/sendhttp.php and POST /api/v2/sendsms.

Replies: plain text (default) = the 24-character request id; `response=json` →
{"type":"success","message":"<id>"} / {"type":"error","message":…,"code":"…"}; `response=xml` →
<RESPONSE><TYPE>…</TYPE><MESSAGE>…</MESSAGE>[<CODE>…</CODE>]</RESPONSE>. Errors answer HTTP 200
like MSG91 (clients read the body), except an invalid key (401, which msg91-py raises as an
AuthenticationError) and internal errors (500).

Delivery report of a request id (service "reports"; the key's own company's messages only):
`GET|POST /api/v5/report/<request_id>`, `/api/v5/report?request_id=…` and
`/api/getReport.php?request_id=…`, authkey as header or parameter →
{"type": "success", "requestId", "senderId", "campaignName",
 "data": [{"number", "status", "desc", "description", "date", "failedReason"}, …]}, one entry per
recipient in submission order; `status`/`desc` follow MSG91's delivery-report vocabulary (see
REPORT_STATUS), `date` is the time of the last status change ("YYYY-MM-DD HH:MM:SS", TIME_ZONE).
A request id that is unknown or belongs to another company is 404 {"type":"error","message":…};
a missing one 400. Neither is a refusal in catalogue terms (authentication passed), so neither
writes a Failed Logs row; refused keys are recorded and answered like the send endpoints.
"""

import json
from typing import Any
from xml.sax.saxutils import escape

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from authkeys import services_catalogue
from messaging import api
from messaging.catalogue import ApiError, Code
from messaging.credentials import presented_key
from messaging.models import Message, Recipient

DIALECT = "msg91"
_TRUE = {"1", "true", "yes", "on"}


def _flag(value: Any) -> bool:
    return str(value).strip().lower() in _TRUE if value is not None else False


def _format(request: HttpRequest, body: dict[str, Any] | None = None) -> str:
    value = request.GET.get("response") or request.POST.get("response") or (body or {}).get("response") or ""
    return str(value).strip().lower()


def render(kind: str, *, request_id: str | None = None, error: ApiError | None = None) -> HttpResponse:
    if error is None:
        assert request_id is not None
        if kind == "json":
            return JsonResponse({"type": "success", "message": request_id})
        if kind == "xml":
            return HttpResponse(
                f"<RESPONSE><TYPE>success</TYPE><MESSAGE>{request_id}</MESSAGE></RESPONSE>",
                content_type="application/xml",
            )
        return HttpResponse(request_id, content_type="text/plain; charset=utf-8")
    status = 401 if error.code == Code.INVALID_AUTHKEY else 500 if error.entry.kind == "internal" else 200
    if kind == "json":
        return JsonResponse(
            {"type": "error", "message": error.detail, "code": str(error.code)}, status=status
        )
    if kind == "xml":
        return HttpResponse(
            f"<RESPONSE><TYPE>error</TYPE><MESSAGE>{escape(error.detail)}</MESSAGE><CODE>{error.code}</CODE></RESPONSE>",
            content_type="application/xml",
            status=status,
        )
    return HttpResponse(
        f"ERROR {error.code}: {error.detail}", content_type="text/plain; charset=utf-8", status=status
    )


# The catalogue code for a parameter sent twice with different values: the request is ambiguous,
# and the code names the parameter's own failure.
_AMBIGUOUS_CODES = {
    "mobiles": Code.INVALID_MOBILE,
    "mobile": Code.INVALID_MOBILE,
    "message": Code.MISSING_MESSAGE,
    "sender": Code.INVALID_SENDER,
    "route": Code.ROUTE_UNDETERMINED,
    "schtime": Code.SCHEDULE_INCORRECT,
    "scheduledatetime": Code.SCHEDULE_INCORRECT,
    "campaign": Code.CAMPAIGN_NAME_MISSING,
    "group_id": Code.GROUP_NOT_YOURS,
    "DLT_TE_ID": Code.DLT_TEMPLATE_MISSING,
}


def _params(request: HttpRequest, body: dict[str, Any] | None = None) -> dict[str, list[str]]:
    """Every parameter's values from the query, then the form, then the JSON body: read once per
    request (the send endpoints look up a dozen names)."""
    merged: dict[str, list[str]] = {name: list(values) for name, values in request.GET.lists()}
    if request.method == "POST":
        for name, values in request.POST.lists():
            merged.setdefault(name, []).extend(values)
    for name, item in (body or {}).items():
        if item is not None:
            value = ",".join(str(v) for v in item) if isinstance(item, list) else str(item)
            merged.setdefault(name, []).append(value)
    return merged


def _one(params: dict[str, list[str]], name: str) -> str | None:
    """One value of a parameter; differing repeats are refused."""
    values = params.get(name)
    if not values:
        return None
    if len(values) > 1 and len(set(values)) > 1:
        raise ApiError(
            _AMBIGUOUS_CODES.get(name, Code.MISSING_MESSAGE),
            f"The parameter {name!r} was sent more than once with different values.",
        )
    return values[0]


def _single(request: HttpRequest, name: str, body: dict[str, Any] | None = None) -> str | None:
    """One value of a parameter from the query, form or JSON body; differing repeats are refused."""
    return _one(_params(request, body), name)


def _send_request(request: HttpRequest, body: dict[str, Any] | None = None) -> api.SendRequest:
    params = _params(request, body)

    def get(name: str) -> str | None:
        return _one(params, name)

    return api.SendRequest(
        mobiles=get("mobiles"),
        text=get("message"),
        sender=get("sender"),
        route=get("route"),
        country=get("country"),
        schedule=get("schtime") or get("scheduledatetime"),
        campaign=get("campaign"),
        unicode=_flag(get("unicode")),
        flash=_flag(get("flash")),
        group_ids=get("group_id"),
        dlt_template_id=get("DLT_TE_ID"),
    )


@csrf_exempt
@login_not_required
@require_http_methods(["GET", "POST"])
def sendhttp(request: HttpRequest) -> HttpResponse:
    ctx = api.Context.of(request, dialect=DIALECT, endpoint="/api/sendhttp.php")
    kind = _format(request)
    try:
        accepted = api.send(ctx, lambda: (presented_key(request), _send_request(request)))
    except ApiError as error:
        return render(kind, error=error)
    return render(kind, request_id=accepted.message.request_id)


def _json_body(request: HttpRequest) -> dict[str, Any]:
    if not request.body:
        return {}
    try:
        body = json.loads(request.body)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(Code.MISSING_MESSAGE, "The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise ApiError(Code.MISSING_MESSAGE, "The request body must be a JSON object.")
    sms = body.get("sms")
    if isinstance(sms, list):
        # MSG91's documented v2 shape: {"sender", "route", "country", "sms": [{"message", "to": [...]}]}
        if len(sms) != 1 or not isinstance(sms[0], dict):
            raise ApiError(Code.MISSING_MESSAGE, "Send one entry in 'sms' per request.")
        body = {**body, "message": sms[0].get("message"), "mobiles": sms[0].get("to")}
    return body


@csrf_exempt
@login_not_required
@require_http_methods(["POST"])
def sendsms_v2(request: HttpRequest) -> HttpResponse:
    ctx = api.Context.of(request, dialect=DIALECT, endpoint="/api/v2/sendsms")
    body: dict[str, Any] = {}

    def extract() -> tuple[Any, api.SendRequest]:
        nonlocal body
        body = _json_body(request)
        return presented_key(request, body=body), _send_request(request, body)

    try:
        accepted = api.send(ctx, extract)
    except ApiError as error:
        return render(_format(request, body) or "json", error=error)
    return render(_format(request, body) or "json", request_id=accepted.message.request_id)


# --- Delivery report ------------------------------------------------------------------------------

# Recipient status → MSG91 (status, desc). 1, 2 and 16 are MSG91's delivery-report codes
# (Delivered, Failed, Rejected); MSG91 documents no number for its pending states ("Submitted",
# "Sent/Pending"), so 5 (accepted or scheduled here, not yet handed over) and 8 (handed to the
# gateway, no report yet) are this product's.
REPORT_STATUS: dict[str, tuple[str, str]] = {
    Recipient.Status.ACCEPTED: ("5", "PENDING"),
    Recipient.Status.SCHEDULED: ("5", "SCHEDULED"),
    Recipient.Status.ENROUTE: ("8", "SENT"),
    Recipient.Status.DELIVERED: ("1", "DELIVERED"),
    Recipient.Status.UNDELIVERABLE: ("2", "FAILED"),
    Recipient.Status.FAILED: ("2", "FAILED"),
    Recipient.Status.EXPIRED: ("2", "EXPIRED"),
    Recipient.Status.REJECTED: ("16", "REJECTED"),
}
_STATUS_LABELS = dict(Recipient.Status.choices)


def _report_entry(msisdn: str, status: str, error: str, status_at: Any) -> dict[str, str]:
    code, desc = REPORT_STATUS.get(status, ("2", "FAILED"))
    label = str(_STATUS_LABELS.get(status, status))
    return {
        "number": msisdn,
        "status": code,
        "desc": desc,
        "description": f"{label}: {error}" if error else label,
        "date": timezone.localtime(status_at).strftime("%Y-%m-%d %H:%M:%S"),
        "failedReason": error,
    }


def _is_request_id(value: str) -> bool:
    return len(value) == 24 and all(char in "0123456789abcdef" for char in value)


@csrf_exempt
@login_not_required
@require_http_methods(["GET", "POST"])
def report(request: HttpRequest, request_id: str | None = None) -> HttpResponse:
    """The delivery report of one request id (see the module docstring for the shape)."""
    endpoint = "/api/getReport.php" if request.path.endswith(".php") else "/api/v5/report"
    ctx = api.Context.of(request, dialect=DIALECT, endpoint=endpoint)
    try:
        grant = api.authenticate(ctx, lambda: presented_key(request), services_catalogue.REPORTS)
    except ApiError as error:
        return render("json", error=error)
    if request_id is None:
        request_id = (request.GET.get("request_id") or request.POST.get("request_id") or "").strip()
    api.record_success(ctx, grant)
    if not request_id:
        return JsonResponse({"type": "error", "message": "Missing request_id."}, status=400)
    message = (
        Message.objects.filter(request_id=request_id.lower(), company_id=grant.company_id)
        .only("pk", "request_id", "sender", "campaign")
        .first()
        if _is_request_id(request_id.lower())
        else None
    )
    if message is None:
        return JsonResponse(
            {"type": "error", "message": f"No request with id {request_id[:24]!r} in this account."},
            status=404,
        )
    rows = (
        Recipient.objects.filter(message=message)
        .order_by("pk")
        .values_list("msisdn", "status", "error", "status_at")
    )
    return JsonResponse(
        {
            "type": "success",
            "requestId": message.request_id,
            "senderId": message.sender,
            "campaignName": message.campaign,
            "data": [_report_entry(*row) for row in rows],
        }
    )
