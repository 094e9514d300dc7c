"""schema.graphql is generated; it must match the schema the server serves."""

from __future__ import annotations

from pathlib import Path

from strawberry.printer import print_schema

from server.api.schema import schema

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "schema.graphql"


def test_schema_file_matches_the_served_schema() -> None:
    expected = print_schema(schema) + "\n"
    assert SCHEMA_FILE.read_text(encoding="utf-8") == expected, (
        "schema.graphql is out of date: run `make schema`"
    )


def test_core_operations_are_in_the_schema() -> None:
    text = SCHEMA_FILE.read_text(encoding="utf-8")
    for name in (
        "processes",
        "instances(",
        "startInstance(",
        "completeStep(",
        "advanceStage(",
        "moveToStage(",
        "finishInstance(",
        "abandonInstance(",
        "reactivateInstance(",
        "switchProcess(",
        "createRecord(",
        "updateRecord(",
        "union AdvanceStageResult = StageAdvanced | StageGateBlocked",
    ):
        assert name in text, name
