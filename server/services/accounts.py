"""Accounts: users, sign-in with sessions, API tokens, and who may run which process.

Passwords are hashed with Argon2id. Session and token secrets are 256 random bits,
stored as SHA-256 hashes: a stolen table holds nothing that signs anyone in.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import hashlib
import ipaddress
import logging
import secrets
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, replace

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from server.db import accounts
from server.db.accounts import Credential
from server.domain.access import (
    BaseRole,
    User,
    check_name,
    check_password,
    check_roles,
    check_teams,
    is_name,
)
from server.domain.errors import Forbidden, InvalidValue, NotFound, RateLimited, Unauthenticated
from server.domain.events import Event, EventKind
from server.domain.text import check_text, unstorable
from server.services.runtime import Change, Runtime, commit, utcnow

SESSION = "session"
TOKEN = "token"
SESSION_DAYS = 14
TOKEN_PREFIX = "sf_"

_hasher = PasswordHasher()
log = logging.getLogger("stageflow.accounts")


@functools.cache
def _unknown() -> str:
    """Verified against when the name is unknown, so both answers take as long; made on
    the first sign-in, not when the module loads."""
    return _hasher.hash(secrets.token_urlsafe(16))


@dataclass(frozen=True)
class SignInLimits:
    """Sign-in attempts whose password is checked within `window`, counted per user name
    from one address, per user name from addresses it has not signed in from within
    `known_for`, and per address. A successful sign-in gives its attempt back."""

    per_user_address: int = 5
    per_user: int = 20
    per_address: int = 20
    window: dt.timedelta = dt.timedelta(minutes=15)
    known_for: dt.timedelta = dt.timedelta(days=30)


@dataclass(frozen=True)
class Issued:
    """A new credential and its secret, which is shown once and never stored."""

    credential: Credential
    secret: str


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(_hasher.hash, check_password(password))


async def _verify(password_hash: str, password: str) -> bool:
    if unstorable(password) is not None:  # no password set can hold it; hashing would fail
        return False
    try:
        return await asyncio.to_thread(_hasher.verify, password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def _event(kind: EventKind, by: str, **after: object) -> Event:
    return Event(kind, by, utcnow(), after=dict(after))


async def create_user(
    rt: Runtime,
    *,
    name: str,
    password: str,
    role: BaseRole = BaseRole.USER,
    teams: Iterable[str] = (),
    by: str,
) -> User:
    user = User(id=0, name=check_name(name), role=role, teams=frozenset(check_teams(teams)))
    password_hash = await hash_password(password)
    made: list[User] = []

    async def change() -> Change:
        made.append(await accounts.insert_user(user, password_hash, utcnow()))
        return Change(event=_event(EventKind.USER_CREATED, by, userId=made[-1].id, name=user.name))

    await commit(rt, change, kind=EventKind.USER_CREATED, by=by, idempotency_key=None)
    return made[-1]


async def update_user(
    rt: Runtime,
    *,
    user_id: int,
    role: BaseRole | None = None,
    teams: Iterable[str] | None = None,
    active: bool | None = None,
    password: str | None = None,
    by: str,
) -> User:
    """Change roles, activity or password. Open connections re-check access at once."""
    user = await accounts.user_by_id(user_id)
    changed = replace(
        user,
        role=role or user.role,
        teams=frozenset(check_teams(teams)) if teams is not None else user.teams,
        active=user.active if active is None else active,
    )
    demoted = user.is_admin and user.active and not (changed.is_admin and changed.active)
    if demoted and await accounts.active_admins() <= 1:
        raise InvalidValue("role", "the last active admin stays an active admin")
    password_hash = await hash_password(password) if password is not None else None

    async def change() -> Change:
        await accounts.update_user(changed, password_hash)
        after = {"userId": user.id, "roles": sorted(changed.roles), "active": changed.active}
        return Change(event=_event(EventKind.USER_UPDATED, by, **after))

    await commit(rt, change, kind=EventKind.USER_UPDATED, by=by, idempotency_key=None)
    return changed


async def _issue(
    rt: Runtime,
    user: User,
    *,
    kind: str,
    label: str,
    also: Callable[[], Awaitable[None]] | None = None,
) -> Issued:
    """A new credential; `also` runs in the same transaction."""
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = utcnow()
    expires = now + dt.timedelta(days=SESSION_DAYS) if kind == SESSION else None
    csrf = secrets.token_urlsafe(32) if kind == SESSION else None
    issued: list[Credential] = []

    async def change() -> Change:
        credential = await accounts.insert_credential(
            user,
            kind=kind,
            label=label,
            secret_hash=secret_hash(secret),
            csrf=csrf,
            now=now,
            expires_at=expires,
        )
        issued.append(credential)
        if also is not None:
            await also()
        event = _event(
            EventKind.CREDENTIAL_CREATED, user.name, credentialId=credential.id, credential=kind
        )
        return Change(event=event)

    await commit(rt, change, kind=EventKind.CREDENTIAL_CREATED, by=user.name, idempotency_key=None)
    return Issued(issued[-1], secret)


async def sign_in(
    rt: Runtime, *, name: str, password: str, address: str, limits: SignInLimits
) -> Issued:
    """A session for the right name and password, within the limits.

    Each attempt is counted before its password is checked, so however many arrive at
    once, no more passwords are checked than the limits allow. A name no user can have is
    never looked up, and is counted by address only.
    """
    now = utcnow()
    name = name.strip()
    place = limited_address(address)
    found = await accounts.user_by_name(name) if is_name(name) else None
    user, password_hash = found if found else (None, _unknown())
    counted = await _counted(name, user, place, limits=limits, now=now)
    full = await accounts.count_attempt(counted, now=now, window=limits.window)
    if full is not None:
        limit = full.key.partition(":")[0]
        log.warning("sign-in refused, %s limit: name %r from %s", limit, name[:100], place)
        ends = full.window_start + int(limits.window.total_seconds() * 1_000_000)
        raise RateLimited(max(1, -(-(ends - accounts.micros(now)) // 1_000_000)))
    right = await _verify(password_hash, password)
    if user is None or not right or not user.active:
        log.info("sign-in failed: name %r from %s", name[:100], place)
        await accounts.forget_attempts_before(now - limits.window)
        raise Unauthenticated("wrong name or password")

    async def signed_in() -> None:
        """The address is one the user signs in from; the attempt is given back, and the
        failures from this address for this name are forgiven."""
        await accounts.remember_address(user.id, place, now)
        await accounts.forget_addresses_before(user.id, now - limits.known_for)
        mine = [key for key, _ in counted if key.startswith(_USER_ADDRESS)]
        await accounts.give_back(forget=mine, one=[k for k, _ in counted if k not in mine])

    issued = await _issue(rt, user, kind=SESSION, label="web sign-in", also=signed_in)
    log.info("signed in: %s from %s", user.name, place)
    return issued


_USER_ADDRESS = "user-address:"


async def _counted(
    name: str, user: User | None, place: str, *, limits: SignInLimits, now: dt.datetime
) -> list[tuple[str, int]]:
    """The keys an attempt counts against, with their limits: the address; for a name a
    user could have, the name from this address, and the name itself unless the user
    signed in from this address lately."""
    counted = [(f"address:{place}", limits.per_address)]
    if is_name(name):
        who = name.lower()
        counted.append((f"{_USER_ADDRESS}{who}\x1f{place}", limits.per_user_address))
        usual = user is not None and await accounts.address_known(
            user.id, place, since=now - limits.known_for
        )
        if not usual:
            counted.append((f"user:{who}", limits.per_user))
    return counted


def limited_address(address: str) -> str:
    """An address as the limits count it: IPv6 by its /64 network (one host is often given
    a whole /64 to pick from), an IPv4 address mapped into IPv6 as IPv4."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address[:64]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


