"""The GraphQL schema and the ASGI app that serves it."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

import strawberry
from cross_web import AsyncHTTPRequestAdapter, HTTPException
from graphql import GraphQLError
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.extensions import MaskErrors, MaxTokensLimiter, ParserCache, ValidationCache
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData
from strawberry.http.parse_content_type import parse_content_type
from strawberry.schema.config import StrawberryConfig
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.schema.schema import DEFAULT_ALLOWED_OPERATION_TYPES
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types import ExecutionContext, ExecutionResult
from strawberry.types.graphql import OperationType

from server.api import client_json, handshake, lengths, logs, urls
from server.api.access import AccessPolicy
from server.api.context import Context, bearer, build_context
from server.api.direct import DirectChanges
from server.api.errors import HANDLERS
from server.api.fanout import Fanout
from server.api.kept import KeptAnswers
from server.api.limits import CostlyGate, Limits, QueryLimits, validation_rules, word_for_clients
from server.api.mutation import Mutation
from server.api.query import Query
from server.api.sockets import Sockets
from server.api.subscription import Subscription
from server.api.transport import TransportHandler
from server.domain.errors import DomainError
from server.services import accounts
from server.services.accounts import SignInLimits
from server.services.runtime import DatabaseUnavailable, Runtime, is_transient
from server.settings import Settings

log = logging.getLogger("stageflow.api")

# Service Unavailable: the database did not answer; the request may be sent again.
UNAVAILABLE_STATUS = 503


def _innermost(error: GraphQLError) -> Exception | None:
    """What a GraphQLError wraps (graphql-core wraps what a resolver raises, and may wrap
    that again)."""
    original = error.original_error
    while isinstance(original, GraphQLError) and original.original_error is not None:
        original = original.original_error
    return original


def _unavailable(error: GraphQLError) -> DatabaseUnavailable | None:
    """The database's absence behind an error, as callers are told of it."""
    original = _innermost(error)
    if isinstance(original, DatabaseUnavailable):
        return original
    if original is not None and not isinstance(original, GraphQLError) and is_transient(original):
        return DatabaseUnavailable()
    return None


def _should_mask(error: GraphQLError) -> bool:
    """Hide unexpected failures; keep malformed requests, refusals, expected errors and the
    database's absence readable."""
    original = _innermost(error)
    if original is None or isinstance(original, DomainError | GraphQLError):
        return False
    return _unavailable(error) is None


class _Schema(strawberry.Schema):
    """Logs each error in full, then words it for clients."""

    def __init__(self, *, limits: Limits, debug: bool, **options: Any) -> None:
        super().__init__(**options)
        self.limits = limits
        self.debug = debug
        self.costly: CostlyGate | None = None

    async def execute(
        self,
        query: str | None,
        variable_values: dict[str, Any] | None = None,
        context_value: Any | None = None,
        root_value: Any | None = None,
        operation_name: str | None = None,
        allowed_operation_types: Iterable[OperationType] | None = None,
        operation_extensions: dict[str, Any] | None = None,
    ) -> ExecutionResult:
        """Over HTTP (the only caller): a subscription has no answer there."""
        allowed = set(allowed_operation_types or DEFAULT_ALLOWED_OPERATION_TYPES)
        return await super().execute(
            query,
            variable_values,
            context_value,
            root_value,
            operation_name,
            allowed - {OperationType.SUBSCRIPTION},
            operation_extensions,
        )

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        # The database's absence is logged in a line, not with a traceback per request.
        away = [e for e in errors if _unavailable(e) is not None]
        super().process_errors([e for e in errors if e not in away], execution_context)
        for error in away:
            log.warning("database unavailable: %s", _innermost(error))
        for error in errors:
            word_for_clients(error, self.limits, suggestions=self.debug)
            _code_refusal(error)
            if (absent := _unavailable(error)) is not None:
                error.message = absent.message
                error.extensions = {**(error.extensions or {}), "code": absent.code}
                context = execution_context.context if execution_context else None
                if isinstance(context, Context) and isinstance(context.response, Response):
                    context.response.status_code = UNAVAILABLE_STATUS


def _code_refusal(error: GraphQLError) -> None:
    """A domain refusal raised where its field's union has no member for it (or no union at
    all) carries its kind as a code: NOT_FOUND, INVALID_VALUE, UNAUTHENTICATED, FORBIDDEN..."""
    original = _innermost(error)
    if isinstance(original, DomainError):
        code = _CAMEL.sub("_", type(original).__name__).upper()
        error.extensions = {**(error.extensions or {}), "code": code}


