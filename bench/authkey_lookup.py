"""Benchmark: the API authenticator's cost per request, as ratios to a naive baseline measured in
the same run (absolute numbers drift between runs on these machines; ratios carry).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench .venv/bin/python bench/authkey_lookup.py

Without DATABASE_URL it runs on a throwaway SQLite file. It creates its own database objects in a
fresh test database (created and destroyed by Django's test runner machinery) and prints one line
per variant: mean µs per authentication and the ratio to the baseline.

Variants:
- baseline: what a straightforward implementation does per request: sha256 of the key, fetch the
  key with its company, then `.exists()` on the key list and on the company list (3 queries).
- cold: authkeys.auth.authenticate_key with both caches empty (1 query).
- shared cache: the process memo off, the Django cache warm (0 queries; locmem here, Redis in
  production adds one round trip).
- warm: the 1-second process memo hit (0 queries, no cache round trip).
"""

import hashlib
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings.test")

import django

django.setup()

from django.conf import settings  # noqa: E402
from django.core.cache import cache  # noqa: E402
from django.db import connection  # noqa: E402
from django.test.utils import setup_test_environment, teardown_test_environment  # noqa: E402

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "2000"))
CLIENT_IP = "203.0.113.10"


def timed(fn, rounds: int = ROUNDS) -> float:  # type: ignore[no-untyped-def]
    samples = []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(rounds // 5):
            fn()
        samples.append((time.perf_counter() - start) / (rounds // 5))
    return statistics.median(samples) * 1e6


def main() -> None:
    setup_test_environment()
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        run()
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
        teardown_test_environment()


def run() -> None:
    from accounts.models import Company
    from authkeys import auth, services
    from authkeys.models import AuthKey, CompanyAllowedIP, KeyAllowedIP, Rule

    company = Company.objects.create(
        name="Bench", registered_mobile="+919876543210", registered_email="b@x.example"
    )
    rule = Rule.objects.get(company=None)
    authkey, secret = services.authkey_create(company=company, actor=None, name="bench", rule=rule)
    for i in range(50):
        services.key_ip_add(authkey=authkey, actor=None, entry=f"198.51.100.{i}")
    services.key_ip_add(authkey=authkey, actor=None, entry=CLIENT_IP)
    for i in range(50):
        services.company_ip_add(company=company, actor=None, entry=f"10.{i}.0.0/16")
    sha_digest = hashlib.sha256(secret.encode()).hexdigest()
    AuthKey.objects.filter(pk=authkey.pk).update(use_case=sha_digest[:60])  # a stand-in column

    def baseline() -> None:
        digest = hashlib.sha256(secret.encode()).hexdigest()
        key = AuthKey.objects.select_related("company").get(use_case=digest[:60])
        assert key.company.status == "active"
        allowed = (
            KeyAllowedIP.objects.filter(authkey=key, network=CLIENT_IP).exists()
            or CompanyAllowedIP.objects.filter(company=key.company, network=CLIENT_IP).exists()
        )
        assert allowed

    def cold() -> None:
        auth._local.clear()
        cache.clear()
        assert auth.authenticate_key(secret, CLIENT_IP).ok

    def shared() -> None:
        auth._local.clear()
        assert auth.authenticate_key(secret, CLIENT_IP).ok

    def warm() -> None:
        assert auth.authenticate_key(secret, CLIENT_IP).ok

    baseline()
    warm()
    base = timed(baseline)
    results = [("baseline (3 queries)", base), ("cold (1 query)", timed(cold))]
    shared()
    results.append(("shared cache (0 queries)", timed(shared)))
    warm()
    results.append(("warm process memo", timed(warm)))
    vendor = connection.vendor
    print(f"authenticate_key on {vendor}, {ROUNDS} rounds each, 101 key/company allow-list entries")
    for name, micros in results:
        print(f"  {name:<28} {micros:9.1f} µs/auth   ratio to baseline {micros / base:6.3f}")
    _ = settings


if __name__ == "__main__":
    main()
