"""SMS → Sender IDs, Contact groups and Flows: scoping, roles, validation, and the API honouring
what the pages create."""

import html
import json

import pytest
from django.urls import reverse

from messaging import views_catalog
from messaging.models import BlockedSender, ContactGroup, Flow, GroupMember, Message, SenderId
from tests.factories import PASSWORD, CompanyFactory, UserFactory, make_key

pytestmark = pytest.mark.django_db


def _login(client, **kwargs):
    user = UserFactory(**kwargs)
    client.login(email=user.email, password=PASSWORD)
    return user


def _errors(response) -> str:
    return html.unescape(response.content.decode())


def _senders():
    return sorted(SenderId.objects.values_list("company_id", "sender", "status"))


def _groups():
    return (
        sorted(ContactGroup.objects.values_list("company_id", "name")),
        sorted(GroupMember.objects.values_list("group_id", "msisdn")),
    )


def _flows():
    return sorted(Flow.objects.values_list("company_id", "name", "template", "sender", "route", "status"))


# --- Sender IDs --------------------------------------------------------------------------------------


def test_member_sees_the_companys_sender_ids_only_and_no_request_form(client):
    member = _login(client, role="member")
    SenderId.objects.create(company=member.company, sender="ACMEIN", status=SenderId.Status.APPROVED)
    SenderId.objects.create(company=CompanyFactory(), sender="OTHERS")
    page = client.get(reverse("messaging:sender_ids")).content.decode()
    assert "ACMEIN" in page and "Approved" in page
    assert "OTHERS" not in page
    assert "Request a sender ID" not in page


@pytest.mark.parametrize("role", ["owner", "admin"])
def test_managers_request_a_pending_sender_id(client, role):
    user = _login(client, role=role)
    response = client.post(reverse("messaging:sender_ids"), {"sender": " acmein "})
    assert response.status_code == 302
    assert _senders() == [(user.company_id, "ACMEIN", "pending")]
    page = client.get(response["Location"]).content.decode()
    assert "Sender ID ACMEIN requested" in page and "Pending" in page


def test_member_cannot_request_a_sender_id(client):
    _login(client, role="member")
    response = client.post(reverse("messaging:sender_ids"), {"sender": "ACMEIN"})
    assert response.status_code == 403
    assert _senders() == []


@pytest.mark.parametrize(
    ("sender", "message"),
    [
        ("", "Enter a sender ID."),
        ("AB", "A sender ID has 3 to 11 letters or digits; “AB” has 2."),
        ("ACMEINDIA123", "A sender ID has 3 to 11 letters or digits; “ACMEINDIA123” has 12."),
        ("ACME IN", "A sender ID has only letters (A to Z) and digits"),
        ("ACME-IN", "A sender ID has only letters (A to Z) and digits"),
        ("ÄCMEIN", "A sender ID has only letters (A to Z) and digits"),
        ("a" * 21, "A sender ID has at most 11 characters."),
    ],
)
def test_sender_id_validation(client, sender, message):
    _login(client)
    response = client.post(reverse("messaging:sender_ids"), {"sender": sender})
    assert response.status_code == 400
    assert message in _errors(response)
    assert _senders() == []


def test_blacklisted_sender_id_is_refused(client):
    _login(client)
    BlockedSender.objects.create(sender="BANKIN")
    response = client.post(reverse("messaging:sender_ids"), {"sender": "bankin"})
    assert response.status_code == 400
    assert "The sender ID BANKIN is blacklisted and cannot be used" in _errors(response)
    assert _senders() == []


def test_duplicate_sender_id_is_refused_but_another_company_may_have_it(client):
    owner = _login(client)
    SenderId.objects.create(company=owner.company, sender="ACMEIN", status=SenderId.Status.REJECTED)
    SenderId.objects.create(company=CompanyFactory(), sender="OTHERS", status=SenderId.Status.APPROVED)
    before = _senders()
    response = client.post(reverse("messaging:sender_ids"), {"sender": "AcmeIn"})
    assert response.status_code == 400
    assert "Your company already has the sender ID ACMEIN." in _errors(response)
    assert _senders() == before
    assert client.post(reverse("messaging:sender_ids"), {"sender": "OTHERS"}).status_code == 302


