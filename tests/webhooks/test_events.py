"""Delivery-status changes of real messages become signed GatewayAPI-envelope events: through the
API, the outbox and the simulator's reports; in bulk for large messages; only for subscribed,
active endpoints of the message's company."""

import json
import uuid
from datetime import datetime

import pytest
from django.utils import timezone
from standardwebhooks import Webhook

from authkeys import auth
from messaging.delivery import outbox, simulator
from messaging.models import Message, Recipient
from tests.factories import CompanyFactory, make_key
from webhooks import services
from webhooks.models import Delivery, Endpoint

pytestmark = pytest.mark.django_db

RStatus = Recipient.Status


@pytest.fixture(autouse=True)
def _fresh_grants(settings):  # type: ignore[no-untyped-def]
    settings.AUTHKEY_LOCAL_CACHE_SECONDS = 0
    auth._local.clear()


def test_a_message_sent_through_the_api_produces_signed_status_events(
    client, receiver, settings, django_capture_on_commit_callbacks
) -> None:
    settings.SMS_DELIVERY_BACKEND = "messaging.delivery.simulator.Backend"
    settings.SMS_SIMULATOR_REPORT_DELAY = 0
    company = CompanyFactory(sms_balance=100)
    _, token = make_key(company=company, ip_security=False)
    endpoint, secret = services.endpoint_create(company=company, actor=None, url=receiver.url)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/mobile/single",
            json.dumps(
                {"sender": "ACMEIN", "message": "Hi", "recipient": 4512345677, "reference": "order-7"}
            ),
            content_type="application/json",
            headers={"Authorization": f"Token {token}"},
        )
    assert response.status_code == 200, response.content
    msg_id = response.json()["msg_id"]

    # Submitted (ENROUTE), then the simulator's report (a number ending in 7: UNDELIVERABLE).
    events = [Webhook(secret).verify(r.body, r.headers) for r in receiver.requests]
    assert [e["event"]["status"] for e in events] == ["ENROUTE", "UNDELIVERABLE"]
    for event in events:
        assert set(event) == {"event_id", "timestamp", "event_type", "event"}
        assert event["event_type"] == "message.status.sms"
        assert uuid.UUID(event["event_id"])
        assert event["event"]["msg_id"] == msg_id
        assert event["event"]["recipient"] == 4512345677
        assert event["event"]["reference"] == "order-7"
        assert datetime.fromisoformat(event["event"]["status_at"].replace("Z", "+00:00"))
    assert events[0]["event"]["error"] is None
    assert events[1]["event"]["error"] == "Absent subscriber"
    assert set(Delivery.objects.filter(endpoint=endpoint).values_list("status", flat=True)) == {"delivered"}


def _message(company, msisdns, status=RStatus.ENROUTE) -> Message:  # type: ignore[no-untyped-def]
    message = Message.objects.create(
        company=company,
        dialect="native",
        endpoint="/test",
        text="Hello",
        encoding="gsm7",
        parts=1,
        recipient_count=len(msisdns),
        credits=len(msisdns),
        reference="batch-1",
    )
    Recipient.objects.bulk_create(
        [Recipient(message=message, msisdn=m, message_uid=str(uuid.uuid4()), status=status) for m in msisdns],
        batch_size=1000,
    )
    return message


def test_status_mapping_onto_gatewayapi_names() -> None:
    now = timezone.now()
    mapped = {
        status: services.status_event(
            msg_id="x", msisdn="1", reference="", status=status, status_at=now, error=""
        )["status"]
        for status in RStatus
    }
    allowed = {
        "ENROUTE",
        "DELIVERED",
        "EXPIRED",
        "DELETED",
        "UNDELIVERABLE",
        "ACCEPTED",
        "UNKNOWN",
        "REJECTED",
    }
    assert set(mapped.values()) <= allowed
    assert mapped[RStatus.FAILED] == "UNDELIVERABLE"
    assert mapped[RStatus.SCHEDULED] == "ACCEPTED"


def test_a_10000_recipient_report_writes_rows_in_bulk_and_few_drain_tasks(
    django_assert_max_num_queries, django_capture_on_commit_callbacks, settings
) -> None:
    settings.WEBHOOKS_ALLOW_PRIVATE = True
    company = CompanyFactory()
    first, _ = services.endpoint_create(company=company, actor=None, url="http://127.0.0.1:9/a")
    second, _ = services.endpoint_create(company=company, actor=None, url="http://127.0.0.1:9/b")
    services.endpoint_set_active(endpoint=second, actor=None, active=False)
    message = _message(company, [f"4520{i:06d}" for i in range(10_000)])

    # 4 status UPDATEs + the signal: 1 endpoint query, 1 message, the recipient cursor, 10 bulk
    # INSERTs (SQLite reads the cursor in chunks, hence the margin), savepoints.
    with django_capture_on_commit_callbacks(execute=False) as callbacks, django_assert_max_num_queries(40):
        assert simulator.apply_reports(message.pk) == 10_000

    assert Delivery.objects.filter(endpoint=first).count() == 10_000
    assert not Delivery.objects.filter(endpoint=second).exists()  # disabled: nothing queued
    assert len(callbacks) == 1  # one drain task for the endpoint, not one per event
    statuses = {
        row["status"] for row in Delivery.objects.filter(endpoint=first).values_list("payload", flat=True)
    }
    assert statuses == {"DELIVERED", "UNDELIVERABLE", "EXPIRED"}


def test_companies_without_endpoints_cost_one_query(django_assert_num_queries) -> None:
    message = _message(CompanyFactory(), ["4512345670"])
    with django_assert_num_queries(1):
        assert services.record_status_events(message_id=message.pk, changed_at=timezone.now()) == 0


def test_only_the_message_companys_subscribed_endpoints_get_events(settings) -> None:
    settings.WEBHOOKS_ALLOW_PRIVATE = True
    company, other = CompanyFactory(), CompanyFactory()
    mine, _ = services.endpoint_create(company=company, actor=None, url="http://127.0.0.1:9/")
    theirs, _ = services.endpoint_create(company=other, actor=None, url="http://127.0.0.1:9/")
    unsubscribed, _ = services.endpoint_create(company=company, actor=None, url="http://127.0.0.1:9/u")
    Endpoint.objects.filter(pk=unsubscribed.pk).update(event_types=["message.status.rcs"])
    message = _message(company, ["4512345670", "4512345671"], status=RStatus.ACCEPTED)

    outbox.deliver(message.pk)  # locmem backend: ACCEPTED → ENROUTE

    assert Delivery.objects.filter(endpoint=mine).count() == 2
    assert not Delivery.objects.filter(endpoint__in=[theirs, unsubscribed]).exists()
    payloads = sorted(Delivery.objects.values_list("payload", flat=True), key=lambda p: p["recipient"])
    assert [p["recipient"] for p in payloads] == [4512345670, 4512345671]
    assert {p["status"] for p in payloads} == {"ENROUTE"}
    assert {p["reference"] for p in payloads} == {"batch-1"}
