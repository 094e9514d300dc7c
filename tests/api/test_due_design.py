"""Designing stage dues: set, cleared and refused through the design mutations, kept by
publishing, and given back by export as imported."""

from __future__ import annotations

import copy
from typing import Any

from test_design import CREATE, EXPORT, IMPORT, PUBLISH, TWO_STAGES, UPDATE

STAGES = "query($id: ID!) { process(id: $id) { version stages { key due dueBusinessDays } } }"


def _with_due(**dues: dict[str, Any]) -> dict[str, Any]:
    definition = copy.deepcopy(TWO_STAGES)
    for stage in definition["stages"]:
        stage.update(dues.get(stage["key"], {}))
    return definition


async def test_a_designer_sets_and_clears_a_stage_due(gql: Any) -> None:
    definition = _with_due(qualify={"due": "P5D", "due_business_days": True})
    draft = (await gql.execute(CREATE, {"input": {"definition": definition}}))["createProcess"]
    assert draft["draft"]["problems"] == []
    pid = draft["draft"]["processId"]
    published = (await gql.execute(PUBLISH, {"input": {"processId": pid}}))["publishProcess"]
    assert published["__typename"] == "ProcessPublished", published
    stages = (await gql.execute(STAGES, {"id": pid}))["process"]["stages"]
    assert stages == [
        {"key": "qualify", "due": "P5D", "dueBusinessDays": True},
        {"key": "close", "due": None, "dueBusinessDays": False},
    ]

    changed = _with_due(close={"due": "PT4H"})  # Qualify's due cleared, Close's set
    saved = await gql.execute(UPDATE, {"input": {"processId": pid, "definition": changed}})
    assert saved["updateProcess"]["__typename"] == "ProcessDraftSaved", saved
    await gql.execute(PUBLISH, {"input": {"processId": pid}})
    shown = (await gql.execute(STAGES, {"id": pid}))["process"]
    assert shown["version"] == 2
    assert shown["stages"] == [
        {"key": "qualify", "due": None, "dueBusinessDays": False},
        {"key": "close", "due": "PT4H", "dueBusinessDays": False},
    ]
    assert (await gql.execute(EXPORT, {"id": pid, "v": 1}))["exportProcess"] == definition
    assert (await gql.execute(EXPORT, {"id": pid}))["exportProcess"] == changed


async def test_a_bad_due_is_told_in_the_designers_words_and_blocks_publishing(gql: Any) -> None:
    definition = _with_due(qualify={"due": "P1M"}, close={"due": "soon"})
    draft = (await gql.execute(CREATE, {"input": {"definition": definition}}))["createProcess"]
    problems = {p["path"]: p["message"] for p in draft["draft"]["problems"]}
    assert problems == {
        "stages[0].due": "“Due” counts weeks, days, hours or minutes, not months or years "
        "(their lengths vary)",
        "stages[1].due": "“Due” must be a duration like P5D or PT4H",
    }
    pid = draft["draft"]["processId"]
    refused = (await gql.execute(PUBLISH, {"input": {"processId": pid}}))["publishProcess"]
    assert refused["__typename"] == "InvalidDefinition"
    assert {p["path"] for p in refused["problems"]} == set(problems)

    zero = _with_due(qualify={"due": "P0D"})
    imported = await gql.execute(IMPORT, {"input": {"definition": zero, "publish": True}})
    assert imported["importProcess"]["__typename"] == "InvalidDefinition"
    assert imported["importProcess"]["problems"] == [
        {"path": "stages[0].due", "message": "“Due” must be longer than zero"}
    ]


async def test_an_imported_due_is_exported_as_it_was(gql: Any) -> None:
    definition = _with_due(
        qualify={"due": "P1DT12H", "due_business_days": True}, close={"due": "P2W"}
    )
    definition["key"] = "timed-sale"
    done = await gql.execute(IMPORT, {"input": {"definition": definition, "publish": True}})
    assert done["importProcess"]["__typename"] == "ProcessImported", done
    pid = done["importProcess"]["process"]["id"]
    assert (await gql.execute(EXPORT, {"id": pid}))["exportProcess"] == definition
