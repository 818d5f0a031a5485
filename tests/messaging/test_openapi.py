"""The OpenAPI document (/api/openapi.json) and a schemathesis fuzz run of every API operation
against the WSGI app in-process: no request may end in a server error (5xx)."""

import base64
import re

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.urls import URLPattern, URLResolver, get_resolver
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from authkeys import auth
from messaging import openapi
from tests.factories import PASSWORD, CompanyFactory, UserFactory, make_key

URL = "/api/openapi.json"
# Non-API routes of messaging/urls.py (HTML pages and the document itself).
NOT_API = {
    "failed_logs",
    "failed_log_whitelist",
    "debug",
    "api_docs",
    "error_codes",
    "openapi",
    "sender_ids",
    "contact_groups",
    "contact_group",
    "contact_group_rename",
    "contact_group_delete",
    "group_member_remove",
    "flows",
    "flow",
}  # the panel's pages in messaging/urls.py


def _api_routes() -> dict[str, str]:
    """url name → OpenAPI path for each API endpoint of the messaging namespace."""
    resolver = get_resolver()
    routes: dict[str, str] = {}

    def walk(patterns, prefix: str, namespace: str | None) -> None:  # type: ignore[no-untyped-def]
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, route, pattern.namespace or namespace)
            elif isinstance(pattern, URLPattern) and namespace == "messaging" and pattern.name not in NOT_API:
                routes[pattern.name] = "/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route)

    walk(resolver.url_patterns, "", None)
    return routes


def _methods(document: dict, path: str) -> set[str]:  # type: ignore[type-arg]
    return {
        method for method in document["paths"][path] if method in {"get", "post", "put", "delete", "patch"}
    }


def test_document_is_served_publicly(client):
    response = client.get(URL)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json() == openapi.build()


def test_document_covers_every_api_route():
    document = openapi.build()
    assert document["openapi"].startswith("3.1")
    routes = _api_routes()
    assert len(routes) >= 15
    missing = sorted(path for path in routes.values() if path not in document["paths"])
    assert missing == []
    assert sorted(document["paths"]) == sorted(set(routes.values()))


@pytest.mark.parametrize(
    ("path", "methods"),
    [
        ("/api/sendhttp.php", {"get", "post"}),
        ("/api/v2/sendsms", {"post"}),
        ("/api/v5/report/{request_id}", {"get", "post"}),
        ("/auth/1/session", {"post", "delete"}),
        ("/auth/1/oauth2/token", {"post"}),
        ("/sms/3/reports", {"get"}),
        ("/mobile/single", {"post"}),
        ("/SMSApi/rest/regenerateAPIKey", {"get", "post"}),
        ("/settings/2/api-keys", {"get", "post"}),
        ("/settings/2/api-keys/{apiKeyId}", {"get", "put"}),
    ],
)
def test_document_methods(path, methods):
    assert _methods(openapi.build(), path) == methods


def test_document_security_schemes():
    document = openapi.build()
    schemes = document["components"]["securitySchemes"]
    assert {
        "authkeyHeader",
        "authkeyQuery",
        "apiKeyHeader",
        "App",
        "Token",
        "Basic",
        "Bearer",
        "IBSSO",
    } <= set(schemes)
    for path_item in document["paths"].values():
        for operation in path_item.values():
            for requirement in operation["security"]:
                assert set(requirement) <= set(schemes)


def test_document_is_loadable_by_schemathesis():
    schema = schemathesis.openapi.from_dict(openapi.build())
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == sum(len(_methods(openapi.build(), path)) for path in openapi.build()["paths"])


# --- Fuzzing ------------------------------------------------------------------------------------

WSGI_APP = get_wsgi_application()
# Endpoints whose credentials are in the body (username/password, client_secret): the fixture's
# headers do not authenticate them.
BODY_CREDENTIALS = {"/auth/1/session", "/auth/1/oauth2/token"}
OPERATIONS = [
    (method, path)
    for path, item in openapi.build()["paths"].items()
    for method in sorted(_methods(openapi.build(), path))
]


