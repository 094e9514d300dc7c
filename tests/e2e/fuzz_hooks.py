"""Schemathesis hooks for fuzzing the served schema (loaded through SCHEMATHESIS_HOOKS).

- strategies for the custom scalars: JSON values (hostile text, numbers past every range,
  deep nesting, field keys and definition parts the server knows, whole ready-to-use
  definitions) and DateTime;
- every generated document also asks for the root field's `__typename`, so a refusal
  answered as a union member can be told from a success; two in three of its ids become
  small numbers, which name the demo's records, instances and processes, and its page
  sizes fall within the page (so calls reach past the lookup of what they name);
- the fuzzer never revokes its own token nor changes its own user (it would lock itself
  out and test nothing after);
- one check, in place of Schemathesis's `not_a_server_error` (which counts every error of
  a field as a server error): no 5xx; no `Unexpected error.`; an error of a field (one
  with a `path`) carries `extensions.code`, as refusals of fields without a result union
  do; no stack trace or SQL in an answer; a refused mutation changes nothing (the last
  event seq and the rows a client can count are as before the call). Each checked call is
  written as one line to STAGEFLOW_FUZZ_LOG.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import zlib
from pathlib import Path
from typing import Any

import graphql
import httpx
import schemathesis
import yaml
from hypothesis import strategies as st
from schemathesis.graphql import nodes

URL = os.environ["STAGEFLOW_FUZZ_URL"]
TOKEN = os.environ["STAGEFLOW_FUZZ_TOKEN"]
PROTECTED = set(os.environ["STAGEFLOW_FUZZ_PROTECTED"].split(","))
LOG = Path(os.environ["STAGEFLOW_FUZZ_LOG"])
TEMPLATES = Path(os.environ["STAGEFLOW_FUZZ_TEMPLATES"])

# Refusals answered as members of a result union.
ERRORS = frozenset(
    {
        "NotFound",
        "InvalidValue",
        "StageGateBlocked",
        "InvalidTransition",
        "VersionConflict",
        "InvalidDefinition",
        "InvalidMigration",
        "FieldInUse",
        "Unauthenticated",
        "RateLimited",
    }
)
# What no refusal may change.
STATE = """{
  lastEventSeq
  records(first: 100) { totalCount edges { node { id version } } }
  instances(first: 100) { totalCount edges { node { id version } } }
  drafts(first: 100) { processId version }
  processes { id version status roles }
  entities { key fields { key type choices } }
  users { id roles active }
  apiTokens { id }
}"""
LEAKS = ("Unexpected error.", "Traceback", "SELECT ", "INSERT ", "UPDATE ")

# Scalars.

HOSTILE_TEXT = [
    "\x00",
    "a\x00b",
    "\ud800",
    "x\udfffy",
    "x" * 5000,
    "1e999999999",
    "-1e999999999",
    "NaN",
    "Infinity",
    "9" * 400,
    "0.1234567",
    "",
    "  ",
    "2024-02-30",
    "Yes",
]
KEYS = [
    # opportunity fields, of every type
    "estimated_budget",
    "purchase_timeframe",
    "decision_maker_identified",
    "current_situation",
    "customer_need",
    "proposal_sent_date",
    "probability",
    "deal_size",
    "executive_sponsor",
    # parts of a definition
    "key",
    "name",
    "entity",
    "description",
    "stages",
    "category",
    "guidance",
    "steps",
    "field",
    "required",
    "next",
    "branches",
    "to",
    "when",
    "all",
    "any",
    "not",
    "op",
    "value",
]


def _node(value: Any) -> graphql.ValueNode:
    """A JSON value as a GraphQL literal."""
    if value is None:
        return graphql.NullValueNode()
    if isinstance(value, bool):
        return nodes.Boolean(value)
    if isinstance(value, int):
        return nodes.Int(value)
    if isinstance(value, float):
        return nodes.Float(value)
    if isinstance(value, str):
        return nodes.String(value)
    if isinstance(value, list):
        return nodes.List([_node(item) for item in value])
    if isinstance(value, dt.date):
        return nodes.String(value.isoformat())
    fields = [
        graphql.ObjectFieldNode(name=graphql.NameNode(value=str(k)), value=_node(v))
        for k, v in value.items()
    ]
    return nodes.Object(fields)


def _definitions() -> list[dict[str, Any]]:
    found = []
    for path in sorted(TEMPLATES.glob("*.yaml")):
        data = yaml.safe_load(path.read_text())
        if "stages" in data:
            found.append({**data, "key": f"fuzz-{data['key']}"[:64]})
    return found


texts = st.one_of(st.text(max_size=20), st.sampled_from(HOSTILE_TEXT))
numbers = st.one_of(
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([10**15, 10**15 - 1, 1e308, 1e-300, 0.1234567, 99.5]),
)
leaves = st.one_of(st.none(), st.booleans(), numbers, texts, st.dates(), st.sampled_from(KEYS))
names = st.one_of(st.sampled_from(KEYS), st.from_regex(r"\A[_A-Za-z][_0-9A-Za-z]{0,10}\Z"))
json_values = st.one_of(
    st.recursive(
        leaves,
        lambda children: st.one_of(
            st.lists(children, max_size=4), st.dictionaries(names, children, max_size=5)
        ),
        max_leaves=20,
    ),
    st.sampled_from(_definitions()),
    st.builds(lambda depth: json.loads("[" * depth + "]" * depth), st.integers(20, 120)),
)
schemathesis.graphql.scalar("JSON", json_values.map(_node))
schemathesis.graphql.scalar(
    "DateTime",
    st.datetimes(timezones=st.just(dt.UTC)).map(lambda at: nodes.String(at.isoformat())),
)


# Documents.


def _with_typename(selection_set: graphql.SelectionSetNode) -> graphql.SelectionSetNode:
    typename = graphql.FieldNode(name=graphql.NameNode(value="__typename"))
    return graphql.SelectionSetNode(selections=(*selection_set.selections, typename))


def _root(document: graphql.DocumentNode) -> graphql.FieldNode | None:
    for definition in document.definitions:
        if isinstance(definition, graphql.OperationDefinitionNode):
            for selection in definition.selection_set.selections:
                if isinstance(selection, graphql.FieldNode):
                    return selection
    return None


# Ids and page sizes: a draw decides nothing here (the body is drawn already), so the
# choice follows a checksum of the generated value, the same on every run.
ID_ARGUMENTS = ("id", "instanceId", "recordId", "processId", "userId")
_MAPPED_LATER = frozenset({"revokeApiToken", "updateUser"})  # the fuzzer's own ids stay apart


def _choice(text: str, options: int) -> int:
    return zlib.crc32(text.encode("utf-8", "surrogatepass")) % options


def _value(name: str, value: graphql.ValueNode) -> graphql.ValueNode:
    if isinstance(value, graphql.ObjectValueNode):
        fields = tuple(
            graphql.ObjectFieldNode(name=f.name, value=_value(f.name.value, f.value))
            for f in value.fields
        )
        return graphql.ObjectValueNode(fields=fields)
    if isinstance(value, graphql.ListValueNode):
        return graphql.ListValueNode(values=tuple(_value(name, v) for v in value.values))
    if name in ID_ARGUMENTS and isinstance(value, graphql.StringValueNode | graphql.IntValueNode):
        pick = _choice(value.value, 60)
        return value if pick >= 40 else graphql.StringValueNode(value=str(pick % 20 + 1))
    if name == "first" and isinstance(value, graphql.IntValueNode):
        pick = _choice(value.value, 150)
        return value if pick >= 100 else graphql.IntValueNode(value=str(pick + 1))
    return value


def _field(field: graphql.FieldNode) -> graphql.FieldNode:
    arguments = field.arguments or ()
    if field.name.value not in _MAPPED_LATER:
        arguments = tuple(
            graphql.ArgumentNode(name=a.name, value=_value(a.name.value, a.value))
            for a in arguments
        )
    selection_set = field.selection_set
    return graphql.FieldNode(
        alias=field.alias,
        name=field.name,
        arguments=arguments,
        directives=field.directives,
        selection_set=_with_typename(selection_set) if selection_set is not None else None,
    )


@schemathesis.hook
def map_body(context: Any, body: graphql.DocumentNode) -> graphql.DocumentNode:
    """The root field also asks for `__typename`; ids and page sizes as said above."""
    definitions = []
    for definition in body.definitions:
        if isinstance(definition, graphql.OperationDefinitionNode):
            fields = tuple(
                _field(f) if isinstance(f, graphql.FieldNode) else f
                for f in definition.selection_set.selections
            )
            definition = graphql.OperationDefinitionNode(
                operation=definition.operation,
                name=definition.name,
                variable_definitions=definition.variable_definitions,
                directives=definition.directives,
                selection_set=graphql.SelectionSetNode(selections=fields),
            )
        definitions.append(definition)
    return graphql.DocumentNode(definitions=tuple(definitions))


class _Values(graphql.Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.found: set[str] = set()

    def enter_string_value(self, node: graphql.StringValueNode, *_: Any) -> None:
        self._add(node.value)

    def enter_int_value(self, node: graphql.IntValueNode, *_: Any) -> None:
        self._add(node.value)

    def _add(self, text: str) -> None:
        # "007" names object 7, as the server reads ids
        digits = text.isascii() and text.isdigit() and len(text) < 20
        self.found.add(str(int(text)) if digits else text)


@schemathesis.hook
def filter_body(context: Any, body: graphql.DocumentNode) -> bool:
    """Never revoke the fuzzer's own token nor change its own user."""
    root = _root(body)
    if root is None or root.name.value not in ("revokeApiToken", "updateUser"):
        return True
    values = _Values()
    graphql.visit(body, values)
    return not (values.found & PROTECTED)


