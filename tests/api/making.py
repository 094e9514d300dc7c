"""Small factories for the API tests: an opportunity on its default process, a value set."""

from __future__ import annotations

from typing import Any

from documents import COMPLETE_STEP, CREATE_RECORD, START


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
