"""Webhook delivery from the event log, measured at a receiver, next to a bare sender.

Makes a PostgreSQL database (migrated and seeded by bench/seed.py, dropped afterwards),
starts a receiver in its own process (bench/receiver.py: checks each signature, records
each arrival) and `stageflow serve --workers N` with one webhook for every topic pointing
at it. Then, in interleaved rounds (stageflow, bare, stageflow, bare, ...):

- stageflow: `--generators` load processes (bench/commits.py), each with its own
  connection pool and slice of a pool of started instances, commit STEP_COMPLETED events
  at a share of the target rate for `--seconds`, paced by token buckets; the servers plan,
  lease, sign and POST them. By default (`--commit-path batched`) each event is decided by
  the process engine and written by the very statement `complete_step` writes it with on
  PostgreSQL (instance and record compare-and-set, event numbered, stored and notified),
  `--batch` events to a transaction: every event is a committed change of real rows, with
  its own seq and notification, that the sender must deliver, and a body built from those
  rows; only the COMMITs are shared. One `complete_step` per transaction
  (`--commit-path services`) tops out below 1,000 a second on a 2-core machine, where
  notifying commits queue behind each other and behind the servers' own work, so the
  sender would never see the target. A commit's time is when its transaction committed,
  taken in its generator.
- bare: a minimal sender in this process POSTs, at the same rate, a body like a real
  delivery's (the last one received, with its own delivery id and seq), signed the same
  way, with the same headers; by default over a new connection per POST, as Stageflow's
  sender does (`--bare-keep-alive`: over kept-alive connections). Its commit time is when
  the send was due.

Each round starts once no delivery is pending, and then waits (up to `--drain-timeout`)
until every event has arrived. While a round runs, the delivery tables are analyzed every
10 s, as autovacuum would (a test machine's PostgreSQL may run without it; statistics
taken while the tables were empty make the senders' statements slow down as they grow:
`--no-analyze` leaves them as they are).

Measured at the receiver: deliveries/s from the first arrival to the last, commit-to-receipt
latency (the monotonic clock, which Linux shares between processes), duplicates (a delivery
id seen again), missing (committed, never received; those still pending in the database at
the end are told apart: a backlog, not a loss). CPU per delivery of each group of processes
(stageflow serve, the database's backends, this process with the load generators, the
receiver) from /proc and the generators' own counts. Per
subject: min/median/max over rounds; the ratio is stageflow ÷ bare per pair of rounds.
Writes `<out>/webhooks.json`.

The machine's load average (1 minute) is written at the start, at each round's start and
at the end: the bench shares its CPUs with the servers, PostgreSQL and the receiver, and
with whatever else runs there.

Run: `.venv/bin/python -m bench.webhooks [--rate 1000] [--seconds 20] [--rounds 3]
[--workers 2] [--generators 2] [--commit-path batched|services] [--batch 10]`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from tortoise import Tortoise
from tortoise.connection import get_connection

from bench import commits, seed, servers
from bench.receiver import FIELDS, SECRET_ENV
from bench.run import _admin, _database_url
from server.db import store, transaction
from server.db.config import tortoise_config
from server.domain.events import Event, EventKind
from server.domain.webhook import SIGNATURE_HEADER, WebhookTopic, new_secret, signature
from server.services import instances
from server.services.runtime import Runtime

RESULTS = Path(__file__).resolve().parent / "results"
SUBJECTS = ("stageflow", "bare")
# The figures a ratio is given for (stageflow ÷ bare); the counts have none.
RATIOS = ("committed_per_s", "deliveries_per_s", "latency_p50_ms", "latency_p99_ms")
RATIOS += ("latency_max_ms",)
_BARE_TIME = "; bare: when the send was due"
COMMIT_TIME = {
    "batched": "stageflow: when the transaction holding the event committed, in its load"
    " generator" + _BARE_TIME,
    "services": "stageflow: when complete_step returned in its load generator, after its"
    " transaction committed" + _BARE_TIME,
}
LOAD_PATHS = {
    "batched": "each event decided by the process engine and written by the statement"
    " complete_step writes with on PostgreSQL (store.at_once: instance and record"
    " compare-and-set, event numbered, stored and notified), several to a transaction:"
    " every event a committed change of real rows, the COMMITs shared",
    "services": "server.services.instances.complete_step, one transaction per event",
}


TICK = os.sysconf("SC_CLK_TCK")
ANALYZE_SECONDS = 10.0


def _cpu(pid: int) -> float:
    """CPU seconds a process has used (user and system), 0 if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


