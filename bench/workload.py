"""What the bench sends: the documents, the request bodies of each subject, and the
figures (ratios of subjects measured in the same rounds)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from bench.seed import SEARCH, TEMPLATES, Dataset

BAR = "id version stages { stage { key } state } activeStage { key } missingSteps { field { key } } canAdvance nextStage { key }"
READ = f"query Bar($id: ID!) {{ instance(id: $id) {{ {BAR} }} }}"
PAGE = (
    "query Board($process: ID, $stage: String, $count: Boolean!) {"
    " instances(processId: $process, stage: $stage, status: ACTIVE, first: 50) {"
    f" totalCount @include(if: $count) edges {{ node {{ {BAR} }} }} }} }}"
)
COMPLETE = (
    "mutation Step($id: ID!, $value: JSON) { completeStep(input: {instanceId: $id,"
    ' field: "estimated_budget", value: $value}) { __typename'
    " ... on StepCompleted { instance { version } } } }"
)
# The records list as the web app asks for it (web/records.js).
RECORDS = """query($entity: String, $search: String, $owner: String, $process: ID,
                      $stage: String, $status: InstanceStatus, $after: String) {
  lastEventSeq
  records(entity: $entity, search: $search, owner: $owner, processId: $process, stage: $stage,
          status: $status, first: 25, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { node {
      id name owner updatedAt
      activeInstance { id status activeSince process { id name } activeStage { key name } }
    } }
  }
}"""
# PostGraphile, on the same tables: the instance, its record, its stage visits.
PG_READ = (
    "query Bar($id: Int!) { instanceById(id: $id) { id version status activeStage path"
    " processId processVersion recordByRecordId { id name values version }"
    " stageVisitsByInstanceId { nodes { n stage enteredAt exitedAt enteredBy } } } }"
)
PG_PAGE = (
    "query Board($process: Int!) { allInstances(first: 50, orderBy: ID_ASC,"
    ' condition: {processId: $process, activeStage: "develop", status: "ACTIVE"}) {'
    " nodes { id version status activeStage path processId processVersion"
    " recordByRecordId { id name values version } } } }"
)
PG_UPDATE = (
    "mutation Step($id: Int!, $values: JSON!) { updateRecordById(input: {id: $id,"
    " recordPatch: {values: $values}}) { record { id version } } }"
)

# A number that grows with every request (bench/load.lua).
N = "__N__"


def _graphql(query: str, variables: dict[str, object]) -> str:
    return json.dumps({"query": query, "variables": variables}).replace(f'"{N}"', N)


@dataclass(frozen=True)
class Subject:
    """One thing measured: requests to one server, one connection per thread."""

    key: str
    label: str
    server: str
    path: str
    bodies: list[str]
    expect: str
    token: str = ""
    threads: int = 16
    note: str = ""


@dataclass(frozen=True)
class Figure:
    id: str
    title: str
    numerator: str
    denominator: str
    # "rps": requests per second, per round; "statements": per operation.
    metric: str = "rps"


@dataclass
class Group:
    """Subjects measured in interleaved rounds; their servers run meanwhile."""

    name: str
    subjects: list[Subject] = field(default_factory=list)


def read_ids(data: Dataset, count: int = 64) -> list[int]:
    """Instances read by every reader: all templates but those the writers use."""
    writers = _WRITE_TEMPLATES
    ids = [data.first_instance + n for n in range(data.copies) if n % len(TEMPLATES) not in writers]
    return ids[:count]


# Templates whose copies are active in their first stage, which asks estimated_budget.
_WRITE_TEMPLATES = (0, 1, 8)


def write_ids(data: Dataset, count: int, *, skip: int = 0) -> list[int]:
    ids = [
        data.first_instance + n
        for n in range(data.copies)
        if n % len(TEMPLATES) in _WRITE_TEMPLATES
    ]
    assert len(ids) >= skip + count, "too few instances to write"
    return ids[skip : skip + count]


def record_of(data: Dataset, instance_id: int) -> int:
    return data.first_record + (instance_id - data.first_instance)


def stageflow_read(key: str, label: str, data: Dataset, server: str, **kw: object) -> Subject:
    bodies = [_graphql(READ, {"id": str(i)}) for i in read_ids(data)]
    return Subject(key, label, server, "/graphql", bodies, '"canAdvance"', data.token, **kw)  # type: ignore[arg-type]


def bare_read(key: str, label: str, data: Dataset, server: str) -> Subject:
    bodies = [json.dumps({"id": i}) for i in read_ids(data)]
    return Subject(key, label, server, "/bar", bodies, '"canAdvance"', data.token)


def postgraphile_read(data: Dataset) -> Subject:
    bodies = [_graphql(PG_READ, {"id": i}) for i in read_ids(data)]
    return Subject(
        "postgraphile.read",
        "PostGraphile: the same rows",
        "postgraphile",
        "/graphql",
        bodies,
        '"recordByRecordId":{"id"',
    )


def stageflow_write(
    key: str, label: str, ids: list[int], data: Dataset, *, threads: int = 16
) -> Subject:
    bodies = [_graphql(COMPLETE, {"id": str(i), "value": N}) for i in ids]
    return Subject(
        key, label, "stageflow", "/graphql", bodies, '"StepCompleted"', data.token, threads
    )


def bare_write(
    ids: list[int],
    data: Dataset,
    *,
    key: str = "bare.write",
    label: str = "bare: the same transaction",
    threads: int = 16,
) -> Subject:
    bodies = [
        json.dumps({"id": i, "field": "estimated_budget", "value": N}).replace(f'"{N}"', N)
        for i in ids
    ]
    return Subject(key, label, "bare", "/complete", bodies, '"StepCompleted"', data.token, threads)


def postgraphile_write(
    ids: list[int],
    data: Dataset,
    *,
    key: str = "postgraphile.write",
    label: str = "PostGraphile: one-row update by id",
    threads: int = 16,
) -> Subject:
    bodies = [
        _graphql(
            PG_UPDATE,
            {"id": record_of(data, i), "values": json.dumps({"estimated_budget": N})},
        )
        for i in ids
    ]
    return Subject(
        key,
        label,
        "postgraphile",
        "/graphql",
        bodies,
        '"updateRecordById":{"record":{"id"',
        threads=threads,
    )


def page(key: str, label: str, data: Dataset, server: str, *, count: bool) -> Subject:
    body = _graphql(PAGE, {"process": str(data.sales_id), "stage": "develop", "count": count})
    return Subject(key, label, server, "/graphql", [body], '"canAdvance"', data.token)


FILTERS = ("process", "stage", "status", "search")


def records(key: str, label: str, data: Dataset, server: str, how: str) -> Subject:
    variables: dict[str, object] = {"entity": "opportunity"}
    if how == "process":
        variables["process"] = str(data.enterprise_id)
    elif how == "stage":
        variables |= {"process": str(data.sales_id), "stage": "develop"}
    elif how == "status":
        variables["status"] = "FINISHED"
    else:
        variables["search"] = SEARCH.lower()
    body = _graphql(RECORDS, variables)
    return Subject(key, label, server, "/graphql", [body], '"edges":[{"node"', data.token)


def postgraphile_page(data: Dataset) -> Subject:
    body = _graphql(PG_PAGE, {"process": data.sales_id})
    return Subject(
        "postgraphile.page",
        "PostGraphile: 50 instances with their records",
        "postgraphile",
        "/graphql",
        [body],
        '"recordByRecordId":{"id"',
    )
