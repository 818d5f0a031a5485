import pytest
from django.urls import reverse

from authkeys import auth, services
from authkeys.auth import Refusal, authenticate_key
from authkeys.models import (
    ApiSecurity,
    AuthKey,
    CompanyAllowedIP,
    KeyAllowedIP,
    KeySecret,
    RecentIP,
    Rule,
    SecurityEvent,
    Service,
)
from tests.factories import CompanyFactory, builtin_rule, make_key

pytestmark = pytest.mark.django_db

Kind = SecurityEvent.Kind
OFFICE = "203.0.113.10"
STAFF_MOBILE = "+919876500001"


@pytest.fixture(autouse=True)
def _no_local_memo(settings):
    settings.AUTHKEY_LOCAL_CACHE_SECONDS = 0
    auth._local.clear()


@pytest.fixture
def key_with_ips():
    """A key with a grace-period secret, a key IP, a company IP, a recent IP and events."""
    company = CompanyFactory(name="Acme Traders")
    authkey, old_secret = make_key(company, name="Billing")
    new_secret = services.authkey_regenerate(authkey=authkey, actor=None, grace_seconds=3600)
    services.key_ip_add(authkey=authkey, actor=None, entry=OFFICE)
    services.company_ip_add(company=company, actor=None, entry="198.51.100.0/24")
    services.recent_ip_record(company_id=company.pk, ip=OFFICE, authkey_id=authkey.pk, accepted=True)
    authkey.refresh_from_db()
    return authkey, old_secret, new_secret


def _url(model, view: str, *args) -> str:
    return reverse(f"admin:authkeys_{model._meta.model_name}_{view}", args=args)


ALL_MODELS = [
    Service,
    Rule,
    AuthKey,
    KeySecret,
    KeyAllowedIP,
    CompanyAllowedIP,
    ApiSecurity,
    RecentIP,
    SecurityEvent,
]


@pytest.mark.parametrize("model", ALL_MODELS, ids=lambda m: m.__name__)
@pytest.mark.parametrize("query", ["", "x", "acme", "203.0", "smsp_"])
def test_changelists_render_with_search(admin_client, key_with_ips, model, query):
    response = admin_client.get(_url(model, "changelist"), {"q": query})
    assert response.status_code == 200


@pytest.mark.parametrize("model", ALL_MODELS, ids=lambda m: m.__name__)
def test_change_pages_render_and_never_show_a_secret(admin_client, key_with_ips, model):
    _, old_secret, new_secret = key_with_ips
    obj = model.objects.order_by("pk").last()
    pages = [
        admin_client.get(_url(model, "changelist")).content.decode(),
        admin_client.get(_url(model, "change", obj.pk)).content.decode(),
    ]
    digests = list(KeySecret.objects.values_list("digest", flat=True))
    assert len(digests) == 2
    for page in pages:
        for secret in (old_secret, new_secret, *digests):
            assert secret not in page


def test_authkey_page_shows_prefix_ips_and_secrets_state_but_no_digest(admin_client, key_with_ips):
    authkey, old_secret, new_secret = key_with_ips
    page = admin_client.get(_url(AuthKey, "change", authkey.pk)).content.decode()
    assert authkey.display_prefix in page
    assert OFFICE in page  # the key's whitelisted IP (inline)
    assert "198.51.100.0/24" in page  # the company's list
    for secret in (old_secret, new_secret, *KeySecret.objects.values_list("digest", flat=True)):
        assert secret not in page
    assert 'name="digest"' not in page
    # View only: none of the security state is an input.
    for field in ("name", "enabled", "ip_security", "rule", "expires_at", "use_case"):
        assert f'name="{field}"' not in page


def test_authkey_change_form_post_is_refused_and_changes_nothing(admin_client, key_with_ips):
    authkey, *_ = key_with_ips
    events = SecurityEvent.objects.count()
    response = admin_client.post(
        _url(AuthKey, "change", authkey.pk), {"name": "Renamed", "enabled": "", "ip_security": ""}
    )
    assert response.status_code == 403
    authkey.refresh_from_db()
    assert (authkey.name, authkey.enabled, authkey.ip_security) == ("Billing", True, True)
    assert SecurityEvent.objects.count() == events


