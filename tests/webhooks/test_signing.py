"""Both signatures on every request, verified the way receivers verify them: the
`standardwebhooks` package and a GatewayAPI-style `Signature: v1=` HMAC check; replays rejected
by the event timestamp; rotation signs with both secrets."""

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.utils import timezone
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from tests.factories import CompanyFactory
from webhooks import delivery, services, signing
from webhooks.models import Delivery, EndpointSecret

pytestmark = pytest.mark.django_db

TOLERANCE = timedelta(minutes=5)  # the standard verifier's tolerance, used by our receiver too


# --- What receivers run (the documented verification snippet, docs/webhooks.md) ----------------


def gatewayapi_verify(secret: str, body: bytes, signature_header: str) -> bool:
    """GatewayAPI-style: hex HMAC-SHA256 of the raw body, keyed by the secret as shown."""
    expected = "v1=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return any(hmac.compare_digest(expected, given) for given in signature_header.split(" "))


def fresh_enough(body: bytes, *, now: datetime) -> bool:
    """GatewayAPI receivers reject old events by the envelope's timestamp."""
    sent = datetime.fromisoformat(json.loads(body)["timestamp"].replace("Z", "+00:00"))
    return abs(now - sent) <= TOLERANCE


# --- Known answers --------------------------------------------------------------------------------


def test_standard_webhooks_known_answer() -> None:
    key = base64.b64decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    signature = signing.standard_signature(
        key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}'
    )
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_the_secret_is_32_derived_bytes_in_the_whsec_form_and_not_stored() -> None:
    company = CompanyFactory()
    endpoint, secret = services.endpoint_create(
        company=company, actor=None, url="https://93.184.215.14/hooks", event_types=["message.status.sms"]
    )
    assert secret.startswith("whsec_") and len(secret) == 50
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) == 32
    row = EndpointSecret.objects.get(endpoint=endpoint)
    assert signing.secret_text(signing.derive_key(endpoint.pk, row.salt)) == secret
    stored = json.dumps(list(EndpointSecret.objects.values()), default=str) + json.dumps(
        list(type(endpoint).objects.values()), default=str
    )
    assert secret not in stored and secret.removeprefix("whsec_") not in stored
    # Another endpoint, another salt: another secret.
    _, other = services.endpoint_create(company=company, actor=None, url="https://93.184.215.14/other")
    assert other != secret


def test_a_different_master_key_derives_a_different_secret(settings) -> None:
    first = signing.derive_key(1, "00" * 16)
    signing._master_key.cache_clear()
    settings.WEBHOOK_SECRET_KEY = "another-master-key"
    try:
        assert signing.derive_key(1, "00" * 16) != first
    finally:
        signing._master_key.cache_clear()


# --- Real requests, verified by both verifiers ---------------------------------------------------


def _endpoint(receiver):  # type: ignore[no-untyped-def]
    return services.endpoint_create(company=CompanyFactory(), actor=None, url=receiver.url)


def test_a_delivered_event_verifies_with_standardwebhooks_and_gatewayapi_style(receiver) -> None:
    endpoint, secret = _endpoint(receiver)
    row = services.send_test_event(endpoint=endpoint)

    assert delivery.drain(endpoint.pk)["delivered"] == 1

    [request] = receiver.requests
    assert request.path == "/hooks/sms?source=portal"
    assert request.headers["content-type"] == "application/json"
    payload = Webhook(secret).verify(request.body, request.headers)
    assert gatewayapi_verify(secret, request.body, request.headers["signature"])
    assert request.headers["webhook-id"] == str(row.event_id) == payload["event_id"]
    assert payload["event_type"] == "message.status.sms"
    assert set(payload["event"]) == {"msg_id", "recipient", "reference", "status", "status_at", "error"}
    assert abs(int(request.headers["webhook-timestamp"]) - timezone.now().timestamp()) < 60
    assert fresh_enough(request.body, now=timezone.now())
    # A tampered body or a wrong secret fails both.
    tampered = request.body.replace(b"DELIVERED", b"REJECTED")
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(tampered, request.headers)
    assert not gatewayapi_verify(secret, tampered, request.headers["signature"])
    wrong = signing.secret_text(b"x" * 32)
    with pytest.raises(WebhookVerificationError):
        Webhook(wrong).verify(request.body, request.headers)
    assert not gatewayapi_verify(wrong, request.body, request.headers["signature"])


