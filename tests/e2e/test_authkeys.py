"""The Authkey section in a real browser, as the help articles describe it.

Seed 000 "Where can I find my authentication key?": Authkey in the nav → OTP gate with the
registered mobile → Create New (a name without special characters, "Where are you integrating",
a rule, IP security on, whitelist IPs) → the key is shown once with a copy button → the list
shows the prefix only; the status and IP security switches.

Seed 001 "What do you mean by API Security?": the arrow opens the key's IP security panel (switch,
the key's whitelisted IPs, IPv4 and IPv6, the company's whitelisted IPs at the bottom); a request
from another IP is refused with 418 (Refusal.IP_NOT_ALLOWED); Recent IPs whitelists one with +;
every change is in the security log.

The live server runs in this process, so the test checks what the API would decide with
authkeys.auth.authenticate_key directly, with the per-process grant memo switched off.
"""

import re

import pytest
from playwright.sync_api import Locator, Page, expect

from authkeys.auth import Refusal, authenticate_key
from authkeys.models import AuthKey, CompanyAllowedIP, KeyAllowedIP, RecentIP
from authkeys.services import recent_ip_record
from tests.e2e.helpers import (
    LoggedMessage,
    artifact_path,
    assert_no_csp_violations,
    assert_no_page_errors,
    log_in,
    main_nav,
    pass_otp_gate,
)
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.e2e

KEY_NAME = "Billing API"
USE_CASE = "Billing system"
KEY_IP = "203.0.113.10"
OTHER_IP = "198.51.100.7"  # sends requests with the key and is refused with 418 until whitelisted
IPV6_TYPED, IPV6_CANONICAL = "2001:DB8:0:0::1", "2001:db8::1"
RANGE = "192.0.2.0/24"
COMPANY_IP = "192.0.2.146"  # the seed's example, which it writes as "192.0. 2.146"
NO_RELOAD = "window.__noReload"


def refusal(secret: str, ip: str) -> Refusal | None:
    return authenticate_key(secret, ip).refusal


def set_reload_marker(page: Page) -> None:
    """A full page load would drop this marker; HTMX swaps keep it."""
    page.evaluate(f"{NO_RELOAD} = 1")


def assert_not_reloaded(page: Page) -> None:
    assert page.evaluate(NO_RELOAD) == 1, "the page was reloaded instead of swapped by htmx"


def switch(scope: Locator, label: str) -> Locator:
    """An on/off switch button; its name ends with e.g. "IP security of Billing API"."""
    return scope.get_by_role("switch", name=re.compile(rf"{re.escape(label)} of {re.escape(KEY_NAME)}$"))


def flip(page: Page, scope: Locator, label: str, *, to: bool, state_text: str) -> None:
    button = switch(scope, label)
    expect(button).to_have_attribute("aria-checked", "false" if to else "true")
    button.click()
    expect(button).to_have_attribute("aria-checked", "true" if to else "false")
    expect(button).to_contain_text(state_text)
    assert_not_reloaded(page)


