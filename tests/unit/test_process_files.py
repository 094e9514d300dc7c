"""Broken process files: one call to read them reports every problem, each where it is."""

import pytest

from server.domain.conditions import Compare, Not, Operator
from server.domain.definition import load_process
from server.domain.errors import InvalidDefinition
from server.domain.files import MAX_SIZE, load_text

SOUND = """\
key: deal-flow
name: Deal flow
entity: deal
stages:
  - key: qualify
    name: Qualify
    category: QUALIFY
    steps:
      - field: amount
        required: true
    next: close
    branches:
      - to: approve
        when:
          field: amount
          op: gte
          value: 100000
  - key: approve
    name: Approve
    category: APPROVAL
    next: close
  - key: close
    name: Close
    category: CLOSE
"""

SYNTAX_ERROR = """\
key: deal-flow
name: Deal flow
stages: [qualify
"""

NOT_A_MAPPING = """\
- key: qualify
- key: close
"""

UNKNOWN_TOP_LEVEL_KEY = SOUND.replace("entity: deal\n", "entity: deal\nowner: ann\n")

MISSING_NAME = SOUND.replace("name: Deal flow\n", "")

UNKNOWN_ENTITY = """\
key: deal-flow
name: Deal flow
entity: ticket
stages:
  - key: qualify
    name: Qualify
    category: QUALIFY
    steps:
      - field: colour
    next: closing
    branches:
      - to: close
        when:
          field: colour
          op: eq
          value: red
  - key: close
    name: Close
    category: CLOSE
"""

UNKNOWN_CATEGORY = SOUND.replace("category: APPROVAL", "category: SIGN_OFF")

UNKNOWN_STEP_FIELD = SOUND.replace(
    "field: amount\n        required", "field: budget\n        required"
)

REQUIRED_STEP_WITHOUT_FIELD = SOUND.replace("- field: amount\n        required", "- required")

DUPLICATE_STAGE_KEY = SOUND.replace("key: approve", "key: close").replace(
    "to: approve", "to: close"
)

NEXT_TO_A_MISSING_STAGE = SOUND.replace(
    "    next: close\n  - key: close", "    next: won\n  - key: close"
)

SECOND_DEFAULT = SOUND.replace(
    """      - to: approve
        when:
          field: amount
          op: gte
          value: 100000
""",
    "      - to: approve\n",
)

SECOND_DEFAULT_WHEN_NULL = SOUND.replace(
    """        when:
          field: amount
          op: gte
          value: 100000
""",
    "        when: null\n",
)

BRANCH_TO_A_MISSING_STAGE = SOUND.replace("to: approve", "to: approval")

CONDITION_ON_AN_UNKNOWN_FIELD = SOUND.replace(
    "field: amount\n          op", "field: budget\n          op"
)

CONDITION_TOO_DEEP = SOUND.replace(
    """        when:
          field: amount
          op: gte
          value: 100000
""",
    "        when: " + "{not: " * 9 + "{field: amount, op: is_set}" + "}" * 9 + "\n",
)

CONDITION_AT_THE_DEPTH_LIMIT = CONDITION_TOO_DEEP.replace("{not: ", "", 1).replace("}", "", 1)

TOO_MANY_STAGES = (
    "key: deal-flow\nname: Deal flow\nentity: deal\nstages:\n"
    + "".join(
        f"  - key: s{i}\n    name: S{i}\n    category: QUALIFY\n    next: s{i + 1}\n"
        for i in range(30)
    )
    + "  - key: s30\n    name: S30\n    category: CLOSE\n"
)

UNREACHABLE_STAGE = SOUND.replace(
    "  - key: close\n", "  - key: lost\n    name: Lost\n    category: CLOSE\n  - key: close\n"
)

CYCLE = SOUND.replace(
    "    category: APPROVAL\n    next: close", "    category: APPROVAL\n    next: qualify"
)

NAME_TOO_LONG = SOUND.replace("name: Approve", "name: " + "A" * 101)

ALIAS_BOMB = """\
key: deal-flow
name: &lol Deal flow
entity: deal
description: [*lol, *lol, *lol, *lol, *lol, *lol, *lol, *lol, *lol]
stages: []
"""

