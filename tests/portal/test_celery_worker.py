"""The contact-change notice goes through the REAL Redis broker to a REAL Celery worker process.

Everything else in the suite runs Celery eagerly; this module proves the production wiring:
the on_commit hook publishes to Redis, a separate `celery worker` process (with its own Django
setup) picks the task up, reads the committed rows from the *test* database and texts the old
registered mobile. Data must really be committed for another process to see it, hence
`transactional_db`.

Isolation: every run uses its own queue name, so parallel test processes (pytest-xdist) or
left-over messages from an aborted run never reach this run's worker.
"""

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from accounts import services
from accounts.models import ContactChange
from accounts.tasks import notify_old_contact
from portal import dev_outbox
from portal.celery import app
from tests.celery_worker import (
    BROKER_URL,
    Worker,
    start_worker,
    wait_for,
)
from tests.factories import CompanyFactory, UserFactory
from tests.helpers import last_code

pytestmark = [pytest.mark.celery_worker]

OLD_MOBILE = "+919876501234"
NEW_MOBILE = "+919876509999"


@pytest.fixture(scope="module")
def outbox_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("celery-worker") / "dev_outbox.jsonl"


@pytest.fixture(scope="module")
def worker(
    django_db_setup: None,
    django_db_blocker: Any,
    celery_queue: str,
    outbox_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Worker]:
    """A real `celery worker` process texting through the dev outbox file this test reads."""
    yield from start_worker(
        django_db_blocker=django_db_blocker,
        queue=celery_queue,
        log_dir=tmp_path_factory.mktemp("celery-worker-log"),
        extra_env={
            "SMS_BACKEND": "portal.sms.backends.devoutbox.SmsBackend",
            "DEV_OUTBOX_PATH": str(outbox_path),
        },
    )


@pytest.fixture
def publish_to_redis(celery_queue: str, settings: Any) -> Iterator[None]:
    """Make `.delay()` in this process publish to Redis (on this run's queue), then undo it.

    The app read its configuration from Django settings when it was finalised, so overriding the
    setting alone is not enough: the app's conf is changed directly, and the cached connection
    pool and AMQP helper (which hold the old broker and queue) are dropped.
    """
    overrides = {
        "broker_url": BROKER_URL,
        "broker_transport_options": {},
        "task_always_eager": False,
        "task_default_queue": celery_queue,
    }
    saved = {key: app.conf[key] for key in overrides}

    def reset_pools() -> None:
        # Only drop the references: kombu keeps pools in a global registry keyed by broker, and a
        # closed pool there would break the next publisher to the same broker.
        app._pool = None
        app.__dict__.pop("amqp", None)

    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.CELERY_BROKER_URL = BROKER_URL
    app.conf.update(overrides)
    reset_pools()
    try:
        yield
    finally:
        reset_pools()
        app.conf.update(saved)


@pytest.fixture
def worker_outbox(outbox_path: Path, settings: Any) -> Callable[[], list[dict[str, Any]]]:
    """The worker's dev outbox, read with the project's reader; emptied for each test."""
    outbox_path.write_text("")
    settings.DEV_OUTBOX_PATH = outbox_path
    return lambda: dev_outbox.recent(limit=200)


def sms_to_old_mobile(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in entries if e["channel"] == "sms" and e["to"] == OLD_MOBILE]


def notified_at(change: ContactChange) -> Any:
    return ContactChange.objects.values_list("old_contact_notified_at", flat=True).get(pk=change.pk)


def confirm_mobile_change(sms_outbox: list[Any]) -> ContactChange:
    """Request and confirm a change of the registered mobile, as the owner does in the panel."""
    company = CompanyFactory(name="Worker Test Co", registered_mobile=OLD_MOBILE)
    owner = UserFactory(company=company)
    change = services.contact_change_request(
        company=company, actor=owner, kind="mobile", new_value=NEW_MOBILE
    )
    code = last_code(sms_outbox, NEW_MOBILE)  # the test process itself delivers with locmem
    # Commits (transactional_db), so the on_commit hook publishes the task to Redis.
    services.contact_change_confirm(change=change, actor=owner, code=code)
    return change


@pytest.fixture
def notified_change(
    transactional_db: None,
    worker: Worker,
    publish_to_redis: None,
    worker_outbox: Callable[[], list[dict[str, Any]]],
    sms_outbox: list[Any],
) -> ContactChange:
    change = confirm_mobile_change(sms_outbox)
    wait_for(lambda: notified_at(change), "the worker to set old_contact_notified_at", worker)
    wait_for(lambda: sms_to_old_mobile(worker_outbox()), f"an SMS to {OLD_MOBILE} in the outbox", worker)
    return change


def test_worker_texts_the_old_mobile_after_a_confirmed_change(
    notified_change: ContactChange,
    worker_outbox: Callable[[], list[dict[str, Any]]],
    sms_outbox: list[Any],
) -> None:
    [notice] = sms_to_old_mobile(worker_outbox())
    assert "registered mobile of Worker Test Co was changed" in notice["body"]
    assert NEW_MOBILE not in notice["body"]  # masked, never the full new number
    # The notice was sent by the worker process, not by this one.
    assert not [m for m in sms_outbox if m.to == OLD_MOBILE]


def test_a_second_delivery_of_the_task_sends_nothing(
    notified_change: ContactChange,
    worker: Worker,
    worker_outbox: Callable[[], list[dict[str, Any]]],
) -> None:
    first_notified_at = notified_at(notified_change)

    result = notify_old_contact.delay(notified_change.pk)

    # No result backend (results are ignored): the worker's log says when this task finished.
    finished = wait_for(
        lambda: [line for line in worker.log().splitlines() if f"[{result.id}] succeeded" in line],
        f"task {result.id} to finish",
        worker,
    )
    assert finished[0].endswith(": False"), finished  # the task saw the change already notified
    assert len(sms_to_old_mobile(worker_outbox())) == 1
    assert notified_at(notified_change) == first_notified_at
