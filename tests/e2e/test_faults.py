"""PostgreSQL under faults: every backend of the database terminated, again and again, while
two servers serve a steady writer and a live subscriber each.

Afterwards each subscriber holds every committed event, in order and once; every write the
writer was told of is stored once; no answer was a 500 or anything but GraphQL; /readyz told
when a worker could not keep up, and is ready again; the supervisor's restarts are counted.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from serving import Server, start_server, stop_server
from test_live import _instance, _socket, _subscribe
from websockets.exceptions import ConnectionClosed

from server.events.postgres import asyncpg_dsn

pytestmark = pytest.mark.postgres

ROUNDS = 10
PAUSE = 3.0
# Every other round the database also refuses connections for a while, as when it restarts.
OUTAGE = 1.5
# Short, so that the time a worker's feed needs to recover after a round shows in /readyz.
READY_MAX_LAG = "0.3"

STEP = """
mutation($id: ID!, $value: JSON, $key: String) {
  completeStep(input: {instanceId: $id, field: "estimated_budget", value: $value,
                       idempotencyKey: $key}) {
    __typename ... on StepCompleted { event { seq } } ... on Error { message } } }
"""
EVENTS = "subscription($id: ID!) { instanceEvents(instanceId: $id) { seq kind } }"


@dataclass
class Writer:
    """Writes one value after another, alternating servers, each with its own key; a write
    that is not answered with its outcome is sent again with the same key."""

    servers: list[Server]
    instance: str
    stop: threading.Event = field(default_factory=threading.Event)
    acknowledged: dict[str, int] = field(default_factory=dict)  # key -> seq
    statuses: list[int] = field(default_factory=list)
    not_graphql: list[str] = field(default_factory=list)
    refused: list[Any] = field(default_factory=list)
    unanswered: list[str] = field(default_factory=list)  # connections closed with no answer
    retries: int = 0

    def run(self) -> None:
        with httpx.Client(timeout=30) as http:
            n = 0
            while not self.stop.is_set():
                n += 1
                self._write(http, n)
                time.sleep(0.02)

    def _write(self, http: httpx.Client, n: int) -> None:
        key = f"fault-{n}"
        for attempt in range(200):
            server = self.servers[(n + attempt) % len(self.servers)]
            try:
                response = http.post(
                    f"{server.url}/graphql",
                    json={
                        "query": STEP,
                        "variables": {"id": self.instance, "value": n, "key": key},
                    },
                    headers={"authorization": f"Bearer {server.token}"},
                )
            except httpx.TransportError as error:
                self.unanswered.append(f"{type(error).__name__}: {error}")
                self.retries += 1
                time.sleep(0.1)
                continue
            self.statuses.append(response.status_code)
            try:
                body = response.json()
            except ValueError:
                self.not_graphql.append(f"{response.status_code}: {response.text[:200]}")
                time.sleep(0.1)
                continue
            if response.status_code == 503:
                codes = {(e.get("extensions") or {}).get("code") for e in body.get("errors", [])}
                assert codes <= {"DATABASE_UNAVAILABLE", "OUTCOME_UNKNOWN"}, body
                self.retries += 1
                time.sleep(0.1)
                continue
            result = (body.get("data") or {}).get("completeStep")
            if result is None or result["__typename"] != "StepCompleted":
                self.refused.append(body)
                return
            self.acknowledged[key] = result["event"]["seq"]
            return
        self.refused.append(f"{key}: no answer after 200 attempts")


@dataclass
class Subscriber:
    """One live subscription on one server, its messages kept in arrival order."""

    server: Server
    instance: str
    seqs: list[int] = field(default_factory=list)
    arrived: list[float] = field(default_factory=list)
    other: list[Any] = field(default_factory=list)
    ready: threading.Event = field(default_factory=threading.Event)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        with _socket(self.server) as ws:
            _subscribe(ws, "live", EVENTS, id=self.instance)
            self.ready.set()
            while not self.stop.is_set():
                try:
                    message = json.loads(ws.recv(timeout=0.2))
                except TimeoutError:
                    continue
                except ConnectionClosed as closed:
                    self.other.append(f"closed {closed}")
                    return
                if message["type"] == "ping":
                    ws.send(json.dumps({"type": "pong"}))
                elif message["type"] == "next" and "errors" not in message["payload"]:
                    self.seqs.append(message["payload"]["data"]["instanceEvents"]["seq"])
                    self.arrived.append(time.monotonic())
                else:
                    self.other.append(message)


@dataclass
class Readiness:
    """/readyz of each server, asked again and again."""

    servers: list[Server]
    answers: list[tuple[str, int, dict[str, Any]]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        with httpx.Client(timeout=10) as http:
            while not self.stop.is_set():
                for server in self.servers:
                    try:
                        response = http.get(f"{server.url}/readyz")
                        self.answers.append((server.url, response.status_code, response.json()))
                    except httpx.TransportError as error:
                        self.answers.append((server.url, 0, {"error": str(error)}))
                time.sleep(0.05)


async def _terminate_all(database_url: str, *, outage: float = 0.0) -> int:
    """Terminate every backend of the database; with `outage`, refuse new connections to it
    for that long first, as a database restarting does."""
    name = database_url.rsplit("/", 1)[1]
    conn = await asyncpg.connect(os.environ["STAGEFLOW_TEST_POSTGRES"])
    try:
        if outage:
            await conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        count = int(
            await conn.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = $1 AND pid <> pg_backend_pid()",
                name,
            )
        )
        if outage:
            await asyncio.sleep(outage)
            await conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        return count
    finally:
        await conn.close()


async def _committed(database_url: str, instance: str) -> list[tuple[int, str | None]]:
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        rows = await conn.fetch(
            "SELECT seq, idempotency_key FROM event WHERE instance_id = $1 ORDER BY seq",
            int(instance),
        )
        return [(row["seq"], row["idempotency_key"]) for row in rows]
    finally:
        await conn.close()


def _restarts(server: Server) -> int:
    text = httpx.get(f"{server.url}/metrics", timeout=10).text
    return sum(
        int(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("stageflow_task_restarts_total{")
    )


@pytest.fixture
def servers(database_url: str, tmp_path: Path) -> Iterator[list[Server]]:
    env = {"STAGEFLOW_READY_MAX_LAG_SECONDS": READY_MAX_LAG}
    a = start_server(database_url, tmp_path / "a.log", extra_env=env)
    b = start_server(database_url, tmp_path / "b.log", demo=False, extra_env=env)
    try:
        yield [a, b]
    finally:
        stop_server(a)
        stop_server(b)


def test_terminated_backends_lose_nothing_and_stick_nowhere(
    servers: list[Server], database_url: str
) -> None:
    instance = _instance(servers[0])
    before = {seq for seq, _ in asyncio.run(_committed(database_url, instance))}
    subscribers = [Subscriber(server, instance) for server in servers]
    writer = Writer(servers, instance)
    readiness = Readiness(servers)
    threads = [threading.Thread(target=s.run, daemon=True) for s in subscribers]
    for thread in threads:
        thread.start()
    for subscriber in subscribers:
        assert subscriber.ready.wait(10)
    time.sleep(0.3)  # the subscriptions have joined their feeds
    background = [
        threading.Thread(target=writer.run, daemon=True),
        threading.Thread(target=readiness.run, daemon=True),
    ]
    for thread in background:
        thread.start()

    terminated = []
    back = []  # when the database took connections again after an outage
    for n in range(ROUNDS):
        time.sleep(PAUSE)
        outage = OUTAGE if n % 2 else 0.0
        terminated.append(asyncio.run(_terminate_all(database_url, outage=outage)))
        if outage:
            back.append(time.monotonic())
    time.sleep(PAUSE)
    writer.stop.set()
    background[0].join(60)

    committed = [c for c in asyncio.run(_committed(database_url, instance)) if c[0] not in before]
    wanted = [seq for seq, _ in committed]
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and any(s.seqs != wanted for s in subscribers):
        time.sleep(0.1)
    readiness.stop.set()
    background[1].join(10)
    for subscriber in subscribers:
        subscriber.stop.set()
    for thread in threads:
        thread.join(10)

    resumed = [
        round(min((t for t in s.arrived if t > at), default=float("inf")) - at, 3)
        for at in back
        for s in subscribers
    ]
    print(
        f"terminated {terminated} backends; {len(writer.acknowledged)} writes acknowledged, "
        f"{writer.retries} sent again; statuses {sorted(set(writer.statuses))}; "
        f"first event after each outage, per subscriber, in s: {resumed}"
    )
    # Nothing lost, nothing twice, in order, on both servers; no subscription ended.
    assert all(count > 0 for count in terminated)
    assert len(writer.acknowledged) > ROUNDS * 10
    for subscriber in subscribers:
        assert subscriber.other == []
        assert subscriber.seqs == wanted
    # Every acknowledged write is stored, once, with the seq it was answered with.
    keys = [key for _, key in committed]
    assert len(keys) == len(set(keys))
    assert {key: seq for seq, key in committed if key in writer.acknowledged} == (
        writer.acknowledged
    )
    assert set(writer.acknowledged) == {key for key in keys if key is not None}
    # Answers were GraphQL, never a 500.
    assert writer.unanswered == []
    assert writer.not_graphql == []
    assert writer.refused == []
    assert 500 not in writer.statuses
    # Readiness told of the faults, and is ready again.
    unready = [answer for answer in readiness.answers if answer[1] != 200]
    print(f"/readyz: {len(unready)} of {len(readiness.answers)} not ready: {unready[:5]}")
    assert unready, "no fault was ever reported by /readyz"
    reasons = {body.get("reason") for _, status, body in unready if status == 503}
    assert "database" in reasons
    assert reasons <= {"database", "feed"}
    for server in servers:
        assert httpx.get(f"{server.url}/readyz", timeout=10).status_code == 200
        assert _restarts(server) > 0
