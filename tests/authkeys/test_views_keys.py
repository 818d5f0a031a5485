import json
import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from authkeys import keys, services
from authkeys.models import (
    ApiSecurity,
    AuthKey,
    CompanyAllowedIP,
    KeyAllowedIP,
    KeySecret,
    Rule,
    SecurityEvent,
)
from tests.factories import PASSWORD, CompanyFactory, UserFactory, builtin_rule, make_key
from tests.helpers import pass_otp_gate

pytestmark = pytest.mark.django_db

Kind = SecurityEvent.Kind
Role = User.Role
HTMX = {"HX-Request": "true"}
KEY_RE = re.compile(r"smsp_[0-9A-Za-z]{38}")


def _verified(client, sms_outbox, **kwargs) -> User:
    user = UserFactory(**kwargs)
    client.login(email=user.email, password=PASSWORD)
    pass_otp_gate(client, user, sms_outbox)
    return user


@pytest.fixture
def owner(client, sms_outbox) -> User:
    return _verified(client, sms_outbox)


def _create_data(**overrides) -> dict:
    data = {
        "name": "Website",
        "use_case": "Shop backend",
        "rule": builtin_rule().pk,
        "ip_security": "on",
        "expires_at": "",
        "whitelist_ips": "",
    }
    data.update(overrides)
    return data


def _create(client, **overrides):
    return client.post(reverse("authkeys:create"), _create_data(**overrides))


def _state(company) -> dict:
    """Everything a refused request must leave alone."""
    return {
        "keys": list(AuthKey.objects.filter(company=company).order_by("pk").values()),
        "secrets": list(KeySecret.objects.filter(authkey__company=company).order_by("pk").values()),
        "key_ips": list(KeyAllowedIP.objects.filter(authkey__company=company).order_by("pk").values()),
        "company_ips": list(CompanyAllowedIP.objects.filter(company=company).order_by("pk").values()),
        "additional": list(ApiSecurity.objects.filter(company=company).values()),
        "events": SecurityEvent.objects.filter(company=company).count(),
    }


# --- The gate -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "args"),
    [
        ("authkeys:index", []),
        ("authkeys:create", []),
        ("authkeys:edit", ["{pk}"]),
        ("authkeys:regenerate", ["{pk}"]),
        ("authkeys:delete", ["{pk}"]),
        ("authkeys:key_ips", ["{pk}"]),
        ("authkeys:additional_security", []),
    ],
)
def test_pages_need_a_verified_session(client, name, args):
    user = UserFactory()
    authkey, _ = make_key(user.company)
    client.login(email=user.email, password=PASSWORD)
    url = reverse(name, args=[int(a.format(pk=authkey.pk)) for a in args])
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:otp_gate"))


def test_changes_need_a_verified_session_and_change_nothing(client):
    user = UserFactory()
    authkey, _ = make_key(user.company)
    client.login(email=user.email, password=PASSWORD)
    before = _state(user.company)
    response = client.post(reverse("authkeys:toggle_status", args=[authkey.pk]), {"enabled": "0"})
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:otp_gate"))
    response = client.post(reverse("authkeys:create"), _create_data())
    assert response["Location"].startswith(reverse("accounts:otp_gate"))
    # HTMX requests are sent to the gate with HX-Redirect.
    response = client.post(
        reverse("authkeys:toggle_status", args=[authkey.pk]), {"enabled": "0"}, headers=HTMX
    )
    assert response.status_code == 204
    assert response["HX-Redirect"].startswith(reverse("accounts:otp_gate"))
    assert _state(user.company) == before


def test_anonymous_is_sent_to_log_in(client):
    response = client.get(reverse("authkeys:index"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))


# --- The list -----------------------------------------------------------------------------------


