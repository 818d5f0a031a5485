import base64
import itertools
import json
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from accounts import services as account_services
from accounts.models import Company, User
from authkeys import auth
from authkeys import services as key_services
from authkeys.models import Service
from messaging import encoding
from messaging.models import ApiSession, BlockedIP, FailedRequest, Message, OAuthAccessToken, Recipient
from tests.factories import PASSWORD, CompanyFactory, UserFactory, make_key

pytestmark = pytest.mark.django_db

V2 = "/sms/2/text/advanced"
V3 = "/sms/3/messages"
SESSION = "/auth/1/session"
TOKEN = "/auth/1/oauth2/token"
PENDING_ACCEPTED = {
    "groupId": 1,
    "groupName": "PENDING",
    "id": 26,
    "name": "PENDING_ACCEPTED",
    "description": "Message sent to next instance",
}
_texts = itertools.count()


@pytest.fixture(autouse=True)
def _fresh_grants(settings):
    settings.AUTHKEY_LOCAL_CACHE_SECONDS = 0
    auth._local.clear()


@pytest.fixture
def company():
    return CompanyFactory(sms_balance=100)


@pytest.fixture
def key(company):
    return make_key(company=company, ip_security=False)


@pytest.fixture
def member(company):
    return UserFactory(company=company, role=User.Role.MEMBER)


def basic(email, password=PASSWORD):
    return "Basic " + base64.b64encode(f"{email}:{password}".encode()).decode()


def text():
    """A fresh text per call: the same text to the same number within 10 s is a duplicate (311)."""
    return f"Hello number {next(_texts)}"


def v3_body(to="41793026727", sender="InfoSMS", body_text=None, **message):
    entry = {"sender": sender, "destinations": [{"to": to}], "content": {"text": body_text or text()}}
    entry.update(message)
    return {"messages": [entry]}


def v2_body(to="41793026727", sender="InfoSMS", body_text=None):
    return {"messages": [{"from": sender, "destinations": [{"to": to}], "text": body_text or text()}]}


def post(client, url, body, authorization=None, **extra):
    headers = {"Authorization": authorization} if authorization else {}
    return client.post(url, json.dumps(body), content_type="application/json", headers=headers, **extra)


def new_session(client, user, **extra):
    body = {"username": user.email, "password": PASSWORD, **extra.pop("body", {})}
    response = post(client, SESSION, body, **extra)
    assert response.status_code == 200, response.content
    return response.json()["token"]


def access_token(client, secret, **extra):
    form = {"client_id": secret[:11], "client_secret": secret, "grant_type": "client_credentials"}
    response = client.post(TOKEN, form, **extra)
    assert response.status_code == 200, response.content
    return response.json()["access_token"]


def assert_nothing_sent(company, balance=100):
    assert Message.objects.count() == 0
    assert Company.objects.get(pk=company.pk).sms_balance == balance


# --- Every credential form sends ------------------------------------------------------------------


@pytest.mark.parametrize("method", ["app", "basic", "ibsso", "bearer"])
def test_every_auth_method_sends(client, company, key, member, method):
    authkey, secret = key
    authorization = {
        "app": lambda: f"App {secret}",
        "basic": lambda: basic(member.email),
        "ibsso": lambda: f"IBSSO {new_session(client, member)}",
        "bearer": lambda: f"Bearer {access_token(client, secret)}",
    }[method]()
    response = post(client, V3, v3_body(), authorization)
    assert response.status_code == 200, response.content
    message = Message.objects.get()
    assert message.company == company and message.dialect == "infobip"
    assert message.authkey_id == (authkey.pk if method in ("app", "bearer") else None)
    assert Company.objects.get(pk=company.pk).sms_balance == 99
    assert FailedRequest.objects.count() == 0


def test_authkey_header_works_too(client, key):
    response = client.post(
        V3, json.dumps(v3_body()), content_type="application/json", headers={"authkey": key[1]}
    )
    assert response.status_code == 200


def test_user_success_updates_recent_ips_not_a_key(client, company, member):
    from authkeys.models import RecentIP

    post(client, V3, v3_body(), basic(member.email))
    recent = RecentIP.objects.get(company=company)
    assert recent.last_outcome == "accepted" and recent.last_key is None


