"""Fifty clients on one instance, through a server with two workers on PostgreSQL.

Each round mixes, at once: values written without expectedVersion (one field per client),
moves that all send the version read at the start of the round, and one value sent by ten
clients under the same idempotency key. Callers that sent no version never see a conflict;
at most one move wins a round, and only if it came first; every key holder is answered with
the same event; no value is lost.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from serving import Server, graphql, start_server, stop_server

from server.events.postgres import asyncpg_dsn

pytestmark = pytest.mark.postgres

ROUNDS = 5
WRITERS = 29  # one field each; the stage holds 30 steps, the last is the keyed one
MOVERS = 11
KEY_HOLDERS = 10
FIELDS = [f"race_{n:02d}" for n in range(1, WRITERS + 2)]

SAVE_FIELD = """mutation($input: SaveFieldInput!) { saveField(input: $input) { __typename } }"""
IMPORT = """mutation($input: ImportProcessInput!) { importProcess(input: $input) {
  __typename ... on ProcessImported { process { id } } } }"""
CREATE = """mutation { createRecord(input: {entity: "opportunity", name: "Race"}) {
  ... on RecordCreated { record { id } } } }"""
START = """mutation($record: ID!, $process: ID!) {
  startInstance(input: {recordId: $record, processId: $process}) {
    ... on InstanceStarted { instance { id } } } }"""
READ = """query($id: ID!) { instance(id: $id) { version activeStage { key }
  record { values } } }"""
STEP = """mutation($input: CompleteStepInput!) { completeStep(input: $input) { __typename
  ... on StepCompleted { event { seq } }
  ... on VersionConflict { kind expectedVersion currentVersion } } }"""
ADVANCE = """mutation($input: InstanceInput!) { advanceStage(input: $input) { __typename
  ... on StageAdvanced { event { seq } }
  ... on VersionConflict { kind expectedVersion currentVersion } } }"""


def _race_process() -> dict[str, Any]:
    stages: list[dict[str, Any]] = [
        {
            "key": "gather",
            "name": "Gather",
            "category": "QUALIFY",
            "steps": [{"field": f, "required": False} for f in FIELDS],
            "next": "stage_1",
        }
    ]
    for n in range(1, ROUNDS + 1):
        stage: dict[str, Any] = {
            "key": f"stage_{n}",
            "name": f"Stage {n}",
            "category": "DEVELOP",
            "steps": [],
        }
        if n < ROUNDS:
            stage["next"] = f"stage_{n + 1}"
        stages.append(stage)
    return {"key": "race", "name": "Race", "entity": "opportunity", "stages": stages}


@pytest.fixture
def race(database_url: str, tmp_path: Path) -> Iterator[tuple[Server, str]]:
    """A server with two workers, and an instance of a process with 30 text steps."""
    server = start_server(database_url, tmp_path / "server.log", workers=2)
    try:
        for key in FIELDS:
            field = {"entity": "opportunity", "key": key, "label": key, "type": "TEXT"}
            assert graphql(server, SAVE_FIELD, input=field)["saveField"]["__typename"] == (  # type: ignore[index]
                "FieldSaved"
            )
        imported = graphql(server, IMPORT, input={"definition": _race_process(), "publish": True})
        process = imported["importProcess"]["process"]["id"]  # type: ignore[index]
        record = graphql(server, CREATE)["createRecord"]["record"]["id"]  # type: ignore[index]
        started = graphql(server, START, record=record, process=process)
        yield server, started["startInstance"]["instance"]["id"]  # type: ignore[index]
    finally:
        stop_server(server)


async def _post(http: httpx.AsyncClient, document: str, input: dict[str, Any]) -> dict[str, Any]:
    """The mutation's result, or what came instead of it."""
    response = await http.post("/graphql", json={"query": document, "variables": {"input": input}})
    body = response.json()
    if response.status_code != 200 or "errors" in body:
        return {"__typename": f"HTTP {response.status_code}", "body": body}
    return next(iter(body["data"].values()))  # type: ignore[no-any-return]