OVER_THE_SIZE_LIMIT = SOUND + "# padding\n" * (MAX_SIZE // 10)

SHAPE_AND_RULE_PROBLEMS = """\
key: deal-flow
name: Deal flow
entity: deal
stages:
  - key: qualify
    name: Qualify
    category: WIN
    steps:
      - field: budget
        required: yes please
      - amount
    next: close
  - just a line
  - key: close
    category: CLOSE
    next: won
"""


def problems_of(text: str, deal) -> list[tuple[str, str]]:
    with pytest.raises(InvalidDefinition) as exc:
        load_process(load_text(text, "yaml"), {"deal": deal})
    return [(p.path, p.message) for p in exc.value.problems]


def test_the_sound_file_loads(deal):
    process = load_process(load_text(SOUND, "yaml"), {"deal": deal})
    assert [s.key for s in process.stages] == ["qualify", "approve", "close"]


def test_a_condition_at_the_depth_limit_loads(deal):
    process = load_process(load_text(CONDITION_AT_THE_DEPTH_LIMIT, "yaml"), {"deal": deal})
    when = process.stages[0].branches[0].when
    for _ in range(8):
        assert isinstance(when, Not)
        when = when.item
    assert when == Compare("amount", Operator.IS_SET)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (SYNTAX_ERROR, [("", "not valid YAML: line 4, column 1: expected ',' or ']'")]),
        (NOT_A_MAPPING, [("", "a process definition is a mapping")]),
        (UNKNOWN_TOP_LEVEL_KEY, [("", "unknown keys: owner")]),
        (MISSING_NAME, [("name", "name is required")]),
        (
            UNKNOWN_ENTITY,
            [("entity", "unknown entity 'ticket'"), ("stages[0].next", "unknown stage 'closing'")],
        ),
        (UNKNOWN_CATEGORY, [("stages[1].category", "unknown category 'SIGN_OFF'; use one of")]),
        (UNKNOWN_STEP_FIELD, [("stages[0].steps[0].field", "unknown field 'budget' of deal")]),
        (REQUIRED_STEP_WITHOUT_FIELD, [("stages[0].steps[0]", "a step names a field")]),
        (DUPLICATE_STAGE_KEY, [("stages[2].key", "duplicate stage key 'close'")]),
        (NEXT_TO_A_MISSING_STAGE, [("stages[1].next", "unknown stage 'won'")]),
        (
            SECOND_DEFAULT,
            [
                (
                    "stages[0].branches[0].when",
                    "a stage has one default, its `next`; this branch needs a `when`",
                )
            ],
        ),
        (
            SECOND_DEFAULT_WHEN_NULL,
            [("stages[0].branches[0].when", "a stage has one default, its `next`")],
        ),
        (BRANCH_TO_A_MISSING_STAGE, [("stages[0].branches[0].to", "unknown stage 'approval'")]),
        (
            CONDITION_ON_AN_UNKNOWN_FIELD,
            [("stages[0].branches[0].when", "unknown field 'budget' of deal")],
        ),
        (
            CONDITION_TOO_DEEP,
            [
                (
                    "stages[0].branches[0].when" + ".not" * 8,
                    "groups (all, any, not) nest at most 8 deep",
                ),
            ],
        ),
        (TOO_MANY_STAGES, [("stages", "at most 30 stages, got 31")]),
        (UNREACHABLE_STAGE, [("stages[2]", "stage 'lost' cannot be reached from the first stage")]),
        (CYCLE, [("stages[1]", "cycle: qualify -> approve -> qualify")]),
        (NAME_TOO_LONG, [("stages[1].name", "at most 100 characters")]),
        (ALIAS_BOMB, [("", "line 4, column 15: aliases (*name) are not allowed")]),
        (OVER_THE_SIZE_LIMIT, [("", "the file is larger than 1 MB")]),
    ],
)
def test_a_broken_file_names_each_problem_and_where_it_is(deal, text, expected):
    problems = problems_of(text, deal)
    assert [path for path, _ in problems] == [path for path, _ in expected]
    for (_, message), (_, fragment) in zip(problems, expected, strict=True):
        assert fragment in message


def test_shape_problems_and_broken_rules_are_reported_together(deal):
    assert problems_of(SHAPE_AND_RULE_PROBLEMS, deal) == [
        (
            "stages[0].category",
            "unknown category 'WIN'; use one of QUALIFY, DEVELOP, PROPOSE, CLOSE, IDENTIFY, "
            "RESEARCH, RESOLVE, APPROVAL",
        ),
        ("stages[0].steps[0].field", "unknown field 'budget' of deal"),
        ("stages[0].steps[0].required", "expected true or false"),
        ("stages[0].steps[1]", "a step names a field"),
        ("stages[1]", "a stage is a mapping"),
        ("stages[2].name", "name is required"),
        ("stages[2].next", "unknown stage 'won'"),
    ]