# --- Refused credentials --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("authorization", "code"),
    [
        (None, "207"),
        ("App smsp_not-a-real-key", "207"),
        ("App smsp_" + "A" * 38, "207"),
        ("Basic " + base64.b64encode(b"nobody@company.example:x").decode(), "201"),
        ("Basic !!!not-base64", "201"),
        ("Basic " + base64.b64encode(b"no-colon").decode(), "201"),
        ("Basic " + base64.b64encode(b":secret").decode(), "104"),
        ("Basic " + base64.b64encode(b"someone@company.example:").decode(), "105"),
        ("IBSSO ses_unknown", "207"),
        ("Bearer oat_unknown", "207"),
    ],
)
def test_wrong_credentials_are_401_with_a_challenge_and_nothing_is_sent(
    client, company, key, authorization, code
):
    response = post(client, V3, v3_body(), authorization)
    assert response.status_code == 401
    assert "IBSSO" in response["WWW-Authenticate"] and "Basic" in response["WWW-Authenticate"]
    reply = response.json()
    assert reply["errorCode"] == "E401" and reply["description"].startswith(f"[{code}] ")
    assert reply["violations"] == [] and reply["resources"] == [] and reply["action"]
    assert_nothing_sent(company)
    assert FailedRequest.objects.get().code == code


def test_wrong_password_is_201_attributed_to_the_company(client, company, member):
    response = post(client, V2, v2_body(), basic(member.email, "wrong password"))
    assert response.status_code == 401 and "WWW-Authenticate" in response
    assert response.json() == {
        "requestError": {
            "serviceException": {"messageId": "UNAUTHORIZED", "text": "[201] Invalid username or password"}
        }
    }
    failed = FailedRequest.objects.get()
    assert failed.code == "201" and failed.company == company and failed.authkey is None
    assert "wrong password" not in failed.reason and failed.key_prefix == ""
    assert_nothing_sent(company)


def test_inactive_user_cannot_use_basic(client, company, member):
    User.objects.filter(pk=member.pk).update(is_active=False)
    response = post(client, V3, v3_body(), basic(member.email))
    assert response.status_code == 401 and FailedRequest.objects.get().code == "201"
    assert_nothing_sent(company)


def test_user_without_company_cannot_use_basic(client, company):
    staff = UserFactory(company=None)
    response = post(client, V3, v3_body(), basic(staff.email))
    assert response.status_code == 401 and response.json()["description"].startswith("[201]")


def test_conflicting_credentials_are_refused(client, company, key, member):
    response = client.post(
        V3,
        json.dumps(v3_body()),
        content_type="application/json",
        headers={"Authorization": basic(member.email), "authkey": key[1]},
    )
    assert response.status_code == 401 and "Conflicting" in response.json()["description"]
    assert_nothing_sent(company)


# --- Sessions (IBSSO) -----------------------------------------------------------------------------


def test_session_token_is_stored_only_as_a_digest(client, member):
    token = new_session(client, member)
    session = ApiSession.objects.get()
    assert session.user == member and session.bound_ip == "127.0.0.1" and not session.unsafe
    assert token not in session.digest and len(session.digest) == 64
    assert (session.expires_at - session.created_at) == timedelta(minutes=60)


def test_session_reply_is_not_cached(client, member):
    response = post(client, SESSION, {"username": member.email, "password": PASSWORD})
    assert set(response.json()) == {"token"}
    assert "no-store" in response["Cache-Control"]


def test_session_is_bound_to_the_creating_ip(client, company, member):
    token = new_session(client, member)
    response = post(client, V3, v3_body(), f"IBSSO {token}", REMOTE_ADDR="10.1.2.3")
    assert response.status_code == 401 and "WWW-Authenticate" in response
    assert "bound" in response.json()["description"]
    failed = FailedRequest.objects.get()
    assert failed.code == "207" and failed.company == company and failed.client_ip == "10.1.2.3"
    assert_nothing_sent(company)
    assert post(client, V3, v3_body(), f"IBSSO {token}").status_code == 200


def test_unsafe_session_works_from_any_ip(client, member):
    token = new_session(client, member, body={"unsafe": True})
    assert ApiSession.objects.get().unsafe
    response = post(client, V3, v3_body(), f"IBSSO {token}", REMOTE_ADDR="10.1.2.3")
    assert response.status_code == 200


def test_session_expires_after_sixty_minutes(client, company, member):
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        token = new_session(client, member)
    with time_machine.travel(start + timedelta(minutes=59), tick=False):
        assert post(client, V3, v3_body(), f"IBSSO {token}").status_code == 200
    with time_machine.travel(start + timedelta(minutes=60, seconds=1), tick=False):
        response = post(client, V3, v3_body(), f"IBSSO {token}")
        assert response.status_code == 401 and "expired" in response.json()["description"]
        # An expired session no longer blocks a new one.
        assert new_session(client, member) != token


