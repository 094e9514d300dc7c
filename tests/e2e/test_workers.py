"""Several server processes on one PostgreSQL database: a change made through any of
them reaches subscribers on all of them, within the second (LISTEN/NOTIFY, not polling)."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import asyncpg
import httpx
import pytest
from serving import Server, graphql, start_server, stop_server
from test_live import ADVANCE, STAGE_CHANGED, STEP, _instance, _next, _socket, _subscribe
from websockets.sync.client import ClientConnection

from server.events.postgres import asyncpg_dsn

pytestmark = pytest.mark.postgres

# Far below the followers' safety poll (5 s): only a notification is this fast.
PROMPT = 1.5


@pytest.fixture
def hosts(
    database_url: str, tmp_path: Path
) -> Iterator[tuple[Server, Server, str, ClientConnection]]:
    """Two servers on one database, and a socket on the first subscribed to an instance."""
    a = start_server(database_url, tmp_path / "a.log")
    b = start_server(database_url, tmp_path / "b.log", demo=False)
    try:
        iid = _instance(a)
        with _socket(a) as ws:
            _subscribe(ws, "1", STAGE_CHANGED, id=iid)
            time.sleep(0.2)
            yield a, b, iid, ws
    finally:
        stop_server(a)
        stop_server(b)


def test_change_on_one_host_reaches_a_subscriber_on_another(
    hosts: tuple[Server, Server, str, ClientConnection],
) -> None:
    _, b, iid, ws = hosts
    started = time.monotonic()
    assert graphql(b, ADVANCE, id=iid)["advanceStage"]["__typename"] == "StageAdvanced"  # type: ignore[index]
    event = _next(ws, timeout=PROMPT)["stageChanged"]
    elapsed = time.monotonic() - started
    assert event["kind"] == "STAGE_ADVANCED"
    assert event["instance"]["activeStage"]["key"] == "develop"
    assert elapsed < PROMPT


def test_workers_of_one_server_all_deliver(database_url: str, tmp_path: Path) -> None:
    server = start_server(database_url, tmp_path / "w.log", workers=2)
    try:
        iid = _instance(server)
        with _socket(server) as ws:
            ws.send(
                json.dumps(
                    {
                        "id": "e",
                        "type": "subscribe",
                        "payload": {
                            "query": "subscription($id: ID!) { instanceEvents(instanceId: $id) { seq } }",
                            "variables": {"id": iid},
                        },
                    }
                )
            )
            time.sleep(0.2)
            seqs = []
            for value in range(20):  # new connections: the kernel spreads them over the workers
                graphql(server, STEP, id=iid, value=value)
                seqs.append(_next(ws, timeout=PROMPT)["instanceEvents"]["seq"])
        assert seqs == sorted(seqs) and len(set(seqs)) == 20
    finally:
        stop_server(server)


def test_relay_reconnects_and_catches_up_after_losing_its_connection(
    hosts: tuple[Server, Server, str, ClientConnection], database_url: str
) -> None:
    a, b, iid, ws = hosts
    asyncio.run(_terminate_relays(database_url))
    # Made while the listener is down: arrives once it is back, from the rows.
    graphql(b, STEP, id=iid, value=2000)
    graphql(b, ADVANCE, id=iid)
    missed = _next(ws, timeout=4)["stageChanged"]
    time.sleep(1.5)
    graphql(b, MOVE_BACK, id=iid)
    started = time.monotonic()
    live = _next(ws, timeout=PROMPT)["stageChanged"]
    elapsed = time.monotonic() - started
    assert missed["kind"] == "STAGE_ADVANCED"
    assert live["kind"] == "STAGE_MOVED_BACK" and live["seq"] > missed["seq"]
    assert elapsed < PROMPT
    assert "reconnecting" in a.log.read_text()


MOVE_BACK = """
mutation($id: ID!) { moveToStage(input: {instanceId: $id, stage: "qualify"}) { __typename } }
"""


async def _terminate_relays(database_url: str) -> None:
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        killed = await conn.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE application_name = 'stageflow-relay' AND datname = current_database()"
        )
        assert killed >= 2
    finally:
        await conn.close()


BAR = "query Bar($id: ID!) { instance(id: $id) { version missingSteps { field { key } } } }"
BUDGET = """mutation($id: ID!, $value: JSON) {
  completeStep(input: {instanceId: $id, field: "estimated_budget", value: $value}) {
    ... on StepCompleted { instance { version } } } }"""
CLEAR = """mutation($id: ID!) {
  completeStep(input: {instanceId: $id, field: "estimated_budget", value: null}) {
    ... on StepCompleted { instance { version } } } }"""


def _kept_counts(server: Server) -> dict[str, int]:
    text = httpx.get(server.url + "/metrics").text
    found = re.findall(r'stageflow_kept_answers_total\{outcome="(\w+)"\} (\d+)', text)
    return {outcome: int(n) for outcome, n in found}


def test_a_read_after_a_write_on_another_host_sees_the_write(
    hosts: tuple[Server, Server, str, ClientConnection],
) -> None:
    """The bar's kept answer on one host is checked against the database, not only against
    what that host's feed has heard: the write is seen at once, however far the feed is."""
    a, b, iid, _ = hosts
    for _ in range(3):
        graphql(a, BAR, id=iid)
    before = _kept_counts(a)
    assert before["sent"] >= 2
    for value in range(1, 16):
        written = graphql(b, BUDGET if value % 2 else CLEAR, id=iid, value=value)
        version = written["completeStep"]["instance"]["version"]  # type: ignore[index]
        read = graphql(a, BAR, id=iid)["instance"]
        assert read["version"] == version  # type: ignore[index]
        keys = {s["field"]["key"] for s in read["missingSteps"]}  # type: ignore[index]
        assert ("estimated_budget" in keys) == (value % 2 == 0)
        again = graphql(a, BAR, id=iid)["instance"]
        assert again == read
    after = _kept_counts(a)
    assert after["stale"] - before["stale"] == 15  # each read after a write ran in full
    assert after["sent"] - before["sent"] == 15  # and each read again was sent as kept


