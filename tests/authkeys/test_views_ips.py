import pytest
from django.urls import reverse

from accounts.models import User
from authkeys import selectors, services
from authkeys.models import ApiSecurity, AuthKey, CompanyAllowedIP, KeyAllowedIP, SecurityEvent
from tests.factories import PASSWORD, CompanyFactory, UserFactory, make_key
from tests.helpers import pass_otp_gate

pytestmark = pytest.mark.django_db

Kind = SecurityEvent.Kind
Role = User.Role
HTMX = {"HX-Request": "true"}

BAD_ENTRIES = [
    ("192.0. 2.146", "“192.0. 2.146”: an IP address has no spaces."),
    ("192.0.2.256", "“192.0.2.256”: each IPv4 number must be between 0 and 255."),
    ("1.2.3", "“1.2.3”: an IPv4 address has four numbers separated by dots."),
    ("010.1.1.1", "“010.1.1.1”: numbers with leading zeros are ambiguous (octal); write 10.1.1.1."),
    ("0x7f000001", "“0x7f000001” is not an IPv4 or IPv6 address."),
    ("1.2.3.4/33", "“1.2.3.4/33”: the prefix length must be at most /32 for IPv4."),
    ("::1/129", "“::1/129”: the prefix length must be at most /128 for IPv6."),
    ("fe80::1%eth0", "“fe80::1%eth0”: zone ids (the part after %) are not allowed"),
    ("", "An empty entry is not an IP address."),
]

NORMALISED = [
    ("203.0.113.10", "203.0.113.10"),
    (" 203.0.113.10 ", "203.0.113.10"),
    ("198.51.100.7/24", "198.51.100.0/24"),
    ("2001:DB8:0:0:0:0:0:1", "2001:db8::1"),
    ("2001:db8:3333:4444:5555:6666:7777:8888", "2001:db8:3333:4444:5555:6666:7777:8888"),
    ("2001:db8::/32", "2001:db8::/32"),
    ("::ffff:192.0.2.1", "192.0.2.1"),
    ("::FFFF:c000:0201", "192.0.2.1"),
    ("::ffff:192.0.2.0/120", "192.0.2.0/24"),
]


def _verified(client, sms_outbox, **kwargs) -> User:
    user = UserFactory(**kwargs)
    client.login(email=user.email, password=PASSWORD)
    pass_otp_gate(client, user, sms_outbox)
    return user


@pytest.fixture
def owner(client, sms_outbox) -> User:
    return _verified(client, sms_outbox)


@pytest.fixture
def authkey(owner) -> AuthKey:
    return make_key(owner.company, name="Shop")[0]


def _panel(authkey) -> str:
    return reverse("authkeys:key_ips", args=[authkey.pk])


def _key_ips(authkey) -> list[str]:
    return list(KeyAllowedIP.objects.filter(authkey=authkey).values_list("network", flat=True))


def _company_ips(company) -> list[str]:
    return list(CompanyAllowedIP.objects.filter(company=company).values_list("network", flat=True))


def _state(company) -> dict:
    return {
        "keys": list(AuthKey.objects.filter(company=company).order_by("pk").values()),
        "key_ips": list(KeyAllowedIP.objects.filter(authkey__company=company).order_by("pk").values()),
        "company_ips": list(CompanyAllowedIP.objects.filter(company=company).order_by("pk").values()),
        "additional": selectors.additional_security_enabled(company=company),
        "events": SecurityEvent.objects.filter(company=company).count(),
    }


# --- The panel ----------------------------------------------------------------------------------