def test_requested_sender_id_is_refused_by_the_api_until_staff_approve_it(client, admin_client, settings):
    settings.SMS_REQUIRE_APPROVED_SENDER = True
    owner = UserFactory()
    secret = make_key(company=owner.company, ip_security=False)[1]
    page = client.__class__()
    page.login(email=owner.email, password=PASSWORD)
    assert page.post(reverse("messaging:sender_ids"), {"sender": "ACMEIN"}).status_code == 302
    params = {"authkey": secret, "mobiles": "919876543210", "message": "Hi", "sender": "ACMEIN", "route": "4"}
    reply = page.get("/api/sendhttp.php", {**params, "response": "json"}).json()
    assert reply["type"] == "error" and reply["code"] == "203"

    requested = SenderId.objects.get(company=owner.company)
    response = admin_client.post(
        reverse("admin:messaging_senderid_changelist"),
        {"action": "approve_senders", "_selected_action": [requested.pk]},
    )
    assert response.status_code == 302
    reply = page.get("/api/sendhttp.php", {**params, "response": "json"}).json()
    assert reply["type"] == "success"
    assert "Approved" in page.get(reverse("messaging:sender_ids")).content.decode()


# --- Contact groups ----------------------------------------------------------------------------------


def _group(company, name="staff", numbers=()):
    group = ContactGroup.objects.create(company=company, name=name)
    GroupMember.objects.bulk_create([GroupMember(group=group, msisdn=n) for n in numbers])
    return group


def test_group_list_shows_member_counts_and_api_ids_of_the_company_only(client):
    member = _login(client, role="member")
    staff = _group(member.company, "staff", ["919800000001", "919800000002"])
    _group(member.company, "empty")
    _group(CompanyFactory(), "foreign group")
    page = client.get(reverse("messaging:contact_groups")).content.decode()
    assert f"<code>{staff.pk}</code></td><td>2</td>" in page
    assert "empty" in page and "foreign group" not in page
    assert "New group" not in page


def test_create_rename_delete_a_group(client):
    owner = _login(client)
    response = client.post(reverse("messaging:contact_groups"), {"name": "  Field   staff "})
    group = ContactGroup.objects.get(company=owner.company)
    assert group.name == "Field staff"
    assert response["Location"] == reverse("messaging:contact_group", args=[group.pk])
    page = client.get(response["Location"]).content.decode()
    assert f'<code id="group-id">{group.pk}</code>' in page

    response = client.post(reverse("messaging:contact_group_rename", args=[group.pk]), {"name": "Drivers"})
    assert response.status_code == 302
    assert ContactGroup.objects.get(pk=group.pk).name == "Drivers"

    assert client.get(reverse("messaging:contact_group_delete", args=[group.pk])).status_code == 200
    response = client.post(reverse("messaging:contact_group_delete", args=[group.pk]))
    assert response["Location"] == reverse("messaging:contact_groups")
    assert not ContactGroup.objects.exists()


def test_group_names_are_unique_per_company(client):
    owner = _login(client)
    _group(owner.company, "Staff")
    other = _group(owner.company, "Drivers")
    _group(CompanyFactory(), "Vendors")
    before = _groups()
    response = client.post(reverse("messaging:contact_groups"), {"name": "Staff"})
    assert response.status_code == 400 and "You already have a group named “Staff”." in _errors(response)
    response = client.post(reverse("messaging:contact_group_rename", args=[other.pk]), {"name": "Staff"})
    assert response.status_code == 400 and "You already have a group named “Staff”." in _errors(response)
    response = client.post(reverse("messaging:contact_groups"), {"name": "   "})
    assert response.status_code == 400 and "Enter a group name." in _errors(response)
    assert _groups() == before
    assert client.post(reverse("messaging:contact_groups"), {"name": "Vendors"}).status_code == 302


