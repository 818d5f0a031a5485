"""SMS → Debug (request lookup, IP check) and the public error-code reference."""

import json

import pytest
from django.urls import reverse

from authkeys import auth
from authkeys import services as key_services
from authkeys.models import RecentIP
from messaging.catalogue import CATALOGUE
from messaging.error_advice import ERROR_ADVICE
from messaging.models import FailedRequest
from tests.factories import PASSWORD, CompanyFactory, UserFactory, make_key
from tests.helpers import pass_otp_gate

pytestmark = pytest.mark.django_db

DEBUG = reverse("messaging:debug")


@pytest.fixture(autouse=True)
def _fresh_grants(settings):
    settings.AUTHKEY_LOCAL_CACHE_SECONDS = 0
    auth._local.clear()


def _verified(client, sms_outbox, **kwargs):
    user = UserFactory(**kwargs)
    client.login(email=user.email, password=PASSWORD)
    pass_otp_gate(client, user, sms_outbox)
    return user


def _send(client, secret, mobiles="919876543210,919876543217"):
    response = client.get(
        "/api/sendhttp.php",
        {"authkey": secret, "mobiles": mobiles, "message": "Hello", "sender": "ACMEIN", "response": "json"},
    )
    body = json.loads(response.content)
    assert body["type"] == "success", body
    return body["message"]


def test_debug_page_needs_a_verified_session(client):
    user = UserFactory(role="member")
    client.login(email=user.email, password=PASSWORD)
    response = client.get(DEBUG)
    assert response.status_code == 302 and reverse("accounts:otp_gate") in response["Location"]


def test_lookup_shows_what_was_accepted_and_each_recipient(client, sms_outbox):
    user = _verified(client, sms_outbox, role="member")
    user.company.sms_balance = 10
    user.company.save()
    _, secret = make_key(user.company, name="Billing", ip_security=False)
    request_id = _send(client, secret)
    response = client.get(DEBUG, {"request_id": request_id.upper()})
    assert response.status_code == 200
    report = response.context["report"]
    assert report.message.request_id == request_id
    assert [r.msisdn for r in report.recipients] == ["919876543210", "919876543217"]
    page = response.content.decode()
    assert "Billing" in page and "919876543217" in page and "/api/sendhttp.php" in page
    # A recipient's message id finds the same request.
    uid = report.recipients[1].message_uid
    assert client.get(DEBUG, {"request_id": uid}).context["report"].message.request_id == request_id


def test_lookup_of_another_companys_request_finds_nothing(client, sms_outbox):
    _verified(client, sms_outbox)
    other = CompanyFactory(sms_balance=10)
    _, secret = make_key(other, ip_security=False)
    request_id = _send(client, secret)
    response = client.get(DEBUG, {"request_id": request_id})
    assert response.status_code == 200 and response.context["report"] is None
    assert "No accepted request of your company has this id" in response.content.decode()


@pytest.mark.parametrize("value", ["", "xyz", "87da1b3f4a5ab07021fa64b", "87da1b3f4a5ab07021fa64bg"])
def test_bad_request_id_says_what_is_expected(client, sms_outbox, value):
    _verified(client, sms_outbox)
    response = client.get(DEBUG, {"request_id": value})
    assert response.status_code == 400
    body = response.content.decode()
    assert "This field is required" in body or "24-character hexadecimal request id" in body


def test_ip_check_on_the_page(client, sms_outbox):
    user = _verified(client, sms_outbox, role="member")
    authkey, _ = make_key(user.company, name="Billing")
    key_services.key_ip_add(authkey=authkey, actor=None, entry="203.0.113.0/24")
    before = (FailedRequest.objects.count(), RecentIP.objects.count())
    page = client.get(DEBUG, {"key": authkey.pk, "ip": "203.0.113.9"}).content.decode()
    assert "Accepted." in page and "203.0.113.0/24" in page
    page = client.get(DEBUG, {"key": authkey.pk, "ip": "198.51.100.1"}).content.decode()
    assert "Refused with 418" in page and 'href="/api-docs/error-codes/#code-418"' in page
    assert (FailedRequest.objects.count(), RecentIP.objects.count()) == before


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"key": "1", "ip": "1.2.3"}, "is not an IP address"),
        ({"key": "999999", "ip": "192.0.2.1"}, "Select a valid choice"),
        ({"ip": "192.0.2.1"}, "This field is required"),
    ],
)
def test_ip_check_validation(client, sms_outbox, query, message):
    user = _verified(client, sms_outbox)
    authkey, _ = make_key(user.company, name="Billing")
    query = {**query, "key": str(authkey.pk)} if query.get("key") == "1" else query
    response = client.get(DEBUG, query)
    assert response.status_code == 400 and message in response.content.decode()


def test_ip_check_cannot_reach_another_companys_key(client, sms_outbox):
    _verified(client, sms_outbox)
    foreign, _ = make_key(CompanyFactory(), name="Theirs")
    response = client.get(DEBUG, {"key": foreign.pk, "ip": "192.0.2.1"})
    assert response.status_code == 400 and "ip_check" not in response.context


def test_error_codes_page_is_public_and_covers_the_catalogue(client):
    response = client.get(reverse("messaging:error_codes"))
    assert response.status_code == 200
    page = response.content.decode()
    for code in CATALOGUE:
        assert f'id="code-{code.value}"' in page
    assert set(ERROR_ADVICE) == set(CATALOGUE)
