"""A webhook receiver for the tests: a small Starlette app on a real uvicorn, checking each
delivery's signature the way the README tells receivers to, and keeping what arrived."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route


def verified(secret: str, header: str, body: bytes, *, tolerance: float = 300) -> bool:
    """A receiver's check: `t=…,v1=…`, the HMAC-SHA256 of "t." + body, made recently."""
    parts = dict(item.split("=", 1) for item in header.split(",") if "=" in item)
    if "t" not in parts or "v1" not in parts or not parts["t"].isdigit():
        return False
    expected = hmac.new(
        secret.encode(), parts["t"].encode() + b"." + body, hashlib.sha256
    ).hexdigest()
    fresh = abs(time.time() - int(parts["t"])) <= tolerance
    return fresh and hmac.compare_digest(expected, parts["v1"])


@dataclass
class Arrival:
    at: float
    delivery: str
    seq: int
    signed: bool
    body: dict[str, Any]
    raw: bytes = b""
    signature: str = ""


@dataclass
class Receiver:
    secret: str = ""
    # Answers each request: a status code (the default 200), or raises to drop it.
    answer: Callable[[Arrival], int] = lambda arrival: 200
    arrivals: list[Arrival] = field(default_factory=list)
    # Every request, answered well or not.
    tries: list[Arrival] = field(default_factory=list)
    port: int = 0
    # While cleared, requests are held unanswered (set: answered at once).
    release: threading.Event = field(default_factory=threading.Event)
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self.release.set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def _hook(self, request: Request) -> Response:
        body = await request.body()
        while not self.release.is_set():
            await asyncio.sleep(0.05)
        arrival = Arrival(
            at=time.monotonic(),
            delivery=request.headers.get("stageflow-delivery", ""),
            seq=int(request.headers.get("stageflow-event-seq", "0")),
            signed=verified(self.secret, request.headers.get("stageflow-signature", ""), body),
            body=json.loads(body),
            raw=body,
            signature=request.headers.get("stageflow-signature", ""),
        )
        self.tries.append(arrival)
        status = self.answer(arrival)
        if 200 <= status < 300:
            self.arrivals.append(arrival)
        self._changed.set()
        return PlainTextResponse("ok" if status < 300 else "no", status_code=status)

    def delivered(self) -> dict[str, Arrival]:
        """The first arrival of each delivery id."""
        first: dict[str, Arrival] = {}
        for arrival in self.arrivals:
            first.setdefault(arrival.delivery, arrival)
        return first

    async def wait_for(self, done: Callable[[Receiver], bool], *, timeout: float = 30) -> None:
        async with asyncio.timeout(timeout):
            while not done(self):
                self._changed.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), 0.5)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.asynccontextmanager
async def receiving(receiver: Receiver, *, port: int | None = None) -> AsyncIterator[Receiver]:
    """Serve `receiver` on 127.0.0.1 until the block ends (again on the same port if given)."""
    receiver.port = port or receiver.port or free_port()
    app = Starlette(routes=[Route("/hook", receiver._hook, methods=["POST"])])
    server = uvicorn.Server(
        uvicorn.Config(
            app, host="127.0.0.1", port=receiver.port, log_level="warning", lifespan="off"
        )
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        yield receiver
    finally:
        server.should_exit = True
        await task


@contextlib.contextmanager
def receiving_in_thread(receiver: Receiver, *, port: int | None = None) -> Any:
    """`receiving` on a thread of its own, for tests that block on other servers."""
    receiver.port = port or receiver.port or free_port()
    started, stop = threading.Event(), threading.Event()
    failed: list[BaseException] = []

    async def serve() -> None:
        receiver._changed = asyncio.Event()
        async with receiving(receiver, port=receiver.port):
            started.set()
            while not stop.is_set():
                await asyncio.sleep(0.05)

    def run() -> None:
        try:
            asyncio.run(serve())
        except BaseException as error:
            failed.append(error)
            started.set()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    started.wait(30)
    if failed:
        raise failed[0]
    try:
        yield receiver
    finally:
        receiver.release.set()
        stop.set()
        thread.join(30)


def wait_until(done: Callable[[], bool], *, timeout: float = 60, what: str = "") -> None:
    """Poll `done` from a blocking test."""
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, f"still waiting: {what}"
        time.sleep(0.05)
