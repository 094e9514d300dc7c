"""IDs as the API spells them."""

from __future__ import annotations

from server.domain.errors import NotFound

_MAX_ID = 2**31 - 1


def parse_id(kind: str, raw: object) -> int:
    """An object id; anything that cannot be one names nothing."""
    text = str(raw)
    if not (text.isascii() and text.isdigit()) or not 0 < int(text) <= _MAX_ID:
        raise NotFound(kind, text[:40])
    return int(text)


def parse_optional(kind: str, raw: object | None) -> int | None:
    return None if raw is None else parse_id(kind, raw)
