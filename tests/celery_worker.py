"""Shared harness for tests that need the REAL Redis broker and a REAL `celery worker` process.

The worker runs with the test settings against this run's test database (committed data only:
use `transactional_db`) and consumes one queue per module, so parallel test processes or
left-overs of an aborted run never reach it. Waits are bounded polls.

`RedisServer` runs a PRIVATE `redis-server` (free port, temporary directory, no persistence) that
a test may kill and restart; the shared Redis on 6379 is never touched by that. `switch_broker`
makes this process publish to a given broker and queue.
"""

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import redis
from django.conf import settings as django_settings
from django.db import connection

BASE_DIR = Path(django_settings.BASE_DIR)
BROKER_URL = os.environ.get("CELERY_TEST_BROKER_URL", "redis://127.0.0.1:6379/15")
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
    pytest.fail(f"the worker tests run on SQLite or PostgreSQL, not on {db['ENGINE']}")


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


def connect_broker() -> redis.Redis:
    client = redis.Redis.from_url(BROKER_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.fail(f"Redis broker {BROKER_URL} is not reachable ({exc}); bin/test starts it.")
    return client


def new_queue(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def drop_queue(client: redis.Redis, queue: str) -> None:
    """Delete whatever kombu left for this queue (the list itself and its binding set)."""
    keys = list(client.scan_iter(match=f"*{queue}*"))
    if keys:
        client.delete(*keys)


def start_worker(
    *,
    django_db_blocker: Any,
    queue: str,
    log_dir: Path,
    extra_env: dict[str, str],
    broker_url: str | None = None,
) -> Iterator[Worker]:
    """Start a worker on `queue` with `extra_env` (and `broker_url`, default BROKER_URL), yield it
    once ready, stop it afterwards."""
    with django_db_blocker.unblock():
        database_url = worker_database_url()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "portal.settings.test",
        "DATABASE_URL": database_url,
        "CELERY_BROKER_URL": broker_url or BROKER_URL,
        "CELERY_TASK_ALWAYS_EAGER": "false",
        **extra_env,
    }
    log_path = log_dir / "worker.log"
    command = [
        sys.executable, "-m", "celery", "-A", "portal", "worker",
        "--pool=solo", "-l", "info",
        "-Q", queue, "-n", f"{queue}@%h",
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
    started = Worker(proc, log_path, queue)
    try:
        # Celery logs "<name>@<host> ready." once it consumes from the broker.
        wait_for(lambda: " ready." in started.log(), "the worker to be ready", started)
        yield started
    finally:
        started.stop()


@contextmanager
def switch_broker(settings: Any, url: str, queue: str) -> Iterator[None]:
    """Make `.apply_async()` in this process publish to `url` on `queue` (restored on exit).

    The app read its configuration when it was finalised, so its conf is changed directly and the
    cached connection pool and AMQP helper (which hold the old broker) are dropped. Only the
    references are dropped: kombu keeps pools in a global registry keyed by broker.
    """
    from portal.celery import app

    keys = ("broker_url", "broker_transport_options", "task_always_eager", "task_default_queue")
    saved = {key: app.conf[key] for key in keys}

    def reset_pools() -> None:
        app._pool = None
        app.__dict__.pop("amqp", None)

    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.CELERY_BROKER_URL = url
    app.conf.update(
        broker_url=url, broker_transport_options={}, task_always_eager=False, task_default_queue=queue
    )
    reset_pools()
    try:
        yield
    finally:
        reset_pools()
        app.conf.update(saved)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class RedisServer:
    """A private `redis-server` on a free port in `directory`, without persistence: killing it
    loses everything it held, like a broker crash. Never the shared Redis on 6379."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> "RedisServer":
        command = [
            "redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
            "--save", "", "--appendonly", "no", "--dir", str(self.directory),
        ]  # fmt: skip
        with open(self.directory / "redis.log", "ab") as log_file:
            self.proc = subprocess.Popen(  # noqa: S603 (fixed argv)
                command, stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT
            )
        client = redis.Redis.from_url(self.url, socket_connect_timeout=0.5)
        try:
            wait_for(lambda: self._pong(client), f"the private redis-server on port {self.port}")
        finally:
            client.close()
        return self

    def _pong(self, client: redis.Redis) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            pytest.fail(
                f"redis-server exited ({self.proc.returncode}): {(self.directory / 'redis.log').read_text()}"
            )
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False

    def kill(self) -> None:
        """SIGKILL: no shutdown, no save; queued and unacknowledged tasks are gone."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None