def test_panel_shows_the_switch_key_ips_and_company_ips(client, owner, authkey):
    services.key_ip_add(authkey=authkey, actor=None, entry="203.0.113.10")
    services.company_ip_add(company=owner.company, actor=None, entry="198.51.100.0/24")
    other_key, _ = make_key(owner.company, name="Other")
    services.key_ip_add(authkey=other_key, actor=None, entry="192.0.2.99")
    foreign = CompanyFactory()
    services.company_ip_add(company=foreign, actor=None, entry="192.0.2.200")
    response = client.get(_panel(authkey))
    assert response.status_code == 200
    content = response.content.decode()
    assert "IP security · Shop" in content
    assert reverse("authkeys:toggle_ip_security", args=[authkey.pk]) in content
    assert "203.0.113.10" in content and "198.51.100.0/24" in content
    assert "192.0.2.99" not in content and "192.0.2.200" not in content
    assert "Company&#x27;s whitelisted IPs" in content or "Company's whitelisted IPs" in content
    assert "whitelisted for all the authkeys" in content.lower()
    assert reverse("authkeys:company_ip_add") in content
    assert "Additional Security" in content


def test_members_see_the_panel_without_forms(client, sms_outbox):
    company = CompanyFactory()
    authkey, _ = make_key(company)
    allowed = services.key_ip_add(authkey=authkey, actor=None, entry="203.0.113.10")
    _verified(client, sms_outbox, company=company, role=Role.MEMBER)
    response = client.get(_panel(authkey))
    assert response.status_code == 200
    content = response.content.decode()
    assert "203.0.113.10" in content
    assert "<form" not in content.split("<main", 1)[1]
    assert reverse("authkeys:key_ip_delete", args=[allowed.pk]) not in content


# --- Key IPs ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("entry", "stored"), NORMALISED)
def test_add_key_ip_is_normalised_and_listed(client, owner, authkey, entry, stored):
    response = client.post(_panel(authkey), {"entries": entry})
    assert response.status_code == 302 and response["Location"] == _panel(authkey)
    assert _key_ips(authkey) == [stored]
    page = client.get(_panel(authkey)).content.decode()
    assert f"<code>{stored}</code>" in page
    event = SecurityEvent.objects.get(company=owner.company, kind=Kind.IP_ADDED)
    assert event.authkey == authkey and event.actor_user == owner and event.after["ip"] == stored


def test_add_several_key_ips_at_once(client, owner, authkey):
    response = client.post(_panel(authkey), {"entries": "203.0.113.10, 2001:DB8::1,::ffff:10.0.0.1"})
    assert response.status_code == 302
    assert _key_ips(authkey) == ["203.0.113.10", "2001:db8::1", "10.0.0.1"]
    assert SecurityEvent.objects.filter(company=owner.company, kind=Kind.IP_ADDED).count() == 3


@pytest.mark.parametrize(("entry", "message"), BAD_ENTRIES)
def test_add_key_ip_refuses_bad_entries_by_name(client, owner, authkey, entry, message):
    before = _state(owner.company)
    response = client.post(_panel(authkey), {"entries": entry})
    assert response.status_code == 400
    assert message in " ".join(response.context["ip_form"].errors["entries"])
    assert _state(owner.company) == before


@pytest.mark.parametrize(("entry", "message"), BAD_ENTRIES)
def test_add_company_ip_refuses_bad_entries_by_name(client, owner, authkey, entry, message):
    before = _state(owner.company)
    response = client.post(
        reverse("authkeys:company_ip_add"), {"company-entries": entry, "key": authkey.pk}, headers=HTMX
    )
    assert response.status_code == 422  # HTMX: swapped in place
    assert message in " ".join(response.context["company_ip_form"].errors["entries"])
    assert _state(owner.company) == before


def test_add_key_ips_names_every_bad_entry_and_adds_none(client, owner, authkey):
    before = _state(owner.company)
    response = client.post(_panel(authkey), {"entries": "203.0.113.10, 1.2.3, 0x7f000001"})
    assert response.status_code == 400
    errors = " ".join(response.context["ip_form"].errors["entries"])
    assert "“1.2.3”" in errors and "“0x7f000001”" in errors
    assert _state(owner.company) == before


