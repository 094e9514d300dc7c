"""Killed under load, nothing acknowledged is lost.

A real server is killed with SIGKILL twenty times while a few writers create records,
complete steps and advance stages, and is started again each time. Every write the
server acknowledged must then be there, with its event: the value in the record, the
move in the instance, an event row with the acknowledged seq and the right kind; and the
event seqs increase without a duplicate (on SQLite they run 1..N; on PostgreSQL a change
killed before its commit leaves its seq unused). The kill moments are random, seeded.
"""

from __future__ import annotations

import random
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from serving import BIN, Server, start_server, stop_server

KILLS = 20
WRITERS = 3
SEED = 20261201

CREATE = """mutation($input: CreateRecordInput!) { createRecord(input: $input) { __typename
  ... on RecordCreated { record { id } event { seq kind } } } }"""
START = """mutation($input: StartInstanceInput!) { startInstance(input: $input) { __typename
  ... on InstanceStarted { instance { id } event { seq kind } } } }"""
STEP = """mutation($input: CompleteStepInput!) { completeStep(input: $input) { __typename
  ... on StepCompleted { event { seq kind } } } }"""
ADVANCE = """mutation($input: InstanceInput!) { advanceStage(input: $input) { __typename
  ... on StageAdvanced { instance { activeStage { key } } event { seq kind toStage } } } }"""
RECORD = """query($id: ID!) { record(id: $id) { id values
  instances { id path { key } } } }"""
EVENTS = """query($after: Int!) { events(afterSeq: $after, first: 100) {
  seq kind recordId instanceId toStage } }"""

# Opportunity Sales: what each stage asks before it can be left (values differ per deal).
PLAN = [
    ("step", "decision_maker_identified", True),
    ("advance", "develop", None),
    ("step", "customer_need", None),
    ("advance", "propose", None),
    ("step", "develop_proposal", None),
    ("step", "present_proposal", None),
    ("advance", "close", None),
]


@dataclass
class Ack:
    """One acknowledged write."""

    kind: str
    seq: int
    record: str
    instance: str | None = None
    field: str | None = None
    value: Any = None
    stage: str | None = None


@dataclass
class Load:
    url: str
    token: str
    stop: threading.Event = field(default_factory=threading.Event)
    acks: list[Ack] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def post(self, client: httpx.Client, query: str, **variables: Any) -> dict[str, Any] | None:
        """The mutation's result, or None when no answer came (the server was killed)."""
        try:
            response = client.post(
                f"{self.url}/graphql",
                json={"query": query, "variables": variables},
                headers={"authorization": f"Bearer {self.token}"},
                timeout=10,
            )
            payload = response.json()
        except (httpx.HTTPError, ValueError):
            time.sleep(0.05)
            return None
        if payload.get("errors") or response.status_code != 200:
            with self.lock:
                self.refused.append(str(payload.get("errors")))
            return None
        return next(iter(payload["data"].values()))  # type: ignore[no-any-return]

    def ack(self, ack: Ack) -> None:
        with self.lock:
            self.acks.append(ack)

    def write(self, writer: int) -> None:
        deal = 0
        with httpx.Client() as client:
            while not self.stop.is_set():
                deal += 1
                self._deal(client, f"w{writer}-{deal}")

    def _deal(self, client: httpx.Client, name: str) -> None:
        """One record taken through its stages until a write goes unanswered."""
        made = self.post(
            client, CREATE, input={"entity": "opportunity", "name": name, "values": {}}
        )
        if not made or made["__typename"] != "RecordCreated":
            return
        record = made["record"]["id"]
        self.ack(Ack("RECORD_CREATED", made["event"]["seq"], record))
        started = self.post(client, START, input={"recordId": record})
        if not started or started["__typename"] != "InstanceStarted":
            return
        instance = started["instance"]["id"]
        self.ack(Ack("INSTANCE_STARTED", started["event"]["seq"], record, instance))
        for action, target, fixed in [("step", "estimated_budget", None), *PLAN]:
            if self.stop.is_set():
                return
            if action == "step":
                value = fixed if fixed is not None else f"{name} {target}"
                if target == "estimated_budget":  # a money field: a number of this deal's own
                    value = f"{1000 + made['event']['seq']}.00"
                done = self.post(
                    client, STEP, input={"instanceId": instance, "field": target, "value": value}
                )
                if not done or done["__typename"] != "StepCompleted":
                    return
                self.ack(
                    Ack("STEP_COMPLETED", done["event"]["seq"], record, instance, target, value)
                )
            else:
                done = self.post(client, ADVANCE, input={"instanceId": instance})
                if not done or done["__typename"] != "StageAdvanced":
                    return
                assert done["event"]["toStage"] == target
                self.ack(
                    Ack("STAGE_ADVANCED", done["event"]["seq"], record, instance, stage=target)
                )


