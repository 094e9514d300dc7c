"""What the figures of a process's insights mean, put together from the database's sums.

The sums come from server/db/insights.py; here they become a funnel in the order of the
process's stages, outcomes with their rates, weeks without a gap, and a pipeline weighted
by each stage's probability, exact to the cent.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from server.domain.outcome import MAX_OUTCOMES
from server.domain.process import Process
from server.domain.validation import MAX_STAGES

CENT = Decimal("0.01")
# A throughput longer than this many weeks is refused: its answer would only be long.
MAX_WEEKS = 520
DEFAULT_WEEKS = 12
# The longest lists an answer holds (what a query costs is known before it runs): the
# stages of the current version and at most as many that only older versions had; the
# outcomes likewise, and "no outcome"; the reasons given most; the close months, the
# months past the last one shown added up in one row, LATER.
MAX_FIGURE_STAGES = 2 * MAX_STAGES
MAX_FIGURE_OUTCOMES = 2 * MAX_OUTCOMES + 1
MAX_REASONS = 20
MAX_MONTHS = 60
LATER = "later"
# The owners the owner filter is offered, the first in order.
MAX_OWNERS = 200


@dataclass(frozen=True)
class Durations:
    count: int
    p50: float | None
    p90: float | None
    mean: float | None


@dataclass(frozen=True)
class Stuck:
    instance_id: int
    record_id: int
    record_name: str
    owner: str
    stage: str
    since: dt.datetime
    due_at: dt.datetime | None


@dataclass(frozen=True)
class FunnelStage:
    stage: str
    name: str
    reached: int
    advanced: int
    finished: int
    abandoned: int
    active: int

    @property
    def conversion(self) -> float | None:
        """Of those that reached the stage, the share that went on (forward, or finished)."""
        return _share(self.advanced + self.finished, self.reached)

    @property
    def drop_off(self) -> float | None:
        """Of those that reached the stage, the share abandoned in it."""
        return _share(self.abandoned, self.reached)


@dataclass(frozen=True)
class OutcomeCount:
    outcome: str | None
    label: str
    count: int
    rate: float | None


@dataclass(frozen=True)
class ReasonCount:
    outcome: str | None
    reason: str
    count: int


@dataclass(frozen=True)
class Outcomes:
    finished: int
    abandoned: int
    outcomes: tuple[OutcomeCount, ...]
    reasons: tuple[ReasonCount, ...]

    @property
    def ended(self) -> int:
        return self.finished + self.abandoned


@dataclass(frozen=True)
class Week:
    start: dt.date
    started: int
    advanced: int
    finished: int
    abandoned: int


@dataclass(frozen=True)
class Amounts:
    count: int
    amount: Decimal
    weighted: Decimal


@dataclass(frozen=True)
class PipelineStage:
    stage: str
    name: str
    probability: int | None
    amounts: Amounts


@dataclass(frozen=True)
class Pipeline:
    amount_field: str | None
    close_date_field: str | None
    total: Amounts
    by_stage: tuple[PipelineStage, ...]
    # (close month "YYYY-MM", or None for records without a close date) -> amounts.
    by_month: tuple[tuple[str | None, Amounts], ...]


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def forward_pairs(versions: Iterable[Process]) -> set[tuple[str, str]]:
    """(a, b) where stage b lies ahead of stage a in some version's forward graph."""
    pairs: set[tuple[str, str]] = set()
    for process in versions:
        pairs |= ahead({stage.key: stage.targets() for stage in process.stages})
    return pairs


def ahead(targets: Mapping[str, Sequence[str]]) -> set[tuple[str, str]]:
    """(a, b) where b can be reached from a along `targets` (each stage's next stages)."""
    found: dict[str, set[str]] = {}

    def reach(key: str) -> set[str]:
        if key not in found:
            found[key] = set()  # the forward graph has no cycle; this only stops a bad one
            later: set[str] = set()
            for target in targets.get(key, ()):
                later |= {target, *reach(target)}
            found[key] = later
        return found[key]

    return {(key, later) for key in targets for later in reach(key)}


def stage_order(process: Process, seen: Iterable[str]) -> list[tuple[str, str]]:
    """(key, name) of the process's stages in order, then stages only older versions had."""
    order = [(s.key, s.name) for s in process.stages]
    known = {key for key, _ in order}
    return order + [(key, key) for key in sorted(set(seen) - known)[:MAX_STAGES]]


def funnel(
    process: Process,
    reached: Mapping[str, tuple[int, int]],
    resting: Mapping[tuple[str, str], int],
) -> list[FunnelStage]:
    seen = {*reached, *(stage for stage, _ in resting)}
    return [
        FunnelStage(
            stage=key,
            name=name,
            reached=reached.get(key, (0, 0))[0],
            advanced=reached.get(key, (0, 0))[1],
            finished=resting.get((key, "FINISHED"), 0),
            abandoned=resting.get((key, "ABANDONED"), 0),
            active=resting.get((key, "ACTIVE"), 0),
        )
        for key, name in stage_order(process, seen)
    ]


