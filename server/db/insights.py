"""The figures of a process's insights, each computed by the database.

Every figure is about the instances of one process (`Scope`: its version, the record's
owner and entity) and returns aggregates, never the rows they were taken over. Most read
what triggers keep in the transaction of every change: counts per day and month
(server/db/insight_days.py, server/db/insight_months.py), times in stage and cycle times
(server/db/stage_times.py), the pipeline's sums per key (server/db/pipeline_sums.py); the
parts of days or months at a range's ends, and the stuck list, are read from the instances and stays
(indexes of migrations 0014 and 0015). Both databases run the same statements but for a
few expressions (`_Dialect`): the Monday of a time's week, a time parameter.

Percentiles are the continuous kind (PostgreSQL's `percentile_cont`): the value at
position p * (n - 1) of the sorted values, interpolated between its two neighbours, both
found in the kept times without sorting them all.

A move is forward when the next stay's stage lies ahead of the stay's own in the process
graph (`forward`: the pairs of stages where it does, over every version); a move back, a
reactivation into the same stage or a migration is not.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from tortoise.connection import get_connection

from server.db import insight_months, pipeline_sums
from server.db.folds import Folded
from server.db.where import Where
from server.domain.insights import Durations, Stuck, midnight

Pairs = Iterable[tuple[str, str]]


@dataclass(frozen=True)
class Scope:
    """Which instances count: those of one process, narrowed by what is given."""

    process_id: int
    version: int | None = None
    owner: str | None = None
    entity: str | None = None


class _Dialect:
    def __init__(self, postgres: bool) -> None:
        self.postgres = postgres

    def week(self, at: str) -> str:
        """The Monday (UTC) of the week `at` falls in, as YYYY-MM-DD."""
        if self.postgres:
            return f"to_char(date_trunc('week', {at} AT TIME ZONE 'UTC'), 'YYYY-MM-DD')"
        return f"date({at}, 'weekday 0', '-6 days')"

    def time(self, where: Where, at: dt.datetime) -> str:
        """A time parameter, written as each database stores times."""
        return where.value(at if self.postgres else str(at.astimezone(dt.UTC)))


def _dialect() -> _Dialect:
    return _Dialect(get_connection("default").capabilities.dialect == "postgres")


def _instances(where: Where, scope: Scope, *, record: bool = False) -> str:
    """FROM and the scope's conditions, on instance `i` (and record `r` when needed)."""
    where.conditions.append(f'i."process_id" = {where.value(scope.process_id)}')
    if scope.version is not None:
        where.conditions.append(f'i."process_version" = {where.value(scope.version)}')
    joined = record or scope.owner is not None or scope.entity is not None
    if scope.owner is not None:
        where.conditions.append(f'r."owner" = {where.value(scope.owner)}')
    if scope.entity is not None:
        where.conditions.append(f'r."entity_id" = {where.value(scope.entity)}')
    return '"instance" i' + (' JOIN "record" r ON r."id" = i."record_id"' if joined else "")


def _between(
    where: Where, d: _Dialect, column: str, start: dt.datetime | None, end: dt.datetime | None
) -> None:
    if start is not None:
        where.conditions.append(f"{column} >= {d.time(where, start)}")
    if end is not None:
        where.conditions.append(f"{column} < {d.time(where, end)}")


def _forward(where: Where, pairs: Pairs) -> str:
    """The forward pairs as a table `fwd(a, b)`."""
    rows = [f"({where.value(a)}, {where.value(b)})" for a, b in sorted(set(pairs))]
    if not rows:
        return (
            "fwd(a, b) AS (SELECT CAST(NULL AS VARCHAR(64)), CAST(NULL AS VARCHAR(64)) WHERE 1 = 0)"
        )
    return f"fwd(a, b) AS (VALUES {', '.join(rows)})"


