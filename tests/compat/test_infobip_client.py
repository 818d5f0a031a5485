"""The real `infobip-api-python-client` 6.0.0 against pytest-django's live server.

The client talks plain HTTP only to hosts containing 127.0.0.1 or localhost, which the live server
URL does. Its authentication goes into `Authorization` as "<api_key_prefix> <api_key>": "App" by
default, "IBSSO", "Bearer" and "Basic" (with a base64 value) through the prefix. It parses replies
strictly (pydantic), so a wrong type or an unknown groupName would fail these tests.
"""

import base64
import importlib
import json
from urllib.parse import urlencode

import pytest
import urllib3
from infobip_api_client import ApiClient, Configuration, SmsApi
from infobip_api_client.exceptions import BadRequestException, ForbiddenException, UnauthorizedException
from infobip_api_client.models import (
    ApiError,
    MessageGeneralStatus,
    SmsDeliveryResult,
    SmsDestination,
    SmsLogsResponse,
    SmsMessage,
    SmsMessageContent,
    SmsRequest,
    SmsResponse,
    SmsTextContent,
)

from accounts.models import Company, User
from messaging.delivery import locmem
from messaging.models import FailedRequest, Message, Recipient
from tests.factories import PASSWORD, CompanyFactory, UserFactory, make_key

pytestmark = pytest.mark.compat


@pytest.fixture
def seeded_catalogue(transactional_db) -> None:  # type: ignore[no-untyped-def]
    """The service catalogue and the built-in rule, which earlier transactional tests' flush
    removed (see tests/e2e/conftest.py)."""
    from django.apps import apps

    importlib.import_module("authkeys.migrations.0002_service_catalogue").seed(apps, None)


@pytest.fixture
def company(seeded_catalogue):  # type: ignore[no-untyped-def]
    return CompanyFactory(sms_balance=100)


@pytest.fixture
def key(company):  # type: ignore[no-untyped-def]
    return make_key(company=company, ip_security=False)


@pytest.fixture
def member(company):  # type: ignore[no-untyped-def]
    return UserFactory(company=company, role=User.Role.MEMBER)


@pytest.fixture(autouse=True)
def _delivered_outbox():  # type: ignore[no-untyped-def]
    locmem.outbox.clear()
    yield
    locmem.outbox.clear()


# No kept-alive HTTP connections: each would keep a live-server thread, and that thread's
# persistent database connection, alive past the test (and the test database).
NO_KEEP_ALIVE = {"Connection": "close"}


def http(method: str, url: str, headers: dict[str, str] | None = None, **kwargs):  # type: ignore[no-untyped-def]
    return urllib3.request(method, url, headers={**NO_KEEP_ALIVE, **(headers or {})}, **kwargs)


def sms_api(live_server, credential: str, prefix: str | None = None) -> SmsApi:  # type: ignore[no-untyped-def]
    # api_key as a string: the client sets the "App" prefix itself unless another one is given.
    configuration = Configuration(host=live_server.url, api_key=credential, api_key_prefix=prefix)
    return SmsApi(ApiClient(configuration, header_name="Connection", header_value="close"))


def sms_request(text: str, *numbers: str, sender: str = "InfoSMS") -> SmsRequest:
    return SmsRequest(
        messages=[
            SmsMessage(
                sender=sender,
                destinations=[SmsDestination(to=number) for number in numbers],
                content=SmsMessageContent(SmsTextContent(text=text)),
            )
        ]
    )


def assert_pending(reply: SmsResponse, *numbers: str) -> None:
    assert isinstance(reply, SmsResponse) and reply.bulk_id
    assert [detail.destination for detail in reply.messages] == list(numbers)
    for detail in reply.messages:
        assert isinstance(detail.message_id, str) and detail.message_id
        assert detail.status is not None
        assert detail.status.group_id == 1 and detail.status.group_name == MessageGeneralStatus.PENDING
        assert detail.status.id == 26 and detail.status.name == "PENDING_ACCEPTED"
        assert detail.details is not None and detail.details.message_count == 1


