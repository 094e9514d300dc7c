"""A real server's log file: a line break a client sends starts no line of its own, a huge
input is not logged whole, and what a URL carries (a token, a sign-in's password over GET)
is refused and never logged, by the access log either."""

from __future__ import annotations

import httpx
import pytest
from serving import Server, post, stop_server
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

FORGED = 'INFO:     203.0.113.66:5000 - "POST /graphql HTTP/1.1" 200 OK'
SECRET = "sf_a-token-in-a-url"
PASSWORD = "a-password-in-a-url"
SIGN_IN = """mutation($name: String!) {
  signIn(input: {name: $name, password: "not-the-password"}) { __typename } }"""


def _code(response: httpx.Response) -> str:
    return str(response.json()["errors"][0]["extensions"]["code"])


def test_the_log_holds_no_forged_line_no_huge_input_and_no_credentials_from_urls(
    server: Server,
) -> None:
    url = f"{server.url}/graphql"
    before = server.log.stat().st_size
    cursor = post(
        server,
        "query($a: String) { records(after: $a) { totalCount } }",
        {"a": f"x\n{FORGED}"},
        token=server.token,
    )
    assert cursor["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    for name in (f"x\n{FORGED}", f"{'a' * 99}\n" * 9_000):
        httpx.post(url, json={"query": SIGN_IN, "variables": {"name": name}}, timeout=30)

    auth = {"authorization": f"Bearer {server.token}"}
    in_url = httpx.get(url, params={"query": "{ me { name } }", "token": SECRET}, headers=auth)
    assert (in_url.status_code, _code(in_url)) == (400, "URL_PARAMETER_NOT_ALLOWED")
    sign_in = (
        f'mutation {{ signIn(input: {{name: "admin", password: "{PASSWORD}"}}) {{ __typename }} }}'
    )
    over_get = httpx.get(url, params={"query": sign_in})
    assert (over_get.status_code, _code(over_get)) == (400, "OPERATION_NOT_ALLOWED")
    assert "set-cookie" not in over_get.headers
    with pytest.raises(InvalidStatus) as refused:
        connect(
            f"{url.replace('http', 'ws', 1)}?token={SECRET}", subprotocols=["graphql-transport-ws"]
        )  # type: ignore[list-item]
    assert refused.value.response.status_code == 403

    stop_server(server)  # everything it logged is in the file
    with server.log.open("rb") as log:
        log.seek(before)
        text = log.read().decode("utf-8", "replace")
    lines = text.splitlines()
    assert '"GET /graphql HTTP/1.1" 400' in text  # the access log ran, without query strings
    assert '"WebSocket /graphql" 403' in text
    assert "Cursor x\\n" + FORGED[:20] in text  # the cursor's refusal was logged, on its line
    assert "sign-in failed: name 'x\\\\n" + FORGED[:20] in text
    assert not [line for line in lines if line.lstrip().startswith(FORGED[:20])]
    assert not [line for line in lines if line.startswith("a" * 10)]
    assert SECRET not in text and PASSWORD not in text
    assert len(text) < 100_000
