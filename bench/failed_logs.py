"""Benchmark: the Failed Logs page's query with a million rows for one company, as ratios to a
baseline measured in the same run (absolute numbers drift between runs; ratios carry).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench .venv/bin/python bench/failed_logs.py

Without DATABASE_URL it runs on a throwaway SQLite file. `BENCH_ROWS` (default 1,000,000) rows
are generated in the database itself (generate_series on PostgreSQL, a recursive CTE on SQLite)
for the measured company, plus a tenth as many for a neighbour, then ANALYZEd.

Variants (one page = 51 rows, the page size plus one to know whether there is a next page):
- baseline: 51 rows fetched by primary key (`id IN (…)`): the cheapest possible page.
- first page, a deep page (keyset cursor at half the table) and each filter of the page, through
  `messaging.selectors.failed_requests` — what the page runs.
- OFFSET at the same depth: what a naive paginator would run (for contrast; not used by the page).
"""

import os
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings.test")

import django

django.setup()

from django.db import connection  # noqa: E402
from django.test.utils import setup_test_environment, teardown_test_environment  # noqa: E402
from django.utils import timezone  # noqa: E402

ROWS = int(os.environ.get("BENCH_ROWS", "1000000"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "50"))
PAGE = 51


def timed(fn, rounds: int = ROUNDS) -> float:  # type: ignore[no-untyped-def]
    fn()
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1e3


def main() -> None:
    setup_test_environment()
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        run()
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
        teardown_test_environment()


def _fill(company_id: int, neighbour_id: int, key_ids: list[int], start: str) -> None:
    """ROWS rows for the company (newest first, one per second), ROWS/10 for the neighbour."""
    keys = "ARRAY[" + ",".join(str(k) for k in key_ids) + "]"
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                f"""
                INSERT INTO messaging_failedrequest
                    (company_id, authkey_id, key_prefix, code, reason, dialect, endpoint, method,
                     client_ip, created_at)
                SELECT CASE WHEN i %% 11 = 0 THEN %s ELSE %s END,
                       CASE WHEN i %% 3 = 0 THEN NULL ELSE ({keys})[1 + i %% {len(key_ids)}] END,
                       'smsp_' || lpad((i %% 500)::text, 4, '0'),
                       (ARRAY['418','418','418','418','418','418','207','301','311','202'])[1 + i %% 10],
                       'refused', 'msg91', '/api/sendhttp.php', 'GET',
                       ('10.' || (i %% 250) || '.' || (i / 250 %% 250) || '.' || (i %% 7))::inet,
                       %s::timestamptz - (i || ' seconds')::interval
                FROM generate_series(1, %s) AS i
                """,  # noqa: S608 (only integers of our own rows are formatted in)
                [neighbour_id, company_id, start, ROWS + ROWS // 10],
            )
            cursor.execute("ANALYZE messaging_failedrequest")
        else:
            key_case = " ".join(f"WHEN {n} THEN {k}" for n, k in enumerate(key_ids))
            cursor.execute(
                f"""
                WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < %s)
                INSERT INTO messaging_failedrequest
                    (company_id, authkey_id, key_prefix, code, reason, dialect, endpoint, method,
                     client_ip, created_at)
                SELECT CASE WHEN i % 11 = 0 THEN %s ELSE %s END,
                       CASE WHEN i % 3 = 0 THEN NULL ELSE CASE i % {len(key_ids)} {key_case} END END,
                       'smsp_' || substr('0000' || (i % 500), -4),
                       CASE WHEN i % 10 = 6 THEN '207' WHEN i % 10 = 7 THEN '301' WHEN i % 10 = 8 THEN '311'
                            WHEN i % 10 = 9 THEN '202' ELSE '418' END,
                       'refused', 'msg91', '/api/sendhttp.php', 'GET',
                       '10.' || (i % 250) || '.' || (i / 250 % 250) || '.' || (i % 7),
                       strftime('%%Y-%%m-%%d %%H:%%M:%%f', %s, '-' || i || ' seconds')
                FROM s
                """,  # noqa: S608 (only integers of our own rows are formatted in)
                [ROWS + ROWS // 10, neighbour_id, company_id, start],
            )
            cursor.execute("ANALYZE")


def run() -> None:
    from accounts.models import Company
    from authkeys import services
    from authkeys.models import Rule
    from messaging.models import FailedRequest
    from messaging.selectors import FailedLogFilters, failed_requests

    rule = Rule.objects.get(company=None)
    company = Company.objects.create(
        name="Bench", registered_mobile="+919876543210", registered_email="b@x.example"
    )
    neighbour = Company.objects.create(
        name="Neighbour", registered_mobile="+919876543211", registered_email="n@x.example"
    )
    key_ids = [
        services.authkey_create(company=company, actor=None, name=f"bench {i}", rule=rule)[0].pk
        for i in range(5)
    ]
    now = timezone.now().replace(microsecond=0)
    start = now.strftime("%Y-%m-%d %H:%M:%S") + ("+00:00" if connection.vendor == "postgresql" else "")
    began = time.perf_counter()
    _fill(company.pk, neighbour.pk, key_ids, start)
    filled = time.perf_counter() - began
    total = FailedRequest.objects.filter(company=company).count()
    depth = now - timedelta(seconds=(ROWS + ROWS // 10) // 2)
    ids = list(FailedRequest.objects.filter(company=company).values_list("id", flat=True)[:PAGE])

    def page(filters: FailedLogFilters, before=None):  # type: ignore[no-untyped-def]
        return lambda: failed_requests(company=company, filters=filters, before=before, limit=PAGE)

    variants = [
        ("first page", page(FailedLogFilters())),
        ("deep page (keyset, half-way)", page(FailedLogFilters(), before=(depth, 10**12))),
        ("code 301", page(FailedLogFilters(code="301"))),
        ("one IP", page(FailedLogFilters(ip="10.7.3.1"))),
        ("one key", page(FailedLogFilters(authkey_id=key_ids[2]))),
        ("key prefix", page(FailedLogFilters(key_prefix="smsp_0042"))),
        ("date range (one day)", page(FailedLogFilters(since=depth - timedelta(days=1), until=depth))),
        ("code 418, deep", page(FailedLogFilters(code="418"), before=(depth, 10**12))),
        (
            "OFFSET half-way (naive)",
            lambda: list(
                FailedRequest.objects.filter(company=company)
                .select_related("authkey")
                .order_by("-created_at", "-id")[total // 2 : total // 2 + PAGE]
            ),
        ),
    ]
    base = timed(lambda: list(FailedRequest.objects.select_related("authkey").filter(id__in=ids)))
    print(
        f"Failed Logs page query on {connection.vendor}: {total:,} rows for the company "
        f"(+{FailedRequest.objects.exclude(company=company).count():,} for a neighbour; "
        f"generated in {filled:.0f} s), "
        f"median of {ROUNDS} runs"
    )
    print(f"  {'baseline (51 rows by primary key)':<36} {base:8.2f} ms   ratio 1.00")
    for name, fn in variants:
        ms = timed(fn, rounds=max(3, ROUNDS // 10) if name.startswith("OFFSET") else ROUNDS)
        print(f"  {name:<36} {ms:8.2f} ms   ratio {ms / base:6.2f}")


if __name__ == "__main__":
    main()