def test_index_lists_the_companys_keys(client, owner):
    authkey, secret = make_key(owner.company, name="Shop", use_case="Website")
    used, _ = make_key(owner.company, name="CRM")
    AuthKey.objects.filter(pk=used.pk).update(last_used_at=timezone.now(), last_used_ip="203.0.113.9")
    other, other_secret = make_key(CompanyFactory(), name="Theirs")
    response = client.get(reverse("authkeys:index"))
    assert response.status_code == 200
    content = response.content.decode()
    assert f"{authkey.display_prefix}…" in content
    assert secret not in content and other_secret not in content
    assert "Theirs" not in content and other.display_prefix not in content
    assert "Website" in content and "All services" in content
    assert "never" in content and "203.0.113.9" in content
    assert "Create New" in content
    for name in ("authkeys:edit", "authkeys:key_ips", "authkeys:regenerate", "authkeys:delete"):
        assert reverse(name, args=[authkey.pk]) in content
    assert reverse("authkeys:toggle_ip_security", args=[authkey.pk]) in content
    assert reverse("authkeys:toggle_status", args=[authkey.pk]) in content
    assert "Additional Security" in content


def test_index_without_keys(client, owner):
    response = client.get(reverse("authkeys:index"))
    assert "No keys yet" in response.content.decode()


# --- Create -------------------------------------------------------------------------------------


def test_create_form_offers_use_cases_rules_and_company_ips(client, owner):
    make_key(owner.company, use_case="Mobile app")
    make_key(CompanyFactory(), use_case="Their secret project")
    own_rule = services.rule_create(
        company=owner.company, actor=None, name="OTP only", services=[*_services("otp")]
    )
    Rule.objects.create(company=CompanyFactory(), name="Foreign rule")
    services.company_ip_add(company=owner.company, actor=None, entry="198.51.100.0/24")
    response = client.get(reverse("authkeys:create"))
    assert response.status_code == 200
    content = response.content.decode()
    assert '<datalist id="use-case-options"><option value="Mobile app">' in content
    assert "Their secret project" not in content
    rules = list(response.context["form"].fields["rule"].queryset)
    assert rules[0] == builtin_rule() and own_rule in rules and len(rules) == 2
    assert "Company&#x27;s whitelisted IPs" in content or "Company's whitelisted IPs" in content
    assert "198.51.100.0/24" in content
    assert re.search(r'<input type="checkbox" name="ip_security"[^>]* checked', content)
    assert 'type="datetime-local"' in content


def _services(*codes):
    from authkeys.models import Service

    return Service.objects.filter(code__in=codes) if codes else Service.objects.all()


def test_create_shows_the_key_once_and_only_once(client, owner):
    response = _create(client, whitelist_ips="203.0.113.10")
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    content = response.content.decode()
    found = KEY_RE.findall(content)
    assert len(set(found)) == 1
    secret = found[0]
    assert "will not be shown again" in content and 'data-copy-target="new-authkey"' in content
    assert "js/copy.js" in content
    authkey = AuthKey.objects.get(company=owner.company)
    assert authkey.name == "Website" and authkey.use_case == "Shop backend"
    assert authkey.ip_security and authkey.enabled and authkey.created_by == owner
    assert KeySecret.objects.get(authkey=authkey).digest == keys.digest(secret)
    assert secret.startswith(authkey.display_prefix)
    # Not in the session, not in the database, not in any later page.
    assert secret not in json.dumps(dict(client.session))
    assert secret not in str(list(AuthKey.objects.values()))
    assert secret not in str(list(KeySecret.objects.values()))
    assert secret not in str(list(SecurityEvent.objects.values()))
    for url in (
        reverse("authkeys:index"),
        reverse("authkeys:edit", args=[authkey.pk]),
        reverse("authkeys:key_ips", args=[authkey.pk]),
    ):
        page = client.get(url).content.decode()
        assert secret not in page
        assert f"{authkey.display_prefix}…" in page
    kinds = list(SecurityEvent.objects.filter(company=owner.company).values_list("kind", flat=True))
    assert sorted(kinds) == sorted([Kind.KEY_CREATED, Kind.IP_ADDED])


