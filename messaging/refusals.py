"""Buffered recording of API refusals (Failed Logs rows) and Recent IP counts.

A refusal must not cost a synchronous durable write per request (issue 4, item 7): a flood of bad
requests would otherwise cost as much as good traffic. `record_refusal` appends a `RefusalRow`
tuple to an in-process buffer, and `record_ip` adds one to a per-(company, IP) counter;
both are written in batches:

- by a daemon thread per process (its own database connection), woken when the buffer holds
  `FAILED_REQUEST_BATCH_SIZE` rows (default 1,000) and at the latest `FAILED_REQUEST_FLUSH_SECONDS`
  (default 1.0) after the oldest pending entry, so that an idle process still writes a 418 within
  a bounded window: one transaction with one COPY (PostgreSQL; a bulk INSERT on SQLite) and one
  UPDATE (an INSERT the first time) per Recent IP row touched, in a fixed order so that two
  processes cannot deadlock. While the thread waits on the database the worker goes on serving;
- by the request itself, only if the thread lags (half the buffer bound) or
  when the timer is off (`FAILED_REQUEST_FLUSH_SECONDS = 0`: then by the request that fills a
  batch) — never inside the caller's transaction, whose rollback would take the batch with it;
- at interpreter exit (`atexit`: a gunicorn worker's graceful shutdown), and on `flush()`.

`FAILED_REQUEST_BATCH_SIZE = 1` makes recording synchronous (the test settings), as before.

Trade-off (documented in the README): refusal logs and Recent IP counts are best-effort evidence.
A worker killed hard (SIGKILL, OOM) loses at most what it buffered — one batch or one flush
interval of refusals — and a failed flush is logged and dropped, never retried and never raised.
The buffer is bounded (`FAILED_REQUEST_BUFFER_MAX`, default 10,000 rows and as many Recent IP
groups): beyond it new rows are counted as dropped and the count is logged at the next flush.
A Redis list would be no more durable and would cost a round trip per refusal; an in-process
buffer costs a list append.
"""

import atexit
import functools
import logging
import os
import threading
import time
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from django.conf import settings
from django.core.signals import setting_changed
from django.db import IntegrityError, close_old_connections, connection, transaction
from django.db.models import F
from django.dispatch import receiver
from django.utils import timezone

from authkeys.models import RecentIP
from messaging.models import FailedRequest
from messaging.onestatement import quoted_column
from messaging.signals import refusals_recorded

logger = logging.getLogger(__name__)


@dataclass
class _IpCount:
    count: int
    last_seen: datetime
    authkey_id: int | None
    outcome: str
    code: str
    first_seen: datetime


class RefusalRow(NamedTuple):
    """One buffered Failed Logs row, fields in the order the flush writes them (PostgreSQL COPY
    takes the tuple as it is; no model instance is built on PostgreSQL: Model.__init__ and
    bulk_create's per-value compiling were most of a flush, bench/api.sh case e). It is also what
    the refusals_recorded signal carries."""

    company_id: int | None
    authkey_id: int | None
    key_prefix: str
    code: str
    reason: str
    dialect: str
    endpoint: str
    method: str
    client_ip: str | None
    created_at: datetime


_lock = threading.Lock()
_rows: list[RefusalRow] = []
_ips: dict[tuple[int, str], _IpCount] = {}
_oldest: float | None = None  # time.monotonic() of the oldest pending entry
_dropped = 0
_timer: threading.Thread | None = None
_timer_pid = 0
_wake = threading.Event()  # set when a batch is full


@functools.cache
def _config() -> tuple[int, float, int]:
    """(batch size, flush seconds, buffer bound), read once: every refusal consults them."""
    return (
        max(1, int(getattr(settings, "FAILED_REQUEST_BATCH_SIZE", 1000))),
        float(getattr(settings, "FAILED_REQUEST_FLUSH_SECONDS", 1.0)),
        max(1, int(getattr(settings, "FAILED_REQUEST_BUFFER_MAX", 10_000))),
    )


@receiver(setting_changed)
def _forget_config(*, setting: str, **kwargs: Any) -> None:
    if setting.startswith("FAILED_REQUEST_"):
        _config.cache_clear()


def batch_size() -> int:
    return _config()[0]


def flush_seconds() -> float:
    return _config()[1]


