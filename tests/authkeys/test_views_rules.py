import pytest
from django.urls import reverse

from accounts.models import User
from authkeys import services
from authkeys.models import AuthKey, Rule, SecurityEvent, Service
from tests.factories import PASSWORD, CompanyFactory, UserFactory, builtin_rule, make_key
from tests.helpers import pass_otp_gate

pytestmark = pytest.mark.django_db

Kind = SecurityEvent.Kind


def _verified(client, sms_outbox, **kwargs) -> User:
    user = UserFactory(**kwargs)
    client.login(email=user.email, password=PASSWORD)
    pass_otp_gate(client, user, sms_outbox)
    return user


def _service(code: str) -> Service:
    return Service.objects.get(code=code)


def _rule(company, name="OTP only", codes=("otp",)) -> Rule:
    return services.rule_create(
        company=company, actor=None, name=name, services=[_service(code) for code in codes]
    )


def _state():
    """Every rule with its services, every key's rule, and the number of events."""
    rules = sorted(
        (rule.pk, rule.company_id, rule.name, tuple(sorted(rule.services.values_list("code", flat=True))))
        for rule in Rule.objects.all()
    )
    return rules, sorted(AuthKey.objects.values_list("pk", "rule_id")), SecurityEvent.objects.count()


def _url(name, rule=None):
    return reverse(f"authkeys:{name}", args=[rule.pk] if rule is not None else [])


# --- Gate, roles, isolation -------------------------------------------------------------------


@pytest.mark.parametrize("name", ["rules", "rule_create", "rule_update", "rule_delete"])
def test_rule_pages_need_a_verified_session(client, name):
    user = UserFactory()
    rule = _rule(user.company)
    client.login(email=user.email, password=PASSWORD)
    response = client.get(_url(name, rule if name in ("rule_update", "rule_delete") else None))
    assert response.status_code == 302
    assert response.url.startswith(reverse("accounts:otp_gate"))


def test_member_sees_rules_but_no_actions(client, sms_outbox):
    member = _verified(client, sms_outbox, role=User.Role.MEMBER)
    rule = _rule(member.company)
    response = client.get(_url("rules"))
    assert response.status_code == 200
    body = response.content.decode()
    assert "OTP only" in body and "All services" in body
    assert _url("rule_update", rule) not in body
    assert _url("rule_create") not in body
    assert "owner or an admin can create, edit or delete rules" in body


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("rule_create", {"name": "New", "services": ["otp"]}),
        ("rule_update", {"name": "Renamed", "services": ["otp"]}),
        ("rule_delete", {"replacement": "builtin"}),
    ],
)
@pytest.mark.parametrize("method", ["get", "post"])
def test_member_cannot_change_rules(client, sms_outbox, name, data, method):
    member = _verified(client, sms_outbox, role=User.Role.MEMBER)
    rule = _rule(member.company)
    make_key(member.company, rule=rule)
    data = _form_data(data)
    before = _state()
    response = getattr(client, method)(_url(name, None if name == "rule_create" else rule), data)
    assert response.status_code == 403
    assert _state() == before


def _form_data(data):
    """Codes → primary keys, "builtin" → the built-in rule."""
    data = dict(data)
    if "services" in data:
        data["services"] = [_service(code).pk for code in data["services"]]
    if data.get("replacement") == "builtin":
        data["replacement"] = builtin_rule().pk
    return data


@pytest.mark.parametrize("name", ["rule_update", "rule_delete"])
@pytest.mark.parametrize("method", ["get", "post"])
def test_rule_of_another_company_is_404(client, sms_outbox, name, method):
    _verified(client, sms_outbox)
    foreign = _rule(CompanyFactory())
    before = _state()
    data = _form_data({"name": "Mine now", "services": ["sms-send"], "replacement": "builtin"})
    response = getattr(client, method)(_url(name, foreign), data)
    assert response.status_code == 404
    assert _state() == before


@pytest.mark.parametrize("name", ["rule_update", "rule_delete"])
def test_builtin_rule_is_not_addressable(client, sms_outbox, name):
    _verified(client, sms_outbox)
    before = _state()
    response = client.post(_url(name, builtin_rule()), _form_data({"name": "Mine", "services": ["otp"]}))
    assert response.status_code == 404
    assert _state() == before


