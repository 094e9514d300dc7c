"""The records list as users filter it, at 1k and at 100k records, on PostgreSQL and SQLite.

Seeds a database of each size on each database (bench/seed.py), serves each with
`stageflow serve`, and sends the web app's records document (bench/workload.py) filtered
by process, stage, status and search, one request at a time, in interleaved rounds: each
round times every subject `--requests` times. Prints the median latencies and, per filter,
the ratio of the large database's median to the small one's (1.0: no slower at 100k).

Run: `.venv/bin/python -m bench.records [--few 1000] [--many 100000] [--rounds 5]`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import httpx

from bench import seed, servers, workload
from bench.run import _admin, _database_url

SQLITE_URL = "sqlite://{folder}/{name}.db?busy_timeout=5000&synchronous=FULL"


async def _dataset(args: argparse.Namespace, db: str, copies: int, folder: Path) -> seed.Dataset:
    name = f"stageflow_bench_records_{copies}_{uuid.uuid4().hex[:8]}"
    if db == "sqlite":
        url = SQLITE_URL.format(folder=folder, name=name)
    else:
        await _admin(args.admin_url, f'CREATE DATABASE "{name}"')
        args.made.append(name)
        url = _database_url(args.admin_url, name)
    started = time.monotonic()
    data = await seed.create(url, copies=copies)
    print(f"seeded {db} {copies:,} copies in {time.monotonic() - started:.0f} s", flush=True)
    return data


def _body(data: seed.Dataset, how: str) -> bytes:
    subject = workload.records("", "", data, "", how)
    return subject.bodies[0].encode()


async def _time(client: httpx.AsyncClient, url: str, body: bytes, token: str, n: int) -> float:
    """The median of `n` requests' latencies, in milliseconds."""
    headers = {"content-type": "application/json", "authorization": f"Bearer {token}"}
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        response = await client.post(url + "/graphql", content=body, headers=headers)
        samples.append((time.perf_counter() - start) * 1000)
        answer = response.json()
        assert response.status_code == 200 and answer["data"]["records"]["edges"], answer
    return statistics.median(samples)


async def measure(args: argparse.Namespace, db: str, folder: Path) -> dict[str, dict[str, float]]:
    few = await _dataset(args, db, args.few, folder)
    many = await _dataset(args, db, args.many, folder)
    running = [
        servers.stageflow(data.url, folder / f"{db}.{size}.log", cpu=args.cpu)
        for size, data in (("few", few), ("many", many))
    ]
    subjects = [
        (how, size, server.url, _body(data, how), data.token)
        for how in workload.FILTERS
        for size, data, server in (("few", few, running[0]), ("many", many, running[1]))
    ]
    found: dict[tuple[str, str], list[float]] = {}
    try:
        async with httpx.AsyncClient(timeout=60) as client:
            for _how, _size, url, body, token in subjects:  # warm up
                await _time(client, url, body, token, 3)
            for r in range(args.rounds):
                shift = r % len(subjects)
                for how, size, url, body, token in subjects[shift:] + subjects[:shift]:
                    ms = await _time(client, url, body, token, args.requests)
                    found.setdefault((how, size), []).append(ms)
    finally:
        for server in running:
            server.stop()
    out = {}
    for how in workload.FILTERS:
        small = found[(how, "few")]
        large = found[(how, "many")]
        ratios = [a / b for a, b in zip(large, small, strict=True)]
        out[how] = {
            "few_ms": statistics.median(small),
            "many_ms": statistics.median(large),
            "ratio": statistics.median(ratios),
        }
    return out


async def main(args: argparse.Namespace) -> None:
    folder = Path(tempfile.mkdtemp(prefix="stageflow-bench-records-"))
    args.made = []
    results = {}
    try:
        for db in args.databases:
            results[db] = await measure(args, db, folder)
    finally:
        for name in args.made:
            await _admin(args.admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        shutil.rmtree(folder, ignore_errors=True)
    print(f"\nrecords list, median of {args.rounds} rounds of {args.requests} requests each")
    print(f"{'database':<10} {'filter':<8} {args.few:>9,} ms {args.many:>9,} ms  ratio")
    for db, per in results.items():
        for how, r in per.items():
            print(f"{db:<10} {how:<8} {r['few_ms']:12.2f} {r['many_ms']:12.2f}  {r['ratio']:5.2f}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.records", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--few", type=int, default=1_000, help="copies in the small database")
    parser.add_argument("--many", type=int, default=100_000, help="copies in the large one")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=20, help="per subject and round")
    parser.add_argument(
        "--databases", nargs="+", default=["postgres", "sqlite"], choices=["postgres", "sqlite"]
    )
    parser.add_argument("--cpu", default=None, help="pin the servers to these cores (taskset)")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument(
        "--admin-url",
        default=os.environ.get("PG_ADMIN_URL", "postgres://postgres@127.0.0.1:5432/postgres"),
        help="a PostgreSQL URL that may create and drop databases",
    )
    return parser.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(main(parse()))
