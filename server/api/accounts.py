"""Accounts through the API: sign-in and out, API tokens, users, and process roles."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import strawberry
from strawberry.types import Info

from server.api.context import ctx
from server.api.errors import Error, InvalidValue, NotFound
from server.api.ids import parse_id
from server.db import accounts as stored
from server.db.accounts import Credential
from server.domain import access
from server.domain.errors import RateLimited as RateLimitedError
from server.domain.errors import Unauthenticated as UnauthenticatedError
from server.services import accounts, queries

Role = strawberry.enum(access.BaseRole, name="Role")


@strawberry.type
class User:
    id: strawberry.ID
    name: str
    role: Role  # type: ignore[valid-type]
    roles: list[str] = strawberry.field(description="Team roles; processes name who may run them.")
    active: bool
    csrf_token: str | None = strawberry.field(
        default=None,
        description="For `me` signed in with the session cookie: send it as the "
        "X-CSRF-Token header with every mutation.",
    )

    @classmethod
    def from_domain(cls, user: access.User, csrf: str | None = None) -> User:
        return cls(
            id=strawberry.ID(str(user.id)),
            name=user.name,
            role=user.role,
            roles=sorted(user.teams),
            active=user.active,
            csrf_token=csrf,
        )


@strawberry.type(description="An API token; its secret is shown once, when created.")
class ApiToken:
    id: strawberry.ID
    label: str
    created_at: dt.datetime
    revoked_at: dt.datetime | None

    @classmethod
    def from_domain(cls, credential: Credential) -> ApiToken:
        return cls(
            id=strawberry.ID(str(credential.id)),
            label=credential.label,
            created_at=credential.created_at,
            revoked_at=credential.revoked_at,
        )


@strawberry.type(description="No valid session or token, or a wrong name or password.")
class Unauthenticated(Error):
    pass


@strawberry.type(description="Too many failed sign-ins; nothing was checked.")
class RateLimited(Error):
    retry_after_seconds: int


@strawberry.type
class SignedIn:
    user: User


@strawberry.type
class SignedOut:
    user: User


@strawberry.type
class ApiTokenCreated:
    token: ApiToken
    secret: str = strawberry.field(
        description="Send as `Authorization: Bearer <secret>`; it is not shown again."
    )


@strawberry.type
class ApiTokenRevoked:
    token: ApiToken


@strawberry.type
class UserSaved:
    user: User


SignInResult = Annotated[SignedIn | Unauthenticated | RateLimited, strawberry.union("SignInResult")]
RevokeApiTokenResult = Annotated[
    ApiTokenRevoked | NotFound, strawberry.union("RevokeApiTokenResult")
]
SaveUserResult = Annotated[UserSaved | InvalidValue | NotFound, strawberry.union("SaveUserResult")]


@strawberry.input
class SignInInput:
    name: str
    password: str


@strawberry.input
class CreateUserInput:
    name: str
    password: str
    role: Role = access.BaseRole.USER  # type: ignore[valid-type]
    roles: list[str] = strawberry.field(default_factory=list, description="Team roles.")


@strawberry.input
class UpdateUserInput:
    user_id: strawberry.ID
    role: Role | None = None  # type: ignore[valid-type]
    roles: list[str] | None = strawberry.field(default=None, description="Team roles.")
    active: bool | None = strawberry.field(
        default=None, description="An inactive user's sessions and tokens stop working at once."
    )
    password: str | None = None


@strawberry.type
class AccountQuery:
    """What every signed-in user may do with their own account."""

    @strawberry.field(
        description="Your API tokens that are not revoked, oldest first: `first` of them, "
        "after the token `after`."
    )
    async def api_tokens(
        self, info: Info, first: int = queries.MAX_PAGE, after: strawberry.ID | None = None
    ) -> list[ApiToken]:
        user = ctx(info).require_user()
        since = 0 if after is None else parse_id("Token", after)
        found = await stored.tokens_of(user.id, first=queries.check_page(first), after=since)
        return [ApiToken.from_domain(c) for c in found]


@strawberry.type
class AccountMutation:
    @strawberry.mutation(description="Sign in; sets the HttpOnly session cookie.")
    async def sign_in(self, info: Info, input: SignInInput) -> SignInResult:
        context = ctx(info)
        try:
            issued = await accounts.sign_in(
                context.runtime,
                name=input.name,
                password=input.password,
                address=context.address,
                limits=context.sign_in_limits,
            )
        except UnauthenticatedError as refused:
            return Unauthenticated(message=refused.message)
        except RateLimitedError as refused:
            return RateLimited(message=refused.message, retry_after_seconds=refused.retry_after)
        context.set_session_cookie(issued.secret, max_age=accounts.SESSION_DAYS * 86_400)
        return SignedIn(user=User.from_domain(issued.credential.user, issued.credential.csrf))

    @strawberry.mutation(description="End this session: the cookie stops working everywhere.")
    async def sign_out(self, info: Info) -> SignedOut:
        context = ctx(info)
        credential = context.require_credential()
        if credential.kind == accounts.SESSION:
            await accounts.revoke(context.runtime, credential.id, by=credential.user)
        context.clear_session_cookie()
        return SignedOut(user=User.from_domain(credential.user))

    @strawberry.mutation(description="A token for API clients, sent as a bearer token.")
    async def create_api_token(self, info: Info, label: str = "API token") -> ApiTokenCreated:
        context = ctx(info)
        issued = await accounts.create_token(context.runtime, context.require_user(), label=label)
        return ApiTokenCreated(token=ApiToken.from_domain(issued.credential), secret=issued.secret)

    @strawberry.mutation(description="Revoke a token: it stops working at once, sockets too.")
    async def revoke_api_token(self, info: Info, id: strawberry.ID) -> RevokeApiTokenResult:
        context = ctx(info)
        credential = await accounts.revoke(
            context.runtime, parse_id("Token", id), by=context.require_user()
        )
        return ApiTokenRevoked(token=ApiToken.from_domain(credential))


@strawberry.type
class AdminQuery:
    """Managing users: admins only (the access policy reads these fields)."""

    @strawberry.field(
        description="Users by name (admins only): `first` of them, after the name `after`."
    )
    async def users(self, first: int = queries.MAX_PAGE, after: str | None = None) -> list[User]:
        found = await stored.list_users(first=queries.check_page(first), after=after)
        return [User.from_domain(user) for user in found]


@strawberry.type
class AdminMutation:
    """Managing users: admins only (the access policy reads these fields)."""

    @strawberry.mutation(description="Add a user (admins only).")
    async def create_user(self, info: Info, input: CreateUserInput) -> SaveUserResult:
        user = await accounts.create_user(
            ctx(info).runtime,
            name=input.name,
            password=input.password,
            role=input.role,
            teams=input.roles,
            by=ctx(info).actor,
        )
        return UserSaved(user=User.from_domain(user))

    @strawberry.mutation(description="Change a user's roles, activity or password (admins only).")
    async def update_user(self, info: Info, input: UpdateUserInput) -> SaveUserResult:
        user = await accounts.update_user(
            ctx(info).runtime,
            user_id=parse_id("User", input.user_id),
            role=input.role,
            teams=input.roles,
            active=input.active,
            password=input.password,
            by=ctx(info).actor,
        )
        return UserSaved(user=User.from_domain(user))
