"""Customer-message delivery through the REAL Redis broker and a REAL Celery worker process.

"A broker outage delays but never loses an accepted message": a message committed while the broker
is unreachable stays PENDING (the request never sees an error), and once the broker is back the
outbox sweeper hands it over and the worker delivers it. Likewise for a task the broker lost.

The worker runs the simulator backend (locmem could not be seen from this process): delivery is
checked in the shared test database, where every recipient leaves ACCEPTED and ends with the
status the simulator's table gives its number. Modelled on tests/portal/test_celery_worker.py
(shared harness: tests/celery_worker.py): committed data (`transactional_db`), one queue per
run, bounded waits.
"""

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
from django.db import transaction

from messaging import delivery
from messaging.delivery import simulator
from messaging.models import Message, Recipient
from messaging.tasks import sweep_outbox
from tests.celery_worker import (
    BROKER_URL,
    Worker,
    start_worker,
    switch_broker,
    wait_for,
)
from tests.messaging.test_delivery import make_message

pytestmark = [pytest.mark.celery_worker]

# Nothing listens there: connections are refused at once, like a Redis that is down.
UNREACHABLE_BROKER_URL = os.environ.get("CELERY_TEST_UNREACHABLE_BROKER_URL", "redis://127.0.0.1:6390/0")
NUMBERS = [f"91987654321{d}" for d in range(10)] + ["919876543299"]
EXPECTED = {msisdn: simulator.final_status(msisdn) for msisdn in NUMBERS}


@pytest.fixture(scope="module")
def worker(
    django_db_setup: None,
    django_db_blocker: Any,
    celery_queue: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Worker]:
    """A real `celery worker` on the Redis broker and this run's test DB, with the simulator."""
    yield from start_worker(
        django_db_blocker=django_db_blocker,
        queue=celery_queue,
        log_dir=tmp_path_factory.mktemp("delivery-worker-log"),
        extra_env={
            "CELERY_TASK_DEFAULT_QUEUE": celery_queue,  # the simulator's reports come back to it
            "SMS_DELIVERY_BACKEND": "messaging.delivery.simulator.Backend",
            "SMS_SIMULATOR_REPORT_DELAY": "0.5",
        },
    )


@pytest.fixture
def use_broker(celery_queue: str, settings: Any) -> Callable[..., Any]:
    """`with use_broker(url):` makes `.apply_async()` in this process publish to `url` (on this
    run's queue, or `queue`); restored on exit (tests/celery_worker.switch_broker)."""

    def switch(url: str, queue: str | None = None) -> Any:
        return switch_broker(settings, url, queue or celery_queue)

    return switch


def recipient_statuses(message: Message) -> dict[str, tuple[str, str]]:
    return {
        msisdn: (status, error)
        for msisdn, status, error in message.recipients.values_list("msisdn", "status", "error")
    }


def delivered(message: Message) -> bool:
    return recipient_statuses(message) == EXPECTED


def commit_message() -> Message:
    """What the pipeline does: commit the message, enqueue it on commit."""
    with transaction.atomic():
        message = make_message(NUMBERS)
        transaction.on_commit(lambda: delivery.enqueue(message.pk))
    return message


@pytest.fixture
def live(transactional_db: None, worker: Worker) -> Worker:
    return worker


def test_a_committed_message_is_delivered_by_the_worker(live: Worker, use_broker: Any) -> None:
    with use_broker(BROKER_URL):
        message = commit_message()

        wait_for(lambda: delivered(message), "every recipient's final simulated status", live)

    message = Message.objects.get(pk=message.pk)
    assert (message.delivery, message.delivery_attempts, message.next_attempt_at) == (
        Message.Delivery.SUBMITTED,
        1,
        None,
    )
    assert not message.recipients.filter(status=Recipient.Status.ACCEPTED).exists()


def test_a_broker_outage_delays_but_never_loses_an_accepted_message(live: Worker, use_broker: Any) -> None:
    with use_broker(UNREACHABLE_BROKER_URL):
        message = commit_message()  # the on_commit enqueue fails: no exception reaches the caller

    message = Message.objects.get(pk=message.pk)
    assert message.delivery == Message.Delivery.PENDING
    assert message.next_attempt_at is not None  # due for the next sweep
    assert {status for status, _ in recipient_statuses(message).values()} == {Recipient.Status.ACCEPTED}

    with use_broker(BROKER_URL):  # the broker is back; beat would run this every 30 s
        assert sweep_outbox() == {"due": 1, "published": 1}

        wait_for(lambda: delivered(message), "the swept message to be delivered", live)

    assert Message.objects.get(pk=message.pk).delivery == Message.Delivery.SUBMITTED


def test_a_task_the_broker_lost_is_re_enqueued_by_the_sweeper(
    live: Worker, use_broker: Any, broker: redis.Redis, celery_queue: str, settings: Any
) -> None:
    settings.SMS_OUTBOX_STALE_SECONDS = 0  # instead of waiting a minute for it to turn stale
    lost_queue = f"{celery_queue}-lost"  # removed with the run's queue
    with use_broker(BROKER_URL, queue=lost_queue):  # published where no worker listens ...
        message = commit_message()
    assert broker.llen(lost_queue) == 1
    broker.delete(lost_queue)  # ... and gone, as after a Redis restart without persistence
    assert Message.objects.get(pk=message.pk).delivery == Message.Delivery.ENQUEUED

    with use_broker(BROKER_URL):
        assert sweep_outbox() == {"due": 1, "published": 1}

        wait_for(lambda: delivered(message), "the re-enqueued message to be delivered", live)

    message = Message.objects.get(pk=message.pk)
    assert (message.delivery, message.delivery_attempts) == (Message.Delivery.SUBMITTED, 1)


def test_messages_accepted_by_the_api_are_published_coalesced_and_delivered(
    live: Worker, use_broker: Any, client: Any
) -> None:
    """The API's accept path publishes through the coalescing publisher thread
    (messaging/delivery/publisher.py): every accepted message reaches the worker once."""
    from authkeys.models import Rule
    from tests.factories import CompanyFactory, make_key

    Rule.objects.get_or_create(company=None, name="All services", defaults={"all_services": True})
    company = CompanyFactory(sms_balance=1000)
    _, secret = make_key(company, ip_security=False)
    with use_broker(BROKER_URL):
        request_ids = []
        for i, msisdn in enumerate(NUMBERS * 2):
            response = client.get(
                "/api/sendhttp.php",
                {
                    "authkey": secret,
                    "mobiles": msisdn,
                    "message": f"Hello {i}",
                    "sender": "ACMEIN",
                    "response": "json",
                },
            )
            assert response.json()["type"] == "success", response.content
            request_ids.append(response.json()["message"])
        messages = Message.objects.filter(request_id__in=request_ids)

        def all_delivered() -> bool:
            statuses = messages.values_list("recipients__msisdn", "recipients__status", "recipients__error")
            return all(EXPECTED[msisdn] == (status, error) for msisdn, status, error in statuses)

        wait_for(all_delivered, "every API-accepted message to be delivered", live)
    assert set(messages.values_list("delivery", "delivery_attempts")) == {(Message.Delivery.SUBMITTED, 1)}