def _serve(server: Server) -> subprocess.Popen[bytes]:
    """`stageflow serve` again on the same database and port; once it is ready."""
    with server.log.open("ab") as out:
        process = subprocess.Popen(
            [str(BIN / "stageflow"), "serve"], env=server.env, stdout=out, stderr=subprocess.STDOUT
        )
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{server.url}/readyz", timeout=1).status_code == 200:
                return process
        except httpx.TransportError:
            pass
        assert process.poll() is None, server.log.read_text()[-3000:]
        assert time.monotonic() < deadline, "not ready again: " + server.log.read_text()[-3000:]
        time.sleep(0.05)


def _read(server: Server, query: str, **variables: Any) -> dict[str, Any]:
    response = httpx.post(
        f"{server.url}/graphql",
        json={"query": query, "variables": variables},
        headers={"authorization": f"Bearer {server.token}"},
        timeout=30,
    )
    payload = response.json()
    assert "errors" not in payload, payload
    return payload["data"]  # type: ignore[no-any-return]


def test_acknowledged_writes_survive_twenty_kills(database_url: str, tmp_path: Path) -> None:
    server = start_server(database_url, tmp_path / "server.log", demo=False)
    load = Load(server.url, server.token)
    writers = [threading.Thread(target=load.write, args=(n,)) for n in range(WRITERS)]
    moments = random.Random(SEED)
    started = time.monotonic()
    try:
        for writer in writers:
            writer.start()
        for _ in range(KILLS):
            before = len(load.acks)
            # Kill at a random moment, once some writes went through since the start.
            deadline = time.monotonic() + 10
            while len(load.acks) < before + moments.randint(3, 25):
                assert time.monotonic() < deadline, "no write acknowledged"
                time.sleep(0.005)
            server.process.kill()
            server.process.wait()
            server.process = _serve(server)
    finally:
        load.stop.set()
        for writer in writers:
            writer.join(timeout=30)
    elapsed = time.monotonic() - started

    try:
        _check(server, load, gaps=not database_url.startswith("sqlite"))
    finally:
        stop_server(server)
    print(
        f"crash test: {KILLS} kills in {elapsed:.1f} s, {len(load.acks)} acknowledged writes, "
        f"{len(load.refused)} errors answered"
    )


def _check(server: Server, load: Load, *, gaps: bool) -> None:
    """Every acknowledged write is stored as acknowledged. Seqs only increase; on
    PostgreSQL a change killed before its commit leaves its seq unused."""
    events: list[dict[str, Any]] = []
    while True:
        page = _read(server, EVENTS, after=events[-1]["seq"] if events else 0)["events"]
        if not page:
            break
        events += page
    seqs = [e["seq"] for e in events]
    assert seqs == sorted(set(seqs)), "event seqs out of order or repeated"
    if not gaps:
        assert seqs == list(range(1, len(seqs) + 1)), "event seqs have a gap"
    by_seq = {e["seq"]: e for e in events}

    assert len(load.acks) > KILLS * 3
    assert len({a.seq for a in load.acks}) == len(load.acks), "one seq acknowledged twice"
    records: dict[str, dict[str, Any]] = {}
    for ack in load.acks:
        event = by_seq.get(ack.seq)
        assert event is not None, f"acknowledged {ack} has no event"
        assert event["kind"] == ack.kind, (ack, event)
        assert event["recordId"] == ack.record, (ack, event)
        if ack.instance is not None:
            assert event["instanceId"] == ack.instance, (ack, event)
        if ack.record not in records:
            records[ack.record] = _read(server, RECORD, id=ack.record)["record"]
        record = records[ack.record]
        assert record is not None, f"acknowledged {ack}: the record is gone"
        if ack.kind == "STEP_COMPLETED":
            assert ack.field is not None
            assert record["values"].get(ack.field) == ack.value, (ack, record["values"])
        if ack.kind in ("INSTANCE_STARTED", "STAGE_ADVANCED"):
            runs = {i["id"]: [p["key"] for p in i["path"]] for i in record["instances"]}
            assert ack.instance in runs, (ack, record)
            if ack.stage is not None:
                assert event["toStage"] == ack.stage
                assert ack.stage in runs[ack.instance], (ack, runs)
