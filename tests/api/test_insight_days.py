"""The insights' counts per day (migration 0016, server/db/insight_days.py) always equal
what the rows give, taken afresh: after the demo's months of history, after every kind of
change (moves forward and back, ends, reactivation, a record given to another owner, a
version that brings new forward moves, instances migrated to it), and after 50 clients
changing the same records at once. A figure over any range, whole days or not, equals
the same figure taken from the rows alone."""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import json
import random
import re
from collections import Counter
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import asyncpg
from making import READY
from starlette.applications import Starlette
from tortoise.connection import get_connection
from tortoise.transactions import in_transaction

from server.db import (
    folds,
    insight_days,
    insight_months,
    pipeline_rows,
    pipeline_sums,
    stage_times,
)
from server.db import insights as sums
from server.db.insights import Scope, split
from server.db.where import Where
from server.domain.errors import DomainError
from server.domain.insights import Durations, forward_pairs
from server.events.postgres import asyncpg_dsn
from server.services import design, folding, instances, records
from server.services.runtime import utcnow
from server.services.seed import seed_demo, seed_demo_users

OWNERS = ("ana", "ben", "cleo")
Counts = dict[tuple[Any, ...], int]


class _Undo(Exception):
    pass


async def _counts() -> Counts:
    """Each count per day, and each count per month (the months plus their deltas), that
    is not nought."""
    columns = ", ".join(insight_days.KEY)
    conn = get_connection("default")
    rows = await conn.execute_query_dict(f"SELECT {columns}, n FROM insight_day WHERE n <> 0")
    found = {tuple(row[k] for k in insight_days.KEY): int(row["n"]) for row in rows}
    keys = ", ".join(insight_months.KEY)
    months = await conn.execute_query_dict(
        f"SELECT {keys}, SUM(n) AS n FROM (SELECT {keys}, n FROM insight_month UNION ALL"
        f" SELECT {keys}, n FROM insight_month_delta) m GROUP BY {keys} HAVING SUM(n) <> 0"
    )
    found.update(
        {("month", *(row[k] for k in insight_months.KEY)): int(row["n"]) for row in months}
    )
    return found


Kept = dict[tuple[Any, ...], tuple[Any, ...]]


async def _kept_rows() -> Kept:
    """The kept times: each row (its keys, end, bucket, seconds to the thousandth) and
    each month's count (n and seconds) that is not nought; and each pipeline row."""
    conn = get_connection("default")
    rows = await conn.execute_query_dict("SELECT * FROM stage_time")
    found: Kept = {
        ("row", *(row[k] for k in stage_times.ROW_KEY)): (
            row["process_id"],
            row["process_version"],
            row["owner"],
            str(row["exited_at"]),
            row["bucket"],
            round(float(row["seconds"]), 3),
        )
        for row in rows
    }
    pipeline = await conn.execute_query_dict("SELECT * FROM pipeline_row")
    found.update(
        {
            ("pipeline", row["instance_id"]): tuple(
                None if row[c] is None else str(row[c]) for c in pipeline_rows.COLUMNS
            )
            for row in pipeline
        }
    )
    keys = ", ".join(pipeline_sums.KEY)
    amounts = ", ".join(f"SUM({a}) AS {a}" for a in pipeline_sums.AMOUNTS)
    sums_ = await conn.execute_query_dict(
        f"SELECT {keys}, {amounts} FROM (SELECT * FROM pipeline_sum UNION ALL"
        f" SELECT {keys}, n, counted, cents FROM pipeline_delta) s GROUP BY {keys}"
        " HAVING SUM(n) <> 0 OR SUM(counted) <> 0 OR SUM(cents) <> 0"
    )
    found.update(
        {
            ("sum", *(row[k] for k in pipeline_sums.KEY)): tuple(
                int(row[a]) for a in pipeline_sums.AMOUNTS
            )
            for row in sums_
        }
    )
    months = await conn.execute_query_dict("SELECT * FROM stage_time_month WHERE n <> 0")
    found.update(
        {
            ("month", *(row[k] for k in stage_times.KEY)): (
                int(row["n"]),
                round(float(row["seconds"]), 3),
            )
            for row in months
        }
    )
    return found


