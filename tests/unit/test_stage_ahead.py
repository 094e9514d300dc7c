"""The forward pairs migration 0016 writes from stored definitions are those the engine's
processes give, for every ready-to-use process, branches included."""

from __future__ import annotations

import importlib
import json

from server.domain.definition import dump_process
from server.domain.insights import ahead, forward_pairs
from server.services.seed import templates

migration = importlib.import_module("server.db.migrations.0016_insight_days")


def test_stored_definitions_give_the_processes_forward_pairs() -> None:
    _, processes = templates()
    branched = 0
    for process in processes:
        stored = dump_process(process)
        branched += any(s.get("branches") for s in stored["stages"])
        expected = forward_pairs([process])
        assert expected
        assert migration.pairs_of(stored) == expected, process.key
        assert migration.pairs_of(json.dumps(stored)) == expected, process.key
    assert branched


def test_pairs_reach_every_later_stage_and_stop_at_a_cycle() -> None:
    chain = {"a": ["b"], "b": ["c", "d"], "c": [], "d": ["a"]}
    found = ahead(chain)
    assert ("a", "c") in found and ("a", "d") in found and ("b", "c") in found
    assert ("c", "a") not in found
    assert ahead({"a": ["b"], "b": []}) == {("a", "b")}
