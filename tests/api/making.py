"""Small factories for the API tests: an opportunity on its default process, a value set,
through the API or the services."""

from __future__ import annotations

from typing import Any

from documents import COMPLETE_STEP, CREATE_RECORD, START

from server.services import instances, records

# Every step of Opportunity Sales filled: any advance passes its gate, and it can finish.
READY = {
    "estimated_budget": 100,
    "decision_maker_identified": True,
    "customer_need": "Laptops",
    "develop_proposal": True,
    "present_proposal": True,
    "present_final_proposal": True,
    "send_thank_you": True,
    "complete_final_proposal": True,
}


async def new_instance(gql: Any, name: str = "Deal") -> str:
    """A new opportunity started on its default process; the instance's id."""
    created = await gql.execute(
        CREATE_RECORD, {"input": {"entity": "opportunity", "name": name, "values": {}}}
    )
    started = await gql.execute(
        START, {"input": {"recordId": created["createRecord"]["record"]["id"]}}
    )
    return started["startInstance"]["instance"]["id"]  # type: ignore[no-any-return]


async def set_budget(gql: Any, instance: str, value: int) -> int:
    """Complete the budget step; the seq of its event."""
    done = await gql.execute(
        COMPLETE_STEP,
        {"input": {"instanceId": instance, "field": "estimated_budget", "value": value}},
    )
    return done["completeStep"]["event"]["seq"]  # type: ignore[no-any-return]


async def every_page(gql: Any, document: str, field: str, **variables: Any) -> list[Any]:
    """Each page of the connection `field`, followed by its cursors to the last."""
    pages = []
    after = None
    while True:
        page = (await gql.execute(document, {**variables, "after": after}))[field]
        pages.append(page)
        if not page["pageInfo"]["hasNextPage"]:
            return pages
        after = page["pageInfo"]["endCursor"]


async def started_instance(runtime: Any, name: str) -> int:
    """Through the services: a new opportunity started on its default process; its id."""
    created = await records.create_record(
        runtime, entity="opportunity", name=name, owner="t", values={}, by="t"
    )
    assert created.record is not None and created.record.id is not None
    started = await instances.start_instance(
        runtime, record_id=created.record.id, process_id=None, by="t"
    )
    assert started.instance is not None and started.instance.id is not None
    return started.instance.id


async def budget_step(runtime: Any, instance_id: int, value: int) -> int:
    """Through the services: complete the budget step; the seq of its event."""
    change = await instances.complete_step(
        runtime,
        instance_id=instance_id,
        field="estimated_budget",
        value=value,
        expected_version=None,
        by="t",
    )
    assert change.event.seq is not None
    return change.event.seq


async def take_seqs(stream: Any, count: int) -> list[int]:
    """The seqs of the first `count` events a feed stream yields."""
    got = []
    async for event in stream:
        got.append(event.seq)
        if len(got) == count:
            break
    return got