async def _recounted() -> tuple[Counts, Kept]:
    """The counts and times as the rows give them now (taken in a transaction that is
    undone)."""
    found: tuple[Counts, Kept] = ({}, {})
    postgres = get_connection("default").capabilities.dialect == "postgres"
    try:
        async with in_transaction():
            for sql in (
                *insight_days.recount(postgres),
                *insight_months.recount(),
                *stage_times.recount(postgres),
                *pipeline_rows.recount(postgres),
                *pipeline_sums.recount(),
            ):
                # Not execute_script: on SQLite it commits first.
                await get_connection("default").execute_query(sql)
            found = (await _counts(), await _kept_rows())
            raise _Undo
    except _Undo:
        pass
    return found


async def _agree() -> None:
    """The kept counts equal a recount, with the pipeline's deltas as they are and again
    once they are folded into its sums."""
    await _agree_now()
    before = (await _counts(), await _kept_rows())
    await pipeline_sums.fold()
    await insight_months.fold()
    assert (await _counts(), await _kept_rows()) == before
    assert not await _deltas(), "a fold left deltas"
    assert not await _month_deltas(), "a fold left deltas"
    await _agree_now()


async def _month_deltas() -> list[dict[str, Any]]:
    return await get_connection("default").execute_query_dict("SELECT * FROM insight_month_delta")


async def _deltas() -> list[dict[str, Any]]:
    return await get_connection("default").execute_query_dict("SELECT * FROM pipeline_delta")


async def _agree_now() -> None:
    counts, times = await _counts(), await _kept_rows()
    fresh, fresh_times = await _recounted()
    assert (counts, times) == (await _counts(), await _kept_rows()), "the recount was not undone"
    for kept, again in ((counts, fresh), (times, fresh_times)):
        differ = {
            k: (kept.get(k), again.get(k)) for k in {*kept, *again} if kept.get(k) != again.get(k)
        }
        assert not differ, f"{len(differ)} keys differ, e.g. {sorted(differ.items())[:5]}"
        assert again, "nothing was counted"


async def _sales(rt: Any) -> int:
    return next(p.id for p in await rt.catalog.list_processes() if p.key == "opportunity-sales")


async def _run(rt: Any, pid: int, name: str, owner: str) -> tuple[int, int]:
    made = await records.create_record(
        rt, entity="opportunity", name=name, owner=owner, values=READY, by=owner
    )
    assert made.record is not None and made.record.id is not None
    started = await instances.start_instance(rt, record_id=made.record.id, process_id=pid, by=owner)
    assert started.instance is not None and started.instance.id is not None
    return made.record.id, started.instance.id


async def _renamed_version(rt: Any, pid: int) -> None:
    """Version 2: `develop` becomes `build` (new forward pairs); the pipeline weighs
    another amount, by another date."""
    draft = await rt.catalog.draft(pid)
    definition = copy.deepcopy(draft.definition)
    definition["amount_field"] = "estimated_revenue"
    definition["close_date_field"] = "proposal_sent_date"
    for stage in definition["stages"]:
        if stage["key"] == "develop":
            stage["key"], stage["name"] = "build", "Build"
        if stage.get("next") == "develop":
            stage["next"] = "build"
    await design.update_process(
        rt, process_id=pid, definition=definition, expected_version=None, by="designer"
    )
    await design.publish_process(rt, process_id=pid, expected_version=None, by="designer")


