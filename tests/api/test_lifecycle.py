"""An opportunity's whole life through the GraphQL API."""

from __future__ import annotations

from typing import Any

from documents import (
    ABANDON,
    ADVANCE,
    COMPLETE_STEP,
    CREATE_RECORD,
    FINISH,
    INSTANCE,
    MOVE_TO,
    PROCESSES,
    REACTIVATE,
    RECORD,
    START,
    SWITCH,
)


async def _process_ids(gql: Any) -> dict[str, str]:
    data = await gql.execute(PROCESSES)
    return {p["key"]: p["id"] for p in data["processes"]}


async def _new_opportunity(gql: Any, values: dict[str, Any] | None = None) -> str:
    data = await gql.execute(
        CREATE_RECORD,
        {
            "input": {
                "entity": "opportunity",
                "name": "Contoso - 50 laptops",
                "values": values or {},
            }
        },
    )
    assert data["createRecord"]["__typename"] == "RecordCreated", data
    return data["createRecord"]["record"]["id"]  # type: ignore[no-any-return]


async def _run(gql: Any, document: str, **input: Any) -> dict[str, Any]:
    data = await gql.execute(document, {"input": input})
    return next(iter(data.values()))  # type: ignore[no-any-return]


async def _steps(gql: Any, instance_id: str, values: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for field, value in values.items():
        result = await _run(gql, COMPLETE_STEP, instanceId=instance_id, field=field, value=value)
        assert result["__typename"] == "StepCompleted", result
    return result


def _states(instance: dict[str, Any]) -> list[tuple[str, str]]:
    return [(s["stage"]["key"], s["state"]) for s in instance["stages"]]


async def test_seeded_processes_are_listed(gql: Any) -> None:
    ids = await _process_ids(gql)
    assert {"opportunity-sales", "lead-to-opportunity", "phone-to-case"} <= ids.keys()
    assert len(ids) >= 5


async def test_opportunity_moves_through_every_stage(gql: Any) -> None:
    record_id = await _new_opportunity(gql)

    started = await _run(gql, START, recordId=record_id)
    assert started["__typename"] == "InstanceStarted"
    instance = started["instance"]
    assert instance["process"]["key"] == "opportunity-sales"  # the entity's default process
    assert instance["activeStage"]["key"] == "qualify"
    assert _states(instance) == [
        ("qualify", "ACTIVE"),
        ("develop", "UPCOMING"),
        ("propose", "UPCOMING"),
        ("close", "UPCOMING"),
    ]
    assert instance["canAdvance"] is False
    assert {s["field"]["key"] for s in instance["missingSteps"]} == {
        "estimated_budget",
        "decision_maker_identified",
    }
    iid = instance["id"]

    blocked = await _run(gql, ADVANCE, instanceId=iid)
    assert blocked["__typename"] == "StageGateBlocked"
    assert blocked["stage"]["key"] == "qualify"
    assert {s["field"]["key"] for s in blocked["missingSteps"]} == {
        "estimated_budget",
        "decision_maker_identified",
    }

    done = await _steps(gql, iid, {"estimated_budget": 65000, "decision_maker_identified": False})
    # A required yes/no step is done only when it is yes.
    assert [s["field"]["key"] for s in done["instance"]["missingSteps"]] == [
        "decision_maker_identified"
    ]
    done = await _steps(gql, iid, {"decision_maker_identified": True})
    assert done["instance"]["canAdvance"] is True
    assert done["instance"]["record"]["values"]["estimated_budget"] == "65000.00"

    advanced = await _run(gql, ADVANCE, instanceId=iid, expectedVersion=done["instance"]["version"])
    assert advanced["__typename"] == "StageAdvanced"
    assert advanced["event"]["kind"] == "STAGE_ADVANCED"
    assert (advanced["event"]["fromStage"], advanced["event"]["toStage"]) == ("qualify", "develop")
    assert _states(advanced["instance"])[:2] == [("qualify", "DONE"), ("develop", "ACTIVE")]

    await _steps(gql, iid, {"customer_need": "Replace 50 ageing laptops"})
    assert (await _run(gql, ADVANCE, instanceId=iid))["__typename"] == "StageAdvanced"
    await _steps(gql, iid, {"develop_proposal": True, "present_proposal": True})
    at_close = await _run(gql, ADVANCE, instanceId=iid)
    assert at_close["instance"]["activeStage"]["key"] == "close"
    assert at_close["instance"]["nextStage"] is None

    past_last = await _run(gql, ADVANCE, instanceId=iid)
    assert past_last["__typename"] == "InvalidTransition"
    assert past_last["code"] == "LAST_STAGE"

    early = await _run(gql, FINISH, instanceId=iid)
    assert early["__typename"] == "StageGateBlocked"
    await _steps(gql, iid, {"present_final_proposal": True})
    finished = await _run(gql, FINISH, instanceId=iid, outcome="won")
    assert finished["__typename"] == "InstanceFinished"
    assert finished["instance"]["status"] == "FINISHED"
    assert all(state == "DONE" for _, state in _states(finished["instance"]))
    history = finished["instance"]["history"]
    assert [v["stage"]["key"] for v in history] == ["qualify", "develop", "propose", "close"]
    assert all(v["exitedAt"] is not None and v["durationSeconds"] >= 0 for v in history)

    refused = await _run(gql, COMPLETE_STEP, instanceId=iid, field="send_thank_you", value=True)
    assert refused["__typename"] == "InvalidTransition"
    assert refused["code"] == "NOT_ACTIVE"

    back = await _run(gql, REACTIVATE, instanceId=iid)
    assert back["__typename"] == "InstanceReactivated"
    assert back["instance"]["status"] == "ACTIVE"
    assert back["instance"]["activeStage"]["key"] == "close"
    assert back["instance"]["history"][-1]["exitedAt"] is None


async def test_back_along_the_path_keeps_values(gql: Any) -> None:
    record_id = await _new_opportunity(gql)
    iid = (await _run(gql, START, recordId=record_id))["instance"]["id"]
    await _steps(gql, iid, {"estimated_budget": "1200.50", "decision_maker_identified": True})
    await _run(gql, ADVANCE, instanceId=iid)
    await _steps(gql, iid, {"customer_need": "Faster onboarding"})
    await _run(gql, ADVANCE, instanceId=iid)

    not_on_path = await _run(gql, MOVE_TO, instanceId=iid, stage="close")
    assert not_on_path["__typename"] == "InvalidTransition"
    assert not_on_path["code"] == "NOT_ON_PATH"

    moved = await _run(gql, MOVE_TO, instanceId=iid, stage="qualify")
    assert moved["__typename"] == "StageMoved"
    instance = moved["instance"]
    assert instance["activeStage"]["key"] == "qualify"
    assert [s["key"] for s in instance["path"]] == ["qualify"]
    assert _states(instance)[:2] == [("qualify", "ACTIVE"), ("develop", "UPCOMING")]
    assert instance["record"]["values"]["customer_need"] == "Faster onboarding"
    assert instance["canAdvance"] is True
    assert [v["stage"]["key"] for v in instance["history"]] == [
        "qualify",
        "develop",
        "propose",
        "qualify",
    ]


async def test_branch_is_taken_by_the_data(gql: Any) -> None:
    ids = await _process_ids(gql)
    common = {
        "estimated_budget": 400000,
        "purchase_timeframe": "This quarter",
        "purchase_process": "Committee",
        "decision_maker_identified": True,
        "customer_need": "Fleet renewal",
        "proposed_solution": "Managed devices",
        "identify_stakeholders": True,
        "executive_sponsor": "maria",
        "deal_size": "Large",
        "estimated_close_date": "2027-03-31",
    }
    paths = {}
    for revenue in (300000, 90000):
        record_id = await _new_opportunity(gql)
        started = await _run(gql, START, recordId=record_id, processId=ids["enterprise-deal"])
        iid = started["instance"]["id"]
        await _steps(gql, iid, {"estimated_budget": common["estimated_budget"]})
        for field in ("purchase_timeframe", "purchase_process", "decision_maker_identified"):
            await _steps(gql, iid, {field: common[field]})
        await _run(gql, ADVANCE, instanceId=iid)
        for field in (
            "customer_need",
            "proposed_solution",
            "identify_stakeholders",
            "executive_sponsor",
        ):
            await _steps(gql, iid, {field: common[field]})
        await _run(gql, ADVANCE, instanceId=iid)
        result = await _steps(
            gql,
            iid,
            {
                "estimated_revenue": revenue,
                "deal_size": "Large",
                "estimated_close_date": "2027-03-31",
            },
        )
        projected = result["instance"]["nextStage"]["key"]
        advanced = await _run(gql, ADVANCE, instanceId=iid)
        assert advanced["instance"]["activeStage"]["key"] == projected
        paths[revenue] = (projected, _states(advanced["instance"]))

    assert paths[300000][0] == "deal_desk_approval"
    assert paths[90000][0] == "propose"
    assert ("deal_desk_approval", "SKIPPED") in paths[90000][1]
    assert ("deal_desk_approval", "ACTIVE") in paths[300000][1]


async def test_switch_process_keeps_values_and_each_run(gql: Any) -> None:
    ids = await _process_ids(gql)
    record_id = await _new_opportunity(gql, {"estimated_budget": 5000})
    first = await _run(gql, START, recordId=record_id, processId=ids["opportunity-sales"])
    first_id = first["instance"]["id"]
    await _steps(gql, first_id, {"decision_maker_identified": True})
    await _run(gql, ADVANCE, instanceId=first_id)

    switched = await _run(gql, SWITCH, recordId=record_id, processId=ids["enterprise-deal"])
    assert switched["__typename"] == "ProcessSwitched"
    other = switched["instance"]
    assert other["process"]["key"] == "enterprise-deal"
    assert other["activeStage"]["key"] == "qualify"
    # The data entered under the first process is seen by the second.
    assert other["record"]["values"]["estimated_budget"] == "5000.00"
    assert other["record"]["values"]["decision_maker_identified"] is True
    assert "estimated_budget" not in {s["field"]["key"] for s in other["missingSteps"]}

    again = await _run(gql, SWITCH, recordId=record_id, processId=ids["enterprise-deal"])
    assert again["__typename"] == "InvalidTransition"
    assert again["code"] == "ALREADY_ACTIVE"

    back = await _run(gql, SWITCH, recordId=record_id, processId=ids["opportunity-sales"])
    assert back["instance"]["id"] == first_id
    assert back["instance"]["activeStage"]["key"] == "develop"  # its state was kept

    record = (await gql.execute(RECORD, {"id": record_id}))["record"]
    assert record["activeInstance"]["id"] == first_id
    assert sorted(i["process"]["key"] for i in record["instances"]) == [
        "enterprise-deal",
        "opportunity-sales",
    ]

    duplicate = await _run(gql, START, recordId=record_id, processId=ids["enterprise-deal"])
    assert duplicate["__typename"] == "InvalidTransition"
    assert duplicate["code"] == "ALREADY_RUNNING"

    wrong_entity = await _run(gql, SWITCH, recordId=record_id, processId=ids["phone-to-case"])
    assert wrong_entity["__typename"] == "InvalidTransition"
    assert wrong_entity["code"] == "WRONG_ENTITY"


async def test_abandon_from_anywhere_then_reactivate(gql: Any) -> None:
    record_id = await _new_opportunity(gql)
    iid = (await _run(gql, START, recordId=record_id))["instance"]["id"]
    abandoned = await _run(gql, ABANDON, instanceId=iid)
    assert abandoned["instance"]["status"] == "ABANDONED"
    assert abandoned["instance"]["canAdvance"] is False
    twice = await _run(gql, ABANDON, instanceId=iid)
    assert twice["__typename"] == "InvalidTransition"
    assert twice["code"] == "NOT_ACTIVE"
    advance = await _run(gql, ADVANCE, instanceId=iid)
    assert advance["code"] == "NOT_ACTIVE"
    back = await _run(gql, REACTIVATE, instanceId=iid)
    assert back["instance"]["status"] == "ACTIVE"
    fetched = (await gql.execute(INSTANCE, {"id": iid}))["instance"]
    assert fetched["status"] == "ACTIVE"
    assert fetched["version"] == back["instance"]["version"]
