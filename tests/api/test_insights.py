"""Insights over a hand-built history whose every figure is known.

Eight opportunities run through Opportunity Sales (Qualify 10 %, Develop 30 %, Propose
60 %, Close 90 %) on a clock the test sets, all through the services' own moves:

    A ana  start d0  advance d2, d5, d6  finish d7 won
    B ana  start d1  advance d2  back to Qualify d4  advance d5, d9, d11  finish d14 lost "Price"
    C ben  start d2  abandon d6 (in Qualify)
    D ben  start d3  advance d5  abandon d6 (in Develop)
    E ben  start d4  advance d7                      (active in Develop)
    F ana  start d5  advance d6, d7, d8  finish d10 lost "Price"
    G ana  start d6  advance d8, d10                 (active in Propose)
    H ben  start d30                                 (active in Qualify)

d0 is Monday 2026-09-07, 00:00 UTC. Every expected figure below is worked out by hand
from this table (see the comments next to them).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from starlette.applications import Starlette
from users import make_user

from server.domain.access import BaseRole
from server.services import accounts, instances, records

D0 = dt.datetime(2026, 9, 7, tzinfo=dt.UTC)
DAY = 86400.0

STEPS = {
    "qualify": {"decision_maker_identified": True},
    "develop": {"customer_need": "A fleet of laptops"},
    "propose": {"develop_proposal": True, "present_proposal": True},
    "close": {"present_final_proposal": True},
}
PLANS: dict[str, tuple[str, str, str | None, list[tuple[int, Any]]]] = {
    # name: (owner, amount, close date, [(day, move)])
    "A": ("ana", "1000.00", None, [(0, "start"), (2, "advance"), (5, "advance"),
                                   (6, "advance"), (7, ("finish", "won", None))]),
    "B": ("ana", "2500.50", None, [(1, "start"), (2, "advance"), (4, ("back", "qualify")),
                                   (5, "advance"), (9, "advance"), (11, "advance"),
                                   (14, ("finish", "lost", "Price"))]),
    "C": ("ben", "300.00", None, [(2, "start"), (6, "abandon")]),
    "D": ("ben", "777.77", None, [(3, "start"), (5, "advance"), (6, "abandon")]),
    "E": ("ben", "1234.56", "2026-10-15", [(4, "start"), (7, "advance")]),
    "F": ("ana", "99.99", None, [(5, "start"), (6, "advance"), (7, "advance"), (8, "advance"),
                                 (10, ("finish", "lost", "Price"))]),
    "G": ("ana", "10000.01", "2026-11-30", [(6, "start"), (8, "advance"), (10, "advance")]),
    "H": ("ben", "5.55", None, [(30, "start")]),
}  # fmt: skip

INSIGHTS = """query($input: InsightsInput!) { insights(input: $input) {
  processId
  funnel { stage name reached advanced finished abandoned active conversion dropOff }
  outcomes { ended finished abandoned outcomes { outcome label count rate }
             reasons { outcome reason count } }
  timeInStage { stage stays { count p50Seconds p90Seconds meanSeconds }
                perInstance { count p50Seconds p90Seconds meanSeconds } }
  cycleTime { count p50Seconds p90Seconds meanSeconds }
  stuck { recordName owner stage stageName overdue instanceId recordId }
  pipeline { amountField closeDateField currency count amount weighted
             byStage { stage probability count amount weighted }
             byMonth { month count amount weighted } }
} }"""
THROUGHPUT = """query($input: InsightsInput!) { insights(input: $input) {
  throughput { start started advanced finished abandoned } } }"""
FUNNEL = """query($input: InsightsInput!) { insights(input: $input) {
  funnel { stage reached } outcomes { ended } } }"""


class Clock:
    def __init__(self) -> None:
        self.now = D0

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture
async def history(app: Starlette, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The table above, played through the services; the process's and instances' ids."""
    rt = app.state.runtime
    clock = Clock()
    monkeypatch.setattr(instances, "utcnow", clock)
    process_id = next(
        p.id for p in await rt.catalog.list_processes() if p.key == "opportunity-sales"
    )
    ids: dict[str, int] = {}
    moves = sorted((day, name, move) for name, plan in PLANS.items() for day, move in plan[3])
    for day, name, move in moves:
        clock.now = D0 + dt.timedelta(days=day)
        owner, amount, close, _ = PLANS[name]
        if move == "start":
            created = await records.create_record(
                rt, entity="opportunity", name=f"Deal {name}", owner=owner, values={}, by=owner
            )
            assert created.record is not None and created.record.id is not None
            started = await instances.start_instance(
                rt, record_id=created.record.id, process_id=process_id, by=owner
            )
            assert started.instance is not None and started.instance.id is not None
            ids[name] = started.instance.id
            values = {
                "estimated_budget": amount,
                **({"estimated_close_date": close} if close else {}),
            }
            await _fill(rt, ids[name], values)
            continue
        iid = ids[name]
        if move == "advance":
            current = (await rt.catalog.process(process_id)).stage(await _stage(rt, iid))
            await _fill(rt, iid, STEPS[current.key])
            await instances.advance_stage(rt, instance_id=iid, expected_version=None, by=owner)
        elif move == "abandon":
            await instances.abandon_instance(rt, instance_id=iid, expected_version=None, by=owner)
        elif move[0] == "back":
            await instances.move_to_stage(
                rt, instance_id=iid, stage=move[1], expected_version=None, by=owner
            )
        else:
            _, outcome, reason = move
            await _fill(rt, iid, STEPS["close"])
            await instances.finish_instance(
                rt, instance_id=iid, outcome=outcome, reason=reason, expected_version=None, by=owner
            )
    return {"process": str(process_id), "instances": ids}


