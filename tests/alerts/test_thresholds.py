"""Low-balance and key-expiry alerts: found by the periodic check, sent once per episode."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts import services as account_services
from accounts.models import Company
from alerts import tasks, thresholds
from alerts.models import Alert
from authkeys.models import AuthKey
from tests.factories import CompanyFactory, make_key, make_message

pytestmark = pytest.mark.django_db


def _low(company):
    return Alert.objects.filter(company=company, kind=Alert.Kind.LOW_BALANCE)


def test_low_balance_alerts_once_per_episode_by_email_and_sms(
    mailoutbox, sms_outbox, django_capture_on_commit_callbacks
):
    company = CompanyFactory(sms_balance=100, low_balance_threshold=None)
    quiet = CompanyFactory(sms_balance=5, low_balance_threshold=None)  # no threshold: no alert
    account_services.company_set_low_balance_threshold(company=company, threshold=50)
    assert thresholds.low_balance_alerts() == 0  # 100 is not below 50

    Company.objects.filter(pk=company.pk).update(sms_balance=20)  # the API debited it
    with django_capture_on_commit_callbacks(execute=True):
        assert thresholds.low_balance_alerts() == 2
        assert thresholds.low_balance_alerts() == 0  # the next check repeats nothing
    assert sorted(_low(company).values_list("channel", "status")) == [("email", "sent"), ("sms", "sent")]
    assert not _low(quiet).exists()
    mail = [m for m in mailoutbox if m.to == [company.registered_email]][-1]
    assert "20 credits, below the alert threshold of 50" in mail.body
    assert any(m.to == company.registered_mobile and "balance 20 credits" in m.body for m in sms_outbox)

    # A top-up starts a new episode: the next fall below the threshold alerts again.
    account_services.company_credit_balance(company=company, amount=100)
    assert thresholds.low_balance_alerts() == 0
    Company.objects.filter(pk=company.pk).update(sms_balance=10)
    assert thresholds.low_balance_alerts() == 2
    assert _low(company).count() == 4


def test_key_expiry_alerts_once_per_key_and_expiry(mailoutbox, django_capture_on_commit_callbacks, settings):
    settings.ALERTS_KEY_EXPIRY_DAYS = 7
    now = timezone.now()
    company = CompanyFactory()
    soon, _ = make_key(company, name="Billing")
    later, _ = make_key(company, name="Reports")
    disabled, _ = make_key(company, name="Old")
    AuthKey.objects.filter(pk=soon.pk).update(expires_at=now + timedelta(days=3))
    AuthKey.objects.filter(pk=later.pk).update(expires_at=now + timedelta(days=30))
    AuthKey.objects.filter(pk=disabled.pk).update(expires_at=now + timedelta(days=2), enabled=False)
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.check_thresholds() == {"low_balance": 0, "key_expiring": 1}
        assert tasks.check_thresholds() == {"low_balance": 0, "key_expiring": 0}
    alert = Alert.objects.get(kind=Alert.Kind.KEY_EXPIRING)
    assert alert.channel == "email" and alert.status == "sent" and "Billing" in alert.subject
    assert any("“Billing”" in m.body and "expires on" in m.body for m in mailoutbox)
    # Moving the expiry (still within the window) is a new expiry: it alerts again.
    AuthKey.objects.filter(pk=soon.pk).update(expires_at=now + timedelta(days=5))
    assert thresholds.key_expiry_alerts() == 1


def test_alerts_page_lists_threshold_alerts(client, sms_outbox):
    from tests.factories import PASSWORD, UserFactory
    from tests.helpers import pass_otp_gate

    owner = UserFactory()
    make_message(owner.company)
    account_services.company_set_low_balance_threshold(company=owner.company, threshold=10**6)
    thresholds.low_balance_alerts()
    client.login(email=owner.email, password=PASSWORD)
    pass_otp_gate(client, owner, sms_outbox)
    page = client.get("/settings/alerts/").content.decode()
    assert "SMS balance low" in page