# Checks.

_client = httpx.Client(base_url=URL, headers={"authorization": f"Bearer {TOKEN}"}, timeout=60)
_before: dict[str, Any] = {}


def _state() -> Any:
    payload = _client.post("/graphql", json={"query": STATE}).json()
    assert "errors" not in payload, payload
    return payload["data"]


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    if str(case.body).lstrip().startswith("mutation"):
        _before["state"] = _state()
    else:
        _before.pop("state", None)


def _refused(payload: Any) -> bool:
    """A mutation's answer is a refusal: a top-level error, or an error member. An error
    inside a change's answer (a nested list asked with a bad page) is raised while the
    answer is read, after the change was made: that answer is a change."""
    data = payload.get("data") if isinstance(payload, dict) else None
    if not isinstance(data, dict):
        return True
    if any(len(error.get("path") or ()) <= 1 for error in payload.get("errors") or ()):
        return True
    answers = list(data.values())
    return all(isinstance(a, dict) and a.get("__typename") in ERRORS for a in answers)


@schemathesis.check
def answers_are_typed(ctx: Any, response: Any, case: Any) -> bool | None:
    """No 5xx, no unexpected error, fields' errors coded, no stack trace or SQL; a refused
    mutation changed nothing."""
    text = response.text if isinstance(response.text, str) else ""
    assert response.status_code < 500, f"{response.status_code}: {text[:500]}"
    for leak in LEAKS:
        assert leak not in text, f"{leak!r} in the answer: {text[:500]}"
    try:
        payload = json.loads(text)
    except ValueError:
        raise AssertionError(f"not JSON: {text[:200]}") from None
    for error in payload.get("errors") or ():
        if "path" in error:
            assert (error.get("extensions") or {}).get("code"), f"an error without a code: {error}"
    kind = "query"
    if "state" in _before:
        refused = _refused(payload)
        kind = "refused" if refused else "changed"
        if refused:
            assert _state() == _before["state"], f"a refused mutation changed something: {text}"
    label = case.operation.label
    with LOG.open("a") as out:
        out.write(f"{label} {response.status_code} {kind}\n")
    return None
