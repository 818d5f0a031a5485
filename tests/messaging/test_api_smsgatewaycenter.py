"""SMSGatewayCenter dialect: GET|POST /SMSApi/rest/regenerateAPIKey."""

import re
from datetime import timedelta
from xml.etree import ElementTree

import pytest
from django.utils import timezone

from accounts import services as account_services
from accounts.models import Company, User
from authkeys import auth, keys
from authkeys import services as key_services
from authkeys.auth import Refusal, authenticate_key
from authkeys.models import AuthKey, KeySecret, SecurityEvent, Service
from messaging.models import BlockedIP, FailedRequest, Message
from tests.factories import PASSWORD, CompanyFactory, UserFactory, make_key

pytestmark = pytest.mark.django_db

URL = "/SMSApi/rest/regenerateAPIKey"
KEY_RE = re.compile(r"smsp_[0-9A-Za-z]{38}")
REGENERATED = SecurityEvent.Kind.KEY_REGENERATED


@pytest.fixture(autouse=True)
def _fresh_grants(settings):
    settings.AUTHKEY_LOCAL_CACHE_SECONDS = 0
    auth._local.clear()


@pytest.fixture
def company():
    return CompanyFactory(sms_balance=100)


@pytest.fixture
def owner(company):
    return UserFactory(company=company, role=User.Role.OWNER)


@pytest.fixture
def key(company):
    return make_key(company=company, ip_security=False, name="Main")


def credentials(user, **extra):
    return {"userId": user.email, "password": PASSWORD, **extra}


def parse(response, kind):
    """The reply as a dict, whatever the format (and asserting that format's exact layout)."""
    text = response.content.decode()
    if kind == "json":
        assert response["Content-Type"] == "application/json"
        return response.json()
    if kind == "xml":
        assert response["Content-Type"] == "application/xml"
        root = ElementTree.fromstring(text)  # noqa: S314 (our own reply)
        fields = {child.tag: child.text or "" for child in root}
        assert list(fields) == sorted(fields)  # elements in alphabetical order
        return {"root": root.tag, **fields}
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    return dict(part.split("=", 1) for part in text.split(" | "))


def assert_not_cached(response):
    assert "no-store" in response["Cache-Control"]


def key_state(company):
    """Everything a regeneration would change."""
    return (
        sorted(KeySecret.objects.filter(authkey__company=company).values_list("digest", "valid_until")),
        sorted(AuthKey.objects.filter(company=company).values_list("pk", "display_prefix")),
        SecurityEvent.objects.filter(kind=REGENERATED).count(),
    )


def works(secret):
    return authenticate_key(secret, "127.0.0.1").ok


# --- Success ----------------------------------------------------------------------------------


def test_json_success_shape_and_the_old_key_stops_at_once(client, company, owner, key):
    response = client.post(URL, credentials(owner, format="json"))
    assert response.status_code == 200
    reply = response.json()
    assert list(reply) == ["status", "apiKey", "statusCode", "reason"]
    assert reply["status"] == "success" and reply["statusCode"] == "900" and reply["reason"] == "success"
    new = reply["apiKey"]
    assert KEY_RE.fullmatch(new) and new != key[1]
    assert_not_cached(response)
    assert authenticate_key(key[1], "127.0.0.1").refusal == Refusal.UNKNOWN
    assert works(new)
    key[0].refresh_from_db()
    assert key[0].display_prefix == keys.display_prefix(new)
    assert KeySecret.objects.filter(authkey=key[0]).count() == 1
    assert FailedRequest.objects.count() == 0


def test_xml_success_shape(client, owner, key):
    response = client.post(URL, credentials(owner, format="xml"))
    text = response.content.decode()
    new = parse(response, "xml")["apiKey"]
    assert text == (
        f"<generateApiKeySuccessResponse><apiKey>{new}</apiKey><reason>success</reason>"
        "<status>success</status><statusCode>900</statusCode></generateApiKeySuccessResponse>"
    )
    assert works(new) and not works(key[1])


