"""The hardened endpoint: limits refused before any resolver runs, no introspection or
suggestions outside debug, unexpected errors masked, request bodies and messages bounded."""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from documents import CREATE_RECORD, START
from graphql import GraphQLError, Lexer, Source, TokenKind
from sockets import Socket
from starlette.applications import Starlette
from users import make_user

from server import cli
from server.app import create_app
from server.services import queries
from server.settings import Settings

DEFAULTS = Settings()
EVENTS_PAGE = "events(afterSeq: 0, first: 1)"
# Resolvers that reach these record their calls (the `called` fixture).
PROBED = ("list_events", "list_instances", "get_instance")


@pytest.fixture
def called(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the probed service functions called, in order."""
    calls: list[str] = []

    def spy(name: str, real: Callable[..., Any]) -> Callable[..., Any]:
        def recording(*args: Any, **kwargs: Any) -> Any:
            calls.append(name)
            return real(*args, **kwargs)

        return recording

    for name in PROBED:
        monkeypatch.setattr(queries, name, spy(name, getattr(queries, name)))
    return calls


def _tokens(document: str) -> int:
    lexer = Lexer(Source(document))
    count = 0
    while lexer.advance().kind is not TokenKind.EOF:
        count += 1
    return count


def _nested(root: str, depth: int) -> str:
    """`root` (an Event field, at depth 1) with fields nested down to `id` at `depth`."""
    chain = ["instance", *["record", "activeInstance"] * depth][: depth - 2]
    inner = "id"
    for name in reversed(chain):
        inner = f"{name} {{ {inner} }}"
    return f"{root} {{ {inner} }}"


def _deep(depth: int) -> str:
    return "{ " + _nested(EVENTS_PAGE, depth) + " }"


def _aliased(prefix: str, count: int) -> str:
    return " ".join(f"{prefix}{i}: seq" for i in range(count))


def _with_tokens(count: int) -> str:
    """An events query of exactly `count` tokens, padded with comments (which count)."""
    document = "{ " + EVENTS_PAGE + " { seq } }"
    return document + "\n#" * (count - _tokens(document))


def _with_fields(count: int) -> str:
    """An events query selecting exactly `count` fields: the same one repeated."""
    return "{ " + EVENTS_PAGE + " { " + "seq " * (count - 1) + "} }"


def _costing(cost: int) -> str:
    """A query that costs exactly `cost` (at least 20,000), whatever is stored: its lists are
    pages.

    `events(first: 100) { seq x 199 }` costs 1 + 100 x 199 = 19,901, `events(first: 98) {
    seq }` 1 + 98 = 99, and each `me { __typename }` 1 (introspection fields are free).
    """
    seqs = " ".join(["seq"] * 199)
    extra = " ".join(["me { __typename }"] * (cost - 20_000))
    return f"""{{ events(afterSeq: 0, first: 100) {{ {seqs} }}
    more: events(afterSeq: 0, first: 98) {{ seq }} {extra} }}"""


def _nested_fragments(in_a: int) -> str:
    """Aliases through fragments: `in_a` in A, 10 in B spread by A, and 5 in C, spread by both
    A and B so counted twice: `in_a` + 20."""
    return f"""
    {{ {EVENTS_PAGE} {{ ...A }} }}
    fragment A on Event {{ {_aliased("a", in_a)} ...B ...C }}
    fragment B on Event {{ {_aliased("b", 10)} ...C }}
    fragment C on Event {{ {_aliased("c", 5)} }}
    """


def _doubling(levels: int, leaf: str) -> str:
    """Each fragment spreads the next twice: 2^levels copies of `leaf` once expanded."""
    fragments = [f"fragment F{i} on Event {{ ...F{i + 1} ...F{i + 1} }}" for i in range(levels)]
    fragments.append(f"fragment F{levels} on Event {{ {leaf} }}")
    return f"{{ {EVENTS_PAGE} {{ ...F0 }} }} " + " ".join(fragments)


# The schema's cycle through an instance's events: each turn multiplies by its page.
NESTED_LISTS = """query($first: Int!) { instances(first: $first) { edges { node {
  events(first: $first) { instance { events(first: $first) { seq } } } } } } }"""

AT_LIMIT = {
    "depth": (_deep(DEFAULTS.max_depth), None),
    "aliases": ("{ " + EVENTS_PAGE + " { " + _aliased("a", DEFAULTS.max_aliases) + " } }", None),
    "aliases-in-fragments": (_nested_fragments(DEFAULTS.max_aliases - 20), None),
    "tokens": (_with_tokens(DEFAULTS.max_tokens), None),
    "fields": (_with_fields(DEFAULTS.max_fields), None),
    "length": (("{ " + EVENTS_PAGE + " { seq } }").ljust(DEFAULTS.max_query_length), None),
    "cost": (_costing(DEFAULTS.max_cost), None),
    "first-100": ("{ events(afterSeq: 0, first: 100) { seq } }", None),
    "first-100-variable": (
        "query($n: Int!) { events(afterSeq: 0, first: $n) { seq } }",
        {"n": 100},
    ),
    "nested-lists-small-page": (NESTED_LISTS, {"first": 1}),
}

PAST_LIMIT = {
    "depth": (_deep(DEFAULTS.max_depth + 1), None, "QUERY_TOO_DEEP"),
    "aliases": (
        "{ " + EVENTS_PAGE + " { " + _aliased("a", DEFAULTS.max_aliases + 1) + " } }",
        None,
        "TOO_MANY_ALIASES",
    ),
    "aliases-in-fragments": (
        _nested_fragments(DEFAULTS.max_aliases - 19),
        None,
        "TOO_MANY_ALIASES",
    ),
    "tokens": (_with_tokens(DEFAULTS.max_tokens + 1), None, "TOO_MANY_TOKENS"),
    "tokens-without-comments": (
        "{ " + EVENTS_PAGE + " { " + "seq " * DEFAULTS.max_tokens + "} }",
        None,
        "TOO_MANY_TOKENS",
    ),
    "fields": (_with_fields(DEFAULTS.max_fields + 1), None, "TOO_MANY_FIELDS"),
    # 700 of them take graphql-core's validation over a second
    "repeated-fields": (
        "{ " + EVENTS_PAGE + " { " + "instance { id } " * 700 + "} }",
        None,
        "TOO_MANY_FIELDS",
    ),
    "fields-in-fragments": (
        "{ " + EVENTS_PAGE + " { " + "...F " * 151 + "} } fragment F on Event { instance { id } }",
        None,
        "TOO_MANY_FIELDS",
    ),
    "length": (
        ("{ " + EVENTS_PAGE + " { seq } }").ljust(DEFAULTS.max_query_length + 1),
        None,
        "QUERY_TOO_LONG",
    ),
    "cost": (_costing(DEFAULTS.max_cost + 1), None, "QUERY_TOO_COSTLY"),
    "first-101": ("{ events(afterSeq: 0, first: 101) { seq } }", None, "QUERY_TOO_COSTLY"),
    "first-101-variable": (
        "query($n: Int!) { events(afterSeq: 0, first: $n) { seq } }",
        {"n": 101},
        "QUERY_TOO_COSTLY",
    ),
    "first-101-variable-default": (
        "query($n: Int! = 101) { events(afterSeq: 0, first: $n) { seq } }",
        None,
        "QUERY_TOO_COSTLY",
    ),
    "nested-lists": (NESTED_LISTS, {"first": 100}, "QUERY_TOO_COSTLY"),
    "doubling-fragments-aliases": (_doubling(40, "x: seq"), None, "TOO_MANY_ALIASES"),
    "doubling-fragments-fields": (_doubling(40, "seq"), None, "TOO_MANY_FIELDS"),
}


@pytest.mark.parametrize(("query", "variables"), AT_LIMIT.values(), ids=AT_LIMIT.keys())
async def test_a_query_at_the_limit_runs(
    gql: Any, called: list[str], query: str, variables: dict[str, Any] | None
) -> None:
    await gql.execute(query, variables)
    assert called, "the probe saw no resolver run"


@pytest.mark.parametrize(("query", "variables", "code"), PAST_LIMIT.values(), ids=PAST_LIMIT.keys())
async def test_a_query_past_the_limit_is_refused_before_any_resolver(
    gql: Any,
    called: list[str],
    count_queries: Any,
    query: str,
    variables: dict[str, Any] | None,
    code: str,
) -> None:
    await gql.token("demo")
    with count_queries() as statements:
        response = await gql.post(query, variables)
    payload = response.json()
    assert response.status_code == 200, payload
    assert payload["data"] is None
    [error] = payload["errors"]
    assert error["extensions"]["code"] == code, error
    # Reading who asks (the bearer token joined with its user) is all the SQL that runs.
    assert called == []
    [lookup] = statements
    assert lookup.split(" FROM ")[1].split()[0] == '"credential"' and '"account"' in lookup


async def test_refusals_say_what_the_limit_is(gql: Any) -> None:
    deep = (await gql.post(_deep(16))).json()["errors"][0]
    assert deep["message"] == "The query nests fields 16 deep; the limit is 15."
    assert deep["extensions"] == {"code": "QUERY_TOO_DEEP", "depth": 16, "maxDepth": 15}

    costly = (await gql.post(_costing(20_001))).json()["errors"][0]
    assert costly["extensions"] == {"code": "QUERY_TOO_COSTLY", "cost": 20_001, "maxCost": 20_000}
    assert "the limit is 20000" in costly["message"]

    page = (await gql.post("{ instances(first: 1000) { totalCount } }")).json()["errors"][0]
    assert page["message"] == (
        "instances(first: 1000) asks for too many items: a page holds 1 to 100 items."
    )

    tokens = (await gql.post(_with_tokens(3001))).json()["errors"][0]
    assert "more than 3000 tokens" in tokens["message"]


async def test_fragment_cycles_are_refused_without_looping(gql: Any, called: list[str]) -> None:
    cycle = f"""{{ {EVENTS_PAGE} {{ ...A }} }}
    fragment A on Event {{ x: seq ...B }} fragment B on Event {{ y: seq ...A }}"""
    payload = (await gql.post(cycle)).json()
    assert payload["data"] is None
    assert any("Cannot spread fragment" in e["message"] for e in payload["errors"])
    assert called == []


async def test_the_limits_come_from_the_settings(database_url: str, called: list[str]) -> None:
    settings = Settings(database_url=database_url, max_depth=3, max_aliases=1, max_cost=50)
    app = create_app(settings)
    async with _client(app) as http:
        assert "errors" not in (await _post(http, _deep(3))).json()
        refusals = [
            (_deep(4), "QUERY_TOO_DEEP"),
            ("{ " + EVENTS_PAGE + " { a: seq b: seq } }", "TOO_MANY_ALIASES"),
            ("{ events(afterSeq: 0, first: 50) { seq } }", "QUERY_TOO_COSTLY"),
        ]
        for query, code in refusals:
            [error] = (await _post(http, query)).json()["errors"]
            assert error["extensions"]["code"] == code
    assert called == ["list_events"]


def test_the_limits_are_read_from_the_environment() -> None:
    env = {
        "STAGEFLOW_MAX_DEPTH": "7",
        "STAGEFLOW_MAX_ALIASES": "8",
        "STAGEFLOW_MAX_FIELDS": "99",
        "STAGEFLOW_MAX_TOKENS": "900",
        "STAGEFLOW_MAX_QUERY_LENGTH": "9000",
        "STAGEFLOW_MAX_COST": "1234",
        "STAGEFLOW_MAX_BODY_BYTES": "4096",
        "STAGEFLOW_WS_MAX_MESSAGE_BYTES": "2048",
    }
    settings = Settings.from_env(env)
    assert (settings.max_depth, settings.max_aliases, settings.max_fields) == (7, 8, 99)
    assert settings.max_tokens == 900
    assert (settings.max_query_length, settings.max_cost) == (9000, 1234)
    assert (settings.max_body_bytes, settings.ws_max_message_bytes) == (4096, 2048)
    assert Settings.from_env({}) == Settings()


# Introspection and suggestions: only in debug.

INTROSPECTION = [
    "{ __schema { queryType { name } } }",
    '{ __type(name: "Instance") { fields { name } } }',
]


@pytest.fixture
async def debug_http(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(Settings(database_url=database_url, debug=True))
    async with _client(app) as http:
        yield http


@pytest.mark.parametrize("query", INTROSPECTION)
async def test_introspection_is_refused_by_default(gql: Any, query: str) -> None:
    payload = (await gql.post(query)).json()
    assert payload["data"] is None
    [error] = payload["errors"]
    assert error["message"] == "Introspection is disabled on this server."
    assert error["extensions"] == {"code": "INTROSPECTION_DISABLED"}


@pytest.mark.parametrize("query", INTROSPECTION)
async def test_introspection_is_answered_in_debug(
    debug_http: httpx.AsyncClient, query: str
) -> None:
    payload = (await _post(debug_http, query)).json()
    assert "errors" not in payload, payload
    assert payload["data"]


async def test_typename_stays_available(gql: Any) -> None:
    assert (await gql.execute("{ __typename me { __typename } }"))["me"]["__typename"] == "User"


MISSPELT = [
    ("{ processes { nam } }", "Cannot query field 'nam' on type 'Process'."),
    (
        "{ instances(statu: ACTIVE) { totalCount } }",
        "Unknown argument 'statu' on field 'Query.instances'.",
    ),
    (
        "{ instances(status: ACTIV) { totalCount } }",
        "Value 'ACTIV' does not exist in 'InstanceStatus' enum.",
    ),
    ("query($s: InstanceStatu) { instances(status: $s) { totalCount } }", "Unknown type"),
]


@pytest.mark.parametrize(("query", "message"), MISSPELT)
async def test_errors_suggest_nothing_by_default(gql: Any, query: str, message: str) -> None:
    payload = (await gql.post(query)).json()
    messages = [e["message"] for e in payload["errors"]]
    assert any(m.startswith(message) for m in messages), messages
    assert not any("Did you mean" in m for m in messages), messages


async def test_errors_suggest_in_debug(debug_http: httpx.AsyncClient) -> None:
    payload = (await _post(debug_http, "{ processes { nam } }")).json()
    assert "Did you mean 'name'?" in payload["errors"][0]["message"]


# Errors: unexpected ones masked, the details kept in the log.


def _fail() -> None:
    raise RuntimeError('no such column: "secret" in SELECT "secret" FROM "record"')


def _fail_wrapped() -> None:
    try:
        _fail()
    except RuntimeError as error:
        raise GraphQLError("wrapped", original_error=error) from error


@pytest.mark.parametrize("fail", [_fail, _fail_wrapped], ids=["exception", "graphql-error"])
async def test_an_unexpected_error_is_masked_and_logged(
    gql: Any,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    fail: Callable[[], None],
) -> None:
    async def broken(**_: Any) -> Any:
        fail()

    monkeypatch.setattr(queries, "list_events", broken)
    with caplog.at_level(logging.ERROR):
        response = await gql.post("{ events(afterSeq: 0, first: 5) { seq } }")
    payload = response.json()
    assert payload["data"] is None
    [error] = payload["errors"]
    assert error["message"] == "Unexpected error."
    assert "extensions" not in error
    for leak in ("secret", "SELECT", "Traceback", "RuntimeError", "wrapped"):
        assert leak not in response.text
    assert 'SELECT "secret"' in caplog.text


async def test_a_mutation_whose_answer_asks_for_an_empty_page_is_not_made(gql: Any) -> None:
    created = await gql.execute(
        'mutation { createRecord(input: {entity: "lead", name: "Kept", values: {}}) {'
        " ... on RecordCreated { record { id } } } }"
    )
    record = created["createRecord"]["record"]["id"]
    before = await gql.execute("{ lastEventSeq }")
    for page in ("history(last: 0) { enteredAt }", "events(afterSeq: 0, first: -5) { seq }"):
        refused = (
            await gql.post(
                f'mutation {{ startInstance(input: {{recordId: "{record}"}}) {{'
                f" ... on InstanceStarted {{ instance {{ {page} }} }} }} }}"
            )
        ).json()
        assert refused["data"] is None, refused
        assert refused["errors"][0]["extensions"]["code"] == "INVALID_VALUE", refused
    assert await gql.execute("{ lastEventSeq }") == before


async def test_expected_and_request_errors_stay_readable(gql: Any) -> None:
    refused = (await gql.post("{ events(afterSeq: 0, first: 0) { seq } }")).json()
    assert refused["errors"][0]["message"] == "first: a page holds 1 to 100 items"
    bad = (await gql.post("query($n: Int!) { events(first: $n) { seq } }", {"n": "x"})).json()
    assert "Int cannot represent non-integer value" in bad["errors"][0]["message"]


# Request bodies.

LIMIT = DEFAULTS.max_body_bytes
SMALL = json.dumps({"query": "{ " + EVENTS_PAGE + " { seq } }"}).encode()


def _body(size: int) -> bytes:
    """A JSON request of exactly `size` bytes (whitespace after the object)."""
    return SMALL.ljust(size)


class _Chunks:
    """A request body sent in chunks, counting how many the server pulled."""

    def __init__(self, body: bytes, size: int = 64 * 1024) -> None:
        self.parts = [body[i : i + size] for i in range(0, len(body), size)]
        self.pulled = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for part in self.parts:
            self.pulled += 1
            yield part


async def test_a_body_at_the_limit_is_accepted(gql: Any, called: list[str]) -> None:
    token = await gql.token("demo")
    headers = {"content-type": "application/json", "authorization": f"Bearer {token}"}
    sized = await gql.http.post("/graphql", content=_body(LIMIT), headers=headers)
    assert sized.status_code == 200 and "errors" not in sized.json()
    chunked = await gql.http.post("/graphql", content=_Chunks(_body(LIMIT)), headers=headers)
    assert chunked.status_code == 200 and "errors" not in chunked.json()
    assert called == ["list_events", "list_events"]


# Chunks of 64 KiB pulled from a 4 MiB body: refused after the limit is passed, having
# dropped at most one more MiB so that a client still sending can read the answer.
REFUSALS = {
    "content-length": ({"content-length": str(4 * LIMIT)}, 17),
    "content-length-expect-continue": (
        {"content-length": str(4 * LIMIT), "expect": "100-continue"},
        0,
    ),
    "chunked": ({}, 17 + 17),
}


@pytest.mark.parametrize(("headers", "pulled"), REFUSALS.values(), ids=REFUSALS.keys())
async def test_a_body_past_the_limit_is_refused_before_it_is_read_in_full(
    gql: Any, called: list[str], headers: dict[str, str], pulled: int
) -> None:
    body = _Chunks(_body(4 * LIMIT))
    response = await gql.http.post(
        "/graphql", content=body, headers={"content-type": "application/json", **headers}
    )
    assert response.status_code == 413
    assert response.json() == {
        "errors": [
            {
                "message": f"The request body is larger than {LIMIT} bytes.",
                "extensions": {"code": "BODY_TOO_LARGE", "maxBytes": LIMIT},
            }
        ]
    }
    assert body.pulled == pulled < len(body.parts)
    assert called == []


async def test_one_byte_past_the_limit_is_refused(gql: Any, called: list[str]) -> None:
    headers = {"content-type": "application/json"}
    sized = await gql.http.post("/graphql", content=_body(LIMIT + 1), headers=headers)
    chunked = await gql.http.post("/graphql", content=_Chunks(_body(LIMIT + 1)), headers=headers)
    assert sized.status_code == chunked.status_code == 413
    assert called == []


def test_serve_bounds_websocket_messages(monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    options: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: options.update(kw))
    cli.serve(Settings(ws_max_message_bytes=4096), workers=1)
    assert options["ws_max_size"] == 4096


# Websockets: the same limits, before the subscription's resolver runs.


async def _instance(gql: Any) -> str:
    created = await gql.execute(CREATE_RECORD, {"input": {"entity": "opportunity", "name": "X"}})
    record_id = created["createRecord"]["record"]["id"]
    started = await gql.execute(START, {"input": {"recordId": record_id}})
    return started["startInstance"]["instance"]["id"]  # type: ignore[no-any-return]


def _subscribe(id: str, root: str, depth: int, instance_id: str) -> dict[str, Any]:
    query = f"subscription($id: ID) {{ {_nested(root, depth)} }}"
    return {
        "id": id,
        "type": "subscribe",
        "payload": {"query": query, "variables": {"id": instance_id}},
    }


# A replay runs on its own; a live-only subscription joins an execution shared by sockets.
@pytest.mark.parametrize(
    "root",
    ["stageChanged(instanceId: $id, afterSeq: 0)", "stageChanged(instanceId: $id)"],
    ids=["replay", "live-only"],
)
async def test_a_subscription_past_the_depth_limit_is_refused(
    gql: Any, called: list[str], root: str
) -> None:
    iid = await _instance(gql)
    called.clear()
    async with Socket(gql.app, await gql.token("demo")) as socket:
        await socket.send(_subscribe("deep", root, DEFAULTS.max_depth + 1, iid))
        refused = await socket.receive()
        assert refused["type"] == "error" and refused["id"] == "deep", refused
        assert [e["extensions"]["code"] for e in refused["payload"]] == ["QUERY_TOO_DEEP"]
    assert called == []


async def test_a_subscription_at_the_depth_limit_runs(gql: Any, called: list[str]) -> None:
    iid = await _instance(gql)
    called.clear()
    async with Socket(gql.app, await gql.token("demo")) as socket:
        root = "stageChanged(instanceId: $id, afterSeq: 0)"
        await socket.send(_subscribe("ok", root, DEFAULTS.max_depth, iid))
        replayed = await socket.receive()
        assert replayed["type"] == "next" and replayed["id"] == "ok", replayed
        assert "errors" not in replayed["payload"]
        assert replayed["payload"]["data"]["stageChanged"]["instance"]["record"]
        await socket.send({"id": "ok", "type": "complete"})
    assert called == ["get_instance"]


# Helpers


@contextlib.asynccontextmanager
async def _client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    """A client signed in as an admin of the app's database."""
    async with app.router.lifespan_context(app):
        _, token = await make_user("admin")
        transport = httpx.ASGITransport(app=app)
        headers = {"authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(
            transport=transport, base_url="http://stageflow.test", headers=headers
        ) as http:
            yield http


async def _post(http: httpx.AsyncClient, query: str) -> httpx.Response:
    return await http.post("/graphql", json={"query": query})
