"""Webhook deliveries from the event log to a real receiver: signed, in seq order per
instance, retried with growing pauses, paused after failures, kept off private addresses."""

from __future__ import annotations

import datetime as dt
import itertools
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from documents import ADVANCE, COMPLETE_STEP, CREATE_RECORD, START
from graphql_client import GraphQL
from making import new_instance, started_instance
from receiver import Receiver, receiving, verified
from starlette.applications import Starlette
from webhooking import fast, fill_and_advance, made, serving, until

from server.db import store, transaction
from server.db.models import EventRow, WebhookAttemptRow, WebhookDeliveryRow, WebhookRow
from server.domain.events import Event, EventKind
from server.domain.webhook import new_secret
from server.settings import Settings


@pytest.fixture
async def app(database_url: str) -> AsyncIterator[Starlette]:
    async with serving(fast(database_url)) as application:
        yield application


async def test_each_event_arrives_signed_with_the_record_as_it_was_after_it(
    app: Starlette, gql: Any
) -> None:
    secret = new_secret()
    async with receiving(Receiver(secret=secret)) as receiver:
        await made(app, receiver.url, secret=secret)
        instance = await new_instance(gql, "Signed deal")
        await fill_and_advance(gql, instance, 1000)
        # A later change: the deliveries before it still tell the value as it was then.
        await gql.execute(
            COMPLETE_STEP,
            {"input": {"instanceId": instance, "field": "estimated_budget", "value": 2000}},
        )
        kinds = ["INSTANCE_STARTED", "STEP_COMPLETED", "STEP_COMPLETED", "STAGE_ADVANCED"]
        kinds.append("STEP_COMPLETED")
        await receiver.wait_for(lambda r: len(r.arrivals) == len(kinds))

    arrivals = receiver.arrivals
    assert all(arrival.signed for arrival in arrivals)
    assert [a.body["event"]["kind"] for a in arrivals] == kinds
    seqs = [a.seq for a in arrivals]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    assert [a.body["event"]["seq"] for a in arrivals] == seqs
    assert len({a.delivery for a in arrivals}) == len(arrivals)
    started, _, _, advanced, later = (a.body for a in arrivals)
    later_arrival = arrivals[-1]
    assert started["topics"] == ["STAGE_ENTERED"]
    assert sorted(advanced["topics"]) == ["STAGE_ENTERED", "STAGE_LEFT"]
    assert advanced["event"]["fromStage"] == "qualify"
    assert advanced["event"]["toStage"] == "develop"
    assert advanced["instance"]["activeStage"] == "develop"
    assert started["instance"]["activeStage"] == "qualify"
    assert started["record"]["values"] == {}
    assert advanced["record"]["values"]["estimated_budget"] == "1000.00"
    assert later["record"]["values"]["estimated_budget"] == "2000.00"
    assert advanced["record"]["name"] == "Signed deal"
    assert advanced["instance"]["id"] == instance
    # Another secret, or a changed byte, does not verify.
    assert not verified(new_secret(), later_arrival.signature, later_arrival.raw)
    assert not verified(secret, later_arrival.signature, later_arrival.raw + b" ")


