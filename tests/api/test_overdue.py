"""Stays past their stage's due: one STAGE_OVERDUE event each, seen wherever events are.

The opportunity process's Qualify is due in 5 business days, Develop in 10. Stays are begun
on a clock the tests set, and the scan is run with the clock the tests choose.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sockets import Socket
from starlette.applications import Starlette
from test_design import MIGRATE, PUBLISH, UPDATE
from tortoise.connection import get_connection

from server.app import create_app
from server.services import instances, overdue, records
from server.services.seed import seed
from server.settings import Settings

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
DAY = dt.timedelta(days=1)

INSTANCE = """query($id: ID!) { instance(id: $id) {
  version dueAt overdue activeStage { key due dueBusinessDays }
  history { stage { key } dueAt overdueAt }
  events { kind actor toStage after } } }"""
OVERDUE_EVENTS = """query($id: ID) { events(instanceId: $id, kinds: [STAGE_OVERDUE]) {
  seq kind actor instanceId recordId processId fromStage toStage after } }"""
INSTANCES = """query($overdue: Boolean) { instances(overdue: $overdue, first: 50) {
  totalCount edges { node { id overdue dueAt } } } }"""
RECORDS = """query($overdue: Boolean, $status: InstanceStatus) {
  records(overdue: $overdue, status: $status, first: 50) { totalCount edges { node { id } } } }"""
STAGE_CHANGED = """subscription($id: ID) { stageChanged(instanceId: $id) {
  kind toStage after instance { id overdue } } }"""


class Clock:
    """The time the services begin stays at."""

    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture
async def app(database_url: str) -> AsyncIterator[Starlette]:
    """The app without its own scan: the tests run it, with their clock."""
    settings = Settings(database_url=database_url, overdue_interval_seconds=0)
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        await seed(application.state.runtime)
        yield application


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    found = Clock(NOW - 60 * DAY)
    monkeypatch.setattr(instances, "utcnow", found)
    return found


async def _opportunity(rt: Any, name: str, *, ready: bool = True) -> tuple[int, int]:
    """A new opportunity started on Opportunity Sales: its record's and instance's ids;
    `ready`: Qualify's required steps done."""
    created = await records.create_record(
        rt, entity="opportunity", name=name, owner="t", values={}, by="t"
    )
    assert created.record is not None and created.record.id is not None
    started = await instances.start_instance(
        rt, record_id=created.record.id, process_id=None, by="t"
    )
    assert started.instance is not None and started.instance.id is not None
    iid = started.instance.id
    if ready:
        for field, value in (("estimated_budget", 1000), ("decision_maker_identified", True)):
            await instances.complete_step(
                rt, instance_id=iid, field=field, value=value, expected_version=None, by="t"
            )
    return created.record.id, iid


async def _move(rt: Any, how: str, iid: int, **kw: Any) -> None:
    change = await getattr(instances, how)(rt, instance_id=iid, expected_version=None, by="t", **kw)
    assert change.event.seq


async def _overdue_events(gql: Any, iid: int | None = None) -> list[dict[str, Any]]:
    found = await gql.execute(OVERDUE_EVENTS, {"id": None if iid is None else str(iid)})
    return list(found["events"])


async def test_a_stay_past_its_due_is_told_once(gql: Any, app: Starlette, clock: Clock) -> None:
    rt = app.state.runtime
    record_id, iid = await _opportunity(rt, "Contoso")
    before = (await gql.execute(INSTANCE, {"id": str(iid)}))["instance"]
    assert before["activeStage"] == {"key": "qualify", "due": "P5D", "dueBusinessDays": True}
    due_at = dt.datetime.fromisoformat(before["dueAt"])
    assert due_at - clock.now >= 5 * DAY  # five business days are at least five days
    assert before["overdue"] is True  # begun sixty days ago

    assert await overdue.mark_overdue(rt, now=due_at - dt.timedelta(seconds=1)) == 0
    assert await _overdue_events(gql) == []
    assert await overdue.mark_overdue(rt, now=due_at) == 1
    assert await overdue.mark_overdue(rt, now=due_at + DAY) == 0
    assert await overdue.mark_overdue(rt, now=NOW + 30 * DAY) == 0

    [event] = await _overdue_events(gql)
    assert event["actor"] == "stageflow"
    assert (event["instanceId"], event["recordId"]) == (str(iid), str(record_id))
    assert (event["fromStage"], event["toStage"]) == (None, "qualify")
    assert event["after"]["stage"] == "qualify"
    assert dt.datetime.fromisoformat(event["after"]["dueAt"]) == due_at
    assert dt.datetime.fromisoformat(event["after"]["enteredAt"]) == clock.now

    after = (await gql.execute(INSTANCE, {"id": str(iid)}))["instance"]
    assert after["version"] == before["version"]
    assert [v["overdueAt"] is not None for v in after["history"]] == [True]
    assert [e["kind"] for e in after["events"]][-1] == "STAGE_OVERDUE"
    # The instance's version did not move: a caller holding it changes it as it expected.
    moved = await instances.advance_stage(
        rt, instance_id=iid, expected_version=before["version"], by="t"
    )
    assert moved.event.kind.value == "STAGE_ADVANCED"


