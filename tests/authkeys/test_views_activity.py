import pytest
from django.urls import reverse

from accounts import services as account_services
from accounts.models import Company, User
from authkeys import services
from authkeys.models import CompanyAllowedIP, KeyAllowedIP, RecentIP, SecurityEvent
from tests.factories import PASSWORD, CompanyFactory, UserFactory, make_key
from tests.helpers import pass_otp_gate

pytestmark = pytest.mark.django_db

Kind = SecurityEvent.Kind
HTMX = {"HX-Request": "true"}


def _verified(client, sms_outbox, **kwargs) -> User:
    user = UserFactory(**kwargs)
    client.login(email=user.email, password=PASSWORD)
    pass_otp_gate(client, user, sms_outbox)
    return user


def _recent(company, ip="198.51.100.7", authkey=None, accepted=False, code="418", times=1) -> RecentIP:
    for _ in range(times):
        services.recent_ip_record(
            company_id=company.pk,
            ip=ip,
            authkey_id=authkey.pk if authkey else None,
            accepted=accepted,
            code="" if accepted else code,
        )
    return RecentIP.objects.get(company=company, ip=ip)


def _whitelist_url(recent) -> str:
    return reverse("authkeys:recent_ip_whitelist", args=[recent.pk])


def _state():
    """Everything a whitelist could change."""
    return (
        sorted(KeyAllowedIP.objects.values_list("authkey_id", "network")),
        sorted(CompanyAllowedIP.objects.values_list("company_id", "network")),
        SecurityEvent.objects.count(),
    )


# --- Gate, roles, isolation -------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["authkeys:recent_ips", "authkeys:security_log", "authkeys:recent_ip_whitelist"]
)
def test_pages_need_a_verified_session(client, name):
    user = UserFactory()
    recent = _recent(user.company)
    client.login(email=user.email, password=PASSWORD)
    url = reverse(name, args=[recent.pk] if name.endswith("whitelist") else [])
    response = client.get(url)
    assert response.status_code == 302
    assert response.url.startswith(reverse("accounts:otp_gate"))


def test_whitelist_post_needs_a_verified_session(client):
    user = UserFactory()
    authkey, _ = make_key(user.company)
    recent = _recent(user.company)
    client.login(email=user.email, password=PASSWORD)
    before = _state()
    response = client.post(_whitelist_url(recent), {"target": authkey.pk}, headers=HTMX)
    assert response.status_code == 204
    assert response["HX-Redirect"].startswith(reverse("accounts:otp_gate"))
    assert _state() == before


def test_member_sees_recent_ips_without_the_plus_button(client, sms_outbox):
    member = _verified(client, sms_outbox, role=User.Role.MEMBER)
    recent = _recent(member.company)
    response = client.get(reverse("authkeys:recent_ips"))
    assert response.status_code == 200
    body = response.content.decode()
    assert recent.ip in body
    assert _whitelist_url(recent) not in body


@pytest.mark.parametrize("method", ["get", "post"])
def test_member_cannot_whitelist(client, sms_outbox, method):
    member = _verified(client, sms_outbox, role=User.Role.MEMBER)
    authkey, _ = make_key(member.company)
    recent = _recent(member.company)
    before = _state()
    response = getattr(client, method)(_whitelist_url(recent), {"target": authkey.pk}, headers=HTMX)
    assert response.status_code == 403
    assert _state() == before


@pytest.mark.parametrize("method", ["get", "post"])
def test_recent_ip_of_another_company_is_404(client, sms_outbox, method):
    owner = _verified(client, sms_outbox)
    other = CompanyFactory()
    recent = _recent(other)
    before = _state()
    response = getattr(client, method)(_whitelist_url(recent), {"target": "company"}, headers=HTMX)
    assert response.status_code == 404
    assert _state() == before
    assert recent.ip not in client.get(reverse("authkeys:recent_ips")).content.decode()
    assert not CompanyAllowedIP.objects.filter(company=owner.company).exists()