def test_session_lifetime_is_a_setting(client, settings, member):
    settings.INFOBIP_SESSION_SECONDS = 60
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        token = new_session(client, member)
    with time_machine.travel(start + timedelta(seconds=61), tick=False):
        assert post(client, V3, v3_body(), f"IBSSO {token}").status_code == 401


def test_a_second_session_needs_the_first_destroyed(client, member):
    token = new_session(client, member)
    response = post(client, SESSION, {"username": member.email, "password": PASSWORD})
    assert response.status_code == 400
    exception = response.json()["requestError"]["serviceException"]
    assert exception["messageId"] == "BAD_REQUEST" and "DELETE /auth/1/session" in exception["text"]
    assert ApiSession.objects.count() == 1
    deleted = client.delete(SESSION, headers={"Authorization": f"IBSSO {token}"})
    assert deleted.status_code == 204 and deleted.content == b""
    assert ApiSession.objects.count() == 0
    assert post(client, V3, v3_body(), f"IBSSO {token}").status_code == 401
    assert new_session(client, member) != token


def test_delete_session_needs_the_ibsso_token(client, key, member):
    new_session(client, member)
    for authorization in (f"App {key[1]}", basic(member.email), None):
        headers = {"Authorization": authorization} if authorization else {}
        response = client.delete(SESSION, headers=headers)
        assert response.status_code == 401 and "WWW-Authenticate" in response
        assert response.json()["requestError"]["serviceException"]["messageId"] == "UNAUTHORIZED"
    assert ApiSession.objects.count() == 1


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"password": PASSWORD}, "104"),
        ({"username": "{email}"}, "105"),
        ({"username": "{email}", "password": "wrong"}, "201"),
        ({"username": "nobody@company.example", "password": "wrong"}, "201"),
    ],
)
def test_session_refusals(client, member, body, code):
    body = {name: value.format(email=member.email) for name, value in body.items()}
    response = post(client, SESSION, body)
    assert response.status_code == 401 and "WWW-Authenticate" in response
    exception = response.json()["requestError"]["serviceException"]
    assert exception["messageId"] == "UNAUTHORIZED" and exception["text"].startswith(f"[{code}] ")
    assert ApiSession.objects.count() == 0
    assert FailedRequest.objects.get().code == code


def test_session_for_a_banned_company_is_refused(client, company, member):
    account_services.company_set_status(company=company, status=Company.Status.BANNED)
    response = post(client, SESSION, {"username": member.email, "password": PASSWORD})
    assert response.status_code == 403
    assert response.json()["requestError"]["serviceException"]["text"].startswith("[303] ")
    assert ApiSession.objects.count() == 0


def test_deactivated_user_loses_the_session_at_once(client, company, member):
    token = new_session(client, member)
    User.objects.filter(pk=member.pk).update(is_active=False)
    assert post(client, V3, v3_body(), f"IBSSO {token}").status_code == 401
    assert_nothing_sent(company)


def test_company_status_applies_to_sessions(client, company, member):
    token = new_session(client, member)
    account_services.company_set_status(company=company, status=Company.Status.EXPIRED)
    response = post(client, V3, v3_body(), f"IBSSO {token}")
    assert response.status_code == 403 and response.json()["description"].startswith("[302] ")
    assert_nothing_sent(company)


def test_additional_security_applies_to_company_users(client, company, member):
    key_services.company_ip_add(company=company, actor=None, entry="10.9.9.9")
    key_services.additional_security_set(company=company, actor=None, enabled=True)
    response = post(client, V3, v3_body(), basic(member.email))
    assert response.status_code == 403
    assert response.json()["description"].startswith("[418] IP 127.0.0.1 is not whitelisted")
    assert FailedRequest.objects.get().company == company
    assert_nothing_sent(company)
    assert post(client, V3, v3_body(), basic(member.email), REMOTE_ADDR="10.9.9.9").status_code == 200


# --- OAuth 2.0 ------------------------------------------------------------------------------------


def test_oauth_token_flow(client, company, key):
    authkey, secret = key
    form = {"client_id": authkey.display_prefix, "client_secret": secret, "grant_type": "client_credentials"}
    response = client.post(TOKEN, form)
    assert response.status_code == 200
    reply = response.json()
    assert set(reply) == {"access_token", "expires_in", "token_type"}
    assert reply["token_type"] == "Bearer" and reply["expires_in"] == 3600
    assert "no-store" in response["Cache-Control"]
    stored = OAuthAccessToken.objects.get()
    assert reply["access_token"] not in stored.digest and secret not in stored.digest
    assert post(client, V3, v3_body(), f"Bearer {reply['access_token']}").status_code == 200
    assert Message.objects.get().authkey == authkey