async def test_a_stay_that_ends_before_its_due_is_not_told(
    gql: Any, app: Starlette, clock: Clock
) -> None:
    rt = app.state.runtime
    _, iid = await _opportunity(rt, "Fabrikam")
    clock.now += DAY
    await _move(rt, "advance_stage", iid)
    develop_due = dt.datetime.fromisoformat(
        (await gql.execute(INSTANCE, {"id": str(iid)}))["instance"]["dueAt"]
    )
    # Qualify's deadline passed long ago, but its stay ended first.
    assert await overdue.mark_overdue(rt, now=develop_due - dt.timedelta(seconds=1)) == 0
    assert await _overdue_events(gql, iid) == []
    assert await overdue.mark_overdue(rt, now=develop_due) == 1
    assert [e["toStage"] for e in await _overdue_events(gql, iid)] == ["develop"]


async def test_each_new_stay_in_a_stage_is_told_on_its_own(
    gql: Any, app: Starlette, clock: Clock
) -> None:
    rt = app.state.runtime
    _, iid = await _opportunity(rt, "Northwind")
    kept = (await gql.execute(INSTANCE, {"id": str(iid)}))["instance"]

    async def scan_after(days: int) -> int:
        return await overdue.mark_overdue(rt, now=clock.now + days * DAY)

    assert await scan_after(8) == 1  # qualify, first stay
    clock.now += 9 * DAY
    await _move(rt, "advance_stage", iid)
    assert await scan_after(15) == 1  # develop
    clock.now += 16 * DAY
    await _move(rt, "move_to_stage", iid, stage="qualify")
    assert await scan_after(8) == 1  # qualify again
    clock.now += 9 * DAY
    await _move(rt, "abandon_instance", iid)
    assert await scan_after(30) == 0  # an abandoned instance has no open stay
    clock.now += DAY
    await _move(rt, "reactivate_instance", iid)
    assert await scan_after(8) == 1  # reactivated in qualify: a new stay
    assert await scan_after(100) == 0

    told = await _overdue_events(gql, iid)
    assert [e["toStage"] for e in told] == ["qualify", "develop", "qualify", "qualify"]
    shown = (await gql.execute(INSTANCE, {"id": str(iid)}))["instance"]
    assert [v["stage"]["key"] for v in shown["history"]] == [
        "qualify",
        "develop",
        "qualify",
        "qualify",
    ]
    assert all(v["overdueAt"] is not None for v in shown["history"])
    assert len({v["dueAt"] for v in shown["history"]}) == 4
    # Five moves, and the steps: the four overdue events moved no version.
    assert shown["version"] == kept["version"] + 4


async def test_overdue_instances_and_records_are_filtered(
    gql: Any, app: Starlette, clock: Clock
) -> None:
    rt = app.state.runtime
    late_record, late = await _opportunity(rt, "Late")
    clock.now = NOW
    fresh_record, fresh = await _opportunity(rt, "Fresh")
    clock.now = NOW - 60 * DAY
    done_record, done = await _opportunity(rt, "Abandoned")
    await _move(rt, "abandon_instance", done)
    bare = await records.create_record(
        rt, entity="opportunity", name="No process", owner="t", values={}, by="t"
    )
    assert bare.record is not None

    def ids(page: dict[str, Any]) -> set[str]:
        return {edge["node"]["id"] for edge in page["edges"]}

    late_page = (await gql.execute(INSTANCES, {"overdue": True}))["instances"]
    assert ids(late_page) == {str(late)}
    assert late_page["totalCount"] == 1
    assert [e["node"]["overdue"] for e in late_page["edges"]] == [True]
    others = (await gql.execute(INSTANCES, {"overdue": False}))["instances"]
    assert ids(others) == {str(fresh), str(done)}
    assert others["totalCount"] == 2
    by_id = {e["node"]["id"]: e["node"] for e in others["edges"]}
    assert by_id[str(done)]["dueAt"] is None and by_id[str(done)]["overdue"] is False
    assert by_id[str(fresh)]["dueAt"] is not None and by_id[str(fresh)]["overdue"] is False
    assert (await gql.execute(INSTANCES, {}))["instances"]["totalCount"] == 3

    late_records = (await gql.execute(RECORDS, {"overdue": True}))["records"]
    assert ids(late_records) == {str(late_record)}
    assert late_records["totalCount"] == 1
    on_time = (await gql.execute(RECORDS, {"overdue": False}))["records"]
    assert ids(on_time) == {str(fresh_record), str(done_record), str(bare.record.id)}
    assert on_time["totalCount"] == 3
    active_on_time = await gql.execute(RECORDS, {"overdue": False, "status": "ACTIVE"})
    assert ids(active_on_time["records"]) == {str(fresh_record)}
    assert active_on_time["records"]["totalCount"] == 1


