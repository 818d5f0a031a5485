"""Where an API key can come from, and refusing ambiguous requests.

One request may carry its key in several places (header, query string, form or JSON body,
Authorization header). They must all agree: two different keys, or one parameter repeated with
different values, is refused rather than guessed at.

Besides API keys, endpoints may opt in (`principals=True`) to the Authorization schemes that do
not carry a key: `Basic` (a company user's email and password), `IBSSO <session token>` and
`Bearer <OAuth access token>`; messaging/sessions.py authenticates them. They come back as a
`Presented` with the scheme in `scheme` ("" for an API key), never decoded here.
"""

import base64
import binascii
from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest

from messaging.catalogue import ApiError, Code

# Authorization schemes that carry an API key directly.
_KEY_SCHEMES = {"app", "token"}
# Authorization schemes whose credentials are not an API key (see messaging/sessions.py).
BASIC = "basic"
IBSSO = "ibsso"
BEARER = "bearer"
PRINCIPAL_SCHEMES = frozenset({BASIC, IBSSO, BEARER})


@dataclass(frozen=True)
class Presented:
    key: str  # the API key, or the scheme's credentials as sent (never logged or stored)
    source: str  # e.g. "authkey header", "Authorization: App"
    scheme: str = ""  # "" for an API key, else one of PRINCIPAL_SCHEMES


def decode_basic(credentials: str) -> tuple[str, str] | None:
    """`Basic` credentials → (username, password), or None when they are not base64 of `user:pass`."""
    try:
        decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    username, colon, password = decoded.partition(":")
    return (username, password) if colon else None


def _header(request: HttpRequest, name: str) -> str | None:
    """request.headers.get(name) without building the headers mapping (every API request asks)."""
    value = request.META.get("HTTP_" + name.upper().replace("-", "_"))
    return None if value is None else str(value)


def _values(source: Any, name: str) -> list[str]:
    if hasattr(source, "getlist"):
        return [str(value) for value in source.getlist(name)]
    value = source.get(name) if isinstance(source, dict) else None
    if value is None:
        return []
    return [str(item) for item in value] if isinstance(value, list) else [str(value)]


def presented_key(
    request: HttpRequest,
    *,
    body: dict[str, Any] | None = None,
    params: tuple[str, ...] = ("authkey",),
    principals: bool = False,
) -> Presented | None:
    """The one API key the request presents, or None. Raises ApiError(207) on conflicts.
    With `principals`, `Authorization: Basic | IBSSO | Bearer` credentials count too."""
    found: list[Presented] = []
    for name in params:
        header = _header(request, name)
        if header is not None:
            found.append(Presented(header.strip(), f"{name} header"))
        for label, source in (("query", request.GET), ("form", request.POST), ("JSON", body or {})):
            for value in _values(source, name):
                found.append(Presented(value.strip(), f"{name} {label} parameter"))
    api_key_header = _header(request, "apiKey")
    if api_key_header is not None:
        found.append(Presented(api_key_header.strip(), "apiKey header"))
    authorization = _header(request, "Authorization") or ""
    if authorization:
        scheme, _, credentials = authorization.strip().partition(" ")
        if scheme.lower() in _KEY_SCHEMES and credentials.strip():
            found.append(Presented(credentials.strip(), f"Authorization: {scheme}"))
        elif principals and scheme.lower() in PRINCIPAL_SCHEMES and credentials.strip():
            found.append(Presented(credentials.strip(), f"Authorization: {scheme}", scheme.lower()))
    keys = {(item.key, item.scheme) for item in found}
    if len(keys) > 1:
        raise ApiError(
            Code.INVALID_AUTHKEY,
            "Conflicting credentials: the request carries different keys ("
            + ", ".join(sorted({item.source for item in found}))
            + "). Send exactly one.",
        )
    return found[0] if found else None
