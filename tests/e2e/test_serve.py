"""The commands `make run` uses give a server that answers, on the configured port."""

from __future__ import annotations

import os
import signal

import httpx
from serving import Server, stageflow


def test_served_demo_answers_processes_and_health(server: Server) -> None:
    auth = {"authorization": f"Bearer {server.token}"}
    response = httpx.post(
        f"{server.url}/graphql", json={"query": "{ processes { name } }"}, headers=auth
    )
    assert response.status_code == 200
    names = [p["name"] for p in response.json()["data"]["processes"]]
    assert names[:2] == ["Opportunity Sales", "Enterprise Deal"]
    assert {"Lead to Opportunity", "Phone to Case"} <= set(names)

    records = httpx.post(
        f"{server.url}/graphql",
        json={"query": "{ instances(first: 20) { totalCount edges { node { id } } } }"},
        headers=auth,
    ).json()["data"]["instances"]
    assert records["totalCount"] >= 3

    assert httpx.get(f"{server.url}/healthz").json() == {"status": "ok"}
    assert httpx.get(f"{server.url}/readyz").json() == {"status": "ready"}
    page = httpx.get(f"{server.url}/")
    assert page.status_code == 200 and "<html" in page.text.lower()


def test_seed_is_idempotent(server: Server, database_url: str) -> None:
    env = {**os.environ, "STAGEFLOW_DATABASE_URL": database_url}
    out = stageflow("seed", "--demo", env=env)
    assert out.strip() == "processes added: none; demo records added: 0"


def test_server_stops_cleanly_on_interrupt(server: Server) -> None:
    server.process.send_signal(signal.SIGINT)
    assert server.process.wait(timeout=15) == 0
