import csv
import io
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import Company
from tests.factories import PASSWORD, CompanyFactory, UserFactory, make_key, make_message

pytestmark = pytest.mark.django_db


@pytest.fixture
def member(client):
    user = UserFactory(role="member")
    client.login(email=user.email, password=PASSWORD)
    return user


def test_reports_page_shows_own_messages_with_recipient_statuses(client, member):
    make_message(
        member.company,
        recipients=[("919876543210", "DELIVERED", ""), ("919876543219", "FAILED", "Network error")],
    )
    other = make_message(CompanyFactory())
    page = client.get(reverse("reports:messages")).content.decode()
    assert "919876543219" in page and "Network error" in page and "Failed" in page
    assert other.request_id not in page


def test_reports_page_query_count_is_flat(client, member, django_assert_max_num_queries):
    for i in range(60):
        make_message(member.company, recipients=[(f"91987654{i:04d}", "DELIVERED", "")] * (1 if i % 2 else 7))
    with django_assert_max_num_queries(8):
        response = client.get(reverse("reports:messages"))
    assert len(response.context["rows"]) == 50 and response.context["next_cursor"]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"number": "12ab"}, "is not a mobile number"),
        ({"request_id": "nothex"}, "24 hexadecimal characters"),
        ({"since": "2026-02-02", "until": "2026-01-01"}, "must not be before"),
        ({"status": "LOST"}, "Select a valid choice"),
        ({"campaign": "x" * 40}, "at most 32 characters"),
    ],
)
def test_bad_filters_say_what_is_wrong(client, member, query, message):
    response = client.get(reverse("reports:messages"), query)
    assert response.status_code == 400 and message in response.content.decode()
    response = client.get(reverse("reports:export"), query)
    assert response.status_code == 400 and message in response.content.decode()


def test_export_streams_csv_with_filters_and_quotes_formulas(client, member):
    key, _ = make_key(member.company, name="Billing")
    make_message(
        member.company,
        authkey=key,
        campaign="=HYPERLINK(1)",
        recipients=[("919876543210", "DELIVERED", ""), ("919876543211", "FAILED", "x")],
    )
    make_message(CompanyFactory(), recipients=[("919800000000", "FAILED", "")])
    response = client.get(reverse("reports:export"), {"status": "FAILED"})
    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert "attachment;" in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][:3] == ["request_id", "accepted_at", "key"]
    assert [(r[2], r[4], r[5], r[7]) for r in rows[1:]] == [
        ("Billing", "'=HYPERLINK(1)", "919876543211", "FAILED")
    ]


def test_dashboard_renders_figures_charts_and_tables(client, member, django_assert_max_num_queries):
    now = timezone.now()
    make_message(
        member.company,
        created_at=now - timedelta(days=1),
        recipients=[("919876543210", "DELIVERED", ""), ("919876543211", "UNDELIVERABLE", "")],
    )
    with django_assert_max_num_queries(12):
        response = client.get(reverse("portal:dashboard"))
    page = response.content.decode()
    assert response.status_code == 200
    assert "Messages per day by status" in page and "<svg" in page and 'class="s-delivered"' in page
    assert "The numbers as a table" in page
    assert "50.0 %" in page  # one delivered, one undeliverable


def test_dashboard_for_a_user_without_company(client):
    staff = UserFactory(company=None, is_staff=True)
    client.login(email=staff.email, password=PASSWORD)
    assert "belongs to no company" in client.get(reverse("portal:dashboard")).content.decode()


def test_balance_page_and_threshold(client):
    owner = UserFactory()
    client.login(email=owner.email, password=PASSWORD)
    make_message(owner.company, parts=3)
    page = client.get(reverse("reports:balance")).content.decode()
    assert "-3" in page and "Low-balance alert" in page
    response = client.post(reverse("reports:balance"), {"threshold": "-1"})
    assert response.status_code == 400 and "greater than or equal to 0" in response.content.decode()
    assert Company.objects.get(pk=owner.company.pk).low_balance_threshold is None
    response = client.post(reverse("reports:balance"), {"threshold": "250"})
    assert response.status_code == 302
    assert Company.objects.get(pk=owner.company.pk).low_balance_threshold == 250
    client.post(reverse("reports:balance"), {"threshold": ""})
    assert Company.objects.get(pk=owner.company.pk).low_balance_threshold is None


def test_member_cannot_change_the_threshold(client, member):
    assert (
        "<form"
        not in client.get(reverse("reports:balance")).content.decode().split("Ledger")[0].split("</h1>")[1]
    )
    response = client.post(reverse("reports:balance"), {"threshold": "5"})
    assert response.status_code == 403
    assert Company.objects.get(pk=member.company.pk).low_balance_threshold is None
