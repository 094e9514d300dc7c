"""Hostile requests: a body or query string that is no GraphQL request gets a 400 with a
GraphQL error body, a document of several operations names the one to run, a subscription
is refused over HTTP, and logs cut what a client sent."""

from __future__ import annotations

import json
import logging
from typing import Any

import httpx
import pytest
from documents import CREATE_RECORD
from sockets import Closed, Socket

from server.services import queries

LAST_SEQ = "{ lastEventSeq }"
HUGE = "1" * 4301  # one digit past what Python reads as an int
CREATE = json.dumps(CREATE_RECORD)


def _body(variables: str) -> bytes:
    return ('{"query": ' + CREATE + ', "variables": ' + variables + "}").encode()


BAD_BODIES = {
    "null": (b"null", "BAD_REQUEST"),
    "string": (b'"x"', "BAD_REQUEST"),
    "number": (b"123", "BAD_REQUEST"),
    "boolean": (b"true", "BAD_REQUEST"),
    "list": (b"[]", "BAD_REQUEST"),
    "list-of-requests": (b'[{"query": "{ lastEventSeq }"}]', "BAD_REQUEST"),
    "query-not-text": (b'{"query": 5}', "BAD_REQUEST"),
    "variables-not-object": (b'{"query": "{ lastEventSeq }", "variables": [1]}', "BAD_REQUEST"),
    "operation-name-not-text": (
        b'{"query": "{ lastEventSeq }", "operationName": {"a": 1}}',
        "BAD_REQUEST",
    ),
    "no-query": (b'{"variables": {}}', "BAD_REQUEST"),
    "not-json": (b'{"query": ', "INVALID_JSON"),
    "not-utf8": (b'{"query": "{ lastEventSeq }", "x": "\xff\xfe"}', "INVALID_JSON"),
    "utf16": ('{"query": "{ lastEventSeq }"}'.encode("utf-16"), "INVALID_JSON"),
    "nan": (_body('{"input": {"entity": "opportunity", "name": "N", "x": NaN}}'), "INVALID_JSON"),
    "long-integer": (
        _body(
            '{"input": {"entity": "opportunity", "name": "N", "values": {"probability": '
            + HUGE
            + "}}}"
        ),
        "JSON_NUMBER_TOO_LARGE",
    ),
    "float-past-double": (
        _body(
            '{"input": {"entity": "opportunity", "name": "N", "values": {"probability": 1e400}}}'
        ),
        "JSON_NUMBER_TOO_LARGE",
    ),
    "deep": (b"[" * 5000 + b"]" * 5000, "JSON_TOO_DEEP"),
    "deep-variables": (
        _body(
            '{"input": {"entity": "opportunity", "name": "N", "values": {"probability": '
            + "[" * 5000
            + "]" * 5000
            + "}}}"
        ),
        "JSON_TOO_DEEP",
    ),
}


async def _last_seq(gql: Any) -> int:
    return int((await gql.execute(LAST_SEQ))["lastEventSeq"])


def _refusal(response: httpx.Response, code: str) -> dict[str, Any]:
    """A 400 whose body is a GraphQL error with `code`; the error."""
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/json"), response.text
    payload = response.json()
    assert set(payload) == {"errors"}, payload
    [error] = payload["errors"]
    assert error["message"] and len(error["message"]) < 300, error
    assert error["extensions"]["code"] == code, error
    return error  # type: ignore[no-any-return]


@pytest.mark.parametrize(("body", "code"), BAD_BODIES.values(), ids=BAD_BODIES.keys())
async def test_a_body_that_is_no_graphql_request_is_a_400_with_a_graphql_error(
    gql: Any, body: bytes, code: str
) -> None:
    before = await _last_seq(gql)
    headers = {"authorization": f"Bearer {await gql.token('demo')}"}
    response = await gql.http.post(
        "/graphql", content=body, headers={**headers, "content-type": "application/json"}
    )
    _refusal(response, code)
    assert await _last_seq(gql) == before


async def test_a_body_of_another_content_type_is_a_400_with_a_graphql_error(gql: Any) -> None:
    response = await gql.http.post(
        "/graphql", content=b"{ lastEventSeq }", headers={"content-type": "text/plain"}
    )
    _refusal(response, "BAD_REQUEST")


