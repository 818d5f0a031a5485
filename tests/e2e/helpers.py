"""Helpers for the browser tests: console capture, CSP checks, artifacts, reading texted codes."""

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Locator, Page, expect

from portal.sms import SmsMessage
from tests.helpers import last_code

# Reports a blocked resource through the DOM event as well as through Chromium's own console
# text, whose wording changes between versions: "Refused to apply inline style ..." up to about
# Chromium 13x, "Applying inline style violates the following Content Security Policy
# directive ... The action has been blocked." in Chromium 156. Checking "Refused to" alone would
# silently pass on a current chromium.
CSP_LISTENER = """
document.addEventListener("securitypolicyviolation", (event) => {
  console.error("CSP violation: " + event.effectiveDirective + " blocked "
                + (event.blockedURI || "inline") + " at " + event.sourceFile + ":" + event.lineNumber);
});
"""
_CSP_PATTERN = re.compile(r"Refused to|Content Security Policy|CSP violation", re.IGNORECASE)


@dataclass(frozen=True)
class LoggedMessage:
    type: str  # console message type ("log", "error", ...) or "pageerror"
    text: str
    url: str

    def __str__(self) -> str:
        return f"[{self.type}] {self.text} ({self.url})"


def csp_violations(messages: list[LoggedMessage]) -> list[LoggedMessage]:
    return [m for m in messages if m.type in {"error", "warning"} and _CSP_PATTERN.search(m.text)]


def assert_no_csp_violations(messages: list[LoggedMessage]) -> None:
    violations = csp_violations(messages)
    assert not violations, "CSP blocked something:\n" + "\n".join(map(str, violations))


def assert_no_page_errors(messages: list[LoggedMessage]) -> None:
    errors = [m for m in messages if m.type == "pageerror"]
    assert not errors, "Uncaught JavaScript errors:\n" + "\n".join(map(str, errors))


def artifact_path(config: pytest.Config, name: str) -> Path:
    """test-artifacts/e2e/<name>.png under the project root (git-ignored)."""
    folder = config.rootpath / "test-artifacts" / "e2e"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / (re.sub(r"[^\w.-]+", "_", name).strip("_") + ".png")


def query_param(url: str, name: str) -> str | None:
    values = parse_qs(urlsplit(url).query).get(name)
    return values[0] if values else None


def texted_code(outbox: list[SmsMessage], to: str) -> str:
    """The 6-digit code in the newest SMS to `to`. Callers first wait (Playwright's `expect`) for
    the page that follows the sending; with the locmem backend the SMS is sent inside that request,
    so it is in the outbox by then."""
    return last_code(outbox, to)


# --- Steps shared by the flows ----------------------------------------------------------------


def main_nav(page: Page) -> Locator:
    return page.get_by_role("navigation", name="Main")


def log_in(page: Page, email: str, password: str) -> None:
    """Log in through the login page; lands on the dashboard."""
    page.goto("/accounts/login/")
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    page.locator('[name="username"]').fill(email)
    page.locator('[name="password"]').fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/dashboard/$"))


def pass_otp_gate(page: Page, outbox: list[SmsMessage], typed_mobile: str, registered_e164: str) -> None:
    """On the gate page: type the mobile, read the texted code from the outbox and verify it."""
    expect(page.get_by_role("heading", name="Verify your registered mobile")).to_be_visible()
    page.locator('[name="mobile"]').fill(typed_mobile)
    page.get_by_role("button", name="Send code").click()
    expect(page.get_by_role("heading", name="Enter the code")).to_be_visible()
    page.locator('[name="code"]').fill(texted_code(outbox, registered_e164))
    page.get_by_role("button", name="Verify").click()