async def _rows(sql: str, params: list[Any]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = await get_connection("default").execute_query_dict(sql, params)
    return rows


Range = tuple[dt.datetime | None, dt.datetime | None]


@dataclass(frozen=True)
class Split:
    """A range [start, end) as the whole UTC days in it, read from the counts per day
    (`days`: first day, day after the last, as YYYY-MM-DD; None for no bound; None
    altogether when no day is whole), and the parts of days at its ends (`edges`), read
    from the rows."""

    days: tuple[str | None, str | None] | None
    edges: tuple[Range, ...]


def split(start: dt.datetime | None, end: dt.datetime | None, *, months: bool = False) -> Split:
    """`start` to `end` as whole UTC days (or months, written YYYY-MM) and the parts at
    its ends, each part within one day (or month)."""
    start = None if start is None else start.astimezone(dt.UTC)
    end = None if end is None else end.astimezone(dt.UTC)
    unit = _month_start if months else _day_start
    first = None if start is None else unit(start)
    if start is not None and first is not None and start != first:
        first = _next_month(first) if months else first + _DAY
    after = None if end is None else unit(end)
    if first is not None and after is not None and first > after:
        return Split(days=None, edges=((start, end),))
    edges: list[Range] = []
    if start is not None and first is not None and start != first:
        edges.append((start, first))
    if end is not None and after is not None and end != after:
        edges.append((after, end))
    if first is not None and first == after:
        return Split(days=None, edges=tuple(edges))
    label = (lambda at: at.strftime("%Y-%m")) if months else (lambda at: at.date().isoformat())
    return Split(
        days=(None if first is None else label(first), None if after is None else label(after)),
        edges=tuple(edges),
    )


_DAY = dt.timedelta(days=1)


def _day_start(at: dt.datetime) -> dt.datetime:
    return midnight(at.date())


def _month_start(at: dt.datetime) -> dt.datetime:
    return dt.datetime(at.year, at.month, 1, tzinfo=dt.UTC)


def _next_month(at: dt.datetime) -> dt.datetime:
    return dt.datetime(at.year + at.month // 12, at.month % 12 + 1, 1, tzinfo=dt.UTC)


def _kept(where: Where, scope: Scope) -> None:
    """The scope's conditions on a table of kept counts or times, which carries the
    process, version and owner of what it holds."""
    where.conditions.append(f'"process_id" = {where.value(scope.process_id)}')
    if scope.version is not None:
        where.conditions.append(f'"process_version" = {where.value(scope.version)}')
    if scope.owner is not None:
        where.conditions.append(f'"owner" = {where.value(scope.owner)}')
    if scope.entity is not None:
        where.conditions.append(
            'EXISTS (SELECT 1 FROM "process" p WHERE p."id" = "process_id"'
            f' AND p."entity_id" = {where.value(scope.entity)})'
        )


async def _day_sums(
    scope: Scope, kinds: tuple[str, ...], days: tuple[str | None, str | None], *columns: str
) -> list[dict[str, Any]]:
    """SUM(n) AS n of `kinds` in the counts per day (server/db/insight_days.py) over `days`,
    grouped by `columns` (a column's name, or "expression AS name")."""
    d = _dialect()
    where = Where(postgres=d.postgres)
    _kept(where, scope)
    where.conditions.append(f'"what" IN ({", ".join(where.value(k) for k in kinds)})')
    _within(where, '"day"', days)
    picked = ", ".join(c if " AS " in c else f'"{c}"' for c in columns)
    grouped = ", ".join(c.rsplit(" AS ", 1)[0] if " AS " in c else f'"{c}"' for c in columns)
    sql = (
        f'SELECT {picked}, SUM("n") AS n FROM "insight_day" WHERE {where.sql()} GROUP BY {grouped}'
    )
    return await _rows(sql, where.params)


async def _month_sums(
    scope: Scope, kinds: tuple[str, ...], months: tuple[str | None, str | None], *columns: str
) -> list[dict[str, Any]]:
    """SUM(n) AS n of `kinds` in the counts per month (server/db/insight_months.py: the
    months plus the deltas not folded yet) over `months`, grouped by `columns`."""
    where = Where(postgres=_dialect().postgres)
    picked = ", ".join(f'"{c}"' for c in columns)

    def narrow(part: Where) -> None:
        part.conditions.append(f'"what" IN ({", ".join(part.value(k) for k in kinds)})')
        _within(part, '"month"', months)

    rows = _with_deltas(where, insight_months.FOLDED, scope, f'{picked}, "n"', narrow)
    sql = f'SELECT {picked}, SUM("n") AS n FROM ({rows}) s GROUP BY {picked}'
    return await _rows(sql, where.params)


def _with_deltas(
    where: Where,
    folded: Folded,
    scope: Scope,
    picked: str,
    narrow: Callable[[Where], None] = lambda part: None,
) -> str:
    """The `picked` columns of a table of folded sums and of its deltas not folded yet
    (server/db/folds.py), each narrowed to the scope (and by `narrow`), as one UNION ALL
    whose parameters go to `where`."""
    parts = []
    for table in (folded.sums, folded.deltas):
        part = Where(postgres=where.postgres, params=where.params)
        _kept(part, scope)
        narrow(part)
        parts.append(f'SELECT {picked} FROM "{table}" WHERE {part.sql()}')
    return " UNION ALL ".join(parts)


async def _sums(
    scope: Scope,
    kinds: tuple[str, ...],
    start: dt.datetime | None,
    end: dt.datetime | None,
    *columns: str,
) -> tuple[list[dict[str, Any]], list[Range]]:
    """The counts of `kinds` over [start, end), grouped by `columns`: its whole months
    from the counts per month, the whole days of the part months from the counts per day;
    and the parts of days left at its ends, for the caller to read from the rows."""
    months = split(start, end, months=True)
    found = []
    if months.days is not None:
        found += await _month_sums(scope, kinds, months.days, *columns)
    edges: list[Range] = []
    for edge in months.edges:
        days = split(*edge)
        if days.days is not None:
            found += await _day_sums(scope, kinds, days.days, *columns)
        edges += days.edges
    return found, edges


def _within(where: Where, column: str, units: tuple[str | None, str | None]) -> None:
    first, after = units
    if first is not None:
        where.conditions.append(f"{column} >= {where.value(first)}")
    if after is not None:
        where.conditions.append(f"{column} < {where.value(after)}")


Reached = dict[str, tuple[int, int]]
Resting = dict[tuple[str, str], int]


async def funnel(
    scope: Scope, *, forward: Pairs, start: dt.datetime | None, end: dt.datetime | None
) -> tuple[Reached, Resting]:
    """Of the instances started in [start, end): per stage, how many reached it and how many
    moved forward from it; and how many rest in each (stage, status)."""
    reached: Reached = {}
    resting: Resting = {}
    kinds = ("reach", "advance", "start")
    found, edges = await _sums(scope, kinds, start, end, "what", "stage", "status")
    for row in found:
        n = int(row["n"])
        if row["what"] == "start":
            key = (row["stage"], row["status"])
            resting[key] = resting.get(key, 0) + n
            continue
        was = reached.get(row["stage"], (0, 0))
        reached[row["stage"]] = (
            (was[0] + n, was[1]) if row["what"] == "reach" else (was[0], was[1] + n)
        )
    for edge in edges:
        more, rest = await _funnel_rows(scope, forward=forward, start=edge[0], end=edge[1])
        for stage, (n, m) in more.items():
            was = reached.get(stage, (0, 0))
            reached[stage] = (was[0] + n, was[1] + m)
        for key, n in rest.items():
            resting[key] = resting.get(key, 0) + n
    return reached, resting


async def _funnel_rows(
    scope: Scope, *, forward: Pairs, start: dt.datetime | None, end: dt.datetime | None
) -> tuple[Reached, Resting]:
    """The funnel's figures from the rows."""
    d = _dialect()
    where = Where(postgres=d.postgres)
    fwd = _forward(where, forward)
    source = _instances(where, scope)
    _between(where, d, 'i."started_at"', start, end)
    sql = (
        f'WITH {fwd}, c AS (SELECT i."id" FROM {source} WHERE {where.sql()})'
        ' SELECT v."stage" AS stage, COUNT(DISTINCT v."instance_id") AS reached,'
        ' COUNT(DISTINCT CASE WHEN f.a IS NOT NULL THEN v."instance_id" END) AS advanced'
        ' FROM c JOIN "stage_visit" v ON v."instance_id" = c."id"'
        ' LEFT JOIN "stage_visit" w ON w."instance_id" = v."instance_id" AND w."n" = v."n" + 1'
        ' LEFT JOIN fwd f ON f.a = v."stage" AND f.b = w."stage"'
        ' GROUP BY v."stage"'
    )
    reached = {
        row["stage"]: (int(row["reached"]), int(row["advanced"]))
        for row in await _rows(sql, where.params)
    }
    where = Where(postgres=d.postgres)
    source = _instances(where, scope)
    _between(where, d, 'i."started_at"', start, end)
    sql = (
        f'SELECT i."active_stage" AS stage, i."status" AS status, COUNT(*) AS n FROM {source}'
        f' WHERE {where.sql()} GROUP BY i."active_stage", i."status"'
    )
    resting = {
        (row["stage"], row["status"]): int(row["n"]) for row in await _rows(sql, where.params)
    }
    return reached, resting


Ending = tuple[str, str | None, str | None]


async def endings(
    scope: Scope, *, start: dt.datetime | None, end: dt.datetime | None
) -> list[tuple[str, str | None, str | None, int]]:
    """(status, outcome, reason, count) of the instances that ended in [start, end)."""
    counts: dict[Ending, int] = {}
    found, edges = await _sums(scope, ("end",), start, end, "status", "outcome", "reason")
    for row in found:
        key = (row["status"], row["outcome"] or None, row["reason"] or None)
        counts[key] = counts.get(key, 0) + int(row["n"])
    for edge in edges:
        for status, outcome, reason, n in await _ending_rows(scope, start=edge[0], end=edge[1]):
            counts[(status, outcome, reason)] = counts.get((status, outcome, reason), 0) + n
    return [(*key, n) for key, n in counts.items() if n]


async def _ending_rows(
    scope: Scope, *, start: dt.datetime | None, end: dt.datetime | None
) -> list[tuple[str, str | None, str | None, int]]:
    d = _dialect()
    where = Where(postgres=d.postgres)
    source = _instances(where, scope)
    where.conditions.append("i.\"status\" IN ('FINISHED', 'ABANDONED')")
    _between(where, d, 'i."completed_at"', start, end)
    sql = (
        'SELECT i."status" AS status, i."outcome" AS outcome, i."outcome_reason" AS reason,'
        f" COUNT(*) AS n FROM {source} WHERE {where.sql()}"
        ' GROUP BY i."status", i."outcome", i."outcome_reason"'
    )
    return [
        (row["status"], row["outcome"], row["reason"], int(row["n"]))
        for row in await _rows(sql, where.params)
    ]


async def time_in_stage(
    scope: Scope, *, per_instance: bool, start: dt.datetime | None, end: dt.datetime | None
) -> dict[str, Durations]:
    """Seconds spent in each stage by the stays that ended in [start, end), each on its
    own; or (`per_instance`) by the instances whose last ended stay in the stage ended
    then, all their stays there added up.

    Read from the kept times (server/db/stage_times.py): how many fall in each bucket,
    from the counts of the whole months and the rows of the parts at the ends; then, for
    each rank a percentile needs, the one row at its place in its bucket."""
    return await _kept_durations(scope, "inst" if per_instance else "stay", start, end)


async def _kept_durations(
    scope: Scope, what: str, start: dt.datetime | None, end: dt.datetime | None
) -> dict[str, Durations]:
    """Count, p50, p90 and mean per stage of the kept times of kind `what` that ended in
    [start, end)."""
    d = _dialect()
    parts = split(start, end, months=True)
    counts: dict[str, dict[int, list[Any]]] = {}
    found: list[tuple[int, dict[str, Any]]] = []
    rows: list[tuple[int, Range]] = []
    months: list[str] = []
    for edge in parts.edges:
        taken = _complement(edge)
        if taken is None:
            rows.append((1, edge))
        else:
            months.append(taken[0])
            rows += [(-1, piece) for piece in taken[1]]
    if parts.days is not None or months:
        where = Where(postgres=d.postgres)
        _kept(where, scope)
        where.conditions.append(f'"what" = {where.value(what)}')
        clauses = []
        if parts.days is not None:
            whole = Where(postgres=d.postgres, params=where.params)
            _within(whole, '"month"', parts.days)
            clauses.append(f"({whole.sql()})")
        if months:
            clauses.append(f'"month" IN ({", ".join(where.value(m) for m in months)})')
        where.conditions.append(f"({' OR '.join(clauses)})")
        found += [
            (1, row)
            for row in await _rows(
                'SELECT "stage", "bucket", SUM("n") AS n, SUM("seconds") AS s'
                f' FROM "stage_time_month" WHERE {where.sql()} GROUP BY "stage", "bucket"',
                where.params,
            )
        ]
    for sign, piece in rows:
        where = Where(postgres=d.postgres)
        _kept(where, scope)
        where.conditions.append(f'"what" = {where.value(what)}')
        _between(where, d, '"exited_at"', *piece)
        found += [
            (sign, row)
            for row in await _rows(
                'SELECT "stage", "bucket", COUNT(*) AS n, SUM("seconds") AS s'
                f' FROM "stage_time" WHERE {where.sql()} GROUP BY "stage", "bucket"',
                where.params,
            )
        ]
    for sign, row in found:
        held = counts.setdefault(row["stage"], {}).setdefault(int(row["bucket"]), [0, 0])
        held[0] += sign * int(row["n"])
        held[1] += sign * (row["s"] or 0)
    ranks = {
        stage: _ranks(sum(n for n, _ in buckets.values()))
        for stage, buckets in counts.items()
        if any(n for n, _ in buckets.values())
    }
    values = await _ranked(scope, what, start, end, counts, ranks)
    out = {}
    for stage, wanted in ranks.items():
        n = sum(held[0] for held in counts[stage].values())
        total = sum(held[1] for held in counts[stage].values())
        picks = [_interpolated(values[(stage, lo)], values.get((stage, lo + 1)), part)
                 for lo, part in wanted]  # fmt: skip
        out[stage] = Durations(
            count=n, p50=round(picks[0], 3), p90=round(picks[1], 3),
            mean=round(float(total) / n, 3),
        )  # fmt: skip
    return out


def _complement(edge: Range) -> tuple[str, list[Range]] | None:
    """A part month read as its whole month's counts less the rest of the month, when the
    rest holds fewer rows to read (times past now hold none): the month (YYYY-MM) and the
    rest's pieces; None to read the part itself."""
    a, b = edge
    assert a is not None and b is not None
    first = _month_start(a)
    after = _next_month(first)
    rest = [(x, y) for x, y in ((first, a), (b, after)) if x < y]
    now = dt.datetime.now(dt.UTC)

    def weight(pieces: list[tuple[dt.datetime, dt.datetime]]) -> dt.timedelta:
        return sum((max(dt.timedelta(0), min(y, now) - x) for x, y in pieces), dt.timedelta(0))

    if weight(rest) >= weight([(a, b)]):
        return None
    return first.strftime("%Y-%m"), list(rest)


_PERCENTILES = (0.5, 0.9)


def _ranks(n: int) -> list[tuple[int, float]]:
    """(rank below, fraction towards the next) of each percentile of n sorted values, as
    percentile_cont places it: p * (n - 1)."""
    return [(int(p * (n - 1)), p * (n - 1) - int(p * (n - 1))) for p in _PERCENTILES]


def _interpolated(below: Any, above: Any, part: float) -> float:
    low = float(below)
    return low if not part or above is None else low + part * (float(above) - low)


async def _ranked(
    scope: Scope,
    what: str,
    start: dt.datetime | None,
    end: dt.datetime | None,
    counts: dict[str, dict[int, list[Any]]],
    ranks: dict[str, list[tuple[int, float]]],
) -> dict[tuple[str, int], Any]:
    """The seconds at each rank needed ((stage, rank) -> seconds), in one statement: each
    rank's row is found in its bucket, at its place there in order of seconds, counted
    from whichever end of the bucket is nearer."""
    d = _dialect()
    where = Where(postgres=d.postgres)
    picks = []
    for stage, wanted in ranks.items():
        needed = sorted({r for lo, part in wanted for r in ((lo, lo + 1) if part else (lo,))})
        buckets = sorted(counts[stage].items())
        below, at = 0, 0
        for rank in needed:
            while at < len(buckets) and below + buckets[at][1][0] <= rank:
                below += buckets[at][1][0]
                at += 1
            if at == len(buckets):
                break
            pick = Where(postgres=d.postgres, params=where.params)
            _kept(pick, scope)
            pick.conditions.append(f'"what" = {pick.value(what)}')
            pick.conditions.append(f'"stage" = {pick.value(stage)}')
            pick.conditions.append(f'"bucket" = {pick.value(buckets[at][0])}')
            _between(pick, d, '"exited_at"', start, end)
            place, held = rank - below, buckets[at][1][0]
            order = "" if 2 * place < held else " DESC"
            picks.append(
                (
                    (stage, rank),
                    f'(SELECT "seconds" FROM "stage_time" WHERE {pick.sql()}'
                    f' ORDER BY "seconds"{order} LIMIT 1'
                    f" OFFSET {pick.value(place if not order else held - 1 - place)})",
                )
            )
    if not picks:
        return {}
    sql = " UNION ALL ".join(f"SELECT {n} AS k, {sub} AS v" for n, (_, sub) in enumerate(picks))
    rows = await _rows(sql, where.params)
    return {picks[int(row["k"])][0]: row["v"] for row in rows}


async def cycle_time(
    scope: Scope, *, start: dt.datetime | None, end: dt.datetime | None
) -> Durations:
    """Seconds from start to finish of the instances finished in [start, end), read from
    the kept times as time in stage is."""
    found = await _kept_durations(scope, "cycle", start, end)
    return found.get("", Durations(0, None, None, None))


async def stuck(scope: Scope, *, since: dt.datetime, now: dt.datetime, first: int) -> list[Stuck]:
    """Active instances in their stage since before `since`, or past its due at `now`;
    oldest first."""
    d = _dialect()
    where = Where(postgres=d.postgres)
    source = _instances(where, scope, record=True)
    where.conditions.append("i.\"status\" = 'ACTIVE'")
    where.conditions.append(
        f'(i."active_since" < {d.time(where, since)}'
        f' OR (i."due_at" IS NOT NULL AND i."due_at" <= {d.time(where, now)}))'
    )
    sql = (
        'SELECT i."id" AS id, i."record_id" AS record_id, r."name" AS name, r."owner" AS owner,'
        ' i."active_stage" AS stage, i."active_since" AS since, i."due_at" AS due_at'
        f' FROM {source} WHERE {where.sql()} ORDER BY i."active_since", i."id"'
        f" LIMIT {where.value(first)}"
    )
    return [
        Stuck(
            instance_id=int(row["id"]),
            record_id=int(row["record_id"]),
            record_name=row["name"],
            owner=row["owner"],
            stage=row["stage"],
            since=_time(row["since"]),
            due_at=None if row["due_at"] is None else _time(row["due_at"]),
        )
        for row in await _rows(sql, where.params)
    ]


def _time(value: Any) -> dt.datetime:
    found = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value))
    return found if found.tzinfo else found.replace(tzinfo=dt.UTC)