def test_authkey_cannot_be_added_in_the_admin(admin_client):
    assert admin_client.get(_url(AuthKey, "add")).status_code == 403
    assert AuthKey.objects.count() == 0


@pytest.mark.parametrize(
    ("action", "field", "start", "kind"),
    [
        ("disable_keys", "enabled", True, Kind.KEY_DISABLED),
        ("enable_keys", "enabled", False, Kind.KEY_ENABLED),
        ("ip_security_off", "ip_security", True, Kind.IP_SECURITY_OFF),
        ("ip_security_on", "ip_security", False, Kind.IP_SECURITY_ON),
    ],
)
def test_key_actions_go_through_services_with_one_event_each(admin_client, staff, action, field, start, kind):
    first, _ = make_key(ip_security=False)
    second, _ = make_key(ip_security=False)
    AuthKey.objects.filter(pk__in=[first.pk, second.pk]).update(**{field: start})
    events = SecurityEvent.objects.count()
    response = admin_client.post(
        _url(AuthKey, "changelist"),
        {"action": action, "_selected_action": [first.pk, second.pk]},
        follow=True,
    )
    assert "2 key(s)" in response.content.decode()
    for authkey in (first, second):
        authkey.refresh_from_db()
        assert getattr(authkey, field) is (not start)
        event = SecurityEvent.objects.get(authkey=authkey, kind=kind)
        assert event.actor_user == staff
        assert event.actor_ip == "127.0.0.1"
    assert SecurityEvent.objects.count() == events + 2


def test_disable_action_refuses_the_key_at_once_and_repeating_it_writes_nothing(admin_client):
    authkey, secret = make_key(ip_security=False)
    assert authenticate_key(secret, OFFICE).ok
    url = _url(AuthKey, "changelist")
    admin_client.post(url, {"action": "disable_keys", "_selected_action": [authkey.pk]})
    assert authenticate_key(secret, OFFICE).refusal == Refusal.DISABLED
    events = SecurityEvent.objects.count()
    response = admin_client.post(
        url, {"action": "disable_keys", "_selected_action": [authkey.pk]}, follow=True
    )
    assert "0 key(s) disabled. 1 already were." in response.content.decode()
    assert SecurityEvent.objects.count() == events


def test_deleting_a_key_in_the_admin_goes_through_the_service(admin_client, staff, key_with_ips):
    authkey, _, new_secret = key_with_ips
    assert authenticate_key(new_secret, OFFICE).ok
    confirm = admin_client.get(_url(AuthKey, "delete", authkey.pk))
    assert confirm.status_code == 200
    assert new_secret not in confirm.content.decode()
    response = admin_client.post(_url(AuthKey, "delete", authkey.pk), {"post": "yes"})
    assert response.status_code == 302
    assert not AuthKey.objects.filter(pk=authkey.pk).exists()
    event = SecurityEvent.objects.get(kind=Kind.KEY_DELETED)
    assert (event.target, event.actor_user) == ("Billing", staff)
    assert authenticate_key(new_secret, OFFICE).refusal == Refusal.UNKNOWN


# --- Read-only models ---------------------------------------------------------------------------


@pytest.mark.parametrize("model", [KeySecret, SecurityEvent, RecentIP], ids=lambda m: m.__name__)
def test_audit_and_secret_records_are_read_only(admin_client, key_with_ips, model):
    obj = model.objects.order_by("pk").first()
    before = (model.objects.count(), SecurityEvent.objects.count())
    assert admin_client.get(_url(model, "add")).status_code == 403
    assert admin_client.post(_url(model, "add"), {}).status_code == 403
    assert admin_client.post(_url(model, "change", obj.pk), {}).status_code == 403
    assert admin_client.get(_url(model, "delete", obj.pk)).status_code == 403
    assert admin_client.post(_url(model, "delete", obj.pk), {"post": "yes"}).status_code == 403
    changelist = admin_client.get(_url(model, "changelist")).content.decode()
    assert "delete_selected" not in changelist
    admin_client.post(_url(model, "changelist"), {"action": "delete_selected", "_selected_action": [obj.pk]})
    assert (model.objects.count(), SecurityEvent.objects.count()) == before


