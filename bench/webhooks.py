"""Webhook delivery from the event log, measured at a receiver, next to a bare sender.

Makes a PostgreSQL database (migrated and seeded by bench/seed.py, dropped afterwards),
starts a receiver in its own process (bench/receiver.py: checks each signature, records
each arrival) and `stageflow serve --workers N` with one webhook for every topic pointing
at it. Then, in interleaved rounds (stageflow, bare, stageflow, bare, ...):

- stageflow: this process commits STEP_COMPLETED events through the services
  (`complete_step` on a pool of started instances, round robin, so no two calls in flight
  touch one instance) at the target rate for `--seconds`, paced by a token bucket; the
  servers plan, lease, sign and POST them. A commit's time is when `complete_step`
  returned here, after its transaction committed.
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
(stageflow serve, the database's backends, this process, the receiver) from /proc. Per
subject: min/median/max over rounds; the ratio is stageflow ÷ bare per pair of rounds.
Writes `<out>/webhooks.json`.

Run: `.venv/bin/python -m bench.webhooks [--rate 1000] [--seconds 20] [--rounds 3]
[--workers 2]`.
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

from bench import seed, servers
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
COMMIT_TIME = (
    "stageflow: when complete_step returned in the bench process, after its transaction"
    " committed; bare: when the send was due"
)


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


async def paced(
    rnd: Round,
    *,
    rate: float,
    seconds: float,
    in_flight: int,
    fire: Callable[[int], Awaitable[None]],
) -> None:
    """Call `fire(n)` at `rate` for `seconds`, at most `in_flight` at once; a call the
    limit holds back is not made up for later (the rate reached is reported)."""
    bucket = TokenBucket(rate, burst=max(5.0, rate / 20))
    gate = asyncio.Semaphore(in_flight)
    tasks: set[asyncio.Task[None]] = set()

    async def one(n: int) -> None:
        try:
            await fire(n)
        except Exception:
            rnd.errors += 1
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
    rnd.load_ended = time.monotonic()
    rnd.load_seconds = rnd.load_ended - started


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

    async def stageflow_round(self, rnd: Round) -> None:
        assert self.rt is not None
        rt, pool = self.rt, self.pool

        async def fire(n: int) -> None:
            change = await instances.complete_step(
                rt,
                instance_id=pool[n % len(pool)],
                field="estimated_budget",
                value=1000 + n,
                expected_version=None,
                by=seed.BENCH_USER,
            )
            rnd.sent[change.event.seq or 0] = time.monotonic()

        await self.run_load(rnd, fire)

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
        await paced(
            rnd,
            rate=self.args.rate,
            seconds=self.args.seconds,
            in_flight=self.args.in_flight,
            fire=fire,
        )

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
        url = _database_url(args.admin_url, name)
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
                    load = self.stageflow_round if subject == "stageflow" else self.bare_round
                    got = await self.measured(rnd, self.load_and_drain(rnd, load))
                    figures = measure(rnd, got)
                    figures["pending_at_start"] = left
                    figures["pending_at_end"] = await self.pending()
                    rounds.append((rnd, figures))
                    print(f"round {n + 1} {subject}: " + _brief(figures), flush=True)
        finally:
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
        return {**summary(args, rounds), "postgres": self.postgres}


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
    }


def summary(args: argparse.Namespace, rounds: list[tuple[Round, dict[str, Any]]]) -> dict[str, Any]:
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
        "bare_connections": "keep-alive" if args.bare_keep_alive else "new per POST",
        "commit_time": COMMIT_TIME,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
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
        f"commit time: {results['commit_time']}",
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
        "--in-flight", type=int, default=32, help="the most commits (or bare POSTs) at once"
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
