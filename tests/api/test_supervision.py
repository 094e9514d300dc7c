"""Background work heals by itself, and readiness tells the truth meanwhile.

The feed's reader fails while the database does not answer it: it is started again (counted
in /metrics), /readyz says the feed lags, and once reads work again every event arrives and
the worker is ready. A subscription's per-event access check rides out a blip too.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from making import new_instance, set_budget
from sockets import Socket
from starlette.applications import Starlette

from server.app import create_app
from server.db.outage import DatabaseUnavailable
from server.events.supervisor import Supervisor
from server.services import accounts, queries
from server.services.seed import seed
from server.settings import Settings

EVENTS = "subscription($id: ID!) { instanceEvents(instanceId: $id) { seq } }"


@pytest.fixture
async def app(database_url: str) -> AsyncIterator[Starlette]:
    """The app of these tests is not ready as soon as its feed is behind at all."""
    app = create_app(Settings(database_url=database_url, ready_max_lag_seconds=0.0))
    async with app.router.lifespan_context(app):
        await seed(app.state.runtime)
        yield app


def _restarts(metrics: str, task: str) -> int:
    found = re.search(rf'stageflow_task_restarts_total{{task="{task}"}} (\d+)', metrics)
    assert found, metrics
    return int(found.group(1))


async def test_a_failing_feed_is_restarted_reported_and_heals(
    gql: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    http = gql.http
    instance = await new_instance(gql, "Blip")
    async with Socket(gql.app, await gql.token("demo")) as socket:
        await socket.subscribe("1", EVENTS, id=instance)
        first = await set_budget(gql, instance, 1)
        assert (await socket.receive())["payload"]["data"]["instanceEvents"]["seq"] == first

        reads = queries.feed_after

        async def away(*args: Any, **kwargs: Any) -> Any:
            raise DatabaseUnavailable()

        monkeypatch.setattr(queries, "feed_after", away)
        missed = [await set_budget(gql, instance, n) for n in range(2, 5)]
        while _restarts((await http.get("/metrics")).text, "event-reader") < 2:
            await asyncio.sleep(0.05)
        lagging = [await http.get("/readyz") for _ in range(2)]
        assert lagging[-1].status_code == 503
        assert lagging[-1].json()["reason"] == "feed"
        assert lagging[-1].json()["databaseSeq"] == missed[-1]

        monkeypatch.setattr(queries, "feed_after", reads)
        got = [
            (await socket.receive(timeout=10))["payload"]["data"]["instanceEvents"]["seq"]
            for _ in missed
        ]
        assert got == missed
        ready = await http.get("/readyz")
        assert (ready.status_code, ready.json()) == (200, {"status": "ready"})


async def test_an_access_check_that_meets_a_blip_waits_instead_of_ending(
    gql: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    instance = await new_instance(gql, "Blip")
    checks = accounts.still_valid
    failures = 3

    async def flaky(runtime: Any, credential_id: int) -> Any:
        nonlocal failures
        if failures:
            failures -= 1
            raise DatabaseUnavailable()
        return await checks(runtime, credential_id)

    async with Socket(gql.app, await gql.token("demo")) as socket:
        await socket.subscribe("1", EVENTS, id=instance)
        await asyncio.sleep(0.05)
        monkeypatch.setattr(accounts, "still_valid", flaky)
        seqs = [await set_budget(gql, instance, n) for n in range(2)]
        messages = [await socket.receive(timeout=10) for _ in seqs]
        assert failures == 0
        assert [m["type"] for m in messages] == ["next", "next"]
        assert [m["payload"]["data"]["instanceEvents"]["seq"] for m in messages] == seqs


def test_restarts_back_off_up_to_a_ceiling() -> None:
    supervisor = Supervisor(first_delay=0.05, max_delay=1.0)
    delays = [supervisor.delay(n) for n in range(1, 12)]
    assert 0.025 <= delays[0] <= 0.05
    assert all(d <= 1.0 for d in delays)
    assert max(delays[6:]) > 0.5  # it has grown to the ceiling's range


async def test_a_task_that_fails_is_started_again_and_counted() -> None:
    supervisor = Supervisor(first_delay=0.001, max_delay=0.002)
    runs: list[int] = []
    done = asyncio.Event()

    async def work() -> None:
        runs.append(len(runs))
        if len(runs) < 4:
            raise RuntimeError("boom")
        done.set()
        await asyncio.Event().wait()

    supervisor.start("job", work)
    await asyncio.wait_for(done.wait(), 5)
    assert supervisor.restarts["job"] == 3
    assert supervisor.running("job")
    await supervisor.stop()
    assert not supervisor.running("job")
