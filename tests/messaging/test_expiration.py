"""A client's expiration (GatewayAPI `expiration`, Infobip `validityPeriod`) is applied: a message
not handed to the gateway by then is expired by the outbox, never sent late."""

import json
from datetime import UTC, timedelta
from typing import Any

import pytest
import time_machine
from django.utils import timezone

from authkeys import auth
from messaging.delivery import locmem, outbox
from messaging.models import Message, Recipient
from tests.factories import CompanyFactory, make_key
from tests.messaging.test_delivery import make_message

pytestmark = pytest.mark.django_db

Delivery = Message.Delivery
Status = Recipient.Status
DEFAULT_VALIDITY = timedelta(hours=48)


@pytest.fixture(autouse=True)
def _fresh(settings):
    settings.AUTHKEY_LOCAL_CACHE_SECONDS = 0
    auth._local.clear()
    locmem.outbox.clear()


@pytest.fixture
def secret():
    return make_key(company=CompanyFactory(sms_balance=100), ip_security=False)[1]


@pytest.fixture
def now():
    moment = timezone.now().replace(microsecond=0)
    with time_machine.travel(moment, tick=False):
        yield moment


def iso(moment):
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def gatewayapi(client, secret, **fields):
    body = {"sender": "ACMEIN", "message": "Hello", "recipient": 4512345678, **fields}
    return client.post(
        "/mobile/single", json.dumps(body), content_type="application/json",
        headers={"Authorization": f"Token {secret}"},
    )  # fmt: skip


def infobip(client, secret, url, body):
    return client.post(
        url, json.dumps(body), content_type="application/json", headers={"Authorization": f"App {secret}"}
    )


def v2_message(**fields: Any) -> dict[str, Any]:
    return {"from": "InfoSMS", "destinations": [{"to": "41793026727"}], "text": "Hi", **fields}


def v3_message(**options: Any) -> dict[str, Any]:
    return {
        "sender": "InfoSMS",
        "destinations": [{"to": "41793026727"}],
        "content": {"text": "Hello"},
        "options": options,
    }


# --- Parsing and validation ------------------------------------------------------------------------


def test_gatewayapi_expiration_is_stored(client, secret, now):
    response = gatewayapi(client, secret, expiration=iso(now + timedelta(minutes=5)))
    assert response.status_code == 200
    assert Message.objects.get().expires_at == now + timedelta(minutes=5)


def test_without_expiration_the_default_validity_applies(client, secret, now):
    assert gatewayapi(client, secret).status_code == 200
    message = Message.objects.get()
    assert message.expires_at is None
    assert outbox.deadline(message) == now + DEFAULT_VALIDITY


def test_an_expiration_later_than_the_default_is_cut_to_it(client, secret, now):
    assert gatewayapi(client, secret, expiration=iso(now + timedelta(days=5))).status_code == 200
    assert Message.objects.get().expires_at == now + DEFAULT_VALIDITY


@pytest.mark.parametrize(
    ("expiration", "says"),
    [
        ("yesterday", "not an ISO 8601 date and time"),
        ("2020-01-01T00:00:00Z", "in the past"),
        (12345, "not an ISO 8601 date and time"),
    ],
)
def test_a_bad_gatewayapi_expiration_is_307_and_nothing_is_sent(client, secret, now, expiration, says):
    response = gatewayapi(client, secret, expiration=expiration)
    assert response.status_code == 400
    reply = response.json()
    assert reply["code"] == "307" and says in reply["message"]
    assert not Message.objects.exists()


def test_infobip_sms2_validity_period_is_minutes(client, secret, now):
    body = {"messages": [v2_message(validityPeriod=30)]}
    assert infobip(client, secret, "/sms/2/text/advanced", body).status_code == 200
    assert Message.objects.get().expires_at == now + timedelta(minutes=30)


@pytest.mark.parametrize(
    ("period", "delta"),
    [
        ({"amount": 2, "timeUnit": "HOURS"}, timedelta(hours=2)),
        ({"amount": 90, "timeUnit": "SECONDS"}, timedelta(seconds=90)),
        ({"amount": 15}, timedelta(minutes=15)),
        ({"amount": 3000, "timeUnit": "MINUTES"}, DEFAULT_VALIDITY),  # Infobip's 48 h maximum
    ],
)
def test_infobip_sms3_validity_period(client, secret, now, period, delta):
    response = infobip(client, secret, "/sms/3/messages", {"messages": [v3_message(validityPeriod=period)]})
    assert response.status_code == 200
    assert Message.objects.get().expires_at == now + delta


