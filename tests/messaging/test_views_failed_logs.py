"""Failed Logs' Whitelist action on 418 rows, the key filter and the copy button."""

import pytest
from django.urls import reverse

from authkeys import services as authkey_services
from authkeys.models import CompanyAllowedIP, KeyAllowedIP, SecurityEvent
from messaging.models import FailedRequest
from tests.factories import PASSWORD, CompanyFactory, UserFactory, make_key
from tests.helpers import pass_otp_gate

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}


def _verified(client, sms_outbox, **kwargs):
    user = UserFactory(**kwargs)
    client.login(email=user.email, password=PASSWORD)
    pass_otp_gate(client, user, sms_outbox)
    return user


def _failed(company, authkey=None, **kwargs) -> FailedRequest:
    defaults = {
        "code": "418",
        "reason": "IP 198.51.100.7 is not whitelisted for this authkey.",
        "dialect": "msg91",
        "endpoint": "/api/sendhttp.php",
        "method": "GET",
        "client_ip": "198.51.100.7",
        "key_prefix": authkey.display_prefix if authkey else "",
    }
    return FailedRequest.objects.create(company=company, authkey=authkey, **{**defaults, **kwargs})


def _url(row) -> str:
    return reverse("messaging:failed_log_whitelist", args=[row.pk])


def _state():
    return (
        sorted(KeyAllowedIP.objects.values_list("authkey_id", "network")),
        sorted(CompanyAllowedIP.objects.values_list("company_id", "network")),
        SecurityEvent.objects.count(),
    )


def test_manager_sees_whitelist_on_418_rows_only_and_copy_buttons(client, sms_outbox):
    owner = _verified(client, sms_outbox)
    refused_ip = _failed(owner.company)
    other = _failed(owner.company, code="301", client_ip="198.51.100.8")
    page = client.get(reverse("messaging:failed_logs")).content.decode()
    assert _url(refused_ip) in page
    assert reverse("messaging:failed_log_whitelist", args=[other.pk]) not in page
    assert f'data-copy-target="failed-ip-{refused_ip.pk}"' in page
    assert 'href="/api-docs/error-codes/#code-418"' in page


def test_member_sees_no_whitelist_action_and_cannot_post(client, sms_outbox):
    member = _verified(client, sms_outbox, role="member")
    row = _failed(member.company)
    page = client.get(reverse("messaging:failed_logs")).content.decode()
    assert row.client_ip in page and _url(row) not in page
    before = _state()
    assert client.post(_url(row), {"target": "company"}).status_code == 403
    assert _state() == before


def test_whitelist_needs_a_verified_session(client):
    owner = UserFactory()
    row = _failed(owner.company)
    client.login(email=owner.email, password=PASSWORD)
    before = _state()
    response = client.post(_url(row), {"target": "company"})
    assert response.status_code == 302 and reverse("accounts:otp_gate") in response["Location"]
    response = client.get(_url(row), headers=HTMX)
    assert reverse("accounts:otp_gate") in response["HX-Redirect"]
    assert _state() == before


@pytest.mark.parametrize("method", ["get", "post"])
def test_rows_of_another_company_and_non_418_rows_are_404(client, sms_outbox, method):
    owner = _verified(client, sms_outbox)
    foreign = _failed(CompanyFactory())
    not_418 = _failed(owner.company, code="207")
    before = _state()
    for row in (foreign, not_418):
        response = getattr(client, method)(_url(row), {"target": "company"} if method == "post" else {})
        assert response.status_code == 404
    assert _state() == before


def test_htmx_open_shows_the_form_with_the_rows_key_preselected(client, sms_outbox):
    owner = _verified(client, sms_outbox)
    make_key(owner.company, name="Alpha")
    billing, _ = make_key(owner.company, name="Billing")
    row = _failed(owner.company, authkey=billing)
    body = client.get(_url(row), headers=HTMX).content.decode()
    assert body.strip().startswith(f'<tr id="failed-{row.pk}"') and "<html" not in body
    assert f'<option value="{billing.pk}" selected>Billing</option>' in body
    assert '<option value="company">All keys (company whitelist)</option>' in body
    cancel = client.get(_url(row) + "?cancel=1", headers=HTMX).content.decode()
    assert "<select" not in cancel and f'hx-get="{_url(row)}"' in cancel