def test_whitelisting_for_a_key_of_another_company_is_404(client, sms_outbox):
    owner = _verified(client, sms_outbox)
    foreign_key, _ = make_key(CompanyFactory())
    recent = _recent(owner.company)
    before = _state()
    response = client.post(_whitelist_url(recent), {"target": foreign_key.pk}, headers=HTMX)
    assert response.status_code == 404
    assert _state() == before


# --- The list ---------------------------------------------------------------------------------


def test_recent_ips_list_shows_counts_key_and_outcome(client, sms_outbox):
    owner = _verified(client, sms_outbox)
    authkey, _ = make_key(owner.company, name="Billing server")
    _recent(owner.company, ip="203.0.113.5", authkey=authkey, accepted=True, times=3)
    _recent(owner.company, ip="2001:db8::7", accepted=False, code="418")
    response = client.get(reverse("authkeys:recent_ips"))
    assert response.status_code == 200
    body = response.content.decode()
    assert "203.0.113.5" in body and "2001:db8::7" in body
    assert "Billing server" in body
    assert "Accepted" in body
    assert "Rejected · 418" in body
    assert '<td class="num">3</td>' in body
    assert body.index("2001:db8::7") < body.index("203.0.113.5")  # last seen first


def test_recent_ips_empty_state_explains(client, sms_outbox):
    _verified(client, sms_outbox)
    body = client.get(reverse("authkeys:recent_ips")).content.decode()
    assert "IPs appear here once the API receives requests" in body


def test_recent_ips_are_paginated(client, sms_outbox):
    owner = _verified(client, sms_outbox)
    for n in range(51):
        _recent(owner.company, ip=f"192.0.2.{n + 1}")
    first = client.get(reverse("authkeys:recent_ips"))
    assert len(first.context["page"].object_list) == 50
    assert "Page 1 of 2" in first.content.decode()
    second = client.get(reverse("authkeys:recent_ips"), {"page": 2})
    assert [r.ip for r in second.context["page"].object_list] == ["192.0.2.1"]


# --- The + button -----------------------------------------------------------------------------


def test_plus_over_htmx_returns_the_row_with_the_form(client, sms_outbox):
    owner = _verified(client, sms_outbox)
    first, _ = make_key(owner.company, name="Alpha")
    make_key(owner.company, name="Beta")
    recent = _recent(owner.company, authkey=first)
    response = client.get(_whitelist_url(recent), headers=HTMX)
    assert response.status_code == 200
    body = response.content.decode()
    assert body.strip().startswith(f'<tr id="recent-ip-{recent.pk}"')
    assert "<html" not in body
    assert f'<option value="{first.pk}" selected>Alpha</option>' in body
    assert "Beta" in body
    assert '<option value="company">All keys (company whitelist)</option>' in body


def test_plus_without_htmx_is_a_page_with_the_form(client, sms_outbox):
    owner = _verified(client, sms_outbox)
    recent = _recent(owner.company)
    response = client.get(_whitelist_url(recent))
    assert response.status_code == 200
    body = response.content.decode()
    assert "<html" in body and f"Whitelist {recent.ip}" in body
    assert 'name="target"' in body


def test_cancel_returns_the_closed_row(client, sms_outbox):
    owner = _verified(client, sms_outbox)
    recent = _recent(owner.company)
    response = client.get(_whitelist_url(recent), {"cancel": 1}, headers=HTMX)
    body = response.content.decode()
    assert body.strip().startswith(f'<tr id="recent-ip-{recent.pk}"')
    assert 'name="target"' not in body
    assert client.get(_whitelist_url(recent), {"cancel": 1}).url == reverse("authkeys:recent_ips")


def test_htmx_whitelist_for_a_key_writes_one_event_and_returns_the_row(client, sms_outbox):
    owner = _verified(client, sms_outbox)
    authkey, _ = make_key(owner.company, name="Billing")
    recent = _recent(owner.company, ip="198.51.100.7", authkey=authkey)
    events = SecurityEvent.objects.count()
    response = client.post(_whitelist_url(recent), {"target": authkey.pk}, headers=HTMX)
    assert response.status_code == 200
    body = response.content.decode()
    assert body.strip().startswith(f'<tr id="recent-ip-{recent.pk}"')
    assert "<html" not in body
    assert "Whitelisted for Billing." in body
    assert list(authkey.allowed_ips.values_list("network", flat=True)) == ["198.51.100.7"]
    assert SecurityEvent.objects.count() == events + 1
    event = SecurityEvent.objects.first()
    assert event.kind == Kind.IP_ADDED
    assert event.actor_user == owner and event.actor_ip == "127.0.0.1"
    assert event.after == {"scope": "key", "key": "Billing", "ip": "198.51.100.7"}


