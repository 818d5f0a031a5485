import json
import re

import pytest
from django.db.models import Q
from django.urls import reverse

from accounts.models import Company
from authkeys import auth
from authkeys import services as key_services
from authkeys.models import Service
from messaging import flows
from messaging.models import FailedRequest, Flow, Message, Recipient
from tests.factories import CompanyFactory, make_key

pytestmark = pytest.mark.django_db

URL = "/api/v5/flow/"
TEMPLATE = "Hi ##name##, your code is ##code##."


@pytest.fixture(autouse=True)
def _fresh_grants(settings):
    settings.AUTHKEY_LOCAL_CACHE_SECONDS = 0
    auth._local.clear()


@pytest.fixture
def company():
    return CompanyFactory(sms_balance=100)


@pytest.fixture
def secret(company):
    return make_key(company=company, ip_security=False)[1]


def make_flow(company, **fields):
    fields = {"name": "OTP", "template": TEMPLATE, "sender": "ACMEIN", "status": "approved", **fields}
    return Flow.objects.create(company=company, **fields)


@pytest.fixture
def flow(company):
    return make_flow(company)


def post(client, secret, body, url=URL):
    return client.post(url, json.dumps(body), content_type="application/json", headers={"authkey": secret})


def balance(company):
    return Company.objects.get(pk=company.pk).sms_balance


# --- Success -----------------------------------------------------------------------------------------


def test_msg91_documented_flat_variables(client, company, secret, flow):
    body = {
        "flow_id": flow.flow_id,
        "sender": "OTHERS",
        "short_url": "0",
        "recipients": [{"mobiles": "919876543210", "name": "Asha", "code": 1234}],
    }
    response = post(client, secret, body)
    assert response.status_code == 200
    reply = response.json()
    assert reply["type"] == "success" and re.fullmatch(r"[0-9a-f]{24}", reply["message"])
    message = Message.objects.get(request_id=reply["message"])
    assert message.text == "Hi Asha, your code is 1234."
    assert message.sender == "OTHERS" and message.route == "transactional"
    assert message.reference == f"flow:{flow.flow_id}" and message.dialect == "msg91"
    assert list(message.recipients.values_list("msisdn", flat=True)) == ["919876543210"]
    assert balance(company) == 99
    assert FailedRequest.objects.count() == 0


def test_msg91_py_shape_without_trailing_slash(client, company, secret, flow):
    body = {
        "template_id": flow.flow_id,
        "recipients": [{"mobile": "919876543210", "variables": {"name": "Ravi", "code": "42"}}],
    }
    reply = post(client, secret, body, url="/api/v5/flow").json()
    assert reply["type"] == "success"
    message = Message.objects.get(request_id=reply["message"])
    assert message.text == "Hi Ravi, your code is 42." and message.sender == "ACMEIN"


def test_key_as_parameter_and_case_insensitive_variables(client, secret, flow):
    body = {
        "authkey": secret,
        "flow_id": flow.flow_id,
        "recipients": [{"mobiles": "9876543210", "NAME": "A", "Code": "1"}],
    }
    response = client.post(URL, json.dumps(body), content_type="application/json")
    message = Message.objects.get(request_id=response.json()["message"])
    assert message.text == "Hi A, your code is 1."
    assert message.recipients.get().msisdn == "919876543210"


def test_each_recipient_gets_its_own_text_and_identical_texts_share_a_message(client, company, secret, flow):
    body = {
        "template_id": flow.flow_id,
        "recipients": [
            {"mobiles": "919876543210", "name": "Asha", "code": "1"},
            {"mobile": "919812345678", "variables": {"name": "Ravi", "code": "2"}},
            {"mobiles": "919811111111,919822222222", "name": "Asha", "code": "1"},
        ],
    }
    reply = post(client, secret, body).json()
    first = Message.objects.get(request_id=reply["message"])
    assert first.text == "Hi Asha, your code is 1."
    assert list(first.recipients.values_list("msisdn", flat=True)) == [
        "919876543210",
        "919811111111",
        "919822222222",
    ]
    second = Message.objects.get(reference=first.request_id)
    assert second.text == "Hi Ravi, your code is 2."
    assert list(second.recipients.values_list("msisdn", flat=True)) == ["919812345678"]
    assert Message.objects.filter(Q(request_id=first.request_id) | Q(reference=first.request_id)).count() == 2
    assert balance(company) == 96  # 4 recipients times 1 part