@pytest.mark.parametrize("again", ["203.0.113.10", "2001:DB8:0::1", "::ffff:203.0.113.10"])
def test_duplicate_key_ip_is_refused(client, owner, authkey, again):
    services.key_ip_add(authkey=authkey, actor=None, entry="203.0.113.10")
    services.key_ip_add(authkey=authkey, actor=None, entry="2001:db8::1")
    before = _state(owner.company)
    response = client.post(_panel(authkey), {"entries": again})
    assert response.status_code == 400
    assert "is already whitelisted for this key." in response.content.decode()
    assert _state(owner.company) == before


def test_per_key_cap_is_refused_with_a_clear_message(client, owner, authkey, settings):
    settings.AUTHKEYS_MAX_IPS_PER_KEY = 2
    assert client.post(_panel(authkey), {"entries": "203.0.113.1, 203.0.113.2"}).status_code == 302
    before = _state(owner.company)
    response = client.post(_panel(authkey), {"entries": "203.0.113.3"})
    assert response.status_code == 400
    message = "A key can have at most 2 whitelisted IPs; use a CIDR range or the company list."
    assert message in response.content.decode()
    assert _state(owner.company) == before


def test_cap_reached_midway_adds_none(client, owner, authkey, settings):
    settings.AUTHKEYS_MAX_IPS_PER_KEY = 2
    before = _state(owner.company)
    response = client.post(_panel(authkey), {"entries": "203.0.113.1, 203.0.113.2, 203.0.113.3"})
    assert response.status_code == 400
    assert _state(owner.company) == before


def test_htmx_add_returns_only_the_section(client, owner, authkey):
    response = client.post(_panel(authkey), {"entries": "2001:DB8::1"}, headers=HTMX)
    assert response.status_code == 200
    content = response.content.decode().strip()
    assert content.startswith('<section class="card" id="key-ip-section">') and "<html" not in content
    assert "<code>2001:db8::1</code>" in content and "Whitelisted: 2001:db8::1." in content
    assert _key_ips(authkey) == ["2001:db8::1"]

    response = client.post(_panel(authkey), {"entries": "1.2.3"}, headers=HTMX)
    assert response.status_code == 422  # HTMX: swapped in place
    content = response.content.decode().strip()
    assert content.startswith('<section class="card" id="key-ip-section">')
    assert "“1.2.3”: an IPv4 address has four numbers" in content
    assert 'value="1.2.3"' in content  # what was typed stays for correcting


def test_delete_key_ip_with_htmx_removes_the_row(client, owner, authkey):
    allowed = services.key_ip_add(authkey=authkey, actor=None, entry="203.0.113.10")
    kept = services.key_ip_add(authkey=authkey, actor=None, entry="203.0.113.11")
    count = SecurityEvent.objects.count()
    response = client.post(reverse("authkeys:key_ip_delete", args=[allowed.pk]), headers=HTMX)
    assert response.status_code == 200 and response.content == b""
    assert _key_ips(authkey) == [kept.network]
    assert SecurityEvent.objects.count() == count + 1
    assert SecurityEvent.objects.first().kind == Kind.IP_DELETED


def test_delete_key_ip_without_htmx_redirects_to_the_panel(client, owner, authkey):
    allowed = services.key_ip_add(authkey=authkey, actor=None, entry="203.0.113.10")
    response = client.post(reverse("authkeys:key_ip_delete", args=[allowed.pk]))
    assert response.status_code == 302 and response["Location"] == _panel(authkey)
    assert _key_ips(authkey) == []
    assert "203.0.113.10 is no longer whitelisted" in client.get(_panel(authkey)).content.decode()


# --- Company IPs --------------------------------------------------------------------------------


