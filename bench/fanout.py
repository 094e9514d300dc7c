"""Fan one stage change out to many subscribers, next to a bare Starlette broadcast.

Starts a real `stageflow serve` (SQLite) and, in the same run, a bare Starlette
websocket app that broadcasts the same payload. Each gets the same number of
client sockets; each round makes one change (an advanceStage / moveToStage on
Stageflow, a POST on the bare app) and waits until every socket has it. Reports
delivered events per second and change-to-delivery p50/p99 for both, and the ratio.

Subscribers are live-only by default, so identical subscriptions share one execution;
`--replay` gives each an `afterSeq`, so each executes the document on its own.

Run: `.venv/bin/python bench/fanout.py --subscribers 1000 --rounds 20`
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import websockets

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT / "tests" / "e2e"))

from serving import free_port, start_server, stop_server  # noqa: E402

SUBSCRIPTION = """subscription($id: ID, $after: Int) { stageChanged(instanceId: $id, afterSeq: $after) {
  seq kind fromStage toStage at actor %s } }"""
CREATE = """mutation { createRecord(input: {entity: "opportunity", name: "Bench",
  values: {estimated_budget: 1000, decision_maker_identified: true}}) {
  ... on RecordCreated { record { id } } } }"""
START = """mutation($r: ID!) { startInstance(input: {recordId: $r}) {
  ... on InstanceStarted { instance { id } } } }"""
ADVANCE = "mutation($id: ID!) { advanceStage(input: {instanceId: $id}) { __typename } }"
BACK = (
    'mutation($id: ID!) { moveToStage(input: {instanceId: $id, stage: "qualify"}) { __typename } }'
)

BARE_APP = """
import asyncio
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route, WebSocketRoute

sockets = set()

async def feed(ws):
    await ws.accept()
    sockets.add(ws)
    try:
        while True:
            await ws.receive_text()
    except Exception:
        pass
    finally:
        sockets.discard(ws)

async def broadcast(request):
    payload = await request.body()
    text = payload.decode()
    await asyncio.gather(*(ws.send_text(text) for ws in list(sockets)), return_exceptions=True)
    return PlainTextResponse("ok")

app = Starlette(routes=[WebSocketRoute("/ws", feed), Route("/broadcast", broadcast, methods=["POST"])])
"""


async def _clients(url: str, count: int, init: list[str]) -> list[websockets.ClientConnection]:
    async def one() -> websockets.ClientConnection:
        ws = await websockets.connect(
            url, subprotocols=["graphql-transport-ws"] if init else None, max_queue=None
        )
        for message in init:
            await ws.send(message)
        if init:
            assert json.loads(await ws.recv())["type"] == "connection_ack"
        return ws

    sockets = []
    for start in range(0, count, 100):  # connect in waves
        sockets += await asyncio.gather(*(one() for _ in range(min(100, count - start))))
    return sockets


async def _round(sockets: list[websockets.ClientConnection], trigger) -> list[float]:  # type: ignore[no-untyped-def]
    async def receive(ws: websockets.ClientConnection) -> float:
        while True:
            message = json.loads(await ws.recv())
            if message.get("type") in ("next", "broadcast"):
                return time.perf_counter()

    waiting = [asyncio.create_task(receive(ws)) for ws in sockets]
    started = time.perf_counter()
    await trigger()
    done = await asyncio.wait_for(asyncio.gather(*waiting), timeout=60)
    return [t - started for t in done]


def _report(name: str, latencies: list[float], elapsed: float) -> float:
    ordered = sorted(latencies)
    rate = len(latencies) / elapsed
    p50 = ordered[len(ordered) // 2] * 1000
    p99 = ordered[int(len(ordered) * 0.99) - 1] * 1000
    print(f"{name:>22}: {rate:9.0f} events/s  p50 {p50:7.1f} ms  p99 {p99:7.1f} ms")
    return rate


async def _measure(sockets, trigger, rounds: int) -> tuple[list[float], float]:  # type: ignore[no-untyped-def]
    latencies: list[float] = []
    started = time.perf_counter()
    for _ in range(rounds):
        latencies += await _round(sockets, trigger)
    return latencies, time.perf_counter() - started


async def _wait_subscribed(http: httpx.AsyncClient, count: int) -> dict[str, float]:
    """Until the server's gauges count every subscription."""
    names = ("stageflow_ws_operations", "stageflow_shared_subscribers")
    for _ in range(600):
        text = (await http.get("/metrics")).text
        pairs = (line.split() for line in text.splitlines() if line and line[0] != "#")
        gauges = {name: float(value) for name, value in pairs}
        if sum(gauges[name] for name in names) >= count:
            return gauges
        await asyncio.sleep(0.1)
    raise TimeoutError(f"{count} subscriptions never registered")


