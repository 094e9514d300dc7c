"""Every path a stage changes by fires the same deliveries: finishing leaves the last stage,
and moves back, abandoning, reactivating, switching and migrating are heard like advances.
A delivery given up after its retry window lets the instance's next ones go."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import pytest
from documents import ABANDON, ADVANCE, CREATE_RECORD, FINISH, MOVE_TO, REACTIVATE, START, SWITCH
from making import READY, budget_step, started_instance
from receiver import Receiver, receiving
from starlette.applications import Starlette
from test_migrated_history import _publish_renamed, _sales
from webhooking import fast, made, serving

from server.db.models import WebhookDeliveryRow
from server.domain.webhook import new_secret
from server.services import overdue
from server.settings import Settings


@pytest.fixture
async def app(database_url: str) -> AsyncIterator[Starlette]:
    async with serving(fast(database_url)) as application:
        yield application


MIGRATE = """
mutation($input: MigrateInstancesInput!) { migrateInstances(input: $input) { __typename } }
"""


async def ok(gql: Any, document: str, input: dict[str, Any], typename: str) -> dict[str, Any]:
    name = document.split("{", 2)[1].split("(")[0].strip().split()[-1]
    done = await gql.execute(document, {"input": input})
    result = next(iter(done.values()))
    assert result["__typename"] == typename, (name, result)
    return result  # type: ignore[no-any-return]


async def test_every_path_of_a_stage_change_is_heard(app: Starlette, gql: Any) -> None:
    secret = new_secret()
    async with receiving(Receiver(secret=secret)) as receiver:
        await made(
            app,
            receiver.url,
            secret=secret,
            topics=[
                "STAGE_ENTERED",
                "STAGE_LEFT",
                "FINISHED",
                "ABANDONED",
                "REACTIVATED",
                "PROCESS_SWITCHED",
                "INSTANCE_MIGRATED",
            ],
        )
        pid = await _sales(gql)
        created = await gql.execute(
            CREATE_RECORD, {"input": {"entity": "opportunity", "name": "Paths", "values": READY}}
        )
        record = created["createRecord"]["record"]["id"]
        started = await ok(gql, START, {"recordId": record, "processId": pid}, "InstanceStarted")
        instance = started["instance"]["id"]
        for _ in range(3):
            await ok(gql, ADVANCE, {"instanceId": instance}, "StageAdvanced")
        await ok(gql, MOVE_TO, {"instanceId": instance, "stage": "propose"}, "StageMoved")
        await ok(gql, ADVANCE, {"instanceId": instance}, "StageAdvanced")
        await ok(gql, FINISH, {"instanceId": instance, "outcome": "won"}, "InstanceFinished")
        await ok(gql, REACTIVATE, {"instanceId": instance}, "InstanceReactivated")
        await ok(gql, ABANDON, {"instanceId": instance}, "InstanceAbandoned")
        await ok(gql, REACTIVATE, {"instanceId": instance}, "InstanceReactivated")
        await ok(gql, MOVE_TO, {"instanceId": instance, "stage": "develop"}, "StageMoved")
        # Another process on the same record, then back by a switch.
        found = await gql.execute("{ processes { id key entity { key } } }")
        other = next(
            p["id"]
            for p in found["processes"]
            if p["entity"]["key"] == "opportunity" and p["id"] != pid
        )
        await ok(gql, SWITCH, {"recordId": record, "processId": other}, "ProcessSwitched")
        await ok(gql, SWITCH, {"recordId": record, "processId": pid}, "ProcessSwitched")
        await _publish_renamed(gql, pid)
        migrated = await gql.execute(
            MIGRATE,
            {
                "input": {
                    "processId": pid,
                    "fromVersion": 1,
                    "toVersion": 2,
                    "dryRun": False,
                    "stageMapping": [{"from": "develop", "to": "build"}],
                }
            },
        )
        assert migrated["migrateInstances"]["__typename"] == "InstancesMigrated"
        expected = [
            ("INSTANCE_STARTED", None, "qualify", ["STAGE_ENTERED"]),
            ("STAGE_ADVANCED", "qualify", "develop", ["STAGE_ENTERED", "STAGE_LEFT"]),
            ("STAGE_ADVANCED", "develop", "propose", ["STAGE_ENTERED", "STAGE_LEFT"]),
            ("STAGE_ADVANCED", "propose", "close", ["STAGE_ENTERED", "STAGE_LEFT"]),
            ("STAGE_MOVED_BACK", "close", "propose", ["STAGE_ENTERED", "STAGE_LEFT"]),
            ("STAGE_ADVANCED", "propose", "close", ["STAGE_ENTERED", "STAGE_LEFT"]),
            ("INSTANCE_FINISHED", "close", "close", ["FINISHED", "STAGE_LEFT"]),
            ("INSTANCE_REACTIVATED", "close", "close", ["REACTIVATED", "STAGE_ENTERED"]),
            ("INSTANCE_ABANDONED", "close", "close", ["ABANDONED", "STAGE_LEFT"]),
            ("INSTANCE_REACTIVATED", "close", "close", ["REACTIVATED", "STAGE_ENTERED"]),
            ("STAGE_MOVED_BACK", "close", "develop", ["STAGE_ENTERED", "STAGE_LEFT"]),
            ("PROCESS_SWITCHED", None, "develop", ["PROCESS_SWITCHED"]),
            (
                "INSTANCE_MIGRATED",
                "develop",
                "build",
                ["INSTANCE_MIGRATED", "STAGE_ENTERED", "STAGE_LEFT"],
            ),
        ]
        # The switch to the other process starts a run there, in its first stage.
        await receiver.wait_for(lambda r: len(r.arrivals) >= len(expected) + 2)
        await app.state.sender.send_now()
    runs: dict[str, list[Any]] = {}
    for arrival in receiver.arrivals:
        runs.setdefault(arrival.body["instance"]["id"], []).append(arrival)
    assert instance in runs and len(runs) == 2
    ours = runs.pop(instance)
    (theirs,) = runs.values()
    assert [a.seq for a in ours] == sorted(a.seq for a in ours)
    heard = [
        (
            a.body["event"]["kind"],
            a.body["event"]["fromStage"],
            a.body["event"]["toStage"],
            sorted(a.body["topics"]),
        )
        for a in ours
    ]
    assert heard == [(k, f, t, sorted(topics)) for k, f, t, topics in expected]
    assert [a.body["event"]["kind"] for a in theirs] == ["INSTANCE_STARTED", "PROCESS_SWITCHED"]
    assert theirs[0].body["instance"]["processId"] == other
    finished = ours[6].body
    assert finished["event"]["after"]["outcome"] == "won"
    assert finished["instance"]["status"] == "FINISHED"
    assert finished["instance"]["outcome"] == "won"
    reactivated = ours[7].body
    assert reactivated["instance"]["status"] == "ACTIVE"
    assert reactivated["instance"]["outcome"] is None
    migrated_body = ours[-1].body
    assert migrated_body["instance"]["activeStage"] == "build"
    assert migrated_body["instance"]["processVersion"] == 2
    # Before the migration, the deliveries tell the version the run was on then.
    assert ours[-3].body["instance"]["processVersion"] == 1


async def test_a_delivery_given_up_lets_the_next_of_its_instance_go(database_url: str) -> None:
    settings: Settings = fast(database_url, webhook_retry_hours=0.5 / 3600)
    async with serving(settings) as application:
        runtime = application.state.runtime
        secret = new_secret()
        refused: set[int] = set()

        def answer(arrival: Any) -> int:
            # The first event is refused every time; the ones after it are taken.
            if not refused or arrival.seq in refused:
                refused.add(arrival.seq)
                return 503
            return 200

        async with receiving(Receiver(secret=secret, answer=answer)) as receiver:
            await made(application, receiver.url, secret=secret)
            instance = await started_instance(runtime, "Given up")
            await budget_step(runtime, instance, 5)
            await receiver.wait_for(lambda r: len(r.arrivals) == 1)
        rows = await WebhookDeliveryRow.all().order_by("seq")
        assert [row.state for row in rows] == ["FAILED", "DELIVERED"]
        assert rows[0].attempts >= 2 and rows[0].last_status == 503
        # In seq order: the second went only once the first was given up.
        assert rows[1].delivered_at is not None and rows[0].last_attempt_at is not None
        assert rows[1].delivered_at >= rows[0].last_attempt_at
        assert receiver.arrivals[0].seq > min(refused)


async def test_a_stay_past_its_due_is_heard_as_overdue_once(app: Starlette, gql: Any) -> None:
    secret = new_secret()
    async with receiving(Receiver(secret=secret)) as receiver:
        await made(app, receiver.url, secret=secret, topics=["STAGE_OVERDUE"])
        runtime = app.state.runtime
        instance = await started_instance(runtime, "Late")
        # Opportunity Sales asks a record to leave Qualify within days: a month on, it is late.
        later = dt.datetime.now(dt.UTC) + dt.timedelta(days=30)
        assert await overdue.mark_overdue(runtime, now=later) == 1
        assert await overdue.mark_overdue(runtime, now=later + dt.timedelta(days=1)) == 0
        await receiver.wait_for(lambda r: len(r.arrivals) == 1)
        await app.state.sender.send_now()
    (late,) = receiver.arrivals
    assert late.body["topics"] == ["STAGE_OVERDUE"]
    assert late.body["event"]["kind"] == "STAGE_OVERDUE"
    assert late.body["event"]["toStage"] == "qualify"
    assert late.body["instance"]["id"] == str(instance)
    assert late.body["instance"]["activeStage"] == "qualify"
    assert late.body["event"]["after"]["dueAt"]