def test_plain_is_the_default(client, owner, key):
    response = client.post(URL, credentials(owner))
    text = response.content.decode()
    new = parse(response, "plain")["apiKey"]
    assert text == f"status=success | apiKey={new} | statusCode=900 | reason=success"
    assert_not_cached(response)
    assert works(new) and not works(key[1])


@pytest.mark.parametrize(
    ("value", "kind"), [("JSON", "json"), ("Xml", "xml"), ("plain", "plain"), ("yaml", "plain")]
)
def test_format_is_case_insensitive_and_defaults_to_plain(client, owner, key, value, kind):
    reply = parse(client.post(URL, credentials(owner, format=value)), kind)
    assert reply["status"] == "success"


def test_get_with_query_parameters_works(client, owner, key):
    response = client.get(URL, credentials(owner, format="json"))
    assert response.json()["status"] == "success"
    assert not works(key[1])


def test_user_regeneration_writes_a_security_event_without_the_secret(client, company, owner, key):
    new = client.post(URL, credentials(owner, format="json")).json()["apiKey"]
    event = SecurityEvent.objects.get(kind=REGENERATED)
    assert (event.company, event.authkey, event.actor_user, event.actor_key) == (company, key[0], owner, None)
    assert event.actor_ip == "127.0.0.1"
    assert event.after["old_key_valid_for_seconds"] == 0
    assert new not in repr((event.before, event.after, event.target))


def test_admin_may_regenerate(client, company, key):
    admin = UserFactory(company=company, role=User.Role.ADMIN)
    assert client.post(URL, credentials(admin, format="json")).json()["status"] == "success"


def test_userid_is_the_email_in_any_case(client, owner, key):
    response = client.post(URL, {"userId": owner.email.upper(), "password": PASSWORD, "format": "json"})
    assert response.json()["status"] == "success"


def test_default_key_is_the_oldest_enabled_unexpired_one(client, company, owner):
    now = timezone.now()
    disabled, disabled_secret = make_key(company=company, name="Disabled", ip_security=False)
    key_services.authkey_set_enabled(authkey=disabled, actor=None, enabled=False)
    expired, expired_secret = make_key(company=company, name="Expired", ip_security=False)
    AuthKey.objects.filter(pk=expired.pk).update(expires_at=now - timedelta(minutes=1))
    chosen, chosen_secret = make_key(company=company, name="Chosen", ip_security=False)
    newer, newer_secret = make_key(company=company, name="Newer", ip_security=False)
    AuthKey.objects.filter(pk=disabled.pk).update(created_at=now - timedelta(days=4))
    AuthKey.objects.filter(pk=expired.pk).update(created_at=now - timedelta(days=3))
    AuthKey.objects.filter(pk=chosen.pk).update(created_at=now - timedelta(days=2))
    AuthKey.objects.filter(pk=newer.pk).update(created_at=now - timedelta(days=1))
    client.post(URL, credentials(owner, format="json"))
    assert SecurityEvent.objects.get(kind=REGENERATED).authkey == chosen
    assert KeySecret.objects.filter(digest=keys.digest(chosen_secret)).count() == 0
    for untouched in (disabled_secret, expired_secret, newer_secret):
        assert KeySecret.objects.filter(digest=keys.digest(untouched)).exists()


def test_keyname_selects_the_key_even_if_disabled(client, company, owner, key):
    other, _ = make_key(company=company, name="Billing server", ip_security=False)
    key_services.authkey_set_enabled(authkey=other, actor=None, enabled=False)
    reply = client.post(URL, credentials(owner, keyName="billing  SERVER", format="json")).json()
    assert reply["status"] == "success"
    assert SecurityEvent.objects.get(kind=REGENERATED).authkey == other
    assert works(key[1])  # the other key is untouched
    assert authenticate_key(reply["apiKey"], "127.0.0.1").refusal == Refusal.DISABLED


