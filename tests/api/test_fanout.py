"""Which websocket operations may share one execution: live-only subscriptions alike in all."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from server.api.fanout import Fanout
from server.api.schema import schema

LIVE = "subscription($id: ID) { stageChanged(instanceId: $id) { seq } }"
RESUMABLE = (
    "subscription($id: ID, $after: Int) { stageChanged(instanceId: $id, afterSeq: $after) { seq } }"
)


def _key(
    query: str,
    variables: dict[str, Any] | None = None,
    *,
    credential: int = 1,
    name: str | None = None,
) -> object:
    operation = SimpleNamespace(query=query, variables=variables, operation_name=name)
    context = SimpleNamespace(credential=SimpleNamespace(id=credential))
    return Fanout(schema).key(operation, context)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("query", "variables"),
    [
        (LIVE, {"id": "1"}),
        (RESUMABLE, {"id": "1"}),
        (RESUMABLE, {"id": "1", "after": None}),
        ("subscription { stageChanged(afterSeq: null) { seq } }", None),
        ("query Q { me } subscription S { stageChanged { seq } }", {}),
    ],
)
def test_live_only_subscriptions_are_shared(query: str, variables: dict[str, Any] | None) -> None:
    name = "S" if "subscription S" in query else None
    assert _key(query, variables, name=name) is not None


@pytest.mark.parametrize(
    ("query", "variables"),
    [
        (RESUMABLE, {"id": "1", "after": 0}),
        (RESUMABLE, {"id": "1", "after": 41}),
        ("subscription { stageChanged(afterSeq: 3) { seq } }", None),
        ("subscription($a: Int = 5) { stageChanged(afterSeq: $a) { seq } }", {}),
        ("subscription { ...F } fragment F on Subscription { stageChanged { seq } }", None),
        ("query { me }", None),
        ("mutation { x }", None),
        ("subscription {", None),
        ("subscription A { stageChanged { seq } } subscription B { stageChanged { seq } }", None),
    ],
)
def test_replays_and_other_operations_run_on_their_own(
    query: str, variables: dict[str, Any] | None
) -> None:
    assert _key(query, variables) is None


def test_the_key_tells_documents_variables_and_credentials_apart() -> None:
    assert _key(LIVE, {"id": "1"}) == _key(LIVE, {"id": "1"})
    assert _key(RESUMABLE, {"after": None, "id": "1"}) == _key(
        RESUMABLE, {"id": "1", "after": None}
    )
    assert _key(LIVE, {"id": "1"}) != _key(LIVE, {"id": "2"})
    assert _key(LIVE, {"id": "1"}) != _key(LIVE, {"id": "1"}, credential=2)
    assert _key(LIVE, {"id": "1"}) != _key(LIVE.replace("seq", "seq kind"), {"id": "1"})