def test_create_with_ip_security_off_rule_and_expiry(client, owner):
    rule = services.rule_create(company=owner.company, actor=None, name="SMS", services=[*_services("otp")])
    expiry = (timezone.now() + timedelta(days=30)).replace(second=0, microsecond=0)
    response = _create(
        client,
        ip_security="",
        rule=rule.pk,
        expires_at=timezone.localtime(expiry).strftime("%Y-%m-%dT%H:%M"),
    )
    assert response.status_code == 200
    authkey = AuthKey.objects.get(company=owner.company)
    assert not authkey.ip_security and authkey.rule == rule and authkey.expires_at == expiry


def test_create_with_a_new_use_case_and_whitelisted_ips(client, owner):
    response = _create(
        client, use_case="  Brand   new ", whitelist_ips="203.0.113.10, 2001:DB8:0::1\n::ffff:192.0.2.1\n"
    )
    assert response.status_code == 200
    authkey = AuthKey.objects.get(company=owner.company)
    assert authkey.use_case == "Brand new"
    assert list(authkey.allowed_ips.values_list("network", flat=True)) == [
        "203.0.113.10",
        "2001:db8::1",
        "192.0.2.1",
    ]
    assert SecurityEvent.objects.filter(company=owner.company, kind=Kind.IP_ADDED).count() == 3


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("My key!", "no special character"),
        ("key@home", "no special character"),
        ("naïve", "no special character"),
        ("", "Give the key a name."),
        ("   ", "Give the key a name."),
        ("x" * 51, "at most 50 characters"),
    ],
)
def test_create_refuses_bad_names(client, owner, name, message):
    before = _state(owner.company)
    response = _create(client, name=name)
    assert response.status_code == 400
    assert message in str(response.context["form"].errors["name"])
    assert message in response.content.decode()
    assert not KEY_RE.search(response.content.decode())
    assert _state(owner.company) == before


def test_create_accepts_the_allowed_characters_and_50_chars(client, owner):
    assert _create(client, name="My key_2-prod").status_code == 200
    assert _create(client, name="x" * 50).status_code == 200
    assert AuthKey.objects.filter(company=owner.company).count() == 2


def test_create_refuses_a_taken_name(client, owner):
    make_key(owner.company, name="Website")
    before = _state(owner.company)
    response = _create(client, name="website")
    assert response.status_code == 400
    assert "already named" in str(response.context["form"].errors["name"])
    assert _state(owner.company) == before


@pytest.mark.parametrize(
    ("expires_at", "message"),
    [
        ("2001-01-01T10:00", "The expiry must be in the future."),
        ("{now}", "The expiry must be in the future."),
        ("tomorrow", "Enter a valid date/time."),
    ],
)
def test_create_refuses_a_bad_expiry(client, owner, expires_at, message):
    now = timezone.localtime().strftime("%Y-%m-%dT%H:%M")
    before = _state(owner.company)
    response = _create(client, expires_at=expires_at.format(now=now))
    assert response.status_code == 400
    assert message in str(response.context["form"].errors["expires_at"])
    assert _state(owner.company) == before


@pytest.mark.parametrize(
    "entry",
    [
        "192.0. 2.146",
        "192.0.2.256",
        "1.2.3",
        "010.1.1.1",
        "0x7f000001",
        "1.2.3.4/33",
        "::1/129",
        "fe80::1%eth0",
    ],
)
def test_create_refuses_bad_ips_by_name_and_creates_nothing(client, owner, entry):
    before = _state(owner.company)
    response = _create(client, whitelist_ips=f"203.0.113.10\n{entry}")
    assert response.status_code == 400
    errors = response.context["form"].errors["whitelist_ips"]
    assert len(errors) == 1 and entry in errors[0]
    assert _state(owner.company) == before


def test_create_names_every_bad_ip(client, owner):
    before = _state(owner.company)
    response = _create(client, whitelist_ips="1.2.3, 203.0.113.10, 0x7f000001\nfe80::1%eth0")
    assert response.status_code == 400
    errors = " ".join(response.context["form"].errors["whitelist_ips"])
    assert "1.2.3" in errors and "0x7f000001" in errors and "fe80::1%eth0" in errors
    assert "203.0.113.10" not in errors
    assert _state(owner.company) == before


