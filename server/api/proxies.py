"""Who the client is behind trusted proxies.

Forwarded headers are anyone's to write: they count only when the peer that sent the
request is a trusted proxy (`STAGEFLOW_TRUSTED_PROXIES`, none by default; `stageflow serve`
turns uvicorn's own reading of them off). Then the client is the address in
X-Forwarded-For nearest to the server that is not itself a trusted proxy, and the scheme is
the one X-Forwarded-Proto names. Addresses a client wrote further left are ignored.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
_SCHEMES = {
    "http": {"http": "http", "websocket": "ws"},
    "https": {"http": "https", "websocket": "wss"},
}


def networks(trusted: Iterable[str]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """The trusted proxies, as addresses or networks (`10.0.0.0/8`); ValueError names a
    malformed one."""
    found = []
    for entry in trusted:
        try:
            found.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            raise ValueError(f"STAGEFLOW_TRUSTED_PROXIES: {entry!r} is no address") from None
    return tuple(found)


def _address(text: str) -> Address | None:
    """An address as proxies write it: bare, `[v6]` or with a port."""
    text = text.strip()
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


class TrustedProxies:
    """ASGI middleware: a request from a trusted proxy has the client address and scheme
    the proxy forwarded."""

    def __init__(self, app: ASGIApp, *, trusted: Iterable[str]) -> None:
        self.app = app
        self.trusted = networks(trusted)

    def _trusts(self, address: Address | None) -> bool:
        return address is not None and any(address in network for network in self.trusted)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        peer = scope.get("client")
        if (
            self.trusted
            and scope["type"] in ("http", "websocket")
            and peer
            and self._trusts(_address(peer[0]))
        ):
            headers = Headers(scope=scope)
            client = self.client(peer[0], headers.getlist("x-forwarded-for"))
            scope["client"] = (client, 0)
            proto = headers.get("x-forwarded-proto", "").rpartition(",")[2].strip().lower()
            if proto in _SCHEMES:
                scope["scheme"] = _SCHEMES[proto][scope["type"]]
        await self.app(scope, receive, send)

    def client(self, peer: str, forwarded: list[str]) -> str:
        """The nearest address that is not a trusted proxy; if every one is, the farthest.
        An entry that is no address stops the walk: the proxy that passed it on stands
        for the client."""
        client = peer
        for entry in reversed([e for header in forwarded for e in header.split(",")]):
            address = _address(entry)
            if address is None:
                break
            client = str(address)
            if not self._trusts(address):
                break
        return client