async def create_token(rt: Runtime, user: User, *, label: str) -> Issued:
    label = check_text("label", label.strip()[:100]) or "API token"
    return await _issue(rt, user, kind=TOKEN, label=label)


async def revoke(rt: Runtime, credential_id: int, *, by: User) -> Credential:
    """Revoke a session or token: the holder's own, or anyone's by an admin."""
    credential = await accounts.credential_by_id(credential_id)
    if credential is None or (credential.user.id != by.id and not by.is_admin):
        raise NotFound("Token", credential_id)
    now = utcnow()

    async def change() -> Change:
        await accounts.revoke(credential_id, now)
        after = {"credentialId": credential_id, "userId": credential.user.id}
        return Change(event=_event(EventKind.CREDENTIAL_REVOKED, by.name, **after))

    if credential.revoked_at is None:
        await commit(
            rt, change, kind=EventKind.CREDENTIAL_REVOKED, by=by.name, idempotency_key=None
        )
    return replace(credential, revoked_at=credential.revoked_at or now)


async def authenticate(rt: Runtime, secret: str) -> Credential | None:
    """The valid credential a secret stands for, else None."""
    if not secret.startswith(TOKEN_PREFIX) or len(secret) > 100 or unstorable(secret):
        return None
    return await rt.credentials.by_secret_hash(secret_hash(secret))


async def still_valid(rt: Runtime, credential_id: int) -> Credential | None:
    return await rt.credentials.by_id(credential_id)


def require_admin(user: User) -> None:
    if not user.is_admin:
        raise Forbidden("only an admin may manage users")


async def set_process_roles(
    rt: Runtime, *, process_id: int, roles: Iterable[str], by: str, user: User | None = None
) -> None:
    """Who may run a process; empty: every signed-in user.

    `user`, when given, must be an admin or one who may run the process now: a designer
    cannot open a process to themselves (and so read its records) by changing its roles.
    """
    process = await rt.catalog.process(process_id)
    if user is not None and not user.may_run(process.roles):
        raise Forbidden("only an admin, or a designer who may run the process, changes its roles")
    wanted = list(check_roles(roles))

    async def change() -> Change:
        await rt.catalog.set_roles(process_id, wanted)
        event = Event(
            EventKind.PROCESS_ROLES_CHANGED,
            by,
            utcnow(),
            process_id=process_id,
            before={"roles": list(process.roles)},
            after={"roles": wanted},
        )
        return Change(event=event)

    await commit(rt, change, kind=EventKind.PROCESS_ROLES_CHANGED, by=by, idempotency_key=None)


async def user_named(name: str) -> User:
    found = await accounts.user_by_name(name)
    if found is None:
        raise NotFound("User", name)
    return found[0]
