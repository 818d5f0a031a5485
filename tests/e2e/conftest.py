"""Real-browser (Playwright + Debian's chromium) fixtures for the e2e suite.

* ``browser``: one headless chromium per test session (per xdist worker), never downloaded:
  Debian's /usr/bin/chromium is driven through ``executable_path``.
* ``context`` / ``page``: fresh cookies and storage for every test, with ``base_url`` set to
  pytest-django's ``live_server`` (which runs the app in a thread of this process, so the
  in-memory SMS outbox is readable from the test), so tests can ``page.goto("/accounts/login/")``.
* ``console_messages``: every console message and uncaught page error of the test's page, for
  ``assert_no_csp_violations`` / ``assert_no_page_errors`` (tests/e2e/helpers.py).
* On a failed test the page is saved to ``test-artifacts/e2e/<test name>.png``.

Playwright's sync API keeps an asyncio loop "running" in the main thread for as long as the
browser is alive, so Django's async-safety guard would refuse every ORM call made from the test
thread (factories, transactional_db's flush). While the browser is up we therefore set
DJANGO_ALLOW_ASYNC_UNSAFE (restored when it closes), and e2e tests are moved to the end of the
run so that no other test executes while that loop is alive.
"""

import importlib
import os
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Error, Page, expect, sync_playwright

from tests.e2e.helpers import CSP_LISTENER, LoggedMessage, artifact_path

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-gpu",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DEFAULT_TIMEOUT_MS = 10_000
VIEWPORT = {"width": 1280, "height": 900}


# --- Hooks ------------------------------------------------------------------------------------


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Keep each phase's report on the item: item.rep_setup, item.rep_call, item.rep_teardown."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run browser tests last (stable sort), so the Playwright loop never overlaps other tests."""
    items.sort(key=lambda item: item.get_closest_marker("e2e") is not None)


# --- Fixtures ---------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (never `playwright install`).")
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    expect.set_options(timeout=DEFAULT_TIMEOUT_MS)
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            try:
                yield browser
            finally:
                browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def context(browser: Browser, live_server, transactional_db) -> Iterator[BrowserContext]:  # type: ignore[no-untyped-def]
    context = browser.new_context(base_url=live_server.url, viewport=VIEWPORT, locale="en-US")
    context.set_default_timeout(DEFAULT_TIMEOUT_MS)
    context.add_init_script(CSP_LISTENER)
    yield context
    context.close()


@pytest.fixture
def console_messages() -> list[LoggedMessage]:
    return []


@pytest.fixture
def page(
    context: BrowserContext, console_messages: list[LoggedMessage], request: pytest.FixtureRequest
) -> Iterator[Page]:
    page = context.new_page()

    def on_console(message: ConsoleMessage) -> None:
        console_messages.append(LoggedMessage(message.type, message.text, page.url))

    def on_page_error(error: Error) -> None:
        console_messages.append(LoggedMessage("pageerror", f"{error.name}: {error.message}", page.url))

    page.on("console", on_console)
    page.on("pageerror", on_page_error)
    yield page
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        try:
            path = artifact_path(request.config, request.node.name)
            page.screenshot(path=path, full_page=True)
            print(f"failure screenshot: {path}")
        except Error as error:  # a crashed page must not hide the real failure
            print(f"could not save the failure screenshot: {error}")
    page.close()


@pytest.fixture
def seeded_catalogue(transactional_db) -> None:  # type: ignore[no-untyped-def]
    """The rows data migrations seed (the service catalogue, the built-in "All services" rule and
    the two MSG91 routes), which the flush after every earlier transactional test removes.

    ``serialized_rollback`` cannot bring them back here: Django keeps DB connections in an asgiref
    Local(thread_critical=True), which switches to a separate (contextvar) storage while an asyncio
    loop is running, and Playwright keeps one running. So once the browser is up, the test thread
    gets a new connection object without the serialized contents made at database setup (nothing is
    restored, silently); and when setup happened with the browser up, the restore collides with
    the content types that post_migrate re-created after the previous flush (IntegrityError).
    The migration's own idempotent seed function is run instead.
    """
    from django.apps import apps

    migration = importlib.import_module("authkeys.migrations.0002_service_catalogue")
    migration.seed(apps, None)
    importlib.import_module("messaging.migrations.0006_policy").seed_routes(apps, None)
