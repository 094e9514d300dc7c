"""Live events over graphql-transport-ws against a real server: live, replayed, in order."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from serving import Server, graphql, start_server, stop_server
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

PROTOCOL = "graphql-transport-ws"

START = """
mutation($record: ID!) { startInstance(input: {recordId: $record}) {
  ... on InstanceStarted { instance { id } } } }
"""
CREATE = """
mutation { createRecord(input: {entity: "opportunity", name: "Live deal",
  values: {estimated_budget: 1000, decision_maker_identified: true}}) {
  ... on RecordCreated { record { id } } } }
"""
ADVANCE = """
mutation($id: ID!) { advanceStage(input: {instanceId: $id}) { __typename } }
"""
BACK = """
mutation($id: ID!) { moveToStage(input: {instanceId: $id, stage: "qualify"}) { __typename } }
"""
STEP = """
mutation($id: ID!, $value: JSON) {
  completeStep(input: {instanceId: $id, field: "estimated_budget", value: $value}) { __typename }
}
"""
LAST_SEQ = "{ events(afterSeq: 0, first: 100) { seq } }"
STAGE_CHANGED = """
subscription($id: ID) { stageChanged(instanceId: $id) {
  seq kind actor fromStage toStage instance { id activeStage { key } version } } }
"""
INSTANCE_EVENTS = """
subscription($id: ID!, $after: Int) { instanceEvents(instanceId: $id, afterSeq: $after) {
  seq kind after } }
