import pytest
from django.urls import reverse

from portal import dev_outbox
from portal.sms import send_sms
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_pages_send_a_nonce_based_content_security_policy(client):
    response = client.get(reverse("accounts:login"))
    policy = response["Content-Security-Policy"]
    assert "script-src 'self' 'nonce-" in policy
    assert "frame-ancestors 'none'" in policy
    nonce = policy.split("'nonce-", 1)[1].split("'", 1)[0]
    assert f'nonce="{nonce}"' in response.content.decode()


def test_base_layout_wires_csrf_for_htmx_and_serves_htmx_locally(client):
    client.force_login(UserFactory())
    page = client.get(reverse("portal:dashboard")).content.decode()
    assert 'hx-headers=\'{"X-CSRFToken": "' in page
    assert 'src="/static/django_htmx/' in page or "/static/django-htmx/" in page
    assert "https://" not in page.split("<body", 1)[0]


@pytest.mark.parametrize("label", ["Dashboard", "Failed Logs", "Authkey", "Rules", "Webhooks", "API docs"])
def test_navigation_mirrors_the_provider_panel(client, label):
    client.force_login(UserFactory())
    assert label in client.get(reverse("portal:dashboard")).content.decode()


def test_dev_outbox_is_absent_in_production(client, settings):
    settings.DEBUG = False
    assert client.get(reverse("portal:dev_outbox")).status_code == 404


def test_dev_outbox_lists_sent_sms_in_development(client, settings, tmp_path):
    settings.DEBUG = True
    settings.DEV_OUTBOX_PATH = tmp_path / "outbox.jsonl"
    settings.SMS_BACKEND = "portal.sms.backends.devoutbox.SmsBackend"
    send_sms(to="+919876543210", body="123456 is your code")
    assert dev_outbox.recent()[0]["to"] == "+919876543210"
    page = client.get(reverse("portal:dev_outbox")).content.decode()
    assert "123456 is your code" in page


def test_healthz_is_public(client):
    response = client.get(reverse("portal:healthz"))
    assert response.json() == {"status": "ok"}


def test_static_css_is_served(client):
    client.force_login(UserFactory())
    page = client.get(reverse("portal:dashboard")).content.decode()
    assert "/static/css/portal.css" in page
