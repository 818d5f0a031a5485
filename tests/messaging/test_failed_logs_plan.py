"""Failed Logs stays fast at any size: every filter of the page is a range scan of its own index
(never a full scan of the table), on PostgreSQL and on SQLite. bench/failed_logs.py measures
the same queries at a million rows."""

import random
import re
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from messaging.models import FailedRequest
from messaging.selectors import FailedLogFilters, failed_requests_queryset
from tests.factories import CompanyFactory, make_key

pytestmark = pytest.mark.django_db

ROWS = 5_000


@pytest.fixture
def filled():
    rng = random.Random(7)
    company, neighbour = CompanyFactory(), CompanyFactory()
    keys = [make_key(company, name=f"Key {i}")[0] for i in range(5)]
    start = timezone.now()
    codes = ["418"] * 14 + ["207", "301", "311", "202", "208", "310"]
    rows = []
    for i in range(ROWS):
        owner = company if i % 5 else neighbour
        key = rng.choice(keys) if owner is company and i % 3 else None
        rows.append(
            FailedRequest(
                company=owner,
                authkey=key,
                key_prefix=key.display_prefix if key else f"smsp_{i % 50:04d}",
                code=rng.choice(codes),
                reason="x",
                dialect="msg91",
                endpoint="/api/sendhttp.php",
                method="GET",
                client_ip=f"198.51.{i % 200}.{i % 250}",
                created_at=start - timedelta(seconds=i),
            )
        )
    FailedRequest.objects.bulk_create(rows, batch_size=2000)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return company, keys, start


def _plan(queryset) -> str:
    sql, params = queryset[:51].query.sql_with_params()
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("EXPLAIN " + sql, params)
        else:
            cursor.execute("EXPLAIN QUERY PLAN " + sql, params)
        return "\n".join(" ".join(str(col) for col in row) for row in cursor.fetchall())


@pytest.mark.parametrize(
    ("filters", "index"),
    [
        ({}, "failed_company_time"),
        ({"code": "301"}, "failed_company_code"),
        ({"ip": "198.51.7.7"}, "failed_company_ip"),
        ({"key_prefix": "smsp_0007"}, "failed_company_prefix"),
        ({"authkey": 0}, "failed_key_time"),
        ({"since": 3600, "until": 1800}, "failed_company_time"),
        ({"before": 2_500}, "failed_company_time"),
    ],
)
def test_every_filter_is_an_ordered_index_scan(filled, filters, index):
    company, keys, start = filled
    kwargs = {}
    before = None
    for name, value in filters.items():
        if name == "authkey":
            kwargs["authkey_id"] = keys[value].pk
        elif name in {"since", "until"}:
            kwargs[name] = start - timedelta(seconds=value)
        elif name == "before":
            before = (start - timedelta(seconds=value), 10**9)
        else:
            kwargs[name] = value
    queryset = failed_requests_queryset(company=company, filters=FailedLogFilters(**kwargs), before=before)
    plan = _plan(queryset)
    assert index in plan, plan
    if connection.vendor == "postgresql":
        # A narrow filter may sort its few matching rows after the index scan; that is cheap.
        assert "Seq Scan on messaging_failedrequest" not in plan, plan
        assert f"Index Scan using {index} on messaging_failedrequest" in plan, plan
    else:
        assert f"SEARCH messaging_failedrequest USING INDEX {index}" in plan, plan
        assert "TEMP B-TREE FOR ORDER BY" not in plan, plan
    if before is not None:  # the cursor must bound the index range, not filter a walk from the top
        if connection.vendor == "postgresql":
            assert re.search(r"Index Cond: .*created_at <=", plan), plan
        else:
            assert re.search(r"created_at<", plan), plan
    assert len(list(queryset[:51])) > 0