def test_create_refuses_duplicate_ips_and_creates_nothing(client, owner):
    before = _state(owner.company)
    response = _create(client, whitelist_ips="2001:db8::1\n2001:DB8:0:0::1")
    assert response.status_code == 400
    assert "2001:db8::1 is already whitelisted for this key." in response.content.decode()
    assert _state(owner.company) == before


def test_create_refuses_more_ips_than_the_cap_and_creates_nothing(client, owner, settings):
    settings.AUTHKEYS_MAX_IPS_PER_KEY = 2
    before = _state(owner.company)
    response = _create(client, whitelist_ips="203.0.113.1, 203.0.113.2, 203.0.113.3")
    assert response.status_code == 400
    assert "A key can have at most 2 whitelisted IPs" in str(response.context["form"].errors["whitelist_ips"])
    assert _state(owner.company) == before


def test_create_refuses_another_companys_rule(client, owner):
    foreign = Rule.objects.create(company=CompanyFactory(), name="Foreign")
    before = _state(owner.company)
    response = _create(client, rule=foreign.pk)
    assert response.status_code == 400
    assert "Select a valid choice" in str(response.context["form"].errors["rule"])
    assert _state(owner.company) == before


def test_create_refuses_past_the_company_key_limit(client, owner, settings):
    settings.AUTHKEYS_MAX_PER_COMPANY = 1
    make_key(owner.company)
    before = _state(owner.company)
    response = _create(client)
    assert response.status_code == 400
    assert "at most 1 keys" in response.content.decode()
    assert _state(owner.company) == before


# --- Toggles ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url_name", "field", "off_kind", "on_kind"),
    [
        ("authkeys:toggle_ip_security", "ip_security", Kind.IP_SECURITY_OFF, Kind.IP_SECURITY_ON),
        ("authkeys:toggle_status", "enabled", Kind.KEY_DISABLED, Kind.KEY_ENABLED),
    ],
)
def test_htmx_toggle_returns_the_row_and_flips_the_state(client, owner, url_name, field, off_kind, on_kind):
    authkey, secret = make_key(owner.company)
    url = reverse(url_name, args=[authkey.pk])
    events = SecurityEvent.objects.filter(company=owner.company)
    count = events.count()

    response = client.post(url, {"enabled": "0", "view": "row"}, headers=HTMX)
    assert response.status_code == 200
    content = response.content.decode().strip()
    assert content.startswith(f'<tr id="key-{authkey.pk}"') and content.endswith("</tr>")
    assert "<html" not in content and "<h1" not in content
    assert secret not in content and f"{authkey.display_prefix}…" in content
    assert 'aria-checked="false"' in content
    authkey.refresh_from_db()
    assert getattr(authkey, field) is False
    assert events.count() == count + 1 and events.first().kind == off_kind
    assert events.first().actor_user == owner and events.first().actor_ip == "127.0.0.1"

    response = client.post(url, {"enabled": "1", "view": "row"}, headers=HTMX)
    assert response.status_code == 200
    authkey.refresh_from_db()
    assert getattr(authkey, field) is True
    assert events.count() == count + 2 and events.first().kind == on_kind


def test_toggling_to_the_current_state_writes_nothing(client, owner):
    authkey, _ = make_key(owner.company)
    before = _state(owner.company)
    response = client.post(
        reverse("authkeys:toggle_status", args=[authkey.pk]), {"enabled": "1"}, headers=HTMX
    )
    assert response.status_code == 200
    assert _state(owner.company) == before


def test_htmx_toggle_in_the_panel_returns_the_panel_switch(client, owner):
    authkey, _ = make_key(owner.company)
    url = reverse("authkeys:toggle_ip_security", args=[authkey.pk])
    response = client.post(url, {"enabled": "0", "view": "panel"}, headers=HTMX)
    content = response.content.decode().strip()
    assert content.startswith('<div id="ip-security-switch"')
    assert "can be used from any IP address" in content
    authkey.refresh_from_db()
    assert authkey.ip_security is False