def test_a_replayed_old_event_is_rejected_by_receivers_honouring_the_timestamp(receiver) -> None:
    endpoint, secret = _endpoint(receiver)
    sent_at = datetime(2030, 3, 1, 12, 0, tzinfo=UTC)
    with time_machine.travel(sent_at, tick=False):
        services.send_test_event(endpoint=endpoint)
        delivery.drain(endpoint.pk)
        [request] = receiver.requests
        Webhook(secret).verify(request.body, request.headers)  # fresh: accepted
        assert fresh_enough(request.body, now=timezone.now())

    # The same bytes replayed ten minutes later: the signatures still match, the age does not.
    with time_machine.travel(sent_at + timedelta(minutes=10), tick=False):
        with pytest.raises(WebhookVerificationError, match="too old"):
            Webhook(secret).verify(request.body, request.headers)
        assert gatewayapi_verify(secret, request.body, request.headers["signature"])
        assert not fresh_enough(request.body, now=timezone.now())


def test_a_retry_is_signed_afresh_with_the_same_event_id(receiver) -> None:
    from tests.webhooks.receiver import Reply

    endpoint, secret = _endpoint(receiver)
    receiver.reply(Reply(500))
    start = datetime(2030, 3, 1, 12, 0, tzinfo=UTC)
    with time_machine.travel(start, tick=False):
        row = services.send_test_event(endpoint=endpoint)
        delivery.drain(endpoint.pk)
    later = Delivery.objects.get(pk=row.pk).next_retry_at
    with time_machine.travel(later, tick=False):
        delivery.drain(endpoint.pk)
        first, second = receiver.requests
        assert first.headers["webhook-id"] == second.headers["webhook-id"] == str(row.event_id)
        assert first.headers["webhook-timestamp"] != second.headers["webhook-timestamp"]
        Webhook(secret).verify(second.body, second.headers)  # the retry is not "too old"
        assert fresh_enough(second.body, now=timezone.now())


def test_rotation_signs_with_both_secrets_during_the_grace_period_then_only_the_new(receiver) -> None:
    endpoint, old = _endpoint(receiver)
    new, old_until = services.endpoint_rotate_secret(endpoint=endpoint, actor=None, grace_seconds=3600)
    assert new != old and old_until is not None

    services.send_test_event(endpoint=endpoint)
    delivery.drain(endpoint.pk)
    request = receiver.requests[-1]
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    assert len(request.headers["signature"].split(" ")) == 2
    for secret in (old, new):  # a receiver with either secret accepts it
        Webhook(secret).verify(request.body, request.headers)
        assert gatewayapi_verify(secret, request.body, request.headers["signature"])

    with time_machine.travel(old_until + timedelta(seconds=1), tick=False):
        services.send_test_event(endpoint=endpoint)
        delivery.drain(endpoint.pk)
        request = receiver.requests[-1]
        Webhook(new).verify(request.body, request.headers)
        assert gatewayapi_verify(new, request.body, request.headers["signature"])
        with pytest.raises(WebhookVerificationError):
            Webhook(old).verify(request.body, request.headers)
        assert not gatewayapi_verify(old, request.body, request.headers["signature"])


def test_rotation_without_grace_stops_the_old_secret_at_once(receiver) -> None:
    endpoint, old = _endpoint(receiver)
    new, old_until = services.endpoint_rotate_secret(endpoint=endpoint, actor=None, grace_seconds=0)
    assert old_until is None
    services.send_test_event(endpoint=endpoint)
    delivery.drain(endpoint.pk)
    request = receiver.requests[-1]
    assert " " not in request.headers["webhook-signature"]
    Webhook(new).verify(request.body, request.headers)
    assert not gatewayapi_verify(old, request.body, request.headers["signature"])
    assert EndpointSecret.objects.filter(endpoint=endpoint).count() == 1