def test_send_with_an_api_key_and_read_reports_and_logs(live_server, company, key):
    api = sms_api(live_server, key[1])
    reply = api.send_sms_messages(sms_request("Hello from the Infobip client", "41793026727", "41793026834"))
    assert_pending(reply, "41793026727", "41793026834")
    message = Message.objects.get()
    assert message.request_id == reply.bulk_id and message.authkey == key[0]
    uids = set(Recipient.objects.values_list("message_uid", flat=True))
    assert {detail.message_id for detail in reply.messages} == uids
    # Committed before the reply, then handed to the (in-memory) gateway on commit.
    assert sorted(number for _, number, _ in locmem.outbox) == ["41793026727", "41793026834"]
    assert Company.objects.get(pk=company.pk).sms_balance == 98

    reports = api.get_outbound_sms_message_delivery_reports(bulk_id=reply.bulk_id, limit=10)
    assert isinstance(reports, SmsDeliveryResult) and reports.results is not None
    assert {report.message_id for report in reports.results} == uids
    for report in reports.results:
        assert report.bulk_id == reply.bulk_id and report.to in ("41793026727", "41793026834")
        assert report.status is not None and report.status.group_name == MessageGeneralStatus.PENDING
        assert report.status.name == "PENDING_ENROUTE"  # handed over, no delivery report yet
        assert report.sent_at is not None and report.message_count == 1

    Recipient.objects.filter(msisdn="41793026727").update(status=Recipient.Status.DELIVERED)
    logs = api.get_outbound_sms_message_logs(message_id=[reply.messages[0].message_id])
    assert isinstance(logs, SmsLogsResponse) and logs.results is not None and len(logs.results) == 1
    log = logs.results[0]
    assert log.destination == "41793026727" and log.sender == "InfoSMS"
    assert log.status is not None and log.status.group_name == MessageGeneralStatus.DELIVERED
    assert log.status.group_id == 3 and log.done_at is not None
    assert log.content is not None and log.content.actual_instance.text == "Hello from the Infobip client"


def _post_json(live_server, path: str, body: dict, **headers: str) -> urllib3.BaseHTTPResponse:  # type: ignore[no-untyped-def]
    return http(
        "POST",
        live_server.url + path,
        body=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", **headers},
    )


def test_send_with_an_ibsso_session(live_server, member):
    created = _post_json(live_server, "/auth/1/session", {"username": member.email, "password": PASSWORD})
    assert created.status == 200
    token = created.json()["token"]
    reply = sms_api(live_server, token, "IBSSO").send_sms_messages(sms_request("Via IBSSO", "41793026727"))
    assert_pending(reply, "41793026727")
    assert Message.objects.get().authkey is None
    ended = http("DELETE", live_server.url + "/auth/1/session", headers={"Authorization": f"IBSSO {token}"})
    assert ended.status == 204
    with pytest.raises(UnauthorizedException) as raised:
        sms_api(live_server, token, "IBSSO").send_sms_messages(sms_request("After logout", "41793026727"))
    assert isinstance(raised.value.data, ApiError) and raised.value.data.error_code == "E401"


def test_send_with_basic_credentials(live_server, member):
    credentials = base64.b64encode(f"{member.email}:{PASSWORD}".encode()).decode()
    reply = sms_api(live_server, credentials, "Basic").send_sms_messages(
        sms_request("Via Basic", "41793026727")
    )
    assert_pending(reply, "41793026727")


def test_send_with_an_oauth_access_token(live_server, key):
    form = {"client_id": key[0].display_prefix, "client_secret": key[1], "grant_type": "client_credentials"}
    issued = http(
        "POST",
        live_server.url + "/auth/1/oauth2/token",
        body=urlencode(form),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert issued.status == 200 and "no-store" in issued.headers["Cache-Control"]
    token = issued.json()["access_token"]
    reply = sms_api(live_server, token, "Bearer").send_sms_messages(sms_request("Via OAuth", "41793026727"))
    assert_pending(reply, "41793026727")
    assert Message.objects.get().authkey == key[0]


def test_wrong_key_raises_unauthorized_with_parsed_data(live_server, company):
    with pytest.raises(UnauthorizedException) as raised:
        sms_api(live_server, "smsp_" + "A" * 38).send_sms_messages(sms_request("Nope", "41793026727"))
    error = raised.value
    assert error.status == 401
    assert isinstance(error.data, ApiError)
    assert error.data.error_code == "E401" and error.data.description.startswith("[207] ")
    assert error.data.violations == [] and error.data.resources == []
    assert Message.objects.count() == 0 and FailedRequest.objects.get().code == "207"


def test_ip_not_whitelisted_raises_forbidden(live_server, company):
    _, secret = make_key(company=company)  # IP security on, 127.0.0.1 not whitelisted
    with pytest.raises(ForbiddenException) as raised:
        sms_api(live_server, secret).send_sms_messages(sms_request("Nope", "41793026727"))
    assert isinstance(raised.value.data, ApiError)
    assert raised.value.data.error_code == "E403"
    assert raised.value.data.description == "[418] IP 127.0.0.1 is not whitelisted for this authkey."
    assert Message.objects.count() == 0 and FailedRequest.objects.get().code == "418"


def test_invalid_number_raises_bad_request_with_violations(live_server, key):
    with pytest.raises(BadRequestException) as raised:
        sms_api(live_server, key[1]).send_sms_messages(sms_request("Hello", "12ab"))
    data = raised.value.data
    assert isinstance(data, ApiError) and data.error_code == "E400"
    assert [(v.var_property, (v.violation or "")[:5]) for v in data.violations] == [
        ("messages[0].destinations", "[202]")
    ]
    assert Message.objects.count() == 0
