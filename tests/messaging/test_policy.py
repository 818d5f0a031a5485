"""Sending policy (messaging/policy.py) through MSG91 sendhttp.php: sender IDs, routes, DLT,
hard-block keywords and contact groups. Every refusal changes nothing but a Failed Logs row."""

import pytest
from django.urls import reverse

from accounts.models import Company
from authkeys import auth
from messaging import policy
from messaging.models import (
    BlockedKeyword,
    BlockedSender,
    CompanyRouting,
    ContactGroup,
    FailedRequest,
    GroupMember,
    Message,
    Recipient,
    Route,
    SenderId,
)
from tests.factories import CompanyFactory, make_key

pytestmark = pytest.mark.django_db

URL = "/api/sendhttp.php"


@pytest.fixture(autouse=True)
def _fresh_policy(settings):
    settings.AUTHKEY_LOCAL_CACHE_SECONDS = 0
    auth._local.clear()
    policy.forget()
    yield
    policy.forget()  # rolled-back rows send no signals: never leak a cached table to other tests


@pytest.fixture
def company():
    return CompanyFactory(sms_balance=100)


@pytest.fixture
def secret(company):
    return make_key(company=company, ip_security=False)[1]


def params(secret, **overrides):
    base = {
        "authkey": secret,
        "mobiles": "919876543210",
        "message": "Hello there",
        "sender": "ACMEIN",
        "route": "4",
        "response": "json",
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def _dlt_route(**flags):
    return Route.objects.create(code="dltroute", requires_dlt=True, **flags)


def _setup_unapproved_sender(company, settings):
    settings.SMS_REQUIRE_APPROVED_SENDER = True
    SenderId.objects.create(company=company, sender="ACMEIN", status=SenderId.Status.PENDING)
    SenderId.objects.create(company=CompanyFactory(), sender="ACMEIN", status=SenderId.Status.APPROVED)
    return {}


def _setup_blocked_sender(company, settings):
    SenderId.objects.create(company=company, sender="ACMEIN", status=SenderId.Status.APPROVED)
    BlockedSender.objects.create(sender="acmein")
    return {}


def _setup_no_default_route(company, settings):
    settings.SMS_DEFAULT_ROUTE = "nosuchroute"
    return {"route": None}


def _setup_company_default_deleted(company, settings):
    CompanyRouting.objects.create(company=company, default_route=None)
    Route.objects.filter(code="transactional").delete()
    return {"route": ""}


def _setup_unknown_route(company, settings):
    return {"route": "9"}


def _setup_unavailable_route(company, settings):
    Route.objects.filter(code="promotional").update(available=False)
    return {"route": "1"}


def _setup_disabled_route(company, settings):
    Route.objects.filter(code="transactional").update(enabled=False)
    return {"route": "transactional"}


def _setup_dlt_template_missing(company, settings):
    _dlt_route()
    CompanyRouting.objects.create(company=company, dlt_entity_id="1201159100000000001")
    return {"route": "dltroute"}


def _setup_dlt_entity_missing(company, settings):
    _dlt_route()
    return {"route": "dltroute", "DLT_TE_ID": "1207161000000000001"}


def _setup_keyword(company, settings):
    BlockedKeyword.objects.create(keyword="Lottery")
    return {"message": "You won the LOTTERY! Claim now"}


def _setup_foreign_group(company, settings):
    other = ContactGroup.objects.create(company=CompanyFactory(), name="theirs")
    GroupMember.objects.create(group=other, msisdn="919800000001")
    return {"group_id": str(other.pk)}


def _setup_unknown_group(company, settings):
    return {"group_id": "999999,abc"}


@pytest.mark.parametrize(
    ("setup", "code", "reason"),
    [
        (_setup_unapproved_sender, "203", "Sender ID ACMEIN is not approved"),
        (_setup_blocked_sender, "603", "Sender ID ACMEIN is blacklisted"),
        (_setup_no_default_route, "209", "no default route"),
        (_setup_company_default_deleted, "209", "no default route"),
        (_setup_unknown_route, "210", "Unknown route '9'"),
        (_setup_unavailable_route, "306", "currently unavailable"),
        (_setup_disabled_route, "602", "disabled"),
        (_setup_dlt_template_missing, "211", "DLT_TE_ID"),
        (_setup_dlt_entity_missing, "203", "DLT Entity Id Missing"),
        (_setup_keyword, "402", "hard block keywords"),
        (_setup_foreign_group, "309", "does not belong"),
        (_setup_unknown_group, "309", "Invalid group id"),
    ],
)
def test_policy_refusals_change_nothing(client, company, secret, settings, setup, code, reason):
    overrides = setup(company, settings)
    reply = client.get(URL, params(secret, **overrides)).json()
    assert reply["type"] == "error" and reply["code"] == code
    assert reason in reply["message"]
    assert Message.objects.count() == 0 and Recipient.objects.count() == 0
    assert Company.objects.get(pk=company.pk).sms_balance == 100
    failed = FailedRequest.objects.get()
    assert failed.code == code and failed.company_id == company.pk


@pytest.mark.parametrize(
    ("route_param", "stored"),
    [("4", "transactional"), ("1", "promotional"), ("PROMOTIONAL", "promotional"), (None, "transactional")],
)
def test_routes_resolve_by_number_name_or_default(client, secret, route_param, stored):
    reply = client.get(URL, params(secret, route=route_param)).json()
    assert reply["type"] == "success"
    assert Message.objects.get().route == stored


def test_company_default_route_is_used_when_none_given(client, company, secret):
    CompanyRouting.objects.create(company=company, default_route=Route.objects.get(code="promotional"))
    assert client.get(URL, params(secret, route=None)).json()["type"] == "success"
    assert Message.objects.get().route == "promotional"


def test_dlt_route_with_template_and_entity_sends(client, company, secret):
    _dlt_route()
    CompanyRouting.objects.create(company=company, dlt_entity_id="1201159100000000001")
    reply = client.get(URL, params(secret, route="dltroute", DLT_TE_ID="1207161000000000001")).json()
    assert reply["type"] == "success" and Message.objects.get().route == "dltroute"


def test_approved_sender_sends_when_approval_is_required(client, company, secret, settings):
    settings.SMS_REQUIRE_APPROVED_SENDER = True
    SenderId.objects.create(company=company, sender="acmein", status=SenderId.Status.APPROVED)
    assert client.get(URL, params(secret)).json()["type"] == "success"


@pytest.mark.parametrize(
    "text", ["lotteryticket draws", "the lottery_x club", "Call 1lottery", "Hello there"]
)
def test_keywords_match_whole_words_only(client, secret, text):
    BlockedKeyword.objects.create(keyword="lottery")
    assert client.get(URL, params(secret, message=text)).json()["type"] == "success"


def test_keyword_cache_follows_deletion(client, secret):
    keyword = BlockedKeyword.objects.create(keyword="casino")
    assert client.get(URL, params(secret, message="casino night")).json()["code"] == "402"
    keyword.delete()
    assert client.get(URL, params(secret, message="casino night")).json()["type"] == "success"


def test_groups_add_their_numbers_to_the_recipients(client, company, secret):
    first = ContactGroup.objects.create(company=company, name="staff")
    second = ContactGroup.objects.create(company=company, name="vip")
    GroupMember.objects.bulk_create(
        [
            GroupMember(group=first, msisdn="919800000001"),
            GroupMember(group=first, msisdn="919876543210"),  # also in mobiles: sent once
            GroupMember(group=second, msisdn="447700900123"),
        ]
    )
    reply = client.get(URL, params(secret, group_id=f"{first.pk}, {second.pk}")).json()
    assert reply["type"] == "success"
    message = Message.objects.get()
    assert sorted(message.recipients.values_list("msisdn", flat=True)) == [
        "447700900123",
        "919800000001",
        "919876543210",
    ]
    assert message.credits == 3 and Company.objects.get(pk=company.pk).sms_balance == 97


def test_group_alone_without_mobiles(client, company, secret):
    group = ContactGroup.objects.create(company=company, name="staff")
    GroupMember.objects.create(group=group, msisdn="919800000001")
    reply = client.get(URL, params(secret, mobiles=None, group_id=str(group.pk))).json()
    assert reply["type"] == "success"
    assert list(Message.objects.get().recipients.values_list("msisdn", flat=True)) == ["919800000001"]


@pytest.mark.parametrize(
    "name",
    [
        "admin:messaging_senderid_changelist",
        "admin:messaging_blockedsender_changelist",
        "admin:messaging_route_changelist",
        "admin:messaging_companyrouting_changelist",
        "admin:messaging_blockedkeyword_changelist",
        "admin:messaging_contactgroup_changelist",
    ],
)
def test_policy_changelists_render(admin_client, name):
    assert admin_client.get(reverse(name), {"q": "x"}).status_code == 200


def test_admin_approves_sender_ids(admin_client, company):
    sender = SenderId.objects.create(company=company, sender="ACMEIN")
    admin_client.post(
        reverse("admin:messaging_senderid_changelist"),
        {"action": "approve_senders", "_selected_action": [sender.pk]},
    )
    sender.refresh_from_db()
    assert sender.status == SenderId.Status.APPROVED


def test_admin_group_members_are_normalised(admin_client, company):
    response = admin_client.post(
        reverse("admin:messaging_contactgroup_add"),
        {
            "company": company.pk,
            "name": "staff",
            "members-TOTAL_FORMS": "2",
            "members-INITIAL_FORMS": "0",
            "members-0-msisdn": "+91 98765-43210",
            "members-1-msisdn": "9812345678",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert sorted(GroupMember.objects.values_list("msisdn", flat=True)) == ["919812345678", "919876543210"]


def test_sender_blacklisted_in_the_admin_is_refused_at_once(admin_client, client, secret):
    assert client.get(URL, params(secret, message="First")).json()["type"] == "success"
    response = admin_client.post(
        reverse("admin:messaging_blockedsender_add"), {"sender": "acmein", "reason": ""}
    )
    assert response.status_code == 302
    assert client.get(URL, params(secret, message="Second")).json()["code"] == "603"