BAD_QUERY_STRINGS = {
    "variables-not-json": ({"variables": "{"}, "INVALID_JSON"),
    "variables-deep": ({"variables": "[" * 5000 + "]" * 5000}, "JSON_TOO_DEEP"),
    "variables-long-integer": ({"variables": '{"a": ' + HUGE + "}"}, "JSON_NUMBER_TOO_LARGE"),
    "variables-not-object": ({"variables": "123"}, "BAD_REQUEST"),
    "extensions-not-object": ({"extensions": '"x"'}, "BAD_REQUEST"),
    "mutation": ({"query": 'mutation { createApiToken(label: "x") { secret } }'}, None),
    "subscription": ({"query": "subscription { stageChanged { seq } }"}, None),
}


@pytest.mark.parametrize(
    ("params", "code"), BAD_QUERY_STRINGS.values(), ids=BAD_QUERY_STRINGS.keys()
)
async def test_a_bad_query_string_is_a_400_with_a_graphql_error(
    gql: Any, params: dict[str, str], code: str | None
) -> None:
    before = await _last_seq(gql)
    headers = {"authorization": f"Bearer {await gql.token('demo')}"}
    sent = {"query": LAST_SEQ, **params}
    response = await gql.http.get("/graphql", params=sent, headers=headers)
    _refusal(response, code or "OPERATION_NOT_ALLOWED")
    assert await _last_seq(gql) == before


async def test_a_subscription_over_http_is_refused_with_a_code(gql: Any) -> None:
    document = 'subscription { instanceEvents(instanceId: "1") { seq } }'
    error = _refusal(await gql.post(document), "OPERATION_NOT_ALLOWED")
    assert "websocket" in error["message"]


LONG_NUMBERS = {
    "int-argument": "{ records(first: " + "1" * 5000 + ") { totalCount } }",
    "json-value": 'mutation { createRecord(input: {entity: "opportunity", name: "N", values: '
    "{probability: " + "9" * 5000 + "}}) { __typename } }",
    "float": "mutation { createProcess(input: {definition: {x: 1." + "0" * 200 + "}}) "
    "{ __typename } }",
}


@pytest.mark.parametrize("document", LONG_NUMBERS.values(), ids=LONG_NUMBERS.keys())
async def test_a_number_literal_past_the_limit_is_refused_before_it_is_read(
    gql: Any, document: str
) -> None:
    before = await _last_seq(gql)
    payload = (await gql.post(document)).json()
    assert payload["data"] is None
    [error] = payload["errors"]
    assert error["extensions"] == {"code": "NUMBER_TOO_LONG", "maxLength": 100}, error
    assert await _last_seq(gql) == before


# Websocket messages.

BAD_MESSAGES = {
    "list": "[]",
    "number": "5",
    "deep": "[" * 5000 + "]" * 5000,
    "long-integer": '{"type": "ping", "payload": {"n": ' + HUGE + "}}",
    "id-not-text": '{"id": ["1"], "type": "subscribe", "payload": {"query": "{ lastEventSeq }"}}',
    "query-not-text": '{"id": "1", "type": "subscribe", "payload": {"query": 5}}',
    "no-payload": '{"id": "1", "type": "subscribe"}',
    "variables-not-object": (
        '{"id": "1", "type": "subscribe", "payload": {"query": "{ lastEventSeq }", "variables": 5}}'
    ),
    "operation-name-not-text": (
        '{"id": "1", "type": "subscribe", "payload": {"query": "{ lastEventSeq }", '
        '"operationName": 5}}'
    ),
    "complete-id-not-text": '{"id": {}, "type": "complete"}',
}


@pytest.mark.parametrize("text", BAD_MESSAGES.values(), ids=BAD_MESSAGES.keys())
async def test_a_malformed_websocket_message_closes_the_socket_with_4400(
    gql: Any, text: str
) -> None:
    async with Socket(gql.app, await gql.token("demo")) as socket:
        await socket.incoming.put({"type": "websocket.receive", "text": text})
        with pytest.raises(Closed) as closed:
            await socket.receive()
    assert closed.value.code == 4400


@pytest.mark.parametrize(
    "token", ["sf_\ud800", "sf_\x00", "x" * 100_000], ids=["surrogate", "nul", "long"]
)
async def test_a_hostile_token_in_connection_init_is_refused_with_4403(
    gql: Any, token: str
) -> None:
    with pytest.raises(Closed) as closed:
        async with Socket(gql.app, token):
            pass
    assert closed.value.code == 4403


# Several operations in one document.

TWO_QUERIES = "query A { me { name } } query B { lastEventSeq }"
QUERY_AND_MUTATION = """
query A { me { name } }
mutation B { createRecord(input: {entity: "opportunity", name: "Twice"}) { __typename } }
"""


