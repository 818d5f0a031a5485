from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from messaging.models import FailedRequest
from portal import retention, tasks
from tests.factories import CompanyFactory

pytestmark = pytest.mark.django_db


def _failed(company, age_days: float) -> FailedRequest:
    return FailedRequest.objects.create(
        company=company,
        code="418",
        reason="x",
        dialect="msg91",
        endpoint="/api/sendhttp.php",
        method="GET",
        client_ip="198.51.100.7",
        created_at=timezone.now() - timedelta(days=age_days),
    )


@pytest.fixture
def rows():
    first, second = CompanyFactory(), CompanyFactory()
    old = [_failed(company, 40) for company in (first, first, first, second, None, None, None)]
    young = [_failed(company, 10) for company in (first, second, None)]
    return old, young


def test_command_purges_only_old_rows_in_batches(rows):
    _, young = rows
    out = StringIO()
    call_command("purge_old_records", "--days", "30", "--batch-size", "2", stdout=out)
    assert set(FailedRequest.objects.values_list("pk", flat=True)) == {row.pk for row in young}
    assert "failed logs: 7 deleted (older than 30 days)" in out.getvalue()
    out = StringIO()
    call_command("purge_old_records", "--days", "30", stdout=out)  # nothing left to do
    assert "failed logs: 0 deleted" in out.getvalue()


def test_default_period_comes_from_settings(rows, settings):
    settings.RETENTION_DAYS = 5
    assert tasks.purge_old_records() == {"failed logs": 10, "webhook deliveries": 0, "alerts": 0}
    assert not FailedRequest.objects.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--days", "0"], "0 is not allowed: give a number of at least 1"),
        (["--days", "ten"], "“ten” is not a whole number"),
        (["--batch-size", "-5"], "-5 is not allowed"),
    ],
)
def test_bad_arguments_say_what_is_wrong_and_delete_nothing(rows, args, message):
    before = FailedRequest.objects.count()
    with pytest.raises(CommandError, match=message):
        call_command("purge_old_records", *args)
    assert FailedRequest.objects.count() == before


def test_delete_in_batches_statement_count(rows, django_assert_num_queries):
    old, _ = rows
    queryset = FailedRequest.objects.filter(pk__in=[row.pk for row in old])
    # 7 rows, batches of 3: three times a select and a delete.
    with django_assert_num_queries(6):
        assert retention.delete_in_batches(queryset, batch_size=3) == 7
