"""A request body over a size is refused with 413 before it is read in full."""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

BODY_TOO_LARGE = "BODY_TOO_LARGE"


class _TooLarge(Exception):
    pass


class BodyLimit:
    """Wraps an ASGI app: a declared `content-length` over `max_bytes` is refused at once;
    a body sent without one (chunked) is counted as it arrives and refused past the limit."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, receive, send, more_body=True)
            return

        received = 0
        more_body = True
        started = False

        async def counted() -> Message:
            nonlocal received, more_body
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                more_body = message.get("more_body", False)
                if received > self.max_bytes:
                    raise _TooLarge
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except _TooLarge:
            if started:  # cannot happen with an app that reads its body first
                raise
            await self._refuse(scope, receive, send, more_body=more_body)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, *, more_body: bool) -> None:
        if more_body and Headers(scope=scope).get("expect", "").lower() != "100-continue":
            await self._drop(receive)
        error = {
            "message": f"The request body is larger than {self.max_bytes} bytes.",
            "extensions": {"code": BODY_TOO_LARGE, "maxBytes": self.max_bytes},
        }
        response = JSONResponse(
            {"errors": [error]}, status_code=413, headers={"connection": "close"}
        )
        await response(scope, receive, send)

    async def _drop(self, receive: Receive) -> None:
        """Read and drop up to `max_bytes` more of the body.

        A client that sends its whole body before reading the answer (most do, unless they
        wait for `100 Continue`) gets a connection reset instead of the 413 if the server
        closes with its data unread. Reading a little more lets one slightly past the limit
        read why; past that, it is closed on.
        """
        dropped = 0
        while dropped <= self.max_bytes:
            message = await receive()
            if message["type"] != "http.request":
                return
            dropped += len(message.get("body", b""))
            if not message.get("more_body", False):
                return
