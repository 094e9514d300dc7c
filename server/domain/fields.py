"""Entities, their typed fields, and how raw values become field values.

Values are kept in a JSON-friendly canonical form: text, choice and user as
strings, number as int or float, money as a decimal string with two places,
date as an ISO `YYYY-MM-DD` string, boolean as a bool, lookup as the id (an int) of a record
of the field's target entity. `None` means unset. Whether a lookup's record exists, is of its
target and may be seen is a question for the database (server/services/lookups.py).

Numbers and money stay below 10^15 in magnitude, where a double still holds every whole
number and every cent exactly; a number has at most 6 decimal places, money 2. A number or
money field may declare a minimum and a maximum, which every value written must respect.

A refusal's reason is read next to the field's label ("Estimated budget must be at least 0"),
so it never repeats the field's key.
"""

from __future__ import annotations

import datetime as dt
import enum
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from server.domain.errors import InvalidValue
from server.domain.text import check_text

MAX_TEXT = 4000
MAX_SHORT_TEXT = 200
MAX_MONEY = Decimal("1e15")
MAX_NUMBER = 10**15
NUMBER_DECIMALS = 6
# Record ids are 32-bit integers.
MAX_RECORD_ID = 2**31 - 1


class FieldType(enum.Enum):
    TEXT = "text"
    NUMBER = "number"
    MONEY = "money"
    DATE = "date"
    BOOLEAN = "boolean"
    CHOICE = "choice"
    USER = "user"
    LOOKUP = "lookup"


ORDERED_TYPES = frozenset({FieldType.NUMBER, FieldType.MONEY, FieldType.DATE})
BOUNDED_TYPES = frozenset({FieldType.NUMBER, FieldType.MONEY})


@dataclass(frozen=True)
class Field:
    key: str
    label: str
    type: FieldType
    choices: tuple[str, ...] = ()
    # Bounds of a number or money field, inclusive; None: unbounded.
    minimum: Decimal | None = None
    maximum: Decimal | None = None
    # The currency a money field's amounts are in (ISO 4217, "EUR"); None: not said.
    currency: str | None = None
    # The entity a lookup field's records are of (its key); None for other types.
    target: str | None = None

    @property
    def max_length(self) -> int | None:
        """The most characters a text value may have; None for other types."""
        return MAX_TEXT if self.type is FieldType.TEXT else None


@dataclass(frozen=True)
class Entity:
    key: str
    name: str
    fields: tuple[Field, ...]
    _by_key: Mapping[str, Field] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_key", {f.key: f for f in self.fields})

    def field(self, key: str) -> Field | None:
        return self._by_key.get(key)


def coerce(field: Field, raw: Any) -> Any:
    """Return `raw` in the canonical form of `field`, or raise InvalidValue."""
    if raw is None:
        return None
    coercer = _COERCERS[field.type]
    return coercer(field, raw)


def coerce_values(entity: Entity, raw: Mapping[str, Any]) -> dict[str, Any]:
    """The values to write, coerced and within their fields' bounds; unknown keys are refused."""
    result: dict[str, Any] = {}
    for key, value in raw.items():
        f = entity.field(key)
        if f is None:
            raise InvalidValue(key[:100], f"is not a field of {entity.name}")
        result[key] = check_bounds(f, coerce(f, value))
    return result


def check_bounds(field: Field, value: Any) -> Any:
    """`value` (canonical) if it lies within the field's bounds; else InvalidValue."""
    if value is None or (field.minimum is None and field.maximum is None):
        return value
    amount = Decimal(str(value))
    if field.minimum is not None and amount < field.minimum:
        raise InvalidValue(field.key, f"must be at least {decimal_text(field.minimum)}")
    if field.maximum is not None and amount > field.maximum:
        raise InvalidValue(field.key, f"must be at most {decimal_text(field.maximum)}")
    return value


def parse_bound(field_type: FieldType, raw: Any) -> Decimal:
    """A bound as declared (a number, or decimal text), checked as a value of the type."""
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        raise InvalidValue("bound", "is not a number")
    probe = Field("bound", "", field_type)
    try:
        value = coerce(probe, raw)
    except InvalidValue:
        raise InvalidValue("bound", "is not a number within the field's range") from None
    return Decimal(str(value))


def decimal_text(value: Decimal) -> str:
    """A decimal as plain text, without an exponent or trailing zeros: 0, 1000, 12.5."""
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "") else text


def is_set(value: Any) -> bool:
    """Whether a canonical value counts as filled in."""
    if value is None:
        return False
    return not (isinstance(value, str) and not value.strip())


