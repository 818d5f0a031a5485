from datetime import UTC, datetime, timedelta

import pytest

from accounts import services as account_services
from messaging.models import FailedRequest
from reports import selectors
from reports.selectors import MessageFilters
from tests.factories import CompanyFactory, make_key, make_message

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def _ids(queryset):
    return [m.request_id for m in queryset]


@pytest.fixture
def company():
    return CompanyFactory()


def test_messages_filters(company):
    alpha, _ = make_key(company, name="Alpha")
    old = make_message(company, created_at=NOW - timedelta(days=3), campaign="spring")
    failed = make_message(
        company,
        authkey=alpha,
        created_at=NOW - timedelta(hours=2),
        recipients=[("919876543210", "DELIVERED", ""), ("919876543219", "FAILED", "Network error")],
    )
    newest = make_message(
        company, created_at=NOW - timedelta(minutes=1), recipients=[("14155550100", "ACCEPTED", "")]
    )
    make_message(CompanyFactory(), created_at=NOW)  # another company's

    def run(**kwargs):
        return _ids(selectors.messages_queryset(company=company, filters=MessageFilters(**kwargs)))

    assert run() == [newest.request_id, failed.request_id, old.request_id]
    assert run(status="FAILED") == [failed.request_id]
    assert run(number="919876543210") == [failed.request_id, old.request_id]
    assert run(authkey_id=alpha.pk) == [failed.request_id]
    assert run(campaign="spring") == [old.request_id]
    assert run(request_id=newest.request_id) == [newest.request_id]
    assert run(since=NOW - timedelta(days=1), until=NOW - timedelta(hours=1)) == [failed.request_id]


def test_keyset_pages_cover_every_message_once_with_equal_timestamps(company):
    made = [make_message(company, created_at=NOW - timedelta(seconds=i // 4)) for i in range(23)]
    seen, before = [], None
    while True:
        page = list(selectors.messages_queryset(company=company, filters=MessageFilters(), before=before)[:5])
        if not page:
            break
        seen += [m.pk for m in page]
        before = (page[-1].created_at, page[-1].pk)
    assert sorted(seen) == sorted(m.pk for m in made) and len(seen) == len(set(seen))


def test_message_rows_two_queries_for_a_page(company, django_assert_num_queries):
    big = make_message(
        company, recipients=[(f"9198765{i:05d}", "DELIVERED" if i % 3 else "FAILED", "") for i in range(12)]
    )
    small = make_message(company, recipients=[("919876543210", "EXPIRED", "Validity period elapsed")])
    with django_assert_num_queries(2):
        rows = selectors.message_rows([big, small])
    assert rows[0].recipients == [] and dict(rows[0].status_counts) == {"DELIVERED": 8, "FAILED": 4}
    assert [r.msisdn for r in rows[1].recipients] == ["919876543210"]
    assert rows[1].recipients[0].error == "Validity period elapsed"


def test_export_rows_respect_filters_and_batches(company, monkeypatch):
    monkeypatch.setattr(selectors, "EXPORT_MESSAGES_PER_QUERY", 2)
    monkeypatch.setattr(selectors, "EXPORT_RECIPIENTS_PER_BATCH", 3)
    messages = [
        make_message(
            company,
            created_at=NOW - timedelta(minutes=i),
            recipients=[("919876543210", "DELIVERED", ""), ("919876543211", "FAILED", "x")],
        )
        for i in range(5)
    ]
    rows = list(selectors.export_rows(company=company, filters=MessageFilters()))
    assert len(rows) == 10
    assert [row[0] for row in rows[::2]] == [m.request_id for m in messages]  # newest first
    failed = list(selectors.export_rows(company=company, filters=MessageFilters(status="FAILED")))
    assert {row[7] for row in failed} == {"FAILED"} and len(failed) == 5


def test_dashboard_figures(company, django_assert_max_num_queries):
    key, _ = make_key(company, name="Soon")
    from authkeys.models import AuthKey

    AuthKey.objects.filter(pk=key.pk).update(expires_at=NOW + timedelta(days=3))
    make_message(
        company,
        created_at=NOW - timedelta(hours=1),
        parts=2,
        recipients=[("919876543210", "DELIVERED", ""), ("919876543211", "FAILED", "")],
    )
    make_message(company, created_at=NOW - timedelta(days=40))  # outside the month and the series
    make_message(company, created_at=NOW - timedelta(days=5), recipients=[("919876543212", "DELIVERED", "")])
    for ip, n in (("198.51.100.1", 3), ("198.51.100.2", 1)):
        for _ in range(n):
            FailedRequest.objects.create(
                company=company,
                code="418",
                reason="x",
                dialect="msg91",
                endpoint="/e",
                method="GET",
                client_ip=ip,
                created_at=NOW - timedelta(hours=1),
            )
    FailedRequest.objects.create(
        company=company,
        code="207",
        reason="x",
        dialect="msg91",
        endpoint="/e",
        method="GET",
        client_ip="198.51.100.9",
        created_at=NOW - timedelta(days=2),
    )
    with django_assert_max_num_queries(6):
        board = selectors.dashboard(company=company, now=NOW)
    assert (board.messages_today, board.sms_today) == (1, 4)
    assert board.messages_month == 2
    assert (board.delivered, board.failed) == (2, 1)
    assert board.delivery_rate == pytest.approx(2 / 3)
    assert board.refusals_by_code == [("418", 4), ("207", 1)]
    assert board.top_refused_ips == [("198.51.100.1", 3), ("198.51.100.2", 1)]
    assert [k.name for k in board.keys_expiring] == ["Soon"]
    assert board.messages_per_day.totals["DELIVERED"] == 2
    assert board.messages_per_day.values["FAILED"][-1] == 1
    assert board.refusals_per_day.totals == {"418": 4, "207": 1}


def test_ledger_merges_debits_and_credits_newest_first_and_pages(company):
    account_services.company_credit_balance(company=company, amount=500, note="Invoice 7")
    from accounts.models import BalanceCredit

    credit = BalanceCredit.objects.get(company=company, amount=500)
    BalanceCredit.objects.filter(pk=credit.pk).update(created_at=NOW - timedelta(hours=3))
    for i in range(4):
        make_message(company, created_at=NOW - timedelta(hours=i), parts=2)
    entries = selectors.ledger(company=company, limit=10)
    assert [e.kind for e in entries] == ["debit", "debit", "debit", "credit", "debit"]
    assert entries[3].amount == 500 and entries[3].description == "Invoice 7"
    assert entries[0].amount == -2
    page1 = selectors.ledger(company=company, limit=2)
    cursor = page1[-1]
    page2 = selectors.ledger(company=company, before=(cursor.at, cursor.kind, cursor.pk), limit=10)
    assert [e.cursor for e in page1 + page2] == [e.cursor for e in entries]
