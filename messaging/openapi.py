"""The OpenAPI 3.1 description of the public SMS API (every dialect endpoint in messaging/urls.py),
served at `GET /api/openapi.json`.

Hand-written from the dialect modules' docstrings and /work/shared/WIRE_FORMATS.md: each
dialect keeps its provider's wire shapes, so the document describes several styles side by side
(MSG91 plain/JSON/XML replies that answer errors with HTTP 200, Infobip's two error shapes,
GatewayAPI's REST errors, SMSGatewayCenter's plain/JSON/XML replies). Tags name the dialect.
"""

from typing import Any

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from authkeys import scopes

OPENAPI_VERSION = "3.1.0"

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
TEXT = "text/plain"
XML = "application/xml"

# --- Small builders -----------------------------------------------------------------------------


def _str(description: str = "", **extra: Any) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string", **extra}
    if description:
        schema["description"] = description
    return schema


def _int(description: str = "", **extra: Any) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "integer", **extra}
    if description:
        schema["description"] = description
    return schema


def _obj(properties: dict[str, Any], required: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties, **extra}
    if required:
        schema["required"] = required
    return schema


def _param(name: str, where: str, description: str, schema: dict[str, Any] | None = None, **extra: Any):  # type: ignore[no-untyped-def]
    return {"name": name, "in": where, "description": description, "schema": schema or _str(), **extra}


