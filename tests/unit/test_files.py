"""The text form: canonical YAML and JSON, and the guards on reading a file."""

import pytest

from server.domain.errors import InvalidDefinition, Problem
from server.domain.files import FORMATS, MAX_DEPTH, MAX_SIZE, dump_text, format_of, load_text

DATA = {
    "key": "deal-flow",
    "name": "Ventes Île-de-France ✓",
    "stages": [
        {
            "key": "qualify",
            "guidance": "First line.\nSecond line.\n\n  Indented after a blank line.",
            "steps": [],
            "value": "250000.00",
            "answer": "yes",
            "flag": True,
            "seats": 15,
            "long": "word " * 60 + "end",
        }
    ],
}

DATA_YAML = """\
key: deal-flow
name: Ventes Île-de-France ✓
stages:
  - key: qualify
    guidance: |-
      First line.
      Second line.

        Indented after a blank line.
    steps: []
    value: '250000.00'
    answer: 'yes'
    flag: true
    seats: 15
    long: WORDS end
""".replace("WORDS", ("word " * 60).rstrip())

BILLION_LAUGHS = """\
a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]
"""

DUPLICATE_KEY_YAML = """\
key: qualify
next: develop
next: propose
"""


def problems_of(text: str, fmt: str) -> list[Problem]:
    with pytest.raises(InvalidDefinition) as exc:
        load_text(text, fmt)
    return list(exc.value.problems)


@pytest.mark.parametrize(
    ("filename", "fmt"),
    [
        ("deal-flow.yaml", "yaml"),
        ("deal-flow.yml", "yaml"),
        ("Deal Flow.YAML", "yaml"),
        ("deal-flow.json", "json"),
        ("archive.v2.json", "json"),
    ],
)
def test_format_of_reads_the_suffix(filename, fmt):
    assert format_of(filename) == fmt
    assert fmt in FORMATS


@pytest.mark.parametrize("filename", ["deal-flow.txt", "deal-flow", "yaml", "deal-flow.yaml.bak"])
def test_format_of_refuses_other_suffixes(filename):
    with pytest.raises(InvalidDefinition) as exc:
        format_of(filename)
    assert exc.value.problems == (Problem("", "name the file .yaml, .yml or .json"),)


def test_yaml_is_block_style_in_the_given_key_order():
    assert dump_text(DATA, "yaml") == DATA_YAML


def test_yaml_text_round_trips_byte_for_byte():
    assert load_text(DATA_YAML, "yaml") == DATA
    assert dump_text(load_text(DATA_YAML, "yaml"), "yaml") == DATA_YAML


@pytest.mark.parametrize(
    "text",
    ["ends with a newline\n", "ends with two\n\n", "trailing space \nnext", " leading\nspace"],
)
def test_text_with_line_breaks_round_trips(text):
    dumped = dump_text({"guidance": text, "after": 1}, "yaml")
    assert load_text(dumped, "yaml") == {"guidance": text, "after": 1}
    assert dumped.endswith("after: 1\n")


def test_json_is_indented_keeps_unicode_and_round_trips():
    text = dump_text(DATA, "json")
    assert text.startswith('{\n  "key": "deal-flow",\n  "name": "Ventes Île-de-France ✓",\n')
    assert text.endswith("}\n")
    assert load_text(text, "json") == DATA


@pytest.mark.parametrize(
    ("text", "fmt", "message"),
    [
        (
            "key: deal-flow\nname: [Deal flow\n",
            "yaml",
            "not valid YAML: line 3, column 1: expected ',' or ']', but got '<stream end>'",
        ),
        (
            "key: deal-flow\n  name: Deal flow\n",
            "yaml",
            "not valid YAML: line 2, column 7: mapping values are not allowed here",
        ),
        (
            "key: a\n---\nkey: b\n",
            "yaml",
            "not valid YAML: line 2, column 1: but found another document",
        ),
        ("key: a\x00\n", "yaml", "not valid YAML: unacceptable character #x0000"),
        (
            '{"key": "deal-flow",}',
            "json",
            "not valid JSON: line 1, column 21: Expecting property name enclosed in double quotes",
        ),
        ("", "json", "not valid JSON: line 1, column 1: Expecting value"),
        (BILLION_LAUGHS, "yaml", "line 2, column 8: aliases (*name) are not allowed"),
        (DUPLICATE_KEY_YAML, "yaml", "line 3, column 1: duplicate key 'next'"),
        ('{"next": "develop", "next": "propose"}', "json", "duplicate key 'next'"),
        ("value: 2024-02-30\n", "yaml", "line 1, column 8: day is out of range for month"),
        ("value: " + "9" * 5000, "yaml", "line 1, column 8: Exceeds the limit (4300 digits)"),
        ("!!python/object/apply:os.system [ls]", "yaml", "not valid YAML: line 1, column 1:"),
        ("key: deal-flow", "toml", "unknown format 'toml'; use yaml or json"),
    ],
)
def test_broken_text_is_one_problem_saying_where(text, fmt, message):
    problems = problems_of(text, fmt)
    assert [p.path for p in problems] == [""]
    assert problems[0].message.startswith(message)


def test_an_empty_yaml_file_reads_as_nothing():
    assert load_text("", "yaml") is None
    assert load_text("\ufeff{}", "json") == {}


def test_a_file_of_the_size_limit_is_read_and_one_byte_more_is_refused():
    head = "key: deal-flow\n# "
    text = head + "x" * (MAX_SIZE - len(head))
    assert load_text(text, "yaml") == {"key": "deal-flow"}
    assert problems_of(text + "x", "yaml") == [Problem("", "the file is larger than 1 MB")]


def test_the_size_limit_counts_bytes_not_characters():
    text = "# " + "é" * (MAX_SIZE // 2)
    assert len(text) < MAX_SIZE
    assert problems_of(text, "yaml") == [Problem("", "the file is larger than 1 MB")]


@pytest.mark.parametrize("fmt", FORMATS)
def test_nesting_up_to_the_limit_is_read_and_one_level_more_is_refused(fmt):
    def nested(depth: int) -> str:
        return "[" * depth + "1" + "]" * depth

    assert str(load_text(nested(MAX_DEPTH), fmt)).count("[") == MAX_DEPTH
    [problem] = problems_of(nested(MAX_DEPTH + 1), fmt)
    assert problem.message.endswith(f"nested more than {MAX_DEPTH} levels deep")


@pytest.mark.parametrize("fmt", FORMATS)
def test_nesting_far_past_the_stack_is_refused_without_crashing(fmt):
    [problem] = problems_of("[" * 200_000, fmt)
    assert problem.message.endswith(f"nested more than {MAX_DEPTH} levels deep")