def test_add_members_pasted_one_per_line_or_comma_separated(client):
    owner = _login(client)
    group = _group(owner.company, numbers=["919800000001"])
    numbers = "+91 98000 00001\n9800000002, 447700900123\r\n\n00447700900124"
    response = client.post(reverse("messaging:contact_group", args=[group.pk]), {"numbers": numbers})
    assert response.status_code == 302
    assert sorted(group.members.values_list("msisdn", flat=True)) == [
        "447700900123",
        "447700900124",
        "919800000001",
        "919800000002",
    ]
    page = client.get(response["Location"]).content.decode()
    assert "3 number(s) added to “staff”; 1 already in it." in page


def test_invalid_numbers_are_named_and_nothing_is_added(client):
    owner = _login(client)
    group = _group(owner.company)
    response = client.post(
        reverse("messaging:contact_group", args=[group.pk]), {"numbers": "919800000001\nabc, 0123\n12"}
    )
    assert response.status_code == 400
    assert "Not mobile numbers: “abc”, “0123”, “12”." in _errors(response)
    assert not group.members.exists()
    response = client.post(reverse("messaging:contact_group", args=[group.pk]), {"numbers": " \n, "})
    assert response.status_code == 400 and "Enter at least one mobile number." in _errors(response)


def test_members_per_group_are_bounded_by_the_setting(client, settings):
    settings.SMS_GROUP_MAX_MEMBERS = 3
    owner = _login(client)
    group = _group(owner.company, numbers=["919800000001", "919800000002"])
    before = _groups()
    response = client.post(
        reverse("messaging:contact_group", args=[group.pk]),
        {"numbers": "919800000001,919800000003,919800000004"},
    )
    assert response.status_code == 400
    assert "A group holds at most 3 numbers: “staff” has 2, and 2 of these are new." in _errors(response)
    assert _groups() == before
    response = client.post(
        reverse("messaging:contact_group", args=[group.pk]), {"numbers": "919800000001,919800000003"}
    )
    assert response.status_code == 302 and group.members.count() == 3


def test_members_are_paginated_by_number_and_removable(client, monkeypatch):
    monkeypatch.setattr(views_catalog, "MEMBERS_PAGE_SIZE", 2)
    owner = _login(client)
    group = _group(owner.company, numbers=["919800000003", "919800000001", "919800000002"])
    url = reverse("messaging:contact_group", args=[group.pk])
    first = client.get(url).content.decode()
    assert "+919800000001" in first and "+919800000002" in first and "+919800000003" not in first
    assert "?after=919800000002" in first
    second = client.get(url, {"after": "919800000002"}).content.decode()
    assert "+919800000003" in second and "+919800000001" not in second and "Next →" not in second

    member = group.members.get(msisdn="919800000002")
    response = client.post(reverse("messaging:group_member_remove", args=[group.pk, member.pk]))
    assert response["Location"] == url
    assert sorted(group.members.values_list("msisdn", flat=True)) == ["919800000001", "919800000003"]


def _group_write_requests(group, member):
    return [
        (reverse("messaging:contact_groups"), {"name": "new"}),
        (reverse("messaging:contact_group", args=[group.pk]), {"numbers": "919800000009"}),
        (reverse("messaging:contact_group_rename", args=[group.pk]), {"name": "renamed"}),
        (reverse("messaging:contact_group_delete", args=[group.pk]), {}),
        (reverse("messaging:group_member_remove", args=[group.pk, member.pk]), {}),
    ]


def test_member_role_cannot_change_groups(client):
    user = _login(client, role="member")
    group = _group(user.company, numbers=["919800000001"])
    page = client.get(reverse("messaging:contact_group", args=[group.pk])).content.decode()
    assert "+919800000001" in page and "Add numbers" not in page and "Remove" not in page
    assert client.get(reverse("messaging:contact_group_delete", args=[group.pk])).status_code == 403
    before = _groups()
    for url, data in _group_write_requests(group, group.members.get()):
        assert client.post(url, data).status_code == 403, url
    assert _groups() == before