def test_balance_is_parts_of_each_rendered_text_times_its_recipients(client, company, secret):
    long_flow = make_flow(company, template="##text##")
    body = {
        "flow_id": long_flow.flow_id,
        "recipients": [
            {"mobiles": "919876543210,919812345678", "text": "x" * 200},  # 2 parts times 2
            {"mobiles": "919811111111", "text": "नमस्ते " * 20},  # 140 UCS-2 units: 3 parts times 1
            {"mobiles": "919822222222", "text": "short"},  # 1 part times 1
        ],
    }
    reply = post(client, secret, body).json()
    assert reply["type"] == "success"
    assert sorted(Message.objects.values_list("parts", "recipient_count", "credits")) == [
        (1, 1, 1),
        (2, 2, 4),
        (3, 1, 3),
    ]
    assert balance(company) == 100 - 8


# --- Refusals ----------------------------------------------------------------------------------------


def _assert_nothing_stored(company, code, before=100):
    assert Message.objects.count() == 0 and Recipient.objects.count() == 0
    assert balance(company) == before
    failed = FailedRequest.objects.get()
    assert failed.code == code and failed.endpoint == "/api/v5/flow" and failed.company_id == company.pk
    return failed


def _other_company_flow(company):
    return make_flow(CompanyFactory()).flow_id


@pytest.mark.parametrize(
    ("flow_fields", "flow_id", "code"),
    [
        ({}, None, "400"),
        ({}, "", "400"),
        ({}, "0" * 24, "400"),
        ({}, _other_company_flow, "400"),
        ({"status": "pending"}, "own", "401"),
        ({"status": "draft"}, "own", "401"),
        ({"status": "rejected"}, "own", "401"),
        ({"enabled": False}, "own", "403"),
    ],
)
def test_flow_refusals(client, company, secret, flow_fields, flow_id, code):
    own = make_flow(company, **flow_fields)
    if flow_id == "own":
        flow_id = own.flow_id
    elif callable(flow_id):
        flow_id = flow_id(company)
    body = {"recipients": [{"mobiles": "919876543210", "name": "A", "code": "1"}]}
    if flow_id is not None:
        body["flow_id"] = flow_id
    response = post(client, secret, body)
    assert response.status_code == 200  # MSG91 answers refusals other than the key's with 200
    reply = response.json()
    assert reply["type"] == "error" and reply["code"] == code
    _assert_nothing_stored(company, code)


def test_flow_id_and_template_id_naming_different_flows_is_refused(client, company, secret, flow):
    other = make_flow(company)
    body = {
        "flow_id": flow.flow_id,
        "template_id": other.flow_id,
        "recipients": [{"mobiles": "919876543210"}],
    }
    assert post(client, secret, body).json()["code"] == "400"
    _assert_nothing_stored(company, "400")


@pytest.mark.parametrize(
    ("recipients", "code", "named"),
    [
        ([{"mobiles": "919876543210", "name": "A"}], "102", "code"),
        (
            [
                {"mobiles": "919876543210", "name": "A", "code": "1"},
                {"mobile": "919812345678", "variables": {"code": "2"}},
            ],
            "102",
            "name",
        ),
        ([{"mobiles": "919876543210", "name": "A", "code": None}], "102", "code"),
        ([{"mobiles": "919876543210", "name": "A", "variables": "nope", "code": "1"}], "102", "variables"),
        ([], "101", "recipients"),
        (None, "101", "recipients"),
        ([{"name": "A", "code": "1"}], "101", "mobiles"),
        (["919876543210"], "101", "object"),
        ([{"mobiles": "12ab", "name": "A", "code": "1"}], "202", "12ab"),
        ([{"mobiles": "919876543210", "mobile": "919812345678", "name": "A", "code": "1"}], "202", "differ"),
    ],
)
def test_recipient_refusals(client, company, secret, flow, recipients, code, named):
    body = {"flow_id": flow.flow_id}
    if recipients is not None:
        body["recipients"] = recipients
    reply = post(client, secret, body).json()
    assert reply["type"] == "error" and reply["code"] == code
    assert named in reply["message"]
    _assert_nothing_stored(company, code)


def test_rule_without_sms_flow_is_refused(client, company, flow):
    rule = key_services.rule_create(
        company=company, actor=None, name="Plain SMS only", services=[Service.objects.get(code="sms-send")]
    )
    _, secret = make_key(company=company, rule=rule, ip_security=False)
    body = {"flow_id": flow.flow_id, "recipients": [{"mobiles": "919876543210", "name": "A", "code": "1"}]}
    response = post(client, secret, body)
    assert response.status_code == 401
    assert response.json()["code"] == "207" and "sms-flow" in response.json()["message"]
    _assert_nothing_stored(company, "207")


def test_invalid_key_is_401_and_recorded_without_company(client, company, flow):
    body = {"flow_id": flow.flow_id, "recipients": [{"mobiles": "919876543210", "name": "A", "code": "1"}]}
    response = post(client, "not-a-key", body)
    assert response.status_code == 401 and response.json()["code"] == "207"
    assert Message.objects.count() == 0 and FailedRequest.objects.get().company_id is None


