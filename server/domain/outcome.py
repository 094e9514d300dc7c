"""How a finished instance ended: the outcomes a process declares, and the choice of one.

A process may declare outcomes (Won, Lost); finishing one of its instances then names one,
with a reason when the outcome asks for it. A process that declares none finishes without.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from server.domain.errors import InvalidOutcome
from server.domain.text import check_text

MAX_OUTCOMES = 10
MAX_LABEL = 100
MAX_REASON = 500


@dataclass(frozen=True)
class Outcome:
    key: str
    label: str
    reason_required: bool = False


def choose(
    outcomes: Sequence[Outcome], key: str | None, reason: str | None
) -> tuple[Outcome | None, str | None]:
    """The outcome named by `key` and the reason given (trimmed; blank is none), or
    InvalidOutcome: the process declares outcomes and none or an unknown one is named, the
    one named asks for a reason that is missing, or it declares none and one is named."""
    reason = check_text("reason", reason.strip(), limit=MAX_REASON) if reason else None
    reason = reason or None
    if not outcomes:
        if key is not None:
            raise InvalidOutcome("this process declares no outcomes; finish without one", ())
        return None, reason
    chosen = next((o for o in outcomes if o.key == key), None)
    names = ", ".join(o.key for o in outcomes)
    if chosen is None:
        said = "an outcome is required" if key is None else "unknown outcome"
        raise InvalidOutcome(f"{said}; choose one of: {names}", outcomes)
    if chosen.reason_required and reason is None:
        raise InvalidOutcome(f"{chosen.label} needs a reason", outcomes, reason_required=True)
    return chosen, reason
