"""The webhook bench's load: STEP_COMPLETED events committed at a rate, by processes of their own.

`bench/webhooks.py` starts `--generators` of these, each with its own Tortoise connection
pool and its own slice of the instance pool, pacing its share of the rate. Each reads its
instances and their records first, tells "ready" on stdout, waits for "go" on stdin, commits
for the time given, and answers one JSON line: every committed event's seq and commit time
(the monotonic clock, which Linux shares between processes), the failed commits, when the
load began and ended, and the CPU it used meanwhile.

Two ways to commit, both writing each event as Stageflow writes one, on a real instance and
its record, so that each delivery's body is built from real rows:

- `services`: `server.services.instances.complete_step`, one transaction per event, as the
  API's `completeStep` commits.
- `batched` (the default): the same change decided by the process engine
  (`server.domain.instance.complete_step`) and written by the same single statement the
  service writes it with on PostgreSQL (`store.at_once`: the instance and record rows
  compare-and-set, the event numbered, stored and announced with pg_notify), `--batch` of
  them sent at once (asyncpg's executemany: pipelined, one transaction), their seqs read
  back afterwards. Every event is still a committed change with its own rows, seq
  and notification; what is shared is the COMMIT, the part of a change that a 2-core
  machine's PostgreSQL runs out of first (notifying commits are serialised), so that the
  load reaches the rate the sender is to be measured at. A commit's time is the
  transaction's, for every event in it.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from tortoise import Tortoise
from tortoise.connection import get_connection

from bench import seed
from server.db import store
from server.db.config import tortoise_config
from server.domain import instance as rules
from server.domain.instance import Instance
from server.domain.record import Record
from server.services import instances
from server.services.runtime import Runtime, utcnow

PATHS = ("batched", "services")
FIELD = "estimated_budget"
ACTOR = seed.BENCH_USER


class TokenBucket:
    """`rate` tokens a second, up to `burst` saved."""

    def __init__(self, rate: float, burst: float) -> None:
        self.rate, self.burst = rate, burst
        self.tokens, self.last = 0.0, time.monotonic()

    async def take(self) -> None:
        while True:
            now = time.monotonic()
            self.tokens = min(self.burst, self.tokens + (now - self.last) * self.rate)
            self.last = now
            if self.tokens >= 1:
                self.tokens -= 1
                return
            await asyncio.sleep((1 - self.tokens) / self.rate)


@dataclass
class Paced:
    started: float
    ended: float
    errors: int  # calls that raised


async def paced(
    *, rate: float, seconds: float, in_flight: int, fire: Callable[[int], Awaitable[None]]
) -> Paced:
    """Call `fire(n)` at `rate` for `seconds`, at most `in_flight` at once; a call the
    limit holds back is not made up for later (the rate reached is reported)."""
    bucket = TokenBucket(rate, burst=max(5.0, rate / 20))
    gate = asyncio.Semaphore(in_flight)
    tasks: set[asyncio.Task[None]] = set()
    errors = 0

    async def one(n: int) -> None:
        nonlocal errors
        try:
            await fire(n)
        except Exception:
            errors += 1
        finally:
            gate.release()

    started = time.monotonic()
    n = 0
    while True:
        await bucket.take()
        if time.monotonic() - started >= seconds:
            break
        await gate.acquire()
        task = asyncio.create_task(one(n))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        n += 1
    await asyncio.gather(*tasks)
    return Paced(started, time.monotonic(), errors)


class Generator:
    """One process's share of the load, on its own instances."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.pool: list[int] = [int(n) for n in args.instances.split(",")]
        self.rt = Runtime.create()
        self.rows: dict[int, tuple[Instance, Record]] = {}
        self.sent: list[tuple[int, float]] = []
        self.value = 1000
        self.failed = 0  # events of a batch that were not written

    async def read(self) -> None:
        """Each instance and its record as they are now; no one else writes them."""
        for instance_id in self.pool:
            instance, record = await store.get_instance_and_record(instance_id)
            self.rows[instance_id] = (instance, record)
            self.rt.written.put(instance, record)  # as a worker that wrote them last keeps

    def _next_value(self) -> int:
        self.value += 1
        return self.value

    async def one(self, n: int) -> None:
        """An event through the service, in a transaction of its own."""
        change = await instances.complete_step(
            self.rt,
            instance_id=self.pool[n % len(self.pool)],
            field=FIELD,
            value=self._next_value(),
            expected_version=None,
            by=seed.BENCH_USER,
        )
        self.sent.append((change.event.seq or 0, time.monotonic()))

    async def batch(self, n: int) -> None:
        """`--batch` events, each on its own instance and written by the statement the
        service writes one with, sent at once in one transaction (asyncpg's executemany:
        pipelined, all or nothing); then their seqs, read back."""
        size = self.args.batch
        ids = [self.pool[(n * size + k) % len(self.pool)] for k in range(size)]
        decided: dict[int, tuple[Instance, Record, dt.datetime]] = {}
        statements: dict[str, list[list[Any]]] = {}
        for instance_id in ids:
            instance, record = self.rows[instance_id]
            process = await self.rt.catalog.version(instance.process_id, instance.process_version)
            moved, updated, event = rules.complete_step(
                instance, process, record, FIELD, self._next_value(), now=utcnow(), by=ACTOR
            )
            sql, arguments = store.at_once((instance, moved), (record, updated), event)
            statements.setdefault(sql, []).append(arguments)
            decided[instance_id] = (moved, updated, event.at)
        client: Any = get_connection("default")
        async with client.acquire_connection() as connection:
            if len(statements) == 1:  # one round trip, a transaction of its own
                await connection.executemany(*statements.popitem())
            else:
                async with connection.transaction():
                    for sql, rows in statements.items():
                        await connection.executemany(sql, rows)
        done = time.monotonic()
        found = await client.execute_query_dict(
            'SELECT "instance_id", "at", "seq" FROM "event" WHERE "instance_id" = ANY($1)'
            ' AND "actor" = $2 AND "at" = ANY($3)',
            [ids, ACTOR, [at for _, _, at in decided.values()]],
        )
        seqs = {
            row["instance_id"]: int(row["seq"])
            for row in found
            if decided[row["instance_id"]][2] == row["at"]
        }
        for instance_id, (moved, updated, _) in decided.items():
            if instance_id in seqs:
                self.rows[instance_id] = (moved, updated)
            else:  # it moved on under the load (nothing written): read it again
                self.failed += 1
                self.rows[instance_id] = await store.get_instance_and_record(instance_id)
        self.sent += [(seq, done) for seq in seqs.values()]

    async def run(self) -> dict[str, Any]:
        args = self.args
        per_call = args.batch if args.path == "batched" else 1
        fire = self.batch if args.path == "batched" else self.one
        cpu = time.process_time()
        load = await paced(
            rate=args.rate / per_call, seconds=args.seconds, in_flight=args.in_flight, fire=fire
        )
        return {
            "sent": self.sent,
            "errors": load.errors * per_call + self.failed,
            "started": load.started,
            "ended": load.ended,
            "cpu_s": time.process_time() - cpu,
        }


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.commits")
    parser.add_argument("--url", required=True, help="the PostgreSQL database")
    parser.add_argument("--instances", required=True, help="ids, comma-separated")
    parser.add_argument("--rate", type=float, required=True, help="events a second")
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--in-flight", type=int, required=True, help="commits at once")
    parser.add_argument("--path", choices=PATHS, default="batched")
    parser.add_argument("--batch", type=int, default=10, help="events a transaction (batched)")
    return parser.parse_args(argv)


async def main(args: argparse.Namespace) -> None:
    await Tortoise.init(config=tortoise_config(args.url))
    try:
        generator = Generator(args)
        await generator.read()
        print("ready", flush=True)
        if (await asyncio.to_thread(sys.stdin.readline)).strip() != "go":
            return
        print(json.dumps(await generator.run()), flush=True)
    finally:
        await Tortoise.close_connections()


def spawn_args(url: str, ids: list[int], **options: Any) -> list[str]:
    """The command line of one generator."""
    line = [sys.executable, "-m", "bench.commits", "--url", url]
    line += ["--instances", ",".join(map(str, ids))]
    for name, value in options.items():
        line += [f"--{name.replace('_', '-')}", str(value)]
    return line


if __name__ == "__main__":
    asyncio.run(main(parse()))