@pytest.mark.parametrize("model", [KeyAllowedIP, CompanyAllowedIP, ApiSecurity], ids=lambda m: m.__name__)
def test_allow_lists_and_api_security_cannot_be_added_or_edited_in_the_admin(
    admin_client, key_with_ips, model
):
    obj = model.objects.get()
    before = (list(model.objects.values()), SecurityEvent.objects.count())
    assert admin_client.get(_url(model, "add")).status_code == 403
    data = {"network": "0.0.0.0/0", "additional_security": "on"}
    assert admin_client.post(_url(model, "change", obj.pk), data).status_code == 403
    assert (list(model.objects.values()), SecurityEvent.objects.count()) == before


def test_authkey_page_links_to_the_company_list(admin_client, key_with_ips):
    authkey, *_ = key_with_ips
    other = CompanyFactory()
    services.company_ip_add(company=other, actor=None, entry="192.0.2.1")
    response = admin_client.get(
        _url(CompanyAllowedIP, "changelist"), {"company__id__exact": authkey.company_id}
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert "198.51.100.0/24" in page
    assert "192.0.2.1" not in page


# --- Allowed IPs: deletion through the services -------------------------------------------------------


@pytest.mark.parametrize("model", [KeyAllowedIP, CompanyAllowedIP], ids=lambda m: m.__name__)
@pytest.mark.parametrize("how", ["delete_view", "delete_selected"])
def test_deleting_an_allowed_ip_records_the_event_and_refuses_the_ip(admin_client, staff, model, how):
    company = CompanyFactory()
    authkey, secret = make_key(company)
    if model is KeyAllowedIP:
        allowed = services.key_ip_add(authkey=authkey, actor=None, entry=OFFICE)
    else:
        allowed = services.company_ip_add(company=company, actor=None, entry=OFFICE)
    assert authenticate_key(secret, OFFICE).ok
    events = SecurityEvent.objects.count()
    if how == "delete_view":
        response = admin_client.post(_url(model, "delete", allowed.pk), {"post": "yes"})
    else:
        response = admin_client.post(
            _url(model, "changelist"),
            {"action": "delete_selected", "_selected_action": [allowed.pk], "post": "yes"},
        )
    assert response.status_code == 302
    assert not model.objects.filter(pk=allowed.pk).exists()
    assert SecurityEvent.objects.count() == events + 1
    event = SecurityEvent.objects.get(kind=Kind.IP_DELETED)
    assert (event.actor_user, event.actor_ip, event.company) == (staff, "127.0.0.1", company)
    assert event.before["ip"] == OFFICE
    # The cache was invalidated: the key (IP security on, no list left) is refused at once.
    assert authenticate_key(secret, OFFICE).refusal == Refusal.IP_NOT_ALLOWED


# --- API security ------------------------------------------------------------------------------


def test_additional_security_action_needs_an_ip_and_records_the_event(admin_client, staff):
    company = CompanyFactory()
    row = ApiSecurity.objects.create(company=company)
    url = _url(ApiSecurity, "changelist")
    response = admin_client.post(
        url, {"action": "additional_security_on", "_selected_action": [row.pk]}, follow=True
    )
    assert "Whitelist at least one IP" in response.content.decode()
    row.refresh_from_db()
    assert not row.additional_security
    assert SecurityEvent.objects.count() == 0

    services.company_ip_add(company=company, actor=None, entry=OFFICE)
    admin_client.post(url, {"action": "additional_security_on", "_selected_action": [row.pk]})
    row.refresh_from_db()
    assert row.additional_security
    event = SecurityEvent.objects.get(kind=Kind.ADDITIONAL_SECURITY_ON)
    assert event.actor_user == staff


# --- Rules -------------------------------------------------------------------------------------


def test_builtin_rule_is_neither_changeable_nor_deletable(admin_client):
    rule = builtin_rule()
    assert admin_client.get(_url(Rule, "delete", rule.pk)).status_code == 403
    assert admin_client.post(_url(Rule, "delete", rule.pk), {"post": "yes"}).status_code == 403
    assert admin_client.post(_url(Rule, "change", rule.pk), {"name": "Mine"}).status_code == 403
    rule.refresh_from_db()
    assert rule.name == "All services"
    assert SecurityEvent.objects.count() == 0


def test_rule_add_change_delete_go_through_the_services(admin_client, staff):
    company = CompanyFactory()
    sms, otp = Service.objects.get(code="sms-send"), Service.objects.get(code="otp")
    response = admin_client.post(
        _url(Rule, "add"), {"company": company.pk, "name": " Only  SMS ", "services": [sms.pk]}
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    rule = Rule.objects.get(company=company)
    assert rule.name == "Only SMS"
    assert list(rule.services.all()) == [sms]
    created = SecurityEvent.objects.get(kind=Kind.RULE_CREATED)
    assert (created.actor_user, created.after["services"]) == (staff, ["sms-send"])

    response = admin_client.post(
        _url(Rule, "change", rule.pk), {"name": "SMS and OTP", "services": [sms.pk, otp.pk]}
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    rule.refresh_from_db()
    assert rule.name == "SMS and OTP"
    assert set(rule.services.all()) == {sms, otp}
    assert SecurityEvent.objects.filter(kind=Kind.RULE_CHANGED).count() == 1

    admin_client.post(_url(Rule, "delete", rule.pk), {"post": "yes"})
    assert not Rule.objects.filter(pk=rule.pk).exists()
    assert SecurityEvent.objects.filter(kind=Kind.RULE_DELETED).count() == 1


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": "All services", "services": ["sms"]}, "already exists"),
        ({"name": "Taken", "services": ["sms"]}, "already exists"),
        ({"name": "Empty", "services": []}, "Pick at least one service"),
        ({"name": "No company", "services": ["sms"], "company": ""}, "This field is required"),
    ],
)
def test_rule_add_form_errors_change_nothing(admin_client, data, message):
    company = CompanyFactory()
    sms = Service.objects.get(code="sms-send")
    services.rule_create(company=company, actor=None, name="taken", services=[sms])
    events, rules = SecurityEvent.objects.count(), Rule.objects.count()
    post = {"company": company.pk, **data}
    post["services"] = [sms.pk for _ in data["services"]]
    response = admin_client.post(_url(Rule, "add"), post)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert (SecurityEvent.objects.count(), Rule.objects.count()) == (events, rules)


def test_a_rule_in_use_cannot_be_deleted_in_the_admin(admin_client):
    company = CompanyFactory()
    rule = services.rule_create(
        company=company, actor=None, name="Used", services=[Service.objects.get(code="otp")]
    )
    make_key(company, rule=rule)
    page = admin_client.post(_url(Rule, "delete", rule.pk), {"post": "yes"}).content.decode()
    assert "protected" in page
    assert Rule.objects.filter(pk=rule.pk).exists()
    assert not SecurityEvent.objects.filter(kind=Kind.RULE_DELETED).exists()


def test_service_codes_are_fixed_and_services_not_deletable(admin_client):
    service = Service.objects.get(code="otp")
    page = admin_client.get(_url(Service, "change", service.pk)).content.decode()
    assert 'name="code"' not in page
    assert admin_client.get(_url(Service, "delete", service.pk)).status_code == 403


def test_a_company_with_audit_records_cannot_be_deleted_from_the_admin(admin_client, key_with_ips):
    # The audit log is immutable, so the cascade is refused: staff set the company's status instead.
    authkey, *_ = key_with_ips
    url = reverse("admin:accounts_company_delete", args=[authkey.company_id])
    assert admin_client.post(url, {"post": "yes"}).status_code == 403
    assert AuthKey.objects.filter(pk=authkey.pk).exists()
    assert SecurityEvent.objects.filter(company_id=authkey.company_id).exists()


def test_bulk_delete_including_the_builtin_rule_is_refused(admin_client):
    company = CompanyFactory()
    rule = services.rule_create(
        company=company, actor=None, name="Spare", services=[Service.objects.get(code="otp")]
    )
    events = SecurityEvent.objects.count()
    response = admin_client.post(
        _url(Rule, "changelist"),
        {"action": "delete_selected", "_selected_action": [rule.pk, builtin_rule().pk], "post": "yes"},
    )
    assert response.status_code == 403
    assert Rule.objects.filter(pk__in=[rule.pk, builtin_rule().pk]).count() == 2
    assert SecurityEvent.objects.count() == events
