"""Retention: old failed logs, alerts and webhook deliveries are purged in batches.

Each app that keeps such records offers a purger `fn(*, older_than, batch_size) -> int` (rows
deleted); `RETENTION_PURGERS` in the settings names them (dotted paths), so this module, the
`purge_old_records` command and the periodic task never import the apps themselves.
"""

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Model, QuerySet
from django.utils import timezone
from django.utils.module_loading import import_string

Purger = Callable[..., int]


def delete_in_batches(queryset: QuerySet[Any], *, batch_size: int) -> int:
    """Delete the queryset's rows `batch_size` primary keys at a time (each batch its own short
    statement, so a purge of millions of rows never holds long locks or a huge transaction)."""
    model: type[Model] = queryset.model
    total = 0
    while True:
        ids = list(queryset.values_list("pk", flat=True)[:batch_size])
        if not ids:
            return total
        model._default_manager.filter(pk__in=ids).delete()
        total += len(ids)
        if len(ids) < batch_size:
            return total


def purgers() -> Iterator[tuple[str, Purger]]:
    for name, path in settings.RETENTION_PURGERS.items():
        yield name, import_string(path)


def purge_old_records(
    *, days: int | None = None, batch_size: int | None = None, now: datetime | None = None
) -> dict[str, int]:
    """Run every configured purger for records older than `days` (RETENTION_DAYS by default)."""
    days = settings.RETENTION_DAYS if days is None else days
    batch_size = settings.RETENTION_BATCH_SIZE if batch_size is None else batch_size
    if days < 1:
        raise ValueError("days must be at least 1")
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    older_than = (now or timezone.now()) - timedelta(days=days)
    return {name: purge(older_than=older_than, batch_size=batch_size) for name, purge in purgers()}