def test_another_companys_group_is_404(client):
    _login(client)
    foreign = _group(CompanyFactory(), numbers=["919800000001"])
    before = _groups()
    assert client.get(reverse("messaging:contact_group", args=[foreign.pk])).status_code == 404
    assert client.get(reverse("messaging:contact_group_delete", args=[foreign.pk])).status_code == 404
    for url, data in _group_write_requests(foreign, foreign.members.get())[1:]:
        assert client.post(url, data).status_code == 404, url
    assert _groups() == before


def test_member_of_another_group_is_404(client):
    owner = _login(client)
    mine = _group(owner.company)
    foreign = _group(CompanyFactory(), numbers=["919800000001"])
    url = reverse("messaging:group_member_remove", args=[mine.pk, foreign.members.get().pk])
    assert client.post(url).status_code == 404
    assert foreign.members.count() == 1


def test_group_made_on_the_page_sends_with_v2_sendsms_group_id(client):
    owner = _login(client)
    secret = make_key(company=owner.company, ip_security=False)[1]
    client.post(reverse("messaging:contact_groups"), {"name": "staff"})
    group = ContactGroup.objects.get()
    client.post(
        reverse("messaging:contact_group", args=[group.pk]), {"numbers": "919800000001\n447700900123"}
    )
    body = {"group_id": str(group.pk), "message": "Hi", "sender": "ACMEIN", "route": "4"}
    reply = client.post(
        "/api/v2/sendsms", json.dumps(body), content_type="application/json", headers={"authkey": secret}
    ).json()
    assert reply["type"] == "success", reply
    message = Message.objects.get(request_id=reply["message"])
    assert sorted(message.recipients.values_list("msisdn", flat=True)) == ["447700900123", "919800000001"]

    other_secret = make_key(company=CompanyFactory(), ip_security=False)[1]
    reply = client.post(
        "/api/v2/sendsms",
        json.dumps(body),
        content_type="application/json",
        headers={"authkey": other_secret},
    ).json()
    assert reply["type"] == "error" and reply["code"] == "309"


# --- Flows -------------------------------------------------------------------------------------------

FLOW = {"name": "OTP", "template": "Hi ##name##, your code is ##code##.", "sender": "acmein", "route": "4"}


def _flow(company, **fields):
    return Flow.objects.create(company=company, **{**FLOW, "sender": "ACMEIN", **fields})


def test_flow_list_shows_the_companys_flows_with_status_and_id(client):
    member = _login(client, role="member")
    mine = _flow(member.company, status=Flow.Status.APPROVED)
    foreign = _flow(CompanyFactory(), name="Foreign flow")
    page = client.get(reverse("messaging:flows")).content.decode()
    assert mine.flow_id in page and "Approved" in page
    assert foreign.flow_id not in page and "Foreign flow" not in page
    assert "New flow" not in page


def test_create_a_flow_pending_with_its_variables_and_curl_example(client):
    owner = _login(client)
    response = client.post(reverse("messaging:flows"), FLOW)
    flow = Flow.objects.get()
    assert response["Location"] == reverse("messaging:flow", args=[flow.pk])
    assert (flow.company_id, flow.status, flow.sender, flow.route) == (
        owner.company_id,
        "pending",
        "ACMEIN",
        "4",
    )
    page = html.unescape(client.get(response["Location"]).content.decode())
    assert "<code>name</code>, <code>code</code>" in page
    assert f'"flow_id": "{flow.flow_id}"' in page and "http://testserver/api/v5/flow/" in page
    assert '"mobiles": "919876543210", "name": "…", "code": "…"' in page


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"name": ""}, "Enter a name for the flow."),
        ({"template": ""}, "Enter the template text."),
        ({"template": "Hi ##first name##"}, "“##first” is not a variable: write ##name##"),
        ({"template": "Hi ##name"}, "“##name” is not a variable"),
        ({"sender": "AB"}, "A sender ID has 3 to 11 letters or digits; “AB” has 2."),
        ({"route": "9"}, "Select a valid choice."),
    ],
)
def test_flow_validation(client, fields, message):
    _login(client)
    response = client.post(reverse("messaging:flows"), {**FLOW, **fields})
    assert response.status_code == 400
    assert message in _errors(response)
    assert _flows() == []


