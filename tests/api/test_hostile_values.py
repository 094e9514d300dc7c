"""Hostile values get the union member of their field (InvalidValue, NotFound...), or a
top-level error with a code where the field has no union, and change nothing, on both
databases: text that cannot be stored (NUL, lone surrogates), numbers and money out of
range, forged cursors, ids that name nothing."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest
from documents import ADVANCE, COMPLETE_STEP, CREATE_RECORD, START, UPDATE_RECORD

from server.services import accounts

NUL = "\u0000"
SURROGATE = "\ud800"  # half of a pair: no UTF-8 text can hold it alone
UNSTORABLE = pytest.mark.parametrize("bad", [NUL, SURROGATE], ids=["nul", "surrogate"])

# What no refusal may change.
STATE = """{
  lastEventSeq
  records(first: 100) { totalCount edges { node { id name owner values version } } }
  instances(first: 100) { totalCount edges { node { id version } } }
  drafts(first: 100) { processId version definition }
  processes { id version roles }
  entities { key fields { key label choices } }
  users { id name roles active }
  apiTokens { id label }
}"""

_FIELDS = {
    "InvalidValue": "field reason",
    "NotFound": "kind id",
    "InvalidDefinition": "problems { path message }",
}


def _mutation(head: str, call: str, *members: str) -> str:
    spreads = " ".join(f"... on {m} {{ {_FIELDS[m]} }}" for m in members)
    return f"mutation{head} {{ {call} {{ __typename ... on Error {{ message }} {spreads} }} }}"


_DRAFT = ("InvalidDefinition", "NotFound")
CREATE_PROCESS = _mutation("($input: CreateProcessInput!)", "createProcess(input: $input)", *_DRAFT)
UPDATE_PROCESS = _mutation("($input: UpdateProcessInput!)", "updateProcess(input: $input)", *_DRAFT)
IMPORT_PROCESS = _mutation("($input: ImportProcessInput!)", "importProcess(input: $input)", *_DRAFT)
SAVE_FIELD = _mutation("($input: SaveFieldInput!)", "saveField(input: $input)", *_DRAFT)
CREATE_USER = _mutation(
    "($input: CreateUserInput!)", "createUser(input: $input)", "InvalidValue", "NotFound"
)
SET_ROLES = _mutation(
    "($id: ID!, $roles: [String!]!)",
    "setProcessRoles(processId: $id, roles: $roles)",
    "InvalidValue",
    "NotFound",
)
REORDER = _mutation(
    "($entity: String!, $ids: [ID!]!)",
    "reorderProcesses(entity: $entity, processIds: $ids)",
    "InvalidValue",
)
SIGN_IN = """mutation($name: String!, $password: String!) {
  signIn(input: {name: $name, password: $password}) { __typename ... on Error { message } } }"""
PASSWORD = "a-long-secret-37"


async def _post(gql: Any, query: str, variables: dict[str, Any], user: str | None = "demo") -> Any:
    """POST with every non-ASCII character escaped, so lone surrogates travel as JSON has them."""
    headers = {"content-type": "application/json"}
    if user is not None:
        headers["authorization"] = f"Bearer {await gql.token(user)}"
    body = json.dumps({"query": query, "variables": variables})
    response: httpx.Response = await gql.http.post("/graphql", content=body, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


async def _state(gql: Any) -> dict[str, Any]:
    return await gql.execute(STATE)  # type: ignore[no-any-return]


async def _answer(gql: Any, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    """The union member a mutation answered."""
    payload = await _post(gql, query, variables)
    assert "errors" not in payload, payload
    return next(iter(payload["data"].values()))  # type: ignore[no-any-return]


async def _record(gql: Any) -> dict[str, Any]:
    created = await gql.execute(
        CREATE_RECORD, {"input": {"entity": "opportunity", "name": "Fabrikam"}}
    )
    return created["createRecord"]["record"]  # type: ignore[no-any-return]


async def _in_develop(gql: Any) -> str:
    """An instance in the Develop stage, whose steps are text; its id."""
    record = await _record(gql)
    started = await gql.execute(START, {"input": {"recordId": record["id"]}})
    instance_id = started["startInstance"]["instance"]["id"]
    for field, value in [("estimated_budget", "1000"), ("decision_maker_identified", True)]:
        step = {"instanceId": instance_id, "field": field, "value": value}
        await gql.execute(COMPLETE_STEP, {"input": step})
    moved = await gql.execute(ADVANCE, {"input": {"instanceId": instance_id}})
    assert moved["advanceStage"]["__typename"] == "StageAdvanced"
    return instance_id  # type: ignore[no-any-return]


def _draft(**changes: Any) -> dict[str, Any]:
    return {"key": "hostile", "name": "Hostile", "entity": "opportunity", "stages": [], **changes}


def _process(name: str) -> dict[str, Any]:
    stage = {"key": "only", "name": name, "category": "QUALIFY", "steps": []}
    return _draft(stages=[stage])


# Text that cannot be stored, wherever text enters storage.


def _record_cases(bad: str) -> list[tuple[str, dict[str, Any], str, str | None]]:
    opportunity = {"entity": "opportunity", "name": "Fabrikam"}
    return [
        (CREATE_RECORD, {"input": {**opportunity, "name": f"a{bad}b"}}, "InvalidValue", "name"),
        (CREATE_RECORD, {"input": {**opportunity, "owner": f"a{bad}b"}}, "InvalidValue", "owner"),
        (
            CREATE_RECORD,
            {"input": {**opportunity, "values": {"current_situation": f"a{bad}"}}},
            "InvalidValue",
            "current_situation",
        ),
        (
            CREATE_RECORD,
            {"input": {**opportunity, "values": {"executive_sponsor": f"a{bad}"}}},
            "InvalidValue",
            "executive_sponsor",
        ),
        (
            CREATE_RECORD,
            {"input": {**opportunity, "values": {f"x{bad}": 1}}},
            "InvalidValue",
            None,
        ),
        (CREATE_RECORD, {"input": {**opportunity, "entity": f"a{bad}"}}, "NotFound", None),
    ]


@UNSTORABLE
async def test_unstorable_text_in_a_new_record_is_an_invalid_value(gql: Any, bad: str) -> None:
    before = await _state(gql)
    for query, variables, typename, field in _record_cases(bad):
        answer = await _answer(gql, query, variables)
        assert answer["__typename"] == typename, (variables, answer)
        if field is not None:
            assert answer["field"] == field, answer
    assert await _state(gql) == before


@UNSTORABLE
async def test_unstorable_text_in_a_record_update_is_an_invalid_value(gql: Any, bad: str) -> None:
    record = await _record(gql)
    before = await _state(gql)
    for change, field in [
        ({"name": f"a{bad}"}, "name"),
        ({"owner": f"a{bad}"}, "owner"),
        ({"values": {"current_situation": bad}}, "current_situation"),
    ]:
        answer = await _answer(gql, UPDATE_RECORD, {"input": {"recordId": record["id"], **change}})
        assert (answer["__typename"], answer["field"]) == ("InvalidValue", field), answer
    assert await _state(gql) == before


@UNSTORABLE
async def test_unstorable_text_in_a_step_value_is_an_invalid_value(gql: Any, bad: str) -> None:
    instance_id = await _in_develop(gql)
    before = await _state(gql)
    step = {"instanceId": instance_id, "field": "customer_need", "value": f"needs {bad}"}
    answer = await _answer(gql, COMPLETE_STEP, {"input": step})
    assert (answer["__typename"], answer["field"]) == ("InvalidValue", "customer_need"), answer
    assert await _state(gql) == before


@UNSTORABLE
async def test_unstorable_text_anywhere_in_a_definition_is_refused(gql: Any, bad: str) -> None:
    created = await _answer(gql, CREATE_PROCESS, {"input": {"definition": _draft()}})
    assert created["__typename"] == "ProcessDraftSaved", created
    drafts = (await gql.execute("{ drafts { processId key } }"))["drafts"]
    process_id = next(d["processId"] for d in drafts if d["key"] == "hostile")
    before = await _state(gql)
    definitions = [
        _draft(key="other", name=f"a{bad}"),
        _draft(key="other", description=bad),
        _draft(key="other", stages=[{"nested": {"deeper": [f"x{bad}"]}}]),
        _draft(key="other", stages=[{f"key{bad}": 1}]),
        _process(f"Qualify{bad}"),
    ]
    for definition in definitions:
        for query, variables in [
            (CREATE_PROCESS, {"input": {"definition": definition}}),
            (
                UPDATE_PROCESS,
                {
                    "input": {
                        "processId": process_id,
                        "definition": {**definition, "key": "hostile"},
                    }
                },
            ),
            (IMPORT_PROCESS, {"input": {"definition": definition, "publish": True}}),
        ]:
            answer = await _answer(gql, query, variables)
            assert answer["__typename"] == "InvalidDefinition", (variables, answer)
            assert any("character" in p["message"] for p in answer["problems"]), answer
    assert await _state(gql) == before


async def test_a_number_json_cannot_hold_in_a_definition_is_refused(gql: Any) -> None:
    before = await _state(gql)
    document = """mutation { createProcess(input: {definition: {key: "endless", entity:
      "opportunity", stages: [{name: "x", limit: 1e400}]}}) {
      __typename ... on InvalidDefinition { problems { path message } } } }"""
    answer = (await gql.execute(document))["createProcess"]
    assert answer == {
        "__typename": "InvalidDefinition",
        "problems": [{"path": "stages[0].limit", "message": "numbers are finite"}],
    }
    assert await _state(gql) == before


@UNSTORABLE
async def test_unstorable_text_in_a_field_is_refused(gql: Any, bad: str) -> None:
    before = await _state(gql)
    field = {"entity": "opportunity", "key": "region", "label": "Region", "type": "TEXT"}
    for change, typename in [
        ({"label": f"Region{bad}"}, "InvalidDefinition"),
        ({"type": "CHOICE", "choices": ["North", f"South{bad}"]}, "InvalidDefinition"),
        ({"entity": f"opportunity{bad}"}, "NotFound"),
    ]:
        answer = await _answer(gql, SAVE_FIELD, {"input": {**field, **change}})
        assert answer["__typename"] == typename, (change, answer)
    assert await _state(gql) == before


@UNSTORABLE
async def test_unstorable_text_in_accounts_is_refused(gql: Any, bad: str) -> None:
    processes = (await gql.execute("{ processes { id } }"))["processes"]
    before = await _state(gql)
    for query, variables in [
        (CREATE_USER, {"input": {"name": f"eve{bad}", "password": PASSWORD}}),
        (CREATE_USER, {"input": {"name": "eve", "password": PASSWORD + bad}}),
        (CREATE_USER, {"input": {"name": "eve", "password": PASSWORD, "roles": [f"s{bad}"]}}),
        (SET_ROLES, {"id": processes[0]["id"], "roles": [f"sales{bad}"]}),
    ]:
        answer = await _answer(gql, query, variables)
        assert answer["__typename"] == "InvalidValue", (variables, answer)
    assert await _state(gql) == before


@UNSTORABLE
async def test_unstorable_text_in_a_token_label_is_an_invalid_value(gql: Any, bad: str) -> None:
    before = await _state(gql)
    document = "mutation($l: String!) { createApiToken(label: $l) { secret } }"
    payload = await _post(gql, document, {"l": f"laptop{bad}"})
    assert payload["data"] is None
    assert payload["errors"][0]["extensions"]["code"] == "INVALID_VALUE", payload
    assert await _state(gql) == before


SIGN_IN_NAMES = {
    "nul": f"demo{NUL}",
    "surrogate": f"demo{SURROGATE}",
}


@pytest.mark.parametrize("name", SIGN_IN_NAMES.values(), ids=SIGN_IN_NAMES.keys())
async def test_a_sign_in_with_a_hostile_name_or_password_is_unauthenticated(
    gql: Any, name: str
) -> None:
    before = await _state(gql)
    for variables in [{"name": name, "password": PASSWORD}, {"name": "demo", "password": name}]:
        answer = (await _post(gql, SIGN_IN, variables, user=None))["data"]["signIn"]
        assert answer == {"__typename": "Unauthenticated", "message": "wrong name or password"}
    assert await _state(gql) == before


async def test_a_sign_in_with_a_name_or_password_past_its_maximum_is_refused(
    gql: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Refused before anything is looked up or any password checked."""
    checked: list[str] = []
    monkeypatch.setattr(accounts, "_verify", lambda *args: checked.append("verify"))
    before = await _state(gql)
    for variables, field in [
        ({"name": "a" * 100_000, "password": PASSWORD}, "name"),
        ({"name": "demo", "password": "a" * 100_000}, "password"),
    ]:
        payload = await _post(gql, SIGN_IN, variables, user=None)
        assert payload["data"] is None, payload
        [error] = payload["errors"]
        assert error["extensions"]["code"] == "INVALID_VALUE", error
        assert error["message"].startswith(f"{field}: at most ")
    assert checked == []
    assert await _state(gql) == before


