"""Sign-in and its rate limit, sessions and CSRF, API tokens and their revocation, sockets."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import pytest
from graphql import OperationType
from sockets import Closed, Socket
from starlette.websockets import WebSocket
from users import make_user

from server.api import access
from server.api.context import Context, Loaders
from server.domain.access import BaseRole
from server.services import accounts

PASSWORD = "a-long-secret-37"
SIGN_IN = """mutation($name: String!, $password: String!) {
  signIn(input: {name: $name, password: $password}) {
    __typename
    ... on SignedIn { user { name csrfToken } }
    ... on RateLimited { message retryAfterSeconds }
    ... on Error { message } } }"""
CREATE = """mutation { createRecord(input: {entity: "opportunity", name: "Via cookie"}) {
  __typename } }"""
LAST_SEQ = "{ lastEventSeq }"


@pytest.fixture
async def ana(gql: Any) -> str:
    await accounts.create_user(
        gql.app.state.runtime, name="ana", password=PASSWORD, teams=["sales"], by="tests"
    )
    return "ana"


async def _sign_in(gql: Any, name: str, password: str, **headers: str) -> dict[str, Any]:
    response = await gql.post(
        SIGN_IN, {"name": name, "password": password}, user=None, headers=headers
    )
    return response.json()["data"]["signIn"]  # type: ignore[no-any-return]


async def test_sign_in_sets_an_http_only_strict_cookie(gql: Any, ana: str) -> None:
    response = await gql.post(SIGN_IN, {"name": "ana", "password": PASSWORD}, user=None)
    result = response.json()["data"]["signIn"]
    assert result["__typename"] == "SignedIn" and result["user"]["name"] == "ana"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("stageflow_session=sf_")
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
    me = await gql.post("{ me { name roles csrfToken } }", user=None)
    assert me.json()["data"]["me"] == {
        "name": "ana",
        "roles": ["sales"],
        "csrfToken": result["user"]["csrfToken"],
    }


async def test_a_wrong_password_or_name_is_one_answer(gql: Any, ana: str) -> None:
    wrong = await _sign_in(gql, "ana", "not-the-password")
    unknown = await _sign_in(gql, "nobody", PASSWORD)
    assert (
        wrong == unknown == {"__typename": "Unauthenticated", "message": "wrong name or password"}
    )
    assert (
        "set-cookie"
        not in (await gql.post(SIGN_IN, {"name": "x", "password": "y"}, user=None)).headers
    )


async def test_sign_in_is_limited_per_user_and_per_address(
    gql: Any, ana: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = dt.datetime.now(dt.UTC)
    monkeypatch.setattr(accounts, "utcnow", lambda: now)
    for _ in range(5):
        assert (await _sign_in(gql, "ana", "guess"))["__typename"] == "Unauthenticated"
    # The sixth try from the address is refused before the password is checked, even the
    # right one.
    limited = await _sign_in(gql, "ana", PASSWORD)
    assert limited["__typename"] == "RateLimited"
    assert limited["retryAfterSeconds"] == 900
    assert gql.http.cookies.get("stageflow_session") is None

    # Per address: 20 failures over many names, then even another user is refused.
    await accounts.create_user(gql.app.state.runtime, name="ben", password=PASSWORD, by="tests")
    for n in range(15):
        assert (await _sign_in(gql, f"guess{n}", "guess"))["__typename"] == "Unauthenticated"
    assert (await _sign_in(gql, "ben", PASSWORD))["__typename"] == "RateLimited"


async def test_a_cookie_mutation_needs_the_csrf_token(gql: Any, ana: str) -> None:
    signed_in = await _sign_in(gql, "ana", PASSWORD)
    csrf = signed_in["user"]["csrfToken"]
    before = (await gql.execute(LAST_SEQ))["lastEventSeq"]

    # Reads need no token.
    assert (await gql.post("{ me { name } }", user=None)).json()["data"]["me"]["name"] == "ana"
    for headers in ({}, {"x-csrf-token": "forged"}, {"x-csrf-token": ""}):
        refused = (await gql.post(CREATE, user=None, headers=headers)).json()
        assert refused["data"] is None
        assert refused["errors"][0]["extensions"]["code"] == "CSRF_TOKEN_INVALID"
    assert (await gql.execute(LAST_SEQ))["lastEventSeq"] == before

    done = (await gql.post(CREATE, user=None, headers={"x-csrf-token": csrf})).json()
    assert done["data"]["createRecord"]["__typename"] == "RecordCreated"
    # A bearer token is not sent by browsers on their own: no CSRF token needed.
    gql.http.cookies.clear()
    assert (await gql.execute(CREATE))["createRecord"]["__typename"] == "RecordCreated"


async def test_sign_out_ends_the_session(gql: Any, ana: str) -> None:
    signed_in = await _sign_in(gql, "ana", PASSWORD)
    cookie = gql.http.cookies.get("stageflow_session")
    headers = {"x-csrf-token": signed_in["user"]["csrfToken"]}
    out = await gql.post("mutation { signOut { user { name } } }", user=None, headers=headers)
    assert out.json()["data"]["signOut"]["user"]["name"] == "ana"
    again = await gql.post(
        "{ me { name } records { totalCount } }",
        user=None,
        headers={"cookie": f"stageflow_session={cookie}"},
    )
    assert again.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


TOKENS = "{ apiTokens { id label } }"


async def test_a_revoked_token_stops_at_once(gql: Any) -> None:
    _, secret = await make_user("cli", BaseRole.USER)
    bearer = {"authorization": f"Bearer {secret}"}
    created = await gql.post(
        'mutation { createApiToken(label: "laptop") { token { id label } secret } }',
        user=None,
        headers=bearer,
    )
    made = created.json()["data"]["createApiToken"]
    laptop = {"authorization": f"Bearer {made['secret']}"}
    listed = (await gql.post(TOKENS, user=None, headers=laptop)).json()["data"]["apiTokens"]
    assert {"id": made["token"]["id"], "label": "laptop"} in listed

    revoke = "mutation($id: ID!) { revokeApiToken(id: $id) { __typename } }"
    done = await gql.post(revoke, {"id": made["token"]["id"]}, user=None, headers=bearer)
    assert done.json()["data"]["revokeApiToken"]["__typename"] == "ApiTokenRevoked"
    after = (await gql.post(TOKENS, user=None, headers=laptop)).json()
    assert after["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    # Another user cannot revoke (or learn of) the first user's tokens.
    _, other = await make_user("other", BaseRole.USER)
    theirs = await gql.post(
        revoke, {"id": made["token"]["id"]}, user=None, headers={"authorization": f"Bearer {other}"}
    )
    assert theirs.json()["data"]["revokeApiToken"]["__typename"] == "NotFound"


async def _started(gql: Any) -> str:
    record = await gql.execute(
        """mutation { createRecord(input: {entity: "opportunity", name: "Live",
             values: {estimated_budget: "9", decision_maker_identified: true}}) {
             ... on RecordCreated { record { id } } } }"""
    )
    started = await gql.execute(
        """mutation($id: ID!) { startInstance(input: {recordId: $id}) {
             ... on InstanceStarted { instance { id } } } }""",
        {"id": record["createRecord"]["record"]["id"]},
    )
    return started["startInstance"]["instance"]["id"]  # type: ignore[no-any-return]


ADVANCE = """mutation($id: ID!) { advanceStage(input: {instanceId: $id}) { __typename } }"""
EVENTS = """subscription($id: ID!, $after: Int) {
  instanceEvents(instanceId: $id, afterSeq: $after) { kind } }"""


async def test_revoking_a_token_ends_its_open_socket_at_once(gql: Any) -> None:
    user, secret = await make_user("watcher", BaseRole.USER)
    credential = await accounts.authenticate(gql.app.state.runtime, secret)
    assert credential is not None
    first = await _started(gql)
    async with Socket(gql.app, secret) as socket:
        after = (await gql.execute(LAST_SEQ))["lastEventSeq"]
        await socket.subscribe("1", EVENTS, id=first, after=after)
        await gql.execute(ADVANCE, {"id": first})
        assert (await socket.receive())["payload"]["data"]["instanceEvents"]["kind"] == (
            "STAGE_ADVANCED"
        )
        # Revoked while nothing else happens: the socket is closed, not left to wait.
        await accounts.revoke(gql.app.state.runtime, credential.id, by=user)
        with pytest.raises(Closed) as closed:
            await socket.receive(timeout=5)
        assert closed.value.code == 4401


async def test_a_new_operation_after_revocation_is_refused(gql: Any) -> None:
    """Before its socket is closed, nothing new starts on a revoked credential: each
    operation on a socket checks the credential again."""
    user, secret = await make_user("late", BaseRole.USER)
    credential = await accounts.authenticate(gql.app.state.runtime, secret)
    assert credential is not None
    runtime = gql.app.state.runtime
    socket = WebSocket({"type": "websocket", "headers": []}, receive=None, send=None)  # type: ignore[arg-type]
    context = Context(
        request=socket,
        response=None,
        runtime=runtime,
        loaders=Loaders(runtime),
        credential=credential,
    )
    assert await access.check(context, OperationType.SUBSCRIPTION, ["stageChanged"]) is None
    await accounts.revoke(runtime, credential.id, by=user)
    refused = await access.check(context, OperationType.SUBSCRIPTION, ["stageChanged"])
    assert refused is not None and refused.extensions == {"code": "UNAUTHENTICATED"}
    assert context.credential is None


async def test_a_socket_needs_a_token_or_a_same_origin_cookie(gql: Any, ana: str) -> None:
    with pytest.raises(Closed) as anonymous:
        async with Socket(gql.app):
            pass
    assert anonymous.value.code == 4403
    with pytest.raises(Closed) as forged:
        async with Socket(gql.app, "sf_not-a-token"):
            pass
    assert forged.value.code == 4403

    await _sign_in(gql, "ana", PASSWORD)
    cookie = f"stageflow_session={gql.http.cookies.get('stageflow_session')}".encode()
    same_origin = [(b"cookie", cookie), (b"origin", b"http://stageflow.test")]
    async with Socket(gql.app, headers=same_origin) as socket:
        after = (await gql.execute(LAST_SEQ))["lastEventSeq"]
        await socket.subscribe(
            "1", "subscription($a: Int) { stageChanged(afterSeq: $a) { seq } }", a=after
        )
        await _started(gql)
        assert "stageChanged" in (await socket.receive())["payload"]["data"]
    # A page on another origin cannot use the visitor's cookie.
    elsewhere = [(b"cookie", cookie), (b"origin", b"https://attacker.example")]
    with pytest.raises(Closed):
        async with Socket(gql.app, headers=elsewhere):
            pass


async def test_an_inactive_user_is_signed_out_everywhere(gql: Any, ana: str) -> None:
    signed_in = await _sign_in(gql, "ana", PASSWORD)
    assert signed_in["__typename"] == "SignedIn"
    user = await accounts.user_named("ana")
    await accounts.update_user(gql.app.state.runtime, user_id=user.id, active=False, by="tests")
    me = (await gql.post("{ me { name } }", user=None)).json()["data"]["me"]
    assert me is None
    gql.http.cookies.clear()
    assert (await _sign_in(gql, "ana", PASSWORD))["__typename"] == "Unauthenticated"


async def test_passwords_are_never_returned_or_logged(
    gql: Any, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "Correct-Horse-Battery-9"
    caplog.set_level(logging.DEBUG)
    logging.getLogger("tortoise.db_client").setLevel(logging.DEBUG)
    answers = [
        await gql.post(
            """mutation($p: String!) { createUser(input: {name: "cy", password: $p}) {
                 __typename ... on UserSaved { user { name role roles active } } } }""",
            {"p": secret},
        ),
        await gql.post(SIGN_IN, {"name": "cy", "password": secret}, user=None),
        await gql.post(SIGN_IN, {"name": "cy", "password": secret + "x"}, user=None),
        await gql.post("{ users { name role roles active } }"),
        await gql.post(
            """mutation($p: String!) { createUser(input: {name: "bad name!", password: $p}) {
                 __typename ... on Error { message } } }""",
            {"p": secret},
        ),
    ]
    for answer in answers:
        assert secret not in answer.text
    assert answers[1].json()["data"]["signIn"]["__typename"] == "SignedIn"
    assert answers[4].json()["data"]["createUser"]["__typename"] == "InvalidValue"
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "INSERT INTO" in logged  # the SQL log was on
    assert secret not in logged
    events = (await gql.execute("{ events(first: 100) { before after } }"))["events"]
    assert secret not in str(events)


async def test_process_roles_show_and_drafts_stay_with_designers(gql: Any) -> None:
    _, member = await make_user("sam", BaseRole.USER, frozenset({"sales"}))
    processes = await gql.execute('{ processes(entity: "opportunity") { id key } }')
    sales = next(p["id"] for p in processes["processes"] if p["key"] == "opportunity-sales")
    done = await gql.execute(
        """mutation($id: ID!) { setProcessRoles(processId: $id, roles: ["sales", "sales"]) {
             ... on ProcessRolesSet { process { roles } } } }""",
        {"id": sales},
    )
    assert done["setProcessRoles"]["process"]["roles"] == ["sales"]
    bad = await gql.execute(
        """mutation($id: ID!) { setProcessRoles(processId: $id, roles: ["Sales Team"]) {
             __typename ... on InvalidValue { field } } }""",
        {"id": sales},
    )
    assert bad["setProcessRoles"] == {"__typename": "InvalidValue", "field": "roles"}
    # A designer's open draft is not shown to those who only run the process.
    definition = (
        await gql.execute(
            "query($id: ID!) { design(processId: $id) { definition } }", {"id": sales}
        )
    )["design"]["definition"]
    await gql.execute(
        """mutation($id: ID!, $d: JSON!) { updateProcess(input: {processId: $id, definition: $d}) {
             __typename } }""",
        {"id": sales, "d": {**definition, "name": "Renamed"}},
    )
    query = "query($id: ID!) { process(id: $id) { roles draft { name } } }"
    as_admin = (await gql.execute(query, {"id": sales}))["process"]
    assert as_admin == {"roles": ["sales"], "draft": {"name": "Renamed"}}
    as_member = await gql.post(
        query, {"id": sales}, user=None, headers={"authorization": f"Bearer {member}"}
    )
    assert as_member.json()["data"]["process"] == {"roles": ["sales"], "draft": None}


async def test_a_team_role_cannot_be_a_base_role_and_the_last_admin_stays(gql: Any) -> None:
    create = """mutation($roles: [String!]!) {
      createUser(input: {name: "eve", password: "eve-password-1", roles: $roles}) {
        __typename ... on InvalidValue { field reason } } }"""
    refused = (await gql.execute(create, {"roles": ["sales", "admin"]}))["createUser"]
    assert refused["__typename"] == "InvalidValue" and refused["field"] == "roles"
    assert (await gql.execute(create, {"roles": ["sales"]}))["createUser"] == {
        "__typename": "UserSaved"
    }
    users = (await gql.execute("{ users { id name role } }"))["users"]
    eve = next(u for u in users if u["name"] == "eve")
    update = """mutation($id: ID!, $roles: [String!], $role: Role, $active: Boolean) {
      updateUser(input: {userId: $id, roles: $roles, role: $role, active: $active}) {
        __typename ... on InvalidValue { field } ... on UserSaved { user { role roles } } } }"""
    promoted = await gql.execute(update, {"id": eve["id"], "roles": ["designer"]})
    assert promoted["updateUser"] == {"__typename": "InvalidValue", "field": "roles"}
    assert (await accounts.user_named("eve")).role is BaseRole.USER

    # `demo` is the only admin: it may not demote or deactivate itself.
    admin = next(u for u in users if u["name"] == "demo")
    for change in ({"role": "USER"}, {"active": False}):
        refused = await gql.execute(update, {"id": admin["id"], **change})
        assert refused["updateUser"] == {"__typename": "InvalidValue", "field": "role"}
    # With a second admin, it may.
    await gql.execute(update, {"id": eve["id"], "role": "ADMIN"})
    demoted = await gql.execute(update, {"id": admin["id"], "role": "USER"})
    assert demoted["updateUser"]["user"]["role"] == "USER"
