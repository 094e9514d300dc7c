"""Kept answers: the process bar's read, answered again without executing it while nothing it
was built from has changed.

A client shows a bar by sending one document, `instance(id: $id) { ... }`, again and again:
on every page, every refresh, every live update. Once such a document has been executed in
full (parsed, validated, priced, access-checked, resolved), its answer is kept with the rows
it was built from: the instance and its record, by version, and the process. The next time
the same user sends the same document for the same id, the answer is sent again if

- the credential is still good (looked up as for any request) and the user may still run
  the process (their roles as they are now);
- the instance and the record are at the versions the answer was built from, read in one
  statement from the database, so a read after a write sees the write whichever worker
  made it;
- the catalog has not changed since (a published version, a renamed field): every worker
  hears of those through its event feed, as its catalog does.

Only documents whose every field is a function of those rows are kept: the instance's own
fields and its bar (`stages`, `activeStage`, `missingSteps`, `nextStage`, `canAdvance`, ...)
down to stages, steps and fields. Anything else (`record`, `process`, `history`, `events`,
fragments, directives, arguments other than the id, several operations) runs as always.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from graphql import (
    FieldNode,
    GraphQLError,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    IntValueNode,
    NamedTypeNode,
    NonNullTypeNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    StringValueNode,
    VariableNode,
    get_named_type,
    parse,
)
from starlette.requests import Request
from starlette.responses import Response

from server.api.asked import asked
from server.api.context import BAR_ROWS, BarRows, Context, credential_of
from server.db import store
from server.services.runtime import Runtime

# The fields of each type whose value follows from the instance, its record and the
# catalog; "*": every field of the type.
KEPT_FIELDS: dict[str, frozenset[str] | str] = {
    "Instance": frozenset(
        {
            "id",
            "version",
            "status",
            "processVersion",
            "startedAt",
            "activeSince",
            "completedAt",
            "stages",
            "activeStage",
            "missingSteps",
            "nextStage",
            "canAdvance",
            "canFinish",
            "path",
            "outcome",
            "outcomeReason",
            "completedBy",
            # Changes only with a new stay, which moves the instance's version.
            "dueAt",
        }
    ),
    "Outcome": "*",
    "StageProgress": "*",
    "Stage": "*",
    "Step": "*",
    "Field": "*",
    "Branch": "*",
}
ROOT_FIELD = "instance"
MAX_PLANS = 512
MAX_ANSWERS = 20_000


@dataclass(frozen=True, eq=False)
class Plan:
    """A document that may be kept: where its instance id comes from. Each is its own
    (compared by identity), so no two documents share an answer."""

    variable: str | None  # the id's variable, or None: the id is written in the document
    literal: str | None = None

    def instance_id(self, variables: Any) -> str | None:
        """The id asked for, spelled as an id, or None when the variables are not the plain
        ones a bar sends (then the request runs as always, and is judged there)."""
        if self.variable is None:
            raw: object = self.literal
            if variables not in (None, {}):
                return None
        else:
            if not isinstance(variables, dict) or len(variables) != 1:
                return None
            raw = variables.get(self.variable)
            if isinstance(raw, int) and not isinstance(raw, bool):
                raw = str(raw)
        if not isinstance(raw, str) or not (raw.isascii() and raw.isdigit()) or len(raw) > 10:
            return None
        return raw if 0 < int(raw) <= store._MAX_ID and str(int(raw)) == raw else None


def plan_of(schema: GraphQLSchema, query: str, operation_name: str | None) -> Plan | None:
    """The plan of a document that may be kept, or None."""
    try:
        document = parse(query, no_location=True, max_tokens=2000)
    except GraphQLError:
        return None
    if len(document.definitions) != 1:
        return None
    operation = document.definitions[0]
    if not isinstance(operation, OperationDefinitionNode):
        return None
    if operation.operation is not OperationType.QUERY or operation.directives:
        return None
    if operation_name is not None and (
        operation.name is None or operation.name.value != operation_name
    ):
        return None
    roots = operation.selection_set.selections
    if len(roots) != 1 or not isinstance(roots[0], FieldNode):
        return None
    root = roots[0]
    arguments = root.arguments or ()
    if root.name.value != ROOT_FIELD or root.directives or len(arguments) != 1:
        return None
    argument = arguments[0]
    if argument.name.value != "id":
        return None
    plan = _id_plan(operation, argument.value)
    query_type = schema.query_type
    if plan is None or query_type is None or root.selection_set is None:
        return None
    instance = get_named_type(query_type.fields[ROOT_FIELD].type)
    return plan if _kept_selection(instance, root.selection_set) else None


def _id_plan(operation: OperationDefinitionNode, value: Any) -> Plan | None:
    definitions = operation.variable_definitions or ()
    if isinstance(value, StringValueNode | IntValueNode):
        return Plan(variable=None, literal=value.value) if not definitions else None
    if not isinstance(value, VariableNode) or len(definitions) != 1:
        return None
    definition = definitions[0]
    kind = definition.type
    if isinstance(kind, NonNullTypeNode):
        kind = kind.type
    if (
        definition.variable.name.value != value.name.value
        or definition.default_value is not None
        or definition.directives
        or not isinstance(kind, NamedTypeNode)
        or kind.name.value != "ID"
    ):
        return None
    return Plan(variable=value.name.value)


def _kept_selection(kind: GraphQLNamedType, selections: SelectionSetNode) -> bool:
    if not isinstance(kind, GraphQLObjectType):
        return False
    allowed = KEPT_FIELDS.get(kind.name)
    if allowed is None:
        return False
    for selection in selections.selections:
        if not isinstance(selection, FieldNode) or selection.directives or selection.arguments:
            return False
        name = selection.name.value
        if name == "__typename":
            if selection.selection_set is not None:
                return False
            continue
        if (allowed != "*" and name not in allowed) or name not in kind.fields:
            return False
        inner = get_named_type(kind.fields[name].type)
        if isinstance(inner, GraphQLObjectType):
            if selection.selection_set is None:
                return False
            if not _kept_selection(inner, selection.selection_set):
                return False
        elif selection.selection_set is not None:
            return False
    return True


@dataclass(frozen=True)
class _Asked:
    """What the fast path read of a request, for keeping its answer once it has run."""

    key: tuple[str, str | None]  # the document and the operation's name
    variables: Any
    catalog_generation: int


@dataclass(frozen=True)
class _Kept:
    rows: BarRows
    catalog_generation: int
    body: bytes


@dataclass
class Counts:
    sent: int = 0  # answers sent again
    stale: int = 0  # kept answers found out of date, and run again
    kept: int = 0  # answers kept


class KeptAnswers:
    """One per app; plans and answers are dropped least recently used first."""

    def __init__(self, runtime: Runtime, schema: GraphQLSchema) -> None:
        self.runtime = runtime
        self.schema = schema
        self._plans: OrderedDict[tuple[str, str | None], Plan | None] = OrderedDict()
        # (plan, instance id, user id): an answer holds its plan, not a copy of its document.
        self._answers: OrderedDict[tuple[Plan, str, int], _Kept] = OrderedDict()
        self.counts = Counts()

    async def answer(self, request: Request) -> Response | None:
        """The kept answer to this request, or None: then it runs as always (and `keep`
        is told how it went)."""
        found = await asked(request)
        if found is None:
            return None
        key = found.key
        catalog = self.runtime.catalog
        plan = self._plans.get(key)
        if plan is None and key in self._plans:  # known not to be kept
            return None
        request.state.kept_asked = _Asked(key, found.variables, catalog.generation)
        if plan is None:  # not seen lately: learnt from its full run
            return None
        instance_id = plan.instance_id(found.variables)
        if instance_id is None:
            return None
        credential, _ = await credential_of(self.runtime, request)
        if credential is None:
            return None
        entry = (plan, instance_id, credential.user.id)
        kept = self._answers.get(entry)
        if kept is None:
            return None
        rows = kept.rows
        visible = await catalog.runnable_ids(credential.user)
        now = await store.bar_versions(rows.instance_id)
        if (
            kept.catalog_generation != catalog.generation
            or (visible is not None and rows.process_id not in visible)
            or now != (rows.instance_version, rows.record_version, rows.process_id)
        ):
            self.counts.stale += 1
            return None
        self._answers.move_to_end(entry)
        self._plans.move_to_end(key)
        self.counts.sent += 1
        return Response(kept.body, media_type="application/json")

    def keep(self, request: Request, response: Response, context: Context | None) -> None:
        """After a request ran in full: learn whether its document may be kept, and keep its
        answer if it may and the answer is a plain success."""
        asked: _Asked | None = getattr(request.state, "kept_asked", None)
        if asked is None:
            return
        if asked.key not in self._plans:
            self._plans[asked.key] = plan_of(self.schema, *asked.key)
            while len(self._plans) > MAX_PLANS:
                self._plans.popitem(last=False)
        plan = self._plans.get(asked.key)
        instance_id = plan.instance_id(asked.variables) if plan is not None else None
        rows = context.memo.get(BAR_ROWS) if context is not None else None
        if (
            plan is None
            or instance_id is None
            or context is None
            or context.user is None
            or not isinstance(rows, BarRows)
            or str(rows.instance_id) != instance_id
            or getattr(request.state, "ran_with_errors", True)
            or response.status_code != 200
            or "set-cookie" in response.headers
            or asked.catalog_generation != self.runtime.catalog.generation
        ):
            return
        entry = (plan, instance_id, context.user.id)
        self._answers[entry] = _Kept(rows, asked.catalog_generation, bytes(response.body))
        self._answers.move_to_end(entry)
        while len(self._answers) > MAX_ANSWERS:
            self._answers.popitem(last=False)
        self.counts.kept += 1