@pytest.mark.parametrize(
    ("view", "target"), [("row", "authkeys:index"), ("", "authkeys:index"), ("panel", "authkeys:key_ips")]
)
def test_plain_toggle_redirects_with_a_notice(client, owner, view, target):
    authkey, _ = make_key(owner.company)
    response = client.post(
        reverse("authkeys:toggle_status", args=[authkey.pk]), {"enabled": "0", "view": view}
    )
    assert response.status_code == 302
    expected = reverse(target, args=[authkey.pk]) if target == "authkeys:key_ips" else reverse(target)
    assert response["Location"] == expected
    authkey.refresh_from_db()
    assert authkey.enabled is False
    page = client.get(response["Location"]).content.decode()
    assert f"{authkey.name} is disabled." in page


@pytest.mark.parametrize("data", [{}, {"enabled": "maybe"}])
def test_toggle_needs_a_state(client, owner, data):
    authkey, _ = make_key(owner.company)
    before = _state(owner.company)
    response = client.post(reverse("authkeys:toggle_status", args=[authkey.pk]), data, headers=HTMX)
    assert response.status_code == 400
    assert _state(owner.company) == before


# --- Edit ---------------------------------------------------------------------------------------


def test_edit_changes_the_settings(client, owner):
    authkey, secret = make_key(owner.company, name="Old", use_case="Website")
    rule = services.rule_create(company=owner.company, actor=None, name="OTP", services=[*_services("otp")])
    page = client.get(reverse("authkeys:edit", args=[authkey.pk])).content.decode()
    assert 'value="Old"' in page and secret not in page
    expiry = (timezone.now() + timedelta(days=7)).replace(second=0, microsecond=0)
    response = client.post(
        reverse("authkeys:edit", args=[authkey.pk]),
        {
            "name": "New name",
            "use_case": "CRM",
            "rule": rule.pk,
            "expires_at": timezone.localtime(expiry).strftime("%Y-%m-%dT%H:%M"),
        },
    )
    assert response.status_code == 302 and response["Location"] == reverse("authkeys:index")
    authkey.refresh_from_db()
    assert (authkey.name, authkey.use_case, authkey.rule, authkey.expires_at) == (
        "New name",
        "CRM",
        rule,
        expiry,
    )
    page = client.get(reverse("authkeys:edit", args=[authkey.pk])).content.decode()
    assert f'value="{timezone.localtime(expiry).strftime("%Y-%m-%dT%H:%M")}"' in page
    event = SecurityEvent.objects.filter(company=owner.company).first()
    assert event.kind == Kind.KEY_RULE_CHANGED and event.actor_user == owner

    # The expiry is clearable.
    data = {"name": "New name", "use_case": "CRM", "rule": rule.pk, "expires_at": ""}
    assert client.post(reverse("authkeys:edit", args=[authkey.pk]), data).status_code == 302
    authkey.refresh_from_db()
    assert authkey.expires_at is None


def test_edit_of_an_expired_key_keeps_its_untouched_expiry(client, owner):
    authkey, _ = make_key(owner.company, name="Soon")
    expiry = timezone.now() - timedelta(days=1, seconds=-17)  # expired; seconds the input cannot show
    AuthKey.objects.filter(pk=authkey.pk).update(expires_at=expiry)
    response = client.post(
        reverse("authkeys:edit", args=[authkey.pk]),
        {
            "name": "Renamed",
            "use_case": "",
            "rule": builtin_rule().pk,
            "expires_at": timezone.localtime(expiry).strftime("%Y-%m-%dT%H:%M"),
        },
    )
    assert response.status_code == 302 and response["Location"] == reverse("authkeys:index")
    authkey.refresh_from_db()
    assert authkey.name == "Renamed" and authkey.expires_at == expiry


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"name": "Bad!"}, "name", "no special character"),
        ({"name": ""}, "name", "Give the key a name."),
        ({"name": "Other"}, "name", "already named"),
        ({"expires_at": "2001-01-01T00:00"}, "expires_at", "must be in the future"),
    ],
)
def test_edit_refuses_bad_input(client, owner, data, field, message):
    authkey, _ = make_key(owner.company, name="Mine")
    make_key(owner.company, name="Other")
    before = _state(owner.company)
    post = {"name": "Mine", "use_case": "", "rule": builtin_rule().pk, "expires_at": "", **data}
    response = client.post(reverse("authkeys:edit", args=[authkey.pk]), post)
    assert response.status_code == 400
    assert message in str(response.context["form"].errors[field])
    assert _state(owner.company) == before


