"""`manage.py create_webhook`: the page's service, argument errors that say what is wrong."""

import io

import pytest
from django.core.management import CommandError, call_command
from standardwebhooks import Webhook

from authkeys.models import SecurityEvent
from tests.factories import CompanyFactory
from webhooks import delivery, services
from webhooks.models import Endpoint

pytestmark = pytest.mark.django_db


def run(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("create_webhook", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.mark.parametrize("how", ["email", "id"])
def test_creates_an_endpoint_and_prints_its_secret_once(receiver, how: str) -> None:
    company = CompanyFactory()
    named = company.registered_email if how == "email" else str(company.pk)

    out, err = run("--company", named, "--url", receiver.url, "--description", "CI")

    secret = out.strip().splitlines()[-1]
    assert secret.startswith("whsec_") and out.count("whsec_") == 1
    assert "whsec_" not in err and "Created webhook endpoint" in err
    endpoint = Endpoint.objects.get(company=company)
    assert (endpoint.url, endpoint.event_types, endpoint.description) == (
        receiver.url,
        ["message.status.sms"],
        "CI",
    )
    assert SecurityEvent.objects.filter(company=company, kind=SecurityEvent.Kind.WEBHOOK_CREATED).count() == 1
    # The printed secret is the one that signs.
    services.send_test_event(endpoint=endpoint)
    delivery.drain(endpoint.pk)
    [request] = receiver.requests
    Webhook(secret).verify(request.body, request.headers)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--company", "nobody@nowhere.example", "--url", "https://93.184.215.14/"], "no company has that"),
        (["--company", "999999", "--url", "https://93.184.215.14/"], "No company matches"),
        (["--url", "http://10.0.0.1/"], "Nothing was created. Webhooks cannot be sent to 10.0.0.1"),
        (["--url", "http://2130706433/"], "four decimal numbers"),
        (["--url", "https://u:p@93.184.215.14/"], "user name or password"),
        (["--url", "gopher://93.184.215.14/"], "Only http:// and https://"),
        (["--url", "https://93.184.215.14/", "--event", "message.status.rcs"], "Unknown event type"),
        (["--url", "https://93.184.215.14/", "--description", "x" * 101], "at most 100 characters"),
    ],
)
def test_bad_arguments_are_refused_with_a_clear_error_and_create_nothing(args, message, settings) -> None:
    settings.WEBHOOKS_ALLOW_PRIVATE = False
    company = CompanyFactory()
    if "--company" not in args:
        args = ["--company", company.registered_email, *args]
    with pytest.raises(CommandError, match=message):
        run(*args)
    assert not Endpoint.objects.exists()
    assert not SecurityEvent.objects.exists()


def test_missing_arguments_are_named() -> None:
    with pytest.raises(CommandError, match="--url"):
        run("--company", "1")
