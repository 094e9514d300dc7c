"""The README's pictures of the Insights page: `.venv/bin/python docs/insights_pictures.py`.

Ninety days of Opportunity Sales are played through Stageflow's own services on a fresh
SQLite database, with the services' clock set to each move's moment (a record started,
advanced, finished won or lost, abandoned); then a real server shows the page to Chromium,
which saves docs/screenshots/insights.png and insights-390.png. Same seed, same history.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import random
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "e2e")]

from browsing import chromium, open_page  # noqa: E402
from serving import graphql, stageflow, start_server, stop_server  # noqa: E402
from tortoise import Tortoise  # noqa: E402

from server.db.config import tortoise_config  # noqa: E402
from server.services import instances, records  # noqa: E402
from server.services.runtime import Runtime  # noqa: E402

OUT = ROOT / "docs" / "screenshots"
DAYS = 90
RECORDS = 70
OWNERS = ["ana", "ben", "demo"]
COMPANIES = [
    "Contoso",
    "Fabrikam",
    "Litware",
    "Adatum",
    "Northwind",
    "Tailspin",
    "Woodgrove",
    "Proseware",
    "Wingtip",
    "Alpine",
]
GOODS = ["laptops", "printers", "servers", "desks", "phones", "licences", "scanners"]
# Every required step of every stage is done: any path may be played.
READY = {
    "estimated_budget": "0",
    "decision_maker_identified": True,
    "customer_need": "A renewal",
    "develop_proposal": True,
    "present_proposal": True,
    "present_final_proposal": True,
}
REASONS = ["Price", "Chose a competitor", "No budget this year", "Timing"]


class Clock:
    """The services' idea of now, set to each move's moment before the move."""

    at = dt.datetime.now(dt.UTC)

    @classmethod
    def now(cls) -> dt.datetime:
        return cls.at


def plan(rng: random.Random, now: dt.datetime) -> list[tuple[dt.datetime, int, str]]:
    """(moment, record number, move) for every record: moves in order, days apart."""
    moves: list[tuple[dt.datetime, int, str]] = []
    for n in range(RECORDS):
        at = now - dt.timedelta(days=rng.uniform(1, DAYS - 1))
        steps = ["start"]
        for _ in range(3):
            if rng.random() < 0.28:
                break
            steps.append("advance")
        fate = rng.random()
        if len(steps) == 4 and fate < 0.75:
            steps.append("won" if rng.random() < 0.65 else "lost")
        elif fate < 0.3:
            steps.append("abandon")
        for step in steps:
            if at >= now:
                break
            moves.append((at, n, step))
            at += dt.timedelta(days=rng.expovariate(1 / 6), hours=rng.uniform(0, 8))
    return sorted(moves)


async def play(url: str) -> None:
    """The history, played in time order through the services."""
    rng = random.Random(7)
    now = dt.datetime.now(dt.UTC)
    await Tortoise.init(config=tortoise_config(url))
    instances.utcnow = records.utcnow = Clock.now  # type: ignore[assignment]
    try:
        rt = Runtime.create()
        process = await rt.catalog.find_key("opportunity-sales")
        runs: dict[int, tuple[str, int]] = {}
        for at, n, step in plan(rng, now):
            Clock.at = at
            if step == "start":
                owner = OWNERS[n % len(OWNERS)]
                close = now.date() + dt.timedelta(days=rng.randint(5, 120))
                values = {
                    **READY,
                    "estimated_budget": str(rng.randrange(5, 120) * 1000),
                    "estimated_close_date": close.isoformat(),
                }
                name = f"{COMPANIES[n % len(COMPANIES)]} - {rng.randint(2, 60)} {rng.choice(GOODS)}"
                made = await records.create_record(
                    rt, entity="opportunity", name=name, owner=owner, values=values, by=owner
                )
                assert made.record is not None and made.record.id is not None
                started = await instances.start_instance(
                    rt, record_id=made.record.id, process_id=process, by=owner
                )
                assert started.instance is not None and started.instance.id is not None
                runs[n] = (owner, started.instance.id)
                continue
            owner, instance = runs[n]
            move: dict[str, Any] = {"instance_id": instance, "expected_version": None, "by": owner}
            if step == "advance":
                done = await instances.advance_stage(rt, **move)
            elif step == "abandon":
                done = await instances.abandon_instance(rt, **move)
            else:
                reason = rng.choice(REASONS) if step == "lost" else None
                done = await instances.finish_instance(rt, outcome=step, reason=reason, **move)
            assert done.instance is not None, (step, done)
    finally:
        await Tortoise.close_connections()


def pictures(url: str) -> None:
    server = start_server(url, Path(tempfile.mkdtemp()) / "server.log")
    try:
        found = graphql(server, '{ processes(entity: "opportunity") { id key } }')["processes"]
        [process] = [p["id"] for p in found if p["key"] == "opportunity-sales"]  # type: ignore[index]
        OUT.mkdir(parents=True, exist_ok=True)
        with chromium() as browser:
            for width, name in ((1280, "insights"), (390, "insights-390")):
                page, errors = open_page(browser, f"{server.url}/#/insights/{process}", user="ana")
                page.set_viewport_size({"width": width, "height": 860})
                page.wait_for_selector("[data-section='throughput'] svg")
                page.screenshot(path=str(OUT / f"{name}.png"), full_page=True)
                assert errors == [], errors
                print(OUT / f"{name}.png")
    finally:
        stop_server(server)


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite://{folder}/insights.db"
        env = {**os.environ, "STAGEFLOW_DATABASE_URL": url}
        stageflow("migrate", env=env)
        stageflow("seed", "--demo", env=env)
        asyncio.run(play(url))
        pictures(url)


if __name__ == "__main__":
    main()
