"""Insights through the API: how one process is doing, figure by figure."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import strawberry
from strawberry.types import Info

from server.api.context import ctx
from server.api.ids import parse_id
from server.domain import insights as figures
from server.domain.errors import NotFound
from server.services import insights

_RANGE = "Counts what happened in [from, to); either end may be left open."


@strawberry.input(description="Which instances of a process the figures count.")
class InsightsInput:
    process_id: strawberry.ID
    from_: dt.datetime | None = strawberry.field(
        default=None, name="from", description="Inclusive; with its offset."
    )
    to: dt.datetime | None = strawberry.field(default=None, description="Exclusive.")
    owner: str | None = strawberry.field(default=None, description="The records' owner.")
    entity: str | None = None
    process_version: int | None = strawberry.field(
        default=None, description="Only instances that run this version."
    )


@strawberry.type(description="Seconds: how many values, their median, 90th percentile and mean.")
class Durations:
    count: int
    p50_seconds: float | None
    p90_seconds: float | None
    mean_seconds: float | None

    @classmethod
    def from_domain(cls, value: figures.Durations) -> Durations:
        return cls(
            count=value.count,
            p50_seconds=value.p50,
            p90_seconds=value.p90,
            mean_seconds=value.mean,
        )


@strawberry.type(description="How far the instances started in the range got, stage by stage.")
class FunnelStage:
    stage: str
    name: str
    reached: int = strawberry.field(description="Instances that were in the stage at least once.")
    advanced: int = strawberry.field(description="Of those, instances that moved on forward.")
    finished: int = strawberry.field(description="Instances finished from the stage.")
    abandoned: int = strawberry.field(description="Instances abandoned in the stage.")
    active: int = strawberry.field(description="Instances in the stage now.")
    conversion: float | None = strawberry.field(
        description="(advanced + finished) / reached; null when none reached it."
    )
    drop_off: float | None = strawberry.field(description="abandoned / reached.")

    @classmethod
    def from_domain(cls, value: figures.FunnelStage) -> FunnelStage:
        return cls(
            stage=value.stage,
            name=value.name,
            reached=value.reached,
            advanced=value.advanced,
            finished=value.finished,
            abandoned=value.abandoned,
            active=value.active,
            conversion=value.conversion,
            drop_off=value.drop_off,
        )


@strawberry.type
class OutcomeCount:
    outcome: str | None = strawberry.field(description="Null: finished without an outcome.")
    label: str
    count: int
    rate: float | None = strawberry.field(description="count / finished.")


@strawberry.type
class ReasonCount:
    outcome: str | None
    reason: str
    count: int


@strawberry.type(description="How the instances that ended in the range ended.")
class Outcomes:
    ended: int
    finished: int
    abandoned: int
    outcomes: list[OutcomeCount]
    reasons: list[ReasonCount] = strawberry.field(description="Most given first.")

    @classmethod
    def from_domain(cls, value: figures.Outcomes) -> Outcomes:
        return cls(
            ended=value.ended,
            finished=value.finished,
            abandoned=value.abandoned,
            outcomes=[
                OutcomeCount(outcome=o.outcome, label=o.label, count=o.count, rate=o.rate)
                for o in value.outcomes
            ],
            reasons=[
                ReasonCount(outcome=r.outcome, reason=r.reason, count=r.count)
                for r in value.reasons
            ],
        )


@strawberry.type(description="Time spent in a stage by the stays that ended in the range.")
class StageTime:
    stage: str
    name: str
    stays: Durations = strawberry.field(description="Each stay on its own.")
    per_instance: Durations = strawberry.field(
        description=(
            "Each instance's ended stays in the stage added up (revisits count once), for"
            " the instances whose last of them ended in the range."
        )
    )


@strawberry.type(description="An active instance long in its stage, or past the stage's due.")
class StuckInstance:
    instance_id: strawberry.ID
    record_id: strawberry.ID
    record_name: str
    owner: str
    stage: str
    stage_name: str
    since: dt.datetime
    days: float = strawberry.field(description="Days in the stage so far.")
    due_at: dt.datetime | None
    overdue: bool


@strawberry.type(description="One week (Monday, UTC) of a process's throughput.")
class Week:
    start: dt.date
    started: int
    advanced: int = strawberry.field(description="Forward moves made in the week.")
    finished: int
    abandoned: int


def _money(value: Decimal) -> str:
    return f"{value:.2f}"


@strawberry.type
class PipelineStage:
    stage: str
    name: str
    probability: int | None
    count: int
    amount: str
    weighted: str


@strawberry.type
class PipelineMonth:
    month: str | None = strawberry.field(
        description='YYYY-MM; "later": the months past the 59th added up; null: no close date.'
    )
    count: int
    amount: str
    weighted: str


@strawberry.type(
    description="The active instances' amounts, weighted by their stage's probability "
    "(amounts are money text, exact to the cent)."
)
class Pipeline:
    amount_field: str | None
    close_date_field: str | None
    currency: str | None
    count: int
    amount: str
    weighted: str
    by_stage: list[PipelineStage]
    by_month: list[PipelineMonth]

    @classmethod
    def from_domain(cls, value: figures.Pipeline, currency: str | None) -> Pipeline:
        return cls(
            amount_field=value.amount_field,
            close_date_field=value.close_date_field,
            currency=currency,
            count=value.total.count,
            amount=_money(value.total.amount),
            weighted=_money(value.total.weighted),
            by_stage=[
                PipelineStage(
                    stage=s.stage,
                    name=s.name,
                    probability=s.probability,
                    count=s.amounts.count,
                    amount=_money(s.amounts.amount),
                    weighted=_money(s.amounts.weighted),
                )
                for s in value.by_stage
            ],
            by_month=[
                PipelineMonth(
                    month=month,
                    count=a.count,
                    amount=_money(a.amount),
                    weighted=_money(a.weighted),
                )
                for month, a in value.by_month
            ],
        )


@strawberry.type(description="How a process is doing; each field is one question asked.")
class Insights:
    process_id: strawberry.ID
    question: strawberry.Private[insights.Question]

    @strawberry.field(description="Of the instances started in the range. " + _RANGE)
    async def funnel(self) -> list[FunnelStage]:
        return [FunnelStage.from_domain(s) for s in await insights.funnel(self.question)]

    @strawberry.field(description="Of the instances that ended in the range.")
    async def outcomes(self) -> Outcomes:
        return Outcomes.from_domain(await insights.outcomes(self.question))

    @strawberry.field(description="Of the stays that ended in the range.")
    async def time_in_stage(self) -> list[StageTime]:
        return [
            StageTime(
                stage=key,
                name=name,
                stays=Durations.from_domain(stays),
                per_instance=Durations.from_domain(per_instance),
            )
            for key, name, stays, per_instance in await insights.time_in_stage(self.question)
        ]

    @strawberry.field(description="Start to finish, of the instances finished in the range.")
    async def cycle_time(self) -> Durations:
        return Durations.from_domain(await insights.cycle_time(self.question))

    @strawberry.field(
        description="Active instances in their stage for more than `days`, or past its due; "
        "oldest first. The range plays no part."
    )
    async def stuck(self, days: int = 14, first: int = 50) -> list[StuckInstance]:
        now = dt.datetime.now(dt.UTC)
        found = await insights.stuck(self.question, days=days, first=first, now=now)
        names = {s.key: s.name for s in self.question.process.stages}
        return [
            StuckInstance(
                instance_id=strawberry.ID(str(s.instance_id)),
                record_id=strawberry.ID(str(s.record_id)),
                record_name=s.record_name,
                owner=s.owner,
                stage=s.stage,
                stage_name=names.get(s.stage, s.stage),
                since=s.since,
                days=round((now - s.since).total_seconds() / 86400, 2),
                due_at=s.due_at,
                overdue=s.due_at is not None and s.due_at <= now,
            )
            for s in found
        ]

    @strawberry.field(description="Per week of the range (by default the 12 weeks up to this one).")
    async def throughput(self) -> list[Week]:
        return [
            Week(
                start=w.start,
                started=w.started,
                advanced=w.advanced,
                finished=w.finished,
                abandoned=w.abandoned,
            )
            for w in await insights.throughput(self.question)
        ]

    @strawberry.field(
        description="The owners of the records of the process's entity, in order (at most "
        f"{figures.MAX_OWNERS}): whom the owner filter may name. The filters play no part."
    )
    async def owners(self) -> list[str]:
        return await insights.owners(self.question)

    @strawberry.field(description="Of the active instances now; the range plays no part.")
    async def pipeline(self) -> Pipeline:
        process = self.question.process
        field = process.entity.field(process.amount_field) if process.amount_field else None
        return Pipeline.from_domain(
            await insights.pipeline(self.question), field.currency if field else None
        )


@strawberry.type
class InsightsQuery:
    @strawberry.field(
        description="How a process is doing; null when there is no such process or the user "
        "may not run it."
    )
    async def insights(self, info: Info, input: InsightsInput) -> Insights | None:
        context = ctx(info)
        try:
            question = await insights.ask(
                context.runtime,
                process_id=parse_id("Process", input.process_id),
                visible=await context.visible(),
                start=input.from_,
                end=input.to,
                owner=input.owner,
                entity=input.entity,
                version=input.process_version,
            )
        except NotFound:
            return None
        return Insights(process_id=input.process_id, question=question)
