"""Log records that may quote what a client sent stay one line each, bounded, and without
query strings.

An error's message often holds the input that caused it (a cursor in a NotFound, a name in
a validation error), and a traceback repeats it at every chained exception. The filter
escapes every character that is not printable (a line break in a cursor would otherwise
start a line of its own, one that looks like any other log line) and cuts each value: the
arguments of a record one by one (formatters such as uvicorn's access log read them),
a message that has none as a whole, and in a traceback the message of each exception. The
access log and the websocket handshake lines leave out query strings, which may carry
credentials (the API refuses such URLs, after they were logged).
"""

from __future__ import annotations

import contextlib
import logging
import traceback
from collections.abc import Callable, Generator, Iterable

MAX_LINE = 1_000
MAX_RECORD = 20_000

# The loggers through which client input may reach a log: Strawberry's error logging,
# the websocket handlers, uvicorn's own (its access log quotes the path), the app's.
LOGGERS = (
    "asyncio",
    "strawberry.execution",
    "strawberry.ws",
    "strawberry.ws.task",
    "uvicorn.error",
    "uvicorn.access",
    "stageflow.api",
    "stageflow.accounts",
    "stageflow.events",
    "stageflow.fanout",
    "stageflow.supervisor",
    "server.api.sockets",
)


def escape(text: str) -> str:
    """`text` on one line: each character that is not printable (line breaks and other
    control characters, lone surrogates, line separators) spelled as a Python escape."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else _escaped(c) for c in text)


def _escaped(character: str) -> str:
    return character.encode("unicode_escape", "backslashreplace").decode("ascii")


def clean(text: str, limit: int = MAX_LINE) -> str:
    """`text` cut to `limit` characters, then escaped."""
    if len(text) > limit:
        text = f"{text[:limit]}... ({len(text)} characters)"
    return escape(text)


def cut(text: str) -> str:
    """A multi-line text (a traceback) with each line, and the whole, of bounded length."""
    lines = [
        line if len(line) <= MAX_LINE else f"{line[:MAX_LINE]}... ({len(line)} characters)"
        for line in text.split("\n")
    ]
    out = "\n".join(lines)
    if len(out) > MAX_RECORD:
        out = f"{out[:MAX_RECORD]}... ({len(out)} characters)"
    return out.encode("utf-8", "backslashreplace").decode("utf-8")


def formatted_traceback(error: BaseException) -> str:
    """The traceback of `error` and of the exceptions chained to it, as Python prints it,
    but with each exception's own text (type, message, notes) on one escaped line: the
    frames come from the code, the messages may come from clients."""
    shown = traceback.TracebackException.from_exception(error)
    todo, seen = [shown], set()
    while todo:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        one_line = _one_line(current.format_exception_only)
        current.format_exception_only = one_line  # type: ignore[method-assign]
        todo.extend(
            linked
            for linked in (current.__cause__, current.__context__, *(current.exceptions or ()))
            if linked is not None
        )
    return "".join(shown.format()).rstrip()


def _one_line(plain: Callable[[], Iterable[str]]) -> Callable[[], Generator[str, None, None]]:
    def lines() -> Generator[str, None, None]:
        yield clean("".join(plain()).rstrip("\n")) + "\n"

    return lines


class CutInput(logging.Filter):
    """Escapes and cuts a record's message and traceback (formatted here, once, then
    dropped)."""

    def filter(self, record: logging.LogRecord) -> bool:
        with contextlib.suppress(Exception):  # one that cannot be formatted is logged as it is
            self._cut(record)
        return True

    @staticmethod
    def _cut(record: logging.LogRecord) -> None:
        if isinstance(record.args, tuple) and record.args:
            record.args = tuple(_cut_argument(a) for a in record.args)
            if isinstance(record.msg, str):
                record.msg = cut(record.msg)
        else:
            record.msg, record.args = clean(record.getMessage()), None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = cut(formatted_traceback(record.exc_info[1]))
        elif record.exc_text:
            record.exc_text = cut(record.exc_text)
        record.exc_info = None
        if record.stack_info:
            record.stack_info = cut(record.stack_info)


def _cut_argument(value: object) -> object:
    if value is None or isinstance(value, bool | int | float):
        return value
    return clean(str(value))


class NoQueryStrings(logging.Filter):
    """Leaves the query string out of the paths uvicorn logs: the access log's
    `(client, method, path, version, status)` and the websocket handshake lines of
    `uvicorn.error`, `(client, path, ...)`."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if not isinstance(args, tuple):
            return True
        if record.name == "uvicorn.access" and len(args) == 5:
            record.args = (*args[:2], _path(args[2]), *args[3:])
        elif isinstance(record.msg, str) and record.msg.startswith('%s - "WebSocket %s"'):
            record.args = (args[0], _path(args[1]), *args[2:])
        return True


def _path(value: object) -> object:
    return value.partition("?")[0] if isinstance(value, str) else value


def cut_client_input() -> None:
    """Install the filters on every logger client input may reach; once per process."""
    for name in LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, CutInput) for f in logger.filters):
            logger.addFilter(CutInput())
    for name in ("uvicorn.access", "uvicorn.error"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, NoQueryStrings) for f in logger.filters):
            # Before CutInput, which would add " (N characters)" to a long path.
            logger.filters.insert(0, NoQueryStrings())