async def test_counts_follow_every_kind_of_change(app: Starlette) -> None:
    rt = app.state.runtime
    # Folds happen here only in `_agree`, after the pipeline was compared with its deltas.
    await rt.supervisor.stop(folding.NAME)
    await seed_demo_users(rt)
    assert await seed_demo(rt, now=utcnow() - dt.timedelta(days=1)) >= 300
    assert len(await _deltas()) >= 40 and len(await _month_deltas()) >= 100
    await _agree()
    pid = await _sales(rt)

    record_id, moving = await _run(rt, pid, "Moving", "ana")
    _, ending = await _run(rt, pid, "Ending", "ben")
    for _ in range(2):
        await instances.advance_stage(rt, instance_id=moving, expected_version=None, by="ana")
    await instances.move_to_stage(
        rt, instance_id=moving, stage="qualify", expected_version=None, by="ana"
    )
    await instances.advance_stage(rt, instance_id=moving, expected_version=None, by="ana")
    await instances.abandon_instance(rt, instance_id=ending, expected_version=None, by="ben")
    await _agree()
    await instances.reactivate_instance(rt, instance_id=ending, expected_version=None, by="ben")
    for _ in range(3):
        await instances.advance_stage(rt, instance_id=ending, expected_version=None, by="ben")
    await instances.finish_instance(
        rt, instance_id=ending, outcome="lost", reason="Price", expected_version=None, by="ben"
    )
    await _agree()
    # A finished instance reactivated loses its cycle time; finished again, it has one.
    await instances.reactivate_instance(rt, instance_id=ending, expected_version=None, by="ben")
    await _agree()
    await instances.finish_instance(
        rt, instance_id=ending, outcome="won", reason=None, expected_version=None, by="ben"
    )
    await _agree()

    # A record's amount and close date changed: its active instance's pipeline row follows.
    await records.update_record(
        rt, record_id=record_id, name=None, owner=None,
        values={"estimated_budget": 1234.5, "estimated_close_date": "2027-03-04"},
        expected_version=None, by="ana",
    )  # fmt: skip
    row = await get_connection("default").execute_query_dict(
        f"SELECT month, cents FROM pipeline_row WHERE instance_id = {moving}"
    )
    assert [(r["month"], int(r["cents"])) for r in row] == [("2027-03", 123450)]
    await _agree()
    # A record given to another owner takes its instances' counts along.
    await records.update_record(
        rt, record_id=record_id, name=None, owner="cleo", values=None,
        expected_version=None, by="admin",
    )  # fmt: skip
    owners = {key[2] for key in await _counts()}
    assert "cleo" in owners
    await _agree()

    # A version whose forward moves are new; instances migrated onto it, then moved on it.
    await _renamed_version(rt, pid)
    pairs = forward_pairs([await rt.catalog.version(pid, 2)])
    rows = await get_connection("default").execute_query_dict(
        f"SELECT stage, later FROM stage_ahead WHERE process_id = {pid}"
    )
    assert pairs <= {(row["stage"], row["later"]) for row in rows}
    await _agree()
    await design.migrate_instances(
        rt, process_id=pid, from_version=1, to_version=2, stage_mapping={"develop": "build"},
        dry_run=False, by="designer",
    )  # fmt: skip
    versions = Counter(key[1] for key in await _counts() if key[0] == pid)
    assert versions[2] > 0
    await _agree()
    await instances.move_to_stage(
        rt, instance_id=moving, stage="qualify", expected_version=None, by="cleo"
    )
    for _ in range(2):
        await instances.advance_stage(rt, instance_id=moving, expected_version=None, by="cleo")
    await _agree()
    moved = [k for k, n in (await _counts()).items() if k[0] == pid and k[4] == "advance"]
    assert any(k[5] == "build" for k in moved)


async def test_fifty_clients_changing_the_same_records_keep_the_counts(app: Starlette) -> None:
    rt = app.state.runtime
    pid = await _sales(rt)
    runs = [await _run(rt, pid, f"Deal {n}", OWNERS[n % 3]) for n in range(10)]
    chooser = random.Random(16)
    plans = [[chooser.randrange(6) for _ in range(6)] for _ in range(50)]
    done: Counter[str] = Counter()

    async def client(n: int) -> None:
        for pick in plans[n]:
            record_id, iid = runs[(n + pick) % len(runs)]
            common = {"instance_id": iid, "expected_version": None, "by": "ana"}
            try:
                if pick in (0, 1):
                    await instances.advance_stage(rt, **common)
                elif pick == 2:
                    await instances.move_to_stage(rt, stage="qualify", **common)
                elif pick == 3:
                    await records.update_record(
                        rt, record_id=record_id, name=None, owner=OWNERS[n % 3], values=None,
                        expected_version=None, by="admin",
                    )  # fmt: skip
                elif pick == 4:
                    await instances.abandon_instance(rt, **common)
                else:
                    await instances.reactivate_instance(rt, **common)
                done["changed"] += 1
            except DomainError as refused:
                done[type(refused).__name__] += 1

    async def folder() -> None:
        """Folds small batches all along, two at once, as several workers would."""
        while not finished.is_set():
            done["folded"] += await pipeline_sums.fold(batch=7)
            done["months folded"] += await insight_months.fold(batch=7)
            await asyncio.sleep(0)

    await rt.supervisor.stop(folding.NAME)
    finished = asyncio.Event()
    folders = [asyncio.create_task(folder()) for _ in range(2)]
    await asyncio.gather(*(client(n) for n in range(50)))
    finished.set()
    await asyncio.gather(*folders)
    assert done["changed"] >= 100 and done["folded"] >= 50 and done["months folded"] >= 50, done
    await _agree()