def test_oauth_client_secret_basic(client, key):
    authorization = "Basic " + base64.b64encode(f"{key[1][:11]}:{key[1]}".encode()).decode()
    response = client.post(
        TOKEN, {"grant_type": "client_credentials"}, headers={"Authorization": authorization}
    )
    assert response.status_code == 200 and response.json()["token_type"] == "Bearer"


@pytest.mark.parametrize(
    ("form", "status", "error"),
    [
        ({"grant_type": "password"}, 400, "unsupported_grant_type"),
        ({"grant_type": ""}, 400, "invalid_request"),
        ({"client_secret": "smsp_" + "A" * 38}, 401, "invalid_client"),
        ({"client_secret": None}, 401, "invalid_client"),
        ({"client_id": "smsp_wrong"}, 401, "invalid_client"),
    ],
)
def test_oauth_token_refusals(client, key, form, status, error):
    body = {"client_id": key[1][:11], "client_secret": key[1], "grant_type": "client_credentials", **form}
    response = client.post(TOKEN, {name: value for name, value in body.items() if value is not None})
    assert response.status_code == status
    reply = response.json()
    assert reply["error"] == error and reply["error_description"]
    assert "access_token" not in reply and OAuthAccessToken.objects.count() == 0
    if status == 401:
        assert "WWW-Authenticate" in response
        assert reply["requestError"]["serviceException"]["messageId"] == "UNAUTHORIZED"
        assert FailedRequest.objects.get().code == "207"
    else:
        assert FailedRequest.objects.count() == 0  # a protocol error, not a refused credential


def test_oauth_token_for_a_key_refused_by_ip_security(client, company):
    _, secret = make_key(company=company)  # IP security on, nothing whitelisted
    response = client.post(
        TOKEN, {"client_id": secret[:11], "client_secret": secret, "grant_type": "client_credentials"}
    )
    assert response.status_code == 403 and response.json()["error"] == "unauthorized_client"
    assert response.json()["error_description"].startswith("[418] ")
    assert FailedRequest.objects.get().code == "418"


def test_access_token_inherits_the_keys_grant(client, company, key):
    authkey, secret = key
    token = access_token(client, secret)
    key_services.authkey_set_enabled(authkey=authkey, actor=None, enabled=False)
    response = post(client, V3, v3_body(), f"Bearer {token}")
    assert response.status_code == 401 and "disabled" in response.json()["description"]
    key_services.authkey_set_enabled(authkey=authkey, actor=None, enabled=True)
    key_services.authkey_set_ip_security(authkey=authkey, actor=None, enabled=True)
    response = post(client, V3, v3_body(), f"Bearer {token}")
    assert response.status_code == 403 and response.json()["description"].startswith("[418] ")
    assert_nothing_sent(company)


def test_access_token_follows_the_keys_rule(client, company):
    rule = key_services.rule_create(
        company=company, actor=None, name="Reports only", services=[Service.objects.get(code="reports")]
    )
    _, secret = make_key(company=company, rule=rule, ip_security=False)
    response = post(client, V3, v3_body(), f"Bearer {access_token(client, secret)}")
    assert response.status_code == 403 and response.json()["errorCode"] == "E403"
    assert_nothing_sent(company)


def test_access_token_expires(client, key):
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        token = access_token(client, key[1])
    with time_machine.travel(start + timedelta(seconds=3601), tick=False):
        response = post(client, V3, v3_body(), f"Bearer {token}")
        assert response.status_code == 401 and "expired" in response.json()["description"]


def test_regenerating_the_key_ends_its_access_tokens(client, key):
    authkey, secret = key
    token = access_token(client, secret)
    key_services.authkey_regenerate(authkey=authkey, actor=None)
    assert OAuthAccessToken.objects.count() == 0
    assert post(client, V3, v3_body(), f"Bearer {token}").status_code == 401


def test_access_token_lifetime_stops_at_the_keys_expiry(client, company):
    _, secret = make_key(
        company=company, ip_security=False, expires_at=timezone.now() + timedelta(minutes=10)
    )
    response = client.post(
        TOKEN, {"client_id": secret[:11], "client_secret": secret, "grant_type": "client_credentials"}
    )
    assert 595 <= response.json()["expires_in"] <= 600


