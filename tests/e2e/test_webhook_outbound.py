"""One webhook try against receivers that misbehave: a redirect is not followed, an endless
answer is read up to the cap, silence ends at the time limit, private addresses are refused."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from server.services.outbound import post

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@asynccontextmanager
async def raw_server(handle: Handler) -> AsyncIterator[int]:
    """A TCP server answering with `handle`; every connection closed when the block ends."""
    tasks: set[asyncio.Task[None]] = set()

    async def handled(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        tasks.add(asyncio.current_task())  # type: ignore[arg-type]
        try:
            await handle(reader, writer)
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    server = await asyncio.start_server(handled, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await server.wait_closed()


async def _request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length")
    )
    return head + await reader.readexactly(length)


async def send(port: int, *, timeout: float = 5, allow_private: bool = True) -> object:
    return await post(
        f"http://127.0.0.1:{port}/hook",
        body=b'{"a":1}',
        headers={"Stageflow-Delivery": "d-1"},
        timeout=timeout,
        allow_private=allow_private,
        max_bytes=64 * 1024,
    )


async def test_a_redirect_is_a_failed_try_and_is_not_followed() -> None:
    followed: list[bytes] = []

    async def target(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        followed.append(await _request(reader))
        writer.close()

    async with raw_server(target) as elsewhere:

        async def redirect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await _request(reader)
            writer.write(
                f"HTTP/1.1 307 Temporary Redirect\r\nLocation: http://127.0.0.1:{elsewhere}/"
                "\r\nContent-Length: 0\r\n\r\n".encode()
            )
            await writer.drain()
            writer.close()

        async with raw_server(redirect) as port:
            sent = await send(port)
    assert sent.status == 307 and not sent.ok  # type: ignore[attr-defined]
    assert "redirects are not followed" in sent.error  # type: ignore[attr-defined]
    assert followed == []


async def test_an_endless_answer_is_read_up_to_the_cap() -> None:
    async def endless(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await _request(reader)
        assert b"Stageflow-Delivery: d-1" in request and request.endswith(b'{"a":1}')
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n")
        try:
            while True:  # no length, never closed: only the cap ends the read
                writer.write(b"x" * 65536)
                await writer.drain()
        except (ConnectionError, OSError):
            pass

    async with raw_server(endless) as port:
        sent = await send(port, timeout=30)
    assert sent.ok and sent.status == 200  # type: ignore[attr-defined]
    assert sent.error is None  # type: ignore[attr-defined]


async def test_a_silent_receiver_ends_at_the_time_limit() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _request(reader)
        await asyncio.sleep(30)

    async with raw_server(silent) as port:
        sent = await send(port, timeout=0.3)
    assert sent.status is None  # type: ignore[attr-defined]
    assert sent.error == "no answer within 0.3 s"  # type: ignore[attr-defined]


async def test_an_answer_that_is_not_http_is_a_failed_try() -> None:
    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _request(reader)
        writer.write(b"SSH-2.0-OpenSSH\r\n\r\n")
        await writer.drain()
        writer.close()

    async with raw_server(garbage) as port:
        sent = await send(port)
    assert sent.status is None and "not an HTTP response" in sent.error  # type: ignore[attr-defined]


async def test_a_private_address_is_refused_before_connecting() -> None:
    connected: list[int] = []

    async def counted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connected.append(1)
        writer.close()

    async with raw_server(counted) as port:
        sent = await send(port, allow_private=False)
    assert sent.status is None  # type: ignore[attr-defined]
    assert "127.0.0.1, which is not a public address" in sent.error  # type: ignore[attr-defined]
    assert connected == []


async def test_a_name_that_does_not_resolve_is_a_failed_try() -> None:
    sent = await post(
        "http://no-such-host.invalid/hook",
        body=b"{}",
        headers={},
        timeout=5,
        allow_private=False,
        max_bytes=1024,
    )
    assert sent.status is None and "does not resolve" in (sent.error or "")