def _json_response(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": schema}}}


# --- MSG91 --------------------------------------------------------------------------------------

_MSG91_FIELDS: dict[str, dict[str, Any]] = {
    "authkey": _str("Your API key (or send it as the `authkey` header)."),
    "mobiles": _str("Comma-separated numbers with country code.", examples=["919876543210"]),
    "message": _str("The message text."),
    "sender": _str("Sender id (6 characters).", examples=["ACMEIN"]),
    "route": _str("1 promotional, 4 transactional.", examples=["4"]),
    "country": _str("0 international, 1 USA, 91 India."),
    "flash": _str("1 for a flash message."),
    "unicode": _str("1 for a Unicode message."),
    "schtime": _str("Schedule time (YYYY-MM-DD HH:MM:SS)."),
    "afterminutes": _str("Send after this many minutes."),
    "campaign": _str("Campaign name."),
    "DLT_TE_ID": _str("DLT template id."),
    "response": _str("Reply format.", enum=["json", "xml", "text"]),
}

_MSG91_ERROR_JSON = _obj(
    {"type": {"const": "error"}, "message": _str(), "code": _str("Catalogue code, e.g. 418.")},
    ["type", "message"],
)
_MSG91_SUCCESS_JSON = _obj(
    {"type": {"const": "success"}, "message": _str("The request id.")}, ["type", "message"]
)
_MSG91_REPLY = {
    "description": "Accepted: the 24-character request id (plain text by default). Refusals also answer "
    "HTTP 200 with the error shape (as MSG91 does).",
    "content": {
        TEXT: {"schema": _str(examples=["5134842646923e183d000075"])},
        JSON: {"schema": {"oneOf": [_MSG91_SUCCESS_JSON, _MSG91_ERROR_JSON]}},
        XML: {
            "schema": _str(
                description="<RESPONSE><TYPE>…</TYPE><MESSAGE>…</MESSAGE>[<CODE>…</CODE>]</RESPONSE>"
            )
        },
    },
}
_MSG91_401 = {
    "description": "Invalid API key.",
    "content": {JSON: {"schema": _MSG91_ERROR_JSON}, TEXT: {"schema": _str()}, XML: {"schema": _str()}},
}
_MSG91_500 = {"description": "Internal error (506).", "content": {JSON: {"schema": _MSG91_ERROR_JSON}}}
_MSG91_SECURITY: list[dict[str, list[str]]] = [{"authkeyHeader": []}, {"authkeyQuery": []}]


def _msg91_query_params() -> list[dict[str, Any]]:
    required = {"mobiles", "message", "sender"}
    return [
        _param(
            name,
            "query",
            schema.get("description", ""),
            {k: v for k, v in schema.items() if k != "description"},
        )
        | ({"required": True} if name in required else {})
        for name, schema in _MSG91_FIELDS.items()
        if name != "authkey"
    ]


def _msg91_sendhttp() -> dict[str, Any]:
    common = {
        "tags": ["MSG91"],
        "security": _MSG91_SECURITY,
        "responses": {"200": _MSG91_REPLY, "401": _MSG91_401, "405": {"description": "Method not allowed."}},
    }
    form = _obj(_MSG91_FIELDS, ["mobiles", "message", "sender"])
    return {
        "get": {
            **common,
            "operationId": "msg91_sendhttp_get",
            "summary": "Send SMS (MSG91 legacy, query string)",
            "parameters": _msg91_query_params(),
        },
        "post": {
            **common,
            "operationId": "msg91_sendhttp_post",
            "summary": "Send SMS (MSG91 legacy, form body)",
            "requestBody": {"required": True, "content": {FORM: {"schema": form}}},
        },
    }


def _msg91_v2() -> dict[str, Any]:
    body = _obj(
        {**_MSG91_FIELDS, "scheduledatetime": _str("Schedule time (msg91-py).")},
        ["mobiles", "message", "sender"],
    )
    return {
        "post": {
            "tags": ["MSG91"],
            "operationId": "msg91_sendsms_v2",
            "summary": "Send SMS (MSG91 v2, JSON body)",
            "security": _MSG91_SECURITY,
            "requestBody": {"required": True, "content": {JSON: {"schema": body}}},
            "responses": {"200": _MSG91_REPLY, "401": _MSG91_401, "500": _MSG91_500},
        }
    }


_MSG91_REPORT = _obj(
    {
        "type": {"const": "success"},
        "requestId": _str(),
        "senderId": _str(),
        "campaignName": _str(),
        "data": {
            "type": "array",
            "items": _obj(
                {
                    "number": _str(),
                    "status": _str(),
                    "desc": _str(),
                    "description": _str(),
                    "date": _str("YYYY-MM-DD HH:MM:SS"),
                    "failedReason": _str(),
                }
            ),
        },
    },
    ["type", "requestId", "data"],
)


def _msg91_report(operation: str, path_param: bool) -> dict[str, Any]:
    parameters = (
        [_param("request_id", "path", "The request id of a send.", required=True)]
        if path_param
        else [_param("request_id", "query", "The request id of a send.")]
    )
    responses = {
        "200": _json_response("Delivery report, one entry per recipient.", _MSG91_REPORT),
        "400": _json_response("Missing request id.", _MSG91_ERROR_JSON),
        "401": _json_response("Invalid API key.", _MSG91_ERROR_JSON),
        "404": _json_response("Unknown request id (or another company's).", _MSG91_ERROR_JSON),
    }
    op = {
        "tags": ["MSG91"],
        "summary": "Delivery report of a request id (MSG91)",
        "security": _MSG91_SECURITY,
        "parameters": parameters,
        "responses": responses,
    }
    return {
        "get": {**op, "operationId": f"{operation}_get"},
        "post": {**op, "operationId": f"{operation}_post"},
    }


def _msg91_flow(operation: str) -> dict[str, Any]:
    recipient = {
        "type": "object",
        "description": 'MSG91\'s flat shape {"mobiles", "VAR1", …} or msg91-py\'s '
        '{"mobile", "variables": {…}}.',
        "properties": {"mobiles": _str(), "mobile": _str(), "variables": {"type": "object"}},
        "additionalProperties": True,
    }
    body = _obj(
        {
            "template_id": _str(),
            "flow_id": _str(),
            "sender": _str(),
            "short_url": _str(enum=["0", "1"]),
            "recipients": {"type": "array", "items": recipient},
        },
        ["recipients"],
    )
    return {
        "post": {
            "tags": ["MSG91"],
            "operationId": operation,
            "summary": "Send an approved flow (template) to recipients (MSG91 v5)",
            "security": [{"authkeyHeader": []}],
            "requestBody": {"required": True, "content": {JSON: {"schema": body}}},
            "responses": {
                "200": _json_response(
                    "Accepted, or refused (HTTP 200 like MSG91).",
                    {"oneOf": [_MSG91_SUCCESS_JSON, _MSG91_ERROR_JSON]},
                ),
                "401": _json_response("Invalid API key.", _MSG91_ERROR_JSON),
                "500": _json_response("Internal error (506).", _MSG91_ERROR_JSON),
            },
        }
    }


_OTP_PARAMS: dict[str, dict[str, Any]] = {
    "mobile": _str("The number with its country code.", examples=["919876543210"]),
    "message": _str(
        "SMS text with ##OTP## where the code goes (default: Your verification code is ##OTP##.)."
    ),
    "sender": _str("Sender id (default OTPSMS)."),
    "otp": _str("Your own code, 4 to 9 digits (default: a random one)."),
    "otp_length": _str("Digits of a random code, 4 to 9 (default 4)."),
    "otp_expiry": _str("Minutes the code stays valid, 1 to 10080 (default 1440)."),
    "template_id": _str("v5: an approved flow whose ##OTP## takes the code."),
    "retrytype": _str("text (voice is not supported).", enum=["text", "voice"]),
}
_OTP_ACTIONS = {
    "send": (["mobile", "message", "sender", "otp", "otp_length", "otp_expiry"], "Text a one-time code"),
    "retry": (["mobile", "retrytype"], "Text a new code for the mobile's current OTP"),
    "verify": (["mobile", "otp"], "Verify a code (consumed once, bounded attempts)"),
}


def _msg91_otp(action: str, operation: str, *, v5: bool) -> dict[str, Any]:
    names, summary = _OTP_ACTIONS[action]
    if v5 and action == "send":
        names = [*names, "template_id"]
    reply = _obj(
        {
            "type": _str(enum=["success", "error"]),
            "message": _str("The request id (legacy send) or the outcome, e.g. OTP verified success."),
            "request_id": _str("v5 send: the request id."),
            "code": _str("Catalogue code of a pipeline refusal, e.g. 301."),
        },
        ["type"],
    )
    common = {
        "tags": ["MSG91"],
        "summary": f"{summary} (MSG91 {'v5' if v5 else 'legacy'} OTP)",
        "security": _MSG91_SECURITY,
        "parameters": [
            _param(name, "query", _OTP_PARAMS[name]["description"], _str())
            | ({"required": True} if name == "mobile" else {})
            for name in names
        ],
        "responses": {
            "200": _json_response("The outcome (errors too answer HTTP 200, like MSG91).", reply),
            "401": _json_response("Invalid API key, or its rule lacks the otp service.", _MSG91_ERROR_JSON),
            "500": _json_response("Internal error (506).", _MSG91_ERROR_JSON),
        },
    }
    return {
        "get": {**common, "operationId": f"{operation}_get"},
        "post": {**common, "operationId": f"{operation}_post"},
    }


# --- Infobip ------------------------------------------------------------------------------------

_IB_STATUS = _obj(
    {
        "groupId": _int(),
        "groupName": _str(enum=["ACCEPTED", "PENDING", "UNDELIVERABLE", "DELIVERED", "EXPIRED", "REJECTED"]),
        "id": _int(),
        "name": _str(),
        "description": _str(),
    },
    ["groupId", "groupName", "id", "name"],
)
_IB_ERROR_V2 = _obj(
    {
        "requestError": _obj(
            {
                "serviceException": _obj(
                    {
                        "messageId": _str(
                            enum=[
                                "UNAUTHORIZED",
                                "BAD_REQUEST",
                                "FORBIDDEN",
                                "TOO_MANY_REQUESTS",
                                "GENERAL_ERROR",
                            ]
                        ),
                        "text": _str("Starts with the catalogue code, e.g. [418]."),
                        "validationErrors": {"type": "object"},
                    },
                    ["messageId", "text"],
                )
            },
            ["serviceException"],
        )
    },
    ["requestError"],
)
_IB_ERROR_V3 = _obj(
    {
        "errorCode": _str(enum=["E400", "E401", "E403", "E429", "E500"]),
        "description": _str(),
        "action": _str(),
        "violations": {"type": "array", "items": _obj({"property": _str(), "violation": _str()})},
        "resources": {"type": "array", "items": _obj({"name": _str(), "url": _str()})},
    },
    ["errorCode", "description"],
)
_IB_SECURITY: list[dict[str, list[str]]] = [
    {"App": []},
    {"Basic": []},
    {"IBSSO": []},
    {"Bearer": []},
    {"authkeyHeader": []},
]
_IB_DESTINATIONS = {
    "type": "array",
    "items": _obj({"to": _str(examples=["919876543210"])}, ["to"]),
    "minItems": 1,
}


def _ib_errors(error: dict[str, Any]) -> dict[str, Any]:
    return {
        status: _json_response(text, error)
        for status, text in (
            ("400", "Invalid request or policy refusal."),
            ("401", "Invalid credentials (with WWW-Authenticate)."),
            ("403", "Service, IP or account refused."),
            ("429", "Password credentials locked by the brute-force throttle (with Retry-After)."),
            ("500", "Internal error."),
        )
    }


def _infobip_send(version: int) -> dict[str, Any]:
    if version == 2:
        message = _obj(
            {
                "from": _str(),
                "destinations": _IB_DESTINATIONS,
                "text": _str(),
                "sendAt": _str(format="date-time"),
                "flash": {"type": "boolean"},
                "validityPeriod": _int("Minutes (at most 48 hours); undelivered by then: EXPIRED."),
            },
            ["destinations", "text"],
        )
        body = _obj(
            {"bulkId": _str(), "messages": {"type": "array", "items": message, "minItems": 1}}, ["messages"]
        )
        reply_message = _obj({"to": _str(), "status": _IB_STATUS, "messageId": _str(), "smsCount": _int()})
        error = _IB_ERROR_V2
    else:
        message = _obj(
            {
                "sender": _str(),
                "destinations": _IB_DESTINATIONS,
                "content": _obj({"text": _str()}, ["text"]),
                "options": _obj(
                    {
                        "flash": {"type": "boolean"},
                        "campaignReferenceId": _str(),
                        "validityPeriod": _obj(
                            {"amount": _int(), "timeUnit": _str(enum=["SECONDS", "MINUTES", "HOURS"])},
                            ["amount"],
                        ),
                    }
                ),
            },
            ["destinations", "content"],
        )
        body = _obj(
            {
                "messages": {"type": "array", "items": message, "minItems": 1},
                "options": _obj({"schedule": _obj({"bulkId": _str(), "sendAt": _str(format="date-time")})}),
            },
            ["messages"],
        )
        reply_message = _obj(
            {
                "messageId": _str(),
                "status": _IB_STATUS,
                "destination": _str(),
                "details": _obj({"messageCount": _int()}),
            }
        )
        error = _IB_ERROR_V3
    reply = _obj({"bulkId": _str(), "messages": {"type": "array", "items": reply_message}}, ["messages"])
    return {
        "post": {
            "tags": ["Infobip"],
            "operationId": f"infobip_send_v{version}",
            "summary": f"Send SMS (Infobip sms/{version})",
            "security": _IB_SECURITY,
            "requestBody": {"required": True, "content": {JSON: {"schema": body}}},
            "responses": {
                "200": _json_response("Sent (refused entries listed as REJECTED).", reply),
                **_ib_errors(error),
            },
        }
    }


def _infobip_results(version: int, logs: bool) -> dict[str, Any]:
    names = ["bulkId", "messageId", "limit"]
    if logs:
        names += ["destination", "sender", "generalStatus", "sentSince", "sentUntil"]
    parameters = [
        _param(name, "query", name, _int(minimum=1, maximum=1000) if name == "limit" else _str())
        for name in names
    ]
    row = _obj(
        {
            "bulkId": _str(),
            "messageId": _str(),
            "sentAt": _str(),
            "doneAt": _str(),
            "status": _IB_STATUS,
            "error": {"type": "object"},
        }
    )
    kind = "logs" if logs else "reports"
    return {
        "get": {
            "tags": ["Infobip"],
            "operationId": f"infobip_{kind}_v{version}",
            "summary": f"Delivery {kind} (Infobip sms/{version})",
            "security": _IB_SECURITY,
            "parameters": parameters,
            "responses": {
                "200": _json_response(
                    "Newest first.", _obj({"results": {"type": "array", "items": row}}, ["results"])
                ),
                **_ib_errors(_IB_ERROR_V3 if version == 3 else _IB_ERROR_V2),
            },
        }
    }


def _infobip_session() -> dict[str, Any]:
    body = _obj(
        {"username": _str(), "password": _str(), "unsafe": {"type": "boolean"}}, ["username", "password"]
    )
    return {
        "post": {
            "tags": ["Infobip"],
            "operationId": "infobip_session_create",
            "summary": "Create a session (token for Authorization: IBSSO)",
            "security": [],
            "requestBody": {"required": True, "content": {JSON: {"schema": body}, FORM: {"schema": body}}},
            "responses": {
                "200": _json_response("Session token.", _obj({"token": _str()}, ["token"])),
                **_ib_errors(_IB_ERROR_V2),
            },
        },
        "delete": {
            "tags": ["Infobip"],
            "operationId": "infobip_session_destroy",
            "summary": "Destroy the session (IBSSO only)",
            "security": [{"IBSSO": []}],
            "responses": {"204": {"description": "Destroyed."}, **_ib_errors(_IB_ERROR_V2)},
        },
    }


def _infobip_oauth() -> dict[str, Any]:
    body = _obj(
        {
            "client_id": _str("The key's display prefix (first 11 characters)."),
            "client_secret": _str("The full API key."),
            "grant_type": {"const": "client_credentials"},
        },
        ["grant_type"],
    )
    error = _obj(
        {"error": _str(), "error_description": _str(), "requestError": {"type": "object"}}, ["error"]
    )
    token = _obj(
        {"access_token": _str(), "expires_in": _int(), "token_type": {"const": "Bearer"}},
        ["access_token", "expires_in", "token_type"],
    )
    return {
        "post": {
            "tags": ["Infobip"],
            "operationId": "infobip_oauth_token",
            "summary": "OAuth 2.0 client_credentials token (for Authorization: Bearer)",
            "security": [{}, {"Basic": []}],
            "requestBody": {"required": True, "content": {FORM: {"schema": body}}},
            "responses": {
                "200": _json_response("Access token.", token),
                "400": _json_response("Protocol error or refusal.", error),
                "401": _json_response("Invalid client.", error),
                "403": _json_response("Refused (IP, account, service).", error),
                "429": _json_response("Client locked by the brute-force throttle (Retry-After).", error),
                "500": _json_response("Internal error.", error),
            },
        }
    }


# --- GatewayAPI ---------------------------------------------------------------------------------

_GW_ERROR = _obj(
    {
        "code": _str("Catalogue code."),
        "incident_uuid": _str(format="uuid"),
        "message": _str(),
        "variables": {},
    },
    ["code", "incident_uuid", "message"],
)


def _gatewayapi_single() -> dict[str, Any]:
    body = _obj(
        {
            "sender": _str(maxLength=11),
            "message": _str(),
            "recipient": _int("MSISDN with country code.", minimum=10**9, maximum=10**15 - 1),
            "label": _str(maxLength=32),
            "reference": _str(),
            "expiration": _str(
                "ISO 8601 date-time: not handed to the gateway by then, the message expires.",
                format="date-time",
            ),
        },
        ["sender", "message", "recipient"],
    )
    ok = _obj(
        {"msg_id": _str(), "recipient": _int(), "reference": {"type": ["string", "null"]}},
        ["msg_id", "recipient", "reference"],
    )
    errors = {
        status: _json_response(text, _GW_ERROR)
        for status, text in (
            ("400", "Invalid input."),
            ("401", "Missing or invalid key (WWW-Authenticate: Token)."),
            ("402", "Insufficient balance (301)."),
            ("403", "Service, IP or account refused."),
            ("409", "Duplicate (311)."),
            ("500", "Internal error (506)."),
        )
    }
    return {
        "post": {
            "tags": ["GatewayAPI"],
            "operationId": "gatewayapi_mobile_single",
            "summary": "Send one SMS (GatewayAPI Mobile Message API)",
            "security": [{"Token": []}, {"authkeyHeader": []}],
            "requestBody": {"required": True, "content": {JSON: {"schema": body}}},
            "responses": {"200": _json_response("Sent.", ok), **errors},
        }
    }


# --- SMSGatewayCenter ---------------------------------------------------------------------------


def _smsgatewaycenter_regenerate() -> dict[str, Any]:
    fields = {
        "format": _str("Reply format (default plain).", enum=["plain", "json", "xml"]),
        "userId": _str("A company owner's or admin's email."),
        "password": _str("That user's password."),
        "keyName": _str("Which key to regenerate (with userId/password)."),
    }
    reply_json = _obj(
        {
            "status": _str(enum=["success", "error"]),
            "apiKey": _str(),
            "statusCode": _str(examples=["900", "911"]),
            "reason": _str(),
        },
        ["status", "statusCode", "reason"],
    )
    content = {
        JSON: {"schema": reply_json},
        XML: {
            "schema": _str(description="<generateApiKeySuccessResponse>… / <generateApiKeyErrorResponse>…")
        },
        TEXT: {"schema": _str(examples=["status=success | apiKey=… | statusCode=900 | reason=success"])},
    }
    responses = {
        "200": {"description": "The new key (the old one stops working at once).", "content": content},
        "401": {"description": "Invalid or missing credentials (911).", "content": content},
        "403": {"description": "Permission, IP or account refused.", "content": content},
        "429": {
            "description": "userId or IP locked by the brute-force throttle (911, Retry-After).",
            "content": content,
        },
        "500": {"description": "Internal error (506).", "content": content},
    }
    op = {
        "tags": ["SMSGatewayCenter"],
        "summary": "Regenerate an API key (SMSGatewayCenter)",
        "security": [{"apiKeyHeader": []}, {}],
        "responses": responses,
    }
    return {
        "get": {
            **op,
            "operationId": "smsgatewaycenter_regenerate_get",
            "parameters": [
                _param(name, "query", schema["description"], _str()) for name, schema in fields.items()
            ],
        },
        "post": {
            **op,
            "operationId": "smsgatewaycenter_regenerate_post",
            "requestBody": {"content": {FORM: {"schema": _obj(fields)}}},
        },
    }


# --- Infobip API-key management -----------------------------------------------------------------

_IB_KEY_ERROR = _obj(
    {
        "errorCode": _str(enum=["E400", "E401", "E403", "E404", "E429", "E500"]),
        "description": _str("Catalogue refusals start with the code, e.g. [207]."),
        "action": _str(),
        "violations": {
            "type": "array",
            "items": _obj({"property": _str("e.g. name, allowedIPs[1], validTo"), "violation": _str()}),
        },
        "resources": {"type": "array", "items": _obj({"name": _str(), "url": _str()})},
        "requestError": _IB_ERROR_V2["properties"]["requestError"],
    },
    ["errorCode", "description", "action", "violations", "resources", "requestError"],
    description="Infobip's ApiError shape, with the older requestError.serviceException alongside.",
)
_IB_DATE_TIME = "UTC, e.g. 2031-09-01T10:00:00 (an offset is accepted on input)."
_IB_KEY_FIELDS: dict[str, Any] = {
    "name": _str("Letters, digits, spaces, - and _ (at most 50)."),
    "allowedIPs": {
        "type": "array",
        "items": _str("IPv4, IPv6 or CIDR."),
        "description": "The key's own allow-list; empty: no IP restriction.",
    },
    "validFrom": {"type": ["string", "null"], "description": "Refused before this moment. " + _IB_DATE_TIME},
    "validTo": {
        "type": ["string", "null"],
        "description": "Refused from this moment on; null: no expiry. Default on create: one year. "
        + _IB_DATE_TIME,
    },
    "scopeGuids": {
        "type": "array",
        "items": _str(enum=scopes.known_scopes()),
        "description": "API scopes; they set the key's rule. Default on create: every service.",
    },
    "permissions": {"type": "array", "items": _str(enum=["PUBLIC_API"])},
    "enabled": {"type": "boolean"},
    "accountId": _str("Optional; must be your own accountId (no sub-accounts)."),
}
_IB_KEY = _obj(
    {
        "id": _str("apiKeyId: 32 upper-case hex characters."),
        "accountId": _str(),
        "name": _str(),
        "allowedIPs": {"type": "array", "items": _str()},
        "validFrom": _str(),
        "validTo": {"type": ["string", "null"]},
        "enabled": {"type": "boolean"},
        "permissions": {"type": "array", "items": _str()},
        "scopeGuids": {"type": "array", "items": _str()},
    },
    ["id", "name", "allowedIPs", "validFrom", "validTo", "enabled", "scopeGuids"],
)
_IB_KEY_SECURITY: list[dict[str, list[str]]] = [{"Basic": []}, {"IBSSO": []}, {"Bearer": []}]


def _ib_key_errors(*statuses: str) -> dict[str, Any]:
    texts = {
        "400": "Invalid input; violations name the property. Nothing was changed.",
        "401": "Invalid or missing credentials (with WWW-Authenticate).",
        "403": "An API key (App), a member's credentials, or a token without account-management:manage.",
        "404": "No such key in this account.",
        "429": "Daily creation limit reached (Retry-After: seconds to 00:00 UTC).",
        "500": "Internal error.",
    }
    return {status: _json_response(texts[status], _IB_KEY_ERROR) for status in statuses}


def _infobip_api_keys() -> dict[str, Any]:
    parameters = [
        _param("page", "query", "Page, from 0.", _int(minimum=0, maximum=100)),
        _param("size", "query", "Keys per page (default 100).", _int(minimum=1, maximum=100)),
        _param("orderBy", "query", "Default id.", _str(enum=["id", "name", "validFrom", "validTo"])),
        _param("orderDirection", "query", "Default asc.", _str(enum=["asc", "desc"])),
        _param("name", "query", "Only the key with this name (any case)."),
        _param("enabled", "query", "Only enabled or disabled keys.", {"type": "boolean"}),
        _param("apiKeySecret", "query", "Only the key with this secret."),
        _param("accountId", "query", "Your own accountId (optional)."),
    ]
    listing = _obj(
        {
            "apiKeys": {"type": "array", "items": _IB_KEY},
            "paging": _obj(
                {
                    "page": _int(),
                    "pageSize": _int(),
                    "orderDirection": _str(),
                    "orderBy": _str(),
                    "totalCount": _int(),
                    "totalPages": _int(),
                },
                ["page", "pageSize", "totalCount", "totalPages"],
            ),
        },
        ["apiKeys", "paging"],
    )
    created = {**_IB_KEY, "properties": {**_IB_KEY["properties"], "apiKeySecret": _str("Shown only here.")}}
    created["required"] = [*_IB_KEY["required"], "apiKeySecret"]
    return {
        "get": {
            "tags": ["Infobip"],
            "operationId": "infobip_api_keys_list",
            "summary": "List the account's API keys (paged; never the secrets)",
            "security": _IB_KEY_SECURITY,
            "parameters": parameters,
            "responses": {
                "200": _json_response("A page of keys.", listing),
                **_ib_key_errors("400", "401", "403"),
            },
        },
        "post": {
            "tags": ["Infobip"],
            "operationId": "infobip_api_keys_create",
            "summary": "Create an API key (the secret is returned once)",
            "security": _IB_KEY_SECURITY,
            "requestBody": {"required": True, "content": {JSON: {"schema": _obj(_IB_KEY_FIELDS, ["name"])}}},
            "responses": {
                "200": _json_response("The key, with apiKeySecret.", created),
                **_ib_key_errors("400", "401", "403", "429", "500"),
            },
        },
    }


def _infobip_api_key() -> dict[str, Any]:
    parameter = [_param("apiKeyId", "path", "The key's id.", required=True)]
    return {
        "get": {
            "tags": ["Infobip"],
            "operationId": "infobip_api_key_get",
            "summary": "Read an API key",
            "security": _IB_KEY_SECURITY,
            "parameters": parameter,
            "responses": {"200": _json_response("The key.", _IB_KEY), **_ib_key_errors("401", "403", "404")},
        },
        "put": {
            "tags": ["Infobip"],
            "operationId": "infobip_api_key_update",
            "summary": "Update an API key (absent fields are left as they are)",
            "security": _IB_KEY_SECURITY,
            "parameters": parameter,
            "requestBody": {"required": True, "content": {JSON: {"schema": _obj(_IB_KEY_FIELDS)}}},
            "responses": {
                "200": _json_response("The key.", _IB_KEY),
                **_ib_key_errors("400", "401", "403", "404", "500"),
            },
        },
    }


# --- The document -------------------------------------------------------------------------------

SECURITY_SCHEMES: dict[str, dict[str, Any]] = {
    "authkeyHeader": {"type": "apiKey", "in": "header", "name": "authkey", "description": "The API key."},
    "authkeyQuery": {"type": "apiKey", "in": "query", "name": "authkey", "description": "The API key."},
    "apiKeyHeader": {
        "type": "apiKey",
        "in": "header",
        "name": "apiKey",
        "description": "The API key (SMSGatewayCenter).",
    },
    "App": {"type": "apiKey", "in": "header", "name": "Authorization", "description": "`App <api key>`."},
    "Token": {"type": "apiKey", "in": "header", "name": "Authorization", "description": "`Token <api key>`."},
    "Basic": {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": "`Basic base64(email:password)` of a company user.",
    },
    "Bearer": {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": "`Bearer <access token>` from /auth/1/oauth2/token.",
    },
    "IBSSO": {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": "`IBSSO <session token>` from /auth/1/session.",
    },
}


def build() -> dict[str, Any]:
    """The OpenAPI document (a fresh dict each call)."""
    paths: dict[str, Any] = {
        "/api/sendhttp.php": _msg91_sendhttp(),
        "/api/v2/sendsms": _msg91_v2(),
        "/api/v5/report": _msg91_report("msg91_report", path_param=False),
        "/api/v5/report/{request_id}": _msg91_report("msg91_report_id", path_param=True),
        "/api/getReport.php": _msg91_report("msg91_get_report", path_param=False),
        "/api/v5/flow/": _msg91_flow("msg91_flow"),
        "/api/v5/flow": _msg91_flow("msg91_flow_no_slash"),
        "/api/sendotp.php": _msg91_otp("send", "msg91_sendotp", v5=False),
        "/api/retryotp.php": _msg91_otp("retry", "msg91_retryotp", v5=False),
        "/api/verifyRequestOTP.php": _msg91_otp("verify", "msg91_verify_otp", v5=False),
        "/api/v5/otp": _msg91_otp("send", "msg91_otp", v5=True),
        "/api/v5/otp/retry": _msg91_otp("retry", "msg91_otp_retry", v5=True),
        "/api/v5/otp/verify": _msg91_otp("verify", "msg91_otp_verify", v5=True),
        "/auth/1/session": _infobip_session(),
        "/auth/1/oauth2/token": _infobip_oauth(),
        "/sms/2/text/advanced": _infobip_send(2),
        "/sms/3/messages": _infobip_send(3),
        "/sms/3/reports": _infobip_results(3, logs=False),
        "/sms/3/logs": _infobip_results(3, logs=True),
        "/sms/1/reports": _infobip_results(1, logs=False),
        "/sms/1/logs": _infobip_results(1, logs=True),
        "/mobile/single": _gatewayapi_single(),
        "/SMSApi/rest/regenerateAPIKey": _smsgatewaycenter_regenerate(),
        "/settings/2/api-keys": _infobip_api_keys(),
        "/settings/2/api-keys/{apiKeyId}": _infobip_api_key(),
    }
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "SMS Portal API",
            "version": "1",
            "description": "Provider-compatible SMS API: MSG91, Infobip, GatewayAPI and SMSGatewayCenter "
            "dialects, each in its provider's wire format. Human documentation: /api-docs/.",
        },
        "tags": [{"name": name} for name in ("MSG91", "Infobip", "GatewayAPI", "SMSGatewayCenter")],
        "paths": paths,
        "components": {"securitySchemes": SECURITY_SCHEMES},
    }


@login_not_required
@require_GET
def openapi_json(request: HttpRequest) -> JsonResponse:
    """GET /api/openapi.json (public)."""
    return JsonResponse(build(), json_dumps_params={"indent": 1})