def test_htmx_whitelist_for_the_company(client, sms_outbox):
    owner = _verified(client, sms_outbox)
    recent = _recent(owner.company, ip="2001:db8::7")
    events = SecurityEvent.objects.count()
    response = client.post(_whitelist_url(recent), {"target": "company"}, headers=HTMX)
    assert "Whitelisted for all keys (company)." in response.content.decode()
    assert list(CompanyAllowedIP.objects.filter(company=owner.company).values_list("network", flat=True)) == [
        "2001:db8::7"
    ]
    assert SecurityEvent.objects.count() == events + 1
    assert SecurityEvent.objects.first().kind == Kind.IP_ADDED


def test_plain_post_redirects_with_a_notice(client, sms_outbox):
    owner = _verified(client, sms_outbox)
    recent = _recent(owner.company)
    response = client.post(_whitelist_url(recent), {"target": "company"}, follow=True)
    assert response.redirect_chain[-1][0] == reverse("authkeys:recent_ips")
    assert f"{recent.ip}: Whitelisted for all keys (company)." in response.content.decode()
    assert CompanyAllowedIP.objects.filter(company=owner.company, network=recent.ip).exists()


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("duplicate_key", "already whitelisted for this key"),
        ("duplicate_company", "already whitelisted for the company"),
        ("key_cap", "at most 1 whitelisted IPs"),
        ("company_cap", "at most 1 whitelisted IPs"),
    ],
)
def test_refusals_are_shown_in_the_row_and_change_nothing(client, sms_outbox, settings, setup, message):
    owner = _verified(client, sms_outbox)
    company = owner.company
    authkey, _ = make_key(company, name="Billing")
    recent = _recent(company, ip="198.51.100.7")
    target = "company" if "company" in setup else authkey.pk
    if setup == "duplicate_key":
        services.key_ip_add(authkey=authkey, actor=owner, entry="198.51.100.7")
    elif setup == "duplicate_company":
        services.company_ip_add(company=company, actor=owner, entry="198.51.100.7")
    elif setup == "key_cap":
        settings.AUTHKEYS_MAX_IPS_PER_KEY = 1
        services.key_ip_add(authkey=authkey, actor=owner, entry="192.0.2.1")
    else:
        settings.AUTHKEYS_MAX_IPS_PER_COMPANY = 1
        services.company_ip_add(company=company, actor=owner, entry="192.0.2.1")
    before = _state()
    response = client.post(_whitelist_url(recent), {"target": target}, headers=HTMX)
    # 422: the one 4xx htmx is configured to swap (htmx-config in base.html).
    assert response.status_code == 422
    body = response.content.decode()
    assert body.strip().startswith(f'<tr id="recent-ip-{recent.pk}"')
    assert message in body and 'role="alert"' in body
    assert _state() == before
    # Without HTMX the same refusal is a 400 page.
    response = client.post(_whitelist_url(recent), {"target": target})
    assert response.status_code == 400
    assert message in response.content.decode()
    assert _state() == before


@pytest.mark.parametrize(("headers", "status"), [({}, 400), (HTMX, 422)])
@pytest.mark.parametrize("target", ["", "key-1", "-3"])
def test_bad_target_is_a_form_error(client, sms_outbox, target, headers, status):
    owner = _verified(client, sms_outbox)
    recent = _recent(owner.company)
    before = _state()
    response = client.post(_whitelist_url(recent), {"target": target}, headers=headers)
    assert response.status_code == status
    assert 'role="alert"' in response.content.decode()
    assert _state() == before


# --- Security log -----------------------------------------------------------------------------


