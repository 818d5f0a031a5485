"""The HTTP client of webhook delivery: POST to a checked address, never follow a redirect.

A Sender is made per drain run: it checks the URL and resolves the host once (webhooks/ssrf.py),
then keeps a urllib3 connection pool to the first checked address that accepts a connection, so a
burst of events to one endpoint reuses one keep-alive connection. The name is never resolved
again: urllib3 connects to the IP, sends the name in the Host header and, for https, uses it for
SNI and certificate verification (server_hostname / assert_hostname).
"""

import time
from dataclasses import dataclass

import urllib3
from django.conf import settings
from urllib3.exceptions import HTTPError, NewConnectionError

from webhooks.ssrf import IPAddress, Target, check

USER_AGENT = "SMS-Portal-Webhooks/1.0"
#: Bytes of the receiver's reply we read (the rest is discarded): a log excerpt, not a download.
MAX_RESPONSE_BYTES = 4096


class SendError(Exception):
    """The request did not produce an HTTP response (connection refused, timeout, TLS, …)."""


@dataclass(frozen=True)
class Response:
    status: int
    retry_after: str | None
    location: str | None
    latency_ms: int


class Sender:
    def __init__(self, url: str) -> None:
        """Check and resolve `url`; raises ssrf.UnsafeURL."""
        self.target, self.addresses = check(url)
        self._pool: urllib3.HTTPConnectionPool | None = None

    def _pool_for(self, address: IPAddress) -> urllib3.HTTPConnectionPool:
        target: Target = self.target
        timeout = urllib3.Timeout(
            connect=settings.WEBHOOK_TIMEOUT_SECONDS, read=settings.WEBHOOK_TIMEOUT_SECONDS
        )
        common = {"port": target.port, "timeout": timeout, "retries": False, "maxsize": 1, "block": False}
        if target.scheme == "https":
            return urllib3.HTTPSConnectionPool(
                str(address),
                cert_reqs="CERT_REQUIRED",
                server_hostname=None if target.is_ip_literal else target.host,
                assert_hostname=target.host,
                **common,  # type: ignore[arg-type]
            )
        return urllib3.HTTPConnectionPool(str(address), **common)  # type: ignore[arg-type]

    def post(self, body: bytes, headers: dict[str, str]) -> Response:
        request_headers = {
            "Host": self.target.host_header,
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            **headers,
        }
        started = time.monotonic()
        candidates = [self._pool] if self._pool else [self._pool_for(a) for a in self.addresses]
        last_error: Exception | None = None
        for pool in candidates:
            assert pool is not None
            try:
                reply = pool.urlopen(
                    "POST",
                    self.target.path,
                    body=body,
                    headers=request_headers,
                    redirect=False,
                    retries=False,
                    preload_content=False,
                    assert_same_host=False,
                )
            except NewConnectionError as exc:
                # Try the next checked address (a name with several A/AAAA records).
                last_error = exc
                pool.close()
                continue
            except HTTPError as exc:
                raise SendError(_describe(exc)) from None
            reusable = False
            try:
                reply.read(MAX_RESPONSE_BYTES)
                reusable = reply.read(1) == b""  # a longer reply is not downloaded: drop the connection
            except HTTPError:
                reusable = False  # the reply broke off: never reuse that connection
            finally:
                if reusable:
                    reply.release_conn()
                else:
                    reply.close()
            self._pool = pool
            return Response(
                status=reply.status,
                retry_after=reply.headers.get("Retry-After"),
                location=reply.headers.get("Location"),
                latency_ms=int((time.monotonic() - started) * 1000),
            )
        raise SendError(_describe(last_error) if last_error else "no address to connect to")

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()


def _describe(exc: BaseException) -> str:
    name = type(exc).__name__
    if "Timeout" in name:
        return f"timed out after {settings.WEBHOOK_TIMEOUT_SECONDS:g} s"
    if isinstance(exc, NewConnectionError):
        return "could not connect"
    reason = getattr(exc, "reason", None)
    return f"{name}: {reason or exc}"[:300]