_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])")


def build_schema(settings: Settings) -> _Schema:
    """The schema with the limits of `settings`; introspection and suggestions only in debug."""
    limits = Limits.from_settings(settings)
    rules = validation_rules(limits, introspection=settings.debug)
    gate = CostlyGate()
    lengths.limit_texts([Query, Mutation, Subscription])
    built = _Schema(
        limits=limits,
        debug=settings.debug,
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        config=StrawberryConfig(disable_field_suggestions=not settings.debug),
        extensions=[
            lambda: MaxTokensLimiter(max_token_count=limits.max_tokens),
            lambda: ParserCache(maxsize=512),
            lambda: ValidationCache(maxsize=512),
            lambda: QueryLimits(limits, rules, gate),  # after ValidationCache: see QueryLimits
            AccessPolicy,  # after the limits: a document past them is refused unread
            lambda: MaskErrors(should_mask_error=_should_mask),
        ],
        exception_handlers=HANDLERS,
    )
    built.costly = gate
    return built


# For printing the schema (`stageflow export-schema`); the app builds its own from its settings.
schema = build_schema(Settings())


def unavailable_response(absent: DatabaseUnavailable) -> JSONResponse:
    """The answer when the database could not be reached before execution began."""
    error = {"message": absent.message, "extensions": {"code": absent.code}}
    return JSONResponse(
        {"data": None, "errors": [error]},
        status_code=UNAVAILABLE_STATUS,
        headers={"retry-after": "1"},
    )


