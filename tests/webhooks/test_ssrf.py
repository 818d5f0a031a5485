"""SSRF protection: every refused form and address, on save (service/form validation) and again
at send time; the client connects to the checked address without a second lookup."""

import socket

import pytest
from django.core.exceptions import ValidationError

from tests.factories import CompanyFactory
from webhooks import delivery, services, ssrf
from webhooks.models import Delivery, Endpoint

REFUSED = [
    # scheme
    ("ftp://93.184.215.14/hooks", "Only http:// and https://"),
    ("file:///etc/passwd", "Only http:// and https://"),
    ("gopher://93.184.215.14:70/", "Only http:// and https://"),
    ("javascript:alert(1)", "Only http:// and https://"),
    ("//93.184.215.14/hooks", "Only http:// and https://"),
    # credentials and other form errors
    ("http://user:secret@93.184.215.14/hooks", "user name or password"),
    ("http://user@93.184.215.14/hooks", "user name or password"),
    ("http:///hooks", "no host name"),
    ("http://93.184.215.14:0/", "Port 0"),
    ("http://93.184.215.14:99999/", "port in the URL"),
    ("http://exa mple.com/", "spaces"),
    ("https://93.184.215.14/hooks#frag", "fragment"),
    ("http://[fe80::1%25eth0]/", "zone identifiers"),
    ("http://bad_host!.example/", "not a valid domain name"),
    # loopback and "this host"
    ("http://127.0.0.1/", "loopback"),
    ("http://127.8.9.10:8080/", "loopback"),
    ("http://localhost/", "loopback"),
    ("http://127.0.0.1./", "loopback"),
    ("http://[::1]/", "loopback"),
    ("http://0.0.0.0/", "unspecified"),
    ("http://[::]/", "unspecified"),
    # private, CGNAT, unique-local
    ("http://10.0.0.1/", "private"),
    ("http://172.16.5.4/", "private"),
    ("http://192.168.1.1/", "private"),
    ("http://100.64.0.1/", "carrier-grade NAT"),
    ("http://100.127.255.254/", "carrier-grade NAT"),
    ("http://[fc00::1]/", "unique-local"),
    ("http://[fd12:3456:789a::1]/", "unique-local"),
    # link-local, cloud metadata
    ("http://169.254.169.254/latest/meta-data/", "link-local"),
    ("http://[fe80::1]/", "link-local"),
    # IPv4 inside IPv6
    ("http://[::ffff:127.0.0.1]/", "loopback"),
    ("http://[::ffff:7f00:1]/", "loopback"),
    ("http://[::ffff:169.254.169.254]/", "link-local"),
    ("http://[::ffff:10.0.0.1]/", "private"),
    ("http://[64:ff9b::a9fe:a9fe]/", "link-local"),
    ("http://[2002:7f00:1::]/", "loopback"),
    ("http://[::127.0.0.1]/", "loopback"),
    # decimal, octal, hex and short IPv4 literals
    ("http://2130706433/", "four decimal numbers"),
    ("http://0177.0.0.1/", "four decimal numbers"),
    ("http://0x7f.0.0.1/", "four decimal numbers"),
    ("http://0x7f000001/", "four decimal numbers"),
    ("http://017700000001/", "four decimal numbers"),
    ("http://127.1/", "four decimal numbers"),
    ("http://169.254.43518/", "four decimal numbers"),
    ("http://93.184.215.014/", "four decimal numbers"),
    ("http://256.1.1.1/", "four decimal numbers"),
    # multicast, broadcast, reserved, documentation
    ("http://224.0.0.1/", "multicast"),
    ("http://[ff02::1]/", "multicast"),
    ("http://255.255.255.255/", "reserved"),
    ("http://240.0.0.1/", "reserved"),
    ("http://192.0.2.10/", "reserved or non-public"),
    ("http://198.18.0.1/", "reserved or non-public"),
]


@pytest.mark.parametrize(("url", "reason"), REFUSED)
def test_refused(url: str, reason: str, settings) -> None:
    settings.WEBHOOKS_ALLOW_PRIVATE = False
    with pytest.raises(ssrf.UnsafeURL, match=reason):
        ssrf.check(url)


@pytest.mark.django_db
@pytest.mark.parametrize(("url", "reason"), REFUSED[::4])
def test_the_service_refuses_with_a_clear_message_and_creates_nothing(
    url: str, reason: str, settings
) -> None:
    settings.WEBHOOKS_ALLOW_PRIVATE = False
    company = CompanyFactory()
    with pytest.raises(ValidationError, match=reason):
        services.endpoint_create(company=company, actor=None, url=url)
    assert not Endpoint.objects.exists()


@pytest.mark.parametrize(
    "url",
    [
        "https://93.184.215.14/hooks",
        "http://93.184.215.14:8080/hooks?token=abc",
        "https://[2606:2800:220:1:248:1893:25c8:1946]/hooks",
        "http://8.8.8.8/",
    ],
)
def test_public_addresses_pass(url: str, settings) -> None:
    settings.WEBHOOKS_ALLOW_PRIVATE = False
    target, addresses = ssrf.check(url)
    assert [str(a) for a in addresses] == [target.host]


