"""What the URL of /graphql may carry: a GET's request (query, variables, operationName,
extensions) and nothing else. A URL is logged, kept in browser history and passed on in
Referer headers, so credentials never belong in it: a token in a parameter
(`/graphql?token=...`) is refused, not ignored, and so is any other parameter, on a POST
(its request is in the body) and on the websocket handshake (it signs in with
connection_init). A mutation over GET, which would carry a password in the URL for a
sign-in, is refused too, by the view (OPERATION_NOT_ALLOWED).
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.types import Scope

URL_PARAMETER_NOT_ALLOWED = "URL_PARAMETER_NOT_ALLOWED"
GET_PARAMETERS = frozenset({"query", "variables", "operationName", "extensions"})


def refused_parameters(scope: Scope) -> str | None:
    """Why the URL of a request may not be answered, or None."""
    raw = scope.get("query_string") or b""
    if not raw:
        return None
    names = sorted({name for name, _ in parse_qsl(raw.decode("latin-1"), keep_blank_values=True)})
    allowed = GET_PARAMETERS if scope["type"] == "http" and scope.get("method") == "GET" else ()
    unknown = [name for name in names if name not in allowed][:5]
    if not unknown and names:
        return None
    listed = ", ".join(repr(name[:40]) for name in unknown) or "a query string"
    return (
        f"the URL may not carry {listed}: a GET's URL carries query, variables, operationName "
        "and extensions only, a POST's and a websocket's nothing; credentials go in the "
        "Authorization header, the session cookie or connection_init"
    )