FILTERS = {
    "search": "query($v: String) { records(search: $v) { totalCount } }",
    "owner": "query($v: String) { records(owner: $v) { totalCount } }",
    "stage": "query($v: String) { records(stage: $v) { totalCount } }",
    "entity": "query($v: String) { records(entity: $v) { totalCount } }",
    "instance-stage": "query($v: String) { instances(stage: $v) { totalCount } }",
    "instance-owner": "query($v: String) { instances(owner: $v) { totalCount } }",
    "processes": "query($v: String) { processes(entity: $v) { id } }",
}


@pytest.mark.parametrize("document", FILTERS.values(), ids=FILTERS.keys())
@pytest.mark.parametrize("bad", [NUL, SURROGATE, "x" * 100_000], ids=["nul", "surrogate", "long"])
async def test_a_filter_no_stored_text_can_match_is_an_invalid_value(
    gql: Any, document: str, bad: str
) -> None:
    payload = await _post(gql, document, {"v": f"a{bad}"})
    assert payload["data"] is None, payload
    assert payload["errors"][0]["extensions"]["code"] == "INVALID_VALUE", payload


# Numbers and money.

NUMBERS_REFUSED = {
    "googol-cubed": 10**300,
    "10^400": 10**400,
    "1e308": 1e308,
    "1e15": 10**15,
    "-1e15": -(10**15),
    "seven-decimals": 0.1234567,
    "1e-300": 1e-300,
    "text-1e400": "1e400",
    "text-nan": "NaN",
    "text-infinity": "Infinity",
    "text-minus-infinity": "-Infinity",
    "text-long": "9" * 5000,
}
NUMBERS_KEPT = {"99.5": 99.5, "1e15-1": 10**15 - 1, "-5": -5, "six-decimals": 0.123456, "42": "42"}


