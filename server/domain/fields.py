"""Entities, their typed fields, and how raw values become field values.

Values are kept in a JSON-friendly canonical form: text, choice and user as
strings, number as int or float, money as a decimal string with two places,
date as an ISO `YYYY-MM-DD` string, boolean as a bool. `None` means unset.

Numbers and money stay below 10^15 in magnitude, where a double still holds every whole
number and every cent exactly; a number has at most 6 decimal places, money 2.
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


class FieldType(enum.Enum):
    TEXT = "text"
    NUMBER = "number"
    MONEY = "money"
    DATE = "date"
    BOOLEAN = "boolean"
    CHOICE = "choice"
    USER = "user"


ORDERED_TYPES = frozenset({FieldType.NUMBER, FieldType.MONEY, FieldType.DATE})


@dataclass(frozen=True)
class Field:
    key: str
    label: str
    type: FieldType
    choices: tuple[str, ...] = ()


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
    """Coerce a mapping of field keys to values; unknown keys are refused."""
    result: dict[str, Any] = {}
    for key, value in raw.items():
        f = entity.field(key)
        if f is None:
            raise InvalidValue(key[:100], f"{entity.key} has no field {key[:100]!r}")
        result[key] = coerce(f, value)
    return result


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
        raise InvalidValue(field.key, f"expected text, got {_kind(raw)}")
    if len(raw) > limit:
        raise InvalidValue(field.key, f"text longer than {limit} characters")
    return check_text(field.key, raw)


def _number(field: Field, raw: Any) -> int | float:
    value: Any = raw
    if isinstance(raw, str):
        try:
            value = float(raw.strip()) if raw.strip() else None
        except ValueError:
            value = None
        if value is None:
            raise InvalidValue(field.key, f"expected a number, got {raw[:40]!r}")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidValue(field.key, f"expected a number, got {_kind(raw)}")
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidValue(field.key, "expected a finite number")
    if not -MAX_NUMBER < value < MAX_NUMBER:
        raise InvalidValue(field.key, "number out of range: its magnitude stays below 10^15")
    if isinstance(value, float):
        if value.is_integer():
            return int(value)
        exponent = Decimal(repr(value)).as_tuple().exponent
        if isinstance(exponent, int) and -exponent > NUMBER_DECIMALS:
            raise InvalidValue(field.key, f"more than {NUMBER_DECIMALS} decimal places")
    return value


def _money(field: Field, raw: Any) -> str:
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        raise InvalidValue(field.key, f"expected an amount of money, got {_kind(raw)}")
    try:
        amount = Decimal(str(raw).strip())
    except InvalidOperation:
        raise InvalidValue(
            field.key, f"expected an amount of money, got {str(raw)[:40]!r}"
        ) from None
    # adjusted() first: abs() of a huge exponent overflows the decimal context.
    if not amount.is_finite() or amount.adjusted() >= 15 or abs(amount) >= MAX_MONEY:
        raise InvalidValue(field.key, "amount out of range")
    if amount != amount.quantize(Decimal("0.01")):
        raise InvalidValue(field.key, "amount has more than two decimal places")
    return str(amount.quantize(Decimal("0.01")))


def _date(field: Field, raw: Any) -> str:
    # YAML reads an unquoted 2024-06-30 as a date.
    if isinstance(raw, dt.date) and not isinstance(raw, dt.datetime):
        return raw.isoformat()
    if not isinstance(raw, str):
        raise InvalidValue(field.key, f"expected a date YYYY-MM-DD, got {_kind(raw)}")
    try:
        return dt.date.fromisoformat(raw.strip()).isoformat()
    except ValueError:
        raise InvalidValue(field.key, f"expected a date YYYY-MM-DD, got {raw[:40]!r}") from None


def _boolean(field: Field, raw: Any) -> bool:
    if not isinstance(raw, bool):
        raise InvalidValue(field.key, f"expected true or false, got {_kind(raw)}")
    return raw


def _choice(field: Field, raw: Any) -> str:
    if not isinstance(raw, str) or raw not in field.choices:
        options = ", ".join(field.choices)
        raise InvalidValue(field.key, f"expected one of: {options}")
    return raw


def _user(field: Field, raw: Any) -> str:
    value = _text(field, raw, MAX_SHORT_TEXT).strip()
    if not value:
        raise InvalidValue(field.key, "expected a user name")
    return value


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
}
