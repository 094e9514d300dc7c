"""Which pages may open the websocket: those of the server's own origin (scheme, host and
port, all three) and those of the origins STAGEFLOW_ALLOWED_ORIGINS lists.

Browsers send Origin on every websocket handshake and attach the user's cookies whatever
page opened it, so a page elsewhere must not get a socket (cross-site websocket
hijacking). Strawberry's own check compares host and port only, so an `http` page could
use the session of an `https` site on the same host; this one runs first. The scheme is
the one the request arrived with, or the one a trusted proxy forwarded
(server/api/proxies.py). A handshake without Origin comes from no browser: it carries no
ambient cookies to abuse, and signs in with a token.
"""

from __future__ import annotations

from collections.abc import Collection

from starlette.datastructures import Headers
from starlette.types import Scope
from strawberry.http.websocket_origin import normalize_origin

_SCHEMES = {"ws": "http", "wss": "https", "http": "http", "https": "https"}


def own_origin(scope: Scope) -> str | None:
    """The origin a request was sent to, as browsers spell origins."""
    host = Headers(scope=scope).get("host")
    scheme = _SCHEMES.get(str(scope.get("scheme")))
    if not host or scheme is None:
        return None
    return normalize_origin(f"{scheme}://{host}")


def refused(scope: Scope, allowed: Collection[str]) -> str | None:
    """The Origin of a handshake that may not open a socket, else None."""
    origin = Headers(scope=scope).get("origin")
    if origin is None or "*" in allowed:
        return None
    normalized = normalize_origin(origin)
    if normalized is not None and (normalized == own_origin(scope) or normalized in allowed):
        return None
    return origin