def test_ip_security_418_comes_from_the_pipeline(client, company, flow):
    _, secret = make_key(company=company)  # IP security on, no IPs
    body = {"flow_id": flow.flow_id, "recipients": [{"mobiles": "919876543210", "name": "A", "code": "1"}]}
    reply = post(client, secret, body).json()
    assert reply["code"] == "418"
    _assert_nothing_stored(company, "418")


def test_missing_sender_is_the_pipelines_203(client, company, secret):
    no_sender = make_flow(company, sender="")
    body = {
        "flow_id": no_sender.flow_id,
        "recipients": [{"mobiles": "919876543210", "name": "A", "code": "1"}],
    }
    assert post(client, secret, body).json()["code"] == "203"
    _assert_nothing_stored(company, "203")


def test_insufficient_balance_for_one_text_refuses_the_whole_request(client, company, secret, flow):
    Company.objects.filter(pk=company.pk).update(sms_balance=2)
    body = {
        "flow_id": flow.flow_id,
        "recipients": [
            {"mobiles": "919876543210", "name": "A", "code": "1"},
            {"mobiles": "919812345678", "name": "B", "code": "2"},
            {"mobiles": "919811111111", "name": "C", "code": "3"},
        ],
    }
    reply = post(client, secret, body).json()
    assert reply["code"] == "301"
    _assert_nothing_stored(company, "301", before=2)
    # The rolled-back texts are not "duplicates" of a corrected retry.
    Company.objects.filter(pk=company.pk).update(sms_balance=3)
    assert post(client, secret, body).json()["type"] == "success"
    assert Message.objects.count() == 3 and balance(company) == 0


def test_same_request_twice_is_a_duplicate(client, company, secret, flow):
    body = {"flow_id": flow.flow_id, "recipients": [{"mobiles": "919876543210", "name": "A", "code": "1"}]}
    assert post(client, secret, body).json()["type"] == "success"
    assert post(client, secret, body).json()["code"] == "311"
    assert Message.objects.count() == 1 and balance(company) == 99


def test_get_is_not_allowed(client, secret):
    assert client.get(URL, headers={"authkey": secret}).status_code == 405


def test_invalid_json_is_refused(client, company, secret):
    response = client.post(URL, "{", content_type="application/json", headers={"authkey": secret})
    assert response.json()["code"] == "400"
    assert Message.objects.count() == 0 and FailedRequest.objects.get().code == "400"


# --- Rendering and services ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "variables", "text"),
    [
        ("##a## and ##a##", {"a": "x"}, "x and x"),
        ("No placeholders", {"extra": "ignored"}, "No placeholders"),
        ("##A1##", {"a1": 7}, "7"),
        ("##flag##", {"flag": True}, "true"),
        ("# not ## a ## placeholder", {}, "# not ## a ## placeholder"),
    ],
)
def test_render_text(template, variables, text):
    assert flows.render_text(template, variables, 1) == text


def test_placeholders():
    assert flows.placeholders(TEMPLATE + " ##name##") == ["name", "code"]


# --- Admin ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "field", "value"),
    [("approve", "status", "approved"), ("reject", "status", "rejected"), ("disable", "enabled", False)],
)
def test_admin_actions(admin_client, company, action, field, value):
    target = make_flow(company, status="pending")
    untouched = make_flow(company, status="pending")
    response = admin_client.post(
        reverse("admin:messaging_flow_changelist"), {"action": action, "_selected_action": [target.pk]}
    )
    assert response.status_code == 302
    target.refresh_from_db()
    untouched.refresh_from_db()
    assert getattr(target, field) == value
    assert (untouched.status, untouched.enabled) == ("pending", True)


def test_admin_enable_action(admin_client, company):
    target = make_flow(company, enabled=False)
    admin_client.post(
        reverse("admin:messaging_flow_changelist"), {"action": "enable", "_selected_action": [target.pk]}
    )
    target.refresh_from_db()
    assert target.enabled


def test_admin_editing_an_approved_text_needs_approval_again(admin_client, company, flow):
    data = {
        "company": company.pk,
        "name": flow.name,
        "template": "New ##name##",
        "sender": flow.sender,
        "route": flow.route,
        "enabled": "on",
    }
    response = admin_client.post(reverse("admin:messaging_flow_change", args=[flow.pk]), data)
    assert response.status_code == 302
    flow.refresh_from_db()
    assert flow.template == "New ##name##" and flow.status == "pending"


def test_admin_changelist_renders(admin_client, flow):
    response = admin_client.get(reverse("admin:messaging_flow_changelist"), {"q": flow.flow_id})
    assert response.status_code == 200 and flow.flow_id in response.content.decode()
