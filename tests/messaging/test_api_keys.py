"""Key management over the API, Infobip-compatible (/settings/2/api-keys): authentication methods
and roles, the secret shown once, validation in Infobip's 400 shape naming the property, paging,
the daily creation limit, updates through the Authkey services, and scopes as a view of rules."""

import base64
import itertools
import json
from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from accounts.models import User
from authkeys import auth, keys, scopes
from authkeys import services as key_services
from authkeys import services_catalogue as sc
from authkeys.auth import Refusal, authenticate_key
from authkeys.models import AuthKey, KeyAllowedIP, Rule, SecurityEvent, Service
from messaging.dialects.infobip_keys import account_id
from messaging.models import FailedRequest
from tests.factories import PASSWORD, CompanyFactory, UserFactory, builtin_rule, make_key

pytestmark = pytest.mark.django_db

URL = "/settings/2/api-keys"
NOW = datetime(2031, 5, 4, 10, 30, tzinfo=UTC)
Kind = SecurityEvent.Kind
_names = itertools.count()


@pytest.fixture(autouse=True)
def _fresh_grants(settings):  # type: ignore[no-untyped-def]
    settings.AUTHKEY_LOCAL_CACHE_SECONDS = 0
    auth.forget_local()


@pytest.fixture
def company():  # type: ignore[no-untyped-def]
    return CompanyFactory(sms_balance=100)


@pytest.fixture
def owner(company):  # type: ignore[no-untyped-def]
    return UserFactory(company=company, role=User.Role.OWNER)


def basic(user, password: str = PASSWORD) -> str:  # type: ignore[no-untyped-def]
    return "Basic " + base64.b64encode(f"{user.email}:{password}".encode()).decode()


def call(client, method: str, url: str, auth_header: str | None, body=None):  # type: ignore[no-untyped-def]
    kwargs = {}
    if auth_header is not None:
        kwargs["HTTP_AUTHORIZATION"] = auth_header
    if body is not None:
        kwargs |= {
            "data": body if isinstance(body, str) else json.dumps(body),
            "content_type": "application/json",
        }
    return getattr(client, method)(url, **kwargs)


def create(client, user, **body):  # type: ignore[no-untyped-def]
    body.setdefault("name", f"Key {next(_names)}")
    return call(client, "post", URL, basic(user), body)


def state(company) -> dict:  # type: ignore[no-untyped-def]
    """Everything a refused request must leave alone."""
    return {
        "keys": list(AuthKey.objects.filter(company=company).order_by("pk").values()),
        "ips": list(KeyAllowedIP.objects.filter(authkey__company=company).order_by("pk").values()),
        "rules": list(Rule.objects.filter(company=company).order_by("pk").values("pk", "name")),
        "events": SecurityEvent.objects.filter(company=company).count(),
    }


def session_token(client, user) -> str:  # type: ignore[no-untyped-def]
    response = client.post(
        "/auth/1/session", {"username": user.email, "password": PASSWORD}, content_type="application/json"
    )
    assert response.status_code == 200, response.content
    return response.json()["token"]


def access_token(client, secret: str) -> str:
    response = client.post(
        "/auth/1/oauth2/token",
        {
            "client_id": keys.display_prefix(secret),
            "client_secret": secret,
            "grant_type": "client_credentials",
        },
    )
    assert response.status_code == 200, response.content
    return response.json()["access_token"]


def rule_with(company, *codes: str) -> Rule:  # type: ignore[no-untyped-def]
    return key_services.rule_create(
        company=company,
        actor=None,
        name=" ".join(codes),
        services=list(Service.objects.filter(code__in=codes)),
    )


def assert_error(response, status: int, message_id: str, properties: list[str] | None = None) -> dict:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.content
    reply = response.json()
    assert reply["errorCode"] == f"E{status}"
    assert reply["action"] and reply["resources"] == []
    exception = reply["requestError"]["serviceException"]
    assert exception["messageId"] == message_id and exception["text"] == reply["description"]
    assert [violation["property"] for violation in reply["violations"]] == (properties or [])
    if properties:
        assert sorted(exception["validationErrors"]) == sorted(properties)
    assert ("WWW-Authenticate" in response) == (status == 401)
    assert "no-store" in response["Cache-Control"]
    return reply


# --- Create: the secret once --------------------------------------------------------------------


