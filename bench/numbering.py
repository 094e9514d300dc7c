"""Figures 4b and 4c: a locked change's transaction on the database alone, driven by pgbench.

A change that runs locked (a move; a step's value whose rows moved on meanwhile), with no
server in between, so what is measured is how the transactions queue in PostgreSQL: the
two rows locked and written by compare-and-set, the event row and its notification, numbered

- as Stageflow numbers events (`stageflow_next_seq()`: a sequence behind a shared lock that
  readers wait out, migration 0008), or
- through one counter row locked until commit, as events were numbered before that
  migration (its numbers start far above the sequence's, and its rows are deleted after).

16 clients on 16 instances and 1 client, in interleaved rounds; pgbench runs on the load
core. The notifications go to a channel no server listens on, so that no feed reads them.
"""

from __future__ import annotations

import asyncio
import shutil
import statistics
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg

from bench.measure import interleaved

# Far above any seq the sequence hands out in a bench: the counter's rows never collide.
COUNTER_START = 10**12
CHANNEL = "stageflow_bench_numbering"

_SCRIPT = """\\set k random(1, {count})
BEGIN;
SELECT i.version, r.version FROM instance i JOIN record r ON r.id = i.record_id
  WHERE i.id = {id} FOR UPDATE;
UPDATE record SET version = version + 1
  WHERE id = (SELECT record_id FROM instance WHERE id = {id});
UPDATE instance SET version = version + 1 WHERE id = {id};
WITH next AS MATERIALIZED ({number}),
told AS (SELECT pg_notify('{channel}', value::text) FROM next)
INSERT INTO event (seq, kind, actor, at, instance_id)
  SELECT next.value, 'STEP_COMPLETED', 'bench', now(), {id} FROM next, told;
COMMIT;
"""
NUMBERING = {
    "sequence": "SELECT stageflow_next_seq() AS value",
    "counter": "UPDATE counter SET value = value + 1 WHERE name = 'bench' RETURNING value",
}


def available() -> bool:
    return shutil.which("pgbench") is not None


def script(folder: Path, numbering: str, instances: list[int]) -> Path:
    """A pgbench script: each transaction on one of `instances`, at random."""
    path = folder / f"numbering-{numbering}-{len(instances)}.sql"
    chosen = f"(ARRAY[{', '.join(str(int(i)) for i in instances)}])[:k]"
    text = _SCRIPT.format(
        count=len(instances), id=chosen, number=NUMBERING[numbering], channel=CHANNEL
    )
    path.write_text(text)
    return path


async def prepare(url: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(
            "INSERT INTO counter (name, value) VALUES ('bench', $1)"
            " ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value",
            COUNTER_START,
        )
    finally:
        await conn.close()


async def clean(url: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("DELETE FROM event WHERE seq >= $1", COUNTER_START)
        await conn.execute("DELETE FROM counter WHERE name = 'bench'")
    finally:
        await conn.close()


def run(
    url: str, path: Path, *, clients: int, seconds: float, folder: Path, cpu: str | None
) -> dict[str, Any]:
    """One round of pgbench: transactions per second and latencies, from its own log."""
    parts = urlsplit(url)
    logs = folder / f"pgbench-{path.stem}"
    for old in folder.glob(f"{logs.name}*"):
        old.unlink()
    command = [
        "pgbench",
        "-n",
        "-h", parts.hostname or "127.0.0.1",
        "-p", str(parts.port or 5432),
        "-U", parts.username or "postgres",
        "-c", str(clients),
        "-j", str(min(clients, 2)),
        "-T", str(max(1, round(seconds))),
        "-f", str(path),
        "-l", "--log-prefix", str(logs),
        parts.path.lstrip("/"),
    ]  # fmt: skip
    if cpu is not None and shutil.which("taskset"):
        command = ["taskset", "-c", cpu, *command]
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 120)
    assert done.returncode == 0, done.stderr[-2000:]
    tps = failed = 0.0
    for line in done.stdout.splitlines():
        if line.startswith("tps = "):
            tps = float(line.split()[2])
        if line.startswith("number of failed transactions:"):
            failed = float(line.split(":")[1].split()[0])
    latencies = sorted(
        int(fields[2]) / 1000
        for log in folder.glob(f"{logs.name}*")
        for fields in (line.split() for line in log.read_text().splitlines())
        if len(fields) >= 3
    )
    assert tps > 0 and latencies, done.stdout[-2000:]
    duration = max(1, round(seconds))
    return {
        "rps": tps,
        "counted_rps": len(latencies) / duration,
        "answers": len(latencies),
        "unexpected": int(failed),
        "socket_errors": 0,
        "seconds": duration,
        "mean_ms": round(statistics.fmean(latencies), 3),
        "p50_ms": round(latencies[len(latencies) // 2], 3),
        "p90_ms": round(latencies[int(len(latencies) * 0.9)], 3),
        "p99_ms": round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))], 3),
        "max_ms": round(latencies[-1], 3),
        "sample": "",
    }


async def rounds(
    url: str,
    subjects: list[tuple[str, Path, int]],
    *,
    count: int,
    seconds: float,
    folder: Path,
    cpu: str | None,
    say: Any = print,
) -> dict[str, list[dict[str, Any]]]:
    """Every subject (key, script, clients) once per round; each round starts one further on."""
    found: dict[str, list[dict[str, Any]]] = {key: [] for key, _, _ in subjects}
    for r, (key, path, clients) in interleaved(subjects, count):
        result = await asyncio.to_thread(
            run, url, path, clients=clients, seconds=seconds, folder=folder, cpu=cpu
        )
        result["round"] = r
        found[key].append(result)
        say(
            f"  round {r + 1}/{count} {key:<28} {result['rps']:8.1f} tx/s"
            f"  p50 {result['p50_ms']:7.1f} ms  p99 {result['p99_ms']:7.1f} ms"
        )
    return found
