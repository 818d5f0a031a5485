import pytest
from django.urls import reverse

from tests.factories import PASSWORD, UserFactory
from tests.helpers import last_code, pass_otp_gate

pytestmark = pytest.mark.django_db


def test_authkey_page_requires_the_gate_then_opens(client, sms_outbox):
    user = UserFactory()
    client.login(email=user.email, password=PASSWORD)

    response = client.get(reverse("authkeys:index"))
    assert response.status_code == 302
    assert response.url.startswith(reverse("accounts:otp_gate"))

    pass_otp_gate(client, user, sms_outbox)

    response = client.get(reverse("authkeys:index"))
    assert response.status_code == 200
    assert b"Authkey" in response.content


def test_wrong_mobile_is_refused_and_nothing_is_sent(client, sms_outbox):
    user = UserFactory()
    client.login(email=user.email, password=PASSWORD)
    response = client.post(reverse("accounts:otp_gate"), {"mobile": "+919812345678"})
    assert response.status_code == 400
    assert "not the registered mobile" in response.content.decode()
    assert sms_outbox == []


def test_code_texted_to_registered_mobile(client, sms_outbox):
    user = UserFactory()
    client.login(email=user.email, password=PASSWORD)
    client.post(reverse("accounts:otp_gate"), {"mobile": user.company.registered_mobile})
    assert len(sms_outbox) == 1
    assert sms_outbox[0].to == user.company.registered_mobile
    assert sms_outbox[0].sensitive
    assert len(last_code(sms_outbox)) == 6
