"""When the database stops answering: a GraphQL answer, and never a misreported write.

A failure before the commit runs the change again; a failure while committing is resolved
(the change looked for once the old connection is gone) before answering; what cannot be
known is said, with a code, and nothing is told twice.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import asyncpg
import pytest
from documents import COMPLETE_STEP
from making import new_instance
from tortoise.backends.asyncpg.client import TransactionWrapper
from tortoise.backends.sqlite.client import SqliteTransactionWrapper

from server.db import store, transaction
from server.db.models import EventRow
from server.db.outage import DatabaseUnavailable
from server.services import accounts, queries

WRAPPERS = (TransactionWrapper, SqliteTransactionWrapper)


def _lost() -> Exception:
    return asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed")


async def _step(gql: Any, instance: str, value: int, key: str | None = None) -> Any:
    variables = {"input": {"instanceId": instance, "field": "estimated_budget", "value": value}}
    if key:
        variables["input"]["idempotencyKey"] = key
    return await gql.post(COMPLETE_STEP, variables)


def _drop(connection: Any) -> None:
    """Close the transaction's connection the way a terminated backend does."""
    raw = getattr(connection, "_connection", None)
    if isinstance(getattr(raw, "terminate", None), Callable):  # type: ignore[arg-type]
        raw.terminate()


@pytest.fixture
def commits(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Make the next commits fail as told: "landed" (committed, answer lost), "lost"
    (rolled back, answer lost), or "" (as usual). Records what happened."""
    plan: list[str] = []
    seen: list[str] = []
    originals = {cls: (cls.commit, cls.rollback) for cls in WRAPPERS}

    def failing(cls: type) -> Callable[[Any], Awaitable[None]]:
        commit, rollback = originals[cls]

        async def fake(self: Any) -> None:
            what = plan.pop(0) if plan else ""
            seen.append(what)
            if what == "landed":
                await commit(self)
                _drop(self)
                raise _lost()
            if what == "lost":
                await rollback(self)
                _drop(self)
                raise _lost()
            await commit(self)

        return fake

    for cls in WRAPPERS:
        monkeypatch.setattr(cls, "commit", failing(cls))
    yield plan
    assert plan == [], "every planned failure happened"


async def _events(instance: str) -> int:
    return await EventRow.filter(instance_id=int(instance), kind="STEP_COMPLETED").count()


async def test_a_commit_that_landed_is_answered_once(gql: Any, commits: list[str]) -> None:
    instance = await new_instance(gql, "Outage")
    commits.append("landed")
    response = await _step(gql, instance, 100)
    body = response.json()
    assert response.status_code == 200, body
    assert body["data"]["completeStep"]["__typename"] == "StepCompleted"
    assert await _events(instance) == 1


async def test_a_commit_that_was_lost_runs_again(gql: Any, commits: list[str]) -> None:
    instance = await new_instance(gql, "Outage")
    commits.append("lost")
    response = await _step(gql, instance, 100)
    body = response.json()
    assert body["data"]["completeStep"]["__typename"] == "StepCompleted", body
    assert await _events(instance) == 1
    stored = await EventRow.get(seq=body["data"]["completeStep"]["event"]["seq"])
    assert stored.after == {"values": {"estimated_budget": "100.00"}}


async def test_a_failure_before_the_commit_runs_the_change_again(
    gql: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    instance = await new_instance(gql, "Outage")
    append = store.append_event
    failures = [_lost()]

    async def flaky(*args: Any, **kwargs: Any) -> Any:
        if failures:
            raise failures.pop()
        return await append(*args, **kwargs)

    monkeypatch.setattr(store, "append_event", flaky)
    body = (await _step(gql, instance, 7)).json()
    assert body["data"]["completeStep"]["__typename"] == "StepCompleted", body
    assert failures == []
    assert await _events(instance) == 1


async def test_an_outcome_that_cannot_be_known_says_so(
    gql: Any, commits: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    instance = await new_instance(gql, "Outage")
    monkeypatch.setattr(transaction, "RESOLVE_SECONDS", 0.2)

    async def away(*args: Any, **kwargs: Any) -> Any:
        raise DatabaseUnavailable()

    monkeypatch.setattr(store, "event_landed", away)
    commits.append("landed")
    response = await _step(gql, instance, 5, key="unknown-1")
    body = response.json()
    assert response.status_code == 503, body
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "OUTCOME_UNKNOWN"
    assert "same idempotency key" in body["errors"][0]["message"]

    monkeypatch.undo()
    again = (await _step(gql, instance, 5, key="unknown-1")).json()
    assert again["data"]["completeStep"]["__typename"] == "StepCompleted"
    assert await _events(instance) == 1  # the retry found the change made the first time


async def test_a_read_the_database_does_not_answer_is_a_503_with_a_code(
    gql: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def away(*args: Any, **kwargs: Any) -> Any:
        raise DatabaseUnavailable()

    monkeypatch.setattr(queries, "list_records", away)
    response = await gql.post("{ records(first: 5) { totalCount } }")
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/json"
    error = response.json()["errors"][0]
    assert error["extensions"]["code"] == "DATABASE_UNAVAILABLE"
    assert error["message"] == "The database is unavailable; nothing was changed."


async def test_a_credential_lookup_that_fails_is_a_503_with_a_code(
    gql: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = await gql.token("demo")

    async def away(*args: Any, **kwargs: Any) -> Any:
        raise _lost()

    monkeypatch.setattr(accounts, "authenticate", away)
    response = await gql.post(
        "{ me { name } }", user=None, headers={"authorization": f"Bearer {token}"}
    )
    assert response.status_code == 503
    assert response.json()["errors"][0]["extensions"]["code"] == "DATABASE_UNAVAILABLE"