@pytest.mark.parametrize("document", [TWO_QUERIES, QUERY_AND_MUTATION], ids=["queries", "mixed"])
async def test_several_operations_without_a_name_run_none(gql: Any, document: str) -> None:
    before = await _last_seq(gql)
    payload = (await gql.post(document)).json()
    assert payload["data"] is None
    [error] = payload["errors"]
    assert error["extensions"]["code"] == "OPERATION_NAME_REQUIRED", error
    assert await _last_seq(gql) == before


async def test_several_operations_refused_alike_for_anyone(gql: Any) -> None:
    document = "query A { me { name } } query B { records { totalCount } }"
    payload = (await gql.post(document, user=None)).json()
    assert payload["data"] is None
    assert payload["errors"][0]["extensions"]["code"] == "OPERATION_NAME_REQUIRED"


async def test_the_named_operation_of_several_runs(gql: Any) -> None:
    before = await _last_seq(gql)
    sent = {"query": QUERY_AND_MUTATION, "operationName": "B"}
    headers = {"authorization": f"Bearer {await gql.token('demo')}"}
    payload = (await gql.http.post("/graphql", json=sent, headers=headers)).json()
    assert payload == {"data": {"createRecord": {"__typename": "RecordCreated"}}}
    assert await _last_seq(gql) == before + 1


async def test_several_operations_without_a_name_over_the_websocket_run_none(gql: Any) -> None:
    before = await _last_seq(gql)
    async with Socket(gql.app, await gql.token("demo")) as socket:
        await socket.subscribe("1", QUERY_AND_MUTATION)
        message = await socket.receive()
        assert message["type"] == "error", message
        assert message["payload"][0]["extensions"]["code"] == "OPERATION_NAME_REQUIRED"
        await socket.send(
            {
                "id": "2",
                "type": "subscribe",
                "payload": {"query": QUERY_AND_MUTATION, "operationName": "A"},
            }
        )
        answered = await socket.receive()
        assert answered["payload"] == {"data": {"me": {"name": "demo"}}}
    assert await _last_seq(gql) == before


# Logs.

LONG = "x" * 100_000
MAX_LOGGED_LINE = 1_000


def _longest_line(caplog: pytest.LogCaptureFixture) -> int:
    """The longest line the app's loggers wrote. The database drivers' debug lines (SQL and
    its parameters, never on in production) come from their own threads, at any time."""
    drivers = ("aiosqlite", "asyncpg", "tortoise")
    return max(
        len(line)
        for record in caplog.records
        if not record.name.startswith(drivers)
        for line in caplog.handler.format(record).splitlines()
    )


async def test_logged_errors_cut_what_the_client_sent(
    gql: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(*, search: str, **_: Any) -> Any:
        raise RuntimeError(f"no record named {search * 500}")

    monkeypatch.setattr(queries, "list_records", broken)
    document = "query($s: String) { records(search: $s) { totalCount } }"
    with caplog.at_level(logging.DEBUG):
        payload = (await gql.post(document, {"s": LONG[:200]})).json()
    assert payload["errors"][0]["message"] == "Unexpected error."
    assert "no record named xxxxxxxxxx" in caplog.text
    assert LONG not in caplog.text
    assert _longest_line(caplog) <= MAX_LOGGED_LINE + 100


async def test_logged_refusals_cut_what_the_client_sent(
    gql: Any, caplog: pytest.LogCaptureFixture
) -> None:
    document = "query($n: Int!) { records(first: $n) { totalCount } }"
    with caplog.at_level(logging.DEBUG):
        payload = (await gql.post(document, {"n": LONG})).json()
    assert "Int cannot represent" in payload["errors"][0]["message"]
    assert "Int cannot represent" in caplog.text
    assert LONG not in caplog.text
    assert _longest_line(caplog) <= MAX_LOGGED_LINE + 100


async def test_the_access_log_leaves_out_query_strings_and_cuts_a_long_path(
    gql: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """A query string may carry credentials (refused, but only after it was logged)."""
    access = logging.getLogger("uvicorn.access")
    with caplog.at_level(logging.INFO, logger="uvicorn.access"):
        for path in ("/graphql?token=sf_secret&query=" + LONG, "/" + LONG):
            access.info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "GET", path, "1.1", 400)
    first, second = [r for r in caplog.records if r.name == "uvicorn.access"]
    assert first.args is not None and first.args[1] == "GET" and first.args[4] == 400
    assert first.getMessage() == '127.0.0.1:5000 - "GET /graphql HTTP/1.1" 400'
    assert second.getMessage().startswith('127.0.0.1:5000 - "GET /xxx')
    assert len(second.getMessage()) <= MAX_LOGGED_LINE + 100
