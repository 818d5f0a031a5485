"""The one-statement accept path on PostgreSQL (messaging/onestatement.py): a prepared statement.
On SQLite the same sends take the ORM path; the tests check that instead."""

import pytest
from django.db import connection

from messaging import onestatement
from messaging.models import Message, Recipient
from tests.factories import CompanyFactory, make_key

pytestmark = pytest.mark.django_db

URL = "/api/sendhttp.php"


def _send(client, secret, n):
    return client.get(
        URL,
        {
            "authkey": secret,
            "mobiles": "919876543210,919876543211",
            "message": f"Hello {n}",
            "sender": "ACMEIN",
        },
    )


def _prepared_accepts() -> list[tuple[int, int]]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE statement LIKE %s",
            ["WITH guard AS (INSERT INTO %messaging_duplicateguard%"],
        )
        return cursor.fetchall()


def test_the_accept_statement_is_prepared_once_per_connection(client):
    company = CompanyFactory(sms_balance=100)
    _, secret = make_key(company=company, ip_security=False)
    for n in range(8):
        assert len(_send(client, secret, n).content.decode()) == 24
    if connection.vendor == "postgresql":
        assert onestatement.available()
        prepared = _prepared_accepts()
        assert len(prepared) == 1  # one prepared statement, executed by the later sends
        assert sum(prepared[0]) >= 8 - 5  # psycopg prepares on the fifth run (prepare_threshold)
    else:
        assert not onestatement.available()  # SQLite: the ORM path, nothing to prepare
    assert Message.objects.count() == 8 and Recipient.objects.count() == 16
    company.refresh_from_db()
    assert company.sms_balance == 100 - 16


def test_sends_work_unprepared_when_preparing_is_off(client):
    # DB_PREPARED_STATEMENTS=false (a pooler that cannot keep them) leaves psycopg's threshold None.
    company = CompanyFactory(sms_balance=100)
    _, secret = make_key(company=company, ip_security=False)
    connection.ensure_connection()
    postgresql = connection.vendor == "postgresql"
    before = connection.connection.prepare_threshold if postgresql else None
    if postgresql:
        connection.connection.prepare_threshold = None
    try:
        for n in range(7):
            assert len(_send(client, secret, n).content.decode()) == 24
        if postgresql:
            assert _prepared_accepts() == []
    finally:
        if postgresql:
            connection.connection.prepare_threshold = before
    assert Message.objects.count() == 7
    company.refresh_from_db()
    assert company.sms_balance == 100 - 14