"""


def _instance(server: Server) -> str:
    record = graphql(server, CREATE)["createRecord"]["record"]["id"]  # type: ignore[index]
    return graphql(server, START, record=record)["startInstance"]["instance"]["id"]  # type: ignore[index,no-any-return]


@contextmanager
def _socket(server: Server) -> Iterator[ClientConnection]:
    url = server.url.replace("http://", "ws://") + "/graphql"
    with connect(url, subprotocols=[PROTOCOL], origin=server.url) as ws:  # type: ignore[arg-type]
        ws.send(json.dumps({"type": "connection_init", "payload": {"token": server.token}}))
        assert json.loads(ws.recv(timeout=5))["type"] == "connection_ack"
        yield ws


def _subscribe(ws: ClientConnection, op: str, query: str, **variables: Any) -> None:
    ws.send(
        json.dumps(
            {"id": op, "type": "subscribe", "payload": {"query": query, "variables": variables}}
        )
    )


def _next(ws: ClientConnection, timeout: float = 5) -> dict[str, Any]:
    while True:
        message = json.loads(ws.recv(timeout=timeout))
        if message["type"] == "ping":
            ws.send(json.dumps({"type": "pong"}))
            continue
        assert message["type"] == "next", message
        assert "errors" not in message["payload"], message
        return message["payload"]["data"]  # type: ignore[no-any-return]


def _skip_pings(ws: ClientConnection) -> dict[str, Any]:
    while (message := json.loads(ws.recv(timeout=5)))["type"] == "ping":
        ws.send(json.dumps({"type": "pong"}))
    return message  # type: ignore[no-any-return]


def test_stage_change_arrives_live(server: Server) -> None:
    iid = _instance(server)
    with _socket(server) as ws:
        _subscribe(ws, "1", STAGE_CHANGED, id=iid)
        graphql(server, STEP, id=iid, value=2000)  # not a stage change: not sent
        assert graphql(server, ADVANCE, id=iid)["advanceStage"]["__typename"] == "StageAdvanced"  # type: ignore[index]
        event = _next(ws)["stageChanged"]
    assert event["kind"] == "STAGE_ADVANCED"
    assert (event["fromStage"], event["toStage"]) == ("qualify", "develop")
    assert event["instance"] == {"id": iid, "activeStage": {"key": "develop"}, "version": 3}
    assert event["actor"] == "admin"


def test_reconnect_with_after_seq_receives_exactly_what_was_missed(server: Server) -> None:
    iid = _instance(server)
    seen = graphql(server, LAST_SEQ)["events"]
    last = seen[-1]["seq"]  # type: ignore[index]

    for value in range(1, 101):  # made while no client listens
        graphql(server, STEP, id=iid, value=value)

    with _socket(server) as ws:
        _subscribe(ws, "r", INSTANCE_EVENTS, id=iid, after=last)
        replayed = [_next(ws)["instanceEvents"] for _ in range(100)]
        graphql(server, STEP, id=iid, value=101)
        live = _next(ws)["instanceEvents"]
        with pytest.raises(TimeoutError):
            _next(ws, timeout=0.5)

    assert [e["seq"] for e in replayed] == list(range(last + 1, last + 101))
    assert [e["after"]["values"]["estimated_budget"] for e in replayed] == [
        f"{v}.00" for v in range(1, 101)
    ]
    assert live["seq"] == last + 101


def test_only_the_graphql_transport_ws_protocol_is_spoken(server: Server) -> None:
    url = server.url.replace("http://", "ws://") + "/graphql"
    legacy = connect(url, subprotocols=["graphql-ws"])  # type: ignore[list-item]
    with legacy as ws, pytest.raises(ConnectionClosed) as closed:
        ws.send(json.dumps({"type": "connection_init", "payload": {}}))
        ws.recv(timeout=5)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4406


def test_limits_close_idle_sockets_and_cap_subscriptions(database_url: str, tmp_path: Path) -> None:
    limits = {
        "STAGEFLOW_WS_INIT_TIMEOUT": "0.5",
        "STAGEFLOW_WS_MAX_SUBSCRIPTIONS": "2",
        "STAGEFLOW_WS_PING_INTERVAL": "0.3",
    }
    server = start_server(database_url, tmp_path / "limits.log", extra_env=limits)
    try:
        url = server.url.replace("http://", "ws://") + "/graphql"
        silent = connect(url, subprotocols=[PROTOCOL])  # type: ignore[list-item]
        with silent as ws, pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=5)  # never sends connection_init
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4408

        with _socket(server) as ws:
            # The server pings an idle, acknowledged connection.
            assert json.loads(ws.recv(timeout=3)) == {"type": "ping"}

        iid = _instance(server)
        with _socket(server) as ws:
            for op in ("1", "2", "3"):
                _subscribe(ws, op, STAGE_CHANGED, id=iid)
            refused = _skip_pings(ws)
            assert refused["type"] == "error" and refused["id"] == "3"
            graphql(server, ADVANCE, id=iid)
            received = {_skip_pings(ws)["id"] for _ in range(2)}
            assert received == {"1", "2"}
        assert server.process.poll() is None
    finally:
        stop_server(server)


def _gauges(server: Server) -> dict[str, float]:
    text = httpx.get(server.url + "/metrics", timeout=5).text
    pairs = (line.split() for line in text.splitlines() if line and not line.startswith("#"))
    return {name: float(value) for name, value in pairs}


def _wait_for_gauges(server: Server, **expected: float) -> None:
    deadline = time.monotonic() + 5
    while (seen := {k: _gauges(server)[f"stageflow_{k}"] for k in expected}) != expected:
        assert time.monotonic() < deadline, f"gauges {seen}, expected {expected}"
        time.sleep(0.05)


def _raw_next(ws: ClientConnection) -> str:
    while (message := json.loads(text := ws.recv(timeout=5)))["type"] == "ping":
        ws.send(json.dumps({"type": "pong"}))
    assert message["type"] == "next", message
    return text  # type: ignore[return-value]


def test_identical_live_subscriptions_share_one_execution(server: Server) -> None:
    iid = _instance(server)
    with _socket(server) as a, _socket(server) as b, _socket(server) as c:
        for ws in (a, b, c):
            _subscribe(ws, "live", STAGE_CHANGED, id=iid)
        _subscribe(c, "replay", INSTANCE_EVENTS, id=iid, after=0)  # a replay runs on its own
        for _ in range(2):  # the replayed record creation and start
            _raw_next(c)
        _wait_for_gauges(server, shared_streams=1, shared_subscribers=3, ws_operations=1)

        graphql(server, ADVANCE, id=iid)
        texts = [_raw_next(ws) for ws in (a, b)]
        third = [json.loads(_raw_next(c)) for _ in range(2)]
        # One execution, one encoding: the same text on every socket.
        assert texts[0] == texts[1]
        by_op = {m["id"]: m["payload"]["data"] for m in third}
        assert by_op["live"] == json.loads(texts[0])["payload"]["data"]
        assert by_op["replay"]["instanceEvents"]["kind"] == "STAGE_ADVANCED"
        assert json.loads(texts[0])["payload"]["data"]["stageChanged"]["instance"] == {
            "id": iid,
            "activeStage": {"key": "develop"},
            "version": 2,
        }

        # A socket that completes its operation leaves the stream; the others stay on it.
        a.send(json.dumps({"id": "live", "type": "complete"}))
        _wait_for_gauges(server, shared_streams=1, shared_subscribers=2)
        graphql(server, BACK, id=iid)
        assert json.loads(_raw_next(b))["payload"]["data"]["stageChanged"]["toStage"] == "qualify"
        with pytest.raises(TimeoutError):
            a.recv(timeout=0.5)
    # The last socket gone, the stream stops.
    _wait_for_gauges(server, shared_streams=0, shared_subscribers=0, ws_operations=0)


def test_other_variables_or_another_credential_get_a_stream_of_their_own(server: Server) -> None:
    first, second = _instance(server), _instance(server)
    url = server.url.replace("http://", "ws://") + "/graphql"
    with (
        _socket(server) as a,
        _socket(server) as b,
        connect(url, subprotocols=[PROTOCOL]) as c,  # type: ignore[list-item]
    ):
        init = {"type": "connection_init", "payload": {"token": server.token_of("ana")}}
        c.send(json.dumps(init))
        assert json.loads(c.recv(timeout=5))["type"] == "connection_ack"
        _subscribe(a, "1", STAGE_CHANGED, id=first)
        _subscribe(b, "1", STAGE_CHANGED, id=second)
        _subscribe(c, "1", STAGE_CHANGED, id=first)
        _wait_for_gauges(server, shared_streams=3, shared_subscribers=3)
        graphql(server, ADVANCE, id=second)
        assert (
            json.loads(_raw_next(b))["payload"]["data"]["stageChanged"]["instance"]["id"] == second
        )
        with pytest.raises(TimeoutError):
            a.recv(timeout=0.5)


def test_a_shared_operation_that_fails_answers_every_socket(server: Server) -> None:
    with _socket(server) as a, _socket(server) as b:
        for ws in (a, b):
            _subscribe(ws, "bad", "subscription { stageChanged { seq nope } }")
            _subscribe(ws, "gone", STAGE_CHANGED, id="999999")
        for ws in (a, b):
            messages = [_skip_pings(ws) for _ in range(3)]
            invalid = next(m for m in messages if m["id"] == "bad")
            assert invalid["type"] == "error"
            assert "nope" in invalid["payload"][0]["message"]
            missing = [m for m in messages if m["id"] == "gone"]
            assert [m["type"] for m in missing] == ["next", "complete"]
            assert missing[0]["payload"]["errors"][0]["message"].startswith("Instance")
    _wait_for_gauges(server, shared_streams=0, shared_subscribers=0)
