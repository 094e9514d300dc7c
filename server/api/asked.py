"""What a small GraphQL request asks, read once for the paths that answer it without the
general executor (kept answers, direct changes).

Only a POST of JSON, small enough to be read twice when neither path answers it, and
plainly a GraphQL request (a document, an optional operation name, variables, no
extensions) is looked at; anything else is left to the view, which refuses or runs it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.requests import Request

from server.api import client_json

# A change's document with its values fits; longer bodies are read once, by the view.
MAX_BODY_BYTES = 16384
_UNREAD = object()


@dataclass(frozen=True)
class Asked:
    query: str
    operation_name: str | None
    variables: Any  # as sent: judged by whoever answers

    @property
    def key(self) -> tuple[str, str | None]:
        return self.query, self.operation_name


async def asked(request: Request) -> Asked | None:
    """The request's document, operation name and variables, or None; read once."""
    found: object = getattr(request.state, "asked", _UNREAD)
    if found is _UNREAD:
        request.state.asked = found = await _read(request)
    assert found is None or isinstance(found, Asked)
    return found


async def _read(request: Request) -> Asked | None:
    if request.method != "POST" or not request.headers.get("content-type", "").startswith(
        "application/json"
    ):
        return None
    length = request.headers.get("content-length", "")
    if not (length.isdigit() and int(length) <= MAX_BODY_BYTES):
        return None
    try:
        data = client_json.read_json(await request.body())
    except client_json.Unreadable:
        return None
    if not isinstance(data, dict) or data.get("extensions") is not None:
        return None
    query, operation_name = data.get("query"), data.get("operationName")
    if not isinstance(query, str) or not isinstance(operation_name, str | None):
        return None
    return Asked(query, operation_name, data.get("variables"))