async def _events(database_url: str, after: int) -> list[tuple[int, str, str | None]]:
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        rows = await conn.fetch(
            "SELECT seq, kind, idempotency_key FROM event WHERE seq > $1 ORDER BY seq", after
        )
        return [(r["seq"], r["kind"], r["idempotency_key"]) for r in rows]
    finally:
        await conn.close()


async def _rounds(server: Server, instance: str, database_url: str) -> list[str]:
    problems: list[str] = []
    limits = httpx.Limits(max_connections=60)
    headers = {"authorization": f"Bearer {server.token}"}
    async with httpx.AsyncClient(
        base_url=server.url, headers=headers, timeout=60, limits=limits
    ) as http:
        for n in range(ROUNDS):
            read = await http.post("/graphql", json={"query": READ, "variables": {"id": instance}})
            seen = read.json()["data"]["instance"]
            version = seen["version"]
            start_seq = (await _events(database_url, 0))[-1][0]
            key = f"round-{n}"
            writes = [
                _post(
                    http,
                    STEP,
                    {"instanceId": instance, "field": FIELDS[i], "value": f"r{n}-c{i}"},
                )
                for i in range(WRITERS)
            ]
            moves = [
                _post(http, ADVANCE, {"instanceId": instance, "expectedVersion": version})
                for _ in range(MOVERS)
            ]
            keyed = [
                _post(
                    http,
                    STEP,
                    {
                        "instanceId": instance,
                        "field": FIELDS[-1],
                        "value": f"keyed-{n}",
                        "idempotencyKey": key,
                    },
                )
                for _ in range(KEY_HOLDERS)
            ]
            # The moves are sent first, so that most rounds have a winner.
            answers = await asyncio.gather(*moves, *keyed, *writes)
            moved = answers[:MOVERS]
            holders = answers[MOVERS : MOVERS + KEY_HOLDERS]
            written = answers[MOVERS + KEY_HOLDERS :]
            events = await _events(database_url, start_seq)

            # Callers that sent no version: never a conflict.
            kinds = Counter(a["__typename"] for a in [*written, *holders])
            if kinds != Counter({"StepCompleted": WRITERS + KEY_HOLDERS}):
                problems.append(f"round {n}: values answered {dict(kinds)}")
            # One key, one event, the same seq for every holder.
            keyed_events = [seq for seq, _, k in events if k == key]
            if len(keyed_events) != 1 or {
                (h.get("event") or {}).get("seq") for h in holders
            } != set(keyed_events):
                problems.append(f"round {n}: key {key} gave {keyed_events}, holders {holders}")
            # At most one move wins, and it wins exactly when it was the round's first change.
            winners = [m for m in moved if m["__typename"] == "StageAdvanced"]
            conflicts = [m for m in moved if m["__typename"] == "VersionConflict"]
            first_kind = events[0][1]
            print(f"round {n}: {len(winners)} move won, first change {first_kind}")
            if len(winners) != (1 if first_kind == "STAGE_ADVANCED" else 0):
                problems.append(f"round {n}: {len(winners)} moves won; first change {first_kind}")
            if len(winners) + len(conflicts) != MOVERS or any(
                c["kind"] != "Instance"
                or c["expectedVersion"] != version
                or c["currentVersion"] <= version
                for c in conflicts
            ):
                problems.append(f"round {n}: moves answered {moved}")
            # Every change is one event: each value, the keyed value once, the winning move.
            if len(events) != WRITERS + 1 + len(winners):
                problems.append(f"round {n}: {len(events)} events")
            # No lost update: every value written this round is there.
            after = await http.post("/graphql", json={"query": READ, "variables": {"id": instance}})
            values = after.json()["data"]["instance"]["record"]["values"]
            lost = [i for i in range(WRITERS) if values.get(FIELDS[i]) != f"r{n}-c{i}"]
            if lost or values.get(FIELDS[-1]) != f"keyed-{n}":
                problems.append(f"round {n}: values lost for writers {lost}")
    return problems


def test_fifty_clients_on_one_instance(race: tuple[Server, str], database_url: str) -> None:
    server, instance = race
    assert asyncio.run(_rounds(server, instance, database_url)) == []
