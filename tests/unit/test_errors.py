import pytest

from server.domain.errors import (
    DomainError,
    InvalidDefinition,
    InvalidTransition,
    InvalidValue,
    NotFound,
    Problem,
    StageGateBlocked,
    TransitionCode,
    VersionConflict,
)
from server.domain.process import Stage, StageCategory, Step


@pytest.mark.parametrize(
    "error",
    [
        NotFound("instance", 4),
        InvalidValue("amount", "too big"),
        StageGateBlocked(Stage("qualify", "Qualify", StageCategory.QUALIFY), ()),
        InvalidTransition(TransitionCode.LAST_STAGE, "finish instead"),
        VersionConflict("record", 3, current=5, expected=4),
        InvalidDefinition([]),
    ],
)
def test_every_expected_failure_is_a_domain_error(error):
    assert isinstance(error, DomainError)
    assert error.message == str(error)


def test_errors_carry_data():
    missing = (Step("amount", required=True), Step("signed", required=True))
    stage = Stage("qualify", "Qualify", StageCategory.QUALIFY, steps=missing)
    blocked = StageGateBlocked(stage, list(missing))
    assert (blocked.stage, blocked.missing) == (stage, missing)
    assert blocked.message == "stage qualify has required steps not done: amount, signed"

    conflict = VersionConflict("instance", 7, current=5, expected=4)
    assert (conflict.kind, conflict.id, conflict.current, conflict.expected) == (
        "instance",
        "7",
        5,
        4,
    )
    assert conflict.message == "instance 7 is at version 5, not 4"

    missing_record = NotFound("record", 12)
    assert (missing_record.kind, missing_record.id, missing_record.message) == (
        "record",
        "12",
        "record 12 not found",
    )


def test_invalid_definition_lists_every_problem():
    problems = [Problem("key", "key is required"), Problem("stages[0].next", "unknown stage 'x'")]
    error = InvalidDefinition(problems)
    assert error.problems == tuple(problems)
    assert error.message == "key: key is required; stages[0].next: unknown stage 'x'"