def test_create_returns_the_key_with_its_secret_once(client, company, owner):
    with time_machine.travel(NOW, tick=False):
        response = create(
            client,
            owner,
            name="Billing system",
            allowedIPs=["203.0.113.7", "198.51.100.0/24"],
            validFrom="2031-06-01T00:00:00",
            validTo="2032-06-01T00:00:00+02:00",
            scopeGuids=["sms:message:send", "sms:logs:read"],
            permissions=["PUBLIC_API"],
        )
    assert response.status_code == 200, response.content
    reply = response.json()
    authkey = AuthKey.objects.get(company=company)
    secret = reply.pop("apiKeySecret")
    assert keys.is_well_formed(secret) and keys.display_prefix(secret) == authkey.display_prefix
    assert reply == {
        "id": authkey.public_id,
        "accountId": account_id(company.pk),
        "name": "Billing system",
        "allowedIPs": ["203.0.113.7", "198.51.100.0/24"],
        "validFrom": "2031-06-01T00:00:00",
        "validTo": "2032-05-31T22:00:00",
        "enabled": True,
        "permissions": ["PUBLIC_API"],
        "scopeGuids": ["sms:logs:read", "sms:message:send"],
    }
    assert len(authkey.public_id) == 32 and authkey.public_id != str(authkey.pk)
    assert secret not in response.get("Cache-Control", "") and "no-store" in response["Cache-Control"]
    # Read back: never the secret again.
    item = call(client, "get", f"{URL}/{authkey.public_id}", basic(owner))
    assert item.status_code == 200 and item.json() == reply
    listed = call(client, "get", URL, basic(owner)).json()["apiKeys"]
    assert listed == [reply]
    # The same services as the Authkey page: events with the user, the IPs, a rule for the scopes.
    kinds = list(
        SecurityEvent.objects.filter(company=company).order_by("pk").values_list("kind", "actor_user")
    )
    assert kinds == [
        (Kind.RULE_CREATED, owner.pk),
        (Kind.KEY_CREATED, owner.pk),
        (Kind.IP_ADDED, owner.pk),
        (Kind.IP_ADDED, owner.pk),
    ]
    assert authkey.ip_security and authkey.created_by == owner
    assert sorted(authkey.rule.services.values_list("code", flat=True)) == [sc.REPORTS, sc.SMS_SEND]
    with time_machine.travel(datetime(2031, 6, 1, tzinfo=UTC), tick=False):
        assert authenticate_key(secret, "203.0.113.7").ok
        assert authenticate_key(secret, "192.0.2.1").refusal == Refusal.IP_NOT_ALLOWED


def test_create_defaults_like_infobip(client, company, owner):
    with time_machine.travel(NOW, tick=False):
        reply = create(client, owner, name="Defaults").json()
    authkey = AuthKey.objects.get(company=company)
    assert authkey.rule == builtin_rule() and not authkey.ip_security and authkey.valid_from is None
    assert authkey.expires_at == NOW + timedelta(days=365)
    assert reply["validFrom"] == "2031-05-04T10:30:00" and reply["validTo"] == "2032-05-03T10:30:00"
    assert reply["allowedIPs"] == [] and reply["enabled"] is True
    assert reply["scopeGuids"] == sorted(scopes.CANONICAL.values())
    assert authenticate_key(reply["apiKeySecret"], "192.0.2.1").ok  # no IP restriction


def test_validto_null_or_no_default_validity_means_no_expiry(client, company, owner, settings):
    assert create(client, owner, validTo=None).json()["validTo"] is None
    settings.AUTHKEYS_API_DEFAULT_VALIDITY_DAYS = 0
    assert create(client, owner).json()["validTo"] is None
    assert list(AuthKey.objects.values_list("expires_at", flat=True)) == [None, None]


def test_create_disabled(client, company, owner):
    reply = create(client, owner, enabled=False).json()
    assert reply["enabled"] is False
    assert authenticate_key(reply["apiKeySecret"], "192.0.2.1").refusal == Refusal.DISABLED


# --- Authentication methods and roles -----------------------------------------------------------


@pytest.mark.parametrize("method", ["basic", "ibsso", "bearer"])
def test_basic_ibsso_and_bearer_may_manage_keys(client, company, owner, method):
    if method == "basic":
        header = basic(owner)
    elif method == "ibsso":
        header = f"IBSSO {session_token(client, owner)}"
    else:
        _, secret = make_key(company=company, ip_security=False, rule=rule_with(company, sc.KEY_MANAGEMENT))
        header = f"Bearer {access_token(client, secret)}"
    response = call(client, "post", URL, header, {"name": "Made by " + method})
    assert response.status_code == 200, response.content
    authkey = AuthKey.objects.get(name="Made by " + method)
    event = SecurityEvent.objects.get(kind=Kind.KEY_CREATED, authkey=authkey)
    assert event.actor_user == (None if method == "bearer" else owner) and event.actor_ip == "127.0.0.1"
    assert call(client, "get", URL, header).status_code == 200


