"""Users, their credentials (sessions and API tokens) and failed sign-ins, in the tables."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from tortoise.exceptions import IntegrityError

from server.db.models import CredentialRow, SignInFailureRow, UserRow
from server.domain.access import User, stored_roles, user_from_roles
from server.domain.errors import InvalidValue, NotFound


@dataclass(frozen=True)
class Credential:
    id: int
    user: User
    kind: str
    label: str
    csrf: str | None
    created_at: dt.datetime
    expires_at: dt.datetime | None
    revoked_at: dt.datetime | None

    def valid_at(self, now: dt.datetime) -> bool:
        if self.revoked_at is not None or not self.user.active:
            return False
        return self.expires_at is None or now < self.expires_at


def _user(row: UserRow) -> User:
    return user_from_roles(row.id, row.name, row.roles, row.active)


def _credential(row: CredentialRow, user: User) -> Credential:
    return Credential(
        id=row.id,
        user=user,
        kind=row.kind,
        label=row.label,
        csrf=row.csrf,
        created_at=row.created_at,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
    )


async def count_users() -> int:
    return await UserRow.all().count()


async def insert_user(user: User, password_hash: str, now: dt.datetime) -> User:
    try:
        row = await UserRow.create(
            name=user.name,
            password_hash=password_hash,
            roles=stored_roles(user),
            active=user.active,
            created_at=now,
        )
    except IntegrityError:
        raise InvalidValue("name", f"a user named {user.name!r} exists") from None
    return _user(row)


async def update_user(user: User, password_hash: str | None = None) -> User:
    values: dict[str, object] = {"roles": stored_roles(user), "active": user.active}
    if password_hash is not None:
        values["password_hash"] = password_hash
    if not await UserRow.filter(id=user.id).update(**values):
        raise NotFound("User", user.id)
    return user


async def user_by_name(name: str) -> tuple[User, str] | None:
    """The user and their password hash."""
    row = await UserRow.get_or_none(name=name)
    return (_user(row), row.password_hash) if row else None


async def user_by_id(id: int) -> User:
    row = await UserRow.get_or_none(id=id)
    if row is None:
        raise NotFound("User", id)
    return _user(row)


async def list_users() -> list[User]:
    return [_user(row) for row in await UserRow.all().order_by("name")]


async def insert_credential(
    user: User,
    *,
    kind: str,
    label: str,
    secret_hash: str,
    csrf: str | None,
    now: dt.datetime,
    expires_at: dt.datetime | None,
) -> Credential:
    row = await CredentialRow.create(
        user_id=user.id,
        kind=kind,
        label=label,
        secret_hash=secret_hash,
        csrf=csrf,
        created_at=now,
        expires_at=expires_at,
    )
    return _credential(row, user)


async def credential_by_secret(secret_hash: str) -> Credential | None:
    row = await CredentialRow.get_or_none(secret_hash=secret_hash).select_related("user")
    return _credential(row, _user(row.user)) if row else None


async def credential_by_id(id: int) -> Credential | None:
    row = await CredentialRow.get_or_none(id=id).select_related("user")
    return _credential(row, _user(row.user)) if row else None


async def tokens_of(user_id: int) -> list[Credential]:
    rows = await CredentialRow.filter(user_id=user_id, kind="token", revoked_at=None).order_by("id")
    user = await user_by_id(user_id)
    return [_credential(row, user) for row in rows]


async def revoke(credential_id: int, now: dt.datetime) -> bool:
    """Revoke once; False when already revoked."""
    return bool(
        await CredentialRow.filter(id=credential_id, revoked_at=None).update(revoked_at=now)
    )


async def revoke_all_of(user_id: int, now: dt.datetime) -> list[int]:
    ids = await CredentialRow.filter(user_id=user_id, revoked_at=None).values_list("id", flat=True)
    await CredentialRow.filter(id__in=list(ids)).update(revoked_at=now)
    return list(ids)  # type: ignore[arg-type]


async def add_failure(keys: list[str], now: dt.datetime) -> None:
    await SignInFailureRow.bulk_create([SignInFailureRow(key=key, at=now) for key in keys])


async def failures_since(key: str, since: dt.datetime) -> int:
    return await SignInFailureRow.filter(key=key, at__gte=since).count()


async def forget_failures_before(before: dt.datetime) -> None:
    await SignInFailureRow.filter(at__lt=before).delete()
