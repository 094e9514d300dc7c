"""`make bench`: Stageflow next to two peers, PostGraphile 4 and a bare Starlette + asyncpg
app, on PostgreSQL, in one run; a few figures on SQLite too.

The bench makes its own databases (and drops them), seeds them through Stageflow and SQL
(bench/seed.py), starts every server on a free port, and drives each with wrk: 16
connections (one per wrk thread), in interleaved rounds, every subject of a group once
per round. Each server measured under load runs pinned to core 1 and wrk to core 0
(`taskset`); PostgreSQL is not pinned, nor are the `--workers` servers. Figures are
ratios of subjects measured in the same rounds; statements are counted on the wire by a
proxy (bench/wire.py). Figures 4b and 4c run a locked change's transaction from pgbench,
with no server (bench/numbering.py). Results go to bench/results/latest.json and
latest.svg.

Run: `make bench`, or `.venv/bin/python -m bench [--quick] [--rounds N] [--seconds S] [--warm S]`.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from bench import chart, numbering, report, seed, servers, workload
from bench.measure import ensure_wrk, rounds, statements
from bench.servers import Server
from bench.wire import CountingProxy
from bench.workload import Figure, Subject

RESULTS = Path(__file__).resolve().parent / "results"
FULL = {"main": 1_000, "records": 100_000, "page_small": 10_000, "page_large": 1_000_000}
QUICK = {"main": 200, "records": 2_000, "page_small": 1_000, "page_large": 10_000}


def _size(n: int) -> str:
    """1000000 as 1M, 10000 as 10k."""
    if n >= 1_000_000 and n % 1_000_000 == 0:
        return f"{n // 1_000_000}M"
    return f"{n // 1000}k" if n % 1000 == 0 else str(n)


def figures(sizes: dict[str, int]) -> list[Figure]:
    small, large = _size(sizes["page_small"]), _size(sizes["page_large"])
    few, many = _size(sizes["main"]), _size(sizes["records"])
    out = [
        Figure(
            "1a",
            "bar read of 1 instance: Stageflow ÷ PostGraphile (same rows)",
            "stageflow.read",
            "postgraphile.read",
        ),
        Figure(
            "1b",
            "bar read of 1 instance: Stageflow ÷ bare Starlette + asyncpg",
            "stageflow.read",
            "bare.read",
        ),
        Figure(
            "1c",
            "bar read run in full (no kept answers): Stageflow ÷ PostGraphile",
            "stageflow.read.full",
            "postgraphile.read",
        ),
        Figure(
            "1d",
            "bar read run in full (no kept answers): Stageflow ÷ bare",
            "stageflow.read.full",
            "bare.read",
        ),
        Figure(
            "2a",
            "completeStep ÷ PostGraphile one-row update by id",
            "stageflow.write",
            "postgraphile.write",
        ),
        Figure(
            "2b",
            "completeStep ÷ bare transaction (same statements)",
            "stageflow.write",
            "bare.write",
        ),
        Figure(
            "3a",
            f"page of 50 active in one stage: {large} ÷ {small} instances",
            "stageflow.page.large",
            "stageflow.page.small",
        ),
        Figure(
            "3b",
            f"same page with totalCount: {large} ÷ {small} instances",
            "stageflow.count.large",
            "stageflow.count.small",
        ),
        Figure(
            "3c",
            f"at {large}: page with totalCount ÷ without",
            "stageflow.count.large",
            "stageflow.page.large",
        ),
        Figure(
            "4",
            "completeStep: 16 writers on 16 instances ÷ 1 writer",
            "stageflow.write",
            "stageflow.write.1",
        ),
        Figure(
            "4d",
            "the peers alike: PostGraphile, 16 writers on 16 rows ÷ 1 writer",
            "postgraphile.write",
            "postgraphile.write.1",
        ),
        Figure(
            "4e",
            "the peers alike: bare, 16 writers on 16 instances ÷ 1 writer",
            "bare.write",
            "bare.write.1",
        ),
        Figure(
            "4b",
            "a locked change's transaction, database alone: 16 clients ÷ 1 (pgbench)",
            "numbering.sequence.16",
            "numbering.sequence.1",
        ),
        Figure(
            "4c",
            "the same, 16 clients: Stageflow's numbering ÷ one counter row",
            "numbering.sequence.16",
            "numbering.counter.16",
        ),
        Figure(
            "5",
            "completeStep: 16 writers on 1 instance ÷ 16 on 16",
            "stageflow.write.one",
            "stageflow.write",
        ),
        Figure(
            "6a",
            "bar read run in full: serve --workers 2 ÷ --workers 1 (unpinned)",
            "stageflow.read.workers2.full",
            "stageflow.read.workers1.full",
        ),
        Figure(
            "6b",
            "bar read: serve --workers 2 ÷ --workers 1 (unpinned)",
            "stageflow.read.workers2",
            "stageflow.read.workers1",
        ),
        Figure(
            "6c",
            "the bare peer alike: bar read, --workers 2 ÷ --workers 1 (unpinned)",
            "bare.read.workers2",
            "bare.read.workers1",
        ),
        Figure(
            "7a",
            "SQL statements per bar read of 1: Stageflow ÷ bare",
            "bar read, 1 instance|stageflow|bare",
            "",
            "statements",
        ),
        Figure(
            "7b",
            "SQL statements per bar read of 1: Stageflow ÷ PostGraphile",
            "bar read, 1 instance|stageflow|postgraphile",
            "",
            "statements",
        ),
        Figure(
            "7c",
            "SQL statements per bar read of 50: Stageflow ÷ PostGraphile",
            "bar read, 50 instances|stageflow|postgraphile",
            "",
            "statements",
        ),
        Figure(
            "7d",
            "SQL statements per completeStep: Stageflow ÷ bare",
            "completeStep|stageflow|bare",
            "",
            "statements",
        ),
        Figure(
            "8",
            "SQLite: bar read, Stageflow ÷ bare Starlette + aiosqlite",
            "sqlite.stageflow.read",
            "sqlite.bare.read",
        ),
    ]
    for db, prefix, letters in (("PostgreSQL", "", "abcd"), ("SQLite", "sqlite.", "efgh")):
        for how, letter in zip(workload.FILTERS, letters, strict=True):
            out.append(
                Figure(
                    f"9{letter}",
                    f"{db}: records list by {how}: {many} ÷ {few} records",
                    f"{prefix}records.{how}.large",
                    f"{prefix}records.{how}.small",
                )
            )
    return out


def _database_url(admin: str, name: str, *, port: int | None = None) -> str:
    parts = urlsplit(admin)
    netloc = parts.netloc if port is None else f"{parts.netloc.rsplit(':', 1)[0]}:{port}"
    return urlunsplit((parts.scheme, netloc, "/" + name, parts.query, ""))


async def _admin(admin: str, sql: str) -> None:
    conn = await asyncpg.connect(admin)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def _postgres_version(admin: str) -> str:
    conn = await asyncpg.connect(admin)
    try:
        return str(await conn.fetchval("SHOW server_version"))
    finally:
        await conn.close()


def _versions() -> dict[str, str]:
    def out(*command: str) -> str:
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=30)
            return (done.stdout or done.stderr).strip().splitlines()[0]
        except (OSError, IndexError, subprocess.TimeoutExpired):
            return "?"

    return {
        "python": platform.python_version(),
        "node": out("node", "--version"),
        "postgraphile": out(str(servers.POSTGRAPHILE), "--version"),
        "wrk": out("wrk", "-v"),
        "stageflow_commit": out("git", "-C", str(servers.ROOT), "rev-parse", "--short", "HEAD"),
    }


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.sizes = QUICK if args.quick else FULL
        self.folder = Path(tempfile.mkdtemp(prefix="stageflow-bench-"))
        two = (os.cpu_count() or 1) >= 2 and shutil.which("taskset") is not None
        self.server_cpu = "1" if two else None
        self.load_cpu = "0" if two else None
        self.running: dict[str, Server] = {}
        self.databases: list[str] = []
        self.results: dict[str, Any] = {"subjects": {}, "statements": {}}
        self.started = time.monotonic()

    def say(self, text: str) -> None:
        print(f"[{time.monotonic() - self.started:6.0f}s] {text}", flush=True)

    async def database(self, purpose: str, copies: int, *, sqlite: bool = False) -> seed.Dataset:
        started = time.monotonic()
        if sqlite:
            url = f"sqlite://{self.folder}/{purpose}.db?busy_timeout=5000&synchronous=FULL"
        else:
            name = f"stageflow_bench_{purpose}_{uuid.uuid4().hex[:8]}"
            await _admin(self.args.admin_url, f'CREATE DATABASE "{name}"')
            self.databases.append(name)
            url = _database_url(self.args.admin_url, name)
        data = await seed.create(url, copies=copies)
        where = "SQLite" if sqlite else "PostgreSQL"
        self.say(
            f"seeded {purpose} on {where}: {copies:,} copies in {time.monotonic() - started:.0f} s"
        )
        self.results.setdefault("datasets", {})[("sqlite." if sqlite else "") + purpose] = {
            "records": copies + len(seed.TEMPLATES),
            "instances": copies + len(seed.TEMPLATES),
            "seconds_to_seed": round(time.monotonic() - started, 1),
        }
        return data

    async def start(self, key: str, make: Any, *args: Any, **kw: Any) -> Server:
        server = await asyncio.to_thread(make, *args, self.folder / f"{key}.log", **kw)
        self.running[key] = server
        return server

    async def stop(self, *keys: str) -> None:
        # In a thread: a server behind a proxy of this loop needs the loop to shut down.
        for key in keys:
            await asyncio.to_thread(self.running.pop(key).stop)

    async def group(self, name: str, subjects: list[Subject], *, pinned: bool = True) -> None:
        self.say(f"group {name}: {', '.join(s.key for s in subjects)}")
        found = await rounds(
            subjects,
            self.running,
            count=self.args.rounds,
            seconds=self.args.seconds,
            warm=self.args.warm,
            folder=self.folder,
            cpu=self.load_cpu if pinned else None,
            say=self.say,
        )
        for subject in subjects:
            server = self.running[subject.server]
            self.results["subjects"][subject.key] = {
                "label": subject.label,
                "group": name,
                "server": subject.server,
                "server_cpu": server.cpu,
                "load_cpu": self.load_cpu if pinned else None,
                "connections": subject.threads,
                "rounds": found[subject.key],
                **report.subject_summary(found[subject.key]),
            }

    async def count_statements(self, main: seed.Dataset, admin: str) -> None:
        """Figure 7: statements per operation, counted by a proxy in front of PostgreSQL,
        one proxy per server so that each counts only its own."""
        upstream = urlsplit(admin)
        name = urlsplit(main.url).path.lstrip("/")
        proxies: dict[str, CountingProxy] = {}
        started: dict[str, Server] = {}
        try:
            for who, make in (
                ("stageflow", servers.stageflow),
                ("bare", servers.bare),
                ("postgraphile", servers.postgraphile),
            ):
                proxy = CountingProxy(upstream.hostname or "127.0.0.1", upstream.port or 5432)
                via = _database_url(admin, name, port=await proxy.start())
                proxies[who] = proxy
                started[who] = await self.start(f"count.{who}", make, via, cpu=None)
            writes = workload.write_ids(main, 3, skip=49)  # none the write group uses
            ops: dict[str, list[tuple[str, Subject]]] = {
                "bar read, 1 instance": [
                    ("stageflow", workload.stageflow_read("c", "", main, "")),
                    ("bare", workload.bare_read("c", "", main, "")),
                    ("postgraphile", workload.postgraphile_read(main)),
                ],
                "bar read, 50 instances": [
                    ("stageflow", workload.page("c", "", main, "", count=False)),
                    ("postgraphile", workload.postgraphile_page(main)),
                ],
                "completeStep": [
                    ("stageflow", workload.stageflow_write("c", "", writes[:1], main)),
                    ("bare", workload.bare_write(writes[1:2], main)),
                    ("postgraphile", workload.postgraphile_write(writes[2:3], main)),
                ],
            }
            for op, per in ops.items():
                for who, subject in per:
                    counted = await statements(
                        proxies[who],
                        started[who].url,
                        subject.path,
                        subject.bodies[0],
                        expect=subject.expect,
                        token=subject.token,
                        times=5 if self.args.quick else 15,
                    )
                    self.results["statements"].setdefault(op, {})[who] = counted
                    self.say(
                        f"  {op:<24} {who:<13} {counted['statements']:3d} statements"
                        f" ({counted['pool_resets']} pool resets), each time: {counted['each']}"
                    )
        finally:
            for who in list(started):
                await self.stop(f"count.{who}")
            for proxy in proxies.values():
                await proxy.stop()

    async def numbering(self, main: seed.Dataset, instances: list[int]) -> None:
        """Figures 4b and 4c: a locked change's transaction on the database alone (pgbench)."""
        self.say("group numbering: pgbench on the database alone")
        await numbering.prepare(main.url)
        subjects = [
            (
                f"numbering.{how}.{len(ids)}",
                numbering.script(self.folder, how, ids),
                len(ids),
            )
            for how, ids in (
                ("sequence", instances),
                ("sequence", instances[:1]),
                ("counter", instances),
            )
        ]
        try:
            found = await numbering.rounds(
                main.url,
                subjects,
                count=self.args.rounds,
                seconds=self.args.seconds,
                folder=self.folder,
                cpu=self.load_cpu,
                say=self.say,
            )
        finally:
            await numbering.clean(main.url)
        labels = {
            "sequence": "pgbench: a locked change's transaction, Stageflow's numbering",
            "counter": "pgbench: the same transaction, numbered by one counter row",
        }
        for key, _, clients in subjects:
            self.results["subjects"][key] = {
                "label": f"{labels[key.split('.')[1]]}, {clients} client(s)",
                "group": "numbering",
                "server": "postgresql",
                "server_cpu": None,
                "load_cpu": self.load_cpu,
                "connections": clients,
                "rounds": found[key],
                **report.subject_summary(found[key]),
            }

    async def run(self) -> dict[str, Any]:
        args, sizes = self.args, self.sizes
        ensure_wrk()
        assert numbering.available(), "figures 4b and 4c need pgbench (postgresql-client)"
        await asyncio.to_thread(servers.install_postgraphile)
        load_before = os.getloadavg()
        self.say(f"sizes {sizes}; {args.rounds} rounds of {args.seconds} s; logs in {self.folder}")
        main = await self.database("main", sizes["main"])
        many = await self.database("records", sizes["records"])
        await self.count_statements(main, args.admin_url)

        cpu = self.server_cpu
        await self.start("stageflow", servers.stageflow, main.url, cpu=cpu)
        await self.start("bare", servers.bare, main.url, cpu=cpu)
        await self.start("postgraphile", servers.postgraphile, main.url, cpu=cpu)
        full = {"STAGEFLOW_KEPT_ANSWERS": "0"}
        await self.start("stageflow.full", servers.stageflow, main.url, cpu=cpu, env=full)
        await self.group(
            "read",
            [
                workload.stageflow_read("stageflow.read", "Stageflow: bar read", main, "stageflow"),
                workload.stageflow_read(
                    "stageflow.read.full",
                    "Stageflow: bar read, each run in full (no kept answers)",
                    main,
                    "stageflow.full",
                ),
                workload.postgraphile_read(main),
                workload.bare_read("bare.read", "bare: the same SELECTs", main, "bare"),
            ],
        )
        # Its feed follows every write: it would take the writers' core.
        await self.stop("stageflow.full")
        writers = workload.write_ids(main, 49)
        await self.group(
            "write",
            [
                workload.stageflow_write(
                    "stageflow.write", "Stageflow: completeStep, 16 on 16", writers[:16], main
                ),
                workload.postgraphile_write(writers[16:32], main),
                workload.bare_write(writers[32:48], main),
                workload.stageflow_write(
                    "stageflow.write.1",
                    "Stageflow: completeStep, 1 writer",
                    writers[:1],
                    main,
                    threads=1,
                ),
                workload.stageflow_write(
                    "stageflow.write.one", "Stageflow: completeStep, 16 on 1", writers[48:49], main
                ),
                workload.postgraphile_write(
                    writers[16:17],
                    main,
                    key="postgraphile.write.1",
                    label="PostGraphile: one-row update by id, 1 writer",
                    threads=1,
                ),
                workload.bare_write(
                    writers[32:33],
                    main,
                    key="bare.write.1",
                    label="bare: the same transaction, 1 writer",
                    threads=1,
                ),
            ],
        )
        await self.stop("bare", "postgraphile")
        await self.start("stageflow.records", servers.stageflow, many.url, cpu=cpu)
        await self.group("records-postgres", self._records("", main, many))
        await self.stop("stageflow.records")

        await self.start("stageflow.workers1", servers.stageflow, main.url, cpu=None)
        await self.start("stageflow.workers2", servers.stageflow, main.url, workers=2, cpu=None)
        for n in (1, 2):
            await self.start(f"bare.workers{n}", servers.bare, main.url, workers=n, cpu=None)
        for n in (1, 2):
            await self.start(
                f"stageflow.workers{n}.full",
                servers.stageflow,
                main.url,
                workers=n,
                cpu=None,
                env=full,
            )
        await self.group(
            "workers",
            [
                *(
                    workload.stageflow_read(
                        f"stageflow.read.workers{n}.full",
                        f"Stageflow --workers {n}, unpinned, each read run in full",
                        main,
                        f"stageflow.workers{n}.full",
                    )
                    for n in (1, 2)
                ),
                workload.stageflow_read(
                    "stageflow.read.workers1",
                    "Stageflow --workers 1, unpinned",
                    main,
                    "stageflow.workers1",
                ),
                workload.stageflow_read(
                    "stageflow.read.workers2",
                    "Stageflow --workers 2, unpinned",
                    main,
                    "stageflow.workers2",
                ),
                *(
                    workload.bare_read(
                        f"bare.read.workers{n}",
                        f"bare --workers {n}, unpinned",
                        main,
                        f"bare.workers{n}",
                    )
                    for n in (1, 2)
                ),
            ],
            pinned=False,
        )
        await self.stop(
            "stageflow.workers1",
            "stageflow.workers2",
            "stageflow.workers1.full",
            "stageflow.workers2.full",
            "bare.workers1",
            "bare.workers2",
            "stageflow",
        )
        await self.numbering(main, writers[:16])

        small = await self.database("page_small", sizes["page_small"])
        large = await self.database("page_large", sizes["page_large"])
        await self.start("stageflow.page.small", servers.stageflow, small.url, cpu=cpu)
        await self.start("stageflow.page.large", servers.stageflow, large.url, cpu=cpu)
        await self.group(
            "page",
            [
                workload.page(
                    "stageflow.page.small",
                    f"page of 50 at {sizes['page_small']:,}",
                    small,
                    "stageflow.page.small",
                    count=False,
                ),
                workload.page(
                    "stageflow.page.large",
                    f"page of 50 at {sizes['page_large']:,}",
                    large,
                    "stageflow.page.large",
                    count=False,
                ),
                workload.page(
                    "stageflow.count.small",
                    f"page and totalCount at {sizes['page_small']:,}",
                    small,
                    "stageflow.page.small",
                    count=True,
                ),
                workload.page(
                    "stageflow.count.large",
                    f"page and totalCount at {sizes['page_large']:,}",
                    large,
                    "stageflow.page.large",
                    count=True,
                ),
            ],
        )
        await self.stop("stageflow.page.small", "stageflow.page.large")

        lite = await self.database("main", sizes["main"], sqlite=True)
        lite_many = await self.database("records", sizes["records"], sqlite=True)
        await self.start("sqlite.stageflow", servers.stageflow, lite.url, cpu=cpu)
        await self.start("sqlite.bare", servers.bare, lite.url, cpu=cpu)
        await self.group(
            "sqlite",
            [
                workload.stageflow_read(
                    "sqlite.stageflow.read",
                    "Stageflow on SQLite: bar read",
                    lite,
                    "sqlite.stageflow",
                ),
                workload.bare_read(
                    "sqlite.bare.read", "bare on SQLite (aiosqlite)", lite, "sqlite.bare"
                ),
            ],
        )
        await self.stop("sqlite.bare")
        await self.start("sqlite.stageflow.records", servers.stageflow, lite_many.url, cpu=cpu)
        await self.group("records-sqlite", self._records("sqlite.", lite, lite_many))

        specs = figures(sizes)
        self.results["figures"] = [report.figure(self.results, spec) for spec in specs]
        self.results |= {
            "version": 1,
            "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "quick": bool(args.quick),
            "rounds": args.rounds,
            "seconds": args.seconds,
            "warm_seconds": args.warm,
            "connections": 16,
            "sizes": sizes,
            "statements_counted_by": "a proxy in front of PostgreSQL reading the wire protocol (bench/wire.py)",
            "pinning": {
                "servers": self.server_cpu,
                "load": self.load_cpu,
                "postgresql": None,
                "workers_figure": None,
            },
            "machine": {
                "cpus": os.cpu_count(),
                "load_before": list(load_before),
                "load_after": list(os.getloadavg()),
                "postgresql": await _postgres_version(args.admin_url),
                **_versions(),
            },
            "seconds_total": round(time.monotonic() - self.started),
        }
        return self.results

    def _records(self, prefix: str, few: seed.Dataset, many: seed.Dataset) -> list[Subject]:
        small_server = f"{prefix}stageflow"
        large_server = f"{prefix}stageflow.records"
        out = []
        for size, data, server in (("small", few, small_server), ("large", many, large_server)):
            for how in workload.FILTERS:
                out.append(
                    workload.records(
                        f"{prefix}records.{how}.{size}",
                        f"records list by {how} at {data.copies + len(seed.TEMPLATES):,}",
                        data,
                        server,
                        how,
                    )
                )
        return out

    async def close(self) -> None:
        for key in list(self.running):
            await self.stop(key)
        for name in self.databases:
            await _admin(self.args.admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if not self.args.keep:
            shutil.rmtree(self.folder, ignore_errors=True)


def write(results: dict[str, Any], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "latest.json").write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n")
    (out / "latest.svg").write_text(chart.render(results))


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="small data, 2 rounds of 1 s: a smoke test"
    )
    parser.add_argument("--rounds", type=int, help="interleaved rounds (default 5; quick 2)")
    parser.add_argument(
        "--seconds", type=int, help="seconds per subject and round (default 4; quick 1)"
    )
    parser.add_argument(
        "--warm",
        type=float,
        help="seconds of each run before it is measured (default 2; quick 0.5)",
    )
    parser.add_argument(
        "--out", type=Path, default=RESULTS, help="folder for latest.json and latest.svg"
    )
    parser.add_argument(
        "--admin-url",
        default=os.environ.get("PG_ADMIN_URL", "postgres://postgres@127.0.0.1:5432/postgres"),
        help="a PostgreSQL URL that may create and drop databases",
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the folder of logs and SQLite files"
    )
    parser.add_argument(
        "--markdown",
        type=Path,
        metavar="JSON",
        help="print a results file as a Markdown table and exit",
    )
    args = parser.parse_args(argv)
    if args.rounds is None:
        args.rounds = 2 if args.quick else 5
    if args.seconds is None:
        args.seconds = 1 if args.quick else 4
    if args.warm is None:
        args.warm = 0.5 if args.quick else 2.0
    return args


async def _main(args: argparse.Namespace) -> None:
    bench = Bench(args)
    try:
        results = await bench.run()
    finally:
        await bench.close()
    write(results, args.out)
    print()
    print(report.statements_table(results))
    print()
    print(report.table(results))
    print(f"\nwritten: {args.out / 'latest.json'}, {args.out / 'latest.svg'}")


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    if args.markdown:
        print(report.markdown(json.loads(args.markdown.read_text())))
        return
    asyncio.run(_main(args))


if __name__ == "__main__":
    main(sys.argv[1:])
