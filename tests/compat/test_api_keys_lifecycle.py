"""The API key lifecycle end to end over real HTTP (`requests` against pytest-django's live server):
create (secret once) → send with it (`Authorization: App`) → restrict allowedIPs to another
address (418 from here) → allow this one → disable (401) → re-enable → validTo reached (refused).

The live server runs in a thread of this process, so time-machine's frozen clock applies to it too:
"expire" is the exact instant of validTo, not a sleep."""

import base64
import importlib
from datetime import UTC, datetime, timedelta

import pytest
import requests
import time_machine

from authkeys import auth
from authkeys.models import AuthKey, SecurityEvent
from messaging.delivery import locmem
from messaging.models import FailedRequest, Message
from tests.factories import PASSWORD, CompanyFactory, UserFactory

pytestmark = pytest.mark.compat

Kind = SecurityEvent.Kind
# No kept-alive connections: each would keep a live-server thread (and its database connection)
# alive past the test.
NO_KEEP_ALIVE = {"Connection": "close"}


@pytest.fixture
def seeded_catalogue(transactional_db):  # type: ignore[no-untyped-def]
    """The service catalogue and the built-in rule, which earlier transactional tests' flush
    removed (see tests/e2e/conftest.py)."""
    from django.apps import apps

    importlib.import_module("authkeys.migrations.0002_service_catalogue").seed(apps, None)


@pytest.fixture(autouse=True)
def _clean(settings):  # type: ignore[no-untyped-def]
    settings.AUTHKEY_LOCAL_CACHE_SECONDS = 0
    auth.forget_local()
    locmem.outbox.clear()
    yield
    locmem.outbox.clear()


class Portal:
    """A tiny HTTP client for the two sides of the test: the owner managing keys (Basic) and an
    integration sending with the key (App)."""

    def __init__(self, base: str, email: str) -> None:
        self.base = base
        credentials = base64.b64encode(f"{email}:{PASSWORD}".encode()).decode()
        self.owner = {**NO_KEEP_ALIVE, "Authorization": f"Basic {credentials}"}

    def keys(self, method: str, path: str = "", **json_body) -> requests.Response:  # type: ignore[no-untyped-def]
        return requests.request(
            method,
            f"{self.base}/settings/2/api-keys{path}",
            headers=self.owner,
            json=json_body or None,
            timeout=30,
        )

    def send(self, secret: str, to: str) -> requests.Response:
        message = {"sender": "ACMEIN", "destinations": [{"to": to}], "content": {"text": "Hello"}}
        return requests.post(
            f"{self.base}/sms/3/messages",
            headers={**NO_KEEP_ALIVE, "Authorization": f"App {secret}"},
            json={"messages": [message]},
            timeout=30,
        )


def test_key_lifecycle_over_http(live_server, seeded_catalogue):  # type: ignore[no-untyped-def]
    company = CompanyFactory(sms_balance=100)
    owner = UserFactory(company=company)
    portal = Portal(live_server.url, owner.email)
    valid_to = (datetime.now(UTC) + timedelta(days=30)).replace(microsecond=0)

    # Create: the secret comes back once.
    created = portal.keys(
        "post",
        name="Lifecycle",
        scopeGuids=["sms:message:send", "sms:logs:read"],
        validTo=valid_to.isoformat(),
    )
    assert created.status_code == 200, created.text
    assert "no-store" in created.headers["Cache-Control"]
    key = created.json()
    secret = key.pop("apiKeySecret")
    assert key["allowedIPs"] == [] and key["enabled"] is True
    assert key["validTo"] == valid_to.strftime("%Y-%m-%dT%H:%M:%S")
    assert key["scopeGuids"] == ["sms:logs:read", "sms:message:send"]
    item = f"/{key['id']}"
    assert portal.keys("get", item).json() == key
    assert all("apiKeySecret" not in row for row in portal.keys("get").json()["apiKeys"])

    # Use it: an integration sends with `Authorization: App <key>`.
    sent = portal.send(secret, "919876543210")
    assert sent.status_code == 200, sent.text
    assert sent.json()["messages"][0]["status"]["groupName"] == "PENDING"

    # Only another address may use it: 418 from here, and a Failed Logs row.
    restricted = portal.keys("put", item, allowedIPs=["203.0.113.7"])
    assert restricted.status_code == 200 and restricted.json()["allowedIPs"] == ["203.0.113.7"]
    refused = portal.send(secret, "919876543211")
    assert refused.status_code == 403 and refused.json()["errorCode"] == "E403"
    assert refused.json()["description"] == "[418] IP 127.0.0.1 is not whitelisted for this authkey."
    assert FailedRequest.objects.filter(code="418", authkey__isnull=False).count() == 1

    # This address too: accepted again.
    assert portal.keys("put", item, allowedIPs=["203.0.113.7", "127.0.0.1"]).status_code == 200
    assert portal.send(secret, "919876543212").status_code == 200

    # Disable → 401; re-enable → accepted.
    assert portal.keys("put", item, enabled=False).json()["enabled"] is False
    disabled = portal.send(secret, "919876543213")
    assert disabled.status_code == 401 and disabled.json()["errorCode"] == "E401"
    assert "WWW-Authenticate" in disabled.headers
    assert disabled.json()["description"] == "[207] This authentication key is disabled."
    assert portal.keys("put", item, enabled=True).json()["enabled"] is True
    assert portal.send(secret, "919876543214").status_code == 200

    # Expire: refused from validTo on, to the instant.
    with time_machine.travel(valid_to - timedelta(microseconds=1), tick=False):
        assert portal.send(secret, "919876543215").status_code == 200
    with time_machine.travel(valid_to, tick=False):
        expired = portal.send(secret, "919876543216")
    assert expired.status_code == 401
    assert expired.json()["description"] == "[207] This authentication key has expired."

    # What happened is in the database and the audit log, never the secret.
    assert Message.objects.filter(company=company).count() == 4
    authkey = AuthKey.objects.get(public_id=key["id"])
    kinds = list(SecurityEvent.objects.filter(authkey=authkey).order_by("pk").values_list("kind", flat=True))
    assert kinds == [
        Kind.KEY_CREATED,
        Kind.IP_ADDED,
        Kind.IP_SECURITY_ON,
        Kind.IP_ADDED,
        Kind.KEY_DISABLED,
        Kind.KEY_ENABLED,
    ]
    assert not FailedRequest.objects.filter(reason__contains=secret).exists()
    assert not SecurityEvent.objects.filter(after__icontains=secret).exists()
