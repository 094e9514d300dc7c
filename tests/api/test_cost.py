"""What a document costs is known before it runs and bounds what it does.

Every list of the schema is paged or priced by the longest it is in what is stored; the
documents built from the schema's cycles, at the most the limit accepts, run and answer no
more values than their cost; a small read is answered while twenty of them run.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from graphql import (
    GraphQLInterfaceType,
    GraphQLObjectType,
    get_named_type,
    get_nullable_type,
    is_list_type,
    parse,
)
from making import new_instance

from server.api import cost as pricing
from server.api.cost import PAGE_ARGUMENTS, cost_of, list_lengths
from server.api.schema import schema
from server.services.queries import MAX_PAGE
from server.settings import Settings

MAX_COST = Settings().max_cost
# The query of the report: an instance's events' instance's events..., unpaged before.
ATTACK = '{ instance(id:"%s") { events { instance { events { instance { events { seq } } } } } } }'
SCALARS = {"Instance": "id version", "Record": "id name", "Event": "seq kind actor at"}
ROOTS = {
    "Instance": 'instance(id: "%(instance)s")',
    "Record": 'record(id: "%(record)s")',
    "Event": 'events(instanceId: "%(instance)s", first: %(page)d)',
}


def _object_fields() -> Iterator[tuple[str, str, Any]]:
    for name, kind in schema._schema.type_map.items():
        if name.startswith("__") or not isinstance(kind, GraphQLObjectType | GraphQLInterfaceType):
            continue
        for field_name, field in kind.fields.items():
            yield name, field_name, field


def test_every_list_is_paged_or_priced_by_what_is_stored() -> None:
    lengths = list_lengths(_shape(), templates=1)
    unpriced = []
    for kind, name, field in _object_fields():
        if not is_list_type(get_nullable_type(field.type)) or kind.endswith("Connection"):
            continue
        pages = [a for a in PAGE_ARGUMENTS if a in field.args]
        if pages:
            assert field.args[pages[0]].default_value <= MAX_PAGE, (kind, name)
        elif (kind, name) not in lengths:
            unpriced.append(f"{kind}.{name}")
    assert unpriced == []
    assert len(lengths) > 15  # the walk saw the schema's lists


def _shape() -> Any:
    from server.db.catalog import Shape

    return Shape(1, 1, 1, 1, 1, 1, 1, 1)


@dataclass(frozen=True)
class Edge:
    kind: str
    field: str
    target: str
    page: str | None  # the page argument, if the field is a paged list


def _edges() -> dict[str, list[Edge]]:
    """Fields of an object type that lead to Instance, Record or Event, by type."""
    out: dict[str, list[Edge]] = {}
    for kind, name, field in _object_fields():
        target = get_named_type(field.type).name
        if kind in SCALARS and target in SCALARS:
            page = next((a for a in PAGE_ARGUMENTS if a in field.args), None)
            out.setdefault(kind, []).append(Edge(kind, name, target, page))
    return out


def _cycles() -> list[list[Edge]]:
    """The schema's cycles through Instance, Record and Event that hold a list."""
    edges = _edges()
    found = []

    def walk(start: str, path: list[Edge]) -> None:
        here = path[-1].target if path else start
        for edge in edges.get(here, []):
            if edge.target == start:
                cycle = [*path, edge]
                listed = any(_listed(e) for e in cycle)
                if listed and not any(_same(cycle, other) for other in found):
                    found.append(cycle)
            elif len(path) < 2 and edge.target not in {e.kind for e in path}:
                walk(start, [*path, edge])

    for start in SCALARS:
        walk(start, [])
    return found


def _listed(edge: Edge) -> bool:
    kind = schema._schema.type_map[edge.kind]
    assert isinstance(kind, GraphQLObjectType | GraphQLInterfaceType)
    return is_list_type(get_nullable_type(kind.fields[edge.field].type))


def _same(one: list[Edge], other: list[Edge]) -> bool:
    """The same cycle entered at another type."""
    keys = [(e.kind, e.field) for e in one]
    others = [(e.kind, e.field) for e in other]
    return len(keys) == len(others) and any(
        keys == others[i:] + others[:i] for i in range(len(others))
    )


def _document(cycle: list[Edge], turns: int, page: int, ids: dict[str, str]) -> str:
    """The cycle gone round `turns` times from its first type, every page `page` long."""
    inner = SCALARS[cycle[0].kind]
    steps = [e for _ in range(turns) for e in cycle]
    for edge in reversed(steps):
        arguments = f"({edge.page}: {page})" if edge.page else ""
        inner = f"{SCALARS[edge.kind]} {edge.field}{arguments} {{ {inner} }}"
    root = ROOTS[cycle[0].kind] % {**ids, "page": page}
    return f"{{ {root} {{ {inner} }} }}"


def _cost(document: str, lengths: dict[tuple[str, str], int]) -> int:
    found = cost_of(
        schema._schema, parse(document), operation_name=None, variables={}, lengths=lengths
    )
    assert isinstance(found, int), found
    return found


def _costliest(
    cycle: list[Edge], ids: dict[str, str], lengths: dict[tuple[str, str], int], depth: int
) -> tuple[str, int]:
    """The document from `cycle` that costs the most the limit accepts: for each number of
    turns the depth allows, the longest page it may ask for."""
    best = ("", 0)
    turns = 1
    while len(cycle) * turns + 2 <= depth:
        for page in range(MAX_PAGE, 0, -1):
            document = _document(cycle, turns, page, ids)
            cost = _cost(document, lengths)
            if cost <= MAX_COST:
                best = max(best, (document, cost), key=lambda pair: pair[1])
                break
        turns += 1
    return best


