"""The whole path through the REAL Redis broker and a REAL Celery worker process: a committed
message is delivered by the worker (simulator backend), its status changes become outbox rows,
the worker's drain tasks POST signed events to a real local receiver in this process."""

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.db import transaction
from standardwebhooks import Webhook

from messaging import delivery as sms_delivery
from tests.celery_worker import (
    BROKER_URL,
    Worker,
    start_worker,
    wait_for,
)
from tests.factories import CompanyFactory
from tests.messaging.test_delivery import make_message
from tests.messaging.test_delivery_worker import use_broker  # noqa: F401  (fixture)
from webhooks import services
from webhooks.models import Delivery

pytestmark = [pytest.mark.celery_worker]

NUMBERS = ["4512345670", "4512345677"]  # DELIVERED, UNDELIVERABLE (the simulator's table)


@pytest.fixture(scope="module")
def worker(
    django_db_setup: None, django_db_blocker: Any, celery_queue: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Worker]:
    yield from start_worker(
        django_db_blocker=django_db_blocker,
        queue=celery_queue,
        log_dir=tmp_path_factory.mktemp("webhooks-worker-log"),
        extra_env={
            "CELERY_TASK_DEFAULT_QUEUE": celery_queue,
            "SMS_DELIVERY_BACKEND": "messaging.delivery.simulator.Backend",
            "SMS_SIMULATOR_REPORT_DELAY": "0.2",
            "WEBHOOKS_ALLOW_PRIVATE": "true",
        },
    )


def test_the_worker_delivers_signed_status_events(
    transactional_db: None,
    worker: Worker,
    receiver: Any,
    use_broker: Callable[..., Any],  # noqa: F811 (the fixture imported above)
) -> None:
    company = CompanyFactory()
    _, secret = services.endpoint_create(company=company, actor=None, url=receiver.url)
    with use_broker(BROKER_URL):
        with transaction.atomic():
            message = make_message(NUMBERS, company=company)
            transaction.on_commit(lambda: sms_delivery.enqueue(message.pk))

        wait_for(lambda: len(receiver.requests) >= 4, "four webhook requests", worker)

    events = [Webhook(secret).verify(r.body, r.headers) for r in receiver.requests]
    by_number: dict[int, list[str]] = {}
    for event in events:
        by_number.setdefault(event["event"]["recipient"], []).append(event["event"]["status"])
    assert by_number == {4512345670: ["ENROUTE", "DELIVERED"], 4512345677: ["ENROUTE", "UNDELIVERABLE"]}
    wait_for(
        lambda: set(Delivery.objects.values_list("status", flat=True)) == {"delivered"},
        "the deliveries to be recorded",
        worker,
    )