@pytest.mark.parametrize(
    "credential",
    ["App", "Token", "apiKey header"],
)
def test_an_api_key_cannot_manage_keys(client, company, credential):
    authkey, secret = make_key(company=company, ip_security=False)  # all services, key-management too
    before = state(company)
    headers = (
        {"HTTP_APIKEY": secret}
        if credential == "apiKey header"
        else {"HTTP_AUTHORIZATION": f"{credential} {secret}"}
    )
    for response in (
        client.post(URL, json.dumps({"name": "Minted"}), content_type="application/json", **headers),
        client.get(URL, **headers),
        client.put(
            f"{URL}/{authkey.public_id}",
            json.dumps({"enabled": False}),
            content_type="application/json",
            **headers,
        ),
    ):
        reply = assert_error(response, 403, "FORBIDDEN")
        assert reply["description"].startswith("[207] An API key cannot manage API keys")
    assert state(company) == before
    failed = FailedRequest.objects.order_by("pk")
    assert [(row.code, row.authkey_id, row.endpoint) for row in failed] == [
        ("207", authkey.pk, URL),
        ("207", authkey.pk, URL),
        ("207", authkey.pk, "/settings/2/api-keys/{apiKeyId}"),
    ]
    assert all(secret not in row.reason for row in failed)


def test_a_bearer_token_needs_the_key_management_scope(client, company):
    _, secret = make_key(company=company, ip_security=False, rule=rule_with(company, sc.SMS_SEND))
    header = f"Bearer {access_token(client, secret)}"
    before = state(company)
    reply = assert_error(call(client, "post", URL, header, {"name": "Minted"}), 403, "FORBIDDEN")
    assert "account-management:manage" in reply["description"]
    assert state(company) == before


@pytest.mark.parametrize("method", ["basic", "ibsso"])
def test_a_member_is_refused(client, company, owner, method):
    member = UserFactory(company=company, role=User.Role.MEMBER)
    authkey, _ = make_key(company=company)
    header = basic(member) if method == "basic" else f"IBSSO {session_token(client, member)}"
    before = state(company)
    for response in (
        call(client, "post", URL, header, {"name": "Minted"}),
        call(client, "get", URL, header),
        call(client, "get", f"{URL}/{authkey.public_id}", header),
        call(client, "put", f"{URL}/{authkey.public_id}", header, {"enabled": False}),
    ):
        reply = assert_error(response, 403, "FORBIDDEN")
        assert reply["description"] == "[207] Only the company's owner or admins may manage API keys."
    assert state(company) == before
    assert FailedRequest.objects.filter(company=company, code="207").count() == 4


def test_an_admin_may_manage_keys(client, company):
    admin = UserFactory(company=company, role=User.Role.ADMIN)
    assert create(client, admin).status_code == 200


@pytest.mark.parametrize(
    ("header", "code"),
    [
        (None, "207"),
        ("Basic " + base64.b64encode(b"nobody@company.example:wrong").decode(), "201"),
        ("IBSSO ses_not-a-session", "207"),
        ("Bearer oat_not-a-token", "207"),
        ("App smsp_not-a-key", "207"),
    ],
)
def test_bad_credentials_are_401(client, company, header, code):
    before = state(company)
    reply = assert_error(call(client, "post", URL, header, {"name": "Minted"}), 401, "UNAUTHORIZED")
    assert reply["description"].startswith(f"[{code}] ")
    assert state(company) == before
    assert FailedRequest.objects.get().code == code


def test_wrong_password_is_401_and_attributed_to_the_company(client, company, owner):
    assert_error(call(client, "get", URL, basic(owner, "wrong")), 401, "UNAUTHORIZED")
    assert FailedRequest.objects.get().company == company


# --- Validation: Infobip's 400 naming the property, nothing changed -----------------------------


def _taken(company):  # type: ignore[no-untyped-def]
    make_key(company=company, name="Taken")