def _children(pid: int) -> list[int]:
    """A process and all its descendants."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
            parents.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        found.append(todo.pop())
        todo += parents.get(found[-1], [])
    return found


@dataclass
class Arrival:
    mono: float
    wall: float
    delivery: str
    seq: int
    signed: bool
    size: int


@dataclass
class Round:
    subject: str
    n: int
    sent: dict[int, float] = field(default_factory=dict)  # seq: commit time (monotonic)
    errors: int = 0
    load_seconds: float = 0.0
    load_ended: float = 0.0
    cpu: dict[str, float] = field(default_factory=dict)  # seconds used, by process group
    load_average: float = 0.0  # the machine's, over the minute before the round began


class BareSender:
    """POSTs as Stageflow's sender writes them, with nothing behind: no database."""

    def __init__(self, url: str, *, keep_alive: bool) -> None:
        parts = httpx.URL(url)
        self.host, self.port, self.path = parts.host, parts.port or 80, parts.path
        self.netloc = f"{self.host}:{self.port}"
        self.keep_alive = keep_alive
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def post(self, body: bytes, headers: dict[str, str]) -> int:
        if self.keep_alive and self.idle:
            reader, writer = self.idle.pop()
        else:
            reader, writer = await asyncio.open_connection(self.host, self.port)
        lines = [
            f"POST {self.path} HTTP/1.1",
            f"Host: {self.netloc}",
            "User-Agent: Stageflow-Webhooks/1",
            "Content-Type: application/json",
            f"Content-Length: {len(body)}",
            "Connection: " + ("keep-alive" if self.keep_alive else "close"),
            *(f"{name}: {value}" for name, value in headers.items()),
        ]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        await reader.readexactly(length)
        if self.keep_alive:
            self.idle.append((reader, writer))
        else:
            writer.close()
            await writer.wait_closed()
        return status

    async def close(self) -> None:
        for _, writer in self.idle:
            writer.close()
        self.idle.clear()


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.folder = Path(tempfile.mkdtemp(prefix="stageflow-bench-webhooks-"))
        self.secret = new_secret()
        self.port = servers.free_port()
        self.hook_url = f"http://127.0.0.1:{self.port}/hook"
        self.http = httpx.AsyncClient(base_url=f"http://127.0.0.1:{self.port}", timeout=30)
        self.seen = 0  # arrivals read from the receiver so far
        self.pool: list[int] = []
        self.sample: dict[str, Any] = {}
        self.rt: Runtime | None = None
        self.processes: dict[str, int] = {}  # process group: the pid at its root
        self.postgres: dict[str, Any] = {}
        self.url = ""
        self.load_at_start = os.getloadavg()[0]
        self.generators: list[asyncio.subprocess.Process] = []

    async def cpu_now(self) -> dict[int, tuple[str, float]]:
        """CPU seconds used so far by each process measured, by pid: the bench itself, the
        receiver, stageflow's processes, and the database's backends."""
        rows = await get_connection("default").execute_query_dict(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
        )
        groups = {"bench": [os.getpid()], "postgres": [int(row["pid"]) for row in rows]}
        for group, root in self.processes.items():
            groups[group] = _children(root)
        return {pid: (group, _cpu(pid)) for group, pids in groups.items() for pid in pids}

    async def measured(self, rnd: Round, work: Awaitable[list[Arrival]]) -> list[Arrival]:
        """What `work` returns, with the CPU each group of processes used meanwhile."""
        before = await self.cpu_now()
        got = await work
        after = await self.cpu_now()
        for pid, (group, used) in after.items():
            rnd.cpu[group] = rnd.cpu.get(group, 0.0) + used - before.get(pid, (group, 0.0))[1]
        return got

    # The receiver, in its own process.

    def start_receiver(self) -> subprocess.Popen[bytes]:
        log = (self.folder / "receiver.log").open("wb")
        process = subprocess.Popen(
            [sys.executable, "-m", "bench.receiver", "--port", str(self.port)],
            cwd=servers.ROOT,
            env={**os.environ, SECRET_ENV: self.secret},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/arrivals?after=0").is_success:
                    return process
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the receiver did not start")
            time.sleep(0.05)

    async def arrivals(self) -> list[Arrival]:
        """What arrived since the last call."""
        answer = (await self.http.get("/arrivals", params={"after": self.seen})).json()
        assert tuple(answer["fields"]) == FIELDS
        got = [Arrival(*row) for row in answer["arrivals"]]
        self.seen += len(got)
        return got

    async def drain(self, rnd: Round) -> list[Arrival]:
        """Every arrival until each event sent has come, or the time allowed has passed."""
        got: list[Arrival] = []
        arrived: set[int] = set()
        deadline = time.monotonic() + self.args.drain_timeout
        while True:
            new = await self.arrivals()
            got += new
            arrived.update(a.seq for a in new)
            if arrived >= rnd.sent.keys() or time.monotonic() > deadline:
                await asyncio.sleep(0.5)  # a late repeat is counted too
                return got + await self.arrivals()
            await asyncio.sleep(0.1)

    async def load_and_drain(
        self, rnd: Round, load: Callable[[Round], Awaitable[None]]
    ) -> list[Arrival]:
        analyzing = asyncio.create_task(self.keep_analyzing()) if self.args.analyze else None
        try:
            await load(rnd)
            return await self.drain(rnd)
        finally:
            if analyzing is not None:
                analyzing.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await analyzing

    async def keep_analyzing(self) -> None:
        """ANALYZE the delivery tables every ANALYZE_SECONDS, as autovacuum would once a
        tenth of a table changed."""
        while True:
            await asyncio.sleep(ANALYZE_SECONDS)
            await self.analyze()

    async def clear_backlog(self) -> int:
        """Wait (up to the drain's time) until no delivery is pending, so that a round
        starts on an empty queue; what arrives meanwhile is dropped. Those still pending."""
        deadline = time.monotonic() + self.args.drain_timeout
        while (left := await self.pending()) and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
        await self.arrivals()
        return left

    async def analyze(self) -> None:
        """The delivery tables' statistics taken afresh, as autovacuum would have (a test
        machine's PostgreSQL may run without it): planned while they were empty, the
        senders' statements slow down as the tables grow."""
        await get_connection("default").execute_script(
            "ANALYZE webhook_delivery; ANALYZE webhook_attempt"
        )

    async def autovacuum(self) -> str:
        rows = await get_connection("default").execute_query_dict("SHOW autovacuum")
        return str(rows[0]["autovacuum"])

    async def pending(self) -> int:
        """Deliveries still waiting to be sent: a backlog the drain's time did not clear."""
        rows = await get_connection("default").execute_query_dict(
            "SELECT COUNT(*) AS n FROM webhook_delivery WHERE state = 'PENDING'"
        )
        return int(rows[0]["n"])

    # The subjects.

    async def start_generators(self) -> list[asyncio.subprocess.Process]:
        """The load's processes (bench/commits.py), each on its own slice of the instance
        pool, started and ready (instances read, connections open) before a round begins."""
        args = self.args
        count = args.generators
        batch = args.batch if args.commit_path == "batched" else 1
        started = []
        for g in range(count):
            ids = self.pool[g::count]
            # No two transactions in flight take one instance: each has its own.
            in_flight = min(-(-args.in_flight // count), len(ids) // batch)
            if in_flight < 1:
                raise SystemExit("too few instances for the generators and the batch")
            line = commits.spawn_args(
                self.url,
                ids,
                rate=args.rate / count,
                seconds=args.seconds,
                in_flight=in_flight,
                path=args.commit_path,
                batch=args.batch,
            )
            log = (self.folder / f"generator-{g}.log").open("ab")
            started.append(
                await asyncio.create_subprocess_exec(
                    *line,
                    cwd=servers.ROOT,
                    stdin=asyncio.subprocess.PIPE,
                    stdout=asyncio.subprocess.PIPE,
                    stderr=log,
                    limit=2**28,  # the answer is one line of every commit
                )
            )
        for process in started:
            assert process.stdout is not None
            if (await process.stdout.readline()).strip() != b"ready":
                raise RuntimeError(f"a load generator did not start (see {self.folder})")
        return started

    async def stageflow_round(self, rnd: Round) -> None:
        """Each generator told to go at once; their commits gathered."""
        generators, self.generators = self.generators, []
        for process in generators:
            assert process.stdin is not None
            process.stdin.write(b"go\n")
            await process.stdin.drain()
        answers = []
        for process in generators:
            assert process.stdout is not None
            answers.append(json.loads(await process.stdout.readline()))
            await process.wait()
        for answer in answers:
            rnd.sent.update((int(seq), float(at)) for seq, at in answer["sent"])
            rnd.errors += int(answer["errors"])
            rnd.cpu["bench"] = rnd.cpu.get("bench", 0.0) + float(answer["cpu_s"])
        started = min(float(a["started"]) for a in answers)
        rnd.load_ended = max(float(a["ended"]) for a in answers)
        rnd.load_seconds = rnd.load_ended - started

    async def bare_round(self, rnd: Round) -> None:
        sender = BareSender(self.hook_url, keep_alive=self.args.bare_keep_alive)
        first_seq = 10**12 + rnd.n * 10**9  # apart from any real event's seq
        sample = self.sample

        async def fire(n: int) -> None:
            due = time.monotonic()
            seq = first_seq + n
            uid = str(uuid.uuid4())
            payload = {**sample, "id": uid, "event": {**sample["event"], "seq": seq}}
            body = json.dumps(payload, separators=(",", ":"), default=str).encode()
            stamp = int(time.time())
            headers = {
                "Stageflow-Delivery": uid,
                "Stageflow-Event-Seq": str(seq),
                "Stageflow-Timestamp": str(stamp),
                "Stageflow-Webhook-Id": "1",
                SIGNATURE_HEADER: signature(self.secret, timestamp=stamp, body=body),
            }
            rnd.sent[seq] = due
            if await sender.post(body, headers) != 200:
                raise RuntimeError("the receiver refused a bare POST")

        try:
            await self.run_load(rnd, fire)
        finally:
            await sender.close()

    async def run_load(self, rnd: Round, fire: Callable[[int], Awaitable[None]]) -> None:
        load = await commits.paced(
            rate=self.args.rate,
            seconds=self.args.seconds,
            in_flight=self.args.in_flight,
            fire=fire,
        )
        rnd.errors += load.errors
        rnd.load_ended = load.ended
        rnd.load_seconds = load.ended - load.started

    # Setting up.

    async def register(self) -> None:
        """A webhook for every topic, as the registry stores one; the servers hear of it."""

        async def work() -> None:
            now = dt.datetime.now(dt.UTC)
            await get_connection("default").execute_query(
                "INSERT INTO webhook (url, description, secret, topics, process_ids, stages,"
                " entities, status, failures, since_seq, version, created_by, created_at,"
                " updated_at) VALUES ($1, '', $2, $3, '[]', '[]', '[]', 'ACTIVE', 0, $4, 1,"
                " $5, $6, $6)",
                [
                    self.hook_url,
                    self.secret,
                    json.dumps(sorted(t.value for t in WebhookTopic)),
                    await store.last_seq(),
                    seed.BENCH_USER,
                    now,
                ],
            )
            await store.append_event(
                Event(EventKind.WEBHOOK_CREATED, seed.BENCH_USER, now, after={"url": self.hook_url})
            )

        await transaction.run(work)

    async def warm_up(self) -> None:
        """A few deliveries end to end, so connections are open and a body is at hand."""
        rnd = Round("warm-up", -1)
        for n in range(min(20, len(self.pool))):
            change = await instances.complete_step(
                self.rt,  # type: ignore[arg-type]
                instance_id=self.pool[n],
                field="estimated_budget",
                value=999,
                expected_version=None,
                by=seed.BENCH_USER,
            )
            rnd.sent[change.event.seq or 0] = time.monotonic()
        got = await self.drain(rnd)
        if not {a.seq for a in got} >= rnd.sent.keys():
            raise RuntimeError("the warm-up's deliveries did not all arrive")
        self.sample = (await self.http.get("/sample")).json()

    async def run(self) -> dict[str, Any]:
        args = self.args
        name = f"stageflow_bench_webhooks_{uuid.uuid4().hex[:8]}"
        await _admin(args.admin_url, f'CREATE DATABASE "{name}"')
        url = self.url = _database_url(args.admin_url, name)
        receiver = server = None
        rounds: list[tuple[Round, dict[str, Any]]] = []
        try:
            data = await seed.create(url, copies=max(100, args.instances * 10))
            self.pool = data.instances_like(0, args.instances)
            receiver = self.start_receiver()
            self.processes["receiver"] = receiver.pid
            env = {
                "STAGEFLOW_WEBHOOK_ALLOW_PRIVATE": "1",
                "STAGEFLOW_WEBHOOK_CONCURRENCY": str(args.concurrency),
            }
            server = servers.stageflow(
                url, self.folder / "server.log", workers=args.workers, cpu=None, env=env
            )
            self.processes["stageflow"] = server.process.pid
            await Tortoise.init(config=tortoise_config(url))
            self.rt = Runtime.create()
            await self.register()
            await self.warm_up()
            self.postgres = {"autovacuum": await self.autovacuum(), "analyzed": args.analyze}
            for n in range(args.rounds):
                for subject in SUBJECTS:
                    rnd = Round(subject, n)
                    left = await self.clear_backlog()
                    if args.analyze:
                        await self.analyze()
                    load = self.bare_round
                    if subject == "stageflow":
                        load = self.stageflow_round
                        self.generators = await self.start_generators()
                    rnd.load_average = os.getloadavg()[0]
                    got = await self.measured(rnd, self.load_and_drain(rnd, load))
                    figures = measure(rnd, got)
                    figures["pending_at_start"] = left
                    figures["pending_at_end"] = await self.pending()
                    rounds.append((rnd, figures))
                    print(f"round {n + 1} {subject}: " + _brief(figures), flush=True)
        finally:
            for process in self.generators:
                process.kill()
                await process.wait()
            await self.http.aclose()
            await Tortoise.close_connections()
            if server is not None:
                server.stop()
            if receiver is not None:
                receiver.send_signal(signal.SIGINT)
                receiver.wait(timeout=15)
            if args.keep:
                print(f"kept: database {name}, logs in {self.folder}")
            else:
                await _admin(args.admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                shutil.rmtree(self.folder, ignore_errors=True)
        return {**summary(args, rounds, self.load_at_start), "postgres": self.postgres}


def _percentile(ordered: list[float], q: float) -> float:
    """Nearest rank."""
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered) + 0.5) - 1))]


