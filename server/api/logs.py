"""Log records that may quote what a client sent are cut to a bounded length.

An error's message often holds the input that caused it (a 100,000-character name in a
validation error, say), and a traceback repeats it at every chained exception. The filter
cuts each line of the message and of the traceback, and the whole record, and escapes
characters no log file can hold (lone surrogates).
"""

from __future__ import annotations

import contextlib
import logging
import traceback

MAX_LINE = 1_000
MAX_RECORD = 20_000

# The loggers through which client input may reach a log: Strawberry's error logging,
# the websocket handlers, uvicorn's own (its access log quotes the query string), the app's.
LOGGERS = (
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


def cut(text: str) -> str:
    """`text` with each line, and the whole, at most a bounded length."""
    lines = [
        line if len(line) <= MAX_LINE else f"{line[:MAX_LINE]}... ({len(line)} characters)"
        for line in text.split("\n")
    ]
    out = "\n".join(lines)
    if len(out) > MAX_RECORD:
        out = f"{out[:MAX_RECORD]}... ({len(out)} characters)"
    return out.encode("utf-8", "backslashreplace").decode("utf-8")


class CutInput(logging.Filter):
    """Cuts a record's message and traceback (formatted here, once, then dropped)."""

    def filter(self, record: logging.LogRecord) -> bool:
        with contextlib.suppress(Exception):  # one that cannot be formatted is logged as it is
            self._cut(record)
        return True

    @staticmethod
    def _cut(record: logging.LogRecord) -> None:
        if isinstance(record.args, tuple) and record.args:
            # Kept apart for formatters that read them (uvicorn's access log does).
            record.args = tuple(_cut_argument(a) for a in record.args)
            if isinstance(record.msg, str):
                record.msg = cut(record.msg)
        else:
            record.msg, record.args = cut(record.getMessage()), None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = cut("".join(traceback.format_exception(record.exc_info[1])).rstrip())
        elif record.exc_text:
            record.exc_text = cut(record.exc_text)
        record.exc_info = None
        if record.stack_info:
            record.stack_info = cut(record.stack_info)


def _cut_argument(value: object) -> object:
    if value is None or isinstance(value, bool | int | float):
        return value
    return cut(str(value))


def cut_client_input() -> None:
    """Install the filter on every logger client input may reach; once per process."""
    for name in LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, CutInput) for f in logger.filters):
            logger.addFilter(CutInput())
