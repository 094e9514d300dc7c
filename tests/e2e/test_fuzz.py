"""Schemathesis against the served schema: generated queries and mutations, valid and not,
get no 5xx, no `Unexpected error.`, and a refused mutation changes nothing.

The run is bounded and repeatable: a fixed number of examples per operation, a fixed seed,
deterministic generation, one worker (the before/after comparison needs calls in turn).
"""

from __future__ import annotations

import collections
import os
import subprocess
from pathlib import Path

from serving import BIN, Server, graphql

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = 30  # per operation; 43 operations
MIN_CASES = 1000


def _protected(server: Server) -> str:
    """The ids of the fuzzer's own user and token: it must not lock itself out."""
    me = graphql(server, "{ me { id } apiTokens { id } }")
    ids = [me["me"]["id"], *(t["id"] for t in me["apiTokens"])]  # type: ignore[index]
    return ",".join(str(i) for i in ids)


def test_generated_requests_get_typed_answers_and_refusals_change_nothing(
    server: Server, tmp_path: Path
) -> None:
    log = tmp_path / "fuzz.log"
    env = {
        **os.environ,
        "PYTHONPATH": str(Path(__file__).parent),
        "SCHEMATHESIS_HOOKS": "fuzz_hooks",
        "STAGEFLOW_FUZZ_URL": server.url,
        "STAGEFLOW_FUZZ_TOKEN": server.token,
        "STAGEFLOW_FUZZ_PROTECTED": _protected(server),
        "STAGEFLOW_FUZZ_LOG": str(log),
        "STAGEFLOW_FUZZ_TEMPLATES": str(ROOT / "server" / "templates"),
    }
    report = tmp_path / "report"
    done = subprocess.run(
        [
            str(BIN / "schemathesis"),
            "run",
            str(ROOT / "schema.graphql"),
            "--url",
            f"{server.url}/graphql",
            "--header",
            f"Authorization: Bearer {server.token}",
            "--checks",
            "answers_are_typed",
            "--phases",
            "fuzzing",
            "--max-examples",
            str(EXAMPLES),
            "--seed",
            "20261201",
            "--generation-deterministic",
            "--workers",
            "1",
            "--no-color",
            "--report",
            "ndjson",
            "--report-dir",
            str(report),
        ],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=900,
    )
    print(done.stdout[-5000:])
    assert done.returncode == 0, done.stdout[-20000:] + done.stderr[-5000:]

    calls = [line.split() for line in log.read_text().splitlines()]
    kinds = collections.Counter(kind for _, _, kind in calls)
    operations = {label for label, _, _ in calls}
    print(f"fuzzing: {len(calls)} calls to {len(operations)} operations: {dict(kinds)}")
    assert len(calls) >= MIN_CASES
    assert all(status != "500" and not status.startswith("5") for _, status, _ in calls)
    assert len(operations) >= 40  # every query and mutation was reached
    assert kinds["refused"] >= 200 and kinds["changed"] >= 20  # both kinds were checked