# --- Regenerate ---------------------------------------------------------------------------------


def test_regenerate_immediately(client, owner):
    authkey, old_secret = make_key(owner.company)
    page = client.get(reverse("authkeys:regenerate", args=[authkey.pk])).content.decode()
    assert "Immediately" in page and "After 24 hours" in page and old_secret not in page
    response = client.post(reverse("authkeys:regenerate", args=[authkey.pk]), {"grace_seconds": "0"})
    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
    content = response.content.decode()
    new_secret = KEY_RE.findall(content)[0]
    assert new_secret != old_secret and old_secret not in content
    assert "Key regenerated" in content and "The old key stopped working." in content
    assert list(KeySecret.objects.filter(authkey=authkey).values_list("digest", flat=True)) == [
        keys.digest(new_secret)
    ]
    authkey.refresh_from_db()
    assert new_secret.startswith(authkey.display_prefix)
    assert SecurityEvent.objects.filter(company=owner.company).first().kind == Kind.KEY_REGENERATED
    assert new_secret not in json.dumps(dict(client.session))
    assert new_secret not in client.get(reverse("authkeys:index")).content.decode()


def test_regenerate_with_a_grace_period(client, owner):
    authkey, old_secret = make_key(owner.company)
    response = client.post(reverse("authkeys:regenerate", args=[authkey.pk]), {"grace_seconds": "3600"})
    assert response.status_code == 200
    content = response.content.decode()
    new_secret = KEY_RE.findall(content)[0]
    assert "The old key keeps working until" in content
    old = KeySecret.objects.get(authkey=authkey, digest=keys.digest(old_secret))
    assert old.valid_until is not None
    assert abs((old.valid_until - timezone.now()) - timedelta(hours=1)) < timedelta(minutes=1)
    assert KeySecret.objects.get(authkey=authkey, valid_until=None).digest == keys.digest(new_secret)


@pytest.mark.parametrize("grace", ["90000", "-1", "", "soon"])
def test_regenerate_refuses_other_grace_periods(client, owner, grace):
    authkey, _ = make_key(owner.company)
    before = _state(owner.company)
    response = client.post(reverse("authkeys:regenerate", args=[authkey.pk]), {"grace_seconds": grace})
    assert response.status_code == 400
    assert not KEY_RE.search(response.content.decode())
    assert _state(owner.company) == before


# --- Delete -------------------------------------------------------------------------------------


def test_delete_after_confirmation(client, owner):
    authkey, _ = make_key(owner.company, name="Doomed")
    page = client.get(reverse("authkeys:delete", args=[authkey.pk])).content.decode()
    assert "Delete key Doomed?" in page and "stop working at once" in page
    assert AuthKey.objects.filter(pk=authkey.pk).exists()
    response = client.post(reverse("authkeys:delete", args=[authkey.pk]))
    assert response.status_code == 302 and response["Location"] == reverse("authkeys:index")
    assert not AuthKey.objects.filter(pk=authkey.pk).exists()
    event = SecurityEvent.objects.filter(company=owner.company).first()
    assert event.kind == Kind.KEY_DELETED and event.target == "Doomed"
    assert "The key Doomed was deleted." in client.get(response["Location"]).content.decode()


# --- Members look but do not change -------------------------------------------------------------


