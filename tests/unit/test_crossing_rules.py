"""Processes across entities: their file form and rules, and the engine's moves, gates,
branches and crossings over the records of several entities."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from server.domain import instance as rules
from server.domain.definition import dump_process, load_process
from server.domain.errors import InvalidDefinition, Problem, StageGateBlocked
from server.domain.fields import Entity, Field, FieldType
from server.domain.process import Process
from server.domain.progress import StageState, progress
from server.domain.record import Record

T0 = dt.datetime(2026, 6, 1, 9, tzinfo=dt.UTC)

LEAD = Entity(
    "lead",
    "Lead",
    (
        Field("company", "Company", FieldType.TEXT),
        Field("budget", "Budget", FieldType.MONEY),
        Field("size", "Size", FieldType.CHOICE, ("Small", "Large")),
        Field("qualified", "Qualified", FieldType.BOOLEAN),
    ),
)
DEAL = Entity(
    "deal",
    "Deal",
    (
        Field("lead", "Lead", FieldType.LOOKUP, target="lead"),
        Field("company", "Company", FieldType.TEXT),
        Field("amount", "Amount", FieldType.MONEY, minimum=None),
        Field(
            "small_amount",
            "Small amount",
            FieldType.MONEY,
            maximum=__import__("decimal").Decimal(100),
        ),
        Field("size", "Size", FieldType.CHOICE, ("Small", "Medium", "Large")),
        Field("tier", "Tier", FieldType.CHOICE, ("Small",)),
        Field("need", "Need", FieldType.TEXT),
        Field("count", "Count", FieldType.NUMBER),
    ),
)
ORDER = Entity(
    "order",
    "Order",
    (
        Field("deal", "Deal", FieldType.LOOKUP, target="deal"),
        Field("wrong", "Wrong", FieldType.LOOKUP, target="lead"),
        Field("note", "Note", FieldType.TEXT),
    ),
)
ENTITIES = {e.key: e for e in (LEAD, DEAL, ORDER)}


def stage(key: str, entity: str | None = None, **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"key": key, "name": key.title(), "category": "QUALIFY", **extra}
    if entity is not None:
        out["entity"] = entity
    return out


def chain(*stages: dict[str, Any], crossings: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "key": "lead-to-deal",
        "name": "Lead to deal",
        "entity": "lead",
        "crossings": crossings
        if crossings is not None
        else [
            {
                "entity": "deal",
                "lookup": "lead",
                "map": [
                    {"field": "company", "from": "lead.company"},
                    {"field": "amount", "from": "lead.budget"},
                    {"field": "small_amount", "from": "lead.budget"},
                    {"field": "size", "from": "lead.size"},
                ],
            }
        ],
        "stages": list(stages)
        if stages
        else [
            stage("qualify", steps=[{"field": "qualified", "required": True}], next="develop"),
            stage(
                "develop",
                "deal",
                steps=[{"field": "need", "required": True}],
                next="propose",
                branches=[
                    {
                        "to": "review",
                        "when": {"field": "lead.budget", "op": "gte", "value": "50000"},
                    }
                ],
            ),
            stage("review", "deal", next="propose"),
            stage("propose", "deal"),
        ],
    }


def problems(data: dict[str, Any]) -> list[Problem]:
    with pytest.raises(InvalidDefinition) as exc:
        load_process(data, ENTITIES)
    return list(exc.value.problems)


def loaded() -> Process:
    process = load_process(chain(), ENTITIES)
    from dataclasses import replace

    return replace(process, id=7)


def test_a_process_across_entities_reads_and_writes_back_the_same() -> None:
    process = loaded()
    assert [e.key for e in process.entities] == ["lead", "deal"]
    assert [process.entity_of(s).key for s in process.stages] == ["lead", "deal", "deal", "deal"]
    again = load_process(dump_process(process), ENTITIES)
    assert dump_process(again) == dump_process(process)
    assert dump_process(process)["crossings"] == chain()["crossings"]
    assert "entity" not in dump_process(process)["stages"][0]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        # A stage of the first entity after one of the next: out of order.
        (
            lambda d: (
                d["stages"][1].update(next="qualify2")
                or d["stages"].append(stage("qualify2", "lead"))
            ),
            Problem(
                "stages[1].next",
                "entity out of order: develop works on deal and qualify2 on lead; a stage "
                "leads to a stage of its own entity or of the next one",
            ),
        ),
        (
            lambda d: d["crossings"][0]["map"].append({"field": "count", "from": "lead.company"}),
            Problem(
                "crossings[0].map[4].from",
                "lead.company is a text field and deal.count a number field; a map joins "
                "fields of one type",
            ),
        ),
        (
            lambda d: d["crossings"][0]["map"].append({"field": "tier", "from": "lead.size"}),
            Problem(
                "crossings[0].map[4].from", "deal.tier has no choice 'Large' that lead.size has"
            ),
        ),
        (
            lambda d: d["crossings"][0].update(lookup="company"),
            Problem(
                "crossings[0].lookup",
                "no relation: deal.company must be a lookup to lead, the entity before it",
            ),
        ),
        (
            lambda d: d["crossings"][0].update(lookup="nothing"),
            Problem("crossings[0].lookup", "unknown field 'nothing' of deal"),
        ),
        (
            lambda d: d["crossings"][0]["map"].append({"field": "need", "from": "order.note"}),
            Problem(
                "crossings[0].map[4].from",
                "'order' is not an entity before deal; values come from lead",
            ),
        ),
        (
            lambda d: d["crossings"][0]["map"].append({"field": "lead", "from": "lead.company"}),
            Problem("crossings[0].map[4].field", "field 'lead' is filled twice"),
        ),
        (
            lambda d: d["stages"][2].update(entity="order"),
            Problem(
                "stages[2].entity",
                "unknown entity 'order': a process runs on its entity and its crossings'",
            ),
        ),
        (
            lambda d: d["stages"][0].update(entity="deal"),
            Problem(
                "stages[0].entity", "the first stage works on lead, the process's first entity"
            ),
        ),
        (
            lambda d: d["crossings"].append({"entity": "order", "lookup": "deal"}),
            Problem("crossings[1].entity", "no stage works on order"),
        ),
        (
            lambda d: d["crossings"].append({"entity": "lead", "lookup": "lead"}),
            Problem(
                "crossings[1].entity",
                "entity 'lead' is on the process already; each entity is crossed once",
            ),
        ),
        (
            lambda d: d["stages"][0].update(
                branches=[{"to": "develop", "when": {"field": "deal.need", "op": "is_set"}}]
            ),
            Problem("stages[0].branches[0].when", "unknown field 'deal.need' of lead"),
        ),
        (
            lambda d: d["stages"][1]["steps"].append({"field": "qualified"}),
            Problem("stages[1].steps[1].field", "unknown field 'qualified' of deal"),
        ),
    ],
)
def test_each_broken_rule_is_one_clear_problem(change: Any, expected: Problem) -> None:
    data = chain()
    change(data)
    assert expected in problems(data), problems(data)


def test_the_order_entity_needs_a_lookup_to_the_one_before_it() -> None:
    data = chain()
    data["crossings"].append({"entity": "order", "lookup": "wrong"})
    data["stages"][3]["next"] = "ship"
    data["stages"].append(stage("ship", "order"))
    assert problems(data) == [
        Problem(
            "crossings[1].lookup",
            "no relation: order.wrong must be a lookup to deal, the entity before it",
        )
    ]
    data["crossings"][1]["lookup"] = "deal"
    assert [e.key for e in load_process(data, ENTITIES).entities] == ["lead", "deal", "order"]


def test_at_most_five_entities() -> None:
    many = {
        f"e{n}": Entity(
            f"e{n}", f"E{n}", (Field("up", "Up", FieldType.LOOKUP, target=f"e{n - 1}"),)
        )
        for n in range(1, 6)
    }
    entities = {**ENTITIES, "e0": Entity("e0", "E0", ()), **many}
    data = {
        "key": "long",
        "name": "Long",
        "entity": "e0",
        "crossings": [{"entity": f"e{n}", "lookup": "up"} for n in range(1, 6)],
        "stages": [stage(f"s{n}", f"e{n}" if n else None, next=f"s{n + 1}") for n in range(5)]
        + [stage("s5", "e5")],
    }
    with pytest.raises(InvalidDefinition) as exc:
        load_process(data, entities)
    assert [p.message for p in exc.value.problems] == ["at most 5 entities in a process, got 6"]
    data["crossings"].pop()
    data["stages"][-2].pop("next")
    data["stages"].pop()
    assert len(load_process(data, entities).entities) == 5


def _lead(**values: Any) -> Record:
    return Record(1, "lead", "Acme lead", "ann", values, 1, T0, T0)


def test_the_crossed_record_carries_what_its_fields_accept() -> None:
    process = loaded()
    lead = _lead(company="Acme", budget="60000.00", size="Large")
    made, event = rules.crossed_record(
        process, process.crossings[0], {"lead": lead}, now=T0, by="bob"
    )
    assert (made.entity, made.name, made.owner) == ("deal", "Acme lead", "ann")
    # small_amount's maximum refuses 60000: left unset rather than blocking the crossing.
    assert made.values == {"company": "Acme", "amount": "60000.00", "size": "Large", "lead": 1}
    assert event.actor == "bob" and event.after is not None
    assert event.after["values"] == made.values


def test_gates_and_branches_read_the_records_of_their_own_entities() -> None:
    process = loaded()
    lead = _lead(budget="60000.00")
    instance, _ = rules.start(process, lead, now=T0, by="ann")
    instance = rules.Instance(**{**instance.__dict__, "id": 3})
    with pytest.raises(StageGateBlocked) as blocked:
        rules.advance(instance, process, lead.values, now=T0, by="ann", path={"lead": lead.values})
    assert blocked.value.entity == LEAD
    moved, _ = rules.advance(
        instance, process, {"qualified": True}, now=T0, by="ann", path={"lead": {"qualified": True}}
    )
    assert moved.active_stage == "develop"
    path = {"lead": {"budget": "60000.00"}, "deal": {"need": "Sums"}}
    # The deal's gate asks the deal's own `need`; the branch reads the lead's budget.
    with pytest.raises(StageGateBlocked):
        rules.advance(moved, process, {}, now=T0, by="ann", path=path)
    big, _ = rules.advance(moved, process, path["deal"], now=T0, by="ann", path=path)
    assert big.active_stage == "review"
    small = {**path, "lead": {"budget": "100.00"}}
    plain, _ = rules.advance(moved, process, path["deal"], now=T0, by="ann", path=small)
    assert plain.active_stage == "propose"

    bar = progress(moved, process, path["lead"], path)
    assert bar.next_stage is not None and bar.next_stage.key == "review"
    assert bar.can_advance
    states = {s.stage.key: s.state for s in bar.stages}
    assert states == {
        "qualify": StageState.DONE,
        "develop": StageState.ACTIVE,
        "review": StageState.UPCOMING,
        "propose": StageState.UPCOMING,
    }
    assert not progress(moved, process, path["lead"], {"lead": path["lead"]}).can_advance


def test_a_step_is_written_to_the_record_of_its_stage_entity() -> None:
    process = loaded()
    lead = _lead(qualified=True)
    instance, _ = rules.start(process, lead, now=T0, by="ann")
    moved, _ = rules.advance(instance, process, lead.values, now=T0, by="ann")
    # `company` is a field of both entities; the deal's stage does not ask it, the lead's not either.
    deal = Record(2, "deal", "Acme lead", "ann", {}, 1, T0, T0)
    _, updated, event = rules.complete_step(moved, process, deal, "need", "Sums", now=T0, by="ann")
    assert updated.values == {"need": "Sums"} and event.to_stage == "develop"
    stage = rules.step_stage(moved, process, "qualified")
    assert stage.key == "qualify"
    with pytest.raises(rules.InvalidTransition):
        rules.step_stage(moved, process, "need", "lead")


@pytest.mark.parametrize(
    "crossings",
    [
        "opportunity",
        [None],
        [[]],
        [{"entity": 5, "lookup": "lead"}],
        [{"entity": "deal", "lookup": ["lead"]}],
        [{"entity": "deal", "lookup": "lead", "map": "company"}],
        [{"entity": "deal", "lookup": "lead", "map": [7, None, {"field": 1, "from": {}}]}],
        [{"entity": "deal", "lookup": "lead", "map": [{"field": "company", "from": "company"}]}],
        [{"entity": "deal\x00", "lookup": "lead\ud800", "extra": True}],
        [{"entity": "deal", "lookup": "lead"}] * 3,
    ],
)
def test_a_crossing_of_the_wrong_shape_is_a_problem_not_a_crash(crossings: Any) -> None:
    data = chain()
    data["crossings"] = crossings
    found = problems(data)
    assert found and all(isinstance(p, Problem) and p.message for p in found)


def test_a_stage_entity_of_the_wrong_shape_is_a_problem() -> None:
    data = chain()
    data["stages"][1]["entity"] = ["deal"]
    assert Problem("stages[1].entity", "expected an entity key") in problems(data)


def test_a_migration_lands_only_where_the_instances_have_records() -> None:
    from dataclasses import replace

    from server.domain.migration import check_mapping

    source = loaded()
    lead = _lead(qualified=True)
    started, _ = rules.start(source, lead, now=T0, by="ann")
    waiting = replace(started, id=1)
    crossed = replace(rules.advance(started, source, lead.values, now=T0, by="ann")[0], id=2)
    reached = {1: {"lead"}, 2: {"lead", "deal"}}
    # Onto the deal's stage, the run that never crossed has nowhere to stand.
    assert check_mapping({"qualify": "develop"}, source, source, [waiting, crossed], reached) == [
        Problem(
            "stageMapping.develop",
            "stage 'develop' works on deal, which 1 instance(s) have not crossed into (1); "
            "map them to a stage of an entity they are on",
        )
    ]
    # A version on the lead alone leaves the deal the crossed run is on behind.
    alone = load_process(
        {
            "key": "lead-to-deal",
            "name": "Lead to deal",
            "entity": "lead",
            "stages": [stage("qualify")],
        },
        ENTITIES,
    )
    assert check_mapping({"develop": "qualify"}, source, alone, [waiting, crossed], reached) == [
        Problem("toVersion", "version 1 does not run on deal, which 1 instance(s) are on (2)")
    ]
    assert check_mapping({}, source, source, [waiting, crossed], reached) == []
