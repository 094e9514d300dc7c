"""Who may do what: users, their roles, and which processes they may run.

Every user has one base role (admin, designer or user) and any number of team roles
(`sales`, `support`, ...). A process lists the roles that may run it; an empty list lets
every signed-in user run it. Records and instances of a process a user may not run are
invisible to that user, not merely read-only. Admins see and do everything; designers
also design processes.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable
from dataclasses import dataclass

from server.domain.errors import InvalidValue
from server.domain.text import check_text

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,99}$")
ROLE = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")
MAX_ROLES = 20
MIN_PASSWORD = 10
MAX_PASSWORD = 200


class BaseRole(enum.Enum):
    ADMIN = "admin"
    DESIGNER = "designer"
    USER = "user"


BASE_ROLES = frozenset(role.value for role in BaseRole)


@dataclass(frozen=True)
class User:
    id: int
    name: str
    role: BaseRole
    teams: frozenset[str] = frozenset()
    active: bool = True

    @property
    def is_admin(self) -> bool:
        return self.role is BaseRole.ADMIN

    @property
    def designs(self) -> bool:
        return self.role in (BaseRole.ADMIN, BaseRole.DESIGNER)

    @property
    def roles(self) -> frozenset[str]:
        return self.teams | {self.role.value}

    def may_run(self, process_roles: Iterable[str]) -> bool:
        wanted = frozenset(process_roles)
        return self.is_admin or not wanted or bool(wanted & self.roles)


def is_name(name: str) -> bool:
    """Whether `name` (stripped) could be a user's name."""
    return NAME.fullmatch(name.strip()) is not None


def check_name(name: str) -> str:
    clean = name.strip()
    if not is_name(clean):
        raise InvalidValue(
            "name", "1 to 100 letters, digits or . _ @ -, starting with a letter or digit"
        )
    return clean


def check_password(password: str) -> str:
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise InvalidValue("password", f"{MIN_PASSWORD} to {MAX_PASSWORD} characters")
    return check_text("password", password)


def check_roles(roles: Iterable[str]) -> tuple[str, ...]:
    """Team roles as a process or a user lists them: unique, lower case, sorted."""
    found = sorted({role.strip() for role in roles})
    if len(found) > MAX_ROLES:
        raise InvalidValue("roles", f"at most {MAX_ROLES} roles")
    for role in found:
        if not ROLE.match(role):
            raise InvalidValue(
                "roles", f"{role!r}: a role is 1 to 40 of a-z, 0-9, _ and -, starting with a-z"
            )
    return tuple(found)


def check_teams(roles: Iterable[str]) -> tuple[str, ...]:
    """A user's team roles: as check_roles, and none may be a base role's name."""
    found = check_roles(roles)
    taken = sorted(set(found) & BASE_ROLES)
    if taken:
        raise InvalidValue(
            "roles", f"{', '.join(taken)}: a base role is set as the role, not as a team role"
        )
    return found


def user_from_roles(id: int, name: str, roles: Iterable[str], active: bool = True) -> User:
    """A user from the stored list: its base role (user if none) and its team roles."""
    stored = list(roles)
    base = next(
        (r for r in (BaseRole.ADMIN, BaseRole.DESIGNER) if r.value in stored), BaseRole.USER
    )
    teams = frozenset(role for role in stored if role not in BASE_ROLES)
    return User(id=id, name=name, role=base, teams=teams, active=active)


def stored_roles(user: User) -> list[str]:
    return [user.role.value, *sorted(user.teams)]