@pytest.mark.parametrize(
    ("url", "body", "field"),
    [
        (
            "/sms/3/messages",
            {"messages": [v3_message(validityPeriod={"amount": 0})]},
            "messages[0].options.validityPeriod",
        ),
        (
            "/sms/3/messages",
            {"messages": [v3_message(validityPeriod={"amount": 5, "timeUnit": "WEEKS"})]},
            "messages[0].options.validityPeriod",
        ),
        (
            "/sms/2/text/advanced",
            {"messages": [v2_message(validityPeriod="soon")]},
            "messages[0].validityPeriod",
        ),
    ],
)
def test_a_bad_infobip_validity_period_is_307_naming_the_field(client, secret, now, url, body, field):
    response = infobip(client, secret, url, body)
    assert response.status_code == 400
    text = json.dumps(response.json())
    assert "[307]" in text and field in text
    assert not Message.objects.exists()


def test_a_scheduled_message_counts_its_validity_from_the_send_time(client, secret, now):
    send_at = now + timedelta(hours=1)
    body = {
        "messages": [v3_message(validityPeriod={"amount": 10})],
        "options": {"schedule": {"sendAt": iso(send_at)}},
    }
    assert infobip(client, secret, "/sms/3/messages", body).status_code == 200
    assert Message.objects.get().expires_at == send_at + timedelta(minutes=10)


# --- The outbox applies it -----------------------------------------------------------------------


def accepted_with_expiry(client, secret, now, minutes=5) -> Message:
    assert gatewayapi(client, secret, expiration=iso(now + timedelta(minutes=minutes))).status_code == 200
    message = Message.objects.get()
    assert message.delivery == Delivery.ENQUEUED  # on_commit does not run inside the test transaction
    return message


def test_delivered_before_the_expiration(client, secret, now):
    message = accepted_with_expiry(client, secret, now)
    with time_machine.travel(now + timedelta(minutes=4), tick=False):
        assert outbox.deliver(message.pk) == "submitted: 1 recipients"
    assert len(locmem.outbox) == 1


def test_not_delivered_by_the_expiration_it_expires_and_is_never_sent(client, secret, now):
    message = accepted_with_expiry(client, secret, now)
    with time_machine.travel(now + timedelta(minutes=5), tick=False):
        assert outbox.deliver(message.pk) == "expired"
    message.refresh_from_db()
    assert message.delivery == Delivery.EXPIRED
    assert list(message.recipients.values_list("status", "error")) == [(Status.EXPIRED, outbox.EXPIRED_ERROR)]
    assert locmem.outbox == []
    with time_machine.travel(now + timedelta(minutes=6), tick=False):
        assert outbox.deliver(message.pk) == "skipped: expired"  # a redelivered task sends nothing


def test_the_sweeper_expires_waiting_messages_without_a_worker(now):
    due = make_message(["919800000001"], delivery=Delivery.ENQUEUED, expires_at=now + timedelta(minutes=1))
    later = make_message(["919800000002"], delivery=Delivery.PENDING, expires_at=now + timedelta(hours=1))
    sending = make_message(
        ["919800000003"],
        delivery=Delivery.SENDING,
        delivery_attempts=1,
        next_attempt_at=now + timedelta(minutes=5),  # a live lease: the worker decides
        expires_at=now + timedelta(minutes=1),
    )

    result = outbox.sweep(now=now + timedelta(minutes=2))

    assert result["expired"] == 1
    assert Message.objects.get(pk=due.pk).delivery == Delivery.EXPIRED
    assert due.recipients.get().status == Status.EXPIRED
    assert Message.objects.get(pk=later.pk).delivery != Delivery.EXPIRED
    assert Message.objects.get(pk=sending.pk).delivery == Delivery.SENDING
    assert sending.recipients.get().status == Status.ACCEPTED


def test_the_report_shows_expired(client, secret, now):
    message = accepted_with_expiry(client, secret, now)
    outbox.sweep(now=now + timedelta(minutes=6))
    reply = client.get("/sms/3/reports", headers={"Authorization": f"App {secret}"}).json()
    [row] = reply["results"]
    assert (
        row["status"]["groupName"] == "EXPIRED" and row["messageId"] == message.recipients.get().message_uid
    )
