import io

import pytest
from django.core.management import CommandError, call_command
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import Company, SMSDevice, User
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_seed_demo_is_idempotent(settings):
    settings.DEBUG = True
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    call_command("seed_demo", stdout=out)
    assert Company.objects.count() == 1
    assert User.objects.count() == 2
    assert "owner@demo.example" in out.getvalue()
    owner = User.objects.get(email="owner@demo.example")
    assert owner.company.sms_balance == 1000


def test_seed_demo_refuses_production():
    with pytest.raises(CommandError, match="DEBUG"):
        call_command("seed_demo")
    assert User.objects.count() == 0


def test_staff_sms_device():
    staff = UserFactory(company=None, is_staff=True)
    call_command("staff_otp_device", staff.email, "--sms", "98765 00002", stdout=io.StringIO())
    assert SMSDevice.objects.get(user=staff).number == "+919876500002"


def test_staff_totp_device_prints_enrolment_once():
    staff = UserFactory(company=None, is_staff=True)
    out = io.StringIO()
    call_command("staff_otp_device", staff.email, "--totp", stdout=out)
    device = TOTPDevice.objects.get(user=staff)
    assert device.confirmed
    assert device.config_url in out.getvalue()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ghost@x.example", "--totp"], "No user has the email"),
        (["{member}", "--totp"], "is not staff"),
        (["{staff}", "--sms", "12"], "--sms: "),
    ],
)
def test_staff_otp_device_bad_arguments(args, message):
    member = UserFactory()
    staff = UserFactory(company=None, is_staff=True)
    args = [a.format(member=member.email, staff=staff.email) for a in args]
    with pytest.raises(CommandError, match=message):
        call_command("staff_otp_device", *args, stdout=io.StringIO())
    assert TOTPDevice.objects.count() == 0
    assert not SMSDevice.objects.filter(number__gt="").exists()
