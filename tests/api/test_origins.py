"""Which pages may open the websocket: the same origin, compared by scheme, host and port,
and the allowed origins, compared the same way."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sockets import Closed, Socket
from starlette.applications import Starlette
from users import make_user

from server.app import create_app
from server.settings import Settings

POLICY_VIOLATION = 1008  # closed before the handshake is accepted: the server answers 403
_USERS = itertools.count()


async def _opens(app: Starlette, origin: str, *, scheme: str = "ws", **more: bytes) -> bool:
    """Whether a page of `origin` gets a socket (signed in with a token) on
    `scheme://stageflow.test`."""
    _, token = await make_user(f"user{next(_USERS)}")
    headers = [(b"origin", origin.encode()), *((k.encode(), v) for k, v in more.items())]
    try:
        async with Socket(app, token, headers=headers, scheme=scheme):
            return True
    except Closed as closed:
        assert closed.code == POLICY_VIOLATION, closed.code
        return False


@pytest.mark.parametrize(
    ("origin", "opens"),
    [
        ("http://stageflow.test", True),
        ("HTTP://Stageflow.Test:80", True),  # as browsers would spell it: the same origin
        ("https://stageflow.test", False),  # only the scheme differs
        ("http://stageflow.test:8080", False),  # only the port differs
        ("http://other.test", False),
        ("null", False),
    ],
)
async def test_only_a_page_of_the_same_scheme_host_and_port_opens_a_socket(
    app: Starlette, origin: str, opens: bool
) -> None:
    assert await _opens(app, origin) is opens


async def test_a_secure_origin_is_compared_with_a_secure_socket(app: Starlette) -> None:
    assert await _opens(app, "https://stageflow.test", scheme="wss")
    assert not await _opens(app, "http://stageflow.test", scheme="wss")
    # Sec-Fetch-Site is the browser's word, but the comparison stands on its own.
    assert not await _opens(app, "https://stageflow.test", **{"sec-fetch-site": b"same-origin"})


@pytest.fixture
async def listed(database_url: str) -> AsyncIterator[Starlette]:
    settings = Settings(
        database_url=database_url,
        allowed_origins=("https://app.example",),
        trusted_proxies=("127.0.0.1",),
    )
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.mark.parametrize(
    ("origin", "opens"),
    [
        ("https://app.example", True),
        ("https://app.example:443", True),
        ("http://app.example", False),
        ("https://app.example:8443", False),
    ],
)
async def test_an_allowed_origin_is_compared_by_scheme_host_and_port(
    listed: Starlette, origin: str, opens: bool
) -> None:
    assert await _opens(listed, origin) is opens


async def test_a_trusted_proxy_forwards_the_scheme_the_page_used(listed: Starlette) -> None:
    """TLS ends at the proxy: the socket arrives as ws, the page was https."""
    forwarded: dict[str, Any] = {"x-forwarded-proto": b"https"}
    assert await _opens(listed, "https://stageflow.test", **forwarded)
    assert not await _opens(listed, "http://stageflow.test", **forwarded)