@pytest.mark.parametrize(
    ("body", "prop", "message"),
    [
        ({"name": None}, "name", "Give the key a name."),
        ({"name": "   "}, "name", "Give the key a name."),
        ({"name": 5}, "name", "must be a string."),
        ({"name": "a$b"}, "name", "Use letters, digits, spaces, - and _ only in the key name"),
        ({"name": "x" * 51}, "name", "A key name has at most 50 characters."),
        ({"name": "taken"}, "name", "Another key of this company is already named “taken”."),
        ({"allowedIPs": "203.0.113.7"}, "allowedIPs", "must be an array of strings."),
        ({"allowedIPs": ["203.0.113.7", "300.1.2.3"]}, "allowedIPs[1]", "300.1.2.3"),
        ({"allowedIPs": [7]}, "allowedIPs[0]", "must be a string."),
        ({"validFrom": "tomorrow"}, "validFrom", "'tomorrow' is not a date and time"),
        ({"validTo": 1234}, "validTo", "must be a date and time string"),
        ({"validTo": "2031-05-04T10:29:59"}, "validTo", "The expiry must be in the future."),
        (
            {"validFrom": "2031-07-01T00:00:00", "validTo": "2031-06-01T00:00:00"},
            "validTo",
            "The expiry (valid to) must be after the start of validity (valid from).",
        ),
        ({"scopeGuids": []}, "scopeGuids", "give at least one scope"),
        ({"scopeGuids": "sms:manage"}, "scopeGuids", "must be an array of strings."),
        (
            {"scopeGuids": ["sms:manage", "sms:fly"]},
            "scopeGuids[1]",
            "unknown scope 'sms:fly'. Known scopes: 2fa",
        ),
        ({"permissions": ["PUBLIC_API", "WEB_SDK"]}, "permissions[1]", "only PUBLIC_API is supported."),
        ({"platform": [{"applicationId": "default"}]}, "platform", "not supported"),
        ({"enabled": "yes"}, "enabled", "must be true or false."),
        ({"accountId": "8F0792F86035A9F4290821F1EE6BC06A"}, "accountId", "sub-accounts are not supported"),
    ],
)
def test_create_validation_names_the_property_and_creates_nothing(
    client, company, owner, body, prop, message
):
    _taken(company)
    before = state(company)
    with time_machine.travel(NOW, tick=False):
        response = call(client, "post", URL, basic(owner), {"name": "Fresh", **body})
    reply = assert_error(response, 400, "BAD_REQUEST", [prop])
    assert message in reply["violations"][0]["violation"] and message in reply["description"]
    assert reply["requestError"]["serviceException"]["validationErrors"][prop] == [
        reply["violations"][0]["violation"]
    ]
    assert state(company) == before
    assert not FailedRequest.objects.exists()  # validation is not an authentication refusal


@pytest.mark.parametrize("raw", ["not json", "[1, 2]", ""])
def test_a_body_that_is_not_a_json_object_is_400(client, company, owner, raw):
    assert_error(call(client, "post", URL, basic(owner), raw), 400, "BAD_REQUEST", ["body"])
    assert not AuthKey.objects.exists()


def test_the_company_key_limit_is_the_services(client, company, owner, settings):
    settings.AUTHKEYS_MAX_PER_COMPANY = 1
    make_key(company=company)
    reply = assert_error(create(client, owner), 400, "BAD_REQUEST")
    assert "at most 1 keys" in reply["description"]


def test_own_account_id_is_accepted(client, company, owner):
    assert create(client, owner, accountId=account_id(company.pk)).status_code == 200
    assert account_id(company.pk) != account_id(CompanyFactory().pk)


# --- Rate limit ---------------------------------------------------------------------------------


def test_creation_is_limited_per_company_per_utc_day(client, company, owner, settings):
    settings.AUTHKEYS_API_CREATE_PER_DAY = 2
    other = UserFactory()
    with time_machine.travel(datetime(2031, 5, 4, 23, 0, tzinfo=UTC), tick=False):
        assert create(client, owner).status_code == 200
        assert_error(create(client, owner, name="a$b"), 400, "BAD_REQUEST", ["name"])  # not counted
        assert create(client, owner).status_code == 200
        before = state(company)
        response = create(client, owner)
        reply = assert_error(response, 429, "TOO_MANY_REQUESTS")
        assert "at most 2 per account per day" in reply["description"]
        assert response["Retry-After"] == "3600"
        assert state(company) == before
        assert create(client, other).status_code == 200  # another company has its own count
        assert call(client, "get", URL, basic(owner)).status_code == 200  # reads are not limited
    with time_machine.travel(datetime(2031, 5, 5, 0, 0, tzinfo=UTC), tick=False):
        assert create(client, owner).status_code == 200
    assert AuthKey.objects.filter(company=company).count() == 3


