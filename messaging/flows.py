"""MSG91 flows: `POST /api/v5/flow/` (also without the trailing slash, as msg91-py calls it).

A flow (messaging.models.Flow) is a company's template with ##name## placeholders, approved by
staff in the admin. The request names it and lists recipients with their variables; both shapes
are accepted, also mixed within one request:

- MSG91's documented flat shape: {"template_id" | "flow_id", "sender"?, "short_url"?,
  "recipients": [{"mobiles": "91…", "VAR1": "…", …}]}
- msg91-py 0.2.1: {"template_id", "recipients": [{"mobile": "91…", "variables": {"VAR1": "…"}}]}

`mobiles` may hold several comma-separated numbers that share the entry's variables. A
placeholder takes the variable of the same name (exact, else case-insensitive). `short_url` is
accepted and ignored (no link shortening here). The sender is the request's, else the flow's;
the route is the flow's.

Each recipient's text is rendered with its own variables; recipients whose rendered texts are
identical are grouped into one Message, so a request yields one Message per distinct text, each
sent through the one pipeline (`api.send`, service "sms-flow": every check, code, debit and the
outbox as for any send). The reply's request id is the first Message's; the first Message's
`reference` is "flow:<flow id>" and every further Message's `reference` is that first request id,
so `Message.objects.filter(Q(request_id=rid) | Q(reference=rid))` is the whole request. A request
with several texts is all or nothing: a refusal of any one (e.g. 301 on the third) rolls back
the Messages and debits of the others.

Checks, after authentication and the rule (which must allow "sms-flow"): flow id missing,
unknown or another company's → 400; flow not approved → 401; flow disabled → 403 (catalogue
codes, answered HTTP 200 in MSG91's JSON like every non-authentication error); no recipients →
101; a placeholder without a value for some recipient → 102 naming the variable and the
recipient's position (the catalogue's "Missing message": that recipient's message cannot be
made). Then the pipeline's own checks per text (202, 203, 301, 310, 311, …).

Replies: {"type":"success","message":"<request id>"} / {"type":"error","message","code"}
(messaging.dialects.msg91.render "json").
"""

import json
import re
from collections.abc import Callable
from typing import Any

from django.contrib.auth.decorators import login_not_required
from django.core.cache import cache
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from authkeys import services_catalogue
from messaging import api
from messaging.catalogue import ApiError, Code
from messaging.credentials import Presented, presented_key
from messaging.dialects import msg91
from messaging.models import Flow

ENDPOINT = "/api/v5/flow"
PLACEHOLDER = re.compile(r"##([A-Za-z0-9_]+)##")
_MOBILE_FIELDS = ("mobiles", "mobile")
_NOT_VARIABLES = {*_MOBILE_FIELDS, "variables"}


# --- Services (the admin's actions call these) ---------------------------------------------------


def flows_set_status(flows: QuerySet[Flow], status: str) -> int:
    """Approve, reject or return flows to pending/draft; returns how many changed."""
    if status not in Flow.Status.values:
        raise ValueError(f"unknown flow status {status!r}")
    return flows.exclude(status=status).update(status=status)


def flows_set_enabled(flows: QuerySet[Flow], enabled: bool) -> int:
    return flows.exclude(enabled=enabled).update(enabled=enabled)


# --- Rendering -----------------------------------------------------------------------------------


def placeholders(template: str) -> list[str]:
    return list(dict.fromkeys(PLACEHOLDER.findall(template)))


def render_text(template: str, variables: dict[str, Any], position: int) -> str:
    """The template with each ##name## replaced; ApiError(102) names a variable without a value."""
    lowered = {str(name).lower(): value for name, value in variables.items()}

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        value = variables.get(name, lowered.get(name.lower()))
        if value is None or isinstance(value, dict | list):
            raise ApiError(
                Code.MISSING_MESSAGE,
                f"Recipient {position}: missing value for the variable {name!r} of the flow.",
            )
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value)

    return PLACEHOLDER.sub(substitute, template)


# --- Parsing ---------------------------------------------------------------------------------------


