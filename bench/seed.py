"""Seed the bench database through the project's services; prints shell assignments:

GOOD_KEY     IP security on, 127.0.0.1 whitelisted, rule "All services"
BAD_IP_KEY   IP security on, only 192.0.2.1 whitelisted (so 127.0.0.1 gets 418)
UNKNOWN_KEY  well-formed, never stored (207)

DJANGO_SETTINGS_MODULE=bench.settings DATABASE_URL=… .venv/bin/python bench/seed.py
"""

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")

import django

django.setup()

from accounts import services as account_services  # noqa: E402
from authkeys import keys  # noqa: E402
from authkeys import services as key_services  # noqa: E402
from authkeys.models import Rule  # noqa: E402


def main() -> None:
    owner = account_services.company_sign_up(
        company_name="Bench Company",
        registered_mobile="+919876500099",
        registered_email="bench@bench.example",
        owner_email="owner@bench.example",
        password="bench-password-not-secret",  # noqa: S106
        full_name="Bench Owner",
    )
    company = owner.company
    assert company is not None
    account_services.company_credit_balance(company=company, amount=1_000_000_000)
    rule = Rule.objects.get(company=None, name="All services")
    good, good_secret = key_services.authkey_create(
        company=company, actor=None, name="bench good", rule=rule, ip_security=True
    )
    key_services.key_ip_add(authkey=good, actor=None, entry="127.0.0.1")
    bad, bad_secret = key_services.authkey_create(
        company=company, actor=None, name="bench bad ip", rule=rule, ip_security=True
    )
    key_services.key_ip_add(authkey=bad, actor=None, entry="192.0.2.1")
    print(f"GOOD_KEY={good_secret}")
    print(f"BAD_IP_KEY={bad_secret}")
    print(f"UNKNOWN_KEY={keys.generate_key()}")


if __name__ == "__main__":
    main()
