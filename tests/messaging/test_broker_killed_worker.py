"""The broker is killed mid-run: every accepted message is still delivered, exactly once.

A PRIVATE redis-server (free port, no persistence; tests/celery_worker.RedisServer) is the broker
of a REAL Celery worker that delivers through a recording backend (one line per recipient handed
over, in a file this test reads). Messages are accepted through the API; the worker works through
the backlog; Redis is SIGKILLed while tasks are queued and in flight (its queue and unacked tasks
are lost), more messages are accepted during the outage (answered with request ids, left PENDING),
Redis comes back empty, and the outbox sweeper (run here, as beat would) re-publishes whatever is
not SUBMITTED. At the end every accepted message is SUBMITTED and every recipient was handed over
exactly once. Bounded: all waits are polls with deadlines; the whole test takes well under 60 s.
"""

import importlib
import json
import os
import signal
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from messaging.models import Message, Recipient
from messaging.tasks import sweep_outbox
from tests.celery_worker import RedisServer, Worker, new_queue, start_worker, switch_broker, wait_for
from tests.factories import CompanyFactory, make_key

pytestmark = [pytest.mark.celery_worker]

BEFORE = 40  # accepted while the broker is up (a backlog the worker is still working through)
DURING = 5  # accepted while the broker is down
STALE_SECONDS = 1  # instead of a minute: when the sweeper re-publishes an unclaimed message


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("private-redis")).start()
    yield server
    server.kill()


@pytest.fixture(scope="module")
def record_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("recording-backend") / "handed-over.txt"


@pytest.fixture(scope="module")
def celery_queue() -> str:
    return new_queue("test-broker-killed")  # the private Redis disappears with the test


@pytest.fixture(scope="module")
def worker(
    django_db_setup: None,
    django_db_blocker: Any,
    redis_server: RedisServer,
    celery_queue: str,
    record_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Worker]:
    yield from start_worker(
        django_db_blocker=django_db_blocker,
        queue=celery_queue,
        log_dir=tmp_path_factory.mktemp("broker-killed-worker-log"),
        broker_url=redis_server.url,
        extra_env={
            "CELERY_TASK_DEFAULT_QUEUE": celery_queue,
            "SMS_DELIVERY_BACKEND": "tests.messaging.recording_backend.Backend",
            "RECORDING_BACKEND_PATH": str(record_path),
            "SMS_OUTBOX_STALE_SECONDS": str(STALE_SECONDS),
        },
    )


@pytest.fixture
def secret(transactional_db: None) -> str:
    """A key through the services, after re-seeding the service catalogue (flushed by earlier
    transactional tests)."""
    from django.apps import apps

    importlib.import_module("authkeys.migrations.0002_service_catalogue").seed(apps, None)
    company = CompanyFactory(sms_balance=1_000)
    return make_key(company=company, ip_security=False)[1]


def accept(client: Any, secret: str, index: int) -> str:
    """One MSG91 send through the API (two recipients); returns the request id."""
    body = {
        "sender": "ACMEIN",
        "route": "4",
        "mobiles": f"9198765{index:05d},9198766{index:05d}",
        "message": f"Broker test message {index}",
    }
    response = client.post(
        "/api/v2/sendsms", json.dumps(body), content_type="application/json", headers={"authkey": secret}
    )
    reply = response.json()
    assert response.status_code == 200 and reply["type"] == "success", reply
    return str(reply["message"])


def handed_over(record_path: Path) -> Counter[str]:
    """message_uid → how many times the worker handed it to the gateway."""
    if not record_path.exists():
        return Counter()
    return Counter(line.split()[1] for line in record_path.read_text().splitlines() if line.strip())


def submitted(request_ids: list[str]) -> int:
    return Message.objects.filter(request_id__in=request_ids, delivery=Message.Delivery.SUBMITTED).count()


def test_killing_the_broker_mid_run_loses_no_accepted_message_and_sends_none_twice(
    client: Any, secret: str, worker: Worker, redis_server: RedisServer, record_path: Path, settings: Any
) -> None:
    started = time.monotonic()
    settings.SMS_OUTBOX_STALE_SECONDS = STALE_SECONDS
    record_path.write_text("")
    with switch_broker(settings, redis_server.url, worker.queue):
        # A backlog: the worker is paused while the messages are accepted and queued in Redis.
        os.killpg(worker.proc.pid, signal.SIGSTOP)
        try:
            accepted = [accept(client, secret, index) for index in range(BEFORE)]
        finally:
            os.killpg(worker.proc.pid, signal.SIGCONT)
        assert Message.objects.filter(request_id__in=accepted).count() == BEFORE

        # Kill the broker while the worker is working through the queue.
        wait_for(lambda: submitted(accepted) >= 1, "the worker to deliver its first message", worker)
        redis_server.kill()
        at_kill = submitted(accepted)
        assert at_kill < BEFORE, "the worker finished before the broker was killed: nothing was in flight"

        # The API keeps accepting during the outage: committed and answered; the publisher thread
        # (messaging/delivery/publisher.py) then fails to publish and leaves them to the sweeper.
        during = [accept(client, secret, BEFORE + index) for index in range(DURING)]
        wait_for(
            lambda: (
                set(Message.objects.filter(request_id__in=during).values_list("delivery", flat=True))
                == {Message.Delivery.PENDING}
            ),
            "the publisher to leave the outage's messages PENDING for the sweeper",
            worker,
        )

        # Redis comes back empty; the sweeper (beat's job) re-publishes what is not delivered.
        redis_server.start()
        everything = accepted + during

        def all_delivered() -> bool:
            if submitted(everything) == len(everything):
                return True
            sweep_outbox()
            return False

        wait_for(all_delivered, "every accepted message to be SUBMITTED after the restart", worker)

    # Exactly once: every recipient handed over once, nothing else, all marked accordingly.
    recipients = Recipient.objects.filter(message__request_id__in=everything)
    uids = set(recipients.values_list("message_uid", flat=True))
    counts = handed_over(record_path)
    assert len(uids) == 2 * len(everything)
    assert set(counts) == uids
    assert [uid for uid, count in counts.items() if count > 1] == []
    assert set(recipients.values_list("status", flat=True)) == {Recipient.Status.ENROUTE}
    assert at_kill < BEFORE
    assert time.monotonic() - started < 60
