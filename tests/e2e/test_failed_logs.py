"""Failed Logs in a real browser (issue 5): a request from an IP that is not whitelisted is refused
with 418 and listed; the owner whitelists the IP from the row (HTMX, behind the OTP gate) and the
same request is accepted.

The API requests go over real HTTP to the live server from this machine (client IP 127.0.0.1),
through the browser context's request API."""

import json
import re

import pytest
from playwright.sync_api import Page, expect

from authkeys.models import KeyAllowedIP, SecurityEvent
from messaging.models import FailedRequest, Message
from tests.e2e.helpers import (
    LoggedMessage,
    assert_no_csp_violations,
    assert_no_page_errors,
    log_in,
    main_nav,
    pass_otp_gate,
)
from tests.factories import PASSWORD, UserFactory, make_key

pytestmark = pytest.mark.e2e

LOCAL_IP = "127.0.0.1"


def send(page: Page, secret: str) -> dict:  # type: ignore[type-arg]
    response = page.request.get(
        "/api/sendhttp.php",
        params={
            "authkey": secret,
            "mobiles": "919876543210",
            "message": "Invoice 42 is ready",
            "sender": "LEDGER",
            "route": "4",
            "response": "json",
        },
    )
    return json.loads(response.text())


def test_whitelist_an_ip_from_failed_logs_and_the_418_stops(
    page: Page, seeded_catalogue: None, sms_outbox, settings, console_messages: list[LoggedMessage]
) -> None:
    settings.AUTHKEY_LOCAL_CACHE_SECONDS = 0
    owner = UserFactory(company__name="Ledger Works Pvt Ltd", company__sms_balance=10)
    registered = owner.company.registered_mobile
    authkey, secret = make_key(owner.company, name="Billing API", ip_security=True)
    make_key(owner.company, name="Reports", ip_security=True)

    refused = send(page, secret)
    assert refused["type"] == "error" and refused["code"] == "418", refused
    row = FailedRequest.objects.get(company=owner.company)
    assert (row.code, row.client_ip, row.authkey_id) == ("418", LOCAL_IP, authkey.pk)

    log_in(page, owner.email, PASSWORD)
    main_nav(page).get_by_text("SMS", exact=True).click()
    main_nav(page).get_by_role("link", name="Failed Logs").click()
    expect(page.get_by_role("heading", name="Failed Logs")).to_be_visible()
    table_row = page.locator(f"#failed-{row.pk}")
    expect(table_row).to_contain_text(LOCAL_IP)
    expect(table_row).to_contain_text("418")
    expect(table_row).to_contain_text("Billing API")

    # The action is behind the OTP gate: it sends the owner there and back.
    table_row.get_by_role("link", name=f"Whitelist {LOCAL_IP}").click()
    expect(page).to_have_url(re.compile(r"/accounts/verify/\?next="))
    pass_otp_gate(page, sms_outbox, registered, registered)
    page.goto("/sms/failed-logs/")
    table_row = page.locator(f"#failed-{row.pk}")
    page.evaluate("window.__noReload = 1")
    table_row.get_by_role("link", name=f"Whitelist {LOCAL_IP}").click()
    target = table_row.get_by_label(f"Whitelist {LOCAL_IP} for")
    expect(target.locator("option:checked")).to_have_text("Billing API")
    table_row.get_by_role("button", name="Whitelist").click()
    expect(table_row.get_by_role("status")).to_have_text("Whitelisted for Billing API.")
    assert page.evaluate("window.__noReload") == 1, "the row was not swapped by htmx"

    assert list(KeyAllowedIP.objects.filter(authkey=authkey).values_list("network", flat=True)) == [LOCAL_IP]
    event = SecurityEvent.objects.filter(company=owner.company, kind=SecurityEvent.Kind.IP_ADDED).get()
    assert event.actor_user == owner and event.after == {"scope": "key", "key": "Billing API", "ip": LOCAL_IP}

    accepted = send(page, secret)
    assert accepted["type"] == "success", accepted
    assert Message.objects.filter(company=owner.company, request_id=accepted["message"]).exists()
    assert FailedRequest.objects.filter(company=owner.company).count() == 1

    assert_no_csp_violations(console_messages)
    assert_no_page_errors(console_messages)
