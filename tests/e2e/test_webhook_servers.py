"""Webhooks from real servers: a kill -9 between commit and delivery loses nothing, and two
servers on one PostgreSQL database deliver each event once, handing over a killed one's
deliveries."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import signal
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from receiver import Receiver, free_port, receiving_in_thread, wait_until
from serving import Server, graphql, post, stageflow, start_server, stop_server
from tortoise import Tortoise

from server.db.config import tortoise_config
from server.db.models import EventRow, WebhookDeliveryRow
from server.domain.events import Event, EventKind
from server.domain.webhook import WebhookTopic, topics_of

ENV = {
    "STAGEFLOW_WEBHOOK_ALLOW_PRIVATE": "1",
    "STAGEFLOW_WEBHOOK_RETRY_FIRST_SECONDS": "0.2",
    "STAGEFLOW_WEBHOOK_RETRY_LONGEST_SECONDS": "1",
    "STAGEFLOW_WEBHOOK_LEASE_SECONDS": "1",
    "STAGEFLOW_WEBHOOK_TIMEOUT_SECONDS": "5",
}
CREATE = """mutation($input: CreateRecordInput!) { createRecord(input: $input) {
  ... on RecordCreated { record { id } } } }"""
START = """mutation($input: StartInstanceInput!) { startInstance(input: $input) {
  ... on InstanceStarted { instance { id } } } }"""
NOW = dt.datetime.now(dt.UTC)
STEP = """mutation($input: CompleteStepInput!) { completeStep(input: $input) { __typename } }"""


def _db(database_url: str, work: Any) -> Any:
    async def run() -> Any:
        await Tortoise.init(config=tortoise_config(database_url))
        try:
            return await work()
        finally:
            await Tortoise.close_connections()

    return asyncio.run(run())


def register(env: dict[str, str], receiver: Receiver) -> None:
    """A webhook for every topic, made as an operator makes one; the receiver learns its
    secret from the answer."""
    topics = [arg for topic in WebhookTopic for arg in ("--topic", topic.value)]
    made = stageflow("webhook", "create", "--url", receiver.url, *topics, env=env)
    receiver.secret = next(
        line.split(": ", 1)[1] for line in made.splitlines() if line.startswith("secret: ")
    )


def deliveries(database_url: str) -> list[dict[str, Any]]:
    async def work() -> list[dict[str, Any]]:
        return await WebhookDeliveryRow.all().order_by("seq").values()

    return _db(database_url, work)  # type: ignore[no-any-return]


def new_deal(server: Server, name: str) -> str:
    record = graphql(server, CREATE, input={"entity": "opportunity", "name": name, "values": {}})
    record_id = record["createRecord"]["record"]["id"]  # type: ignore[index]
    started = graphql(server, START, input={"recordId": record_id})
    return started["startInstance"]["instance"]["id"]  # type: ignore[index,no-any-return]


def step(server: Server, instance: str, value: int) -> None:
    done = graphql(
        server,
        STEP,
        input={"instanceId": instance, "field": "estimated_budget", "value": value},
    )
    assert done["completeStep"]["__typename"] == "StepCompleted"  # type: ignore[index]


def kill(server: Server) -> None:
    server.process.send_signal(signal.SIGKILL)
    server.process.wait(timeout=15)


def test_a_change_committed_before_a_kill_is_delivered_after_the_restart_once(
    database_url: str, tmp_path: Path
) -> None:
    receiver = Receiver()
    receiver.port = free_port()
    server = start_server(database_url, tmp_path / "first.log", extra_env=ENV)
    try:
        register(server.env, receiver)
        instance = new_deal(server, "Killed")
        step(server, instance, 10)
        # Committed, not delivered (the receiver is not there): killed.
        wait_until(lambda: len(deliveries(database_url)) == 2, what="two deliveries planned")
    finally:
        kill(server)
    assert all(d["state"] == "PENDING" for d in deliveries(database_url))
    with receiving_in_thread(receiver):
        again = start_server(database_url, tmp_path / "second.log", extra_env=ENV)
        try:
            wait_until(
                lambda: all(d["state"] == "DELIVERED" for d in deliveries(database_url)),
                what="delivered after the restart",
            )
        finally:
            stop_server(again)
    assert [a.body["event"]["kind"] for a in receiver.arrivals] == [
        "INSTANCE_STARTED",
        "STEP_COMPLETED",
    ]
    assert all(a.signed for a in receiver.arrivals)
    assert len({a.delivery for a in receiver.arrivals}) == 2


@pytest.mark.postgres
def test_two_servers_deliver_each_event_once_per_webhook(database_url: str, tmp_path: Path) -> None:
    receivers = [Receiver(), Receiver()]
    with receiving_in_thread(receivers[0]), receiving_in_thread(receivers[1]):
        servers = [
            start_server(database_url, tmp_path / f"{n}.log", extra_env=ENV) for n in range(2)
        ]
        try:
            for receiver in receivers:
                register(servers[0].env, receiver)
            instances: list[str] = []

            def writer(n: int) -> None:
                server = servers[n % 2]
                instance = new_deal(server, f"Deal {n}")
                instances.append(instance)
                for value in (1, 2, 3):
                    step(servers[(n + value) % 2], instance, value)

            threads = [threading.Thread(target=writer, args=(n,)) for n in range(50)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            expected = 50 * 4
            for receiver in receivers:
                wait_until(
                    lambda r=receiver: len(r.arrivals) >= expected,
                    what="every delivery",
                )
            # A receiver has the body before its sender settles the try: wait for that too.
            wait_until(
                lambda: all(d["state"] == "DELIVERED" for d in deliveries(database_url)),
                what="every delivery settled",
            )
            planned = deliveries(database_url)
        finally:
            for server in servers:
                stop_server(server)
    assert len(planned) == 2 * expected
    assert all(d["state"] == "DELIVERED" for d in planned)
    for receiver in receivers:
        # Once each: no delivery id, and no event, arrived twice.
        assert len(receiver.arrivals) == expected
        assert len({a.delivery for a in receiver.arrivals}) == expected
        assert len({a.seq for a in receiver.arrivals}) == expected
        assert all(a.signed for a in receiver.arrivals)
        by_instance: dict[str, list[int]] = {}
        for arrival in receiver.arrivals:
            by_instance.setdefault(arrival.body["instance"]["id"], []).append(arrival.seq)
        assert sorted(by_instance) == sorted(instances)
        assert all(seqs == sorted(seqs) and len(seqs) == 4 for seqs in by_instance.values())


@pytest.mark.postgres
def test_a_server_killed_mid_delivery_hands_its_deliveries_over(
    database_url: str, tmp_path: Path
) -> None:
    receiver = Receiver()
    receiver.release.clear()  # hold every request: the first server's tries hang
    with receiving_in_thread(receiver):
        first = start_server(database_url, tmp_path / "first.log", extra_env=ENV)
        try:
            register(first.env, receiver)
            instances = [new_deal(first, f"Held {n}") for n in range(5)]
            wait_until(
                lambda: len(receiver.tries) == 0 and _leased(database_url) == 5,
                what="five deliveries leased and in flight",
            )
        finally:
            kill(first)
        receiver.release.set()
        second = start_server(database_url, tmp_path / "second.log", extra_env=ENV)
        try:
            wait_until(
                lambda: all(d["state"] == "DELIVERED" for d in deliveries(database_url)),
                what="the second server delivers what the first held",
            )
        finally:
            stop_server(second)
    delivered = deliveries(database_url)
    assert len(delivered) == 5
    assert all(d["attempts"] == 2 for d in delivered)
    counts = Counter(a.delivery for a in receiver.arrivals)
    assert set(counts) == {d["uid"] for d in delivered}
    assert {a.body["instance"]["id"] for a in receiver.arrivals} == set(instances)


def _leased(database_url: str) -> int:
    return sum(1 for d in deliveries(database_url) if d["lease"] is not None)


def _cut_every_connection(database_url: str) -> int:
    """Terminate every backend of the server's database, as a failover does."""

    async def cut() -> int:
        name = database_url.rsplit("/", 1)[1]
        conn = await asyncpg.connect(os.environ["STAGEFLOW_TEST_POSTGRES"])
        try:
            return int(
                await conn.fetchval(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                    " WHERE datname = $1 AND pid <> pg_backend_pid()",
                    name,
                )
            )
        finally:
            await conn.close()

    return asyncio.run(cut())


