import threading
from datetime import timedelta

import django_otp
import pytest
import time_machine
from django.db import connection
from django.utils import timezone

from accounts.models import SMSDevice
from accounts.otp import sms_device_for
from tests.factories import UserFactory
from tests.helpers import last_code

pytestmark = pytest.mark.django_db


def _device_with_code(sms_outbox) -> tuple[SMSDevice, str]:
    device = sms_device_for(UserFactory())
    device.generate_challenge()
    return device, last_code(sms_outbox)


def test_code_is_six_digits_sent_to_registered_mobile_and_stored_only_as_digest(sms_outbox):
    device, code = _device_with_code(sms_outbox)
    device.refresh_from_db()
    assert len(code) == 6 and code.isdigit()
    assert sms_outbox[-1].to == device.user.company.registered_mobile
    assert code not in device.token_digest
    assert len(device.token_digest) == 64
    assert code not in repr(SMSDevice.objects.filter(pk=device.pk).values().get())


def test_code_verifies_once(sms_outbox):
    device, code = _device_with_code(sms_outbox)
    assert django_otp.verify_token(device.user, device.persistent_id, code) is not None
    assert django_otp.verify_token(device.user, device.persistent_id, code) is None


def test_code_expires_after_five_minutes(sms_outbox):
    device, code = _device_with_code(sms_outbox)
    with time_machine.travel(timezone.now() + timedelta(minutes=5, seconds=1)):
        assert django_otp.verify_token(device.user, device.persistent_id, code) is None


def test_code_still_valid_just_before_expiry(sms_outbox):
    device, code = _device_with_code(sms_outbox)
    with time_machine.travel(timezone.now() + timedelta(minutes=4, seconds=55)):
        assert django_otp.verify_token(device.user, device.persistent_id, code) is not None


def test_new_code_replaces_the_previous_one(sms_outbox, settings):
    settings.OTP_SMS_COOLDOWN_DURATION = 0
    device, first = _device_with_code(sms_outbox)
    device.generate_challenge()
    second = last_code(sms_outbox)
    with time_machine.travel(timezone.now(), tick=False) as clock:
        if first != second:
            assert django_otp.verify_token(device.user, device.persistent_id, first) is None
            clock.shift(1.5)  # past the throttle delay that failure earned
        assert django_otp.verify_token(device.user, device.persistent_id, second) is not None


def test_cooldown_between_sends(sms_outbox):
    device, _ = _device_with_code(sms_outbox)
    message = device.generate_challenge()
    assert "ask for another in" in message
    assert len(sms_outbox) == 1
    with time_machine.travel(timezone.now() + timedelta(seconds=31)):
        device.refresh_from_db()
        device.generate_challenge()
    assert len(sms_outbox) == 2


def test_failures_throttle_exponentially_even_for_the_right_code(sms_outbox):
    device, code = _device_with_code(sms_outbox)
    wrong = "000000" if code != "000000" else "111111"
    with time_machine.travel(timezone.now(), tick=False) as clock:
        for wait in (0, 1.1, 2.1):  # the delays after 0, 1 and 2 failures
            clock.shift(wait)
            assert django_otp.verify_token(device.user, device.persistent_id, wrong) is None
        device.refresh_from_db()
        assert device.throttling_failure_count == 3
        # After three failures the next attempt must wait 1 * 2**2 = 4 seconds.
        clock.shift(3)
        assert django_otp.verify_token(device.user, device.persistent_id, code) is None
        device.refresh_from_db()
        assert device.throttling_failure_count == 3  # a refused, throttled try does not count
        clock.shift(1.5)
        assert django_otp.verify_token(device.user, device.persistent_id, code) is not None
    device.refresh_from_db()
    assert device.throttling_failure_count == 0


def test_a_stale_instance_cannot_revive_a_used_code(sms_outbox):
    device, code = _device_with_code(sms_outbox)
    stale = SMSDevice.objects.get(pk=device.pk)
    assert device.verify_token(code)
    assert not stale.verify_token(code)  # saves throttle state from the stale copy
    fresh = SMSDevice.objects.get(pk=device.pk)
    assert fresh.token_digest == ""
    assert not fresh.verify_token(code)


def test_code_for_one_user_does_not_verify_another(sms_outbox):
    device, code = _device_with_code(sms_outbox)
    other = UserFactory()
    assert django_otp.verify_token(other, device.persistent_id, code) is None


@pytest.mark.django_db(transaction=True)
def test_concurrent_verification_of_one_code_succeeds_once(sms_outbox):
    device, code = _device_with_code(sms_outbox)
    user, device_id = device.user, device.persistent_id
    attempts = 4
    barrier = threading.Barrier(attempts)
    results: list[bool] = []
    lock = threading.Lock()

    def attempt() -> None:
        try:
            barrier.wait(timeout=10)
            verified = django_otp.verify_token(user, device_id, code) is not None
            with lock:
                results.append(verified)
        finally:
            connection.close()

    threads = [threading.Thread(target=attempt) for _ in range(attempts)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(results) == attempts
    assert results.count(True) == 1