async def _stage(rt: Any, iid: int) -> str:
    from server.services import queries

    return (await queries.get_instance(iid, visible=None)).active_stage


async def _fill(rt: Any, iid: int, values: dict[str, Any]) -> None:
    for field, value in values.items():
        await instances.complete_step(
            rt, instance_id=iid, field=field, value=value, expected_version=None, by="t"
        )


def _days(n: float) -> float:
    return round(n * DAY, 3)


def _durations(count: int, p50: float, p90: float, mean: float) -> dict[str, Any]:
    return {
        "count": count,
        "p50Seconds": _days(p50),
        "p90Seconds": _days(p90),
        "meanSeconds": pytest.approx(mean * DAY, abs=0.001),
    }


async def test_every_figure_of_the_hand_built_history(gql: Any, history: dict[str, Any]) -> None:
    data = (await gql.execute(INSIGHTS, {"input": {"processId": history["process"]}}))["insights"]
    assert data["processId"] == history["process"]

    funnel = {s["stage"]: s for s in data["funnel"]}
    assert [s["stage"] for s in data["funnel"]] == ["qualify", "develop", "propose", "close"]
    assert [s["name"] for s in data["funnel"]] == ["Qualify", "Develop", "Propose", "Close"]
    # Qualify: all 8 reached it; A B D E F G moved on (B twice, counted once); C abandoned
    # in it; H is in it.
    assert funnel["qualify"] | {"conversion": None, "dropOff": None} == {
        "stage": "qualify", "name": "Qualify", "reached": 8, "advanced": 6, "finished": 0,
        "abandoned": 1, "active": 1, "conversion": None, "dropOff": None,
    }  # fmt: skip
    assert funnel["qualify"]["conversion"] == pytest.approx(6 / 8)
    assert funnel["qualify"]["dropOff"] == pytest.approx(1 / 8)
    # Develop: A B D E F G reached it; B's first stay ended in a move back, its second
    # moved on: A B F G moved on; D abandoned in it; E is in it.
    assert [funnel["develop"][k] for k in ("reached", "advanced", "abandoned", "active")] == [
        6, 4, 1, 1,
    ]  # fmt: skip
    assert funnel["develop"]["conversion"] == pytest.approx(4 / 6)
    assert funnel["develop"]["dropOff"] == pytest.approx(1 / 6)
    assert [funnel["propose"][k] for k in ("reached", "advanced", "active")] == [4, 3, 1]
    assert funnel["propose"]["dropOff"] == 0
    # Close is last: nobody moves on from it, A B F finished there.
    assert [funnel["close"][k] for k in ("reached", "advanced", "finished")] == [3, 0, 3]
    assert funnel["close"]["conversion"] == 1

    outcomes = data["outcomes"]
    assert (outcomes["ended"], outcomes["finished"], outcomes["abandoned"]) == (5, 3, 2)
    assert outcomes["outcomes"] == [
        {"outcome": "won", "label": "Won", "count": 1, "rate": pytest.approx(1 / 3)},
        {"outcome": "lost", "label": "Lost", "count": 2, "rate": pytest.approx(2 / 3)},
    ]
    assert outcomes["reasons"] == [{"outcome": "lost", "reason": "Price", "count": 2}]

    times = {s["stage"]: s for s in data["timeInStage"]}
    # Qualify's ended stays, in days: A2 B1 B1 C4 D2 E3 F1 G2 (H's is open): sorted
    # 1 1 1 2 2 2 3 4; p90 at position 6.3: 3 + 0.3 x (4 - 3).
    assert times["qualify"]["stays"] == _durations(8, 2, 3.3, 16 / 8)
    # Per instance B's two stays count as 2: 1 2 2 2 2 3 4; p90 at 5.4: 3 + 0.4.
    assert times["qualify"]["perInstance"] == _durations(7, 2, 3.4, 16 / 7)
    # Develop: A3 B2 B4 D1 F1 G2 -> 1 1 2 2 3 4; per instance A3 B6 D1 F1 G2 -> 1 1 2 3 6.
    assert times["develop"]["stays"] == _durations(6, 2, 3.5, 13 / 6)
    assert times["develop"]["perInstance"] == _durations(5, 2, 4.8, 13 / 5)
    assert times["propose"]["stays"] == _durations(3, 1, 1.8, 4 / 3)  # A1 B2 F1
    assert times["close"]["stays"] == _durations(3, 2, 2.8, 2)  # A1 B3 F2
    # A 7 days, B 13, F 5: sorted 5 7 13; p90 at 1.8: 7 + 0.8 x 6.
    assert data["cycleTime"] == _durations(3, 7, 11.8, 25 / 3)

    ids = history["instances"]
    assert [(s["recordName"], s["stage"], s["stageName"], s["overdue"]) for s in data["stuck"]] == [
        ("Deal E", "develop", "Develop", True),
        ("Deal G", "propose", "Propose", True),
        ("Deal H", "qualify", "Qualify", True),
    ]
    assert [s["instanceId"] for s in data["stuck"]] == [str(ids[n]) for n in "EGH"]

    pipeline = data["pipeline"]
    assert (pipeline["amountField"], pipeline["closeDateField"]) == (
        "estimated_budget",
        "estimated_close_date",
    )
    # Active: E 1234.56 in Develop (30 %), G 10000.01 in Propose (60 %), H 5.55 in Qualify
    # (10 %): weighted 0.555 + 370.368 + 6000.006 = 6370.929.
    assert (pipeline["count"], pipeline["amount"], pipeline["weighted"]) == (
        3,
        "11240.12",
        "6370.93",
    )
    assert pipeline["byStage"] == [
        {"stage": "qualify", "probability": 10, "count": 1, "amount": "5.55", "weighted": "0.56"},
        {"stage": "develop", "probability": 30, "count": 1, "amount": "1234.56",
         "weighted": "370.37"},
        {"stage": "propose", "probability": 60, "count": 1, "amount": "10000.01",
         "weighted": "6000.01"},
        {"stage": "close", "probability": 90, "count": 0, "amount": "0.00", "weighted": "0.00"},
    ]  # fmt: skip
    assert pipeline["byMonth"] == [
        {"month": "2026-10", "count": 1, "amount": "1234.56", "weighted": "370.37"},
        {"month": "2026-11", "count": 1, "amount": "10000.01", "weighted": "6000.01"},
        {"month": None, "count": 1, "amount": "5.55", "weighted": "0.56"},
    ]
    assert sum(Decimal(m["amount"]) for m in pipeline["byMonth"]) == Decimal(pipeline["amount"])


