"""Websocket handshakes refused before the protocol starts: from a page of another origin
(server/api/origins.py), or with parameters in the URL (server/api/urls.py). The socket is
closed before it is accepted, so the server answers the handshake with 403."""

from __future__ import annotations

import logging
from collections.abc import Collection

from starlette.status import WS_1008_POLICY_VIOLATION
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket

from server.api import origins, urls

log = logging.getLogger("stageflow.api")


async def refuse(scope: Scope, receive: Receive, send: Send, *, allowed: Collection[str]) -> bool:
    """Whether the handshake was refused (and closed)."""
    origin = origins.refused(scope, allowed)
    if origin is not None:
        log.warning(
            "websocket refused: a page of %r may not open one on %r",
            origin[:200],
            origins.own_origin(scope),
        )
    elif (reason := urls.refused_parameters(scope)) is not None:
        log.warning("websocket refused: %s", reason)
    else:
        return False
    await WebSocket(scope, receive, send).close(code=WS_1008_POLICY_VIOLATION)
    return True