def buffer_max() -> int:
    return _config()[2]


def record_refusal(
    *,
    company_id: int | None,
    code: str,
    reason: str,
    dialect: str,
    endpoint: str,
    method: str,
    client_ip: str | None,
    authkey_id: int | None = None,
    key_prefix: str = "",
    created_at: datetime | None = None,
) -> None:
    """Buffer one Failed Logs row (`created_at` defaults to now). Never raises."""
    global _dropped, _oldest
    try:
        row = RefusalRow(
            company_id,
            authkey_id,
            key_prefix,
            code,
            reason,
            dialect,
            endpoint,
            method,
            client_ip,
            created_at or timezone.now(),
        )
        with _lock:
            if len(_rows) >= buffer_max():
                _dropped += 1
            else:
                _rows.append(row)
                if _oldest is None:
                    _oldest = time.monotonic()
        _after_append()
    except Exception as exc:
        logger.error("could not buffer a refusal: %s", type(exc).__name__)


def record_ip(*, company_id: int, ip: str, authkey_id: int | None, accepted: bool, code: str = "") -> None:
    """Count one request from `ip` for Recent IPs (aggregated until the next flush). Never raises."""
    global _dropped, _oldest
    try:
        now = timezone.now()
        outcome = RecentIP.Outcome.ACCEPTED if accepted else RecentIP.Outcome.REJECTED
        code = "" if accepted else code
        with _lock:
            entry = _ips.get((company_id, ip))
            if entry is not None:
                entry.count += 1
                entry.last_seen, entry.authkey_id, entry.outcome, entry.code = now, authkey_id, outcome, code
            elif len(_ips) >= buffer_max():
                _dropped += 1
            else:
                _ips[(company_id, ip)] = _IpCount(1, now, authkey_id, outcome, code, now)
                if _oldest is None:
                    _oldest = time.monotonic()
        _after_append()
    except Exception as exc:
        logger.error("could not buffer a recent IP: %s", type(exc).__name__)


_last_used: dict[int, float] = {}  # authkey id → time.monotonic() of this process's last write
LAST_USED_SECONDS = 60.0


def last_used_due(authkey_id: int) -> bool:
    """Whether this process should run the key's "last used" UPDATE (at most one per key per
    minute per process; the UPDATE itself is conditional on the stored time). Always true in
    synchronous mode (batch size 1), where the database alone decides."""
    if batch_size() == 1:
        return True
    now = time.monotonic()
    with _lock:
        if now - _last_used.get(authkey_id, -LAST_USED_SECONDS) < LAST_USED_SECONDS:
            return False
        if len(_last_used) >= buffer_max():
            _last_used.clear()
        _last_used[authkey_id] = now
    return True


def pending() -> tuple[int, int]:
    """(buffered Failed Logs rows, buffered Recent IP groups): for tests and diagnostics."""
    with _lock:
        return len(_rows), len(_ips)


def flush() -> int:
    """Write everything buffered now, on this thread's connection. Returns the rows written
    (Failed Logs rows + Recent IP groups); a database error is logged, the batch dropped, 0."""
    global _dropped, _oldest
    with _lock:
        rows, ips, dropped = _rows[:], dict(_ips), _dropped
        _rows.clear()
        _ips.clear()
        _dropped = 0
        _oldest = None
    if dropped:
        logger.warning("refusal buffer full: %d refusals or Recent IP counts were not recorded", dropped)
    if not rows and not ips:
        return 0
    try:
        # One transaction (one commit) for a batch; a single write needs none (synchronous mode).
        with transaction.atomic() if len(rows) + len(ips) > 1 else nullcontext():
            if rows:
                _insert_rows(rows)
            for (company_id, ip), entry in sorted(ips.items()):
                _apply_ip(company_id, ip, entry)
    except Exception as exc:
        logger.error(
            "could not write %d refusals and %d Recent IP counts: %s", len(rows), len(ips), type(exc).__name__
        )
        return 0
    if rows:
        # Alerts listen here (alerts/receivers.py); send_robust logs a receiver's error, never raises.
        refusals_recorded.send_robust(sender=FailedRequest, rows=rows)
    return len(rows) + len(ips)