def test_add_company_ips_from_a_panel(client, owner, authkey):
    data = {"company-entries": "198.51.100.0/24\n::ffff:192.0.2.1", "key": authkey.pk}
    response = client.post(reverse("authkeys:company_ip_add"), data)
    assert response.status_code == 302 and response["Location"] == _panel(authkey)
    assert _company_ips(owner.company) == ["198.51.100.0/24", "192.0.2.1"]
    events = SecurityEvent.objects.filter(company=owner.company, kind=Kind.IP_ADDED)
    assert events.count() == 2 and all(e.authkey is None for e in events)


def test_add_company_ip_with_htmx_returns_only_the_section(client, owner, authkey):
    data = {"company-entries": "2001:DB8::/32", "key": authkey.pk}
    response = client.post(reverse("authkeys:company_ip_add"), data, headers=HTMX)
    assert response.status_code == 200
    content = response.content.decode().strip()
    assert content.startswith('<section class="card" id="company-ip-section">')
    assert "<code>2001:db8::/32</code>" in content
    assert _company_ips(owner.company) == ["2001:db8::/32"]


def test_plain_company_ip_error_re_renders_the_panel(client, owner, authkey):
    services.company_ip_add(company=owner.company, actor=None, entry="198.51.100.1")
    before = _state(owner.company)
    response = client.post(
        reverse("authkeys:company_ip_add"), {"company-entries": "198.51.100.1", "key": authkey.pk}
    )
    assert response.status_code == 400
    assert "198.51.100.1 is already whitelisted for the company." in response.content.decode()
    assert _state(owner.company) == before


def test_company_cap_is_refused(client, owner, authkey, settings):
    settings.AUTHKEYS_MAX_IPS_PER_COMPANY = 1
    services.company_ip_add(company=owner.company, actor=None, entry="198.51.100.1")
    before = _state(owner.company)
    response = client.post(
        reverse("authkeys:company_ip_add"),
        {"company-entries": "198.51.100.2", "key": authkey.pk},
        headers=HTMX,
    )
    assert response.status_code == 422  # HTMX: swapped in place
    assert "A company can have at most 1 whitelisted IPs" in response.content.decode()
    assert _state(owner.company) == before


@pytest.mark.parametrize("htmx", [True, False])
def test_delete_company_ip(client, owner, authkey, htmx):
    allowed = services.company_ip_add(company=owner.company, actor=None, entry="198.51.100.1")
    response = client.post(
        reverse("authkeys:company_ip_delete", args=[allowed.pk]),
        {"key": authkey.pk},
        headers=HTMX if htmx else {},
    )
    if htmx:
        assert response.status_code == 200 and response.content == b""
    else:
        assert response.status_code == 302 and response["Location"] == _panel(authkey)
    assert _company_ips(owner.company) == []
    assert SecurityEvent.objects.filter(company=owner.company, kind=Kind.IP_DELETED).count() == 1


# --- Additional Security ------------------------------------------------------------------------


def test_index_shows_the_additional_security_card(client, owner):
    content = client.get(reverse("authkeys:index")).content.decode()
    assert "Additional Security" in content
    assert reverse("authkeys:additional_security") + "?enable=1" in content


def test_additional_security_is_refused_without_any_ip(client, owner, authkey):
    page = client.get(reverse("authkeys:additional_security") + "?enable=1").content.decode()
    assert "Enable Additional Security?" in page and "Yes, enable" in page
    before = _state(owner.company)
    response = client.post(reverse("authkeys:additional_security"), {"enabled": "1"})
    assert response.status_code == 400
    assert "Whitelist at least one IP" in response.content.decode()
    assert _state(owner.company) == before
    assert not selectors.additional_security_enabled(company=owner.company)


