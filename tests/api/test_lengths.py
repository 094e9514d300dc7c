"""Every text argument of the schema, and every text field of an input, has a maximum that
the schema shows (`@length(max: N)`): a value at it is taken (it may be refused for what it
says, never for its length, never with "Unexpected error."), a value one past it is
refused as InvalidValue where the result union has it, else with the code INVALID_VALUE,
and changes nothing. The texts are found in the printed schema, as clients read it: a new
one without a maximum fails here."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from graphql import (
    GraphQLArgument,
    GraphQLEnumType,
    GraphQLInputField,
    GraphQLInputObjectType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLUnionType,
    build_schema,
    get_named_type,
)
from graphql.pyutils import Undefined
from making import new_instance
from sockets import Socket
from strawberry.printer import print_schema
from users import make_user

from server.api.schema import schema as served

SCHEMA = build_schema(print_schema(served))
TEXT = ("String", "ID")


@dataclass(frozen=True)
class Text:
    """One text a field takes: the argument, and the path into its input to the text."""

    root: str
    field: str
    argument: str
    path: tuple[str, ...]  # input field names, empty for an argument that is text itself
    maximum: int | None
    kind: str  # String or ID

    @property
    def name(self) -> str:
        """The name a refusal gives: the argument's, or the input field's."""
        return self.path[-1] if self.path else self.argument

    def __str__(self) -> str:
        return f"{self.root}.{self.field}({self.argument}:){''.join('.' + p for p in self.path)}"


def _maximum(item: GraphQLArgument | GraphQLInputField) -> int | None:
    node = item.ast_node
    for directive in (node.directives or ()) if node else ():
        if directive.name.value == "length":
            [argument] = directive.arguments
            return int(argument.value.value)  # type: ignore[attr-defined]
    return None


def _texts() -> Iterator[Text]:
    for root in (SCHEMA.query_type, SCHEMA.mutation_type, SCHEMA.subscription_type):
        assert root is not None
        for field_name, field in root.fields.items():
            for argument_name, argument in field.args.items():
                named = get_named_type(argument.type)
                if named.name in TEXT:
                    most = _maximum(argument)
                    yield Text(root.name, field_name, argument_name, (), most, named.name)
                elif isinstance(named, GraphQLInputObjectType):
                    for path, item in _input_texts(named, ()):
                        kind = get_named_type(item.type).name
                        yield Text(root.name, field_name, argument_name, path, _maximum(item), kind)


def _input_texts(
    kind: GraphQLInputObjectType, path: tuple[str, ...]
) -> Iterator[tuple[tuple[str, ...], GraphQLInputField]]:
    for name, item in kind.fields.items():
        named = get_named_type(item.type)
        if named.name in TEXT:
            yield (*path, name), item
        elif isinstance(named, GraphQLInputObjectType):
            yield from _input_texts(named, (*path, name))


TEXTS = list(_texts())


def test_every_text_argument_has_a_maximum() -> None:
    assert len(TEXTS) > 50  # the walk found the schema's texts
    assert [str(t) for t in TEXTS if t.maximum is None] == []


# Values for what a call needs besides the text under test: real objects where an id is
# asked for, valid values where a rule would refuse a placeholder first.
FILLERS = {
    "entity": "opportunity",
    "password": "a-long-secret-37",
    "key": "region",
    "label": "Region",
    "field": "current_situation",
    "name": "Name",
}


def _value(kind: Any, name: str, ids: dict[str, str]) -> Any:
    """A value of `kind` for an argument or input field called `name`."""
    if isinstance(kind, GraphQLNonNull):
        return _value(kind.of_type, name, ids)
    if isinstance(kind, GraphQLList):
        return [_value(kind.of_type, name, ids)]
    if isinstance(kind, GraphQLInputObjectType):
        return {
            n: _value(f.type, n, ids)
            for n, f in kind.fields.items()
            if isinstance(f.type, GraphQLNonNull) and f.default_value is Undefined
        }
    if isinstance(kind, GraphQLEnumType):
        return next(iter(kind.values))
    assert isinstance(kind, GraphQLScalarType)
    if kind.name == "ID":
        return ids.get(name, ids["instanceId"])
    return {"String": FILLERS.get(name, "a"), "Int": 1, "Boolean": False, "JSON": {}}[kind.name]


def _variables(text: Text, value: str, ids: dict[str, str]) -> dict[str, Any]:
    field = _root(text).fields[text.field]
    variables = {}
    for name, argument in field.args.items():
        if name == text.argument or isinstance(argument.type, GraphQLNonNull):
            variables[name] = _value(argument.type, name, ids)
    holder: Any = variables
    kind: Any = field.args[text.argument].type
    key = text.argument
    for step in text.path:  # down to the input that holds the text, making what is missing
        kind = get_named_type(kind)
        holder = holder[key][0] if isinstance(holder[key], list) else holder[key]
        assert isinstance(kind, GraphQLInputObjectType)
        item = kind.fields[step]
        holder.setdefault(step, _value(item.type, step, ids))
        kind, key = item.type, step
    holder[key] = [value] if isinstance(holder[key], list) else value
    return variables


def _root(text: Text) -> GraphQLObjectType:
    root = SCHEMA.get_type(text.root)
    assert isinstance(root, GraphQLObjectType)
    return root


def _document(text: Text) -> str:
    field = _root(text).fields[text.field]
    head = ", ".join(f"${n}: {a.type}" for n, a in field.args.items())
    call = ", ".join(f"{n}: ${n}" for n in field.args)
    named = get_named_type(field.type)
    selection = ""
    if isinstance(named, GraphQLUnionType):
        errors = (
            " ... on InvalidValue { field reason }"
            if "InvalidValue" in [t.name for t in named.types]
            else ""
        )
        selection = "{ __typename ... on Error { message }" + errors + " }"
    elif isinstance(named, GraphQLObjectType):
        selection = "{ __typename }"
    operation = text.root.lower()
    return f"{operation}({head}) {{ {text.field}({call}) {selection} }}"


@dataclass
class Answer:
    member: dict[str, Any] | None  # the union member, if the field has a union
    errors: list[dict[str, Any]]


async def _ask(gql: Any, text: Text, value: str, ids: dict[str, str], token: str) -> Answer:
    document, variables = _document(text), _variables(text, value, ids)
    if text.root == "Subscription":
        async with Socket(gql.app, token) as socket:
            await socket.subscribe("1", document, **variables)
            message = await socket.receive()
        if message["type"] == "error":
            return Answer(None, message["payload"])
        return Answer(None, message["payload"].get("errors") or [])
    response = await gql.post(document, variables, headers={"authorization": f"Bearer {token}"})
    assert response.status_code == 200, (str(text), response.text)
    payload = response.json()
    data = (payload.get("data") or {}).get(text.field)
    member = data if isinstance(data, dict) and "field" in data else None
    return Answer(member, payload.get("errors") or [])


def _refused_for_length(answer: Answer, text: Text) -> bool:
    reason = f"at most {text.maximum} characters"
    if answer.member is not None:
        return answer.member == {
            "__typename": "InvalidValue",
            "message": f"{text.name}: {reason}",
            "field": text.name,
            "reason": reason,
        }
    return any(
        e.get("extensions", {}).get("code") == "INVALID_VALUE"
        and e["message"] == f"{text.name}: {reason}"
        for e in answer.errors
    )


def _has_union_member(text: Text) -> bool:
    named = get_named_type(_root(text).fields[text.field].type)
    return isinstance(named, GraphQLUnionType) and "InvalidValue" in [t.name for t in named.types]


@pytest.fixture
async def ids(gql: Any) -> dict[str, str]:
    """Real objects for the ids a call takes besides the text under test."""
    instance = await new_instance(gql)
    found = await gql.execute(
        "query($id: ID!) { instance(id: $id) { record { id } process { id } } }", {"id": instance}
    )
    user, _ = await make_user("other")
    record = found["instance"]["record"]["id"]
    process = found["instance"]["process"]["id"]
    return {
        "instanceId": instance,
        "recordId": record,
        "processId": process,
        "id": instance,
        "userId": str(user.id),
    }


async def test_a_text_at_its_maximum_is_taken_and_one_past_it_refused(
    gql: Any, ids: dict[str, str]
) -> None:
    token = await gql.token("demo")
    wrong: list[str] = []
    for text in TEXTS:
        if text.maximum is None:
            wrong.append(f"{text} has no maximum")
            continue
        letter = "1" if text.kind == "ID" else "a"  # an id at its maximum names nothing
        at = await _ask(gql, text, letter * text.maximum, ids, token)
        if _refused_for_length(at, text) or any(
            e["message"] == "Unexpected error." for e in at.errors
        ):
            wrong.append(f"{text} at {text.maximum}: {at}")
        before = (await gql.execute("{ lastEventSeq }"))["lastEventSeq"]
        past = await _ask(gql, text, letter * (text.maximum + 1), ids, token)
        if not _refused_for_length(past, text) or (_has_union_member(text) and past.member is None):
            wrong.append(f"{text} past {text.maximum}: {past}")
        if (await gql.execute("{ lastEventSeq }"))["lastEventSeq"] != before:
            wrong.append(f"{text} past {text.maximum} changed something")
    assert wrong == []