# --- List -------------------------------------------------------------------------------------


def test_list_shows_builtin_and_own_rules_with_services_and_key_counts(client, sms_outbox):
    owner = _verified(client, sms_outbox)
    rule = _rule(owner.company, name="Reports", codes=("reports", "balance"))
    make_key(owner.company, rule=rule)
    make_key(owner.company, rule=rule)
    make_key(owner.company)
    _rule(CompanyFactory(), name="Foreign rule")
    response = client.get(_url("rules"))
    assert response.status_code == 200
    body = response.content.decode().split("<main", 1)[1]  # the page, not the navigation
    assert "Foreign rule" not in body
    assert body.index("All services") < body.index("Reports")
    rows = {r.name: r for r in response.context["rules"]}
    assert rows["Reports"].key_count == 2
    assert rows["All services"].key_count == 1
    assert "Built-in" in body and "Not editable" in body
    assert _url("rule_update", rule) in body and _url("rule_delete", rule) in body
    for service in rule.services.all():
        assert service.name in body


# --- Create and edit --------------------------------------------------------------------------


def test_create_rule(client, sms_outbox):
    owner = _verified(client, sms_outbox)
    response = client.post(_url("rule_create"), _form_data({"name": "  OTP   only ", "services": ["otp"]}))
    assert response.status_code == 302 and response.url == _url("rules")
    rule = Rule.objects.get(company=owner.company)
    assert rule.name == "OTP only"
    assert list(rule.services.values_list("code", flat=True)) == ["otp"]
    event = SecurityEvent.objects.get(company=owner.company)
    assert event.kind == Kind.RULE_CREATED
    assert event.actor_user == owner and event.actor_ip == "127.0.0.1"


def test_create_form_lists_the_catalogue_as_checkboxes(client, sms_outbox):
    _verified(client, sms_outbox)
    body = client.get(_url("rule_create")).content.decode()
    for service in Service.objects.all():
        assert f'value="{service.pk}"' in body and service.name in body
    assert body.count('type="checkbox"') == Service.objects.count()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": "", "services": ["otp"]}, "Give the rule a name."),
        ({"name": "Fine", "services": []}, "Pick at least one service"),
        ({"name": "all SERVICES", "services": ["otp"]}, "already exists"),
        ({"name": "otp ONLY", "services": ["otp"]}, "already exists"),
        ({"name": "x" * 61, "services": ["otp"]}, "at most 60 characters"),
    ],
)
def test_create_refusals_change_nothing(client, sms_outbox, data, message):
    owner = _verified(client, sms_outbox)
    _rule(owner.company, name="OTP only")
    before = _state()
    response = client.post(_url("rule_create"), _form_data(data))
    assert response.status_code == 400
    assert message in response.content.decode()
    assert _state() == before


def test_unknown_service_is_refused(client, sms_outbox):
    _verified(client, sms_outbox)
    before = _state()
    response = client.post(_url("rule_create"), {"name": "X", "services": [999999]})
    assert response.status_code == 400
    assert _state() == before


def test_edit_rule(client, sms_outbox):
    owner = _verified(client, sms_outbox)
    rule = _rule(owner.company)
    form = client.get(_url("rule_update", rule))
    assert form.status_code == 200
    assert 'value="OTP only"' in form.content.decode()
    events = SecurityEvent.objects.count()
    response = client.post(
        _url("rule_update", rule), _form_data({"name": "OTP and SMS", "services": ["otp", "sms-send"]})
    )
    assert response.status_code == 302
    rule.refresh_from_db()
    assert rule.name == "OTP and SMS"
    assert sorted(rule.services.values_list("code", flat=True)) == ["otp", "sms-send"]
    assert SecurityEvent.objects.count() == events + 1
    event = SecurityEvent.objects.first()
    assert event.kind == Kind.RULE_CHANGED
    assert event.before == {"name": "OTP only", "services": ["otp"]}
    assert event.after == {"name": "OTP and SMS", "services": ["otp", "sms-send"]}


