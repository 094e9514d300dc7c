"""Insights: how a process is doing, for those who may run it."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from server.db import insights as sums
from server.db.insights import Scope
from server.domain import insights as figures
from server.domain.errors import InvalidValue, NotFound
from server.domain.process import Process
from server.domain.text import check_text
from server.services.queries import MAX_PAGE
from server.services.runtime import Runtime, utcnow

MAX_STUCK = MAX_PAGE
MAX_DAYS = 3650


@dataclass(frozen=True)
class Question:
    """One process's insights, narrowed by filters; each figure is asked on its own."""

    process: Process
    versions: tuple[Process, ...]
    scope: Scope
    start: dt.datetime | None
    end: dt.datetime | None

    def forward(self) -> set[tuple[str, str]]:
        return figures.forward_pairs(self.versions)


async def ask(
    rt: Runtime,
    *,
    process_id: int,
    visible: set[int] | None,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    owner: str | None = None,
    entity: str | None = None,
    version: int | None = None,
) -> Question:
    """The question, if the process exists and the user may run it; else NotFound."""
    if visible is not None and process_id not in visible:
        raise NotFound("Process", process_id)
    process = await rt.catalog.process(process_id)
    for name, at in (("from", start), ("to", end)):
        if at is not None and at.tzinfo is None:
            raise InvalidValue(name, "give a time with its offset (2026-01-31T00:00:00Z)")
    if start is not None and end is not None and end <= start:
        raise InvalidValue("to", "must be after from")
    if version is not None and not 1 <= version <= process.version:
        raise InvalidValue("processVersion", f"this process has versions 1 to {process.version}")
    numbers = range(1, process.version + 1)
    versions = await rt.catalog.versions((process_id, n) for n in numbers)
    return Question(
        process=process,
        versions=tuple(versions.values()),
        scope=Scope(
            process_id=process_id,
            version=version,
            owner=None if owner is None else check_text("owner", owner, limit=200),
            entity=None if entity is None else check_text("entity", entity, limit=64),
        ),
        start=start,
        end=end,
    )


async def funnel(q: Question) -> list[figures.FunnelStage]:
    reached, resting = await sums.funnel(q.scope, forward=q.forward(), start=q.start, end=q.end)
    return figures.funnel(q.process, reached, resting)


async def outcomes(q: Question) -> figures.Outcomes:
    return figures.outcomes(q.process, await sums.endings(q.scope, start=q.start, end=q.end))


async def time_in_stage(q: Question) -> list[tuple[str, str, figures.Durations, figures.Durations]]:
    """(stage, name, per stay, per instance) in the process's stage order."""
    stays = await sums.time_in_stage(q.scope, per_instance=False, start=q.start, end=q.end)
    per_instance = await sums.time_in_stage(q.scope, per_instance=True, start=q.start, end=q.end)
    none = figures.Durations(0, None, None, None)
    return [
        (key, name, stays.get(key, none), per_instance.get(key, none))
        for key, name in figures.stage_order(q.process, stays)
    ]


async def cycle_time(q: Question) -> figures.Durations:
    return await sums.cycle_time(q.scope, start=q.start, end=q.end)


async def stuck(
    q: Question, *, days: int, first: int, now: dt.datetime | None = None
) -> list[figures.Stuck]:
    if not 0 <= days <= MAX_DAYS:
        raise InvalidValue("days", f"from 0 to {MAX_DAYS}")
    if not 1 <= first <= MAX_STUCK:
        raise InvalidValue("first", f"a list holds 1 to {MAX_STUCK} items")
    now = now or utcnow()
    since = now - dt.timedelta(days=days)
    return await sums.stuck(q.scope, since=since, now=now, first=first)


async def throughput(q: Question, *, now: dt.datetime | None = None) -> list[figures.Week]:
    start, end = figures.week_range(q.start, q.end, now=now or utcnow())
    if end <= start:
        raise InvalidValue("to", "must be after from")
    if figures.count_weeks(start, end) > figures.MAX_WEEKS:
        raise InvalidValue("from", f"a throughput covers at most {figures.MAX_WEEKS} weeks")
    counts = await sums.throughput(q.scope, forward=q.forward(), start=start, end=end)
    return figures.weeks(start, end, counts)


async def owners(q: Question) -> list[str]:
    """Whom the owner filter may name: the owners of the records of the process's entity,
    in order, at most MAX_OWNERS."""
    return await sums.owners(q.process.entity.key, first=figures.MAX_OWNERS)


async def pipeline(q: Question) -> figures.Pipeline:
    return figures.pipeline(q.process, await sums.pipeline(q.scope))
