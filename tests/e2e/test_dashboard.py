# ruff: noqa: S608 -- the seed SQL formats in only constants of this module, never input.
"""The dashboard and the reports in a real browser on 100,000 seeded messages (issue 6): they
render, with screenshots kept in test-artifacts/e2e/, and their query counts stay bounded."""

import random
import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from playwright.sync_api import Page, expect

from messaging.models import FailedRequest, Message
from tests.e2e.helpers import (
    LoggedMessage,
    artifact_path,
    assert_no_csp_violations,
    assert_no_page_errors,
    log_in,
)
from tests.factories import PASSWORD, UserFactory, make_key

pytestmark = pytest.mark.e2e

MESSAGES = 100_000
STATUSES = ["DELIVERED"] * 8 + ["FAILED", "UNDELIVERABLE", "EXPIRED", "ACCEPTED"]


def seed(company, keys) -> None:
    """MESSAGES messages (one recipient each, one every 40 s, so about 46 days) and 3,000
    refusals, generated inside the database: seconds instead of minutes through the ORM."""
    start = timezone.now().strftime("%Y-%m-%d %H:%M:%S")
    params = [company.pk, keys[0].pk, keys[1].pk, start, MESSAGES]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            series = "generate_series(1, %s) AS i"
            request_id = "lpad(to_hex(i), 24, '0')"
            at = "(%s::timestamptz - make_interval(secs => i * 40))"
            prefix = ""
            five_digits = "lpad((id %% 100000)::text, 5, '0')"
        else:
            series = "s"
            request_id = "printf('%%024x', i)"
            at = "strftime('%%Y-%%m-%%d %%H:%%M:%%f', %s, '-' || (i * 40) || ' seconds')"
            prefix = "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < %s) "
            params = [MESSAGES, *params[:-1]]
            five_digits = "substr('00000' || (id %% 100000), -5, 5)"
        cursor.execute(
            prefix + "INSERT INTO messaging_message (request_id, company_id, authkey_id, dialect, endpoint, "
            "sender, route, text, sealed_text, encoding, parts, recipient_count, credits, "
            "campaign, reference, flash, delivery, delivery_attempts, created_at) "
            f"SELECT {request_id}, %s, CASE WHEN i %% 2 = 0 THEN %s ELSE %s END, 'msg91', "
            "'/api/sendhttp.php', 'LEDGER', '', 'Your invoice is ready', '', 'gsm7', "
            "CASE WHEN i %% 3 = 0 THEN 2 ELSE 1 END, 1, CASE WHEN i %% 3 = 0 THEN 2 ELSE 1 END, '', '', "
            f"false, 'submitted', 0, {at} FROM {series}",
            params,
        )
        # One recipient per message; the statuses cycle through STATUSES.
        cases = " ".join(f"WHEN {n} THEN '{status}'" for n, status in enumerate(STATUSES))
        cursor.execute(
            "INSERT INTO messaging_recipient (message_id, msisdn, message_uid, status, error, status_at) "
            f"SELECT id, '9198765' || {five_digits}, 'm' || request_id, "
            f"CASE id %% {len(STATUSES)} {cases} END, '', created_at "
            "FROM messaging_message WHERE company_id = %s",
            [company.pk],
        )
    rng = random.Random(42)
    now = timezone.now()
    FailedRequest.objects.bulk_create(
        FailedRequest(
            company=company,
            code=rng.choice(["418", "418", "418", "207", "301", "311"]),
            reason="refused",
            dialect="msg91",
            endpoint="/api/sendhttp.php",
            method="GET",
            client_ip=f"198.51.100.{rng.randrange(6)}",
            created_at=now - timedelta(minutes=rng.randrange(60 * 24 * 30)),
        )
        for _ in range(3000)
    )


def test_dashboard_and_reports_on_100k_messages(
    page: Page, seeded_catalogue: None, console_messages: list[LoggedMessage], request: pytest.FixtureRequest
) -> None:
    owner = UserFactory(company__name="Ledger Works Pvt Ltd", company__sms_balance=25_000)
    keys = [make_key(owner.company, name=name)[0] for name in ("Billing API", "Reminders")]
    seed(owner.company, keys)
    assert Message.objects.filter(company=owner.company).count() == MESSAGES

    client = Client()
    client.login(email=owner.email, password=PASSWORD)
    for url, bound in (("/dashboard/", 12), ("/sms/reports/", 10), ("/sms/reports/?status=FAILED", 10)):
        with CaptureQueriesContext(connection) as queries:
            assert client.get(url).status_code == 200
        assert len(queries) <= bound, f"{url}: {len(queries)} queries"

    log_in(page, owner.email, PASSWORD)
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    expect(page.get_by_text("Messages per day by status")).to_be_visible()
    expect(page.locator("figure.chart svg rect").first).to_be_visible()
    expect(page.get_by_role("heading", name="Top refused IPs (418, 7 days)")).to_be_visible()
    page.get_by_text("The numbers as a table").first.click()
    expect(page.locator("figure.chart table").first).to_be_visible()
    page.screenshot(path=artifact_path(request.config, "dashboard_100k"), full_page=True)

    page.goto("/sms/reports/")
    expect(page.get_by_role("heading", name="Reports")).to_be_visible()
    expect(page.locator("table.reports tbody tr")).to_have_count(50)
    page.get_by_role("link", name="Older →").click()
    expect(page.locator("table.reports tbody tr")).to_have_count(50)
    page.get_by_label("Status").select_option("FAILED")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("table.reports tbody tr").first).to_contain_text("Failed")
    expect(page.locator("table.reports tbody tr").first).to_contain_text(re.compile(r"9198765\d{5}"))
    page.screenshot(path=artifact_path(request.config, "reports_100k"), full_page=True)

    assert_no_csp_violations(console_messages)
    assert_no_page_errors(console_messages)