# --- Read, list and paging ----------------------------------------------------------------------


def test_unknown_or_foreign_key_is_404(client, company, owner):
    foreign, _ = make_key(company=CompanyFactory())
    for api_key_id in ("0" * 32, foreign.public_id):
        for method, body in (("get", None), ("put", {"enabled": False})):
            reply = assert_error(
                call(client, method, f"{URL}/{api_key_id}", basic(owner), body), 404, "NOT_FOUND"
            )
            assert api_key_id in reply["description"]
    foreign.refresh_from_db()
    assert foreign.enabled


def test_list_pages_orders_and_filters(client, company, owner):
    made = {}
    for name in ("Delta", "alpha", "Charlie", "Bravo", "echo"):
        made[name], _ = make_key(company=company, name=name)
    key_services.authkey_set_enabled(authkey=made["Charlie"], actor=None, enabled=False)
    make_key(company=CompanyFactory(), name="Foreign")

    def get(query: str) -> dict:
        response = call(client, "get", f"{URL}?{query}", basic(owner))
        assert response.status_code == 200, response.content
        return response.json()

    pages = [get(f"size=2&page={page}") for page in range(4)]
    assert [page["paging"] for page in pages] == [
        {"page": page, "pageSize": 2, "orderDirection": "asc", "totalCount": 5, "totalPages": 3}
        for page in range(4)
    ]
    ids = [key["id"] for page in pages for key in page["apiKeys"]]
    assert ids == sorted(key.public_id for key in made.values())
    assert pages[3]["apiKeys"] == []
    by_name = get("orderBy=name&orderDirection=DESC")
    assert [key["name"] for key in by_name["apiKeys"]] == ["echo", "Delta", "Charlie", "Bravo", "alpha"]
    assert by_name["paging"] == {
        "page": 0,
        "pageSize": 100,
        "orderDirection": "desc",
        "orderBy": "name",
        "totalCount": 5,
        "totalPages": 1,
    }
    assert [key["name"] for key in get("enabled=false")["apiKeys"]] == ["Charlie"]
    assert [key["name"] for key in get("name=DELTA")["apiKeys"]] == ["Delta"]
    assert get("apiKeySecret=smsp_unknown")["apiKeys"] == []
    assert get(f"accountId={account_id(company.pk)}")["paging"]["totalCount"] == 5


def test_list_finds_a_key_by_its_secret(client, company, owner):
    authkey, secret = make_key(company=company, name="Mine")
    make_key(company=company, name="Other")
    found = call(client, "get", URL, basic(owner)).json()
    assert found["paging"]["totalCount"] == 2
    response = client.get(URL, {"apiKeySecret": secret}, HTTP_AUTHORIZATION=basic(owner))
    assert [key["id"] for key in response.json()["apiKeys"]] == [authkey.public_id]


@pytest.mark.parametrize(
    ("query", "prop"),
    [
        ("page=-1", "page"),
        ("page=101", "page"),
        ("page=x", "page"),
        ("size=0", "size"),
        ("size=101", "size"),
        ("orderBy=createdAt", "orderBy"),
        ("orderDirection=up", "orderDirection"),
        ("enabled=yes", "enabled"),
        ("accountId=ABC", "accountId"),
    ],
)
def test_list_validates_its_parameters(client, company, owner, query, prop):
    assert_error(call(client, "get", f"{URL}?{query}", basic(owner)), 400, "BAD_REQUEST", [prop])


# --- Update -------------------------------------------------------------------------------------


def test_update_changes_only_what_is_sent_through_the_services(client, company, owner):
    with time_machine.travel(NOW, tick=False):
        created = create(client, owner, name="Shop", allowedIPs=["203.0.113.7"]).json()
        url = f"{URL}/{created['id']}"
        start = SecurityEvent.objects.latest("pk").pk
        response = call(
            client,
            "put",
            url,
            basic(owner),
            {
                "allowedIPs": ["198.51.100.9", "203.0.113.7"],
                "validTo": "2031-12-31T23:59:59",
                "enabled": False,
            },
        )
    assert response.status_code == 200, response.content
    reply = response.json()
    created.pop("apiKeySecret")
    assert reply == {
        **created,
        "allowedIPs": ["203.0.113.7", "198.51.100.9"],
        "validTo": "2031-12-31T23:59:59",
        "enabled": False,
    }
    kinds = list(SecurityEvent.objects.filter(pk__gt=start).order_by("pk").values_list("kind", flat=True))
    assert kinds == [Kind.KEY_UPDATED, Kind.IP_ADDED, Kind.KEY_DISABLED]
    # Removing every IP lifts the restriction (Infobip: no allowedIPs, no restriction).
    with time_machine.travel(NOW, tick=False):
        reply = call(client, "put", url, basic(owner), {"allowedIPs": [], "enabled": True}).json()
    authkey = AuthKey.objects.get(public_id=created["id"])
    assert reply["allowedIPs"] == [] and not authkey.ip_security and authkey.enabled
    assert not authkey.allowed_ips.exists()