async def test_a_version_naming_other_fields_published_amid_changes_keeps_the_rows(
    app: Starlette,
) -> None:
    """Records' amounts change and instances move while a version that weighs another
    amount, by another date, is published: every pipeline row ends under the new fields."""
    rt = app.state.runtime
    pid = await _sales(rt)
    runs = [await _run(rt, pid, f"Deal {n}", OWNERS[n % 3]) for n in range(10)]
    done: Counter[str] = Counter()

    async def client(n: int) -> None:
        record_id, iid = runs[n % len(runs)]
        for turn in range(4):
            try:
                await records.update_record(
                    rt, record_id=record_id, name=None, owner=None,
                    values={"estimated_budget": 100 + n + turn, "estimated_revenue": 7 * n + turn,
                            "proposal_sent_date": f"2027-0{1 + turn}-15"},
                    expected_version=None, by="ana",
                )  # fmt: skip
                common = {"instance_id": iid, "expected_version": None, "by": "ana"}
                if turn % 2:
                    await instances.move_to_stage(rt, stage="qualify", **common)
                else:
                    await instances.advance_stage(rt, **common)
                done["changed"] += 1
            except DomainError as refused:
                done[type(refused).__name__] += 1

    await asyncio.gather(*(client(n) for n in range(30)), _renamed_version(rt, pid))
    assert done["changed"] >= 30, done
    await _agree()
    rows = await get_connection("default").execute_query_dict(
        f"SELECT month FROM pipeline_row WHERE process_id = {pid}"
    )
    assert rows and {r["month"][:5] for r in rows} == {"2027-"}, rows


def _percentiles(d: Any, values: str) -> str:
    """Count, p50, p90 and mean per group `g` of `values` (a statement giving g and v)."""
    if d.postgres:
        cont = ", ".join(
            f"percentile_cont({p}) WITHIN GROUP (ORDER BY v) AS {name}"
            for name, p in (("p50", 0.5), ("p90", 0.9))
        )
        return f"SELECT g, COUNT(*) AS n, AVG(v) AS mean, {cont} FROM ({values}) d GROUP BY g"
    at = {name: f"((COUNT(*) OVER w - 1) * {p})" for name, p in (("p50", 0.5), ("p90", 0.9))}
    low = {name: f"CAST({pos} AS INTEGER)" for name, pos in at.items()}
    ranks = (
        "SELECT g, v, ROW_NUMBER() OVER (w ORDER BY v) - 1 AS k, "
        + ", ".join(f"{low[n]} AS {n}_low, {at[n]} - {low[n]} AS {n}_part" for n in at)
        + f" FROM ({values}) d WINDOW w AS (PARTITION BY g)"
    )
    picks = []
    for name in at:
        below = f"MAX(CASE WHEN k = {name}_low THEN v END)"
        above = f"COALESCE(MAX(CASE WHEN k = {name}_low + 1 THEN v END), {below})"
        picks.append(f"{below} + MAX({name}_part) * ({above} - {below}) AS {name}")
    return (
        f"SELECT g, COUNT(*) AS n, AVG(v) AS mean, {', '.join(picks)} FROM ({ranks}) o GROUP BY g"
    )


def _durations(rows: list[dict[str, Any]]) -> dict[str, Durations]:
    def number(value: Any) -> float | None:
        return None if value is None else round(float(value), 3)

    return {
        str(row["g"]): Durations(
            count=int(row["n"]),
            p50=number(row["p50"]),
            p90=number(row["p90"]),
            mean=number(row["mean"]),
        )
        for row in rows
    }