def measure(rnd: Round, got: list[Arrival]) -> dict[str, Any]:
    """One round's figures, from what arrived of what was sent."""
    mine = [a for a in got if a.seq in rnd.sent]
    first: dict[int, Arrival] = {}
    for arrival in mine:
        first.setdefault(arrival.seq, arrival)
    ids = Counter(a.delivery for a in mine)
    ids_per_seq = Counter(seq for seq, _ in {(a.seq, a.delivery) for a in mine})
    latencies = sorted((a.mono - rnd.sent[seq]) * 1000 for seq, a in first.items())
    times = sorted(a.mono for a in first.values())
    span = times[-1] - times[0] if len(times) > 1 else 0.0
    cpu = {
        f"cpu_ms_per_delivery_{group}": used * 1000 / len(first) if first else 0.0
        for group, used in sorted(rnd.cpu.items())
    }
    return {
        **cpu,
        "committed": len(rnd.sent),
        "committed_per_s": len(rnd.sent) / rnd.load_seconds if rnd.load_seconds else 0.0,
        "load_errors": rnd.errors,
        "delivered": len(first),
        "deliveries_per_s": (len(first) - 1) / span if span > 0 else 0.0,
        "latency_p50_ms": _percentile(latencies, 0.50),
        "latency_p99_ms": _percentile(latencies, 0.99),
        "latency_max_ms": latencies[-1] if latencies else 0.0,
        "drain_s": max(0.0, times[-1] - rnd.load_ended) if times else 0.0,
        "duplicates": sum(count - 1 for count in ids.values()),
        "events_delivered_twice": sum(1 for count in ids_per_seq.values() if count > 1),
        "missing": len(rnd.sent) - len(first),
        "unsigned": sum(1 for a in mine if not a.signed),
        "body_bytes": statistics.median(a.size for a in mine) if mine else 0,
        "stray": len(got) - len(mine),
        "load_average_1m_at_start": rnd.load_average,
    }