def test_create_a_key_and_secure_it_with_whitelisted_ips(
    page: Page,
    seeded_catalogue: None,  # the built-in "All services" rule
    sms_outbox,
    settings,
    console_messages: list[LoggedMessage],
    request: pytest.FixtureRequest,
) -> None:
    settings.AUTHKEY_LOCAL_CACHE_SECONDS = 0  # every authenticate_key sees the current state
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.on("dialog", lambda dialog: dialog.accept())
    owner = UserFactory(company__name="Ledger Works Pvt Ltd")
    company = owner.company
    registered = company.registered_mobile  # +91987650xxxx
    typed_mobile = f"{registered[3:8]} {registered[8:]}"  # as people write it: 98765 0xxxx

    # --- Seed 000, steps 1-2: log in, Authkey in the nav, the OTP gate --------------------------
    log_in(page, owner.email, PASSWORD)
    main_nav(page).get_by_role("link", name="Authkey", exact=True).click()
    expect(page).to_have_url(re.compile(r"/accounts/verify/\?next="))
    pass_otp_gate(page, sms_outbox, typed_mobile, registered)
    expect(page).to_have_url(re.compile(r"/authkey/$"))
    expect(page.get_by_role("heading", name="Authkey", exact=True)).to_be_visible()
    expect(page.get_by_text("No keys yet.")).to_be_visible()

    # --- Steps 3-4: Create New; a name with a special character is refused ----------------------
    page.get_by_role("link", name="Create New").click()
    expect(page.get_by_role("heading", name="Create authkey")).to_be_visible()
    expect(page.get_by_label("Rule")).to_have_value(re.compile(r"\d+"))
    expect(page.get_by_label("Rule").locator("option:checked")).to_have_text("All services")
    expect(page.get_by_label("IP security", exact=True)).to_be_checked()
    page.get_by_label("Name", exact=True).fill("Billing API!")
    page.get_by_label("Where are you integrating").fill(USE_CASE)
    page.get_by_label("Whitelist IPs (optional)").fill(KEY_IP)
    page.get_by_role("button", name="Create", exact=True).click()
    expect(page.get_by_role("alert")).to_contain_text("no special characters")
    assert not AuthKey.objects.filter(company=company).exists()
    # The other answers are kept; fix the name and create.
    expect(page.get_by_label("Where are you integrating")).to_have_value(USE_CASE)
    expect(page.get_by_label("Whitelist IPs (optional)")).to_have_value(KEY_IP)
    expect(page.get_by_label("IP security", exact=True)).to_be_checked()
    page.get_by_label("Name", exact=True).fill(KEY_NAME)
    page.get_by_role("button", name="Create", exact=True).click()

    # --- Step 5: the key is shown once, with a copy button ---------------------------------------
    expect(page.get_by_role("heading", name="Key created")).to_be_visible()
    secret = page.locator("#new-authkey").inner_text().strip()
    assert re.fullmatch(r"smsp_[0-9A-Za-z]{38}", secret), secret
    copy = page.get_by_role("button", name="Copy")
    copy.click()
    expect(page.locator(".secret-box button")).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == secret

    key = AuthKey.objects.get(company=company)
    assert (key.name, key.use_case, key.ip_security, key.enabled) == (KEY_NAME, USE_CASE, True, True)
    assert key.rule.name == "All services"
    assert secret.startswith(key.display_prefix)
    assert list(KeyAllowedIP.objects.filter(authkey=key).values_list("network", flat=True)) == [KEY_IP]
    assert authenticate_key(secret, KEY_IP).ok
    assert refusal(secret, OTHER_IP) == Refusal.IP_NOT_ALLOWED

    # --- The list: the prefix only; the HTMX switches ---------------------------------------------
    page.get_by_role("link", name="Back to Authkey").click()
    expect(page).to_have_url(re.compile(r"/authkey/$"))
    row = page.locator(f"#key-{key.pk}")
    expect(row).to_contain_text(KEY_NAME)
    expect(row.locator("code.prefix")).to_have_text(f"{key.display_prefix}…")
    expect(row).to_contain_text(USE_CASE)
    expect(row).to_contain_text("1 IP")
    expect(page.locator("body")).not_to_contain_text(secret)
    set_reload_marker(page)

    flip(page, row, "IP security", to=False, state_text="Off")
    key.refresh_from_db()
    assert not key.ip_security
    assert authenticate_key(secret, OTHER_IP).ok  # IP security off: any IP

    flip(page, row, "Authkey status", to=False, state_text="Disabled")
    expect(row).to_have_class(re.compile(r"\binactive\b"))
    key.refresh_from_db()
    assert not key.enabled
    assert refusal(secret, KEY_IP) == Refusal.DISABLED

    flip(page, row, "Authkey status", to=True, state_text="Enabled")
    expect(row).not_to_have_class(re.compile(r"\binactive\b"))
    key.refresh_from_db()
    assert key.enabled
    assert authenticate_key(secret, KEY_IP).ok
    expect(switch(row, "IP security")).to_have_attribute("aria-checked", "false")  # unchanged

    # --- Seed 001, step 3: the arrow opens the IP security panel ---------------------------------
    row.get_by_role("link", name=f"IP security of {KEY_NAME}").click()
    expect(page).to_have_url(re.compile(rf"/authkey/{key.pk}/ips/$"))
    expect(page.get_by_role("heading", name=re.compile(rf"IP security · {KEY_NAME}"))).to_be_visible()
    expect(page.locator("#ip-security-switch")).to_contain_text("IP security is off")
    set_reload_marker(page)
    # "We strongly recommend you to keep it enabled": switch it back on in the panel.
    flip(page, page.locator("#ip-security-switch"), "IP security", to=True, state_text="On")
    expect(page.locator("#ip-security-switch")).not_to_contain_text("IP security is off")
    key.refresh_from_db()
    assert key.ip_security
    assert refusal(secret, OTHER_IP) == Refusal.IP_NOT_ALLOWED

    # Whitelist an IPv6 address (typed in a long form) and an IPv4 range at once.
    key_section = page.locator("#key-ip-section")
    key_input = key_section.get_by_label("IP address(es)")
    key_input.fill(f"{IPV6_TYPED}, {RANGE}")
    key_section.get_by_role("button", name="Whitelist").click()
    expect(key_section.get_by_role("status")).to_have_text(f"Whitelisted: {IPV6_CANONICAL}, {RANGE}.")
    key_ips = key_section.locator("table.ips code")
    expect(key_ips).to_have_text([KEY_IP, IPV6_CANONICAL, RANGE])
    expect(key_input).to_have_value("")
    assert_not_reloaded(page)
    assert authenticate_key(secret, IPV6_CANONICAL).ok
    assert authenticate_key(secret, "192.0.2.77").ok

    # A bad entry is refused and named; nothing is added.
    key_section.get_by_label("IP address(es)").fill("192.0.2.256")
    key_section.get_by_role("button", name="Whitelist").click()
    expect(key_section.get_by_role("alert")).to_contain_text("“192.0.2.256”")
    expect(key_section.get_by_role("alert")).to_contain_text("between 0 and 255")
    expect(key_section.get_by_label("IP address(es)")).to_have_value("192.0.2.256")
    expect(key_ips).to_have_count(3)
    assert KeyAllowedIP.objects.filter(authkey=key).count() == 3
    assert_not_reloaded(page)

    # Delete the range (HTMX; a confirmation, if any, is accepted).
    key_section.get_by_role("button", name=f"Delete {RANGE}").click()
    expect(key_ips).to_have_text([KEY_IP, IPV6_CANONICAL])
    assert not KeyAllowedIP.objects.filter(authkey=key, network=RANGE).exists()
    assert refusal(secret, "192.0.2.77") == Refusal.IP_NOT_ALLOWED
    assert_not_reloaded(page)

    # Step 4: the company's whitelisted IPs at the bottom apply to every key. The seed's own way
    # of writing the example, with a space, is refused by name; then the address is whitelisted.
    company_section = page.locator("#company-ip-section")
    expect(company_section).to_contain_text("No IPs whitelisted for the company.")
    company_section.get_by_label("IP address(es)").fill("192.0. 2.146")
    company_section.get_by_role("button", name="Whitelist for all keys").click()
    expect(company_section.get_by_role("alert")).to_contain_text(
        "“192.0. 2.146”: an IP address has no spaces"
    )
    assert refusal(secret, COMPANY_IP) == Refusal.IP_NOT_ALLOWED
    company_section.get_by_label("IP address(es)").fill(COMPANY_IP)
    company_section.get_by_role("button", name="Whitelist for all keys").click()
    expect(company_section.get_by_role("status")).to_have_text(f"Whitelisted for the company: {COMPANY_IP}.")
    expect(company_section.locator("table.ips code")).to_have_text([COMPANY_IP])
    assert list(CompanyAllowedIP.objects.filter(company=company).values_list("network", flat=True)) == [
        COMPANY_IP
    ]
    assert authenticate_key(secret, COMPANY_IP).ok
    assert_not_reloaded(page)

    # --- Recent IPs: the refused IP is whitelisted with + ----------------------------------------
    recent_ip_record(company_id=company.pk, ip=OTHER_IP, authkey_id=key.pk, accepted=False, code="418")
    recent = RecentIP.objects.get(company=company, ip=OTHER_IP)
    page.get_by_role("link", name="← Authkey").click()
    page.get_by_role("navigation", name="Authkey section").get_by_role("link", name="Recent IPs").click()
    expect(page.get_by_role("heading", name="Recent IPs")).to_be_visible()
    recent_row = page.locator(f"#recent-ip-{recent.pk}")
    expect(recent_row).to_contain_text(OTHER_IP)
    expect(recent_row).to_contain_text("Rejected · 418")
    expect(recent_row).to_contain_text(KEY_NAME)
    set_reload_marker(page)

    recent_row.get_by_role("link", name=f"Whitelist {OTHER_IP}").click()
    target = recent_row.get_by_label(f"Whitelist {OTHER_IP} for")
    expect(target).to_be_visible()
    target.select_option(label=KEY_NAME)
    recent_row.get_by_role("button", name="Whitelist", exact=True).click()
    expect(recent_row.get_by_role("status")).to_have_text(f"Whitelisted for {KEY_NAME}.")
    expect(recent_row.get_by_label(f"Whitelist {OTHER_IP} for")).to_have_count(0)
    assert_not_reloaded(page)
    assert KeyAllowedIP.objects.filter(authkey=key, network=OTHER_IP).exists()
    assert authenticate_key(secret, OTHER_IP).ok
    # The viewport only: a full-page capture right after an htmx swap can make this chromium
    # report a spurious CSP violation. The other screenshots are taken at the end.
    page.screenshot(path=artifact_path(request.config, "authkey_recent_ip_whitelisted"))

    # --- The security log lists every change ------------------------------------------------------
    main_nav(page).locator("summary", has_text="Settings").click()
    main_nav(page).get_by_role("link", name="Security log").click()
    expect(page.get_by_role("heading", name="Security log")).to_be_visible()
    log = page.locator("table.security-log tbody")

    def logged(kind: str, target: str) -> Locator:
        return (
            log.locator("tr")
            .filter(has=page.get_by_role("cell", name=kind, exact=True))
            .filter(has=page.get_by_role("cell", name=target, exact=True))
        )

    for kind, target, count in [
        ("Key created", KEY_NAME, 1),
        ("IP added", f"{KEY_NAME}: {KEY_IP}", 1),
        ("IP added", f"{KEY_NAME}: {IPV6_CANONICAL}", 1),
        ("IP added", f"{KEY_NAME}: {RANGE}", 1),
        ("IP deleted", f"{KEY_NAME}: {RANGE}", 1),
        ("IP added", f"Company: {COMPANY_IP}", 1),
        ("IP added", f"{KEY_NAME}: {OTHER_IP}", 1),
        ("IP security disabled", KEY_NAME, 1),
        ("IP security enabled", KEY_NAME, 1),
        ("Key disabled", KEY_NAME, 1),
        ("Key enabled", KEY_NAME, 1),
    ]:
        expect(logged(kind, target), f"{kind} · {target}").to_have_count(count)
    expect(log.locator("td.actor").first).to_have_text(owner.email)
    # Newest first: the + whitelisting is the latest change.
    expect(log.locator("tr").first).to_contain_text(f"{KEY_NAME}: {OTHER_IP}")

    # --- Screenshots of the pages of the flow, taken at the end -----------------------------------
    page.get_by_role("link", name="Authkey", exact=True).click()
    expect(page.locator(f"#key-{key.pk}")).to_contain_text("3 IPs")
    page.screenshot(path=artifact_path(request.config, "authkey_list"), full_page=True)
    page.locator(f"#key-{key.pk}").get_by_role("link", name=f"IP security of {KEY_NAME}").click()
    expect(page.locator("#key-ip-section table.ips code")).to_have_text([KEY_IP, IPV6_CANONICAL, OTHER_IP])
    page.screenshot(path=artifact_path(request.config, "authkey_ip_panel"), full_page=True)
    main_nav(page).locator("summary", has_text="SMS").click()
    main_nav(page).get_by_role("link", name="Recent IPs").click()
    expect(page.locator(f"#recent-ip-{recent.pk}")).to_contain_text(OTHER_IP)
    page.screenshot(path=artifact_path(request.config, "authkey_recent_ips"), full_page=True)

    assert_no_csp_violations(console_messages)
    assert_no_page_errors(console_messages)