async def _times_from_rows(
    scope: Scope, *, per_instance: bool, start: dt.datetime | None, end: dt.datetime | None
) -> dict[str, Durations]:
    """Time in stage sorted out of the stays themselves: each ended stay in the range; or
    each instance's ended stays in a stage added up, if the last of them ended in it."""
    d = sums._dialect()
    where = Where(postgres=d.postgres)
    source = sums._instances(where, scope)
    where.conditions.append('v."exited_at" IS NOT NULL')
    seconds = stage_times.seconds(d.postgres, 'v."entered_at"', 'v."exited_at"')
    if not per_instance:
        sums._between(where, d, 'v."exited_at"', start, end)
    joined = f'{source} JOIN "stage_visit" v ON v."instance_id" = i."id" WHERE {where.sql()}'
    if per_instance:
        last = Where(postgres=d.postgres, params=where.params)
        sums._between(last, d, 'MAX(v."exited_at")', start, end)
        values = (
            f'SELECT v."stage" AS g, SUM({seconds}) AS v FROM {joined}'
            f' GROUP BY v."instance_id", v."stage" HAVING {last.sql()}'
        )
    else:
        values = f'SELECT v."stage" AS g, {seconds} AS v FROM {joined}'
    return _durations(await sums._rows(_percentiles(d, values), where.params))


async def _cycles_from_rows(
    scope: Scope, *, start: dt.datetime | None, end: dt.datetime | None
) -> dict[str, Durations]:
    """Cycle times sorted out of the finished instances themselves."""
    d = sums._dialect()
    where = Where(postgres=d.postgres)
    source = sums._instances(where, scope)
    where.conditions.append("i.\"status\" = 'FINISHED'")
    sums._between(where, d, 'i."completed_at"', start, end)
    seconds = stage_times.seconds(d.postgres, 'i."started_at"', 'i."completed_at"')
    values = f"SELECT '' AS g, {seconds} AS v FROM {source} WHERE {where.sql()}"
    return _durations(await sums._rows(_percentiles(d, values), where.params))


async def _pipeline_from_rows(rt: Any, scope: Scope) -> list[tuple[Any, ...]]:
    """The pipeline worked out in Python from the active instances and their records, by
    the fields of the process's current version."""
    process = await rt.catalog.process(scope.process_id)
    found = await get_connection("default").execute_query_dict(
        'SELECT i.active_stage, i.process_version, r.owner, r.entity_id, r."values"'
        " FROM instance i JOIN record r ON r.id = i.record_id"
        f" WHERE i.status = 'ACTIVE' AND i.process_id = {int(scope.process_id)}"
    )
    totals: dict[tuple[str, str | None], list[int]] = {}
    for row in found:
        if (scope.owner, scope.version, scope.entity) != (
            scope.owner and row["owner"], scope.version and row["process_version"],
            scope.entity and row["entity_id"],
        ):  # fmt: skip
            continue
        values = row["values"] if isinstance(row["values"], dict) else json.loads(row["values"])
        close = values.get(process.close_date_field) if process.close_date_field else None
        month = str(close)[:7] if close is not None else None
        amount = values.get(process.amount_field) if process.amount_field else None
        number = (isinstance(amount, int | float) and not isinstance(amount, bool)) or (
            isinstance(amount, str) and re.fullmatch(r"-?[0-9]+([.][0-9]+)?", amount) is not None
        )
        held = totals.setdefault((row["active_stage"], month), [0, 0, 0])
        held[0] += 1
        if number:
            held[1] += 1
            held[2] += int((Decimal(str(amount)) * 100).quantize(Decimal(1), ROUND_HALF_UP))
    return [(stage, month, *held) for (stage, month), held in totals.items()]


def _near(a: dict[str, Durations], b: dict[str, Durations]) -> bool:
    """The same counts, and the same seconds but for the last thousandth's rounding."""

    def close(x: float | None, y: float | None) -> bool:
        return (x is None and y is None) or (
            x is not None and y is not None and abs(x - y) <= 0.0011
        )

    return a.keys() == b.keys() and all(
        a[k].count == b[k].count
        and all(close(getattr(a[k], f), getattr(b[k], f)) for f in ("p50", "p90", "mean"))
        for k in a
    )


async def _counts_agree(
    scope: Scope, forward: Any, start: dt.datetime | None, end: dt.datetime | None
) -> None:
    """The funnel and outcomes from the kept counts equal the same from the rows."""
    assert await sums.funnel(scope, forward=forward, start=start, end=end) == (
        await sums._funnel_rows(scope, forward=forward, start=start, end=end)
    ), (scope, start, end)
    kept = sorted(await sums.endings(scope, start=start, end=end), key=repr)
    rows = sorted(await sums._ending_rows(scope, start=start, end=end), key=repr)
    assert kept == rows, (scope, start, end)


