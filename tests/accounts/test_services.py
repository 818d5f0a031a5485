import pytest
from django.core.exceptions import ValidationError

from accounts import services
from accounts.models import Company
from tests.factories import CompanyFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(("start", "amount", "end"), [(0, 5, 5), (10, -10, 0), (10, -3, 7)])
def test_credit_balance(start, amount, end):
    company = CompanyFactory(sms_balance=start)
    services.company_credit_balance(company=company, amount=amount)
    assert Company.objects.get(pk=company.pk).sms_balance == end


@pytest.mark.parametrize(("start", "amount", "message"), [(5, -6, "below zero"), (5, 0, "must not be zero")])
def test_credit_balance_refusals_change_nothing(start, amount, message):
    company = CompanyFactory(sms_balance=start)
    with pytest.raises(ValidationError, match=message):
        services.company_credit_balance(company=company, amount=amount)
    assert Company.objects.get(pk=company.pk).sms_balance == start


def test_status_change_emits_a_security_signal():
    company = CompanyFactory()
    seen = []

    def receiver(sender, **kwargs):
        seen.append((kwargs["kind"], kwargs["before"], kwargs["after"]))

    services.company_security_changed.connect(receiver)
    try:
        services.company_set_status(company=company, status=Company.Status.EXPIRED)
        services.company_set_status(company=company, status=Company.Status.EXPIRED)
    finally:
        services.company_security_changed.disconnect(receiver)
    assert seen == [("status", "active", "expired")]
    assert Company.objects.get(pk=company.pk).status == "expired"


def test_unknown_status_is_refused():
    company = CompanyFactory()
    with pytest.raises(ValidationError, match="Unknown status"):
        services.company_set_status(company=company, status="frozen")
    assert Company.objects.get(pk=company.pk).status == "active"
