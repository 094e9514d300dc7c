"""What a client sends reaches the logs escaped, on the line of its record, and cut: a line
break in a cursor or a name cannot start a log line of its own, and a huge input is not
logged whole. Sign-in failures and refusals are logged, as OWASP asks, with name and
address."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from server.services import accounts

# What a forged line would look like: uvicorn's access log.
FORGED = 'INFO:     203.0.113.66:5000 - "POST /graphql HTTP/1.1" 200 OK'
BREAKS = {
    "newline": "\n",
    "crlf": "\r\n",
    "carriage-return": "\r",
    "line-separator": "\u2028",
    "next-line": "\x85",
    "vertical-tab": "\v",
}
RECORDS_AFTER = "query($a: String) { records(after: $a) { totalCount } }"
INSTANCES_AFTER = "query($a: String) { instances(after: $a) { totalCount } }"
SIGN_IN = """mutation($name: String!, $password: String!) {
  signIn(input: {name: $name, password: $password}) { __typename } }"""
WRONG_TYPE = "query($n: Int!) { records(first: $n) { totalCount } }"
PASSWORD = "a-long-secret-37"


def _forged_lines(text: str) -> list[str]:
    """Lines of the log (as any reader splits them) that start as the forged one does."""
    return [line for line in text.splitlines() if line.lstrip().startswith(FORGED[:20])]


@pytest.mark.parametrize("brk", BREAKS.values(), ids=BREAKS.keys())
async def test_client_input_is_logged_on_its_line_and_cut(
    gql: Any, caplog: pytest.LogCaptureFixture, brk: str
) -> None:
    """A line break starts no log line of its own; 900 KB of such lines are not logged
    whole."""
    sent = f"x{brk}{FORGED}"
    huge = f"{'a' * 99}{brk}{FORGED}{brk}" * 5_000
    with caplog.at_level(logging.INFO):
        for value in (sent, huge):
            for document in (RECORDS_AFTER, INSTANCES_AFTER):
                assert (await gql.post(document, {"a": value})).json()["data"] is None
            await gql.post(SIGN_IN, {"name": value, "password": "not-the-password"}, user=None)
            await gql.post(WRONG_TYPE, {"n": value})
            await gql.post("query($s: String) { records(search: $s) { totalCount } }", {"s": value})
    assert _forged_lines(caplog.text) == []
    assert not [line for line in caplog.text.splitlines() if line.startswith("a" * 10)]
    assert FORGED in caplog.text  # it was logged (the failed sign-in names it), on its line
    assert len(caplog.text) < 50_000


async def test_sign_in_failures_and_refusals_are_logged_with_name_and_address(
    gql: Any, caplog: pytest.LogCaptureFixture
) -> None:
    await accounts.create_user(gql.app.state.runtime, name="ana", password=PASSWORD, by="tests")
    with caplog.at_level(logging.INFO, logger="stageflow.accounts"):
        for _ in range(6):
            await gql.post(SIGN_IN, {"name": "ana", "password": "guess-1234"}, user=None)
    logged = [(r.levelname, r.getMessage()) for r in caplog.records if r.name.endswith("accounts")]
    assert logged == [("INFO", "sign-in failed: name 'ana' from 127.0.0.1")] * 5 + [
        ("WARNING", "sign-in refused, user-address limit: name 'ana' from 127.0.0.1")
    ]
    assert "guess-1234" not in caplog.text