# --- Wire shapes ------------------------------------------------------------------------------------


def test_sms2_reply_shape(client, key):
    response = post(client, V2, v2_body(to="41793026727"), f"App {key[1]}")
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    message = Message.objects.get()
    recipient = Recipient.objects.get()
    assert response.json() == {
        "bulkId": message.request_id,
        "messages": [
            {
                "to": "41793026727",
                "status": PENDING_ACCEPTED,
                "messageId": recipient.message_uid,
                "smsCount": 1,
            }
        ],
    }
    assert message.sender == "InfoSMS" and recipient.msisdn == "41793026727"


def test_sms3_reply_shape(client, key):
    body = {
        "messages": [
            {
                "sender": "InfoSMS",
                "destinations": [{"to": "41793026727"}, {"to": "+41793026834"}],
                "content": {"text": "ж" * 71},  # UCS-2, 2 parts
            }
        ]
    }
    response = post(client, V3, body, f"App {key[1]}")
    assert response.status_code == 200
    message = Message.objects.get()
    uids = dict(Recipient.objects.values_list("msisdn", "message_uid"))
    assert response.json() == {
        "bulkId": message.request_id,
        "messages": [
            {
                "messageId": uids[number],
                "status": PENDING_ACCEPTED,
                "destination": number,
                "details": {"messageCount": 2},
            }
            for number in ("41793026727", "41793026834")
        ],
    }
    assert message.encoding == "ucs2" and message.credits == 4