def test_api_key_header_regenerates_that_key(client, company, key):
    other, other_secret = make_key(company=company, name="Other", ip_security=False)
    response = client.post(URL, {"format": "json"}, headers={"apiKey": other_secret})
    new = response.json()["apiKey"]
    assert response.status_code == 200
    assert_not_cached(response)
    assert not works(other_secret) and works(new) and works(key[1])
    event = SecurityEvent.objects.get(kind=REGENERATED)
    assert (event.authkey, event.actor_user, event.actor_key, event.actor_ip) == (
        other,
        None,
        other,
        "127.0.0.1",
    )
    other.refresh_from_db()
    assert other.last_used_ip == "127.0.0.1"


def test_api_key_with_a_key_management_rule_may_regenerate(client, company):
    rule = key_services.rule_create(
        company=company, actor=None, name="Keys", services=[Service.objects.get(code="key-management")]
    )
    _, secret = make_key(company=company, rule=rule, ip_security=False)
    assert client.get(URL, {"format": "json"}, headers={"apiKey": secret}).json()["status"] == "success"


def test_regenerated_key_sends_and_the_old_one_is_refused(client, company, owner, key):
    new = client.post(URL, credentials(owner, format="json")).json()["apiKey"]
    params = {"mobiles": "919876543210", "message": "Hi", "sender": "ACMEIN", "response": "json"}
    assert client.get("/api/sendhttp.php", {**params, "authkey": key[1]}).json()["code"] == "207"
    assert client.get("/api/sendhttp.php", {**params, "authkey": new}).json()["type"] == "success"


def test_new_key_is_never_stored_or_recorded(client, company, owner, key):
    new = client.post(URL, credentials(owner, format="json")).json()["apiKey"]
    assert not KeySecret.objects.filter(digest=new).exists()
    assert KeySecret.objects.filter(digest=keys.digest(new)).exists()
    assert new not in repr(list(SecurityEvent.objects.values()))


# --- Refusals ---------------------------------------------------------------------------------


def _member(company):
    return UserFactory(company=company, role=User.Role.MEMBER)


@pytest.mark.parametrize(
    ("make_params", "code", "http", "attributed"),
    [
        (lambda owner: {"password": PASSWORD}, "104", 401, False),
        (lambda owner: {"userId": "  ", "password": PASSWORD}, "104", 401, False),
        (lambda owner: {"userId": owner.email}, "105", 401, False),
        (lambda owner: {"userId": owner.email, "password": ""}, "105", 401, False),
        (lambda owner: {"userId": owner.email, "password": "wrong"}, "201", 401, True),
        (lambda owner: {"userId": "nobody@nowhere.example", "password": PASSWORD}, "201", 401, False),
        (lambda owner: credentials(_member(owner.company)), "201", 403, True),
        (lambda owner: credentials(owner, keyName="No such key"), "207", 401, True),
        (lambda owner: {}, "104", 401, False),
    ],
)
@pytest.mark.parametrize("kind", ["json", "xml", "plain"])
def test_user_refusals_are_911_recorded_and_change_nothing(
    client, company, owner, key, make_params, code, http, attributed, kind
):
    before = key_state(company)
    params = make_params(owner)
    response = client.post(URL, {**params, "format": kind})
    assert response.status_code == http
    assert_not_cached(response)
    reply = parse(response, kind)
    assert reply["status"] == "error" and reply["statusCode"] == "911" and reply["reason"]
    assert "apiKey" not in reply
    if kind == "xml":
        assert reply["root"] == "generateApiKeyErrorResponse"
    assert key_state(company) == before
    assert works(key[1])
    failed = FailedRequest.objects.get()
    assert (failed.code, failed.dialect, failed.endpoint) == (code, "smsgatewaycenter", URL)
    assert failed.company == (company if attributed else None)
    assert PASSWORD not in failed.reason and "wrong" not in failed.reason
    assert Message.objects.count() == 0


