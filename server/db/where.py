"""Hand-written statements' conditions, and the sums over the counts triggers keep."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Where:
    """Conditions and their parameters, written for one database."""

    postgres: bool
    conditions: list[str] = field(default_factory=list)
    params: list[Any] = field(default_factory=list)

    def value(self, value: Any) -> str:
        self.params.append(value)
        return f"${len(self.params)}" if self.postgres else "?"

    def values(self, values: set[int]) -> str:
        """A list for IN; NULL for none, which no row is IN."""
        return ", ".join(self.value(v) for v in sorted(values)) or "NULL"

    def sql(self) -> str:
        return " AND ".join(self.conditions) or "1 = 1"


def bucket_sum(
    table: str, *, postgres: bool, equal: Mapping[str, Any], processes: set[int] | None
) -> tuple[str, list[Any]]:
    """How many a count table (`shown_count`, `instance_count`: migration 0007) holds in
    the buckets whose columns equal `equal`, of the processes given (None: all): a sum over
    a few rows, however many rows were counted into them."""
    where = Where(postgres=postgres)
    for column, value in equal.items():
        where.conditions.append(f'"{column}" = {where.value(value)}')
    if processes is not None:
        where.conditions.append(f'"process_id" IN ({where.values(processes)})')
    return f'SELECT COALESCE(SUM("n"), 0) AS "n" FROM "{table}" WHERE {where.sql()}', where.params
