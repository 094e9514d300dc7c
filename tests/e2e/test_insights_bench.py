"""`make bench-insights` at a tiny size: it runs to the end and writes every figure, well formed.

The bench itself checks, before timing, that every figure it measures equals a count made
directly over the generated rows (bench/insights_check.py) and that generated instances
read back through Stageflow as it writes them; a wrong figure stops it. The times are not
judged here (a shared machine makes no threshold fair); that they were measured is.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
QUERIES = (
    "funnel", "outcomes", "timeInStage", "cycleTime", "stuck", "throughput", "pipeline", "owners"
)  # fmt: skip
RANGES = ("90 days", "90 days, to the second", "all")


def _run(tmp_path: Path, *args: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-m", "bench.insights", "--rounds", "2", "--repeat", "1",
         "--out", str(tmp_path), *args],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    for query in QUERIES:
        assert query in done.stdout
    return json.loads((tmp_path / "insights.json").read_text())


def _check(results: dict, database: str, sizes: tuple[int, int]) -> None:
    rows = [r for r in results["figures"] if r["database"] == database]
    assert [(r["query"], r["range"]) for r in rows] == [(q, r) for q in QUERIES for r in RANGES]
    for row in rows:
        assert (row["small"]["instances"], row["large"]["instances"]) == sizes
        for part in (row["small"], row["large"]):
            assert part["runs"] == 2
            assert 0 < part["min_ms"] <= part["median_ms"] <= part["max_ms"], row
        assert math.isclose(
            row["ratio"], row["large"]["median_ms"] / row["small"]["median_ms"], abs_tol=0.01
        )
        assert isinstance(row["meets"], bool)
    small = results["datasets"][f"{database}.{sizes[0]}"]
    large = results["datasets"][f"{database}.{sizes[1]}"]
    assert (small["instances"], large["instances"]) == sizes
    # The history has the shape asked for: two processes, owners, revisits, some active.
    for data in (small, large):
        assert data["processes"] == 2 and data["owners"] == 8 and data["revisits"] > 0
        assert 4 <= data["stays_per_instance"] <= 6, data
        assert 0.04 <= data["active_share"] <= 0.15, data
        assert data["finished"] > 0 and data["abandoned"] > 0 and data["read_back"] >= 5
    # Every figure was compared with a direct count, in every range.
    assert set(small["checked"]) == set(QUERIES), small["checked"]
    assert all(n >= len(RANGES) for n in small["checked"].values()), small["checked"]


def test_insights_bench_on_sqlite(tmp_path: Path) -> None:
    results = _run(tmp_path, "--postgres", "none", "--sqlite", "300,900")
    _check(results, "sqlite", (300, 900))
    assert {r["database"] for r in results["figures"]} == {"sqlite"}


@pytest.mark.postgres
def test_insights_bench_on_postgres(tmp_path: Path) -> None:
    admin = os.environ["STAGEFLOW_TEST_POSTGRES"]
    results = _run(tmp_path, "--postgres", "300,900", "--sqlite", "none", "--admin-url", admin)
    _check(results, "postgres", (300, 900))
