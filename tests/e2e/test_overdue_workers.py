"""Two server processes on one PostgreSQL database, each looking for stays past their due
five times a second: every stay is told overdue once, whichever process finds it."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import pytest
from serving import graphql, start_server, stop_server
from test_browser_due import CREATE, IMPORT, QUICK, START

pytestmark = pytest.mark.postgres

STAYS = 60
TOLD = """{ events(kinds: [STAGE_OVERDUE], first: 100) { instanceId toStage after } }"""
LATE = """{ instances(overdue: true, first: 100) { totalCount } }"""


def test_two_servers_tell_each_stay_overdue_once(database_url: str, tmp_path: Path) -> None:
    fast = {"STAGEFLOW_OVERDUE_INTERVAL_SECONDS": "0.2"}
    a = start_server(database_url, tmp_path / "a.log", extra_env=fast)
    b = start_server(database_url, tmp_path / "b.log", demo=False, extra_env=fast)
    try:
        quick = {**QUICK, "stages": [{**QUICK["stages"][0], "due": "PT2S"}, QUICK["stages"][1]]}
        imported = graphql(a, IMPORT, input={"definition": quick, "publish": True})
        process = imported["importProcess"]["process"]["id"]  # type: ignore[index]
        started = []
        for n in range(STAYS):
            server = (a, b)[n % 2]
            made = graphql(server, CREATE, input={"entity": "opportunity", "name": f"Deal {n}"})
            record = made["createRecord"]["record"]["id"]  # type: ignore[index]
            run = graphql(server, START, input={"recordId": record, "processId": process})
            started.append(run["startInstance"]["instance"]["id"])  # type: ignore[index]

        deadline = time.monotonic() + 60
        while len(graphql(a, TOLD)["events"]) < STAYS:  # type: ignore[arg-type]
            assert time.monotonic() < deadline, "not every stay was told overdue"
            time.sleep(0.2)
        # Both servers go on scanning for a while: nothing is told twice.
        time.sleep(2)
        told = graphql(b, TOLD)["events"]
        counted = Counter(e["instanceId"] for e in told)  # type: ignore[union-attr, index]
        assert sorted(counted) == sorted(started)
        assert set(counted.values()) == {1}
        assert {e["toStage"] for e in told} == {"check"}  # type: ignore[union-attr, index]
        assert graphql(a, LATE)["instances"]["totalCount"] == STAYS  # type: ignore[index]
    finally:
        stop_server(a)
        stop_server(b)
