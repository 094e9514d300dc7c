"""JSON a client sends (request bodies, query-string parts, websocket messages), read with
guards, and the codes of the 400 answers that refuse a request before it is a GraphQL one.

The reader refuses what Python's `json` would turn into a 500 or into values no database
stores: bytes that are not UTF-8, integers past Python's 4,300 digits, numbers past a
double (and the non-standard `NaN` and `Infinity`), nesting past `MAX_DEPTH`.
"""

from __future__ import annotations

import json
import math
from typing import Any

INVALID_JSON = "INVALID_JSON"
JSON_TOO_DEEP = "JSON_TOO_DEEP"
JSON_NUMBER_TOO_LARGE = "JSON_NUMBER_TOO_LARGE"
BAD_REQUEST = "BAD_REQUEST"
OPERATION_NOT_ALLOWED = "OPERATION_NOT_ALLOWED"
UNKNOWN_OPERATION = "UNKNOWN_OPERATION"
METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
NOT_FOUND = "NOT_FOUND"

# Objects and lists in one another; a request with a process definition needs about 35.
MAX_DEPTH = 100


class Unreadable(json.JSONDecodeError):
    """JSON refused, with a code; a JSONDecodeError, so a websocket closes as on broken JSON."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason, "", 0)
        self.code = code
        self.reason = reason

    def __str__(self) -> str:
        return self.reason


def read_json(data: str | bytes) -> Any:
    """The value `data` holds, or Unreadable saying why not."""
    if isinstance(data, bytes | bytearray):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as error:
            reason = f"not UTF-8 text: {error.reason} at byte {error.start}"
            raise Unreadable(INVALID_JSON, reason) from None
    try:
        value = json.loads(data, parse_float=_float, parse_constant=_constant)
    except Unreadable:
        raise
    except json.JSONDecodeError as error:
        raise Unreadable(
            INVALID_JSON, f"not valid JSON: line {error.lineno}, column {error.colno}: {error.msg}"
        ) from None
    except RecursionError:
        raise Unreadable(JSON_TOO_DEEP, _too_deep()) from None
    except ValueError:  # Python refuses to read an integer of more than 4,300 digits
        reason = "a number has more digits than can be read"
        raise Unreadable(JSON_NUMBER_TOO_LARGE, reason) from None
    _check_depth(value)
    return value


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise Unreadable(JSON_NUMBER_TOO_LARGE, f"the number {text[:40]} is too large")
    return value


def _constant(name: str) -> Any:
    raise Unreadable(INVALID_JSON, f"not valid JSON: {name} is no JSON number")


def _check_depth(value: Any) -> None:
    level = [value] if isinstance(value, dict | list) else []
    depth = 0
    while level:
        depth += 1
        if depth > MAX_DEPTH:
            raise Unreadable(JSON_TOO_DEEP, _too_deep())
        level = [
            child
            for item in level
            for child in (item.values() if isinstance(item, dict) else item)
            if isinstance(child, dict | list)
        ]


def _too_deep() -> str:
    return f"objects and lists are nested more than {MAX_DEPTH} deep"