def _insert_rows(rows: list[RefusalRow]) -> None:
    """Write a batch of Failed Logs rows. PostgreSQL: one COPY of the tuples as they are, about a
    fifth of bulk_create's cost per row (the flush thread shares the worker's CPU and GIL)."""
    if connection.vendor != "postgresql":
        FailedRequest.objects.bulk_create([FailedRequest(**row._asdict()) for row in rows], batch_size=1000)
        return
    quote = connection.ops.quote_name
    columns = ", ".join(quoted_column(FailedRequest, name) for name in _COPY_FIELDS)
    with (
        connection.cursor() as cursor,
        cursor.copy(f"COPY {quote(FailedRequest._meta.db_table)} ({columns}) FROM STDIN") as copy,
    ):
        for row in rows:
            copy.write_row(row)


# RefusalRow's fields by model field name (company_id → company); checked against the model's
# columns by tests/messaging/test_refusals.py.
_COPY_FIELDS = tuple(
    name.removesuffix("_id") if name in ("company_id", "authkey_id") else name for name in RefusalRow._fields
)


def _apply_ip(company_id: int, ip: str, entry: _IpCount) -> None:
    fields = {
        "last_seen": entry.last_seen,
        "request_count": F("request_count") + entry.count,
        "last_key_id": entry.authkey_id,
        "last_outcome": entry.outcome,
        "last_code": entry.code,
    }
    if RecentIP.objects.filter(company_id=company_id, ip=ip).update(**fields):
        return
    try:
        with transaction.atomic():
            RecentIP.objects.create(
                company_id=company_id,
                ip=ip,
                first_seen=entry.first_seen,
                last_seen=entry.last_seen,
                request_count=entry.count,
                last_key_id=entry.authkey_id,
                last_outcome=entry.outcome,
                last_code=entry.code,
            )
    except IntegrityError:  # another process inserted it first
        RecentIP.objects.filter(company_id=company_id, ip=ip).update(**fields)


def _after_append() -> None:
    size = len(_rows) + len(_ips)
    if not size:
        return
    interval = flush_seconds()
    full = size >= batch_size()
    if batch_size() == 1:  # synchronous mode: the request's own row, where the unbatched code wrote it
        flush()
        return
    if interval > 0:
        # The flush thread writes full batches too: while it waits on the database (GIL released)
        # the worker goes on serving. A request writes a batch itself only if the thread lags.
        _ensure_timer()
        if full:
            _wake.set()
        if size < max(batch_size(), buffer_max() // 2):
            return
    elif not full:
        return
    # Inside someone else's transaction a flush would share its fate (a rollback would take other
    # requests' rows with it): leave it to the thread or the next request.
    if not _in_transaction():
        flush()


def _in_transaction() -> bool:
    return connection.in_atomic_block


def _ensure_timer() -> None:
    global _timer, _timer_pid
    if _timer is not None and _timer_pid == os.getpid() and _timer.is_alive():
        return
    with _lock:
        if _timer is not None and _timer_pid == os.getpid() and _timer.is_alive():
            return
        _timer_pid = os.getpid()
        _timer = threading.Thread(target=_run_timer, name="refusals-flush", daemon=True)
        _timer.start()


def _run_timer() -> None:
    while True:
        interval = flush_seconds()
        if interval <= 0:
            connection.close()  # this thread's own connection
            return
        _wake.wait(interval / 2)
        _wake.clear()
        with _lock:
            oldest = _oldest
            full = len(_rows) + len(_ips) >= batch_size()
        if full or (oldest is not None and time.monotonic() - oldest >= interval):
            try:
                close_old_connections()
                flush()
            except Exception as exc:  # never let the thread die on an unexpected error
                logger.error("refusal flush thread: %s", type(exc).__name__)


def _reset_in_child() -> None:
    """A forked child starts empty: its parent's buffer is the parent's to write."""
    global _lock, _dropped, _oldest, _timer, _wake
    _lock = threading.Lock()
    _wake = threading.Event()
    _rows.clear()
    _ips.clear()
    _last_used.clear()
    _dropped, _oldest, _timer = 0, None, None


def _flush_at_exit() -> None:
    try:
        flush()
    except Exception as exc:
        logger.error("refusal flush at exit: %s", type(exc).__name__)


os.register_at_fork(after_in_child=_reset_in_child)
atexit.register(_flush_at_exit)