def test_without_htmx_the_form_is_a_page(client, sms_outbox):
    owner = _verified(client, sms_outbox)
    row = _failed(owner.company)
    response = client.get(_url(row))
    assert response.status_code == 200
    assert "<html" in response.content.decode() and "Whitelist 198.51.100.7" in response.content.decode()


def test_htmx_whitelist_for_the_key_writes_one_audited_change(client, sms_outbox):
    owner = _verified(client, sms_outbox)
    billing, _ = make_key(owner.company, name="Billing")
    row = _failed(owner.company, authkey=billing, client_ip="2001:db8::7")
    events = SecurityEvent.objects.count()
    response = client.post(_url(row), {"target": billing.pk}, headers=HTMX)
    assert response.status_code == 200
    body = response.content.decode()
    assert body.strip().startswith(f'<tr id="failed-{row.pk}"') and "Whitelisted for Billing." in body
    assert list(billing.allowed_ips.values_list("network", flat=True)) == ["2001:db8::7"]
    assert SecurityEvent.objects.count() == events + 1
    event = SecurityEvent.objects.first()
    assert event.kind == SecurityEvent.Kind.IP_ADDED and event.actor_user == owner
    assert event.actor_ip == "127.0.0.1"


def test_plain_post_for_the_company_redirects_with_a_notice(client, sms_outbox):
    owner = _verified(client, sms_outbox)
    row = _failed(owner.company)
    response = client.post(_url(row), {"target": "company"}, follow=True)
    assert response.redirect_chain[-1][0] == reverse("messaging:failed_logs")
    assert "198.51.100.7: Whitelisted for all keys (company)." in response.content.decode()
    assert CompanyAllowedIP.objects.filter(company=owner.company, network="198.51.100.7").exists()


@pytest.mark.parametrize(("headers", "status"), [({}, 400), (HTMX, 422)])
def test_already_whitelisted_is_shown_and_changes_nothing(client, sms_outbox, headers, status):
    owner = _verified(client, sms_outbox)
    billing, _ = make_key(owner.company, name="Billing")
    authkey_services.key_ip_add(authkey=billing, actor=owner, entry="198.51.100.7")
    row = _failed(owner.company, authkey=billing)
    before = _state()
    response = client.post(_url(row), {"target": billing.pk}, headers=headers)
    assert response.status_code == status
    assert "already whitelisted for this key" in response.content.decode()
    assert _state() == before


@pytest.mark.parametrize("target", ["", "key-1", "-3"])
def test_bad_target_is_a_form_error(client, sms_outbox, target):
    owner = _verified(client, sms_outbox)
    row = _failed(owner.company)
    before = _state()
    response = client.post(_url(row), {"target": target}, headers=HTMX)
    assert response.status_code == 422 and 'role="alert"' in response.content.decode()
    assert _state() == before


def test_key_of_another_company_is_404(client, sms_outbox):
    owner = _verified(client, sms_outbox)
    foreign_key, _ = make_key(CompanyFactory(), name="Theirs")
    row = _failed(owner.company)
    before = _state()
    assert client.post(_url(row), {"target": foreign_key.pk}).status_code == 404
    assert _state() == before


def test_filter_by_key(client, sms_outbox):
    user = UserFactory(role="member")
    client.login(email=user.email, password=PASSWORD)
    alpha, _ = make_key(user.company, name="Alpha")
    beta, _ = make_key(user.company, name="Beta")
    _failed(user.company, authkey=alpha, client_ip="198.51.100.1")
    _failed(user.company, authkey=beta, client_ip="198.51.100.2")
    response = client.get(reverse("messaging:failed_logs"), {"key": beta.pk})
    assert [row.client_ip for row in response.context["rows"]] == ["198.51.100.2"]
    response = client.get(reverse("messaging:failed_logs"), {"key_prefix": alpha.display_prefix})
    assert [row.client_ip for row in response.context["rows"]] == ["198.51.100.1"]
    response = client.get(reverse("messaging:failed_logs"), {"key": "999999"})
    assert response.status_code == 400 and "Select a valid choice" in response.content.decode()