def _values(answer: Any) -> int:
    """Fields in an answer: each key of each object, and each item of each list."""
    if isinstance(answer, dict):
        return len(answer) + sum(_values(v) for v in answer.values())
    if isinstance(answer, list):
        return sum(_values(v) for v in answer)
    return 0


async def _busy_instance(gql: Any) -> dict[str, str]:
    """An instance with more than a page of events, on a record with two runs."""
    instance = await new_instance(gql)
    for value in range(MAX_PAGE + 10):
        await gql.execute(
            """mutation($input: CompleteStepInput!) { completeStep(input: $input) {
              __typename } }""",
            {"input": {"instanceId": instance, "field": "estimated_budget", "value": value}},
        )
    record = await gql.execute(
        "query($id: ID!) { instance(id: $id) { record { id } } }", {"id": instance}
    )
    return {"instance": instance, "record": record["instance"]["record"]["id"]}


async def test_the_reported_query_is_priced_by_its_pages(gql: Any, app: Any) -> None:
    ids = await _busy_instance(gql)
    lengths = list_lengths(await app.state.runtime.catalog.shape(), templates=1)
    # Unpaged, it answered every event at each of three turns; now each turn is a page of 20.
    reported = ATTACK % ids["instance"]
    answer = await gql.execute(reported)
    assert _values(answer) <= _cost(reported, lengths) < MAX_COST
    assert len(answer["instance"]["events"]) == 20
    # The same with pages of 100 would answer a million events: refused before it runs.
    full = reported.replace("events", "events(first: 100)")
    [error] = (await gql.post(full)).json()["errors"]
    assert error["extensions"]["code"] == "QUERY_TOO_COSTLY"
    assert error["extensions"]["cost"] == _cost(full, lengths) > 100**3


async def test_the_costliest_documents_of_the_schemas_cycles_answer_within_their_cost(
    gql: Any, app: Any, count_queries: Any
) -> None:
    ids = await _busy_instance(gql)
    lengths = list_lengths(await app.state.runtime.catalog.shape(), templates=1)
    cycles = _cycles()
    names = {" > ".join(f"{e.kind}.{e.field}" for e in c) for c in cycles}
    assert {"Instance.events > Event.instance", "Instance.record > Record.instances"} <= names
    for cycle in cycles:
        document, cost = _costliest(cycle, ids, lengths, Settings().max_depth)
        assert document, cycle
        started = time.perf_counter()
        with count_queries() as statements:
            answer = await gql.execute(document)
        took = time.perf_counter() - started
        values = _values(answer)
        assert values <= cost, (document, values, cost)
        # Each list level is one batched read, whatever its length.
        assert len(statements) <= document.count("{"), (document, statements)
        print(
            f"{' > '.join(e.field for e in cycle)}: cost {cost}, {values} values, "
            f"{len(statements)} statements, {took * 1000:.0f} ms"
        )


async def test_a_small_read_is_answered_while_twenty_costly_documents_run(
    gql: Any, app: Any
) -> None:
    ids = await _busy_instance(gql)
    lengths = list_lengths(await app.state.runtime.catalog.shape(), templates=1)
    cycle = next(c for c in _cycles() if [e.field for e in c] == ["events", "instance"])
    document, cost = _costliest(cycle, ids, lengths, Settings().max_depth)
    assert cost > pricing.COSTLY
    finished: list[str] = []

    async def costly(n: int) -> None:
        answer = (await gql.post(document)).json()
        assert "errors" not in answer, answer["errors"]
        finished.append(f"costly {n}")

    gate = app.state.graphql.schema.costly
    tasks = [asyncio.create_task(costly(n)) for n in range(20)]
    while gate.running < pricing.COSTLY_AT_ONCE:  # the first ones are running
        await asyncio.sleep(0.001)
    started = time.perf_counter()
    assert await gql.execute("{ me { name } }") == {"me": {"name": "demo"}}
    small = time.perf_counter() - started
    finished.append("small")
    waited = time.perf_counter()
    await asyncio.gather(*tasks)
    rest = time.perf_counter() - waited
    # The small read came before most of them, which ran a few at a time.
    assert finished.index("small") < 5, finished
    assert gate.most == pricing.COSTLY_AT_ONCE
    print(f"small read {small * 1000:.0f} ms with 20 costly running; they took {rest:.2f} s more")


async def test_a_longer_process_published_raises_the_price_of_its_lists(gql: Any) -> None:
    """Lists are priced by the catalog's lengths, taken again once a process is published."""
    states = " ".join(["state"] * 20)
    document = f"{{ events(first: 100) {{ instance {{ stages {{ {states} }} }} }} }}"
    # The longest shipped process has 6 stages: 1 + 100 x (1 + 1 + 6 x 20).
    assert "errors" not in (await gql.post(document)).json()
    stages = [
        {"key": f"s{n:02d}", "name": f"Stage {n}", "category": "QUALIFY", "steps": []}
        | ({"next": f"s{n + 1:02d}"} if n < 11 else {})
        for n in range(12)
    ]
    definition = {"key": "long", "name": "Long", "entity": "opportunity", "stages": stages}
    imported = await gql.execute(
        """mutation($input: ImportProcessInput!) { importProcess(input: $input) {
          __typename } }""",
        {"input": {"definition": definition, "publish": True}},
    )
    assert imported["importProcess"]["__typename"] == "ProcessImported"
    [error] = (await gql.post(document)).json()["errors"]
    assert error["extensions"]["cost"] == 1 + 100 * (1 + 1 + 12 * 20) > MAX_COST