async def test_a_receiver_down_for_a_while_gets_every_event_in_order_after_growing_pauses(
    app: Starlette, gql: Any
) -> None:
    secret = new_secret()
    receiver = Receiver(secret=secret)
    async with receiving(receiver):
        port = receiver.port
        await made(app, receiver.url, secret=secret)
    # Down: the changes commit, their deliveries fail and wait.
    instances = [await new_instance(gql, f"Deal {n}") for n in range(3)]
    for n, instance in enumerate(instances):
        await fill_and_advance(gql, instance, 100 + n)
    await until(lambda: _planned(12))
    await until(lambda: _tried_at_least(4))
    async with receiving(receiver, port=port):
        await receiver.wait_for(lambda r: len(r.delivered()) == 12)
    by_instance: dict[str, list[int]] = {}
    for arrival in receiver.arrivals:
        by_instance.setdefault(arrival.body["instance"]["id"], []).append(arrival.seq)
    assert sorted(by_instance) == sorted(instances)
    for seqs in by_instance.values():
        assert seqs == sorted(seqs) and len(seqs) == 4
    # The pauses between tries of one delivery grow.
    first = await WebhookDeliveryRow.filter(attempts__gte=4).order_by("seq").first()
    assert first is not None
    tries = await WebhookAttemptRow.filter(delivery_id=first.id).order_by("n")
    pauses = [(t.retry_at - t.at).total_seconds() for t in tries if t.retry_at is not None]
    assert len(pauses) == len(tries) - 1 >= 3
    # Doubling (with jitter) until the longest pause, 1.6 s, is reached after the fourth.
    assert all(b >= a for a, b in itertools.pairwise(pauses[:4])) and pauses[2] > pauses[0]
    assert max(pauses) <= 1.6
    # Each try waited at least its pause.
    assert all(b.at >= a.retry_at for a, b in itertools.pairwise(tries))
    assert tries[0].status is None and tries[0].error
    assert tries[-1].status == 200
    delivered = await WebhookDeliveryRow.all()
    assert len(delivered) == 12 and all(d.state == "DELIVERED" for d in delivered)


async def _planned(n: int) -> bool:
    return await WebhookDeliveryRow.all().count() >= n


async def _tried_at_least(n: int) -> bool:
    return await WebhookAttemptRow.filter(n__gte=n).exists()


async def test_failures_in_a_row_pause_the_webhook_once_and_say_why(
    database_url: str,
) -> None:
    async with serving(fast(database_url, webhook_pause_after=3)) as application:
        secret = new_secret()
        async with receiving(Receiver(secret=secret, answer=lambda arrival: 500)) as receiver:
            hook = await made(application, receiver.url, secret=secret)

            transport = httpx.ASGITransport(app=application)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
                gql = GraphQL(http, application)
                for n in range(3):
                    await new_instance(gql, f"Refused {n}")
            await until(lambda: _paused(hook.id))
            tried = len(receiver.tries)
        row = await WebhookRow.get(id=hook.id)
        assert row.status == "PAUSED"
        assert row.paused_reason is not None
        # Tries are settled in batches: the count that paused it is at least the setting.
        counted = re.match(r"Paused after (\d+) failed tries in a row", row.paused_reason)
        assert counted is not None and int(counted.group(1)) >= 3
        assert "HTTP 500" in row.paused_reason
        assert tried >= 3
        paused = await EventRow.filter(kind="WEBHOOK_PAUSED").all()
        assert len(paused) == 1 and paused[0].actor == "stageflow"
        assert secret not in str(paused[0].after)
        # Paused: nothing more is tried, the deliveries wait.
        pending = await WebhookDeliveryRow.filter(state="PENDING").count()
        assert pending == 3


async def _paused(id: int) -> bool:
    return await WebhookRow.filter(id=id, status="PAUSED").exists()


async def test_a_rolled_back_change_is_never_delivered(app: Starlette, gql: Any) -> None:
    secret = new_secret()
    async with receiving(Receiver(secret=secret)) as receiver:
        await made(app, receiver.url, secret=secret)
        instance = await new_instance(gql, "Kept")

        async def undone() -> None:
            await store.append_event(
                Event(
                    EventKind.STAGE_ADVANCED,
                    "t",
                    dt.datetime.now(dt.UTC),
                    instance_id=int(instance),
                    from_stage="qualify",
                    to_stage="develop",
                )
            )
            raise LookupError("rolled back")

        with pytest.raises(LookupError):
            await transaction.run(undone)
        await fill_and_advance(gql, instance, 5)
        await receiver.wait_for(lambda r: len(r.arrivals) == 4)
        # The receiver has had what committed and nothing else.
        await app.state.sender.send_now()
    kinds = [a.body["event"]["kind"] for a in receiver.arrivals]
    assert kinds == ["INSTANCE_STARTED", "STEP_COMPLETED", "STEP_COMPLETED", "STAGE_ADVANCED"]
    assert await WebhookDeliveryRow.all().count() == 4