def test_flow_is_editable_until_approved_and_editing_asks_for_approval_again(client):
    owner = _login(client)
    flow = _flow(owner.company, status=Flow.Status.REJECTED)
    url = reverse("messaging:flow", args=[flow.pk])
    response = client.post(url, {**FLOW, "template": "Hello ##name##", "sender": ""})
    assert response["Location"] == url
    flow.refresh_from_db()
    assert (flow.template, flow.sender, flow.status) == ("Hello ##name##", "", "pending")

    Flow.objects.filter(pk=flow.pk).update(status=Flow.Status.APPROVED)
    page = client.get(url).content.decode()
    assert "An approved flow cannot be edited" in page and 'name="template"' not in page
    before = _flows()
    response = client.post(url, {**FLOW, "template": "Changed ##name##"})
    assert response.status_code == 400
    assert "An approved flow cannot be changed; create a new flow instead." in _errors(response)
    assert _flows() == before


def test_member_cannot_create_or_edit_flows(client):
    member = _login(client, role="member")
    flow = _flow(member.company)
    page = client.get(reverse("messaging:flow", args=[flow.pk])).content.decode()
    assert flow.flow_id in page and 'name="template"' not in page
    before = _flows()
    assert client.post(reverse("messaging:flows"), FLOW).status_code == 403
    assert client.post(reverse("messaging:flow", args=[flow.pk]), FLOW).status_code == 403
    assert _flows() == before


def test_another_companys_flow_is_404(client):
    _login(client)
    foreign = _flow(CompanyFactory())
    before = _flows()
    assert client.get(reverse("messaging:flow", args=[foreign.pk])).status_code == 404
    assert client.post(reverse("messaging:flow", args=[foreign.pk]), FLOW).status_code == 404
    assert _flows() == before


def test_flow_made_on_the_page_is_refused_by_the_api_until_approved_then_sends(client, admin_client):
    owner = UserFactory()
    secret = make_key(company=owner.company, ip_security=False)[1]
    page = client.__class__()
    page.login(email=owner.email, password=PASSWORD)
    page.post(reverse("messaging:flows"), FLOW)
    flow = Flow.objects.get()
    body = {
        "flow_id": flow.flow_id,
        "recipients": [{"mobiles": "919876543210", "name": "Asha", "code": "42"}],
    }

    def send():
        return page.post(
            "/api/v5/flow/", json.dumps(body), content_type="application/json", headers={"authkey": secret}
        ).json()

    reply = send()
    assert reply["type"] == "error" and reply["code"] == "401"
    response = admin_client.post(
        reverse("admin:messaging_flow_changelist"), {"action": "approve", "_selected_action": [flow.pk]}
    )
    assert response.status_code == 302
    reply = send()
    assert reply["type"] == "success", reply
    message = Message.objects.get(request_id=reply["message"])
    assert (message.text, message.sender) == ("Hi Asha, your code is 42.", "ACMEIN")


def test_flow_approved_while_being_edited_is_not_changed():
    from django.core.exceptions import ValidationError

    from messaging import services

    company = CompanyFactory()
    stale = _flow(company)
    Flow.objects.filter(pk=stale.pk).update(status=Flow.Status.APPROVED)  # staff approve meanwhile
    before = _flows()
    with pytest.raises(ValidationError, match="An approved flow cannot be changed"):
        services.flow_save(company=company, flow=stale, **{**FLOW, "template": "Changed"})
    with pytest.raises(ValidationError, match="another company"):
        services.flow_save(company=CompanyFactory(), flow=stale, **FLOW)
    assert _flows() == before