def summary(
    args: argparse.Namespace, rounds: list[tuple[Round, dict[str, Any]]], load_at_start: float
) -> dict[str, Any]:
    subjects: dict[str, Any] = {}
    for subject in SUBJECTS:
        per_round = [figures for rnd, figures in rounds if rnd.subject == subject]
        subjects[subject] = {
            "rounds": per_round,
            "figures": {key: _spread([r[key] for r in per_round]) for key in per_round[0]},
        }
    ratio: dict[str, Any] = {}
    pairs = list(zip(subjects["stageflow"]["rounds"], subjects["bare"]["rounds"], strict=True))
    for key in RATIOS:
        values = [ours[key] / bare[key] for ours, bare in pairs if bare[key] > 0]
        if values:
            ratio[key] = {**_spread(values), "rounds": values}
    return {
        "bench": "webhooks",
        "rate": args.rate,
        "seconds": args.seconds,
        "rounds": args.rounds,
        "workers": args.workers,
        "concurrency_per_worker": args.concurrency,
        "instances": args.instances,
        "in_flight": args.in_flight,
        "load": {
            "generators": args.generators,
            "path": args.commit_path,
            "events_per_transaction": args.batch if args.commit_path == "batched" else 1,
            "how": LOAD_PATHS[args.commit_path],
        },
        "bare_connections": "keep-alive" if args.bare_keep_alive else "new per POST",
        "commit_time": COMMIT_TIME[args.commit_path],
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_at_start": load_at_start,
            "load_average_at_end": os.getloadavg()[0],
        },
        "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "subjects": subjects,
        "ratio": ratio,
    }


