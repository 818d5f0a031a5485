import pytest
from django.urls import reverse

from messaging.models import BlockedIP

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "name",
    [
        "admin:messaging_message_changelist",
        "admin:messaging_failedrequest_changelist",
        "admin:messaging_blockedip_changelist",
    ],
)
def test_changelists_render_with_search(admin_client, name):
    assert admin_client.get(reverse(name), {"q": "x"}).status_code == 200


def test_messages_and_failed_requests_are_read_only(admin_client):
    assert admin_client.get(reverse("admin:messaging_message_add")).status_code == 403
    assert admin_client.get(reverse("admin:messaging_failedrequest_add")).status_code == 403


@pytest.mark.parametrize(
    ("entry", "stored"), [("10.1.2.3/8", "10.0.0.0/8"), ("::ffff:192.0.2.1", "192.0.2.1")]
)
def test_blacklist_entries_are_normalised(admin_client, entry, stored):
    admin_client.post(reverse("admin:messaging_blockedip_add"), {"network": entry, "reason": "abuse"})
    assert list(BlockedIP.objects.values_list("network", flat=True)) == [stored]


def test_bad_blacklist_entry_is_refused_with_its_name(admin_client):
    response = admin_client.post(
        reverse("admin:messaging_blockedip_add"), {"network": "192.0.2.256", "reason": ""}
    )
    assert "192.0.2.256" in response.content.decode()
    assert BlockedIP.objects.count() == 0
