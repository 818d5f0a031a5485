"""GatewayAPI dialect: POST /mobile/single (the Mobile Message API), `Authorization: Token <key>`.

Request (JSON): {"sender", "message", "recipient": <integer MSISDN with country code>} and the
optional "label", "reference", "expiration".

    recipient   one number, always with its country code (a digit string is tolerated too)
    label       stored as the campaign name (at most 32 characters: 308)
    reference   the client's reference (at most 100 characters are kept), echoed in the reply and
                in delivery-status webhooks
    expiration  ISO 8601 date-time (e.g. "2026-11-22T18:00:00Z"; without an offset: TIME_ZONE): if
                the message is not handed to the gateway by then, the outbox expires it (its
                recipient reads EXPIRED, like GatewayAPI's status). It must be in the future
                (else 307); one later than SMS_DELIVERY_VALIDITY_SECONDS from now is cut to it.
                Without it the default validity applies (messaging/delivery/outbox.py)

Success (200): {"msg_id": "<per-recipient message id>", "recipient": <integer>, "reference": "…" | null}.

Errors use GatewayAPI's REST error shape, {"code", "incident_uuid", "message"} ("variables" is
left out when empty, as GatewayAPI does), with the product's catalogue code as `code` (the same
code Failed Logs show) instead of GatewayAPI's hex codes, and `incident_uuid` a fresh UUID per
refusal. HTTP status: 401 (with `WWW-Authenticate: Token`) for a missing or invalid key, 403 when
the key's rule lacks "sms-send" and for IP (418, 208) and account (302, 303, 421) refusals, 402
for insufficient balance (301), 409 for a duplicate (311), 400 for invalid input, 500 for internal
errors (506, never with details).
"""

import json
from typing import Any
from uuid import uuid4

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from messaging import api
from messaging.catalogue import ApiError, Code
from messaging.credentials import Presented, presented_key

DIALECT = "gatewayapi"


def render_error(error: ApiError) -> HttpResponse:
    status = 403 if isinstance(error, api.ServiceNotAllowed) else error.entry.http_status
    body = {"code": str(error.code), "incident_uuid": str(uuid4()), "message": error.detail}
    response = JsonResponse(body, status=status)
    if status == 401:
        response["WWW-Authenticate"] = 'Token realm="GatewayAPI"'
    return response


def _json_body(request: HttpRequest) -> dict[str, Any]:
    try:
        body = json.loads(request.body or b"")
    except (ValueError, UnicodeDecodeError):
        raise ApiError(Code.MISSING_MESSAGE, "The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise ApiError(Code.MISSING_MESSAGE, "The request body must be a JSON object.")
    return body


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _send_request(body: dict[str, Any]) -> api.SendRequest:
    """Parse only: the pipeline validates (after authentication, in its documented order)."""
    recipient = body.get("recipient")
    label = body.get("label")
    reference = body.get("reference")
    return api.SendRequest(
        # A bool, float, list or object is passed on as text and refused as an invalid number (202).
        mobiles=None if recipient is None else [str(recipient)],
        text=_text(body.get("message")),
        sender=_text(body.get("sender")),
        country="0",  # GatewayAPI recipients always carry their country code
        campaign=(str(label).strip() or None) if label is not None else None,
        reference="" if reference is None else str(reference),
        expiration=_text(body.get("expiration")),
    )


@csrf_exempt
@login_not_required
@require_http_methods(["POST"])
def mobile_single(request: HttpRequest) -> HttpResponse:
    ctx = api.Context.of(request, dialect=DIALECT, endpoint="/mobile/single")

    def extract() -> tuple[Presented | None, api.SendRequest]:
        presented = presented_key(request)
        return presented, _send_request(_json_body(request))

    try:
        accepted = api.send(ctx, extract)
    except ApiError as error:
        return render_error(error)
    recipient = accepted.recipients[0]
    return JsonResponse(
        {
            "msg_id": recipient.message_uid,
            "recipient": int(recipient.msisdn),
            "reference": accepted.message.reference or None,
        }
    )
