"""Sums kept as a table of sums per key plus a table of deltas not yet folded into them.

A change appends a delta (by a trigger, in the change's own transaction) instead of adding
into the sum of its key: appending never waits on another change, where adding would
queue every change of one key behind the one before it. A reader adds the sums and the
deltas of the keys it wants in one statement, so it is exact whether a fold has run or
not. `fold` moves the deltas into the sums, a batch per transaction; each worker does so
every few seconds (server/services/folding.py):

- on PostgreSQL a batch is deleted from the deltas and added into the sums in one
  statement, so a delta is added exactly when it is deleted; a delta appended by a change
  that has not committed yet is neither, and waits for the next fold. Folds on several
  workers take batches that do not overlap (SKIP LOCKED);
- on SQLite a fold is one transaction, which no other writer interleaves.

A fold whose commit went unanswered is as good as one that did not run: the sums plus the
deltas are the same either way.
"""

from __future__ import annotations

from dataclasses import dataclass

from tortoise.connection import get_connection

from server.db import transaction

BATCH = 5000


@dataclass(frozen=True)
class Folded:
    sums: str
    deltas: str
    key: tuple[str, ...]
    amounts: tuple[str, ...]

    def add_into_sums(self, source: str) -> str:
        """An INSERT adding the deltas of `source` (a table, or one with a WHERE) into the
        sums, key by key, the keys in order."""
        keys = ", ".join(self.key)
        summed = ", ".join(f"SUM({a})" for a in self.amounts)
        updated = ", ".join(f"{a} = {self.sums}.{a} + excluded.{a}" for a in self.amounts)
        return (
            f"INSERT INTO {self.sums} ({keys}, {', '.join(self.amounts)}) SELECT {keys},"
            f" {summed} FROM {source} GROUP BY {keys} ORDER BY {keys}"
            f" ON CONFLICT ({keys}) DO UPDATE SET {updated}"
        )

    def fold_postgres(self) -> str:
        """Take up to $1 deltas no other fold holds, add them into the sums; how many (n)."""
        columns = ", ".join(f"d.{c}" for c in self.key + self.amounts)
        return (
            f"WITH batch AS (SELECT id FROM {self.deltas} ORDER BY id LIMIT $1"
            " FOR UPDATE SKIP LOCKED),"
            f" taken AS (DELETE FROM {self.deltas} d USING batch b WHERE d.id = b.id"
            f" RETURNING {columns}),"
            f" added AS ({self.add_into_sums('taken')} RETURNING 1)"
            " SELECT COUNT(*) AS n FROM taken"
        )

    def fold_sqlite(self) -> list[str]:
        """Add the first ? deltas into the sums, then delete them (one transaction)."""
        batch = f"id <= (SELECT MAX(id) FROM (SELECT id FROM {self.deltas} ORDER BY id LIMIT ?))"
        return [
            self.add_into_sums(f"{self.deltas} WHERE {batch}"),
            f"DELETE FROM {self.deltas} WHERE {batch}",
        ]

    def cleared(self, scope: str) -> list[str]:
        """Statements removing the sums and deltas matching `scope`, to take them afresh."""
        return [
            f"DELETE FROM {self.deltas} WHERE {scope}",
            f"DELETE FROM {self.sums} WHERE {scope}",
        ]

    def emptied(self) -> str:
        """Remove the keys whose sums came to nought (the first amount is the count)."""
        return f"DELETE FROM {self.sums} WHERE {self.amounts[0]} = 0"

    async def fold_batch(self, batch: int) -> int:
        conn = get_connection("default")
        if conn.capabilities.dialect == "postgres":
            rows = await conn.execute_query_dict(self.fold_postgres(), [batch])
            taken = int(rows[0]["n"])
        else:
            # Writing first: a transaction that read before it writes can meet another
            # worker's write and have to give up rather than wait.
            for sql in self.fold_sqlite():
                await conn.execute_query(sql, [batch])
            found = await conn.execute_query_dict("SELECT changes() AS n")
            taken = int(found[0]["n"])
        if taken:
            await conn.execute_query(self.emptied())
        return taken

    async def fold(self, *, batch: int = BATCH) -> int:
        """Move the deltas into the sums, a batch per transaction, until fewer than a
        batch were left; how many were moved. With no delta, nothing is written."""

        async def landed(_: int) -> bool:
            return True

        moved = 0
        while await get_connection("default").execute_query_dict(
            f"SELECT 1 AS found FROM {self.deltas} LIMIT 1"
        ):
            taken = await transaction.run(lambda: self.fold_batch(batch), landed=landed)
            moved += taken
            if taken < batch:
                break
        return moved