@pytest.fixture
def _keep_connections():  # type: ignore[no-untyped-def]
    """Calling the WSGI app directly fires request_started/finished, whose close_old_connections
    would close the test's connection (and its open transaction); Django's test Client
    disconnects it the same way."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def fuzz_credentials(settings, _keep_connections):  # type: ignore[no-untyped-def]
    settings.AUTHKEY_LOCAL_CACHE_SECONDS = 0
    auth._local.clear()
    company = CompanyFactory(sms_balance=10**6)
    _, secret = make_key(company=company, ip_security=False)
    user = UserFactory(company=company)
    return secret, user


def _auth_headers(path: str, secret: str, user) -> dict[str, str]:  # type: ignore[no-untyped-def]
    if path.startswith("/api/"):
        return {"authkey": secret}
    if path == "/mobile/single":
        return {"Authorization": f"Token {secret}"}
    if path.startswith("/SMSApi/"):
        return {"apiKey": secret}
    if path == "/auth/1/session" or path.startswith("/settings/"):  # key management: a user's Basic
        basic = base64.b64encode(f"{user.email}:{PASSWORD}".encode()).decode()
        return {"Authorization": f"Basic {basic}"}
    return {"Authorization": f"App {secret}"}


@pytest.mark.django_db
@pytest.mark.parametrize("credentials", ["valid", "generated"])
@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m.upper()} {p}" for m, p in OPERATIONS])
def test_no_server_errors(fuzz_credentials, method, path, credentials):
    """Every generated request (valid key, or the generated/absent credentials) answers < 500."""
    secret, user = fuzz_credentials
    schema = schemathesis.openapi.from_wsgi(URL, WSGI_APP)
    operation = schema[path][method.upper()]
    headers = _auth_headers(path, secret, user) if credentials == "valid" else {}

    @given(case=operation.as_strategy())
    @settings(
        max_examples=25 if credentials == "valid" else 10,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
    )
    def run(case) -> None:  # type: ignore[no-untyped-def]
        response = case.call(app=WSGI_APP, headers=headers)
        statuses.append(response.status_code)
        case.validate_response(response, checks=[not_a_server_error])

    statuses: list[int] = []
    run()
    assert statuses
    if credentials == "valid" and path not in BODY_CREDENTIALS:
        # The key was accepted at least once (the run got past authentication).
        assert set(statuses) - {401}, statuses


# --- The documented examples (README, /api-docs/) work as shown ---------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("method", "url", "header", "payload", "keys"),
    [
        (
            "post",
            "/sms/2/text/advanced",
            "App",
            {"messages": [{"from": "ACMEIN", "destinations": [{"to": "919876543210"}], "text": "Hello"}]},
            {"bulkId", "messages"},
        ),
        (
            "post",
            "/sms/3/messages",
            "App",
            {
                "messages": [
                    {
                        "sender": "ACMEIN",
                        "destinations": [{"to": "919876543210"}],
                        "content": {"text": "Hello"},
                    }
                ]
            },
            {"bulkId", "messages"},
        ),
        ("get", "/sms/3/reports?limit=10", "App", None, {"results"}),
        (
            "post",
            "/mobile/single",
            "Token",
            {"sender": "ACMEIN", "message": "Hello", "recipient": 919876543210},
            {"msg_id", "recipient", "reference"},
        ),
    ],
)
def test_documented_examples(client, fuzz_credentials, method, url, header, payload, keys):
    secret, _ = fuzz_credentials
    kwargs = {"HTTP_AUTHORIZATION": f"{header} {secret}"}
    if payload is not None:
        kwargs |= {"data": payload, "content_type": "application/json"}
    response = getattr(client, method)(url, **kwargs)
    assert response.status_code == 200, response.content
    assert set(response.json()) == keys


@pytest.mark.django_db
def test_documented_examples_msg91_report_and_regenerate(client, fuzz_credentials):
    secret, _ = fuzz_credentials
    sent = client.get(
        "/api/sendhttp.php",
        {"authkey": secret, "mobiles": "919876543210", "message": "Hello", "sender": "ACMEIN", "route": "4"},
    )
    request_id = sent.content.decode()
    report = client.get(f"/api/v5/report/{request_id}", HTTP_AUTHKEY=secret)
    assert report.status_code == 200 and report.json()["requestId"] == request_id
    legacy = client.get("/api/getReport.php", {"authkey": secret, "request_id": request_id})
    assert legacy.json() == report.json()
    regenerated = client.post("/SMSApi/rest/regenerateAPIKey", {"format": "json"}, HTTP_APIKEY=secret)
    assert regenerated.status_code == 200
    assert regenerated.json()["statusCode"] == "900"


@pytest.mark.django_db
def test_documented_examples_session_and_oauth(client, fuzz_credentials):
    from authkeys import keys

    secret, user = fuzz_credentials
    session = client.post(
        "/auth/1/session", {"username": user.email, "password": PASSWORD}, content_type="application/json"
    )
    assert session.status_code == 200, session.content
    token = session.json()["token"]
    assert client.delete("/auth/1/session", HTTP_AUTHORIZATION=f"IBSSO {token}").status_code == 204
    oauth = client.post(
        "/auth/1/oauth2/token",
        {
            "client_id": keys.display_prefix(secret),
            "client_secret": secret,
            "grant_type": "client_credentials",
        },
    )
    assert oauth.status_code == 200, oauth.content
    assert oauth.json()["token_type"] == "Bearer"
    bearer = client.get("/sms/3/logs", HTTP_AUTHORIZATION=f"Bearer {oauth.json()['access_token']}")
    assert bearer.status_code == 200