def _spread(values: list[float]) -> dict[str, float]:
    return {"min": min(values), "median": statistics.median(values), "max": max(values)}


def _brief(f: dict[str, Any]) -> str:
    return (
        f"{f['committed_per_s']:.0f} committed/s, {f['deliveries_per_s']:.0f} delivered/s,"
        f" p50 {f['latency_p50_ms']:.1f} ms, p99 {f['latency_p99_ms']:.1f} ms,"
        f" max {f['latency_max_ms']:.0f} ms, {f['duplicates']} duplicates,"
        f" {f['missing']} missing"
    )


ROWS: list[tuple[str, str | None, str]] = [
    ("committed events/s", "committed_per_s", "{:.0f}"),
    ("deliveries/s", "deliveries_per_s", "{:.0f}"),
    ("latency p50 (ms)", "latency_p50_ms", "{:.1f}"),
    ("latency p99 (ms)", "latency_p99_ms", "{:.1f}"),
    ("latency max (ms)", "latency_max_ms", "{:.0f}"),
    ("drain after load (s)", "drain_s", "{:.2f}"),
    ("duplicates", "duplicates", "{:.0f}"),
    ("missing", "missing", "{:.0f}"),
    ("  still pending at end", "pending_at_end", "{:.0f}"),
    ("pending at start", "pending_at_start", "{:.0f}"),
    ("unsigned", "unsigned", "{:.0f}"),
    ("body (bytes)", "body_bytes", "{:.0f}"),
    ("load average at start", "load_average_1m_at_start", "{:.1f}"),
    ("CPU ms per delivery:", None, ""),
    ("  stageflow serve", "cpu_ms_per_delivery_stageflow", "{:.2f}"),
    ("  postgres (all backends)", "cpu_ms_per_delivery_postgres", "{:.2f}"),
    ("  bench (load or sender)", "cpu_ms_per_delivery_bench", "{:.2f}"),
    ("  receiver", "cpu_ms_per_delivery_receiver", "{:.2f}"),
]