async def test_throughput_counts_each_week_of_the_range(gql: Any, history: dict[str, Any]) -> None:
    end = D0 + dt.timedelta(weeks=5)
    data = await gql.execute(
        THROUGHPUT,
        {"input": {"processId": history["process"], "from": D0.isoformat(), "to": end.isoformat()}},
    )
    weeks = [
        (w["start"], w["started"], w["advanced"], w["finished"], w["abandoned"])
        for w in data["insights"]["throughput"]
    ]
    assert weeks == [
        # d0-d6: A..G start; forward moves A d2 d5 d6, B d2 d5, D d5, F d6; C and D abandoned.
        ("2026-09-07", 7, 7, 0, 2),
        # d7-d13: B d9 d11, E d7, F d7 d8, G d8 d10; A (d7) and F (d10) finished.
        ("2026-09-14", 0, 7, 2, 0),
        ("2026-09-21", 0, 0, 1, 0),  # B finished d14
        ("2026-09-28", 0, 0, 0, 0),
        ("2026-10-05", 1, 0, 0, 0),  # H started d30
    ]


@pytest.mark.parametrize(
    ("filters", "qualify", "ended"),
    [
        ({}, 8, 5),
        ({"owner": "ana"}, 4, 3),  # A B F G; A B F ended
        ({"owner": "nobody"}, 0, 0),
        ({"from": "2026-09-10T00:00:00Z", "to": "2026-09-14T00:00:00Z"}, 4, 2),  # D E F G; C D
        ({"from": "2026-10-01T00:00:00+02:00"}, 1, 0),  # H
        ({"processVersion": 1}, 8, 5),
        ({"entity": "opportunity"}, 8, 5),
        ({"entity": "case"}, 0, 0),
    ],
)
async def test_filters_narrow_what_is_counted(
    gql: Any, history: dict[str, Any], filters: dict[str, Any], qualify: int, ended: int
) -> None:
    data = await gql.execute(FUNNEL, {"input": {"processId": history["process"], **filters}})
    funnel = {s["stage"]: s["reached"] for s in data["insights"]["funnel"]}
    assert (funnel["qualify"], data["insights"]["outcomes"]["ended"]) == (qualify, ended)