def test_exact_error_shapes(client, owner, key):
    bad = {"userId": owner.email, "password": "wrong"}
    assert client.post(URL, bad).content.decode() == (
        "status=error | statusCode=911 | reason=Invalid username or password"
    )
    assert client.post(URL, {**bad, "format": "json"}).json() == {
        "status": "error",
        "statusCode": "911",
        "reason": "Invalid username or password",
    }
    assert client.post(URL, {**bad, "format": "xml"}).content.decode() == (
        "<generateApiKeyErrorResponse><reason>Invalid username or password</reason>"
        "<status>error</status><statusCode>911</statusCode></generateApiKeyErrorResponse>"
    )


def test_company_without_an_enabled_key_is_refused(client, company, owner):
    authkey, _ = make_key(company=company, ip_security=False)
    key_services.authkey_set_enabled(authkey=authkey, actor=None, enabled=False)
    before = key_state(company)
    reply = client.post(URL, credentials(owner, format="json")).json()
    assert reply["statusCode"] == "911" and "no enabled API key" in reply["reason"]
    assert key_state(company) == before


def test_inactive_user_is_refused(client, company, owner, key):
    User.objects.filter(pk=owner.pk).update(is_active=False)
    before = key_state(company)
    assert client.post(URL, credentials(owner, format="json")).json()["statusCode"] == "911"
    assert key_state(company) == before
    assert FailedRequest.objects.get().code == "201"


def test_staff_user_without_a_company_is_refused(client, company, key):
    staff = UserFactory(company=None, is_staff=True)
    reply = client.post(URL, credentials(staff, format="json")).json()
    assert reply["statusCode"] == "911"
    assert SecurityEvent.objects.filter(kind=REGENERATED).count() == 0
    assert FailedRequest.objects.get().code == "201"


@pytest.mark.parametrize(
    ("status", "code"),
    [(Company.Status.EXPIRED, "302"), (Company.Status.BANNED, "303"), (Company.Status.TERMINATED, "421")],
)
def test_inactive_company_is_refused_with_its_code(client, company, owner, key, status, code):
    account_services.company_set_status(company=company, status=status)
    before = key_state(company)
    response = client.post(URL, credentials(owner, format="json"))
    assert response.status_code == 403
    assert response.json() == {"status": "error", "statusCode": code, "reason": response.json()["reason"]}
    assert key_state(company) == before
    failed = FailedRequest.objects.get()
    assert failed.code == code and failed.company == company


def test_blacklisted_ip_is_refused_208(client, company, owner, key):
    BlockedIP.objects.create(network="127.0.0.0/8")
    before = key_state(company)
    response = client.post(URL, credentials(owner, format="json"))
    assert response.status_code == 403 and response.json()["statusCode"] == "208"
    assert key_state(company) == before
    assert FailedRequest.objects.get().code == "208"


def test_both_credential_forms_are_refused(client, company, owner, key):
    before = key_state(company)
    response = client.post(URL, credentials(owner, format="json"), headers={"apiKey": key[1]})
    assert response.json()["statusCode"] == "911" and "not both" in response.json()["reason"]
    assert key_state(company) == before
    failed = FailedRequest.objects.get()
    assert failed.code == "207" and key[1] not in failed.reason


def test_api_key_with_keyname_is_refused(client, company, key):
    before = key_state(company)
    response = client.post(URL, {"keyName": "Main", "format": "json"}, headers={"apiKey": key[1]})
    assert response.json()["statusCode"] == "911"
    assert key_state(company) == before and works(key[1])
    assert FailedRequest.objects.get().code == "207"


def test_repeated_parameter_with_different_values_is_refused(client, company, owner, key):
    other = UserFactory(company=company, role=User.Role.OWNER)
    before = key_state(company)
    response = client.post(f"{URL}?userId={other.email}&format=json", credentials(owner))
    assert response.json()["statusCode"] == "911" and "more than once" in response.json()["reason"]
    assert key_state(company) == before
    assert FailedRequest.objects.get().code == "201"