def _body(request: HttpRequest) -> dict[str, Any]:
    if not request.body:
        return {}
    try:
        body = json.loads(request.body)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(Code.FLOW_MISSING, "The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise ApiError(Code.FLOW_MISSING, "The request body must be a JSON object.")
    return body


def _flow_id(body: dict[str, Any]) -> str:
    values = {str(body[name]).strip() for name in ("flow_id", "template_id") if body.get(name) is not None}
    values.discard("")
    if len(values) > 1:
        raise ApiError(Code.FLOW_MISSING, "flow_id and template_id name different flows: send one.")
    if not values:
        raise ApiError(Code.FLOW_MISSING, "Missing flow_id (or template_id).")
    return values.pop()


def _numbers(entry: dict[str, Any], position: int) -> list[str]:
    lists = []
    for name in _MOBILE_FIELDS:
        value = entry.get(name)
        if value in (None, "", []):
            continue
        items = value if isinstance(value, list) else str(value).split(",")
        lists.append(list(dict.fromkeys(str(item).strip() for item in items if str(item).strip())))
    if not lists or not lists[0]:
        raise ApiError(Code.MISSING_MOBILE, f"Recipient {position}: missing mobiles.")
    if len(lists) > 1 and lists[0] != lists[1]:
        raise ApiError(Code.INVALID_MOBILE, f"Recipient {position}: mobile and mobiles differ.")
    return lists[0]


def _variables(entry: dict[str, Any], position: int) -> dict[str, Any]:
    variables = {name: value for name, value in entry.items() if name not in _NOT_VARIABLES}
    nested = entry.get("variables")
    if nested is not None:
        if not isinstance(nested, dict):
            raise ApiError(Code.MISSING_MESSAGE, f"Recipient {position}: 'variables' must be an object.")
        variables.update(nested)
    return variables


def _texts(flow: Flow, recipients: Any) -> dict[str, list[str]]:
    """Rendered text → its numbers, in request order."""
    if not isinstance(recipients, list) or not recipients:
        raise ApiError(Code.MISSING_MOBILE, "Missing recipients.")
    groups: dict[str, list[str]] = {}
    count = 0
    for position, entry in enumerate(recipients, start=1):
        if not isinstance(entry, dict):
            raise ApiError(Code.MISSING_MOBILE, f"Recipient {position} must be an object.")
        numbers = _numbers(entry, position)
        text = render_text(flow.template, _variables(entry, position), position)
        groups.setdefault(text, []).extend(numbers)
        count += len(numbers)
        if count > api.MAX_RECIPIENTS:
            raise ApiError(Code.INVALID_MOBILE, f"At most {api.MAX_RECIPIENTS} numbers per request.")
    return groups


def _flow(company_id: int, flow_id: str) -> Flow:
    flow = Flow.objects.filter(flow_id=flow_id.lower(), company_id=company_id).first()
    if flow is None:
        raise ApiError(Code.FLOW_MISSING, f"No flow with id {flow_id[:24]!r} in this account.")
    if flow.status != Flow.Status.APPROVED:
        raise ApiError(Code.FLOW_NOT_APPROVED)
    if not flow.enabled:
        raise ApiError(Code.FLOW_DISABLED)
    return flow


# --- The endpoint ----------------------------------------------------------------------------------


def _send_all(
    ctx: api.Context,
    presented: Presented | None,
    grant: api.Principal,
    flow: Flow,
    groups: dict[str, list[str]],
    requested_sender: Any,
) -> str:
    """One api.send per distinct text, all or nothing; returns the first request id. Raises
    ApiError, already recorded."""
    sender = str(requested_sender) if requested_sender not in (None, "") else flow.sender

    def request_for(text: str, numbers: list[str], reference: str) -> api.SendRequest:
        return api.SendRequest(
            mobiles=numbers,
            text=text,
            sender=sender,
            route=flow.route,
            reference=reference,
            service=services_catalogue.SMS_FLOW,
        )

    def extract(send_request: api.SendRequest) -> Callable[[], tuple[Presented | None, api.SendRequest]]:
        return lambda: (presented, send_request)

    if len(groups) == 1:
        ((text, numbers),) = groups.items()
        return api.send(ctx, extract(request_for(text, numbers, f"flow:{flow.flow_id}"))).message.request_id

    accepted: list[api.Accepted] = []
    try:
        with transaction.atomic():
            for text, numbers in groups.items():
                reference = accepted[0].message.request_id if accepted else f"flow:{flow.flow_id}"
                accepted.append(api.send(ctx, extract(request_for(text, numbers, reference))))
    except ApiError as error:
        # api.send recorded the refusal inside the rolled-back transaction: record it again, and
        # forget the duplicate (311) marks of the rolled-back texts so a corrected retry is accepted.
        api.record_refusal(ctx, error, grant=grant, presented=presented)
        for item in accepted:
            msisdns = [row.msisdn for row in item.recipients]
            cache.delete(api._duplicate_key(grant, item.message.sender, item.message.text, msisdns))
        raise
    return accepted[0].message.request_id


@csrf_exempt
@login_not_required
@require_http_methods(["POST"])
def flow(request: HttpRequest) -> HttpResponse:
    ctx = api.Context.of(request, dialect=msg91.DIALECT, endpoint=ENDPOINT)
    body: dict[str, Any] = {}
    presented: Presented | None = None

    def extract() -> Presented | None:
        nonlocal body, presented
        body = _body(request)
        presented = presented_key(request, body=body)
        return presented

    try:
        grant = api.authorize(ctx, extract, services_catalogue.SMS_FLOW)
    except ApiError as error:
        return msg91.render("json", error=error)
    try:
        chosen = _flow(grant.company_id, _flow_id(body))
        groups = _texts(chosen, body.get("recipients"))
    except ApiError as error:
        api.record_refusal(ctx, error, grant=grant, presented=presented)
        return msg91.render("json", error=error)
    try:
        request_id = _send_all(ctx, presented, grant, chosen, groups, body.get("sender"))
    except ApiError as error:
        return msg91.render("json", error=error)
    return msg91.render("json", request_id=request_id)