def test_saving_an_unchanged_rule_writes_no_event(client, sms_outbox):
    owner = _verified(client, sms_outbox)
    rule = _rule(owner.company)
    before = _state()
    response = client.post(_url("rule_update", rule), _form_data({"name": "OTP only", "services": ["otp"]}))
    assert response.status_code == 302
    assert _state() == before


def test_edit_refusal_changes_nothing(client, sms_outbox):
    owner = _verified(client, sms_outbox)
    rule = _rule(owner.company)
    _rule(owner.company, name="Reports", codes=("reports",))
    before = _state()
    response = client.post(_url("rule_update", rule), _form_data({"name": "reports", "services": ["otp"]}))
    assert response.status_code == 400
    assert "already exists" in response.content.decode()
    assert _state() == before


# --- Delete -----------------------------------------------------------------------------------


def test_delete_unused_rule_is_a_simple_confirmation(client, sms_outbox):
    owner = _verified(client, sms_outbox)
    rule = _rule(owner.company)
    page = client.get(_url("rule_delete", rule)).content.decode()
    assert "No key uses this rule." in page
    assert "<select" not in page
    response = client.post(_url("rule_delete", rule))
    assert response.status_code == 302
    assert not Rule.objects.filter(pk=rule.pk).exists()
    event = SecurityEvent.objects.first()
    assert event.kind == Kind.RULE_DELETED and event.actor_user == owner


def test_delete_rule_in_use_asks_for_a_replacement(client, sms_outbox):
    owner = _verified(client, sms_outbox)
    rule = _rule(owner.company)
    other = _rule(owner.company, name="Reports", codes=("reports",))
    _rule(CompanyFactory(), name="Foreign rule")
    make_key(owner.company, rule=rule, name="Alpha")
    response = client.get(_url("rule_delete", rule))
    body = response.content.decode()
    assert "1 key uses this rule: <strong>Alpha</strong>" in body
    options = response.context["form"].fields["replacement"].queryset
    assert sorted(r.name for r in options) == ["All services", "Reports"]
    assert f'<option value="{other.pk}">Reports</option>' in body
    assert "Foreign rule" not in body


def test_delete_rule_in_use_without_replacement_changes_nothing(client, sms_outbox):
    owner = _verified(client, sms_outbox)
    rule = _rule(owner.company)
    make_key(owner.company, rule=rule)
    before = _state()
    response = client.post(_url("rule_delete", rule), {"replacement": ""})
    assert response.status_code == 400
    assert "choose the rule they should use instead" in response.content.decode()
    assert _state() == before


@pytest.mark.parametrize("replacement", ["self", "foreign"])
def test_delete_with_an_invalid_replacement_changes_nothing(client, sms_outbox, replacement):
    owner = _verified(client, sms_outbox)
    rule = _rule(owner.company)
    make_key(owner.company, rule=rule)
    target = rule if replacement == "self" else _rule(CompanyFactory(), name="Foreign")
    before = _state()
    response = client.post(_url("rule_delete", rule), {"replacement": target.pk})
    assert response.status_code == 400
    assert "Select a valid choice" in response.content.decode()
    assert _state() == before


@pytest.mark.parametrize("to_builtin", [True, False])
def test_delete_with_replacement_moves_the_keys(client, sms_outbox, to_builtin):
    owner = _verified(client, sms_outbox)
    rule = _rule(owner.company)
    replacement = builtin_rule() if to_builtin else _rule(owner.company, name="Reports", codes=("reports",))
    first, _ = make_key(owner.company, rule=rule)
    second, _ = make_key(owner.company, rule=rule)
    untouched, _ = make_key(owner.company)
    events = SecurityEvent.objects.count()
    response = client.post(_url("rule_delete", rule), {"replacement": replacement.pk}, follow=True)
    assert f"Its keys now use “{replacement.name}”." in response.content.decode()
    assert not Rule.objects.filter(pk=rule.pk).exists()
    assert set(AuthKey.objects.filter(rule=replacement, company=owner.company)) >= {first, second}
    untouched.refresh_from_db()
    assert untouched.rule == builtin_rule()
    assert SecurityEvent.objects.count() == events + 1
    event = SecurityEvent.objects.first()
    assert event.kind == Kind.RULE_DELETED
    assert event.after == {"keys_moved_to": replacement.name, "keys_moved": 2}