@pytest.mark.parametrize(
    "secret",
    ["smsp_not-a-real-key", "smsp_" + "A" * 38, "nonsense"],
)
def test_invalid_api_key_is_911_401(client, company, key, secret):
    before = key_state(company)
    response = client.post(URL, {"format": "json"}, headers={"apiKey": secret})
    assert response.status_code == 401
    assert response.json()["statusCode"] == "911"
    assert_not_cached(response)
    assert key_state(company) == before
    failed = FailedRequest.objects.get()
    assert failed.code == "207" and failed.company is None and secret not in failed.reason


def test_api_key_whose_rule_lacks_key_management_is_403(client, company):
    rule = key_services.rule_create(
        company=company, actor=None, name="Send only", services=[Service.objects.get(code="sms-send")]
    )
    authkey, secret = make_key(company=company, rule=rule, ip_security=False)
    before = key_state(company)
    response = client.post(URL, {"format": "json"}, headers={"apiKey": secret})
    assert response.status_code == 403
    assert response.json()["statusCode"] == "911" and "key-management" in response.json()["reason"]
    assert key_state(company) == before and works(secret)
    failed = FailedRequest.objects.get()
    assert (failed.code, failed.company, failed.authkey) == ("207", company, authkey)


def test_api_key_from_an_ip_not_whitelisted_is_418(client, company):
    authkey, secret = make_key(company=company)  # IP security on, no IPs
    before = key_state(company)
    response = client.post(URL, {"format": "xml"}, headers={"apiKey": secret})
    assert response.status_code == 403
    assert parse(response, "xml")["statusCode"] == "418"
    assert key_state(company) == before
    failed = FailedRequest.objects.get()
    assert (failed.code, failed.authkey) == ("418", authkey)


def test_disabled_api_key_is_refused(client, company, key):
    key_services.authkey_set_enabled(authkey=key[0], actor=None, enabled=False)
    before = key_state(company)
    assert client.post(URL, {"format": "json"}, headers={"apiKey": key[1]}).json()["statusCode"] == "911"
    assert key_state(company) == before


def test_old_secret_in_its_grace_period_cannot_regenerate(client, company, key):
    current = key_services.authkey_regenerate(authkey=key[0], actor=None, grace_seconds=600)
    assert works(key[1])  # still inside the grace period
    before = key_state(company)
    response = client.post(URL, {"format": "json"}, headers={"apiKey": key[1]})
    assert response.status_code == 401
    assert "current secret" in response.json()["reason"]
    assert key_state(company) == before and works(current)
    assert FailedRequest.objects.get().code == "207"


def test_regenerated_key_cannot_regenerate_again_with_the_old_secret(client, company, key):
    first = client.post(URL, {"format": "json"}, headers={"apiKey": key[1]}).json()["apiKey"]
    response = client.post(URL, {"format": "json"}, headers={"apiKey": key[1]})
    assert response.status_code == 401
    assert works(first)


def test_internal_error_is_reported_without_details(client, company, owner, key, monkeypatch):
    def boom(**kwargs):
        raise RuntimeError("disk full at /var/secret")

    monkeypatch.setattr(key_services, "authkey_regenerate", boom)
    response = client.post(URL, credentials(owner, format="json"))
    assert response.status_code == 500
    reply = response.json()
    assert reply["statusCode"] == "506" and "secret" not in reply["reason"]
    assert works(key[1])
    failed = FailedRequest.objects.get()
    assert failed.code == "506" and failed.company == company


@pytest.mark.parametrize("method", ["put", "delete"])
def test_other_methods_are_405(client, owner, key, method):
    assert getattr(client, method)(URL).status_code == 405
    assert works(key[1])


def test_another_companys_user_cannot_name_this_companys_key(client, company, key):
    other_owner = UserFactory(company=CompanyFactory(), role=User.Role.OWNER)
    make_key(company=other_owner.company, name="Theirs", ip_security=False)
    reply = client.post(URL, credentials(other_owner, keyName="Main", format="json")).json()
    assert reply["statusCode"] == "911"
    assert works(key[1])
    assert SecurityEvent.objects.filter(kind=REGENERATED).count() == 0