async def main(subscribers: int, rounds: int, with_instance: bool, replay: bool) -> None:
    folder = Path(tempfile.mkdtemp())
    server = start_server(
        f"sqlite://{folder}/bench.db",
        folder / "server.log",
        demo=False,
        extra_env={"STAGEFLOW_WS_MAX_SUBSCRIPTIONS": "5"},
    )
    port = free_port()
    (folder / "bare.py").write_text(BARE_APP)
    bare = subprocess.Popen(
        [str(BIN / "uvicorn"), "bare:app", "--port", str(port), "--log-level", "warning"],
        cwd=folder,
        env={**os.environ},
    )
    try:
        auth = {"authorization": f"Bearer {server.token}"}
        async with httpx.AsyncClient(base_url=server.url, timeout=30, headers=auth) as http:
            record = (await http.post("/graphql", json={"query": CREATE})).json()
            rid = record["data"]["createRecord"]["record"]["id"]
            started = (
                await http.post("/graphql", json={"query": START, "variables": {"r": rid}})
            ).json()
            iid = started["data"]["startInstance"]["instance"]["id"]
            seqs = (
                await http.post("/graphql", json={"query": "{ events(afterSeq: 0) { seq } }"})
            ).json()
            after = seqs["data"]["events"][-1]["seq"]
            selection = "instance { version activeStage { key } }" if with_instance else ""
            subscribe = json.dumps(
                {
                    "id": "1",
                    "type": "subscribe",
                    "payload": {
                        "query": SUBSCRIPTION % selection,
                        "variables": {"id": iid, "after": after if replay else None},
                    },
                }
            )
            ws_url = server.url.replace("http://", "ws://") + "/graphql"
            init = [json.dumps({"type": "connection_init", "payload": {"token": server.token}})]
            sockets = await _clients(ws_url, subscribers, init)
            for ws in sockets:
                await ws.send(subscribe)
            gauges = await _wait_subscribed(http, subscribers)
            forward = [True]

            async def change() -> None:
                query = ADVANCE if forward[0] else BACK
                forward[0] = not forward[0]
                response = await http.post(
                    "/graphql", json={"query": query, "variables": {"id": iid}}
                )
                assert "errors" not in response.json()

            await _round(sockets, change)  # warm up
            stageflow, stageflow_elapsed = await _measure(sockets, change, rounds)
            for ws in sockets:
                await ws.close()

        for _ in range(50):
            try:
                httpx.get(f"http://127.0.0.1:{port}/broadcast")
                break
            except httpx.TransportError:
                await asyncio.sleep(0.1)
        payload = json.dumps(
            {
                "type": "broadcast",
                "payload": {
                    "data": {
                        "stageChanged": {
                            "seq": 1,
                            "kind": "STAGE_ADVANCED",
                            "fromStage": "qualify",
                            "toStage": "develop",
                            "at": "2026-11-22T00:00:00+00:00",
                            "actor": "demo",
                        }
                    }
                },
            }
        )
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            sockets = await _clients(f"ws://127.0.0.1:{port}/ws", subscribers, [])
            await asyncio.sleep(1)

            async def send() -> None:
                await http.post("/broadcast", content=payload)

            await _round(sockets, send)
            baseline, baseline_elapsed = await _measure(sockets, send, rounds)
            for ws in sockets:
                await ws.close()

        print(
            f"{subscribers} subscribers, {rounds} changes, instance selected: {with_instance}, "
            f"replay: {replay}; executions shared by "
            f"{gauges['stageflow_shared_subscribers']:.0f} sockets in "
            f"{gauges['stageflow_shared_streams']:.0f} stream(s), "
            f"{gauges['stageflow_ws_operations']:.0f} on their own"
        )
        ours = _report("stageflow", stageflow, stageflow_elapsed)
        theirs = _report("bare starlette", baseline, baseline_elapsed)
        print(f"{'rate ratio':>22}: {ours / theirs:9.2f}")
    finally:
        bare.terminate()
        bare.wait()
        stop_server(server)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--with-instance", action="store_true")
    parser.add_argument("--replay", action="store_true", help="subscribe with afterSeq")
    args = parser.parse_args()
    asyncio.run(main(args.subscribers, args.rounds, args.with_instance, args.replay))
