"""The real `msg91-py` 0.2.1 client against a live server.

The client sends its key only as an `authkey` header; `sms.send` calls POST {v2 base}v2/sendsms
with JSON and parses the reply; a non-2xx reply raises (401 → AuthenticationError) and a 2xx
reply with "type": "error" comes back as data. Its v5 base is the `base_url` constructor argument
(trailing slash needed); its v2 base is the attribute `http_client.v2_base_url`.
"""

import importlib
import re

import msg91
import pytest
from msg91.exceptions import AuthenticationError

from accounts.models import Company
from messaging.models import FailedRequest, Message
from tests.factories import CompanyFactory, make_key

pytestmark = pytest.mark.compat


@pytest.fixture
def seeded_catalogue(transactional_db) -> None:  # type: ignore[no-untyped-def]
    """The rows data migrations seed (services, the built-in rule), which the flush after every
    earlier transactional test removes: the migration's own idempotent seed puts them back."""
    from django.apps import apps

    importlib.import_module("authkeys.migrations.0002_service_catalogue").seed(apps, None)


@pytest.fixture
def company(seeded_catalogue):  # type: ignore[no-untyped-def]
    return CompanyFactory(sms_balance=100)


@pytest.fixture
def secret(company) -> str:  # type: ignore[no-untyped-def]
    return make_key(company=company, ip_security=False)[1]


@pytest.fixture
def client_for(live_server):  # type: ignore[no-untyped-def]
    """Clients pointed at the live server, closed after the test: a kept-alive HTTP connection
    would keep the server's request thread, and its database connection, open."""
    made: list[msg91.Client] = []

    def make(key: str) -> msg91.Client:
        client = msg91.Client(auth_key=key, base_url=f"{live_server.url}/api/v5/", timeout=10)
        client.http_client.v2_base_url = f"{live_server.url}/api/"
        made.append(client)
        return client

    yield make
    for client in made:
        client.http_client.client.close()


def test_send_sms_through_the_real_client(client_for, company, secret):
    client = client_for(secret)
    reply = client.sms.send(
        mobile=["919876543210", "919812345678"], message="Hello from msg91-py", sender="ACMEIN"
    )
    assert reply["type"] == "success"
    message = Message.objects.get(request_id=reply["message"])
    assert (message.company, message.dialect, message.endpoint) == (company, "msg91", "/api/v2/sendsms")
    assert message.recipient_count == 2
    assert Company.objects.get(pk=company.pk).sms_balance == 98


def test_optional_fields_are_understood(client_for, company, secret):
    client = client_for(secret)
    reply = client.sms.send(
        mobile="9876543210",
        message="नमस्ते",
        sender="ACMEIN",
        route="4",
        country="91",
        unicode=True,
        flash=False,
        campaign="Festival",
    )
    message = Message.objects.get(request_id=reply["message"])
    assert message.encoding == "ucs2" and message.campaign == "Festival" and not message.flash
    assert message.recipients.get().msisdn == "919876543210"


def test_invalid_key_raises_authentication_error(client_for, company):
    client = client_for("smsp_" + "A" * 38)
    with pytest.raises(AuthenticationError) as raised:
        client.sms.send(mobile="919876543210", message="Hello", sender="ACMEIN")
    assert raised.value.status == 401
    assert raised.value.details["code"] == "207"
    assert Message.objects.count() == 0
    assert FailedRequest.objects.get().code == "207"


def test_refusal_with_200_comes_back_as_data(client_for, company, secret):
    client = client_for(secret)
    reply = client.sms.send(mobile="919876543210", message="Hello", sender="")
    assert reply == {"type": "error", "message": "Missing sender ID.", "code": "203"}
    assert Message.objects.count() == 0
    assert Company.objects.get(pk=company.pk).sms_balance == 100
    assert FailedRequest.objects.get().code == "203"


def test_delivery_report_through_the_clients_v5_base(client_for, company, secret):
    client = client_for(secret)
    request_id = client.sms.send(mobile="919876543210", message="Report me", sender="ACMEIN")["message"]
    report = client.http_client.get(f"report/{request_id}")
    assert report["type"] == "success" and report["requestId"] == request_id
    assert [entry["number"] for entry in report["data"]] == ["919876543210"]


def test_otp_send_verify_and_resend_through_the_real_client(client_for, company, secret):
    """msg91-py's otp resource: GET {v2 base}sendotp.php / verifyRequestOTP.php / retryotp.php."""
    from messaging.delivery import locmem
    from messaging.models import OtpRequest

    locmem.outbox.clear()
    client = client_for(secret)

    sent = client.otp.send(mobile="919876543210", sender="ACMEIN", otp_length=6, otp_expiry=10)
    assert sent["type"] == "success"
    assert Message.objects.get(request_id=sent["message"]).endpoint == "/api/sendotp.php"
    [(_, to, text)] = locmem.outbox  # delivered at once (eager Celery): the SMS with the code
    code = re.search(r"\d{6}", text).group(0)
    assert to == "919876543210" and code not in Message.objects.get().text  # masked once delivered

    assert client.otp.verify(mobile="919876543210", otp="000000" if code != "000000" else "111111") == {
        "type": "error",
        "message": "otp_not_verified",
    }
    assert client.otp.resend(mobile="919876543210", retrytype="voice")["type"] == "error"
    assert client.otp.resend(mobile="919876543210") == {"type": "success", "message": "otp_sent_successfully"}
    new_code = re.search(r"\d{6}", locmem.outbox[-1][2]).group(0)
    assert client.otp.verify(mobile="919876543210", otp=new_code) == {
        "type": "success",
        "message": "number_verified_successfully",
    }
    assert OtpRequest.objects.get().verified_at is not None
    assert Company.objects.get(pk=company.pk).sms_balance == 98
