from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from messaging.catalogue import CATALOGUE
from messaging.models import FailedRequest
from tests.factories import PASSWORD, CompanyFactory, UserFactory

pytestmark = pytest.mark.django_db


def _failed(company, **kwargs):
    defaults = {
        "code": "418",
        "reason": "IP not whitelisted",
        "dialect": "msg91",
        "endpoint": "/api/sendhttp.php",
        "method": "GET",
        "client_ip": "198.51.100.7",
    }
    return FailedRequest.objects.create(company=company, **{**defaults, **kwargs})


@pytest.fixture
def member_client(client):
    user = UserFactory(role="member")
    client.login(email=user.email, password=PASSWORD)
    client.company = user.company
    return client


def test_api_docs_list_every_catalogue_code(client):
    page = client.get(reverse("messaging:api_docs")).content.decode()
    for code in CATALOGUE:
        assert f'id="code-{code.value}"' in page


def test_failed_logs_show_own_company_only(member_client):
    _failed(member_client.company, client_ip="198.51.100.7")
    _failed(CompanyFactory(), client_ip="203.0.113.99")
    page = member_client.get(reverse("messaging:failed_logs")).content.decode()
    assert "198.51.100.7" in page and "203.0.113.99" not in page


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"code": "418"}, {"198.51.100.7"}),
        ({"code": "301"}, {"198.51.100.8"}),
        ({"ip": "198.51.100.8"}, {"198.51.100.8"}),
    ],
)
def test_failed_logs_filters(member_client, query, expected):
    _failed(member_client.company, code="418", client_ip="198.51.100.7")
    _failed(member_client.company, code="301", client_ip="198.51.100.8")
    response = member_client.get(reverse("messaging:failed_logs"), query)
    shown = {ip for ip in ("198.51.100.7", "198.51.100.8") if ip in response.content.decode()}
    assert shown == expected


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"ip": "1.2.3"}, "is not an IP address"),
        ({"since": "2026-02-02", "until": "2026-01-01"}, "must not be before"),
    ],
)
def test_failed_logs_bad_filters_say_what_is_wrong(member_client, query, message):
    response = member_client.get(reverse("messaging:failed_logs"), query)
    assert response.status_code == 400 and message in response.content.decode()


def test_failed_logs_keyset_pages_cover_everything_once(member_client):
    start = timezone.now()
    for i in range(120):
        _failed(
            member_client.company, client_ip=f"198.51.100.{i}", created_at=start - timedelta(seconds=i // 3)
        )
    seen: list[str] = []
    query = {"code": "418"}
    for _ in range(5):  # 120 rows, 50 per page: three pages
        response = member_client.get(reverse("messaging:failed_logs"), query)
        seen += [row.client_ip for row in response.context["rows"]]
        cursor = response.context["next_cursor"]
        if not cursor:
            break
        query = {"code": "418", "before": cursor}
    assert len(seen) == 120 and len(set(seen)) == 120


def test_failed_logs_page_query_count_is_flat(member_client, django_assert_max_num_queries):
    for i in range(60):
        _failed(member_client.company, client_ip=f"198.51.100.{i}")
    with django_assert_max_num_queries(8):
        member_client.get(reverse("messaging:failed_logs"))
