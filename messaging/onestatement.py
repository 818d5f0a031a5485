"""Acceptance in one SQL statement on PostgreSQL: the duplicate window (311), the balance debit
(301), the Message and its Recipients written by a single data-modifying CTE.

The ORM path in messaging.api._accept takes a cache round trip for the duplicate window and five
database round trips (BEGIN, the conditional balance UPDATE, the Message INSERT, the Recipients
INSERT, COMMIT); this one takes one, and a single statement is atomic on its own: either the
claim, the debit and every row are written, or (duplicate, balance too low, any error) none of
the debit and rows are. It is the hot path of every send (bench/api.sh, case c).

The duplicate window lives in the DuplicateGuard table here (claimed with INSERT … ON CONFLICT
… WHERE expired), in the cache on the ORM path; both refuse the same request within
SMS_DUPLICATE_WINDOW_SECONDS.

The statement is built from the models' concrete fields (column names, database types, prepared
values), so a field added to Message or Recipient is written here without a change. SQLite and
requests that must write more in the same transaction (an OTP, see api.send(within=…)) use the
ORM path; both paths run under the whole test suite (SQLite, then PostgreSQL).
"""

from datetime import datetime, timedelta
from enum import Enum
from functools import cache
from typing import Any

import psycopg
from django.db import connection
from django.db.models import Field, Model

from accounts.models import Company
from messaging.models import DuplicateGuard, Message, Recipient


def available() -> bool:
    return connection.vendor == "postgresql"


def _fields(model: type[Message] | type[Recipient], *, skip: tuple[str, ...] = ()) -> list[Field]:  # type: ignore[type-arg]
    return [f for f in model._meta.concrete_fields if not f.primary_key and f.attname not in skip]


def quoted_column(model: type[Model], name: str) -> str:
    """The quoted column name of a model field (SQL built from the models, here and in refusals.py)."""
    field = model._meta.get_field(name)
    column = getattr(field, "column", None)
    assert isinstance(column, str), name
    return connection.ops.quote_name(column)


@cache
def _sql() -> str:
    """The statement (built once per process). Only names and types from the models are
    formatted in; every value is a parameter."""
    quote = connection.ops.quote_name
    balance = quoted_column(Company, "sms_balance")
    message_fields = _fields(Message)
    recipient_fields = _fields(Recipient, skip=("message_id",))
    message_columns = ", ".join(quote(str(f.column)) for f in message_fields)
    recipient_columns = ", ".join(quote(str(f.column)) for f in recipient_fields)
    # One array parameter per recipient column, cast to the column's type; unnest zips them.
    arrays = ", ".join(f"%s::{f.db_type(connection)}[]" for f in recipient_fields)
    # Each value cast to its column's type: the statement is prepared once per connection
    # (server-side binding, below), and a prepared INSERT … SELECT cannot infer them.
    values = ", ".join(f"%s::{f.db_type(connection)}" for f in message_fields)
    message_pk, message_fk = quoted_column(Message, "id"), quoted_column(Recipient, "message")
    guard_table = quote(DuplicateGuard._meta.db_table)
    guard_key, guard_expiry = (
        quoted_column(DuplicateGuard, "key"),
        quoted_column(DuplicateGuard, "expires_at"),
    )
    # The duplicate window: claim the fingerprint unless an unexpired claim exists.
    guard = (
        f"INSERT INTO {guard_table} ({guard_key}, {guard_expiry}) VALUES (%s, %s) "  # noqa: S608
        f"ON CONFLICT ({guard_key}) DO UPDATE SET {guard_expiry} = EXCLUDED.{guard_expiry} "
        f"WHERE {guard_table}.{guard_expiry} <= %s RETURNING 1"
    )
    debit = (
        f"UPDATE {quote(Company._meta.db_table)} SET {balance} = {balance} - %s "  # noqa: S608
        f"WHERE {quoted_column(Company, 'id')} = %s AND {balance} >= %s AND EXISTS (SELECT 1 FROM guard) "
        f"RETURNING 1"
    )
    insert_message = (
        f"INSERT INTO {quote(Message._meta.db_table)} ({message_columns}) "  # noqa: S608
        f"SELECT {values} FROM debit RETURNING {message_pk}"
    )
    insert_recipients = (
        f"INSERT INTO {quote(Recipient._meta.db_table)} ({message_fk}, {recipient_columns}) "  # noqa: S608
        f"SELECT message.{message_pk}, r.* FROM message, unnest({arrays}) AS r "
        f"RETURNING {message_fk}, {quoted_column(Recipient, 'id')}, {quoted_column(Recipient, 'message_uid')}"
    )
    return f"WITH guard AS ({guard}), debit AS ({debit}), message AS ({insert_message}) {insert_recipients}"


def _prepared(cursor: Any) -> Any:
    """A server-side binding cursor on the connection of Django's `cursor`, wrapped like Django's
    own (query logging, execute wrappers). psycopg prepares a statement once it has run
    `prepare_threshold` times on a connection (DATABASES OPTIONS, portal/settings/base.py), so
    PostgreSQL parses and plans this four-part statement once per connection instead of once per
    request (a third of its CPU per send, bench/api.sh case c). Django's own cursors bind on the
    client and are never prepared."""
    raw: Any = psycopg.Cursor(cursor.connection)  # django-stubs type these as wrappers; they are not
    return connection.make_debug_cursor(raw) if connection.queries_logged else connection.make_cursor(raw)


class Outcome(Enum):
    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"  # error 311
    INSUFFICIENT_BALANCE = "insufficient"  # error 301


def accept(
    *, message: Message, recipients: list[Recipient], duplicate_key: str, window: timedelta, now: datetime
) -> Outcome:
    """Claim the duplicate window, debit `message.credits` from its company and insert the
    message and its recipients: all or nothing. Sets the primary keys when accepted.

    A refusal costs one more statement: a duplicate leaves the other request's claim alone; a
    balance refusal withdraws this request's claim, so a corrected retry is not a duplicate."""
    params: list[Any] = [
        duplicate_key,
        now + window,
        now,
        message.credits,
        message.company_id,
        message.credits,
    ]
    params += [f.get_db_prep_save(getattr(message, f.attname), connection) for f in _fields(Message)]
    params += [
        [f.get_db_prep_save(getattr(r, f.attname), connection) for r in recipients]
        for f in _fields(Recipient, skip=("message_id",))
    ]
    # Django's cursor first: it opens the connection and runs its health check.
    with connection.cursor() as cursor, _prepared(cursor) as prepared:
        prepared.execute(_sql(), params)
        rows = prepared.fetchall()
    if not rows:
        withdrawn = DuplicateGuard.objects.filter(key=duplicate_key, expires_at=now + window).delete()[0]
        return Outcome.INSUFFICIENT_BALANCE if withdrawn else Outcome.DUPLICATE
    message.pk = rows[0][0]
    message._state.adding = False
    ids = {uid: pk for _, pk, uid in rows}
    for recipient in recipients:
        recipient.pk = ids[recipient.message_uid]
        recipient.message_id = message.pk
        recipient._state.adding = False
    return Outcome.ACCEPTED


def purge_guards(*, now: datetime) -> int:
    """Delete expired duplicate-window claims (the outbox sweep calls it)."""
    if not available():
        return 0
    return DuplicateGuard.objects.filter(expires_at__lte=now).delete()[0]
