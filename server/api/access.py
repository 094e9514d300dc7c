"""Who may call what, checked once the document is valid and before any resolver runs.

Every root field needs a signed-in user unless listed as public; the fields of the
design and webhook types need a designer or an admin, those of the admin types an admin. A mutation authenticated by the session
cookie must carry the session's CSRF token in the X-CSRF-Token header. Which records,
instances and events a user sees is decided where they are read (see Context.visible).
"""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator, Iterable

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
)
from starlette.websockets import WebSocket
from strawberry.extensions import SchemaExtension
from strawberry.types.base import get_object_definition
from strawberry.utils.str_converters import to_camel_case

from server.api.accounts import AdminMutation, AdminQuery
from server.api.context import CSRF_HEADER, Context
from server.api.design import DesignMutation, DesignQuery
from server.api.webhooks import WebhookMutation, WebhookQuery
from server.domain.errors import Unauthenticated

UNAUTHENTICATED = "UNAUTHENTICATED"
FORBIDDEN = "FORBIDDEN"
CSRF = "CSRF_TOKEN_INVALID"

# Introspection answers only in debug (a validation rule refuses it otherwise).
# Introspection answers only in debug (a validation rule refuses it otherwise).
PUBLIC = frozenset({"signIn", "me", "__typename", "__schema", "__type"})


def _fields(*types: type) -> frozenset[str]:
    """The GraphQL names of the fields the types declare."""
    return frozenset(
        field.graphql_name or to_camel_case(field.python_name)
        for kind in types
        for field in get_object_definition(kind, strict=True).fields
    )


# The fields of the types that group them: a field added there is guarded at once.
ADMIN_ONLY = _fields(AdminQuery, AdminMutation)
DESIGNER_ONLY = _fields(DesignQuery, DesignMutation, WebhookQuery, WebhookMutation)


def refusal(code: str, message: str) -> GraphQLError:
    return GraphQLError(message, extensions={"code": code})


def _operations(document: DocumentNode, name: str | None) -> list[OperationDefinitionNode]:
    """The operation that will run; when that is unclear, every one of them."""
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    chosen = [o for o in operations if name is not None and o.name and o.name.value == name]
    return chosen or operations


def root_fields(document: DocumentNode, operation: OperationDefinitionNode) -> set[str]:
    """The names of the root fields an operation selects, through fragments too."""
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    names: set[str] = set()
    seen: set[str] = set()

    def walk(selection_set: SelectionSetNode) -> None:
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                names.add(selection.name.value)
            elif isinstance(selection, InlineFragmentNode):
                walk(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                if name not in seen and name in fragments:
                    seen.add(name)
                    walk(fragments[name].selection_set)

    walk(operation.selection_set)
    return names


async def check(
    context: Context, kind: OperationType, fields: Iterable[str]
) -> GraphQLError | None:
    """Why the operation is refused, or None."""
    names = set(fields)
    if names <= PUBLIC:
        return None
    if isinstance(context.request, WebSocket) and context.credential is not None:
        # A socket outlives its sign-in: each new operation checks the credential again.
        try:
            await context.recheck()
        except Unauthenticated as error:
            return refusal(UNAUTHENTICATED, error.message)
    user = context.user
    if user is None:
        return refusal(UNAUTHENTICATED, "sign in first: a session cookie or a bearer token")
    if names & ADMIN_ONLY and not user.is_admin:
        return refusal(FORBIDDEN, f"only an admin may use {', '.join(sorted(names & ADMIN_ONLY))}")
    if names & DESIGNER_ONLY and not user.designs:
        chosen = ", ".join(sorted(names & DESIGNER_ONLY))
        return refusal(FORBIDDEN, f"only a designer or an admin may use {chosen}")
    if kind is OperationType.MUTATION and context.via_cookie:
        sent = context.request.headers.get(CSRF_HEADER) or ""
        expected = (context.credential.csrf if context.credential else None) or ""
        if not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
            return refusal(CSRF, f"a signed-in page sends its CSRF token in {CSRF_HEADER}")
    return None


class AccessPolicy(SchemaExtension):
    """Refuses, before execution, what the caller may not call at all."""

    async def on_validate(self) -> AsyncIterator[None]:
        # Listed after QueryLimits, which has validated the document by now (or refused it).
        context = self.execution_context
        document = context.graphql_document
        if not context.pre_execution_errors and document is not None:
            operations = _operations(document, context.operation_name)
            fields = set().union(*(root_fields(document, o) for o in operations))
            kinds = [o.operation for o in operations]
            # Unclear which runs: judged as the most demanding (a mutation wants CSRF).
            kind = OperationType.MUTATION if OperationType.MUTATION in kinds else kinds[0]
            error = await check(context.context, kind, fields) if operations else None
            if error is not None:
                context.pre_execution_errors = [error]
        yield
