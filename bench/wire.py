"""A PostgreSQL proxy that counts the statements its clients send.

It sits between a server under test and PostgreSQL and reads the frontend side of
the wire protocol: each extended-protocol Execute is one statement (the SQL comes
from the Parse its portal was bound to), and a simple Query message counts each of
the statements it holds (asyncpg's pool reset is one such message of four). A
request that asks for SSL is told no, so the stream stays readable.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from collections import Counter
from dataclasses import dataclass, field

_SSL_REQUEST = 80877103
_GSS_REQUEST = 80877104
# The reset asyncpg runs when a pooled connection is released.
_RESET_MARK = "pg_advisory_unlock_all"


def kind_of(sql: str) -> str:
    """A statement's first word, upper-cased; asyncpg's pool reset is `RESET`."""
    words = sql.strip().split(None, 1)
    return words[0].upper().rstrip(";") if words else ""


def statements_in(text: str) -> list[str]:
    """The statements of a simple query; `;` inside quotes does not split."""
    out, current, quote = [], [], ""
    for char in text:
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == ";":
            out.append("".join(current))
            current = []
            continue
        current.append(char)
    out.append("".join(current))
    return [s.strip() for s in out if s.strip()]


@dataclass
class Tally:
    """What went through: statements by kind, their texts, and round trips."""

    kinds: Counter[str] = field(default_factory=Counter)
    texts: Counter[str] = field(default_factory=Counter)
    round_trips: int = 0

    @property
    def statements(self) -> int:
        return sum(self.kinds.values())

    def add(self, sql: str, *, reset: bool = False) -> None:
        self.kinds["RESET" if reset else kind_of(sql)] += 1
        self.texts[" ".join(sql.split())[:300]] += 1

    def clear(self) -> None:
        self.kinds.clear()
        self.texts.clear()
        self.round_trips = 0


def _cstring(data: bytes, start: int) -> tuple[str, int]:
    end = data.index(b"\0", start)
    return data[start:end].decode("utf-8", "replace"), end + 1


class _Session:
    """One client connection's prepared statements and portals."""

    def __init__(self, tally: Tally) -> None:
        self.tally = tally
        self.prepared: dict[str, str] = {}
        self.portals: dict[str, str] = {}

    def message(self, kind: bytes, body: bytes) -> None:
        if kind == b"Q":
            text, _ = _cstring(body, 0)
            reset = _RESET_MARK in text
            for sql in statements_in(text):
                self.tally.add(sql, reset=reset)
            self.tally.round_trips += 1
        elif kind == b"P":
            name, at = _cstring(body, 0)
            self.prepared[name], _ = _cstring(body, at)
        elif kind == b"B":
            portal, at = _cstring(body, 0)
            statement, _ = _cstring(body, at)
            self.portals[portal] = self.prepared.get(statement, "?")
        elif kind == b"E":
            portal, _ = _cstring(body, 0)
            self.tally.add(self.portals.get(portal, "?"))
        elif kind == b"S":
            self.tally.round_trips += 1
        elif kind == b"C" and body[:1] == b"S":
            name, _ = _cstring(body, 1)
            self.prepared.pop(name, None)


class CountingProxy:
    """Listens on 127.0.0.1:`port` (0: any free port) and forwards to `upstream`."""

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.tally = Tally()
        self.port = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):
                await task

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        upstream_writer: asyncio.StreamWriter | None = None
        try:
            startup = await self._startup(reader, writer)
            if startup is None:
                return
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.upstream)
            upstream_writer.write(startup)
            back = asyncio.create_task(_pipe(upstream_reader, writer))
            try:
                await self._forward(reader, upstream_writer)
            finally:
                back.cancel()
                with contextlib.suppress(BaseException):
                    await back
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        finally:
            for w in (writer, upstream_writer):
                if w is not None:
                    w.close()
            self._tasks.discard(task)

    async def _startup(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bytes | None:
        """The startup message, after declining SSL and GSS encryption."""
        while True:
            head = await reader.readexactly(8)
            length, code = struct.unpack("!ii", head)
            rest = await reader.readexactly(length - 8)
            if code in (_SSL_REQUEST, _GSS_REQUEST):
                writer.write(b"N")
                await writer.drain()
                continue
            return head + rest

    async def _forward(self, reader: asyncio.StreamReader, upstream: asyncio.StreamWriter) -> None:
        session = _Session(self.tally)
        while True:
            kind = await reader.readexactly(1)
            (length,) = struct.unpack("!i", await reader.readexactly(4))
            body = await reader.readexactly(length - 4)
            session.message(kind, body)
            upstream.write(kind + struct.pack("!i", length) + body)
            if kind == b"X":
                await upstream.drain()
                return
            await upstream.drain()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError, asyncio.CancelledError):
        while chunk := await reader.read(65536):
            writer.write(chunk)
            await writer.drain()
    writer.close()