async def _unbounded(gql: Any) -> str:
    """A number field without a minimum or maximum: only the magnitude limits hold."""
    field = {"entity": "opportunity", "key": "units", "label": "Units", "type": "NUMBER"}
    saved = await gql.execute(
        "mutation($input: SaveFieldInput!) { saveField(input: $input) { __typename } }",
        {"input": field},
    )
    assert saved["saveField"]["__typename"] == "FieldSaved", saved
    return "units"


@pytest.mark.parametrize("value", NUMBERS_REFUSED.values(), ids=NUMBERS_REFUSED.keys())
async def test_a_number_out_of_range_is_an_invalid_value(gql: Any, value: Any) -> None:
    field = await _unbounded(gql)
    before = await _state(gql)
    values = {field: value}
    answer = await _answer(
        gql, CREATE_RECORD, {"input": {"entity": "opportunity", "name": "N", "values": values}}
    )
    assert (answer["__typename"], answer["field"]) == ("InvalidValue", field), answer
    assert await _state(gql) == before


@pytest.mark.parametrize("value", NUMBERS_KEPT.values(), ids=NUMBERS_KEPT.keys())
async def test_a_number_in_range_is_kept(gql: Any, value: Any) -> None:
    field = await _unbounded(gql)
    values = {field: value}
    answer = await _answer(
        gql, CREATE_RECORD, {"input": {"entity": "opportunity", "name": "N", "values": values}}
    )
    assert answer["__typename"] == "RecordCreated", answer
    assert answer["record"]["values"][field] == float(value)