def test_additional_security_confirm_enable_then_disable(client, owner, authkey):
    with_ip, _ = make_key(owner.company, name="Office")
    services.key_ip_add(authkey=with_ip, actor=None, entry="203.0.113.10")
    services.company_ip_add(company=owner.company, actor=None, entry="198.51.100.0/24")
    AuthKey.objects.filter(pk=authkey.pk).update(ip_security=False)
    count = SecurityEvent.objects.filter(company=owner.company).count()

    page = client.get(reverse("authkeys:additional_security") + f"?enable=1&key={authkey.pk}")
    content = page.content.decode()
    assert page.status_code == 200
    assert "every key of the company" in content
    assert "1 key has no IPs of its own (Shop)" in content
    assert "1 key has IP security off (Shop)" in content
    assert "<code>198.51.100.0/24</code>" in content
    assert selectors.additional_security_enabled(company=owner.company) is False  # not before "Yes"

    response = client.post(reverse("authkeys:additional_security"), {"enabled": "1", "key": authkey.pk})
    assert response.status_code == 302 and response["Location"] == _panel(authkey)
    assert selectors.additional_security_enabled(company=owner.company) is True
    events = SecurityEvent.objects.filter(company=owner.company)
    assert events.count() == count + 1 and events.first().kind == Kind.ADDITIONAL_SECURITY_ON
    panel = client.get(_panel(authkey)).content.decode()
    assert "Additional Security is on." in panel
    assert "the whitelists below still apply to it" in panel

    page = client.get(reverse("authkeys:additional_security") + "?enable=0").content.decode()
    assert "Disable Additional Security?" in page and "Yes, disable" in page
    response = client.post(reverse("authkeys:additional_security"), {"enabled": "0"})
    assert response.status_code == 302 and response["Location"] == reverse("authkeys:index")
    assert selectors.additional_security_enabled(company=owner.company) is False
    assert events.count() == count + 2 and events.first().kind == Kind.ADDITIONAL_SECURITY_OFF


def test_additional_security_needs_an_explicit_choice(client, owner):
    services.company_ip_add(company=owner.company, actor=None, entry="198.51.100.1")
    before = _state(owner.company)
    response = client.post(reverse("authkeys:additional_security"), {})
    assert response.status_code == 400
    assert _state(owner.company) == before
    assert not ApiSecurity.objects.filter(company=owner.company, additional_security=True).exists()


# --- Isolation ----------------------------------------------------------------------------------


def test_another_companys_ip_entries_are_404_and_untouched(client, owner, authkey):
    other = CompanyFactory()
    other_key, _ = make_key(other)
    key_ip = services.key_ip_add(authkey=other_key, actor=None, entry="203.0.113.10")
    company_ip = services.company_ip_add(company=other, actor=None, entry="198.51.100.1")
    before, mine = _state(other), _state(owner.company)
    for htmx in (False, True):
        headers = HTMX if htmx else {}
        assert client.get(_panel(other_key)).status_code == 404
        assert client.post(_panel(other_key), {"entries": "192.0.2.1"}, headers=headers).status_code == 404
        url = reverse("authkeys:key_ip_delete", args=[key_ip.pk])
        assert client.post(url, headers=headers).status_code == 404
        url = reverse("authkeys:company_ip_delete", args=[company_ip.pk])
        assert client.post(url, headers=headers).status_code == 404
        # Naming another company's key as the page to go back to adds nothing either.
        data = {"company-entries": "192.0.2.1", "key": other_key.pk}
        assert client.post(reverse("authkeys:company_ip_add"), data, headers=headers).status_code == 404
    assert _state(other) == before
    assert _state(owner.company) == mine


def test_ip_changes_by_members_are_403(client, sms_outbox):
    company = CompanyFactory()
    authkey, _ = make_key(company)
    services.company_ip_add(company=company, actor=None, entry="198.51.100.1")
    _verified(client, sms_outbox, company=company, role=Role.MEMBER)
    before = _state(company)
    assert client.post(_panel(authkey), {"entries": "192.0.2.1"}, headers=HTMX).status_code == 403
    assert client.post(reverse("authkeys:additional_security"), {"enabled": "1"}).status_code == 403
    assert client.get(reverse("authkeys:additional_security") + "?enable=1").status_code == 403
    assert _state(company) == before
