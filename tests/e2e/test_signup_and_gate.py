"""Sign up, log out and in, and pass the mobile OTP gate in a real browser."""

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.helpers import (
    LoggedMessage,
    artifact_path,
    assert_no_csp_violations,
    assert_no_page_errors,
    query_param,
    texted_code,
)
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.e2e

COMPANY = "Acme Messaging Pvt Ltd"
OWNER_EMAIL = "owner@acme.example"
STRONG_PASSWORD = "Vq7!harbour-Lantern-92"
REGISTERED_E164 = "+919876543210"

GATE_URL = re.compile(r"/accounts/verify/\?next=(/|%2F)authkey(/|%2F)$")
VERIFY_URL = re.compile(r"/accounts/verify/code/(\?.*)?$")


def nav(page: Page):  # type: ignore[no-untyped-def]
    return page.get_by_role("navigation", name="Main")


def log_in(page: Page, email: str, password: str) -> None:
    page.goto("/accounts/login/")
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    page.locator('[name="username"]').fill(email)
    page.locator('[name="password"]').fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/dashboard/$"))


def open_authkey_expecting_gate(page: Page) -> None:
    nav(page).get_by_role("link", name="Authkey", exact=True).click()
    expect(page).to_have_url(GATE_URL)
    assert query_param(page.url, "next") == "/authkey/"
    expect(page.get_by_role("heading", name="Verify your registered mobile")).to_be_visible()


def request_code(page: Page, typed_mobile: str) -> None:
    page.locator('[name="mobile"]').fill(typed_mobile)
    page.get_by_role("button", name="Send code").click()


def test_sign_up_log_in_and_pass_the_gate(
    page: Page, sms_outbox, console_messages: list[LoggedMessage], request: pytest.FixtureRequest
) -> None:
    # 1. Sign up: the registered mobile is typed the way people write it, with spaces.
    page.goto("/accounts/signup/")
    expect(page.get_by_role("heading", name="Create your company account")).to_be_visible()
    page.locator('[name="company_name"]').fill(COMPANY)
    page.locator('[name="registered_mobile"]').fill("+91 98765 43210")
    page.locator('[name="registered_email"]').fill("alerts@acme.example")
    page.locator('[name="full_name"]').fill("Asha Rao")
    page.locator('[name="email"]').fill(OWNER_EMAIL)
    page.locator('[name="password1"]').fill(STRONG_PASSWORD)
    page.locator('[name="password2"]').fill(STRONG_PASSWORD)
    page.get_by_role("button", name="Create account").click()

    expect(page).to_have_url(re.compile(r"/dashboard/$"))
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    expect(page.locator(".tile").filter(has_text="Company").locator(".value")).to_have_text(COMPANY)
    expect(page.locator(".who")).to_contain_text(OWNER_EMAIL)

    # 2. Log out, then log back in with the new credentials.
    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(re.compile(r"/accounts/login/$"))
    expect(page.get_by_role("button", name="Log out")).to_have_count(0)
    log_in(page, OWNER_EMAIL, STRONG_PASSWORD)
    expect(page.locator(".tile").filter(has_text="Company").locator(".value")).to_have_text(COMPANY)

    # 3. The Authkey page is behind the gate; the mobile is typed in national notation.
    open_authkey_expecting_gate(page)
    assert sms_outbox == []
    request_code(page, "9876543210")
    expect(page).to_have_url(VERIFY_URL)
    assert query_param(page.url, "next") == "/authkey/"
    expect(page.get_by_role("heading", name="Enter the code")).to_be_visible()
    expect(page.get_by_role("status")).to_contain_text("+91•••••••210")

    code = texted_code(sms_outbox, REGISTERED_E164)
    assert len(sms_outbox) == 1
    assert sms_outbox[-1].to == REGISTERED_E164
    assert sms_outbox[-1].sensitive
    page.locator('[name="code"]').fill(code)
    page.get_by_role("button", name="Verify").click()

    expect(page).to_have_url(re.compile(r"/authkey/$"))
    expect(page.get_by_role("heading", name="Authkey", exact=True)).to_be_visible()
    expect(page.get_by_role("status")).to_contain_text("Verified")
    page.screenshot(path=artifact_path(request.config, "authkey_page"), full_page=True)

    # The dashboard now shows the verified window.
    nav(page).get_by_role("link", name="Dashboard", exact=True).click()
    expect(page).to_have_url(re.compile(r"/dashboard/$"))
    expect(page.locator(".tile").filter(has_text="Security pages")).to_contain_text(
        re.compile(r"Verified \(\d+ s left\)")
    )
    page.screenshot(path=artifact_path(request.config, "dashboard_page"), full_page=True)

    assert_no_csp_violations(console_messages)
    assert_no_page_errors(console_messages)


def test_gate_refuses_another_mobile_and_a_wrong_code(
    page: Page, sms_outbox, console_messages: list[LoggedMessage]
) -> None:
    user = UserFactory(company__name="Wrong Turn Ltd")
    registered = user.company.registered_mobile
    log_in(page, user.email, PASSWORD)
    open_authkey_expecting_gate(page)

    # A valid Indian mobile that is not the registered one: refused, nothing texted.
    request_code(page, "98123 45678")
    expect(page.get_by_role("alert")).to_contain_text("not the registered mobile")
    expect(page).to_have_url(GATE_URL)
    assert sms_outbox == []

    # The registered mobile gets a code; a different 6-digit code is refused.
    request_code(page, registered)
    expect(page).to_have_url(VERIFY_URL)
    code = texted_code(sms_outbox, registered)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    page.locator('[name="code"]').fill(wrong)
    page.get_by_role("button", name="Verify").click()

    expect(page.get_by_role("alert")).to_contain_text("That code is not correct")
    expect(page).to_have_url(VERIFY_URL)
    expect(page.get_by_role("heading", name="Enter the code")).to_be_visible()

    # Still not verified: the Authkey page keeps sending us to the gate.
    open_authkey_expecting_gate(page)

    assert_no_csp_violations(console_messages)
    assert_no_page_errors(console_messages)