async def test_another_process_on_the_same_entity_is_not_counted(
    gql: Any, app: Starlette, history: dict[str, Any]
) -> None:
    rt = app.state.runtime
    other = next(p.id for p in await rt.catalog.list_processes() if p.key == "enterprise-deal")
    record = await records.create_record(
        rt, entity="opportunity", name="Elsewhere", owner="ana", values={}, by="ana"
    )
    assert record.record is not None and record.record.id is not None
    await instances.start_instance(rt, record_id=record.record.id, process_id=other, by="ana")
    data = await gql.execute(FUNNEL, {"input": {"processId": history["process"]}})
    assert {s["stage"]: s["reached"] for s in data["insights"]["funnel"]}["qualify"] == 8
    elsewhere = await gql.execute(FUNNEL, {"input": {"processId": str(other)}})
    assert {s["stage"]: s["reached"] for s in elsewhere["insights"]["funnel"]}["qualify"] == 1


async def test_figures_are_for_those_who_may_run_the_process(
    gql: Any, app: Starlette, history: dict[str, Any]
) -> None:
    rt = app.state.runtime
    await accounts.set_process_roles(
        rt, process_id=int(history["process"]), roles=["sales"], by="root"
    )
    _, gql.tokens["seller"] = await make_user("seller", BaseRole.USER, frozenset({"sales"}))
    _, gql.tokens["outsider"] = await make_user("outsider", BaseRole.USER)
    _, gql.tokens["designer"] = await make_user("designer", BaseRole.DESIGNER)
    ask = {"input": {"processId": history["process"]}}
    admin = await gql.execute(INSIGHTS, ask)
    seller = await gql.execute(INSIGHTS, ask, user="seller")
    assert seller == admin
    assert seller["insights"]["funnel"][0]["reached"] == 8
    for user in ("outsider", "designer"):
        assert await gql.execute(INSIGHTS, ask, user=user) == {"insights": None}
    missing = await gql.execute(INSIGHTS, {"input": {"processId": "999999"}})
    assert missing == {"insights": None}
    anonymous = (await gql.post(INSIGHTS, ask, user=None)).json()
    assert anonymous["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


@pytest.mark.parametrize(
    ("start", "end", "weeks"),
    [
        ("9999-12-20T00:00:00Z", "9999-12-31T23:59:59Z", ["9999-12-20", "9999-12-27"]),
        ("0001-01-02T00:00:00Z", "0001-01-09T00:00:00Z", ["0001-01-01", "0001-01-08"]),
    ],
)
async def test_the_ends_of_the_calendar_are_weeks_like_others(
    gql: Any, history: dict[str, Any], start: str, end: str, weeks: list[str]
) -> None:
    data = await gql.execute(
        THROUGHPUT, {"input": {"processId": history["process"], "from": start, "to": end}}
    )
    assert [(w["start"], w["started"]) for w in data["insights"]["throughput"]] == [
        (week, 0) for week in weeks
    ]


@pytest.mark.parametrize(
    ("filters", "field"),
    [
        ({"from": "2026-09-10T00:00:00Z", "to": "2026-09-10T00:00:00Z"}, "to"),
        ({"from": "2026-09-10T00:00:00Z", "to": "2026-09-01T00:00:00Z"}, "to"),
        ({"from": "2026-09-10T00:00:00"}, "from"),
        ({"processVersion": 2}, "processVersion"),
        ({"processVersion": 0}, "processVersion"),
        ({"owner": "x" * 201}, "owner"),
        ({"owner": "a\u0000b"}, "owner"),
        ({"from": "1990-01-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"}, "from"),
    ],
)
async def test_bad_filters_get_a_typed_answer(
    gql: Any, history: dict[str, Any], filters: dict[str, Any], field: str
) -> None:
    query = """query($input: InsightsInput!) { insights(input: $input) {
      funnel { stage } throughput { start } } }"""
    response = await gql.post(query, {"input": {"processId": history["process"], **filters}})
    payload = response.json()
    assert response.status_code == 200
    assert payload["errors"], payload
    assert field in payload["errors"][0]["message"]


async def test_a_process_without_measures_has_an_empty_pipeline(gql: Any, app: Starlette) -> None:
    rt = app.state.runtime
    case = next(p.id for p in await rt.catalog.list_processes() if p.key == "phone-to-case")
    record = await records.create_record(
        rt, entity="case", name="Printer", owner="ana", values={}, by="ana"
    )
    assert record.record is not None and record.record.id is not None
    await instances.start_instance(rt, record_id=record.record.id, process_id=case, by="ana")
    data = await gql.execute(
        """query($input: InsightsInput!) { insights(input: $input) {
          pipeline { amountField count amount weighted byStage { stage count amount } } } }""",
        {"input": {"processId": str(case)}},
    )
    pipeline = data["insights"]["pipeline"]
    assert (pipeline["amountField"], pipeline["count"], pipeline["amount"]) == (None, 1, "0.00")
    assert pipeline["byStage"][0] == {"stage": "identify", "count": 1, "amount": "0.00"}


async def test_the_owner_filter_is_offered_the_owners_of_the_entitys_records(
    gql: Any, app: Starlette, history: dict[str, Any]
) -> None:
    rt = app.state.runtime
    for name, owner, entity in (
        ("Zed's deal", "zed", "opportunity"),
        ("Another of Ana's", "ana", "opportunity"),
        ("Not an opportunity", "aaron", "case"),
    ):
        await records.create_record(rt, entity=entity, name=name, owner=owner, values={}, by=owner)
    query = "query($input: InsightsInput!) { insights(input: $input) { owners } }"
    # The owners of every opportunity, whatever the filters: "zed" runs no instance.
    data = await gql.execute(
        query, {"input": {"processId": history["process"], "owner": "ben", "processVersion": 1}}
    )
    assert data["insights"]["owners"] == ["ana", "ben", "zed"]