MONEY_REFUSED = {
    "huge-exponent": "1e999999999",
    "negative-huge-exponent": "-1e999999999",
    "tiny-exponent": "1e-999999999",
    "long": "9" * 5000,
    "10^400": 10**400,
    "nan": "NaN",
    "snan": "sNaN",
    "infinity": "Infinity",
}


@pytest.mark.parametrize("value", MONEY_REFUSED.values(), ids=MONEY_REFUSED.keys())
async def test_money_out_of_range_is_an_invalid_value(gql: Any, value: Any) -> None:
    record = await _record(gql)
    started = await gql.execute(START, {"input": {"recordId": record["id"]}})
    instance_id = started["startInstance"]["instance"]["id"]
    before = await _state(gql)
    values = {"estimated_budget": value}
    created = await _answer(
        gql, CREATE_RECORD, {"input": {"entity": "opportunity", "name": "N", "values": values}}
    )
    step = {"instanceId": instance_id, "field": "estimated_budget", "value": value}
    completed = await _answer(gql, COMPLETE_STEP, {"input": step})
    for answer in (created, completed):
        assert answer["__typename"] == "InvalidValue", answer
        assert answer["field"] == "estimated_budget"
    assert await _state(gql) == before


# Cursors and ids that name nothing.


def _cursor(text: bytes) -> str:
    return base64.urlsafe_b64encode(text).decode()


