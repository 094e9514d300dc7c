"""What the insights' kept times and pipeline rows and sums cost to writes, on PostgreSQL.

16 clients each advance an instance, move it back and complete a step, over and over; the
rounds alternate between the triggers of migrations 0017 to 0020 enabled and disabled
(the order flipped every other round), and the figure is the median ratio of writes per
second, enabled over disabled, of rounds run side by side. An enabled round ends with
the deltas folded into their sums, inside its time.

    .venv/bin/python -m bench.insights_writes [--admin-url URL] [--rounds 8]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
import uuid

import asyncpg
from tortoise import Tortoise

from bench.insights import _admin, _pg_url
from server.cli import migrate
from server.db import insight_months, pipeline_sums
from server.db.config import tortoise_config
from server.services import instances, records
from server.services.runtime import Runtime
from server.services.seed import seed
from server.settings import Settings

TRIGGERS = (
    ("stage_visit", "stage_time_stay_update"),
    ("stage_visit", "stage_time_stay_insert"),
    ("instance", "stage_time_cycle_update"),
    ("instance", "stage_time_cycle_insert"),
    ("instance", "pipeline_row_instance_update"),
    ("instance", "pipeline_row_instance_insert"),
    ("record", "pipeline_row_record"),
    ("pipeline_row", "pipeline_delta_written"),
    ("pipeline_row", "pipeline_delta_rewritten"),
    ("insight_day", "insight_month_written"),
    ("insight_day", "insight_month_rewritten"),
)
CLIENTS = 16
TURNS = 4
# Every step of Opportunity Sales' first stages, so that advancing is allowed.
VALUES = {"estimated_budget": 100, "decision_maker_identified": True, "customer_need": "Laptops"}


async def _client(rt: Runtime, instance_id: int) -> None:
    for turn in range(TURNS):
        await instances.advance_stage(rt, instance_id=instance_id, expected_version=None, by="ana")
        await instances.move_to_stage(
            rt, instance_id=instance_id, stage="qualify", expected_version=None, by="ana"
        )
        await instances.complete_step(
            rt, instance_id=instance_id, field="estimated_budget", value=1000 + turn,
            expected_version=None, by="ana",
        )  # fmt: skip


async def main(admin: str, rounds: int) -> None:
    name = f"stageflow_writes_{uuid.uuid4().hex[:8]}"
    await _admin(admin, f'CREATE DATABASE "{name}"')
    url = _pg_url(admin, name)
    try:
        await migrate(Settings(database_url=url))
        await Tortoise.init(config=tortoise_config(url))
        rt = Runtime.create()
        await seed(rt)
        process_id = await rt.catalog.find_key("opportunity-sales")
        assert process_id is not None
        runs = []
        for n in range(CLIENTS):
            made = await records.create_record(
                rt, entity="opportunity", name=f"Deal {n}", owner="ana", values=VALUES, by="ana"
            )
            assert made.record is not None and made.record.id is not None
            started = await instances.start_instance(
                rt, record_id=made.record.id, process_id=process_id, by="ana"
            )
            assert started.instance is not None and started.instance.id is not None
            runs.append(started.instance.id)
        switch = await asyncpg.connect(url)
        rates: dict[bool, list[float]] = {True: [], False: []}
        for n in range(rounds):
            for enabled in (True, False) if n % 2 else (False, True):
                for table, trigger in TRIGGERS:
                    state = "ENABLE" if enabled else "DISABLE"
                    await switch.execute(f'ALTER TABLE "{table}" {state} TRIGGER "{trigger}"')
                began = time.perf_counter()
                await asyncio.gather(*(_client(rt, i) for i in runs))
                if enabled:
                    # The deltas folded into their sums count as the writes' cost.
                    await pipeline_sums.fold()
                    await insight_months.fold()
                rates[enabled].append(CLIENTS * TURNS * 3 / (time.perf_counter() - began))
        await switch.close()
        ratios = [a / b for a, b in zip(rates[True], rates[False], strict=True)]
        for enabled in (True, False):
            label = "enabled " if enabled else "disabled"
            print(
                label,
                [round(r) for r in rates[enabled]],
                "median",
                round(statistics.median(rates[enabled])),
            )
        print("ratio", [round(r, 2) for r in ratios], "median", round(statistics.median(ratios), 3))
    finally:
        await Tortoise.close_connections()
        await _admin(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--admin-url",
        default=os.environ.get("PG_ADMIN_URL", "postgres://postgres@127.0.0.1:5432/postgres"),
    )
    parser.add_argument("--rounds", type=int, default=8)
    args = parser.parse_args()
    asyncio.run(main(args.admin_url, args.rounds))