async def test_the_overdue_event_reaches_stage_subscribers(
    gql: Any, app: Starlette, clock: Clock
) -> None:
    rt = app.state.runtime
    _, iid = await _opportunity(rt, "Tailspin")
    token = await gql.token("demo")
    async with Socket(gql.app, token) as socket:
        await socket.subscribe("1", STAGE_CHANGED, id=str(iid))
        assert await overdue.mark_overdue(rt, now=NOW) == 1
        message = await socket.receive()
    assert message["type"] == "next", message
    event = message["payload"]["data"]["stageChanged"]
    assert (event["kind"], event["toStage"]) == ("STAGE_OVERDUE", "qualify")
    assert event["instance"] == {"id": str(iid), "overdue": True}


async def test_a_scan_marks_many_stays_in_batches(gql: Any, app: Starlette, clock: Clock) -> None:
    rt = app.state.runtime
    started = [(await _opportunity(rt, f"Deal {n}", ready=False))[1] for n in range(7)]
    assert await overdue.mark_overdue(rt, now=NOW, batch=3) == 7
    told = await _overdue_events(gql)
    assert sorted(int(e["instanceId"]) for e in told) == sorted(started)
    assert [e["seq"] for e in told] == sorted(e["seq"] for e in told)


@pytest.mark.postgres
async def test_concurrent_scans_and_moves_tell_each_open_stay_exactly_once(
    app: Starlette, clock: Clock
) -> None:
    """Six scans on their own connections and a hundred moves at once, over 200 stays past
    their due: each stay open when a scan reached it is told once; a stay that a move ended
    first is told never, and a told stay's event comes before the move's."""
    rt = app.state.runtime
    ids = [(await _opportunity(rt, f"Deal {n}"))[1] for n in range(200)]
    movers = ids[::2]
    clock.now = NOW  # the moves begin Develop stays due in the future
    results = await asyncio.gather(
        *(overdue.mark_overdue(rt, now=NOW, batch=7) for _ in range(6)),
        *(
            instances.advance_stage(rt, instance_id=iid, expected_version=None, by="t")
            for iid in movers
        ),
    )
    marked = sum(r for r in results if isinstance(r, int))
    # And once more, after everything: nothing left to tell.
    assert await overdue.mark_overdue(rt, now=NOW) == 0

    conn = get_connection("default")
    events = await conn.execute_query_dict(
        "SELECT seq, kind, instance_id, to_stage FROM event"
        " WHERE kind IN ('STAGE_OVERDUE', 'STAGE_ADVANCED') ORDER BY seq"
    )
    told = [e for e in events if e["kind"] == "STAGE_OVERDUE"]
    advanced = {e["instance_id"]: e["seq"] for e in events if e["kind"] == "STAGE_ADVANCED"}
    assert len(told) == marked
    assert len({e["instance_id"] for e in told}) == len(told)  # one per stay: one per instance
    assert {e["to_stage"] for e in told} == {"qualify"}
    assert set(advanced) == set(movers)
    told_ids = {e["instance_id"] for e in told}
    assert set(ids) - set(movers) <= told_ids  # every stay nobody moved
    for e in told:
        if e["instance_id"] in advanced:
            assert e["seq"] < advanced[e["instance_id"]]
    stays = await conn.execute_query_dict(
        "SELECT instance_id, exited_at, overdue_at FROM stage_visit WHERE stage = 'qualify'"
    )
    assert {s["instance_id"] for s in stays if s["overdue_at"] is not None} == told_ids
    assert all(s["exited_at"] is not None for s in stays if s["instance_id"] in advanced)
    print(f"{len(told)} told, {len(told_ids & set(movers))} of them moved on afterwards")


async def test_a_migrated_stay_is_due_as_the_new_version_says(
    gql: Any, app: Starlette, clock: Clock
) -> None:
    rt = app.state.runtime
    _, iid = await _opportunity(rt, "Wingtip")
    pid = (await gql.execute("{ processes { id key } }"))["processes"]
    pid = next(p["id"] for p in pid if p["key"] == "opportunity-sales")
    design = await gql.execute(
        "query($id: ID!) { design(processId: $id) { definition } }", {"id": pid}
    )
    definition = design["design"]["definition"]
    definition["stages"][0]["due"] = "PT1H"
    del definition["stages"][0]["due_business_days"]
    await gql.execute(UPDATE, {"input": {"processId": pid, "definition": definition}})
    await gql.execute(PUBLISH, {"input": {"processId": pid}})
    moved = await gql.execute(
        MIGRATE,
        {"input": {"processId": pid, "fromVersion": 1, "toVersion": 2, "dryRun": False}},
    )
    assert moved["migrateInstances"]["__typename"] == "InstancesMigrated", moved

    shown = (await gql.execute(INSTANCE, {"id": str(iid)}))["instance"]
    due_at = clock.now + dt.timedelta(hours=1)  # counted from when the stay began
    assert dt.datetime.fromisoformat(shown["dueAt"]) == due_at
    assert [dt.datetime.fromisoformat(v["dueAt"]) for v in shown["history"]] == [due_at]
    assert await overdue.mark_overdue(rt, now=due_at) == 1
