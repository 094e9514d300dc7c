"""Lists that grow with use come in pages: each at 100 items and one past it, and each
paged the way it says (after a cursor, or the newest)."""

from __future__ import annotations

from typing import Any

import pytest
from documents import ADVANCE, MOVE_TO
from making import new_instance, set_budget
from users import make_user

from server.services.queries import MAX_PAGE

# A document per paged list, `%d` its page; `%s` an instance's id where it needs one.
PAGED = {
    "Instance.events": '{ instance(id: "%s") { events(first: %d) { seq } } }',
    "Instance.history": '{ instance(id: "%s") { history(last: %d) { enteredAt } } }',
    "Process.versions": '{ instance(id: "%s") { process { versions(last: %d) { number } } } }',
    "Query.events": '{ events(instanceId: "%s", first: %d) { seq } }',
    "Query.users": "{ users(first: %d) { name } }",
    "Query.apiTokens": "{ apiTokens(first: %d) { id } }",
    "Query.drafts": "{ drafts(first: %d) { key } }",
    "Query.instances": '{ instances(recordId: "%s", first: %d) { edges { node { id } } } }',
}


def _document(template: str, instance: str, page: int) -> str:
    return template % ((instance, page) if "%s" in template else page)


@pytest.mark.parametrize("template", PAGED.values(), ids=PAGED.keys())
async def test_a_page_of_100_is_answered_and_101_refused(gql: Any, template: str) -> None:
    instance = await new_instance(gql)
    await gql.execute(_document(template, instance, MAX_PAGE))
    answer = (await gql.post(_document(template, instance, MAX_PAGE + 1))).json()
    assert answer["data"] is None
    [error] = answer["errors"]
    assert error["extensions"]["code"] == "QUERY_TOO_COSTLY"
    assert error["extensions"]["maxPage"] == MAX_PAGE
    assert MAX_PAGE + 1 in error["extensions"].values()


@pytest.mark.parametrize("template", PAGED.values(), ids=PAGED.keys())
async def test_an_empty_page_is_refused_as_a_value(gql: Any, template: str) -> None:
    instance = await new_instance(gql)
    answer = (await gql.post(_document(template, instance, 0))).json()
    codes = {e["extensions"]["code"] for e in answer["errors"]}
    assert codes == {"INVALID_VALUE"}, answer


async def test_an_instances_events_page_on_from_a_seq(gql: Any) -> None:
    instance = await new_instance(gql)
    seqs = [await set_budget(gql, instance, value) for value in range(30)]
    query = """query($id: ID!, $after: Int!) { instance(id: $id) {
      events(afterSeq: $after, first: 25) { seq } } }"""
    first = (await gql.execute(query, {"id": instance, "after": 0}))["instance"]["events"]
    assert len(first) == 25  # the default page is 20: asked for 25
    rest = await gql.execute(query, {"id": instance, "after": first[-1]["seq"]})
    every = [e["seq"] for e in first + rest["instance"]["events"]]
    assert every == sorted(every) and len(every) == 31  # the start, then 30 values
    assert every[-30:] == seqs
    default = "query($id: ID!) { instance(id: $id) { events { seq } } }"
    assert len((await gql.execute(default, {"id": instance}))["instance"]["events"]) == 20


async def test_history_is_the_newest_stays(gql: Any) -> None:
    instance = await new_instance(gql)
    await set_budget(gql, instance, 10)
    for _ in range(12):  # qualify > develop > qualify ...: 25 stays
        await gql.execute(
            """mutation($input: CompleteStepInput!) { completeStep(input: $input) {
              __typename } }""",
            {
                "input": {
                    "instanceId": instance,
                    "field": "decision_maker_identified",
                    "value": True,
                }
            },
        )
        await gql.execute(ADVANCE, {"input": {"instanceId": instance}})
        await gql.execute(MOVE_TO, {"input": {"instanceId": instance, "stage": "qualify"}})
    query = """query($id: ID!, $last: Int!) { instance(id: $id) {
      history(last: $last) { stage { key } enteredAt exitedAt } } }"""
    every = (await gql.execute(query, {"id": instance, "last": 100}))["instance"]["history"]
    assert len(every) == 25
    newest = (await gql.execute(query, {"id": instance, "last": 3}))["instance"]["history"]
    assert newest == every[-3:]
    assert newest[-1]["exitedAt"] is None and newest[-1]["stage"]["key"] == "qualify"
    default = "query($id: ID!) { instance(id: $id) { history { enteredAt } } }"
    assert len((await gql.execute(default, {"id": instance}))["instance"]["history"]) == 20


async def test_users_and_tokens_page_on_after_a_cursor(gql: Any) -> None:
    await gql.token("demo")
    names = sorted(["demo", *[f"user-{n:03}" for n in range(7)]])
    for name in names[1:]:
        await make_user(name)
    query = "query($after: String) { users(first: 3, after: $after) { name } }"
    seen: list[str] = []
    after = None
    while True:
        page = (await gql.execute(query, {"after": after}))["users"]
        seen += [u["name"] for u in page]
        if len(page) < 3:
            break
        after = page[-1]["name"]
    assert seen == names

    create = "mutation($label: String!) { createApiToken(label: $label) { token { id } } }"
    made = [
        (await gql.execute(create, {"label": f"t{n}"}))["createApiToken"]["token"]["id"]
        for n in range(4)
    ]
    query = "query($after: ID) { apiTokens(first: 2, after: $after) { id label } }"
    first = (await gql.execute(query, {"after": None}))["apiTokens"]
    second = (await gql.execute(query, {"after": first[-1]["id"]}))["apiTokens"]
    third = (await gql.execute(query, {"after": second[-1]["id"]}))["apiTokens"]
    tokens = [t["id"] for t in first + second + third]
    assert tokens[-4:] == made and len(set(tokens)) == len(tokens)