def sort_key(field_type: FieldType, value: Any) -> Any:
    """A value comparable with `<` for ordered types."""
    if field_type is FieldType.MONEY:
        return Decimal(value)
    return value


def _text(field: Field, raw: Any, limit: int = MAX_TEXT) -> str:
    if not isinstance(raw, str):
        raise InvalidValue(field.key, f"must be text, not {_kind(raw)}")
    if len(raw) > limit:
        raise InvalidValue(field.key, f"is longer than {limit} characters")
    return check_text(field.key, raw)


def _number(field: Field, raw: Any) -> int | float:
    value: Any = raw
    if isinstance(raw, str):
        try:
            value = float(raw.strip()) if raw.strip() else None
        except ValueError:
            value = None
        if value is None:
            raise InvalidValue(field.key, "is not a number")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidValue(field.key, f"must be a number, not {_kind(raw)}")
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidValue(field.key, "is not a finite number")
    if not -MAX_NUMBER < value < MAX_NUMBER:
        raise InvalidValue(field.key, "is too large: numbers stay below 10^15")
    if isinstance(value, float):
        if value.is_integer():
            return int(value)
        exponent = Decimal(repr(value)).as_tuple().exponent
        if isinstance(exponent, int) and -exponent > NUMBER_DECIMALS:
            raise InvalidValue(field.key, f"has more than {NUMBER_DECIMALS} decimal places")
    return value


def _money(field: Field, raw: Any) -> str:
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        raise InvalidValue(field.key, "is not a valid amount")
    try:
        amount = Decimal(str(raw).strip())
    except InvalidOperation:
        raise InvalidValue(field.key, "is not a valid amount") from None
    # adjusted() first: abs() of a huge exponent overflows the decimal context.
    if not amount.is_finite():
        raise InvalidValue(field.key, "is not a valid amount")
    if amount.adjusted() >= 15 or abs(amount) >= MAX_MONEY:
        raise InvalidValue(field.key, "is too large: amounts stay below 10^15")
    if amount != amount.quantize(Decimal("0.01")):
        raise InvalidValue(field.key, "has more than two decimal places")
    return str(amount.quantize(Decimal("0.01")))


def _date(field: Field, raw: Any) -> str:
    # YAML reads an unquoted 2024-06-30 as a date.
    if isinstance(raw, dt.date) and not isinstance(raw, dt.datetime):
        return raw.isoformat()
    if not isinstance(raw, str):
        raise InvalidValue(field.key, "is not a date (YYYY-MM-DD)")
    try:
        return dt.date.fromisoformat(raw.strip()).isoformat()
    except ValueError:
        raise InvalidValue(field.key, "is not a date (YYYY-MM-DD)") from None


def _boolean(field: Field, raw: Any) -> bool:
    if not isinstance(raw, bool):
        raise InvalidValue(field.key, "must be yes or no")
    return raw


def _choice(field: Field, raw: Any) -> str:
    if not isinstance(raw, str) or raw not in field.choices:
        options = ", ".join(field.choices)
        raise InvalidValue(field.key, f"must be one of: {options}")
    return raw


def _user(field: Field, raw: Any) -> str:
    value = _text(field, raw, MAX_SHORT_TEXT).strip()
    if not value:
        raise InvalidValue(field.key, "needs a user name")
    return value


def _lookup(field: Field, raw: Any) -> int:
    # A GraphQL ID arrives as text; the id is read from its digits only (no sign, no space).
    if isinstance(raw, str) and raw.isascii() and raw.isdigit() and len(raw) <= 10:
        raw = int(raw)
    if isinstance(raw, bool) or not isinstance(raw, int) or not 0 < raw <= MAX_RECORD_ID:
        raise InvalidValue(field.key, "must be a record id")
    return raw


def _kind(raw: Any) -> str:
    if isinstance(raw, bool):
        return "a boolean"
    if isinstance(raw, int | float):
        return "a number"
    if isinstance(raw, str):
        return "text"
    if isinstance(raw, list):
        return "a list"
    if isinstance(raw, dict):
        return "an object"
    return type(raw).__name__


_COERCERS: dict[FieldType, Callable[[Field, Any], Any]] = {
    FieldType.TEXT: _text,
    FieldType.NUMBER: _number,
    FieldType.MONEY: _money,
    FieldType.DATE: _date,
    FieldType.BOOLEAN: _boolean,
    FieldType.CHOICE: _choice,
    FieldType.USER: _user,
    FieldType.LOOKUP: _lookup,
}
