"""Sign-in limits: attempts are counted before their password is checked, so a burst of
parallel attempts checks no more passwords than the limits allow; the limit per user name
and address bites first, and others' failures do not lock a user out where they sign in."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher

from server.services import accounts

PASSWORD = "a-long-secret-37"
SIGN_IN = """mutation($name: String!, $password: String!) {
  signIn(input: {name: $name, password: $password}) {
    __typename ... on RateLimited { retryAfterSeconds } } }"""
WINDOW = 900  # seconds, the default
START = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)


class Clock:
    """The time the sign-in service reads, moved on by the test."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    frozen = Clock()
    monkeypatch.setattr(accounts, "utcnow", frozen)
    return frozen


@pytest.fixture
def verified(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every password hash an Argon2 verification ran against, in order."""
    seen: list[str] = []
    original = PasswordHasher.verify

    def counting(self: PasswordHasher, hash: str, password: str) -> Any:
        seen.append(hash)
        return original(self, hash, password)

    monkeypatch.setattr(PasswordHasher, "verify", counting)
    return seen


@pytest.fixture
async def ana(gql: Any) -> str:
    await accounts.create_user(gql.app.state.runtime, name="ana", password=PASSWORD, by="tests")
    return "ana"


@asynccontextmanager
async def _from(app: Any, address: str) -> AsyncIterator[Callable[..., Any]]:
    """A function that signs in from `address` and returns the answer's type (and, when
    rate limited, the seconds to wait)."""
    transport = httpx.ASGITransport(app=app, client=(address, 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://stageflow.test") as http:

        async def sign_in(name: str, password: str) -> str:
            body = {"query": SIGN_IN, "variables": {"name": name, "password": password}}
            answer = (await http.post("/graphql", json=body)).json()["data"]["signIn"]
            http.cookies.clear()
            if answer["__typename"] == "RateLimited":
                return f"RateLimited {answer['retryAfterSeconds']}"
            return str(answer["__typename"])

        yield sign_in


async def test_a_burst_for_one_name_checks_no_more_passwords_than_the_limit(
    gql: Any, ana: str, clock: Clock, verified: list[str]
) -> None:
    async with _from(gql.app, "10.0.0.1") as sign_in:
        answers = await asyncio.gather(*(sign_in("ana", f"guess-{n}") for n in range(150)))
        assert len(verified) <= 5, len(verified)
        assert answers.count("Unauthenticated") == len(verified)
        assert answers.count(f"RateLimited {WINDOW}") == 150 - len(verified)

        # The right password too is refused, unchecked, until the window has passed.
        checked = len(verified)
        clock.advance(WINDOW - 1)
        assert await sign_in("ana", PASSWORD) == "RateLimited 1"
        assert len(verified) == checked
        clock.advance(1)
        assert await sign_in("ana", PASSWORD) == "SignedIn"


async def test_a_burst_over_many_names_checks_no_more_passwords_than_the_address_limit(
    gql: Any, ana: str, clock: Clock, verified: list[str]
) -> None:
    async with _from(gql.app, "10.0.0.1") as sign_in:
        names = [f"user{n}" for n in range(150)]
        answers = await asyncio.gather(*(sign_in(name, PASSWORD) for name in names))
        assert len(verified) <= 20, len(verified)
        assert answers.count("Unauthenticated") == len(verified)
        assert await sign_in("ana", PASSWORD) == f"RateLimited {WINDOW}"


async def test_the_limit_per_name_and_address_bites_first(gql: Any, ana: str, clock: Clock) -> None:
    async with _from(gql.app, "10.0.0.1") as guesser, _from(gql.app, "10.0.0.2") as owner:
        for n in range(5):
            assert await guesser("ana", f"guess-{n}") == "Unauthenticated"
        assert await guesser("ana", PASSWORD) == f"RateLimited {WINDOW}"
        # The same name from another address, and other names from the same address, go on.
        assert await owner("ana", PASSWORD) == "SignedIn"
        assert await guesser("ben", "guess") == "Unauthenticated"


async def test_others_failures_do_not_lock_a_user_out_where_they_sign_in(
    gql: Any, ana: str, clock: Clock
) -> None:
    async with _from(gql.app, "192.0.2.7") as home:
        assert await home("ana", PASSWORD) == "SignedIn"
        # From four other addresses, 5 wrong passwords each: the name's own limit (20) is
        # reached; from a fifth address, it is refused before any password is checked.
        for n in range(1, 5):
            async with _from(gql.app, f"10.0.0.{n}") as guesser:
                for _ in range(5):
                    assert await guesser("ana", "guess") == "Unauthenticated"
        async with _from(gql.app, "10.0.0.5") as guesser:
            assert await guesser("ana", PASSWORD) == f"RateLimited {WINDOW}"
        # Where ana signed in before, she still may; wrong passwords there count on their own.
        assert await home("ana", PASSWORD) == "SignedIn"
        for _ in range(5):
            assert await home("ana", "typo") == "Unauthenticated"
        assert await home("ana", PASSWORD) == f"RateLimited {WINDOW}"


async def test_a_sign_in_forgives_the_typos_before_it(gql: Any, ana: str, clock: Clock) -> None:
    async with _from(gql.app, "10.0.0.1") as sign_in:
        for _ in range(4):
            assert await sign_in("ana", "typo") == "Unauthenticated"
        assert await sign_in("ana", PASSWORD) == "SignedIn"
        for _ in range(5):
            assert await sign_in("ana", "typo") == "Unauthenticated"
        assert await sign_in("ana", PASSWORD) == f"RateLimited {WINDOW}"


async def test_an_ipv6_network_counts_as_one_address(gql: Any, ana: str, clock: Clock) -> None:
    """One host is often given a whole /64: its addresses share the address limit."""
    hosts = (f"2001:db8:0:1:{n:x}::1" for n in itertools.count(1))
    for n in range(20):
        async with _from(gql.app, next(hosts)) as sign_in:
            assert await sign_in(f"user{n}", PASSWORD) == "Unauthenticated"
    async with _from(gql.app, next(hosts)) as sign_in:
        assert await sign_in("ana", PASSWORD) == f"RateLimited {WINDOW}"
    async with _from(gql.app, "2001:db8:0:2::1") as sign_in:
        assert await sign_in("ana", PASSWORD) == "SignedIn"


async def test_an_address_is_usual_for_thirty_days_after_a_sign_in(
    gql: Any, ana: str, clock: Clock
) -> None:
    async with _from(gql.app, "192.0.2.7") as home:
        assert await home("ana", PASSWORD) == "SignedIn"
        clock.advance(30 * 86_400 + 1)
        for n in range(1, 5):
            async with _from(gql.app, f"10.0.0.{n}") as guesser:
                for _ in range(5):
                    assert await guesser("ana", "guess") == "Unauthenticated"
        assert await home("ana", PASSWORD) == f"RateLimited {WINDOW}"
