"""Text that can be stored on both databases, and numbers within their range."""

import pytest

from server.domain.errors import InvalidValue
from server.domain.fields import Field, FieldType, coerce
from server.domain.text import check_text, unstorable, unstorable_in

STORABLE = ["", "plain", "Zoë, 50 laptops", "😀 paired surrogates are one character", "a\tb\nc"]


@pytest.mark.parametrize("text", STORABLE)
def test_ordinary_text_can_be_stored(text):
    assert unstorable(text) is None
    assert check_text("name", text) == text


@pytest.mark.parametrize(
    ("text", "word"),
    [("a\x00b", "NUL"), ("\ud800", "surrogate"), ("x\udfff", "surrogate"), ("é\x00", "NUL")],
)
def test_nul_and_lone_surrogates_cannot_be_stored(text, word):
    assert word in unstorable(text)
    with pytest.raises(InvalidValue) as refused:
        check_text("name", text)
    assert refused.value.field == "name" and word in refused.value.reason


def test_text_past_its_limit_is_refused():
    assert check_text("name", "x" * 5, limit=5) == "xxxxx"
    with pytest.raises(InvalidValue, match="at most 5 characters"):
        check_text("name", "x" * 6, limit=5)


def test_the_first_unstorable_part_of_json_is_found_with_its_path():
    assert unstorable_in({"a": [1, "b", {"c": None}], "d": 2.5}) is None
    assert unstorable_in({"stages": [{"name": "ok"}, {"name": "a\x00"}]}) == (
        "stages[1].name",
        "NUL characters cannot be stored",
    )
    path, reason = unstorable_in({"stages": [{"k\ud800": 1}]})
    assert path == "stages[0].k\\ud800" and "surrogate" in reason
    assert unstorable_in({"limit": float("inf")}) == ("limit", "numbers are finite")


NUMBER = Field(key="n", label="N", type=FieldType.NUMBER)


@pytest.mark.parametrize("raw", [10**15, -(10**15), 1e300, 10**400, 0.1234567, "1e400", "NaN"])
def test_a_number_out_of_range_is_refused(raw):
    with pytest.raises(InvalidValue) as refused:
        coerce(NUMBER, raw)
    assert refused.value.field == "n"


@pytest.mark.parametrize(
    ("raw", "kept"), [(10**15 - 1, 10**15 - 1), (99.5, 99.5), (0.123456, 0.123456), ("42", 42)]
)
def test_a_number_in_range_is_kept(raw, kept):
    assert coerce(NUMBER, raw) == kept
