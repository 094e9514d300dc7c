"""The client's address and scheme behind trusted proxies (server/api/proxies.py)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from server.api.proxies import TrustedProxies

TRUSTED = ["127.0.0.1", "10.0.0.0/8", "fd00::/8"]


def _seen(
    peer: str, headers: dict[str, str], *, kind: str = "http", trusted: list[str] = TRUSTED
) -> tuple[str, str]:
    """The client address and scheme the app behind the middleware sees."""
    seen: dict[str, Any] = {}

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.update(scope)

    scope = {
        "type": kind,
        "scheme": "ws" if kind == "websocket" else "http",
        "client": (peer, 4000),
        "headers": [(k.encode(), v.encode()) for k, v in headers.items()],
    }
    asyncio.run(TrustedProxies(app, trusted=trusted)(scope, None, None))  # type: ignore[arg-type]
    return seen["client"][0], seen["scheme"]


@pytest.mark.parametrize(
    ("peer", "forwarded", "client"),
    [
        ("192.0.2.1", "203.0.113.9", "192.0.2.1"),  # not a proxy: its header is anyone's
        ("127.0.0.1", "203.0.113.9", "203.0.113.9"),
        ("127.0.0.1", "198.51.100.1, 203.0.113.9", "203.0.113.9"),  # the client's own entry
        ("127.0.0.1", "203.0.113.9, 10.2.3.4", "203.0.113.9"),  # trusted hops are skipped
        ("127.0.0.1", "10.9.9.9, 10.2.3.4", "10.9.9.9"),  # all trusted: the farthest
        ("127.0.0.1", "203.0.113.9:5555", "203.0.113.9"),
        ("127.0.0.1", "[2001:db8::1]:443", "2001:db8::1"),
        ("fd00::5", "2001:db8::7", "2001:db8::7"),
        ("127.0.0.1", "203.0.113.9, not-an-address", "127.0.0.1"),  # stops at garbage
        ("127.0.0.1", "", "127.0.0.1"),
    ],
)
def test_the_client_is_the_nearest_untrusted_forwarded_address(
    peer: str, forwarded: str, client: str
) -> None:
    headers = {"x-forwarded-for": forwarded} if forwarded else {}
    assert _seen(peer, headers)[0] == client


def test_nothing_is_trusted_by_default() -> None:
    assert _seen("127.0.0.1", {"x-forwarded-for": "203.0.113.9"}, trusted=[]) == (
        "127.0.0.1",
        "http",
    )


def test_the_scheme_is_forwarded_by_trusted_proxies_only() -> None:
    https = {"x-forwarded-proto": "https"}
    assert _seen("127.0.0.1", https)[1] == "https"
    assert _seen("127.0.0.1", https, kind="websocket")[1] == "wss"
    assert _seen("192.0.2.1", https)[1] == "http"
    assert _seen("127.0.0.1", {"x-forwarded-proto": "gopher"})[1] == "http"


def test_a_malformed_proxy_is_refused() -> None:
    with pytest.raises(ValueError, match="STAGEFLOW_TRUSTED_PROXIES"):
        TrustedProxies(None, trusted=["10.0.0.0/33"])  # type: ignore[arg-type]
