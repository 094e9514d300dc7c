"""One POST to a webhook's URL, as a careful sender makes it.

The host is resolved here and every address it resolves to is checked, at each try, before
connecting to one of them: a name that once resolved to a public address and now resolves to
a private one (DNS rebinding) is refused. The connection goes to the checked address (TLS
still verifies the name). No redirect is followed; a response is read up to a cap; the
whole try, from resolving to the last byte read, has one time limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from server.domain.errors import InvalidValue
from server.domain.webhook import forbidden_address

_HEADER_LIMIT = 64 * 1024
_RESOLVE_SECONDS = 2.0


@dataclass(frozen=True)
class Sent:
    """What came of one try: the response's status, or why there was none."""

    status: int | None
    error: str | None
    duration_ms: int

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


class _Refused(Exception):
    pass


async def post(
    url: str,
    *,
    body: bytes,
    headers: Mapping[str, str],
    timeout: float,
    allow_private: bool,
    max_bytes: int,
) -> Sent:
    """POST `body` as JSON to `url`; never raises for anything the network or receiver does."""
    started = time.monotonic()
    try:
        async with asyncio.timeout(timeout):
            status, error = await _post(url, body, headers, allow_private, max_bytes)
    except TimeoutError:
        status, error = None, f"no answer within {timeout:g} s"
    except _Refused as refused:
        status, error = None, str(refused)
    except (OSError, ssl.SSLError, ValueError, EOFError) as failed:
        status, error = None, f"{type(failed).__name__}: {failed}"[:300]
    if status is not None and not 200 <= status < 300 and error is None:
        error = f"HTTP {status}" + (" (redirects are not followed)" if 300 <= status < 400 else "")
    return Sent(status, error, round((time.monotonic() - started) * 1000))


async def check_reachable(url: str, *, allow_private: bool) -> str:
    """Refuse a webhook URL whose host is, or now resolves to, an address webhooks may not
    reach (each try checks again). A name that does not resolve yet is let through: its
    tries will say so."""
    if allow_private:
        return url
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        async with asyncio.timeout(_RESOLVE_SECONDS):
            found = await addresses(host, parts.port or 443)
    except (OSError, TimeoutError):
        return url
    for address in found:
        if forbidden_address(address):
            raise InvalidValue(
                "url",
                f"{host} is {address}, which is not a public address; webhooks may not reach it",
            )
    return url


async def addresses(host: str, port: int) -> list[str]:
    """The addresses a host name resolves to now (an address as given stays itself)."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


async def _post(
    url: str, body: bytes, headers: Mapping[str, str], allow_private: bool, max_bytes: int
) -> tuple[int, str | None]:
    parts = urlsplit(url)
    host = parts.hostname or ""
    secure = parts.scheme == "https"
    port = parts.port or (443 if secure else 80)
    try:
        found = await addresses(host, port)
    except socket.gaierror as unknown:
        raise _Refused(f"{host} does not resolve ({unknown.strerror})") from None
    if not allow_private:
        for address in found:
            if forbidden_address(address):
                raise _Refused(
                    f"{host} resolves to {address}, which is not a public address; "
                    "webhooks may not reach it"
                )
    reader, writer = await _connect(found, port, host if secure else None)
    try:
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        lines = [
            f"POST {target} HTTP/1.1",
            f"Host: {parts.netloc}",
            "User-Agent: Stageflow-Webhooks/1",
            "Content-Type: application/json",
            f"Content-Length: {len(body)}",
            "Connection: close",
            *(f"{name}: {value}" for name, value in headers.items()),
        ]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        await writer.drain()
        return await _response(reader, max_bytes)
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


async def _connect(
    found: list[str], port: int, server_name: str | None
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    context = ssl.create_default_context() if server_name else None
    failure: OSError | None = None
    for address in found:
        try:
            return await asyncio.open_connection(
                address, port, ssl=context, server_hostname=server_name
            )
        except OSError as error:
            failure = error
    raise failure or OSError("no address to connect to")


async def _response(reader: asyncio.StreamReader, max_bytes: int) -> tuple[int, str | None]:
    """The status of a response; its body read up to `max_bytes` and dropped."""
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = await reader.read(4096)
        if not chunk:
            raise EOFError("the receiver closed the connection without an answer")
        head += chunk
        if len(head) > _HEADER_LIMIT:
            raise ValueError("the response's headers are too long")
    head, _, rest = head.partition(b"\r\n\r\n")
    status_line = head.split(b"\r\n", 1)[0].decode("latin-1")
    fields = status_line.split(" ", 2)
    if len(fields) < 2 or not fields[0].startswith("HTTP/") or not fields[1].isdigit():
        raise ValueError(f"not an HTTP response: {status_line[:80]!r}")
    status = int(fields[1])
    length = _content_length(head)
    chunked = length is None and b"chunked" in head.lower()
    wanted = max_bytes if length is None else min(length, max_bytes)
    read, tail = len(rest), rest[-5:]
    while read < wanted and not (chunked and tail.endswith(b"0\r\n\r\n")):
        chunk = await reader.read(min(65536, wanted - read))
        if not chunk:
            break
        read, tail = read + len(chunk), (tail + chunk)[-5:]
    return status, None


def _content_length(head: bytes) -> int | None:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length" and value.strip().isdigit():
            return int(value.strip())
    return None
