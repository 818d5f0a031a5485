"""Recorded API refusals stay out of the log (messaging/logging.py); other 4xx replies do not."""

import logging

import pytest

from authkeys import keys
from messaging.models import FailedRequest

pytestmark = pytest.mark.django_db


def _request_warnings(caplog):
    return [r for r in caplog.records if r.name == "django.request" and r.levelno == logging.WARNING]


def test_a_refused_api_request_is_recorded_but_not_logged(client, caplog):
    with caplog.at_level(logging.WARNING, logger="django.request"):
        reply = client.get(
            "/api/sendhttp.php",
            {"authkey": keys.generate_key(), "mobiles": "919876543210", "message": "Hi", "sender": "ACMEIN"},
        )
    assert reply.status_code == 401  # MSG91's answer to an unknown key
    assert FailedRequest.objects.filter(code="207").count() == 1  # recorded …
    assert _request_warnings(caplog) == []  # … and not logged a second time


def test_api_client_errors_that_are_not_refusals_are_still_logged(client, caplog):
    with caplog.at_level(logging.WARNING, logger="django.request"):
        reply = client.get("/api/no-such-endpoint.php")
    assert reply.status_code == 404
    assert not FailedRequest.objects.exists()
    assert [r.status_code for r in _request_warnings(caplog)] == [404]


def test_panel_client_errors_are_still_logged(client, caplog):
    with caplog.at_level(logging.WARNING, logger="django.request"):
        reply = client.post("/api-docs/error-codes/")  # a page that only answers GET
    assert reply.status_code == 405
    assert [r.status_code for r in _request_warnings(caplog)] == [405]
