"""Text that can be stored: the same on SQLite and PostgreSQL, in columns and in JSON.

PostgreSQL refuses the NUL character in text and in JSON; neither database can hold half
of a surrogate pair (a lone surrogate is no UTF-8 text, though JSON can spell one as
`"\\ud800"`). Such text is refused wherever it arrives, before any query is made.
"""

from __future__ import annotations

import math
import re
from typing import Any

from server.domain.errors import InvalidValue

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def unstorable(text: str) -> str | None:
    """Why `text` cannot be stored, or None if it can."""
    if text.isascii() and "\x00" not in text:
        return None
    found = _UNSTORABLE.search(text)
    if found is None:
        return None
    if found.group() == "\x00":
        return "NUL characters cannot be stored"
    return "unpaired surrogate characters cannot be stored"


def check_text(field: str, text: str, *, limit: int | None = None) -> str:
    """`text` if it can be stored and is at most `limit` characters long; else InvalidValue."""
    reason = unstorable(text)
    if reason is not None:
        raise InvalidValue(field, reason)
    if limit is not None and len(text) > limit:
        raise InvalidValue(field, f"at most {limit} characters")
    return text


def unstorable_in(data: Any, path: str = "") -> tuple[str, str] | None:
    """The path of the first text in a JSON value (keys included), or number, that cannot be
    stored (JSON has no NaN or infinity), and why; None when all of it can. The value's
    nesting is bounded where it was read."""
    todo: list[tuple[str, Any]] = [(path, data)]
    while todo:
        where, value = todo.pop()
        if isinstance(value, str):
            reason = unstorable(value)
            if reason is not None:
                return _printable(where), reason
        elif isinstance(value, float) and not math.isfinite(value):
            return _printable(where), "numbers are finite"
        elif isinstance(value, dict):
            for key, item in value.items():
                inner = f"{where}.{key}" if where else str(key)
                if isinstance(key, str) and (reason := unstorable(key)) is not None:
                    return _printable(inner), reason
                todo.append((inner, item))
        elif isinstance(value, list):
            todo.extend((f"{where}[{i}]", item) for i, item in enumerate(value))
    return None


def _printable(path: str) -> str:
    """A path that can itself be stored and shown: what cannot is escaped."""
    return _UNSTORABLE.sub(lambda m: f"\\u{ord(m.group()):04x}", path)[:200]