async def throughput(
    scope: Scope, *, forward: Pairs, start: dt.datetime, end: dt.datetime
) -> dict[tuple[str, str], int]:
    """(what, Monday) -> how many instances started, moved forward, finished or were
    abandoned in that week of [start, end)."""
    parts = split(start, end)
    counts: dict[tuple[str, str], int] = {}
    if parts.days is not None:
        names = {"start": "started", "move": "advanced"}
        rows = await _day_sums(scope, ("start", "end", "move"), parts.days, "what", "status", "day")
        for row in rows:
            if row["what"] == "end":
                what = "finished" if row["status"] == "FINISHED" else "abandoned"
            else:
                what = names[row["what"]]
            key = (what, _monday(row["day"]))
            counts[key] = counts.get(key, 0) + int(row["n"])
    for edge in parts.edges:
        assert edge[0] is not None and edge[1] is not None
        more = await _throughput_rows(scope, forward=forward, start=edge[0], end=edge[1])
        for key, n in more.items():
            counts[key] = counts.get(key, 0) + n
    return counts


def _monday(day: str) -> str:
    """The Monday of the week of a day, both written YYYY-MM-DD."""
    at = dt.date.fromisoformat(day)
    return (at - dt.timedelta(days=at.weekday())).isoformat()


async def _throughput_rows(
    scope: Scope, *, forward: Pairs, start: dt.datetime, end: dt.datetime
) -> dict[tuple[str, str], int]:
    d = _dialect()
    where = Where(postgres=d.postgres)
    fwd = _forward(where, forward)
    parts = []
    for what, at, extra in (
        ("started", 'i."started_at"', ""),
        ("finished", 'i."completed_at"', "i.\"status\" = 'FINISHED'"),
        ("abandoned", 'i."completed_at"', "i.\"status\" = 'ABANDONED'"),
    ):
        part = Where(postgres=d.postgres, params=where.params)
        source = _instances(part, scope)
        if extra:
            part.conditions.append(extra)
        _between(part, d, at, start, end)
        parts.append(
            f"SELECT '{what}' AS what, {d.week(at)} AS week, COUNT(*) AS n FROM {source}"
            f" WHERE {part.sql()} GROUP BY {d.week(at)}"
        )
    part = Where(postgres=d.postgres, params=where.params)
    source = _instances(part, scope)
    _between(part, d, 'w."entered_at"', start, end)
    week = d.week('w."entered_at"')
    parts.append(
        f"SELECT 'advanced' AS what, {week} AS week, COUNT(*) AS n"
        f' FROM {source} JOIN "stage_visit" w ON w."instance_id" = i."id"'
        ' JOIN "stage_visit" v ON v."instance_id" = w."instance_id" AND v."n" = w."n" - 1'
        ' JOIN fwd f ON f.a = v."stage" AND f.b = w."stage"'
        f" WHERE {part.sql()} GROUP BY {week}"
    )
    sql = f"WITH {fwd} " + " UNION ALL ".join(parts)
    return {
        (row["what"], str(row["week"])): int(row["n"]) for row in await _rows(sql, where.params)
    }