class StageflowGraphQL(GraphQL[Context, None]):
    graphql_transport_ws_handler_class = TransportHandler

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A websocket handshake is refused unless its page is of this origin or an allowed
        one, and a URL with parameters it may not carry is refused. An HTTP request whose
        context could not be read (the credential lookup met a database that is away) is
        answered as GraphQL, with 503, not as a crash; one refused before it is a GraphQL
        request gets a GraphQL error body too:
        `{"errors": [{"message": ..., "extensions": {"code": ...}}]}`."""
        if scope["type"] == "websocket" and await handshake.refuse(
            scope, receive, send, allowed=self.allowed_origins
        ):
            return
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        try:
            if (reason := urls.refused_parameters(scope)) is not None:
                raise _Refused(urls.URL_PARAMETER_NOT_ALLOWED, reason)
            request = Request(scope=scope, receive=receive)
            response = await self.kept.answer(request) if self.kept is not None else None
            if response is None and self.direct is not None:
                response = await self.direct.answer(request)
            if response is None:
                response = await self.run(request)
                if self.kept is not None:
                    self.kept.keep(request, response, getattr(request.state, "context", None))
                if self.direct is not None:
                    self.direct.learn(request, response)
        except ClientDisconnect:
            return  # the client went away before its request was read: no one to answer
        except HTTPException as refused:
            code = _code_of(refused)  # may reword the reason
            body = {"message": refused.reason, "extensions": {"code": code}}
            response = JSONResponse({"errors": [body]}, status_code=refused.status_code)
        except Exception as error:
            if isinstance(error, DatabaseUnavailable):
                absent = error
            elif is_transient(error):
                absent = DatabaseUnavailable()
            else:
                raise
            log.warning("database unavailable for a request: %s", error)
            response = unavailable_response(absent)
        await response(scope, receive, send)

    def __init__(self, runtime: Runtime, settings: Settings) -> None:
        schema = build_schema(settings)
        super().__init__(
            schema,
            graphql_ide="graphiql" if settings.debug else None,
            # Only the current protocol: the legacy graphql-ws one is refused.
            subscription_protocols=[GRAPHQL_TRANSPORT_WS_PROTOCOL],
            connection_init_wait_timeout=timedelta(seconds=settings.ws_init_timeout),
            max_subscriptions_per_connection=settings.ws_max_subscriptions,
            allowed_origins=settings.allowed_origins,
        )
        self.runtime = runtime
        self.sign_in_limits = SignInLimits(
            per_user_address=settings.sign_in_per_user_address,
            per_user=settings.sign_in_per_user,
            per_address=settings.sign_in_per_address,
            window=timedelta(seconds=settings.sign_in_window_seconds),
        )
        self.secure_cookies = settings.secure_cookies
        self.webhooks_reach_private = settings.webhook_allow_private
        self.sockets = Sockets(runtime)
        self.ping_interval = settings.ws_ping_interval
        self.fanout = Fanout(schema, limits=schema.limits)
        self.kept = KeptAnswers(runtime, schema._schema) if settings.kept_answers else None
        self.direct = DirectChanges(runtime, schema._schema) if settings.direct_changes else None
        logs.cut_client_input()

    def decode_json(self, data: str | bytes) -> object:
        """Every JSON the view reads: bodies, query-string parts, websocket messages."""
        return client_json.read_json(data)

    def parse_json(self, data: str | bytes) -> Any:
        try:
            return client_json.read_json(data)
        except client_json.Unreadable as unreadable:
            raise _Refused(unreadable.code, unreadable.reason) from None

    async def parse_http_body(
        self, request: AsyncHTTPRequestAdapter
    ) -> GraphQLRequestData | list[GraphQLRequestData]:
        """A JSON body is one object whose members have their types; GET goes on as it was."""
        content_type, _ = parse_content_type(request.content_type or "")
        if request.method != "POST" or "application/json" not in content_type:
            return await super().parse_http_body(request)
        body = self.parse_json(await request.get_body())
        if not isinstance(body, dict):
            raise _Refused(client_json.BAD_REQUEST, _NOT_AN_OBJECT)
        for member, kinds in _MEMBERS.items():
            if not isinstance(body.get(member), kinds):
                raise _Refused(client_json.BAD_REQUEST, f"`{member}` {_MEMBER_TYPES[member]}")
        return GraphQLRequestData(
            query=body.get("query"),
            variables=body.get("variables"),
            operation_name=body.get("operationName"),
            extensions=body.get("extensions"),
            protocol="http",  # no streaming transport is enabled
        )

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> Context:
        context = await build_context(
            self.runtime,
            request,
            response,
            sign_in_limits=self.sign_in_limits,
            secure_cookie=self.secure_cookies,
            webhooks_reach_private=self.webhooks_reach_private,
        )
        if isinstance(request, Request):
            request.state.context = context  # for the kept answers (server/api/kept.py)
        return context

    async def process_result(
        self, request: Request, result: ExecutionResult
    ) -> GraphQLHTTPResponse:
        request.state.ran_with_errors = bool(result.errors)
        return await super().process_result(request, result)

    async def on_ws_connect(self, context: Context) -> dict[str, object] | None:
        """A socket signs in with `token` in connection_init, else with the session
        cookie (the handshake's origin was checked); without either it is closed."""
        params = context.connection_params or {}
        token = params.get("token") or bearer(
            {"authorization": str(params.get("Authorization") or params.get("authorization") or "")}
        )
        if token:
            credential = await accounts.authenticate(context.runtime, str(token))
            if credential is None or credential.kind != accounts.TOKEN:
                raise ConnectionRejectionError({"message": "the token is not valid"})
            context.credential, context.via_cookie = credential, False
        elif context.credential is None:
            raise ConnectionRejectionError({"message": "sign in first"})
        return None


class _Refused(HTTPException):
    def __init__(self, code: str, reason: str) -> None:
        super().__init__(400, reason)
        self.code = code


_NOT_AN_OBJECT = 'the body is one JSON object: {"query": "...", "variables": {...}}'
_MEMBERS: dict[str, tuple[type, ...]] = {
    "query": (str, type(None)),
    "variables": (dict, type(None)),
    "operationName": (str, type(None)),
    "extensions": (dict, type(None)),
}
_MEMBER_TYPES = {
    "query": "is the document, as text",
    "variables": "is an object",
    "operationName": "is the name of an operation of the document",
    "extensions": "is an object",
}
_SUBSCRIPTION_OVER_HTTP = (
    "a subscription runs over the websocket (graphql-transport-ws); "
    "over HTTP only queries and mutations run"
)


def _code_of(refused: HTTPException) -> str:
    """The code of a refusal of the view (Strawberry's own, or ours)."""
    if isinstance(refused, _Refused):
        return refused.code
    cause = refused.__cause__
    if isinstance(cause, InvalidOperationTypeError):
        if cause.operation_type is OperationType.SUBSCRIPTION:
            refused.reason = _SUBSCRIPTION_OVER_HTTP
        return client_json.OPERATION_NOT_ALLOWED
    if isinstance(cause, CannotGetOperationTypeError):
        return client_json.UNKNOWN_OPERATION
    return {404: client_json.NOT_FOUND, 405: client_json.METHOD_NOT_ALLOWED}.get(
        refused.status_code, client_json.BAD_REQUEST
    )