ADVANCE_SEQ = """mutation($id: ID!) { advanceStage(input: {instanceId: $id}) {
  ... on StageAdvanced { event { seq } } } }"""
BACK_SEQ = """mutation($id: ID!) { moveToStage(input: {instanceId: $id, stage: "qualify"}) {
  ... on StageMoved { event { seq } } } }"""
EVERY_MOVE = "subscription($after: Int) { stageChanged(afterSeq: $after) { seq instance { id } } }"
LAST = "{ lastEventSeq }"


def _moves(ws: ClientConnection, count: int) -> list[int]:
    return [_next(ws, timeout=30)["stageChanged"]["seq"] for _ in range(count)]


def test_fifty_writers_on_two_hosts_reach_every_subscriber_in_seq_order(
    database_url: str, tmp_path: Path
) -> None:
    """50 writers, each on its own instance, through two servers at once: a subscriber on
    either server, and one replaying from before the writes, receive every move once, in
    seq order, exactly the moves acknowledged."""
    a = start_server(database_url, tmp_path / "a.log")
    b = start_server(database_url, tmp_path / "b.log", demo=False)
    try:
        ids = [_instance(a) for _ in range(50)]
        start = graphql(a, LAST)["lastEventSeq"]
        rounds = 2

        def write(n: int) -> list[int]:
            seqs = []
            for r in range(rounds):
                host = (a, b)[(n + r) % 2]
                moved = graphql(host, ADVANCE_SEQ, id=ids[n])["advanceStage"]
                seqs.append(moved["event"]["seq"])  # type: ignore[index]
                back = graphql(host, BACK_SEQ, id=ids[n])["moveToStage"]
                seqs.append(back["event"]["seq"])  # type: ignore[index]
            return seqs

        with _socket(a) as on_a, _socket(b) as on_b:
            # Both from before the writes: what they receive while the writers run is live.
            _subscribe(on_a, "a", EVERY_MOVE, after=start)
            _subscribe(on_b, "b", EVERY_MOVE, after=start)
            with ThreadPoolExecutor(max_workers=50) as pool:
                written = sorted(s for seqs in pool.map(write, range(50)) for s in seqs)
            moves = len(written)
            seen_a, seen_b = _moves(on_a, moves), _moves(on_b, moves)
        with _socket(b) as replaying:
            _subscribe(replaying, "r", EVERY_MOVE, after=start)
            replayed = _moves(replaying, moves)

        assert moves == 50 * rounds * 2 == len(set(written))
        assert seen_a == written
        assert seen_b == written
        assert replayed == written
    finally:
        stop_server(a)
        stop_server(b)