def test_reading_and_putting_back_changes_nothing(client, company, owner):
    authkey, _ = make_key(company=company, name="Exact", rule=rule_with(company, sc.OTP, sc.REPORTS))
    key_services.key_ip_add(authkey=authkey, actor=None, entry="203.0.113.7")
    read = call(client, "get", f"{URL}/{authkey.public_id}", basic(owner)).json()
    before = state(company)
    written = call(client, "put", f"{URL}/{authkey.public_id}", basic(owner), read)
    assert written.status_code == 200 and written.json() == read
    assert state(company) == before


def test_update_validation_changes_nothing(client, company, owner):
    authkey, _ = make_key(company=company, name="Stable")
    make_key(company=company, name="Other")
    before = state(company)
    url = f"{URL}/{authkey.public_id}"
    # A good change next to a bad one: the whole request is refused.
    bad = [
        ({"enabled": False, "name": "Other"}, "name"),
        ({"enabled": False, "allowedIPs": ["203.0.113.7", "nope"]}, "allowedIPs[1]"),
        ({"name": "Renamed", "validTo": "2000-01-01T00:00:00"}, "validTo"),
        ({"name": "Renamed", "scopeGuids": ["nope"]}, "scopeGuids[0]"),
    ]
    for body, prop in bad:
        assert_error(call(client, "put", url, basic(owner), body), 400, "BAD_REQUEST", [prop])
    assert state(company) == before


def test_update_window_refuses_a_key_at_the_instant(client, company, owner):
    with time_machine.travel(NOW, tick=False):
        created = create(client, owner, validTo=None).json()
        call(
            client,
            "put",
            f"{URL}/{created['id']}",
            basic(owner),
            {"validFrom": "2031-05-04T11:00:00", "validTo": "2031-05-04T12:00:00"},
        )
    secret = created["apiKeySecret"]
    for moment, refusal in (
        (datetime(2031, 5, 4, 10, 59, 59, 999999, tzinfo=UTC), Refusal.NOT_YET_VALID),
        (datetime(2031, 5, 4, 11, 0, tzinfo=UTC), None),
        (datetime(2031, 5, 4, 12, 0, tzinfo=UTC), Refusal.EXPIRED),
    ):
        with time_machine.travel(moment, tick=False):
            assert authenticate_key(secret, "192.0.2.1").refusal == refusal


# --- Scopes: a view of the rule -----------------------------------------------------------------


def test_every_service_set_round_trips_through_scopes():
    codes = sorted(scopes.CANONICAL)
    for size in range(1, len(codes) + 1):
        for subset in itertools.combinations(codes, size):
            assert scopes.services_for(scopes.scopes_for(subset)) == frozenset(subset)
    assert set(Service.objects.values_list("code", flat=True)) == set(codes)  # the catalogue is covered


@pytest.mark.parametrize(
    ("requested", "canonical", "codes"),
    [
        (["sms:message:send"], ["sms:message:send"], {sc.SMS_SEND}),
        (["message:send"], ["sms:flow:send", "sms:message:send"], {sc.SMS_SEND, sc.SMS_FLOW}),
        (
            ["sms:manage"],
            ["sms:flow:send", "sms:logs:read", "sms:message:send"],
            {sc.SMS_SEND, sc.SMS_FLOW, sc.REPORTS},
        ),
        (["sms:logs:read"], ["sms:logs:read"], {sc.REPORTS}),
        (["account-management:manage"], ["account-management:manage"], {sc.KEY_MANAGEMENT}),
        (["2fa:manage", "balance:read"], ["2fa:pin:send", "balance:read"], {sc.OTP, sc.BALANCE}),
        (
            ["sms:message:send", "message:send", "sms:message:send"],
            ["sms:flow:send", "sms:message:send"],
            {sc.SMS_SEND, sc.SMS_FLOW},
        ),
    ],
)
def test_scopes_become_a_rule_and_read_back(client, company, owner, requested, canonical, codes):
    reply = create(client, owner, scopeGuids=requested).json()
    assert reply["scopeGuids"] == canonical
    rule = AuthKey.objects.get(public_id=reply["id"]).rule
    assert rule.company == company and set(rule.services.values_list("code", flat=True)) == codes
    # A second key with the same permission shares the rule; the panel's view agrees.
    again = create(client, owner, scopeGuids=canonical).json()
    assert AuthKey.objects.get(public_id=again["id"]).rule == rule
    assert Rule.objects.filter(company=company).count() == 1
    assert again["scopeGuids"] == canonical


