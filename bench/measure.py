"""Load from wrk (bench/load.lua), in interleaved rounds, and statements counted on the wire."""

from __future__ import annotations

import asyncio
import json
import math
import shutil
import statistics
import subprocess
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

import httpx

from bench.servers import Server, pinned
from bench.wire import CountingProxy
from bench.workload import Subject

T = TypeVar("T")

LUA = Path(__file__).resolve().parent / "load.lua"


def ensure_wrk() -> str:
    """wrk from Debian, installed when missing."""
    found = shutil.which("wrk")
    if found is None:
        print("installing wrk (apt-get install -y wrk)", flush=True)
        install = ["apt-get", "install", "-y", "-qq", "wrk"]
        if subprocess.run(install, capture_output=True).returncode != 0:
            subprocess.run(["apt-get", "update", "-qq"], check=True, capture_output=True)
            subprocess.run(install, check=True, capture_output=True)
        found = shutil.which("wrk")
    assert found is not None, "wrk could not be installed"
    return found


async def check(subject: Subject, server: Server) -> None:
    """The subject's first request is answered as expected."""
    headers = {"content-type": "application/json"}
    if subject.token:
        headers["authorization"] = f"Bearer {subject.token}"
    body = subject.bodies[0].replace("__N__", "1")
    async with httpx.AsyncClient(timeout=60) as client:
        response = await client.post(server.url + subject.path, content=body, headers=headers)
    if response.status_code != 200 or subject.expect not in response.text:
        raise RuntimeError(
            f"{subject.key}: unexpected answer {response.status_code} {response.text[:500]}"
        )


async def load(
    subject: Subject,
    server: Server,
    *,
    seconds: float,
    warm: float,
    folder: Path,
    cpu: str | None,
) -> dict[str, Any]:
    """One run of wrk, one connection per thread, measured after `warm` seconds.

    Every connection always has a request on its way, so by Little's law the throughput
    is connections ÷ mean latency, over the answers after the warm-up. A slow server
    answers its connections in bursts; counting answers in a window of a few seconds
    would then be off by a burst, the mean latency is not. `counted_rps` (answers in the
    `seconds` after the warm-up, per second) is kept beside it. A run that got no answer
    after the warm-up is run again, twice as long, up to a minute.
    """
    bodies = folder / f"{subject.key}.bodies"
    if not bodies.exists():
        bodies.write_text("\n".join(subject.bodies) + "\n")
    while True:
        found = await _wrk(subject, server, warm=warm, seconds=seconds, bodies=bodies, cpu=cpu)
        if found["good"] or warm + seconds > 60:
            break
        warm, seconds = warm * 2, seconds * 2
    mean = found["mean_ms"] / 1000
    return {
        "rps": subject.threads / mean if mean else 0.0,
        "counted_rps": found["window"] / seconds,
        "answers": found["good"],
        "unexpected": found["bad"],
        "socket_errors": found["errors"],
        "seconds": seconds,
        "mean_ms": found["mean_ms"],
        "p50_ms": found["p50_ms"],
        "p90_ms": found["p90_ms"],
        "p99_ms": found["p99_ms"],
        "max_ms": found["max_ms"],
        "sample": found["sample"],
    }


async def _wrk(
    subject: Subject, server: Server, *, warm: float, seconds: float, bodies: Path, cpu: str | None
) -> dict[str, Any]:
    start = time.monotonic() + 0.2  # wrk's own start
    window = (start + warm, start + warm + seconds)
    command = [
        "wrk",
        "-t",
        str(subject.threads),
        "-c",
        str(subject.threads),
        "-d",
        f"{math.ceil(warm + seconds + 0.3)}s",
        "--timeout",
        "60s",
        "-s",
        str(LUA),
        server.url,
        "--",
        subject.path,
        str(bodies),
        subject.expect,
        subject.token,
        str(subject.threads),
        f"{window[0]:.6f}",
        f"{window[1]:.6f}",
    ]
    process = await asyncio.create_subprocess_exec(
        *pinned(command, cpu), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await process.communicate()
    lines = [line for line in out.decode().splitlines() if line.startswith("BENCH_RESULT ")]
    if process.returncode != 0 or not lines:
        raise RuntimeError(f"wrk failed for {subject.key}: {out.decode()} {err.decode()}")
    found: dict[str, Any] = json.loads(lines[-1].removeprefix("BENCH_RESULT "))
    return found


def interleaved(subjects: list[T], count: int) -> Iterator[tuple[int, T]]:
    """(round, subject): every subject once per round, each round starting one further on."""
    for r in range(count):
        shift = r % len(subjects)
        for subject in subjects[shift:] + subjects[:shift]:
            yield r, subject


async def rounds(
    subjects: list[Subject],
    running: Mapping[str, Server],
    *,
    count: int,
    seconds: float,
    warm: float,
    folder: Path,
    cpu: str | None,
    say: Any = print,
) -> dict[str, list[dict[str, Any]]]:
    """Every subject once per round; each round starts one subject further on."""
    for subject in subjects:
        await check(subject, running[subject.server])
    found: dict[str, list[dict[str, Any]]] = {s.key: [] for s in subjects}
    for r, subject in interleaved(subjects, count):
        result = await load(
            subject, running[subject.server], seconds=seconds, warm=warm, folder=folder, cpu=cpu
        )
        result["round"] = r
        found[subject.key].append(result)
        flag = ""
        if result["unexpected"]:
            flag = f"  ({result['unexpected']} unexpected: {result['sample'][:120]})"
        say(
            f"  round {r + 1}/{count} {subject.key:<28} {result['rps']:8.1f} req/s"
            f" ({result['counted_rps']:.1f} counted)  p50 {result['p50_ms']:7.1f} ms"
            f"  p99 {result['p99_ms']:7.1f} ms{flag}"
        )
    return found


def summary(values: list[float]) -> dict[str, float]:
    return {"min": min(values), "median": statistics.median(values), "max": max(values)}


async def statements(
    proxy: CountingProxy,
    url: str,
    path: str,
    body: str,
    *,
    expect: str,
    token: str = "",
    times: int = 15,
    settle: float = 0.2,
) -> dict[str, Any]:
    """Statements a server sends to PostgreSQL for one request: the median over `times`.

    Each request is counted until `settle` seconds after its answer, so what the server
    does just after answering (reading the event it wrote) counts too; the median leaves
    out a timed poll that happens to fall into one request's count.
    """
    headers = {"content-type": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    counted: list[dict[str, Any]] = []
    async with httpx.AsyncClient(timeout=60) as client:
        for n in range(times + 1):
            await asyncio.sleep(settle)
            proxy.tally.clear()
            response = await client.post(
                url + path, content=body.replace("__N__", str(n + 1)), headers=headers
            )
            if response.status_code != 200 or expect not in response.text:
                raise RuntimeError(f"unexpected answer while counting: {response.text[:300]}")
            await asyncio.sleep(settle)
            tally = proxy.tally
            if n:  # the first request may fill caches (a process definition, statements)
                counted.append(
                    {
                        "statements": tally.statements,
                        "round_trips": tally.round_trips,
                        "pool_resets": tally.kinds.get("RESET", 0) // 4,
                        "kinds": dict(sorted(tally.kinds.items())),
                        "texts": dict(tally.texts.most_common()),
                    }
                )
    counted.sort(key=lambda c: c["statements"])
    typical = counted[len(counted) // 2]
    return {**typical, "each": [c["statements"] for c in counted]}