CURSORS = {
    "huge-id": _cursor(b"c:99999999999"),
    "past-int32": _cursor(b"c:2147483648"),
    "negative": _cursor(b"c:-1"),
    "signed": _cursor(b"c:+1"),
    "spaces": _cursor(b"c: 1"),
    "other-digits": _cursor("c:\u0663".encode()),
    "not-utf8": _cursor(b"c:\xff"),
    "no-prefix": _cursor(b"abc"),
    "not-a-number": _cursor(b"c:x"),
    "not-base64": "!!!",
    "bad-padding": "Yzox=",
    "nul": f"Yzox{NUL}",
    "surrogate": f"Yzox{SURROGATE}",
}


@pytest.mark.parametrize("field", ["records", "instances"])
@pytest.mark.parametrize("cursor", CURSORS.values(), ids=CURSORS.keys())
async def test_a_forged_cursor_names_nothing(gql: Any, field: str, cursor: str) -> None:
    document = f"query($a: String) {{ {field}(after: $a) {{ totalCount }} }}"
    payload = await _post(gql, document, {"a": cursor})
    assert payload["data"] is None, payload
    [error] = payload["errors"]
    assert error["extensions"]["code"] == "NOT_FOUND", error


@pytest.mark.parametrize("field", ["records", "instances"])
async def test_a_cursor_past_its_maximum_is_an_invalid_value(gql: Any, field: str) -> None:
    document = f"query($a: String) {{ {field}(after: $a) {{ totalCount }} }}"
    payload = await _post(gql, document, {"a": _cursor(b"c:" + b"9" * 5000)})
    assert payload["data"] is None, payload
    [error] = payload["errors"]
    assert error["extensions"]["code"] == "INVALID_VALUE", error


async def test_a_cursor_given_out_pages_on(gql: Any) -> None:
    for name in ("A", "B"):
        await gql.execute(CREATE_RECORD, {"input": {"entity": "opportunity", "name": name}})
    document = (
        "query($a: String) { records(first: 1, after: $a) { edges { cursor node { name } } } }"
    )
    first = (await gql.execute(document, {"a": None}))["records"]["edges"]
    second = (await gql.execute(document, {"a": first[0]["cursor"]}))["records"]["edges"]
    assert [e["node"]["name"] for e in first + second] == ["A", "B"]


NOT_IN_A_UNION = {
    "events-empty-instance": ('{ events(instanceId: "") { seq } }', "NOT_FOUND"),
    "events-malformed-record": ('{ events(recordId: "x") { seq } }', "NOT_FOUND"),
    "records-malformed-process": ('{ records(processId: "1e3") { totalCount } }', "NOT_FOUND"),
    "drafts-empty-page": ("{ drafts(first: 0) { key } }", "INVALID_VALUE"),
    "records-empty-page": ("{ records(first: 0) { totalCount } }", "INVALID_VALUE"),
    "events-empty-page": ("{ events(first: 0) { seq } }", "INVALID_VALUE"),
}


@pytest.mark.parametrize(("document", "code"), NOT_IN_A_UNION.values(), ids=NOT_IN_A_UNION.keys())
async def test_a_refusal_of_a_field_without_a_union_carries_a_code(
    gql: Any, document: str, code: str
) -> None:
    payload = (await gql.post(document)).json()
    assert payload["data"] is None
    [error] = payload["errors"]
    assert error["extensions"]["code"] == code, error
    assert error["message"] != "Unexpected error."


@pytest.mark.parametrize("ids", [["abc"], ["99999"], [""], ["1", "1"]], ids=str)
async def test_reordering_unknown_processes_is_an_invalid_value(gql: Any, ids: list[str]) -> None:
    before = await _state(gql)
    answer = await _answer(gql, REORDER, {"entity": "opportunity", "ids": ids})
    assert (answer["__typename"], answer["field"]) == ("InvalidValue", "processIds"), answer
    assert await _state(gql) == before
