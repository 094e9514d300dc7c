"""How long a record should stay in a stage, and when a stay is due.

A due is an ISO 8601 duration of weeks, days, hours, minutes and seconds (`P2W`, `P5D`,
`PT4H`, `P1DT12H`, `PT30M`). Years and months are refused: their lengths vary. Counted in
business days, only time from Monday 00:00 to Saturday 00:00 UTC counts: a stay begun on a
weekend starts counting on Monday, and hours run on only within Monday to Friday.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

# A due longer than this is a mistake, not a deadline; it also keeps the arithmetic small.
MAX_DAYS = 366

_DURATION = re.compile(
    r"P(?:(?P<weeks>\d{1,4})W)?(?:(?P<days>\d{1,5})D)?"
    r"(?:T(?:(?P<hours>\d{1,6})H)?(?:(?P<minutes>\d{1,8})M)?(?:(?P<seconds>\d{1,10})S)?)?"
)
# Years, or months before the time part.
_CALENDAR = re.compile(r"P(?:\d+Y|(?:\d+Y)?\d+M)")

MALFORMED = "“Due” must be a duration like P5D or PT4H"
CALENDAR = "“Due” counts weeks, days, hours or minutes, not months or years (their lengths vary)"
ZERO = "“Due” must be longer than zero"
TOO_LONG = f"“Due” must be at most {MAX_DAYS} days"

_DAY = dt.timedelta(days=1)
_SATURDAY = 5


class BadDue(ValueError):
    """A due that cannot be read; `reason` says why in the designer's words, `key` which
    part of a stage's file form it concerns."""

    def __init__(self, reason: str, key: str = "due") -> None:
        super().__init__(reason)
        self.reason = reason
        self.key = key


@dataclass(frozen=True)
class Due:
    """A stage's due: `text` as the definition writes it, `length` what it means."""

    text: str
    length: dt.timedelta
    business_days: bool = False


def parse(text: object, *, business_days: bool = False) -> Due:
    """A due from its ISO 8601 text; raise BadDue saying what is wrong."""
    if not isinstance(text, str):
        raise BadDue(MALFORMED)
    canonical = text.strip().upper()
    match = _DURATION.fullmatch(canonical)
    if match is None or canonical in ("P", "PT") or canonical.endswith("T"):
        raise BadDue(CALENDAR if _CALENDAR.match(canonical) else MALFORMED)
    parts = {name: int(value) for name, value in match.groupdict().items() if value is not None}
    length = dt.timedelta(
        weeks=parts.get("weeks", 0),
        days=parts.get("days", 0),
        hours=parts.get("hours", 0),
        minutes=parts.get("minutes", 0),
        seconds=parts.get("seconds", 0),
    )
    if length <= dt.timedelta(0):
        raise BadDue(ZERO)
    if length > dt.timedelta(days=MAX_DAYS):
        raise BadDue(TOO_LONG)
    return Due(text=canonical, length=length, business_days=business_days)


def from_file(text: object, business_days: object = False) -> Due | None:
    """A stage's due as its file form writes it (`due`, `due_business_days`); None: none."""
    if not isinstance(business_days, bool):
        raise BadDue("expected true or false", key="due_business_days")
    if text is None:
        if business_days:
            raise BadDue("business days count a “Due”; set one first", key="due_business_days")
        return None
    return parse(text, business_days=business_days)


def deadline(entered_at: dt.datetime, due: Due) -> dt.datetime:
    """When a stay begun at `entered_at` is due, in UTC."""
    start = entered_at.astimezone(dt.UTC)
    if not due.business_days:
        return start + due.length
    left = due.length
    at = _weekday_from(start)
    while True:
        midnight = dt.datetime.combine(at.date() + _DAY, dt.time(), tzinfo=dt.UTC)
        if at + left <= midnight:
            return at + left
        left -= midnight - at
        at = _weekday_from(midnight)


def _weekday_from(at: dt.datetime) -> dt.datetime:
    """`at` if it falls on Monday to Friday, else the Monday 00:00 after it."""
    weekday = at.weekday()
    if weekday < _SATURDAY:
        return at
    monday = at.date() + dt.timedelta(days=7 - weekday)
    return dt.datetime.combine(monday, dt.time(), tzinfo=dt.UTC)


def due_at(entered_at: dt.datetime, due: Due | None) -> dt.datetime | None:
    """The deadline of a stay begun at `entered_at` in a stage with `due` (None: no due)."""
    return None if due is None else deadline(entered_at, due)