async def pipeline(scope: Scope) -> list[tuple[str, str | None, int, int, int]]:
    """(stage, close month, instances, instances with an amount, amount in hundredths) of
    the active instances: the kept sums per key plus the deltas not folded into them yet
    (server/db/pipeline_sums.py), in one statement."""
    where = Where(postgres=_dialect().postgres)
    rows = _with_deltas(
        where, pipeline_sums.FOLDED, scope, '"stage", "month", "n", "counted", "cents"'
    )
    sql = (
        'SELECT "stage", "month", SUM("n") AS n, SUM("counted") AS counted,'
        f' SUM("cents") AS cents FROM ({rows}) s GROUP BY "stage", "month" HAVING SUM("n") <> 0'
    )
    return [
        (row["stage"], row["month"] or None, int(row["n"]), int(row["counted"]),
         int(row["cents"] or 0))
        for row in await _rows(sql, where.params)
    ]  # fmt: skip


async def owners(entity: str, *, first: int) -> list[str]:
    """The owners of the entity's records, in order, the first `first`: one index probe
    per owner (each the least owner after the one before), however many records each
    owns."""
    d = _dialect()
    where = Where(postgres=d.postgres)
    sql = (
        'WITH RECURSIVE o("owner") AS (SELECT MIN(r."owner") FROM "record" r'
        f' WHERE r."entity_id" = {where.value(entity)} UNION ALL SELECT (SELECT MIN(r."owner")'
        f' FROM "record" r WHERE r."entity_id" = {where.value(entity)}'
        ' AND r."owner" > o."owner")'
        ' FROM o WHERE o."owner" IS NOT NULL)'
        f' SELECT "owner" FROM o WHERE "owner" IS NOT NULL LIMIT {where.value(first)}'
    )
    return [row["owner"] for row in await _rows(sql, where.params)]
