"""The webhook delivery bench in a tiny form: it runs to the end and writes its figures,
well formed, with every event delivered once.

The timings are not judged here (a shared machine makes no threshold fair); that they were
measured, and that nothing was lost or repeated, is.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.postgres

ROOT = Path(__file__).resolve().parents[2]
SUBJECTS = ("stageflow", "bare")
COUNTS = ("duplicates", "events_delivered_twice", "missing", "unsigned", "load_errors")
QUEUE = ("pending_at_start", "pending_at_end")


def _numbers(value: Any) -> list[Any]:
    """Every number (and anything that should have been one) in a figure tree."""
    if isinstance(value, dict):
        return [n for item in value.values() for n in _numbers(item)]
    if isinstance(value, list):
        return [n for item in value for n in _numbers(item)]
    return [value]


def test_tiny_webhook_bench_delivers_every_event_once(tmp_path: Path) -> None:
    admin = os.environ["STAGEFLOW_TEST_POSTGRES"]
    done = subprocess.run(
        [
            *(sys.executable, "-m", "bench.webhooks", "--rate", "50", "--seconds", "2"),
            *("--rounds", "1", "--instances", "100", "--admin-url", admin),
            *("--out", str(tmp_path)),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    results = json.loads((tmp_path / "webhooks.json").read_text())

    assert results["rounds"] == 1
    assert set(results["subjects"]) == set(SUBJECTS)
    numbers = _numbers({"subjects": results["subjects"], "ratio": results["ratio"]})
    assert numbers and all(
        isinstance(n, int | float) and not isinstance(n, bool) and math.isfinite(n) and n >= 0
        for n in numbers
    )
    for subject in SUBJECTS:
        figures = results["subjects"][subject]["figures"]
        (one,) = results["subjects"][subject]["rounds"]
        assert one["committed"] > 0
        assert one["delivered"] == one["committed"]
        for key, spread in figures.items():
            assert spread["min"] <= spread["median"] <= spread["max"], (subject, key)
        for key in (*COUNTS, *QUEUE):
            assert figures[key] == {"min": 0, "median": 0, "max": 0}, (subject, key)
        # CPU per delivery is told for each group of processes measured.
        assert {k for k in figures if k.startswith("cpu_ms_per_delivery_")} == {
            f"cpu_ms_per_delivery_{group}"
            for group in ("bench", "postgres", "receiver", "stageflow")
        }
    assert set(results["ratio"]) == {
        "committed_per_s",
        "deliveries_per_s",
        "latency_p50_ms",
        "latency_p99_ms",
        "latency_max_ms",
    }
    assert "webhook delivery" in done.stdout