def test_security_log_lists_events_newest_first_with_actor_and_change(client, sms_outbox):
    owner = _verified(client, sms_outbox)
    company = owner.company
    authkey, _ = make_key(company, name="Billing", actor=owner, actor_ip="203.0.113.9")
    services.authkey_set_ip_security(authkey=authkey, actor=owner, enabled=False, actor_ip="203.0.113.9")
    services.authkey_regenerate(authkey=authkey, actor=None, actor_key=authkey, actor_ip="198.51.100.1")
    account_services.company_set_status(company=company, status=Company.Status.EXPIRED)
    response = client.get(reverse("authkeys:security_log"))
    assert response.status_code == 200
    body = response.content.decode().split("<tbody>", 1)[1]  # past the filter's options
    order = [
        body.index("Company status changed"),
        body.index("Key regenerated"),
        body.index("IP security disabled"),
        body.index("Key created"),
    ]
    assert order == sorted(order)
    assert owner.email in body
    assert "API key Billing" in body
    assert "staff/system" in body
    assert "<code>203.0.113.9</code>" in body
    assert '<span class="change-field">ip security:</span>' in body
    assert "<del>on</del> → <ins>off</ins>" in body
    assert "<del>active</del> → <ins>expired</ins>" in body


def test_security_log_escapes_everything(client, sms_outbox):
    owner = _verified(client, sms_outbox)
    rule = services.rule_create(
        company=owner.company,
        actor=owner,
        name="<script>alert(1)</script>",
        services=list(services.Service.objects.all()[:1]),
    )
    assert rule.pk
    body = client.get(reverse("authkeys:security_log")).content.decode()
    assert "<script>alert(1)</script>" not in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body


def test_security_log_filter_by_kind(client, sms_outbox):
    owner = _verified(client, sms_outbox)
    authkey, _ = make_key(owner.company, name="Billing", actor=owner)
    services.authkey_set_enabled(authkey=authkey, actor=owner, enabled=False)
    response = client.get(reverse("authkeys:security_log"), {"kind": Kind.KEY_DISABLED})
    rows = response.context["rows"]
    assert [row.event.kind for row in rows] == [Kind.KEY_DISABLED]
    empty = client.get(reverse("authkeys:security_log"), {"kind": Kind.RULE_DELETED})
    assert "No “Rule deleted” changes recorded." in empty.content.decode()


def test_security_log_unknown_kind_shows_everything_with_an_error(client, sms_outbox):
    owner = _verified(client, sms_outbox)
    make_key(owner.company, actor=owner)
    response = client.get(reverse("authkeys:security_log"), {"kind": "nope"})
    assert response.status_code == 200
    assert len(response.context["rows"]) == 1
    assert "Select a valid choice" in response.content.decode()


def test_security_log_is_paginated_and_keeps_the_filter(client, sms_outbox):
    owner = _verified(client, sms_outbox)
    for n in range(51):
        services.record_event(company=owner.company, kind=Kind.KEY_DISABLED, target=f"key {n}")
    services.record_event(company=owner.company, kind=Kind.KEY_ENABLED, target="other")
    response = client.get(reverse("authkeys:security_log"), {"kind": Kind.KEY_DISABLED})
    assert len(response.context["rows"]) == 50
    body = response.content.decode()
    assert "Page 1 of 2" in body
    assert "?kind=key_disabled&amp;page=2" in body
    second = client.get(reverse("authkeys:security_log"), {"kind": Kind.KEY_DISABLED, "page": 2})
    assert [row.event.target for row in second.context["rows"]] == ["key 0"]


def test_security_log_shows_only_the_companys_events(client, sms_outbox):
    _verified(client, sms_outbox)
    make_key(CompanyFactory(), name="Foreign secret key")
    body = client.get(reverse("authkeys:security_log")).content.decode()
    assert "Foreign secret key" not in body
    assert "Nothing recorded yet." in body


def test_member_can_read_the_security_log(client, sms_outbox):
    member = _verified(client, sms_outbox, role=User.Role.MEMBER)
    make_key(member.company, name="Billing")
    response = client.get(reverse("authkeys:security_log"))
    assert response.status_code == 200
    assert "Billing" in response.content.decode()
