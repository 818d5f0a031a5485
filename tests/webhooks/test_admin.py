"""Staff admin: endpoints and deliveries are visible without any secret; actions go through the
services (audited)."""

import pytest
from django.urls import reverse

from authkeys.models import SecurityEvent
from tests.factories import CompanyFactory
from webhooks import services
from webhooks.models import Delivery, Endpoint, EndpointSecret

pytestmark = pytest.mark.django_db


def test_the_admin_shows_no_secret_and_its_actions_are_audited(admin_client) -> None:
    endpoint, secret = services.endpoint_create(
        company=CompanyFactory(), actor=None, url="https://93.184.215.14/hooks"
    )
    salt = EndpointSecret.objects.get(endpoint=endpoint).salt
    row = services.send_test_event(endpoint=endpoint)

    for url in (
        reverse("admin:webhooks_endpoint_changelist"),
        reverse("admin:webhooks_endpoint_change", args=[endpoint.pk]),
        reverse("admin:webhooks_delivery_changelist"),
        reverse("admin:webhooks_delivery_change", args=[row.pk]),
    ):
        response = admin_client.get(url)
        assert response.status_code == 200, url
        html = response.content.decode()
        assert secret not in html and salt not in html

    response = admin_client.post(
        reverse("admin:webhooks_endpoint_changelist"),
        {"action": "disable", "_selected_action": [endpoint.pk]},
    )
    assert response.status_code == 302
    endpoint.refresh_from_db()
    assert endpoint.active is False and endpoint.disabled_reason == "Disabled by staff"
    assert Delivery.objects.get(pk=row.pk).status == Delivery.Status.FAILED
    event = SecurityEvent.objects.get(kind=SecurityEvent.Kind.WEBHOOK_DISABLED)
    assert event.actor_user is not None and event.actor_user.is_staff
    assert Endpoint.objects.count() == 1