def render(results: dict[str, Any]) -> str:
    def cell(spread: dict[str, float], fmt: str) -> str:
        low, high = fmt.format(spread["min"]), fmt.format(spread["max"])
        return f"{fmt.format(spread['median'])} ({low}..{high})"

    lines = [
        f"webhook delivery: target {results['rate']:g} events/s for {results['seconds']:g} s,"
        f" {results['rounds']} interleaved rounds; stageflow --workers {results['workers']}"
        f" (concurrency {results['concurrency_per_worker']} each); bare sender: connection"
        f" {results['bare_connections']}",
        f"load: {results['load']['generators']} generators, {results['load']['how']}",
        f"commit time: {results['commit_time']}",
        "load average (1 min): {:.1f} at start, {:.1f} at end".format(
            results["machine"]["load_average_at_start"], results["machine"]["load_average_at_end"]
        ),
        "median (min..max) over rounds",
        f"{'':<22}{'stageflow':>26}{'bare':>26}{'stageflow ÷ bare':>26}",
    ]
    for label, key, fmt in ROWS:
        if key is None:
            lines.append(label)
            continue
        ours = results["subjects"]["stageflow"]["figures"][key]
        bare = results["subjects"]["bare"]["figures"][key]
        ratio = results["ratio"].get(key)
        shown = cell(ratio, "{:.2f}") if ratio else ""
        lines.append(f"{label:<22}{cell(ours, fmt):>26}{cell(bare, fmt):>26}{shown:>26}")
    return "\n".join(lines)


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.webhooks", description=(__doc__ or "").split("\n\n")[0]
    )
    parser.add_argument("--rate", type=float, default=1000, help="events a second")
    parser.add_argument("--seconds", type=float, default=20, help="of load per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2, help="stageflow serve --workers")
    parser.add_argument(
        "--concurrency", type=int, default=16, help="STAGEFLOW_WEBHOOK_CONCURRENCY per worker"
    )
    parser.add_argument("--instances", type=int, default=2000, help="the load's instance pool")
    parser.add_argument(
        "--in-flight",
        type=int,
        default=32,
        help="the most transactions (or bare POSTs) at once, shared by the generators",
    )
    parser.add_argument(
        "--generators", type=int, default=2, help="load processes, each pacing rate/N"
    )
    parser.add_argument(
        "--commit-path",
        choices=commits.PATHS,
        default="batched",
        help="how the load commits (bench/commits.py)",
    )
    parser.add_argument(
        "--batch", type=int, default=10, help="events a transaction on the batched path"
    )
    parser.add_argument("--bare-keep-alive", action="store_true")
    parser.add_argument("--drain-timeout", type=float, default=120)
    parser.add_argument("--keep", action="store_true", help="keep the database and logs")
    parser.add_argument(
        "--no-analyze",
        dest="analyze",
        action="store_false",
        help="leave the delivery tables' statistics to autovacuum (if it runs)",
    )
    parser.add_argument(
        "--admin-url",
        default=os.environ.get("PG_ADMIN_URL", "postgres://postgres@127.0.0.1:5432/postgres"),
        help="a PostgreSQL URL that may create and drop databases",
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    return parser.parse_args(argv)


async def main(args: argparse.Namespace) -> None:
    results = await Bench(args).run()
    print()
    print(render(results))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "webhooks.json").write_text(
        json.dumps(results, indent=1, ensure_ascii=False) + "\n"
    )


if __name__ == "__main__":
    asyncio.run(main(parse()))