def _committed_topics(database_url: str) -> set[int]:
    """The seqs of the committed events a webhook for every topic hears of."""

    async def work() -> set[int]:
        rows = await EventRow.filter(instance_id__not_isnull=True).values_list("seq", "kind")
        return {int(seq) for seq, kind in rows if topics_of(Event(EventKind(kind), "", NOW))}

    return _db(database_url, work)  # type: ignore[no-any-return]


@pytest.mark.postgres
def test_deliveries_go_on_after_every_connection_is_cut(database_url: str, tmp_path: Path) -> None:
    receiver = Receiver()
    with receiving_in_thread(receiver):
        # Without the demo's records: every event with an instance comes after the webhook.
        server = start_server(database_url, tmp_path / "server.log", demo=False, extra_env=ENV)
        try:
            register(server.env, receiver)
            answers: list[int] = []

            def writer() -> None:
                # A request meeting a cut connection may be refused (503): what counts is
                # what committed, read back from the database below.
                for n in range(20):
                    values = {"entity": "opportunity", "name": f"Cut {n}", "values": {}}
                    made = post(server, CREATE, {"input": values}, token=server.token)
                    answers.append(0 if made.get("errors") else 1)
                    record = ((made.get("data") or {}).get("createRecord") or {}).get("record")
                    if record:
                        start = {"input": {"recordId": record["id"]}}
                        started = post(server, START, start, token=server.token)
                        answers.append(0 if started.get("errors") else 1)

            thread = threading.Thread(target=writer)
            thread.start()
            cuts = 0
            while thread.is_alive() and cuts < 5:
                time.sleep(0.3)
                cuts += 1
                assert _cut_every_connection(database_url) >= 1
            thread.join()
            committed = _committed_topics(database_url)
            assert committed and sum(answers) >= 1
            try:
                wait_until(
                    lambda: (
                        {a.seq for a in receiver.arrivals} >= committed
                        and all(d["state"] == "DELIVERED" for d in deliveries(database_url))
                    ),
                    what="every committed event delivered after the cuts",
                )
            except AssertionError:
                states = Counter(d["state"] for d in deliveries(database_url))
                missing = sorted(committed - {a.seq for a in receiver.arrivals})
                log = (tmp_path / "server.log").read_text()[-4000:]
                raise AssertionError(f"{states}; not arrived: {missing}\n{log}") from None
            ready = httpx.get(f"{server.url}/readyz", timeout=10)
        finally:
            stop_server(server)
    planned = deliveries(database_url)
    assert {d["seq"] for d in planned} == committed
    assert len({a.delivery for a in receiver.arrivals}) == len(committed)
    assert {a.seq for a in receiver.arrivals} == committed
    assert all(a.signed for a in receiver.arrivals)
    assert ready.status_code == 200, ready.text