def test_all_scopes_use_the_builtin_rule_and_a_panel_rule_is_reused(client, company, owner):
    every = create(client, owner, scopeGuids=list(scopes.CANONICAL.values())).json()
    assert AuthKey.objects.get(public_id=every["id"]).rule == builtin_rule()
    panel_rule = rule_with(company, sc.SMS_SEND, sc.REPORTS)
    reply = create(client, owner, scopeGuids=["sms:logs:read", "sms:message:send"]).json()
    assert AuthKey.objects.get(public_id=reply["id"]).rule == panel_rule
    assert not SecurityEvent.objects.filter(kind=Kind.RULE_CREATED).exclude(target=panel_rule.name).exists()


def test_putting_scopes_changes_the_keys_rule(client, company, owner):
    authkey, _ = make_key(company=company, name="Narrow")
    reply = call(
        client, "put", f"{URL}/{authkey.public_id}", basic(owner), {"scopeGuids": ["sms:logs:read"]}
    ).json()
    assert reply["scopeGuids"] == ["sms:logs:read"]
    authkey.refresh_from_db()
    assert list(authkey.rule.services.values_list("code", flat=True)) == [sc.REPORTS]
    event = SecurityEvent.objects.get(kind=Kind.KEY_RULE_CHANGED)
    assert event.before == {"rule": "All services"} and event.after == {"rule": authkey.rule.name}
    # A rule edited on the Rules page is what the API reads.
    key_services.rule_update(
        rule=authkey.rule,
        actor=None,
        name=authkey.rule.name,
        services=list(Service.objects.filter(code__in=[sc.REPORTS, sc.BALANCE])),
    )
    assert call(client, "get", f"{URL}/{authkey.public_id}", basic(owner)).json()["scopeGuids"] == [
        "balance:read",
        "sms:logs:read",
    ]


def test_generated_rule_names_stay_unique(company):
    key_services.rule_create(
        company=company, actor=None, name="SMS send", services=list(Service.objects.filter(code=sc.OTP))
    )
    rule = key_services.rule_for_services(company=company, actor=None, codes=frozenset({sc.SMS_SEND}))
    assert rule.name == "SMS send (2)"
    many = frozenset(set(scopes.CANONICAL) - {sc.KEY_MANAGEMENT})
    assert (
        key_services.rule_for_services(company=company, actor=None, codes=many).name
        == "API scopes (5 services)"
    )


# --- Scope enforcement: each dialect's refusal, a Failed Logs row -------------------------------


def _msg91_get(client, secret):  # type: ignore[no-untyped-def]
    query = {"authkey": secret, "mobiles": "919876543210", "message": "Hi", "sender": "ACMEIN", "route": "4"}
    return client.get("/api/sendhttp.php", {**query, "response": "json"})


def _msg91_v2(client, secret):  # type: ignore[no-untyped-def]
    body = {"mobiles": "919876543210", "message": "Hi", "sender": "ACMEIN", "route": "4", "response": "json"}
    return client.post("/api/v2/sendsms", body, content_type="application/json", HTTP_AUTHKEY=secret)


def _infobip_v2(client, secret):  # type: ignore[no-untyped-def]
    body = {"messages": [{"from": "ACMEIN", "destinations": [{"to": "919876543210"}], "text": "Hi"}]}
    return client.post(
        "/sms/2/text/advanced", body, content_type="application/json", HTTP_AUTHORIZATION=f"App {secret}"
    )


def _infobip_v3(client, secret):  # type: ignore[no-untyped-def]
    message = {"sender": "ACMEIN", "destinations": [{"to": "919876543210"}], "content": {"text": "Hi"}}
    return client.post(
        "/sms/3/messages",
        {"messages": [message]},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"App {secret}",
    )