def test_sms3_schedule_campaign_and_client_bulk_id(client, key):
    send_at = (timezone.now() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%S.000+0000")
    body = v3_body(options={"campaignReferenceId": "summer", "flash": True})
    body["options"] = {"schedule": {"bulkId": "my-bulk-1", "sendAt": send_at}}
    reply = post(client, V3, body, f"App {key[1]}").json()
    assert reply["bulkId"] == "my-bulk-1"
    assert reply["messages"][0]["status"]["groupName"] == "PENDING"
    message = Message.objects.get()
    assert message.scheduled_at is not None and message.campaign == "summer" and message.flash
    assert message.reference == "my-bulk-1"
    assert Recipient.objects.get().status == Recipient.Status.SCHEDULED


def test_several_messages_are_several_pipeline_runs_under_one_bulk_id(client, company, key):
    body = {
        "messages": [
            {"sender": "InfoSMS", "destinations": [{"to": "41793026727"}], "content": {"text": "First"}},
            {"sender": "Acme", "destinations": [{"to": "41793026834"}], "content": {"text": "Second"}},
        ]
    }
    reply = post(client, V3, body, f"App {key[1]}").json()
    first, second = Message.objects.order_by("pk")
    assert reply["bulkId"] == first.request_id and second.reference == first.request_id
    assert [item["destination"] for item in reply["messages"]] == ["41793026727", "41793026834"]
    assert Company.objects.get(pk=company.pk).sms_balance == 98
    results = client.get(
        "/sms/3/reports", {"bulkId": reply["bulkId"]}, headers={"Authorization": f"App {key[1]}"}
    )
    assert {row["bulkId"] for row in results.json()["results"]} == {first.request_id}
    assert len(results.json()["results"]) == 2


def test_a_refused_entry_among_accepted_ones_is_listed_rejected(client, company, key):
    body = {
        "messages": [
            {"sender": "InfoSMS", "destinations": [{"to": "41793026727"}], "content": {"text": "Fine"}},
            {"sender": "A", "destinations": [{"to": "41793026834"}], "content": {"text": "Bad sender"}},
        ]
    }
    response = post(client, V3, body, f"App {key[1]}")
    assert response.status_code == 200
    accepted, rejected = response.json()["messages"]
    assert accepted["status"] == PENDING_ACCEPTED
    assert rejected == {
        "status": {
            "groupId": 5,
            "groupName": "REJECTED",
            "id": 14,
            "name": "REJECTED_SENDER",
            "description": "[203] A sender ID has 3 to 11 letters or digits.",
        },
        "destination": "41793026834",
    }
    assert Message.objects.count() == 1 and FailedRequest.objects.get().code == "203"


def test_balance_running_out_rejects_the_rest(client, company, key):
    Company.objects.filter(pk=company.pk).update(sms_balance=1)
    body = {
        "messages": [
            {"from": "InfoSMS", "destinations": [{"to": "41793026727"}], "text": "One"},
            {"from": "InfoSMS", "destinations": [{"to": "41793026834"}], "text": "Two"},
            {"from": "InfoSMS", "destinations": [{"to": "41793026835"}], "text": "Three"},
        ]
    }
    reply = post(client, V2, body, f"App {key[1]}").json()
    statuses = [item["status"] for item in reply["messages"]]
    assert statuses[0] == PENDING_ACCEPTED
    assert [s["name"] for s in statuses[1:]] == ["REJECTED_NOT_ENOUGH_CREDITS"] * 2
    assert statuses[1]["description"].startswith("[301] ")
    assert Message.objects.count() == 1 and FailedRequest.objects.count() == 1  # stopped at once


# --- Errors in both shapes --------------------------------------------------------------------------


def _raise(*args, **kwargs):
    raise RuntimeError("database exploded: secret details")


def _error_reply(response, version):
    """(catalogue code, HTTP-level Infobip id, properties) from either error shape."""
    reply = response.json()
    if version == V3:
        assert set(reply) == {"errorCode", "description", "action", "violations", "resources"}
        assert reply["action"] and reply["resources"] == []
        for violation in reply["violations"]:
            assert violation["violation"] == reply["description"]
        code = reply["description"][1:4]
        return code, reply["errorCode"], [violation["property"] for violation in reply["violations"]]
    exception = reply["requestError"]["serviceException"]
    assert set(exception) <= {"messageId", "text", "validationErrors"}
    code = exception["text"][1:4]
    return code, exception["messageId"], list(exception.get("validationErrors", {}))


IN_THE_PAST = "2001-01-01T10:00:00.000+0000"
VALIDATION = [
    # (v2 body, v3 body, code, v2 property, v3 property)
    ("not json", "not json", "102", "body", "body"),
    ({"messages": []}, {"messages": []}, "102", "messages", "messages"),
    ([1], [1], "102", "body", "body"),
    (
        {"messages": [{"from": "InfoSMS", "text": "x"}]},
        {"messages": [{"sender": "InfoSMS", "content": {"text": "x"}}]},
        "101",
        "messages[0].destinations",
        "messages[0].destinations",
    ),
    (v2_body(to="12ab"), v3_body(to="12ab"), "202", "messages[0].destinations", "messages[0].destinations"),
    (v2_body(body_text=" "), v3_body(body_text=" "), "102", "messages[0].text", "messages[0].content.text"),
    (v2_body(sender="A"), v3_body(sender="A"), "203", "messages[0].from", "messages[0].sender"),
    (
        {"messages": [{**v2_body()["messages"][0], "sendAt": IN_THE_PAST}]},
        {**v3_body(), "options": {"schedule": {"sendAt": IN_THE_PAST}}},
        "608",
        "messages[0].sendAt",
        "options.schedule.sendAt",
    ),
    (
        v2_body(),
        v3_body(options={"campaignReferenceId": "c" * 33}),
        "308",
        None,
        "messages[0].options.campaignReferenceId",
    ),
]


@pytest.mark.parametrize(("v2", "v3", "code", "v2_property", "v3_property"), VALIDATION)
@pytest.mark.parametrize("version", [V2, V3])
def test_validation_errors_are_400_with_the_field(
    client, company, key, v2, v3, code, v2_property, v3_property, version
):
    payload = v2 if version == V2 else v3
    expected = v2_property if version == V2 else v3_property
    raw = payload if isinstance(payload, str) else json.dumps(payload)
    response = client.post(
        version, raw, content_type="application/json", headers={"Authorization": f"App {key[1]}"}
    )
    if expected is None:  # sms/2 has no campaign field: the same body is simply accepted
        assert response.status_code == 200
        return
    assert response.status_code == 400
    assert _error_reply(response, version) == (code, "E400" if version == V3 else "BAD_REQUEST", [expected])
    assert_nothing_sent(company)
    assert FailedRequest.objects.get().code == code


@pytest.mark.parametrize(
    ("setup", "status", "code"),
    [
        ("ip", 403, "418"),
        ("blacklist", 403, "208"),
        ("balance", 403, "301"),
        ("expired", 403, "302"),
        ("banned", 403, "303"),
        ("terminated", 403, "421"),
        ("rule", 403, "207"),
        ("disabled", 401, "207"),
        ("internal", 500, "506"),
    ],
)
@pytest.mark.parametrize("version", [V2, V3])
def test_refusals_map_to_http_statuses(client, company, monkeypatch, setup, status, code, version):
    _, secret = make_key(company=company, ip_security=(setup == "ip"))
    balance = 100
    if setup == "blacklist":
        BlockedIP.objects.create(network="127.0.0.1")
    elif setup == "balance":
        balance = 0
        Company.objects.filter(pk=company.pk).update(sms_balance=0)
    elif setup in ("expired", "banned", "terminated"):
        account_services.company_set_status(company=company, status=setup)
    elif setup == "rule":
        rule = key_services.rule_create(
            company=company, actor=None, name="Reports only", services=[Service.objects.get(code="reports")]
        )
        _, secret = make_key(company=company, rule=rule, ip_security=False)
    elif setup == "disabled":
        authkey, secret = make_key(company=company, ip_security=False)
        key_services.authkey_set_enabled(authkey=authkey, actor=None, enabled=False)
    elif setup == "internal":
        monkeypatch.setattr(encoding, "segment", _raise)
    payload = v2_body() if version == V2 else v3_body()
    response = post(client, version, payload, f"App {secret}")
    assert response.status_code == status
    ids = {401: ("E401", "UNAUTHORIZED"), 403: ("E403", "FORBIDDEN"), 500: ("E500", "GENERAL_ERROR")}
    expected_id = ids[status][0 if version == V3 else 1]
    assert _error_reply(response, version) == (code, expected_id, [])
    assert ("WWW-Authenticate" in response) == (status == 401)
    assert "secret details" not in response.content.decode()
    assert_nothing_sent(company, balance)
    failed = FailedRequest.objects.get()
    assert failed.code == code and secret not in failed.reason


def test_ip_not_whitelisted_names_the_ip(client, company):
    _, secret = make_key(company=company)
    reply = post(client, V3, v3_body(), f"App {secret}").json()
    assert reply["description"] == "[418] IP 127.0.0.1 is not whitelisted for this authkey."
    failed = FailedRequest.objects.get()
    assert failed.code == "418" and failed.reason in reply["description"]


def test_wrong_method_is_405(client):
    assert client.get(V3).status_code == 405
    assert client.get(TOKEN).status_code == 405


# --- Reports and logs -------------------------------------------------------------------------------


def _sent(client, secret, numbers, sender="InfoSMS"):
    body = {
        "messages": [
            {"sender": sender, "destinations": [{"to": n} for n in numbers], "content": {"text": text()}}
        ]
    }
    return post(client, V3, body, f"App {secret}").json()


def test_reports_v3(client, key):
    reply = _sent(client, key[1], ["41793026727", "41793026834"])
    delivered, failed = reply["messages"]
    Recipient.objects.filter(message_uid=delivered["messageId"]).update(status=Recipient.Status.DELIVERED)
    Recipient.objects.filter(message_uid=failed["messageId"]).update(
        status=Recipient.Status.UNDELIVERABLE, error="Absent subscriber"
    )
    response = client.get(
        "/sms/3/reports", {"bulkId": reply["bulkId"]}, headers={"Authorization": f"App {key[1]}"}
    )
    assert response.status_code == 200
    rows = {row["messageId"]: row for row in response.json()["results"]}
    row = rows[delivered["messageId"]]
    assert row["to"] == "41793026727" and row["bulkId"] == reply["bulkId"] and row["sender"] == "InfoSMS"
    assert row["status"] == {
        "groupId": 3,
        "groupName": "DELIVERED",
        "id": 5,
        "name": "DELIVERED_TO_HANDSET",
        "description": "Message delivered to handset",
    }
    assert row["error"]["groupName"] == "OK" and row["messageCount"] == 1
    assert row["sentAt"].endswith("+0000") and row["doneAt"].endswith("+0000")
    undelivered = rows[failed["messageId"]]
    assert undelivered["status"]["groupId"] == 2 and undelivered["status"]["groupName"] == "UNDELIVERABLE"
    assert undelivered["error"]["description"] == "Absent subscriber"


@pytest.mark.parametrize(
    ("status", "group_id", "group"),
    [
        (Recipient.Status.ACCEPTED, 1, "PENDING"),
        (Recipient.Status.SCHEDULED, 1, "PENDING"),
        (Recipient.Status.ENROUTE, 1, "PENDING"),
        (Recipient.Status.DELIVERED, 3, "DELIVERED"),
        (Recipient.Status.UNDELIVERABLE, 2, "UNDELIVERABLE"),
        (Recipient.Status.EXPIRED, 4, "EXPIRED"),
        (Recipient.Status.REJECTED, 5, "REJECTED"),
        (Recipient.Status.FAILED, 5, "REJECTED"),
    ],
)
def test_status_mapping(client, key, status, group_id, group):
    reply = _sent(client, key[1], ["41793026727"])
    message_id = reply["messages"][0]["messageId"]
    Recipient.objects.update(status=status)
    row = client.get(
        "/sms/3/reports", {"messageId": message_id}, headers={"Authorization": f"App {key[1]}"}
    ).json()["results"][0]
    assert (row["status"]["groupId"], row["status"]["groupName"]) == (group_id, group)
    assert ("doneAt" in row) == (group_id != 1)


def test_logs_v3_filters_and_shape(client, key):
    first = _sent(client, key[1], ["41793026727"])
    _sent(client, key[1], ["41793026834"], sender="Acme")
    headers = {"Authorization": f"App {key[1]}"}
    rows = client.get("/sms/3/logs", headers=headers).json()["results"]
    assert [row["destination"] for row in rows] == ["41793026834", "41793026727"]  # newest first
    log = client.get("/sms/3/logs", {"bulkId": first["bulkId"]}, headers=headers).json()["results"]
    assert len(log) == 1 and log[0]["sender"] == "InfoSMS"
    assert log[0]["content"]["text"].startswith("Hello number")
    assert log[0]["messageId"] == first["messages"][0]["messageId"]
    assert [
        r["sender"] for r in client.get("/sms/3/logs", {"sender": "Acme"}, headers=headers).json()["results"]
    ] == ["Acme"]
    assert client.get("/sms/3/logs", {"generalStatus": "DELIVERED"}, headers=headers).json()["results"] == []
    assert len(client.get("/sms/3/logs", {"limit": "1"}, headers=headers).json()["results"]) == 1


def test_sms1_reports_and_logs(client, key):
    reply = _sent(client, key[1], ["41793026727"])
    headers = {"Authorization": f"App {key[1]}"}
    report = client.get("/sms/1/reports", headers=headers).json()["results"][0]
    assert set(report) == {"bulkId", "messageId", "to", "sentAt", "smsCount", "status", "error"}
    assert report["messageId"] == reply["messages"][0]["messageId"]
    log = client.get("/sms/1/logs", headers=headers).json()["results"][0]
    assert log["from"] == "InfoSMS" and log["text"].startswith("Hello number")


def test_reports_show_only_the_companys_own_messages(client, key):
    _sent(client, key[1], ["41793026727"])
    _, other = make_key(company=CompanyFactory(), ip_security=False)
    response = client.get("/sms/3/reports", headers={"Authorization": f"App {other}"})
    assert response.json() == {"results": []}


def test_reports_with_user_credentials(client, key, member):
    _sent(client, key[1], ["41793026727"])
    response = client.get("/sms/3/logs", headers={"Authorization": basic(member.email)})
    assert len(response.json()["results"]) == 1


def test_reports_need_the_reports_service(client, company):
    rule = key_services.rule_create(
        company=company, actor=None, name="Send only", services=[Service.objects.get(code="sms-send")]
    )
    _, secret = make_key(company=company, rule=rule, ip_security=False)
    response = client.get("/sms/3/reports", headers={"Authorization": f"App {secret}"})
    assert response.status_code == 403 and response.json()["errorCode"] == "E403"
    v1 = client.get("/sms/1/reports", headers={"Authorization": f"App {secret}"})
    assert v1.status_code == 403
    assert v1.json()["requestError"]["serviceException"]["messageId"] == "FORBIDDEN"
    assert FailedRequest.objects.filter(code="207").count() == 2


def test_reports_refuse_bad_credentials(client):
    response = client.get("/sms/3/reports", headers={"Authorization": "App nope"})
    assert response.status_code == 401 and "WWW-Authenticate" in response


def test_reports_and_sends_make_no_query_per_row(client, key):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    headers = {"Authorization": f"App {key[1]}"}
    _sent(client, key[1], ["41793026727"])
    with CaptureQueriesContext(connection) as one:
        client.get("/sms/3/logs", headers=headers)
    _sent(client, key[1], [f"417930268{i:02d}" for i in range(10)])
    with CaptureQueriesContext(connection) as many:
        rows = client.get("/sms/3/logs", headers=headers).json()["results"]
    assert len(rows) == 11 and len(many) == len(one)
    with CaptureQueriesContext(connection) as send_one:
        _sent(client, key[1], ["41793026727"])
    with CaptureQueriesContext(connection) as send_many:
        _sent(client, key[1], [f"417930269{i:02d}" for i in range(20)])
    assert len(send_many) == len(send_one)