def _member_posts(authkey, key_ip, company_ip):
    return [
        (reverse("authkeys:create"), _create_data(name="Sneaky")),
        (reverse("authkeys:edit", args=[authkey.pk]), {"name": "Sneaky", "rule": builtin_rule().pk}),
        (reverse("authkeys:toggle_ip_security", args=[authkey.pk]), {"enabled": "0"}),
        (reverse("authkeys:toggle_status", args=[authkey.pk]), {"enabled": "0"}),
        (reverse("authkeys:regenerate", args=[authkey.pk]), {"grace_seconds": "0"}),
        (reverse("authkeys:delete", args=[authkey.pk]), {}),
        (reverse("authkeys:key_ips", args=[authkey.pk]), {"entries": "198.51.100.1"}),
        (reverse("authkeys:key_ip_delete", args=[key_ip.pk]), {}),
        (reverse("authkeys:company_ip_add"), {"company-entries": "198.51.100.2"}),
        (reverse("authkeys:company_ip_delete", args=[company_ip.pk]), {}),
        (reverse("authkeys:additional_security"), {"enabled": "1"}),
    ]


@pytest.mark.parametrize("htmx", [False, True])
def test_members_get_403_on_every_change_and_nothing_changes(client, sms_outbox, htmx):
    company = CompanyFactory()
    authkey, _ = make_key(company)
    key_ip = services.key_ip_add(authkey=authkey, actor=None, entry="203.0.113.1")
    company_ip = services.company_ip_add(company=company, actor=None, entry="203.0.113.2")
    _verified(client, sms_outbox, company=company, role=Role.MEMBER)
    before = _state(company)
    for url, data in _member_posts(authkey, key_ip, company_ip):
        response = client.post(url, data, headers=HTMX if htmx else {})
        assert response.status_code == 403, url
    assert _state(company) == before


def test_members_see_the_list_without_controls(client, sms_outbox):
    company = CompanyFactory()
    authkey, _ = make_key(company, name="Shop")
    _verified(client, sms_outbox, company=company, role=Role.MEMBER)
    response = client.get(reverse("authkeys:index"))
    assert response.status_code == 200
    content = response.content.decode()
    assert "Shop" in content and f"{authkey.display_prefix}…" in content
    assert "Create New" not in content
    assert reverse("authkeys:edit", args=[authkey.pk]) not in content
    assert reverse("authkeys:toggle_status", args=[authkey.pk]) not in content
    assert 'aria-disabled="true"' in content
    assert reverse("authkeys:key_ips", args=[authkey.pk]) in content
    for name in ("authkeys:create", "authkeys:additional_security"):
        assert client.get(reverse(name)).status_code == 403
    for name in ("authkeys:edit", "authkeys:regenerate", "authkeys:delete"):
        assert client.get(reverse(name, args=[authkey.pk])).status_code == 403


@pytest.mark.parametrize("role", [Role.ADMIN, Role.OWNER])
def test_admins_and_owners_manage_keys(client, sms_outbox, role):
    _verified(client, sms_outbox, role=role)
    assert _create(client).status_code == 200


# --- Isolation ----------------------------------------------------------------------------------


def test_another_companys_key_is_404_and_untouched(client, owner):
    other = CompanyFactory()
    authkey, _ = make_key(other)
    before = _state(other)
    pk = authkey.pk
    for name in ("authkeys:edit", "authkeys:regenerate", "authkeys:delete", "authkeys:key_ips"):
        assert client.get(reverse(name, args=[pk])).status_code == 404, name
    posts = [
        ("authkeys:edit", {"name": "Mine now", "rule": builtin_rule().pk}),
        ("authkeys:toggle_ip_security", {"enabled": "0"}),
        ("authkeys:toggle_status", {"enabled": "0"}),
        ("authkeys:regenerate", {"grace_seconds": "0"}),
        ("authkeys:delete", {}),
        ("authkeys:key_ips", {"entries": "198.51.100.1"}),
    ]
    for name, data in posts:
        assert client.post(reverse(name, args=[pk]), data).status_code == 404, name
        assert client.post(reverse(name, args=[pk]), data, headers=HTMX).status_code == 404, name
    assert _state(other) == before
    assert SecurityEvent.objects.filter(company=owner.company).count() == 0
