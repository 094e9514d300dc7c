"""`make bench` in its quick form: it runs to the end and writes every figure, well formed.

The numbers are not judged here (a shared machine makes no threshold fair); that they
were measured and written is.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

pytestmark = pytest.mark.postgres

ROOT = Path(__file__).resolve().parents[2]
FIGURES = [
    *("1a", "1b", "1c", "1d", "2a", "2b", "3a", "3b", "3c", "4", "4d", "4e", "4b", "4c", "5"),
    *("6a", "6b", "6c"),
    *("7a", "7b", "7c", "7d", "8"),
    *(f"9{letter}" for letter in "abcdefgh"),
]
OPERATIONS = {
    "bar read, 1 instance": {"stageflow", "bare", "postgraphile"},
    "bar read, 50 instances": {"stageflow", "postgraphile"},
    "completeStep": {"stageflow", "bare", "postgraphile"},
}


def _finite(value: object) -> bool:
    return isinstance(value, int | float) and math.isfinite(value) and value >= 0


def test_quick_bench_writes_every_figure(tmp_path: Path) -> None:
    admin = os.environ["STAGEFLOW_TEST_POSTGRES"]
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--out", str(tmp_path), "--admin-url", admin],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1500,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    results = json.loads((tmp_path / "latest.json").read_text())

    assert [f["id"] for f in results["figures"]] == FIGURES
    for figure in results["figures"]:
        ratio = figure["ratio"]
        for part in (figure["numerator"], figure["denominator"], ratio):
            assert all(_finite(part[k]) for k in ("min", "median", "max")), figure
            assert part["min"] <= part["median"] <= part["max"], figure
        if figure["metric"] == "rps":
            assert len(ratio["rounds"]) == results["rounds"] == 2, figure
            for key in (figure["numerator"]["key"], figure["denominator"]["key"]):
                subject = results["subjects"][key]
                assert len(subject["rounds"]) == 2, key
                # Every answer was the one expected, and each round heard some.
                assert subject["unexpected"] == 0, subject
                assert all(r["answers"] > 0 for r in subject["rounds"]), subject
                assert all(_finite(r["p99_ms"]) for r in subject["rounds"]), subject

    assert {op: set(found) for op, found in results["statements"].items()} == OPERATIONS
    for found in results["statements"].values():
        for counted in found.values():
            assert counted["statements"] >= 1
            assert counted["statements"] == sum(counted["kinds"].values())

    svg = ET.fromstring((tmp_path / "latest.svg").read_text())
    assert svg.tag == "{http://www.w3.org/2000/svg}svg"
    texts = [t.text or "" for t in svg.iter("{http://www.w3.org/2000/svg}text")]
    assert all(any(t.startswith(f"{id}  ") for t in texts) for id in FIGURES), texts