def _gatewayapi(client, secret):  # type: ignore[no-untyped-def]
    body = {"sender": "ACMEIN", "message": "Hi", "recipient": 919876543210}
    return client.post(
        "/mobile/single", body, content_type="application/json", HTTP_AUTHORIZATION=f"Token {secret}"
    )


def _sgc_regenerate(client, secret):  # type: ignore[no-untyped-def]
    return client.post("/SMSApi/rest/regenerateAPIKey", {"format": "json"}, HTTP_APIKEY=secret)


def _msg91_report(client, secret):  # type: ignore[no-untyped-def]
    return client.get("/api/v5/report/0123456789abcdef01234567", HTTP_AUTHKEY=secret)


def _infobip_logs(client, secret):  # type: ignore[no-untyped-def]
    return client.get("/sms/3/logs", HTTP_AUTHORIZATION=f"App {secret}")


def _msg91_refusal(response) -> bool:  # type: ignore[no-untyped-def]
    reply = response.json()
    return reply["type"] == "error" and reply["code"] == "207" and "rule" in reply["message"]


@pytest.mark.parametrize(
    ("scope", "request_", "refused"),
    [
        ("sms:logs:read", _msg91_get, _msg91_refusal),
        ("sms:logs:read", _msg91_v2, _msg91_refusal),
        (
            "sms:logs:read",
            _infobip_v2,
            lambda r: (
                r.status_code == 403
                and r.json()["requestError"]["serviceException"]["messageId"] == "FORBIDDEN"
            ),
        ),
        (
            "sms:logs:read",
            _infobip_v3,
            lambda r: r.status_code == 403 and r.json()["errorCode"] == "E403",
        ),
        (
            "sms:logs:read",
            _gatewayapi,
            lambda r: r.status_code == 403 and "rule" in r.json()["message"],
        ),
        (
            "sms:logs:read",
            _sgc_regenerate,
            lambda r: r.status_code == 403 and r.json()["statusCode"] == "911",
        ),
        ("sms:message:send", _msg91_report, _msg91_refusal),
        (
            "sms:message:send",
            _infobip_logs,
            lambda r: r.status_code == 403 and r.json()["errorCode"] == "E403",
        ),
    ],
)
def test_a_request_outside_the_keys_scopes_is_refused_by_each_dialect(
    client, company, owner, scope, request_, refused
):
    reply = create(client, owner, scopeGuids=[scope]).json()
    secret = reply["apiKeySecret"]
    authkey = AuthKey.objects.get(public_id=reply["id"])
    before = state(company)
    response = request_(client, secret)
    assert refused(response), response.content
    assert state(company) == before and company.messages.count() == 0
    failed = FailedRequest.objects.get()
    assert (failed.code, failed.company_id, failed.authkey_id) == ("207", company.pk, authkey.pk)
    assert secret not in failed.reason


@pytest.mark.parametrize(
    ("scope", "request_"),
    [("sms:message:send", _infobip_v3), ("message:send", _msg91_get), ("sms:logs:read", _infobip_logs)],
)
def test_a_request_inside_the_keys_scopes_is_accepted(client, company, owner, scope, request_):
    secret = create(client, owner, scopeGuids=[scope]).json()["apiKeySecret"]
    response = request_(client, secret)
    assert response.status_code == 200 and not FailedRequest.objects.exists(), response.content


# --- The documentation ----------------------------------------------------------------------------


def test_api_docs_page_documents_key_management_and_every_scope(client):
    page = client.get("/api-docs/").content.decode()
    assert 'id="api-keys"' in page and "/settings/2/api-keys/{apiKeyId}" in page
    for scope in scopes.SCOPES:
        assert f"<code>{scope}</code>" in page


def test_documented_examples_work_as_shown(client, company, owner):
    """The curl examples on /api-docs/ (Basic via -u)."""
    body = {
        "name": "Billing",
        "allowedIPs": ["203.0.113.7"],
        "validTo": "2031-09-01T10:00:00",
        "scopeGuids": ["sms:message:send", "sms:logs:read"],
    }
    created = call(client, "post", URL, basic(owner), body).json()
    assert created["scopeGuids"] == ["sms:logs:read", "sms:message:send"] and created["apiKeySecret"]
    assert (
        call(client, "put", f"{URL}/{created['id']}", basic(owner), {"enabled": False}).json()["enabled"]
        is False
    )
    listed = call(client, "get", f"{URL}?page=0&size=20", basic(owner)).json()
    assert listed["paging"] == {
        "page": 0,
        "pageSize": 20,
        "orderDirection": "asc",
        "totalCount": 1,
        "totalPages": 1,
    }
