"""The insights bench's data, checked: its shape, and every figure against a direct count.

`shape` counts what was generated and reads a few instances back through Stageflow
(stays in a row, due as the stage says, the path ending in the active stage). `check`
computes each figure again in Python from the raw rows and compares it with what the
service answers, for both ranges the bench measures: a statement that counted wrong
would fail here, not only run slowly.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import math
from collections import Counter, defaultdict
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from tortoise.connection import get_connection

from server.domain import insights as figures
from server.domain.due import due_at
from server.services import insights, queries
from server.services.runtime import Runtime


async def _rows(sql: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = await get_connection("default").execute_query_dict(sql)
    return rows


def _t(value: Any) -> dt.datetime | None:
    if value is None:
        return None
    found = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value))
    return found if found.tzinfo else found.replace(tzinfo=dt.UTC)


async def shape(process_id: int) -> dict[str, Any]:
    """What the database holds, and a few instances read back sanely."""
    counts = (
        await _rows(
            "SELECT (SELECT COUNT(*) FROM instance) AS instances,"
            " (SELECT COUNT(*) FROM stage_visit) AS stays,"
            " (SELECT COUNT(*) FROM instance WHERE status = 'ACTIVE') AS active,"
            " (SELECT COUNT(*) FROM instance WHERE status = 'FINISHED') AS finished,"
            " (SELECT COUNT(*) FROM instance WHERE status = 'ABANDONED') AS abandoned,"
            " (SELECT COUNT(DISTINCT process_id) FROM instance) AS processes,"
            " (SELECT COUNT(DISTINCT owner) FROM record) AS owners,"
            f" (SELECT COUNT(*) FROM instance WHERE process_id = {process_id}) AS measured,"
            " (SELECT MIN(started_at) FROM instance) AS first_start,"
            " (SELECT COUNT(*) FROM stage_visit v JOIN stage_visit w ON w.instance_id ="
            " v.instance_id AND w.stage = v.stage AND w.n > v.n) AS revisits"
        )
    )[0]
    info = {k: (int(v) if k != "first_start" else str(_t(v))) for k, v in counts.items()}
    info["stays_per_instance"] = round(info["stays"] / max(info["instances"], 1), 2)
    info["active_share"] = round(info["active"] / max(info["instances"], 1), 3)
    picks = await _rows(
        "SELECT MIN(id) AS id FROM instance GROUP BY process_id, status"
        " UNION SELECT MIN(instance_id) FROM stage_visit WHERE n >= 5"
    )
    rt = Runtime.create()
    for pick in picks:
        await _read_back(rt, int(pick["id"]))
    info["read_back"] = len(picks)
    return info


async def _read_back(rt: Runtime, instance_id: int) -> None:
    instance = await queries.get_instance(instance_id)
    stays = (await queries.visits_of([instance_id]))[instance_id]
    record = await queries.get_record(instance.record_id)
    process = await rt.catalog.version(instance.process_id, instance.process_version)
    assert record.active_instance_id == instance_id, (record, instance)
    assert [s.n for s in stays] == list(range(len(stays))), stays
    assert stays[0].entered_at == instance.started_at, (stays, instance)
    for a, b in itertools.pairwise(stays):
        assert a.exited_at == b.entered_at, (a, b)
    last = stays[-1]
    assert last.stage == instance.active_stage == instance.path[-1], (last, instance)
    assert last.entered_at == instance.active_since, (last, instance)
    active = instance.status.value == "ACTIVE"
    assert (last.exited_at is None) == active, (last, instance)
    assert instance.completed_at == (None if active else last.exited_at), instance
    assert instance.due_at == (last.due_at if active else None), instance
    for stay in stays:
        stage = process.stage(stay.stage)
        assert stage is not None, stay
        assert stay.due_at == due_at(stay.entered_at, stage.due), (stay, stage.due)


def _pct(values: list[float], p: float) -> float:
    s = sorted(values)
    pos = (len(s) - 1) * p
    low = math.floor(pos)
    high = min(low + 1, len(s) - 1)
    return s[low] + (pos - low) * (s[high] - s[low])


def _durations(values: list[float]) -> tuple[int, float | None, float | None, float | None]:
    if not values:
        return (0, None, None, None)
    return (len(values), _pct(values, 0.5), _pct(values, 0.9), sum(values) / len(values))


def _same(found: figures.Durations, expected: tuple[Any, ...], what: str) -> None:
    got = (found.count, found.p50, found.p90, found.mean)
    assert got[0] == expected[0], (what, got, expected)
    for a, b in zip(got[1:], expected[1:], strict=True):
        assert (a is None) == (b is None) and (a is None or abs(a - b) < 0.01), (
            what,
            got,
            expected,
        )


def _secs(a: dt.datetime, b: dt.datetime) -> float:
    return round((b - a).total_seconds(), 3)


Range = tuple[dt.datetime | None, dt.datetime | None]


async def check(process_id: int, *, now: dt.datetime, ranges: Iterable[Range]) -> dict[str, int]:
    """Every figure, in each range, equal to a count over the rows; how many were
    compared."""
    rows = await _rows(
        "SELECT i.id, i.status, i.active_stage, i.outcome, i.outcome_reason, i.started_at,"
        ' i.completed_at, i.active_since, i.due_at, r."values" AS vals FROM instance i'
        f" JOIN record r ON r.id = i.record_id WHERE i.process_id = {process_id}"
    )
    stays = await _rows(
        "SELECT v.instance_id, v.n, v.stage, v.entered_at, v.exited_at FROM stage_visit v"
        f" JOIN instance i ON i.id = v.instance_id WHERE i.process_id = {process_id}"
        " ORDER BY v.instance_id, v.n"
    )
    inst = {int(r["id"]): r for r in rows}
    for r in rows:
        for k in ("started_at", "completed_at", "active_since", "due_at"):
            r[k] = _t(r[k])
        r["vals"] = json.loads(r["vals"]) if isinstance(r["vals"], str) else r["vals"]
    by_instance: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for s in stays:
        s["entered_at"], s["exited_at"] = _t(s["entered_at"]), _t(s["exited_at"])
        by_instance[int(s["instance_id"])].append(s)
    rt = Runtime.create()
    compared = Counter[str]()
    for start, end in ranges:
        q = await insights.ask(rt, process_id=process_id, visible=None, start=start, end=end)
        fwd = q.forward()

        def since(
            at: dt.datetime | None, start: dt.datetime | None = start, end: dt.datetime | None = end
        ) -> bool:
            return at is not None and (start is None or at >= start) and (end is None or at < end)

        # Funnel: instances started in the range.
        cohort = [i for i in inst if since(inst[i]["started_at"])]
        reached: Counter[str] = Counter()
        advanced: Counter[str] = Counter()
        for i in cohort:
            seq = by_instance[i]
            reached.update({s["stage"] for s in seq})
            advanced.update(
                {a["stage"] for a, b in itertools.pairwise(seq) if (a["stage"], b["stage"]) in fwd}
            )
        resting = Counter((inst[i]["active_stage"], inst[i]["status"]) for i in cohort)
        for f in await insights.funnel(q):
            expected = (reached[f.stage], advanced[f.stage], resting[(f.stage, "FINISHED")],
                        resting[(f.stage, "ABANDONED")], resting[(f.stage, "ACTIVE")])  # fmt: skip
            assert (f.reached, f.advanced, f.finished, f.abandoned, f.active) == expected, (
                f,
                expected,
            )
            compared["funnel"] += 1
        # Outcomes: instances that ended in the range.
        ended = [r for r in rows if r["status"] != "ACTIVE" and since(r["completed_at"])]
        o = await insights.outcomes(q)
        done = [r for r in ended if r["status"] == "FINISHED"]
        assert (o.finished, o.abandoned) == (len(done), len(ended) - len(done)), o
        by_outcome = Counter(r["outcome"] for r in done)
        assert {c.outcome: c.count for c in o.outcomes if c.count} == dict(by_outcome), o
        reasons = Counter((r["outcome"], r["outcome_reason"]) for r in done if r["outcome_reason"])
        assert {(c.outcome, c.reason): c.count for c in o.reasons} == dict(reasons), o
        compared["outcomes"] += 1
        # Time in stage: stays that ended in the range; per instance, all its ended stays
        # in the stage added up, if the last of them ended in the range.
        per_stay: dict[str, list[float]] = defaultdict(list)
        per_inst: dict[tuple[int, str], float] = defaultdict(float)
        last: dict[tuple[int, str], dt.datetime] = {}
        for s in stays:
            if s["exited_at"] is None:
                continue
            seconds = _secs(s["entered_at"], s["exited_at"])
            key = (int(s["instance_id"]), s["stage"])
            per_inst[key] += seconds
            last[key] = max(last.get(key, s["exited_at"]), s["exited_at"])
            if since(s["exited_at"]):
                per_stay[s["stage"]].append(seconds)
        for stage, name, each, summed in await insights.time_in_stage(q):
            _same(each, _durations(per_stay[stage]), f"stays in {name}")
            values = [v for (i, st), v in per_inst.items() if st == stage and since(last[(i, st)])]
            _same(summed, _durations(values), f"per instance in {name}")
            compared["timeInStage"] += 1
        # Cycle time: instances finished in the range.
        cycle = [_secs(r["started_at"], r["completed_at"]) for r in done]
        _same(await insights.cycle_time(q), _durations(cycle), "cycle time")
        compared["cycleTime"] += 1
        # Stuck (no range): active, in the stage 14 days or more, or past the due.
        cut = now - dt.timedelta(days=14)
        stuck = sorted(
            (r["active_since"], i)
            for i, r in inst.items()
            if r["status"] == "ACTIVE"
            and (r["active_since"] < cut or (r["due_at"] is not None and r["due_at"] <= now))
        )
        found = await insights.stuck(q, days=14, first=50, now=now)
        assert [s.instance_id for s in found] == [i for _, i in stuck[:50]], found
        compared["stuck"] += len(found)
        # Throughput: weeks of the range (the last 12 by default).
        ws, we = figures.week_range(start, end, now=now)
        weeks: Counter[tuple[str, dt.date]] = Counter()

        def week(
            what: str,
            at: dt.datetime | None,
            ws: dt.datetime = ws,
            we: dt.datetime = we,
            weeks: Counter[tuple[str, dt.date]] = weeks,
        ) -> None:
            if at is not None and ws <= at < we:
                weeks[(what, figures.monday(at))] += 1

        for r in rows:
            week("started", r["started_at"])
            if r["status"] != "ACTIVE":
                week("finished" if r["status"] == "FINISHED" else "abandoned", r["completed_at"])
        for seq in by_instance.values():
            for a, b in itertools.pairwise(seq):
                if (a["stage"], b["stage"]) in fwd:
                    week("advanced", b["entered_at"])
        for w in await insights.throughput(q, now=now):
            got = (w.started, w.advanced, w.finished, w.abandoned)
            want = tuple(
                weeks[(k, w.start)] for k in ("started", "advanced", "finished", "abandoned")
            )
            assert got == want, (w, want)
            compared["throughput"] += 1
        # Owners (no range): of the records of the process's entity, in order.
        owners = await _rows(
            "SELECT DISTINCT owner FROM record WHERE entity_id ="
            f" '{q.process.entity.key}' ORDER BY owner"
        )
        assert await insights.owners(q) == [r["owner"] for r in owners][: figures.MAX_OWNERS]
        compared["owners"] += 1
        # Pipeline (no range): active instances by stage and close month.
        p = await insights.pipeline(q)
        live = [r for r in rows if r["status"] == "ACTIVE"]
        amount = q.process.amount_field or ""
        close = q.process.close_date_field or ""
        cents: Counter[str] = Counter()
        months: Counter[str | None] = Counter()
        for r in live:
            value = r["vals"].get(amount)
            cents[r["active_stage"]] += int(Decimal(value) * 100) if value is not None else 0
            months[(r["vals"].get(close) or "")[:7] or None] += 1
        assert p.total.count == len(live), p
        assert {s.stage: s.amounts.amount * 100 for s in p.by_stage if s.amounts.count} == {
            k: Decimal(v) for k, v in cents.items()
        } | {k: Decimal(0) for k in {r["active_stage"] for r in live} - set(cents)}, p
        assert {m: a.count for m, a in p.by_month} == dict(months), p
        compared["pipeline"] += 1
    return dict(compared)