ALLOWED_PRIVATE = [
    "http://127.0.0.1:8000/",
    "http://localhost:8000/",
    "http://[::1]/",
    "http://10.1.2.3/",
    "http://192.168.0.10/",
    "http://100.64.1.1/",
    "http://[fd00::5]/",
]


@pytest.mark.parametrize("url", ALLOWED_PRIVATE)
def test_allow_private_lets_loopback_and_private_through(url: str, settings) -> None:
    settings.WEBHOOKS_ALLOW_PRIVATE = True
    ssrf.check(url)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://169.254.169.254/", "link-local"),
        ("http://[::ffff:169.254.169.254]/", "link-local"),
        ("http://0.0.0.0/", "unspecified"),
        ("http://224.0.0.1/", "multicast"),
        ("http://2130706433/", "four decimal numbers"),
        ("http://user:pw@127.0.0.1/", "user name or password"),
    ],
)
def test_allow_private_still_refuses_metadata_multicast_and_disguises(
    url: str, reason: str, settings
) -> None:
    settings.WEBHOOKS_ALLOW_PRIVATE = True
    with pytest.raises(ssrf.UnsafeURL, match=reason):
        ssrf.check(url)


# --- Every resolved address ------------------------------------------------------------------------
# A name with controlled DNS answers needs a resolver we control; getaddrinfo is replaced for these
# names only (every other lookup goes to the real resolver).


@pytest.fixture
def dns(monkeypatch):  # type: ignore[no-untyped-def]
    answers: dict[str, list[str]] = {}
    lookups: list[str] = []
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):  # type: ignore[no-untyped-def]
        if host in answers:
            lookups.append(host)
            return [
                (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
                for a in answers[host]
            ]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return answers, lookups


def test_every_resolved_address_is_checked(dns, settings) -> None:
    settings.WEBHOOKS_ALLOW_PRIVATE = False
    answers, _ = dns
    answers["hooks.example.test"] = ["93.184.215.14", "10.0.0.7"]
    with pytest.raises(ssrf.UnsafeURL, match=r"10\.0\.0\.7 is a private address"):
        ssrf.check("https://hooks.example.test/x")
    answers["hooks.example.test"] = ["2606:2800:220:1::1", "::ffff:169.254.169.254"]
    with pytest.raises(ssrf.UnsafeURL, match="link-local"):
        ssrf.check("https://hooks.example.test/x")
    answers["hooks.example.test"] = ["93.184.215.14", "2606:2800:220:1::1"]
    _, addresses = ssrf.check("https://hooks.example.test/x")
    assert [str(a) for a in addresses] == ["93.184.215.14", "2606:2800:220:1::1"]


def test_an_unresolvable_name_is_refused(settings) -> None:
    with pytest.raises(ssrf.UnsafeURL, match="could not be resolved"):
        ssrf.check("https://no-such-host.invalid/hooks")


@pytest.mark.django_db
def test_the_client_connects_to_the_checked_address_without_a_second_lookup(dns, receiver) -> None:
    answers, lookups = dns
    port = receiver.server.server_address[1]
    answers["hooks.example.test"] = ["127.0.0.1"]
    endpoint, _ = services.endpoint_create(
        company=CompanyFactory(), actor=None, url=f"http://hooks.example.test:{port}/in"
    )
    lookups.clear()
    services.send_test_event(endpoint=endpoint)
    services.send_test_event(endpoint=endpoint)
    # DNS rebinding: the answer changes after the check; the drain must not look again.
    answers["hooks.example.test"] = ["127.0.0.1"]

    assert delivery.drain(endpoint.pk)["delivered"] == 2

    assert lookups == ["hooks.example.test"]  # one lookup for the whole drain (the check)
    assert [r.headers["host"] for r in receiver.requests] == [f"hooks.example.test:{port}"] * 2
    assert [r.path for r in receiver.requests] == ["/in", "/in"]


@pytest.mark.django_db
def test_the_send_time_check_refuses_a_target_that_became_unsafe(receiver, settings) -> None:
    endpoint, _ = services.endpoint_create(company=CompanyFactory(), actor=None, url=receiver.url)
    row = services.send_test_event(endpoint=endpoint)
    settings.WEBHOOKS_ALLOW_PRIVATE = False  # e.g. a development setting gone, or DNS changed

    result = delivery.drain(endpoint.pk)

    assert receiver.requests == []
    assert result["retry"] == 1
    row = Delivery.objects.get(pk=row.pk)
    assert row.status == Delivery.Status.PENDING
    assert row.attempts == 1 and row.last_status_code is None
    assert row.last_error.startswith("refused at send time: Webhooks cannot be sent to 127.0.0.1")


@pytest.mark.django_db
def test_the_send_time_check_covers_redirect_free_dns_rebinding(dns, receiver, settings) -> None:
    answers, _ = dns
    port = receiver.server.server_address[1]
    answers["rebind.example.test"] = ["127.0.0.1"]
    endpoint, _ = services.endpoint_create(
        company=CompanyFactory(), actor=None, url=f"http://rebind.example.test:{port}/"
    )
    services.send_test_event(endpoint=endpoint)
    settings.WEBHOOKS_ALLOW_PRIVATE = False
    answers["rebind.example.test"] = ["169.254.169.254"]  # now points at the metadata service

    delivery.drain(endpoint.pk)

    assert receiver.requests == []
    assert "link-local" in Delivery.objects.get().last_error
