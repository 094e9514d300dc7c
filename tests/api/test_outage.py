"""When the database stops answering: a GraphQL answer, and never a misreported write.

A failure before the commit runs the change again; a failure while committing is resolved
(the change looked for once the old connection is gone) before answering; what cannot be
known is said, with a code, and nothing is told twice. Each is checked on both ways a change
is written: a step's value (on PostgreSQL one statement, its own transaction) and a record's
edit (a transaction of several statements).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import pytest
from documents import COMPLETE_STEP, UPDATE_RECORD
from making import new_instance
from tortoise.backends.asyncpg.client import TransactionWrapper
from tortoise.backends.sqlite.client import SqliteTransactionWrapper

from server.db import store, transaction
from server.db.models import EventRow, InstanceRow
from server.db.outage import DatabaseUnavailable
from server.services import accounts, queries

WRAPPERS = (TransactionWrapper, SqliteTransactionWrapper)
# What only a change written in one statement sends.
ONE_STATEMENT = 'INSERT INTO "event"'


def _lost() -> Exception:
    return asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed")


@dataclass
class Change:
    """A change made through the API again and again on one instance or its record."""

    mutation: str
    kind: str
    gql: Any
    instance: str = ""

    async def send(self, value: int, key: str | None = None) -> Any:
        if self.mutation == "completeStep":
            document = COMPLETE_STEP
            input: dict[str, Any] = {
                "instanceId": self.instance,
                "field": "estimated_budget",
                "value": value,
            }
        else:
            document = UPDATE_RECORD
            row = await InstanceRow.get(id=int(self.instance))
            input = {"recordId": str(row.record_id), "values": {"estimated_budget": value}}
        if key:
            input["idempotencyKey"] = key
        return await self.gql.post(document, {"input": input})

    async def events(self) -> int:
        row = await InstanceRow.get(id=int(self.instance))
        if self.kind == "STEP_COMPLETED":
            return await EventRow.filter(instance_id=row.id, kind=self.kind).count()
        return await EventRow.filter(record_id=row.record_id, kind=self.kind).count()

    def done(self, body: dict[str, Any]) -> dict[str, Any]:
        found: dict[str, Any] = body["data"][self.mutation]
        assert found["__typename"] == (
            "StepCompleted" if self.kind == "STEP_COMPLETED" else "RecordUpdated"
        ), body
        return found


@pytest.fixture(params=["completeStep", "updateRecord"])
async def change(request: pytest.FixtureRequest, gql: Any) -> Change:
    kind = "STEP_COMPLETED" if request.param == "completeStep" else "RECORD_UPDATED"
    made = Change(request.param, kind, gql)
    made.instance = await new_instance(gql, "Outage")
    return made


def _drop(connection: Any) -> None:
    """Close the transaction's connection the way a terminated backend does."""
    raw = getattr(connection, "_connection", None)
    if isinstance(getattr(raw, "terminate", None), Callable):  # type: ignore[arg-type]
        raw.terminate()


@pytest.fixture
def commits(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Make the next commits fail as told, a transaction's COMMIT or a change written in one
    statement: "landed" (committed, answer lost), "lost" (not committed, answer lost), or ""
    (as usual)."""
    plan: list[str] = []
    originals = {cls: (cls.commit, cls.rollback) for cls in WRAPPERS}

    def failing(cls: type) -> Callable[[Any], Awaitable[None]]:
        commit, rollback = originals[cls]

        async def fake(self: Any) -> None:
            what = plan.pop(0) if plan else ""
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
    fetchrow = asyncpg.Connection.fetchrow

    async def statement(self: asyncpg.Connection, query: str, *args: Any, **kw: Any) -> Any:
        what = plan.pop(0) if plan and ONE_STATEMENT in query else ""
        if what == "lost":
            self.terminate()
            raise _lost()
        row = await fetchrow(self, query, *args, **kw)
        if what == "landed":
            self.terminate()
            raise _lost()
        return row

    monkeypatch.setattr(asyncpg.Connection, "fetchrow", statement)
    yield plan
    assert plan == [], "every planned failure happened"


async def test_a_commit_that_landed_is_answered_once(change: Change, commits: list[str]) -> None:
    commits.append("landed")
    response = await change.send(100)
    body = response.json()
    assert response.status_code == 200, body
    change.done(body)
    assert await change.events() == 1


async def test_a_commit_that_was_lost_runs_again(change: Change, commits: list[str]) -> None:
    commits.append("lost")
    body = (await change.send(100)).json()
    stored = await EventRow.get(seq=change.done(body)["event"]["seq"])
    assert await change.events() == 1
    assert stored.after == {"values": {"estimated_budget": "100.00"}}


# A change written in one statement has nothing before its commit: "lost" above is its case.
@pytest.mark.parametrize("change", ["updateRecord"], indirect=True)
async def test_a_failure_before_the_commit_runs_the_change_again(
    change: Change, monkeypatch: pytest.MonkeyPatch
) -> None:
    append = store.append_event
    failures = [_lost()]

    async def flaky(*args: Any, **kwargs: Any) -> Any:
        if failures:
            raise failures.pop()
        return await append(*args, **kwargs)

    monkeypatch.setattr(store, "append_event", flaky)
    change.done((await change.send(7)).json())
    assert failures == []
    assert await change.events() == 1


async def test_an_outcome_that_cannot_be_known_says_so(
    change: Change, commits: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(transaction, "RESOLVE_SECONDS", 0.2)

    async def away(*args: Any, **kwargs: Any) -> Any:
        raise DatabaseUnavailable()

    monkeypatch.setattr(store, "event_landed", away)
    monkeypatch.setattr(transaction, "_wait_gone", away)
    commits.append("landed")
    response = await change.send(5, key="unknown-1")
    body = response.json()
    assert response.status_code == 503, body
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "OUTCOME_UNKNOWN"
    assert "same idempotency key" in body["errors"][0]["message"]

    monkeypatch.undo()
    change.done((await change.send(5, key="unknown-1")).json())
    assert await change.events() == 1  # the retry found the change made the first time


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