async def test_a_figure_over_any_range_equals_the_rows(app: Starlette) -> None:
    rt = app.state.runtime
    await rt.supervisor.stop(folding.NAME)
    await seed_demo_users(rt)
    now = utcnow().replace(microsecond=0)
    assert await seed_demo(rt, now=now) >= 300
    pid = await _sales(rt)
    forward = forward_pairs([await rt.catalog.version(pid, 1)])
    noon = now.replace(hour=12, minute=0, second=0)
    midnight = now.replace(hour=0, minute=0, second=0)
    ranges: list[tuple[dt.datetime | None, dt.datetime | None]] = [
        (None, None),
        (noon - dt.timedelta(days=90), None),
        (midnight - dt.timedelta(days=60), midnight - dt.timedelta(days=30)),
        (noon - dt.timedelta(days=75, hours=5), noon - dt.timedelta(days=20, minutes=7)),
        (noon - dt.timedelta(days=40, hours=3), noon - dt.timedelta(days=40, hours=1)),
        (None, noon - dt.timedelta(days=50)),
        # As the insights page asks: whole days, to the end of today.
        (midnight - dt.timedelta(days=89), midnight + dt.timedelta(days=1)),
    ]
    # Part months near a month's start and near its end, read either way (`_complement`).
    month = (midnight.replace(day=1) - dt.timedelta(days=40)).replace(day=1)
    ranges += [
        (month + dt.timedelta(days=3, hours=5), month + dt.timedelta(days=55)),
        (month + dt.timedelta(days=26), month + dt.timedelta(days=33, hours=7)),
        (month + dt.timedelta(days=2), month + dt.timedelta(days=24, hours=3)),
    ]
    shapes = Counter(
        (parts.days is not None, len(parts.edges)) for parts in map(lambda r: split(*r), ranges)
    )
    assert shapes[(False, 1)] and shapes[(True, 2)] and shapes[(True, 0)], shapes
    read = Counter(
        sums._complement(edge) is None
        for start, end in ranges
        for edge in split(start, end, months=True).edges
    )
    assert read[True] >= 2 and read[False] >= 2, read
    scopes = [Scope(pid), Scope(pid, owner="ana"), Scope(pid, version=1), Scope(pid, version=2)]
    scopes.append(Scope(pid, entity="case"))
    measured: Counter[bool | str] = Counter()
    for scope in scopes:
        for start, end in ranges:
            await _counts_agree(scope, forward, start, end)
            weeks = (start or now - dt.timedelta(days=200), end or now + dt.timedelta(days=1))
            assert await sums.throughput(scope, forward=forward, start=weeks[0], end=weeks[1]) == (
                await sums._throughput_rows(scope, forward=forward, start=weeks[0], end=weeks[1])
            ), (scope, start, end)
            for per_instance in (False, True):
                kept_times = await sums.time_in_stage(
                    scope, per_instance=per_instance, start=start, end=end
                )
                from_rows = await _times_from_rows(
                    scope, per_instance=per_instance, start=start, end=end
                )
                assert _near(kept_times, from_rows), (scope, start, end, kept_times, from_rows)
                measured[per_instance] += sum(t.count for t in kept_times.values())
            assert sorted(await sums.pipeline(scope), key=repr) == sorted(
                await _pipeline_from_rows(rt, scope), key=repr
            ), scope
            cycles = await sums.cycle_time(scope, start=start, end=end)
            expected = await _cycles_from_rows(scope, start=start, end=end)
            assert _near({"": cycles} if cycles.count else {}, expected), (scope, start, end)
            measured["cycle"] += cycles.count
    assert measured[False] > measured[True] > 1000 and measured["cycle"] > 100, measured
    # The pipelines and counts per month above were read from sums and deltas; once
    # folded, from the sums alone.
    assert await _deltas() and await _month_deltas()
    await pipeline_sums.fold()
    await insight_months.fold()
    assert not await _deltas() and not await _month_deltas()
    for scope in scopes:
        assert sorted(await sums.pipeline(scope), key=repr) == sorted(
            await _pipeline_from_rows(rt, scope), key=repr
        ), scope
        for start, end in ranges:
            await _counts_agree(scope, forward, start, end)
    everything = await sums._funnel_rows(Scope(pid), forward=forward, start=None, end=None)
    assert sum(n for n, _ in everything[0].values()) > 300


