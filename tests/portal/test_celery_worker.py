"""The contact-change notice goes through the REAL Redis broker to a REAL Celery worker process.

Everything else in the suite runs Celery eagerly; this module proves the production wiring:
the on_commit hook publishes to Redis, a separate `celery worker` process (with its own Django
setup) picks the task up, reads the committed rows from the *test* database and texts the old
registered mobile. Data must really be committed for another process to see it, hence
`transactional_db`.

Isolation: every run uses its own queue name, so parallel test processes (pytest-xdist) or
left-over messages from an aborted run never reach this run's worker.
"""

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import redis
from django.conf import settings as django_settings
from django.db import connection

from accounts import services
from accounts.models import ContactChange
from accounts.tasks import notify_old_contact
from portal import dev_outbox
from portal.celery import app
from tests.factories import CompanyFactory, UserFactory
from tests.helpers import last_code

pytestmark = [pytest.mark.celery_worker]

BASE_DIR = Path(django_settings.BASE_DIR)
BROKER_URL = os.environ.get("CELERY_TEST_BROKER_URL", "redis://127.0.0.1:6379/15")
OLD_MOBILE = "+919876501234"
NEW_MOBILE = "+919876509999"
WAIT_SECONDS = 30.0
POLL_SECONDS = 0.1


def wait_for(condition: Callable[[], Any], what: str, worker: "Worker | None" = None) -> Any:
    """Poll `condition` until it returns something truthy; fail after WAIT_SECONDS."""
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        value = condition()
        if value:
            return value
        if worker is not None and worker.proc.poll() is not None:
            pytest.fail(
                f"the Celery worker exited ({worker.proc.returncode}) while waiting for {what}:\n"
                f"{worker.log()}"
            )
        if time.monotonic() > deadline:
            log = f"\nworker log:\n{worker.log()}" if worker is not None else ""
            pytest.fail(f"timed out after {WAIT_SECONDS:.0f}s waiting for {what}{log}")
        time.sleep(POLL_SECONDS)


def worker_database_url() -> str:
    """DATABASE_URL of the database *this* test process uses (the test DB, xdist suffix included)."""
    db = connection.settings_dict
    if db["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{Path(db['NAME']).resolve().as_posix()}"
    if db["ENGINE"] == "django.db.backends.postgresql":
        credentials = quote(db["USER"] or "", safe="")
        if db.get("PASSWORD"):
            credentials += ":" + quote(db["PASSWORD"], safe="")
        host = quote(db["HOST"] or "", safe="")  # a socket directory is percent-encoded
        port = f":{db['PORT']}" if db.get("PORT") else ""
        return f"postgres://{credentials}@{host}{port}/{quote(db['NAME'], safe='')}"
    raise NotImplementedError(f"no DATABASE_URL form for {db['ENGINE']}")


class Worker:
    def __init__(self, proc: subprocess.Popen[bytes], log_path: Path, queue: str) -> None:
        self.proc = proc
        self.log_path = log_path
        self.queue = queue

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            # The worker runs in its own session: signal the whole group (warm shutdown first).
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)


@pytest.fixture(scope="module")
def broker() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(BROKER_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.fail(f"Redis broker {BROKER_URL} is not reachable ({exc}); bin/test starts it.")
    yield client
    client.close()


@pytest.fixture(scope="module")
def celery_queue(broker: redis.Redis) -> Iterator[str]:
    queue = f"test-worker-{uuid.uuid4().hex[:12]}"
    yield queue
    # Drop whatever kombu left for this queue (the list itself and its binding set).
    keys = list(broker.scan_iter(match=f"*{queue}*"))
    if keys:
        broker.delete(*keys)


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
    """A real `celery worker` process on the Redis broker, connected to this run's test DB."""
    with django_db_blocker.unblock():
        database_url = worker_database_url()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "portal.settings.test",
        "DATABASE_URL": database_url,
        "CELERY_BROKER_URL": BROKER_URL,
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "SMS_BACKEND": "portal.sms.backends.devoutbox.SmsBackend",
        "DEV_OUTBOX_PATH": str(outbox_path),
    }
    log_path = tmp_path_factory.mktemp("celery-worker-log") / "worker.log"
    command = [
        sys.executable, "-m", "celery", "-A", "portal", "worker",
        "--pool=solo", "-l", "info",
        "-Q", celery_queue, "-n", f"{celery_queue}@%h",
        # No gossip/mingle/heartbeat: nothing to sync with other workers, and a faster start.
        "--without-gossip", "--without-mingle", "--without-heartbeat",
    ]  # fmt: skip
    with open(log_path, "wb") as log_file:
        proc = subprocess.Popen(  # noqa: S603 (fixed argv)
            command,
            cwd=BASE_DIR,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    started = Worker(proc, log_path, celery_queue)
    try:
        # Celery logs "<name>@<host> ready." once it consumes from the broker.
        wait_for(lambda: " ready." in started.log(), "the worker to be ready", started)
        yield started
    finally:
        started.stop()


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