async def test_filters_choose_what_a_webhook_hears_of(app: Starlette, gql: Any) -> None:
    secret = new_secret()
    async with (
        receiving(Receiver(secret=secret)) as everything,
        receiving(Receiver(secret=secret)) as stages,
    ):
        await made(app, everything.url, secret=secret)
        await made(
            app,
            stages.url,
            secret=secret,
            topics=["STAGE_LEFT"],
            stages=["qualify"],
            entities=["opportunity"],
        )
        instance = await new_instance(gql, "Filtered")
        await fill_and_advance(gql, instance, 7)
        await everything.wait_for(lambda r: len(r.arrivals) == 4)
        await stages.wait_for(lambda r: len(r.arrivals) == 1)
        await app.state.sender.send_now()
    (left,) = stages.arrivals
    assert left.body["event"]["kind"] == "STAGE_ADVANCED"
    assert left.body["topics"] == ["STAGE_LEFT"]


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:{port}/hook",
        "http://10.0.0.1/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://localhost:{port}/hook",
        "http://[::1]:{port}/hook",
    ],
)
async def test_private_addresses_are_refused_without_the_setting(
    database_url: str, url: str
) -> None:
    settings = Settings(database_url=database_url, webhook_retry_first_seconds=60)
    async with serving(settings) as application:
        runtime = application.state.runtime
        secret = new_secret()
        async with receiving(Receiver(secret=secret)) as receiver:
            await made(application, url.format(port=receiver.port), secret=secret)
            await started_instance(runtime, "Private")
            await until(lambda: WebhookAttemptRow.all().exists())
        (attempt,) = await WebhookAttemptRow.all()
        assert attempt.status is None
        assert attempt.error is not None and "not a public address" in attempt.error
        assert receiver.tries == []


async def test_an_entity_filter_hears_a_process_across_entities_on_each_record(
    app: Starlette, gql: Any
) -> None:
    """Lead to Opportunity moves on from the lead to the opportunity it makes: a webhook
    for opportunities hears of the run from the crossing on, one for leads until it."""
    secret = new_secret()
    found = await gql.execute("{ processes { id key } }")
    process = next(p["id"] for p in found["processes"] if p["key"] == "lead-to-opportunity")
    async with (
        receiving(Receiver(secret=secret)) as leads,
        receiving(Receiver(secret=secret)) as opportunities,
    ):
        await made(app, leads.url, secret=secret, topics=["STAGE_ENTERED"], entities=["lead"])
        await made(
            app,
            opportunities.url,
            secret=secret,
            topics=["STAGE_ENTERED"],
            entities=["opportunity"],
        )
        values = {
            **{"contact_name": "Ada", "company_name": "Engines", "email": "a@e.example"},
            **{"source": "Referral", "interest": "Sums", "budget_amount": "9000.00"},
            **{"purchase_timeframe": "Unknown", "qualification_call_date": "2026-06-01"},
            **{"qualification_call_notes": "Keen", "qualified": True},
        }
        created = await gql.execute(
            CREATE_RECORD, {"input": {"entity": "lead", "name": "Ada", "values": values}}
        )
        record = created["createRecord"]["record"]["id"]
        started = await gql.execute(START, {"input": {"recordId": record, "processId": process}})
        instance = started["startInstance"]["instance"]["id"]
        for _ in range(3):  # to identify, to the call, across to develop
            moved = await gql.execute(ADVANCE, {"input": {"instanceId": instance}})
            assert moved["advanceStage"]["__typename"] == "StageAdvanced", moved
        await leads.wait_for(lambda r: len(r.arrivals) == 3)
        await opportunities.wait_for(lambda r: len(r.arrivals) == 1)
        await app.state.sender.send_now()
    entered = [a.body["event"]["toStage"] for a in leads.arrivals]
    assert entered == ["qualify", "identify", "fast_track"]
    (crossed,) = opportunities.arrivals
    assert crossed.body["event"]["toStage"] == "develop"