def outcomes(
    process: Process, endings: Iterable[tuple[str, str | None, str | None, int]]
) -> Outcomes:
    """Counts by outcome, in the order the process declares them, and the reasons given."""
    finished = abandoned = 0
    by_outcome: dict[str | None, int] = {}
    by_reason: dict[tuple[str | None, str], int] = {}
    for status, outcome, reason, count in endings:
        if status == "ABANDONED":
            abandoned += count
            continue
        finished += count
        by_outcome[outcome] = by_outcome.get(outcome, 0) + count
        if reason:
            by_reason[(outcome, reason)] = by_reason.get((outcome, reason), 0) + count
    labels = {o.key: o.label for o in process.outcomes}
    keys: list[str | None] = [o.key for o in process.outcomes]
    keys += sorted(k for k in by_outcome if k is not None and k not in labels)[:MAX_OUTCOMES]
    if None in by_outcome:
        keys.append(None)
    counts = tuple(
        OutcomeCount(
            outcome=key,
            label="No outcome" if key is None else labels.get(key, key),
            count=by_outcome.get(key, 0),
            rate=_share(by_outcome.get(key, 0), finished),
        )
        for key in keys
    )
    reasons = tuple(
        ReasonCount(outcome=outcome, reason=reason, count=count)
        for (outcome, reason), count in sorted(
            by_reason.items(), key=lambda item: (-item[1], item[0][1], item[0][0] or "")
        )[:MAX_REASONS]
    )
    return Outcomes(finished=finished, abandoned=abandoned, outcomes=counts, reasons=reasons)


def monday(at: dt.datetime) -> dt.date:
    day = at.astimezone(dt.UTC).date()
    return day - dt.timedelta(days=day.weekday())


def week_range(
    start: dt.datetime | None, end: dt.datetime | None, *, now: dt.datetime
) -> tuple[dt.datetime, dt.datetime]:
    """The weeks a throughput covers: [start, end), by default the 12 weeks up to this one."""
    if end is None:
        end = midnight(monday(now) + dt.timedelta(weeks=1))
    if start is None:
        start = midnight(
            monday(end - dt.timedelta(microseconds=1)) - dt.timedelta(weeks=DEFAULT_WEEKS - 1)
        )
    return start, end


def midnight(day: dt.date) -> dt.datetime:
    """The start of a day, UTC."""
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)


def weeks(
    start: dt.datetime, end: dt.datetime, counts: Mapping[tuple[str, str], int]
) -> list[Week]:
    """One row per week that [start, end) touches, Monday first, zeros included."""
    first = monday(start)
    out = []
    for n in range(count_weeks(start, end)):
        key = (first + dt.timedelta(weeks=n)).isoformat()
        out.append(
            Week(
                start=first + dt.timedelta(weeks=n),
                started=counts.get(("started", key), 0),
                advanced=counts.get(("advanced", key), 0),
                finished=counts.get(("finished", key), 0),
                abandoned=counts.get(("abandoned", key), 0),
            )
        )
    return out


def count_weeks(start: dt.datetime, end: dt.datetime) -> int:
    return max(0, (monday(end - dt.timedelta(microseconds=1)) - monday(start)).days // 7 + 1)


def pipeline(process: Process, rows: Iterable[tuple[str, str | None, int, int, int]]) -> Pipeline:
    """Amounts of the active instances by stage and by close month; weighted = the sum of amount *
    the stage's probability, rounded to the cent once, after adding up."""
    probability = {s.key: s.probability for s in process.stages}
    # Exact sums, in hundredths of a cent-percent: cents * probability.
    stage_sums: dict[str, list[int]] = {}
    month_sums: dict[str | None, list[int]] = {}
    rows = list(rows)
    months = sorted({month for _, month, _, _, _ in rows if month is not None})
    shown = set(months[: MAX_MONTHS - 1]) if len(months) > MAX_MONTHS else set(months)
    for stage, month, count, _, cents in rows:
        weighted = cents * (probability.get(stage) or 0)
        month = month if month is None or month in shown else LATER
        for sums, key in ((stage_sums, stage), (month_sums, month)):
            bucket = sums.setdefault(key, [0, 0, 0])  # type: ignore[arg-type]
            bucket[0] += count
            bucket[1] += cents
            bucket[2] += weighted
    by_stage = tuple(
        PipelineStage(
            stage=key,
            name=name,
            probability=probability.get(key),
            amounts=_amounts(stage_sums.get(key, [0, 0, 0])),
        )
        for key, name in stage_order(process, stage_sums)
    )
    by_month = tuple(
        (month, _amounts(month_sums[month]))
        for month in sorted(month_sums, key=lambda m: (m is None, m == LATER, m or ""))
    )
    total = [sum(b[i] for b in stage_sums.values()) for i in range(3)]
    return Pipeline(
        amount_field=process.amount_field,
        close_date_field=process.close_date_field,
        total=_amounts(total),
        by_stage=by_stage,
        by_month=by_month,
    )


def _amounts(sums: list[int]) -> Amounts:
    count, cents, weighted = sums
    return Amounts(
        count=count,
        amount=(Decimal(cents) / 100).quantize(CENT),
        weighted=(Decimal(weighted) / 10_000).quantize(CENT, rounding=ROUND_HALF_UP),
    )