def test_a_range_is_split_into_whole_days_and_the_parts_at_its_ends() -> None:
    at = dt.datetime(2026, 3, 4, 15, 30, tzinfo=dt.UTC)
    day = dt.timedelta(days=1)
    midnight = dt.datetime(2026, 3, 4, tzinfo=dt.UTC)
    assert split(None, None).days == (None, None) and not split(None, None).edges
    assert split(at, None).days == ("2026-03-05", None)
    assert split(at, None).edges == ((at, midnight + day),)
    assert split(midnight, midnight + 3 * day).days == ("2026-03-04", "2026-03-07")
    assert split(midnight, midnight + 3 * day).edges == ()
    assert split(at, at + 2 * day).days == ("2026-03-05", "2026-03-06")
    assert split(at, at + 2 * day).edges == (
        (at, midnight + day),
        (midnight + 2 * day, at + 2 * day),
    )
    assert split(at, at + dt.timedelta(hours=3)) == sums.Split(
        None, ((at, at + dt.timedelta(hours=3)),)
    )
    assert split(at, midnight + day) == sums.Split(None, ((at, midnight + day),))
    # No whole day between two parts: each part stays within its own day.
    assert split(at, at + day) == sums.Split(
        None, ((at, midnight + day), (midnight + day, at + day))
    )
    october = dt.datetime(2026, 10, 8, tzinfo=dt.UTC)
    november = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    assert split(october, november + 6 * day, months=True) == sums.Split(
        None, ((october, november), (november, november + 6 * day))
    )
    assert split(october, november, months=True) == sums.Split(None, ((october, november),))
    assert split(october, november + 31 * day, months=True) == sums.Split(
        ("2026-11", "2026-12"), ((october, november), (november + 30 * day, november + 31 * day))
    )
    # Another offset is the same instant in UTC.
    there = at.astimezone(dt.timezone(dt.timedelta(hours=-10)))
    assert split(there, None) == split(at, None)


async def test_a_fold_cut_off_before_its_commit_loses_and_doubles_nothing(
    app: Starlette, database_url: str, monkeypatch: Any
) -> None:
    """A fold's batch is taken from the deltas and added into the sums in one transaction:
    cut off after both, before the commit (PostgreSQL: its backend terminated; SQLite: the
    transaction fails), the deltas stay as they were; the next fold moves them once."""
    rt = app.state.runtime
    await rt.supervisor.stop(folding.NAME)
    pid = await _sales(rt)
    runs = [await _run(rt, pid, f"Deal {n}", OWNERS[n % 3]) for n in range(6)]
    await pipeline_sums.fold()
    for turn in range(5):
        for n, (record_id, _) in enumerate(runs):
            await records.update_record(
                rt, record_id=record_id, name=None, owner=None,
                values={"estimated_budget": 1000 * turn + n}, expected_version=None, by="ana",
            )  # fmt: skip
    before, deltas = await _kept_rows(), len(await _deltas())
    assert deltas >= 50
    postgres = get_connection("default").capabilities.dialect == "postgres"
    whole = folds.Folded.fold_batch
    cut: Counter[str] = Counter()

    async def cut_off(self: folds.Folded, batch: int) -> int:
        if cut:
            raise _Undo  # the fold goes no further than the batch cut off
        taken = await whole(self, batch)
        assert taken == batch
        cut["once"] += 1
        if not postgres:
            raise RuntimeError("the transaction fails before its commit")
        other = await asyncpg.connect(asyncpg_dsn(database_url))
        try:
            await other.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        finally:
            await other.close()
        return taken

    monkeypatch.setattr(folds.Folded, "fold_batch", cut_off)
    try:
        await pipeline_sums.fold(batch=10)
    except RuntimeError:
        assert not postgres
    except _Undo:
        assert postgres
    monkeypatch.setattr(folds.Folded, "fold_batch", whole)
    assert cut["once"] == 1
    assert len(await _deltas()) == deltas, "a batch cut off was taken all the same"
    assert await _kept_rows() == before
    assert await pipeline_sums.fold() == deltas
    assert not await _deltas() and await _kept_rows() == before
    await _agree()
