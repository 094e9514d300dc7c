"""Times spent in stages, kept by triggers (migration 0017), so that a percentile over
millions of stays reads a few thousand counts and then the few rows at the ranks it needs.

`stage_time` holds one row per ended stay (`what` = 'stay', its `n`), one per instance
and stage it has left (`what` = 'inst', `n` = 0): the seconds of all its ended stays there
added up, at the end of the last of them; and one per finished instance (`what` =
'cycle', stage ''): its seconds from start to finish, at its finish. Each row carries the keys a figure is narrowed
by (process, version, owner) and the bucket its seconds fall in: 0 under one second, then
k for [1.1^(k-1), 1.1^k), so that buckets follow the order of the seconds.

`stage_time_month` counts those rows per (process, version, owner, month of the end, what,
stage, bucket), with their seconds added up. A figure over whole months sums these counts;
the parts of months at a range's ends count the rows (server/db/insights.py). A percentile
then knows which bucket holds each rank it needs and at what place, and reads that one row
from an index ordered by (bucket, seconds): the figure is exact, as if all were sorted.

A stay is only ever ended once and never changed after, so a trigger adds its row, moves
its instance's total to the new seconds and month, and adds the counts; an instance that
finishes gains its cycle row, one reactivated loses it; an instance migrated to another
version, or a record given to another owner, moves its rows and their counts from the
old key to the new.

The triggers of migration 0017 run these statements as they stood when it was written;
changing one here changes what `recount` writes, so a change of meaning needs a migration
that replaces the triggers too.
"""

from __future__ import annotations

ROW_KEY = ("instance_id", "what", "stage", "n")
KEY = ("process_id", "process_version", "owner", "month", "what", "stage", "bucket")


def tables(postgres: bool) -> list[str]:
    at = "TIMESTAMPTZ" if postgres else "TIMESTAMP"
    seconds = "NUMERIC(20, 3)" if postgres else "REAL"
    return [
        'CREATE TABLE "stage_time" ('
        '"instance_id" INT NOT NULL, "what" VARCHAR(8) NOT NULL, "stage" VARCHAR(64) NOT NULL,'
        ' "n" INT NOT NULL, "process_id" INT NOT NULL, "process_version" INT NOT NULL,'
        f' "owner" VARCHAR(200) NOT NULL, "exited_at" {at} NOT NULL,'
        f' "seconds" {seconds} NOT NULL, "bucket" INT NOT NULL,'
        ' PRIMARY KEY ("instance_id", "what", "stage", "n"))',
        # The parts of months at a range's ends: the rows ended in them.
        'CREATE INDEX "stage_time_ended" ON "stage_time" ("process_id", "what", "exited_at",'
        ' "stage", "bucket", "seconds", "owner", "process_version")',
        # A rank's row: its bucket in order of seconds.
        'CREATE INDEX "stage_time_ranked" ON "stage_time" ("process_id", "what", "stage",'
        ' "bucket", "seconds", "exited_at", "owner", "process_version")',
        'CREATE TABLE "stage_time_month" ('
        '"process_id" INT NOT NULL, "process_version" INT NOT NULL,'
        ' "owner" VARCHAR(200) NOT NULL, "month" VARCHAR(7) NOT NULL,'
        ' "what" VARCHAR(8) NOT NULL, "stage" VARCHAR(64) NOT NULL, "bucket" INT NOT NULL,'
        f' "n" BIGINT NOT NULL, "seconds" {"NUMERIC(24, 3)" if postgres else "REAL"} NOT NULL,'
        ' PRIMARY KEY ("process_id", "what", "month", "process_version", "owner", "stage",'
        ' "bucket"))',
    ]


def seconds(postgres: bool, start: str, end: str) -> str:
    """Seconds from `start` to `end`, to the thousandth (as the insights give them)."""
    if postgres:
        return f"ROUND(CAST(EXTRACT(EPOCH FROM ({end} - {start})) AS NUMERIC), 3)"
    return f"ROUND((julianday({end}) - julianday({start})) * 86400.0, 3)"


def bucket(s: str) -> str:
    """The bucket of `s` seconds."""
    return f"(CASE WHEN {s} < 1 THEN 0 ELSE 1 + CAST(FLOOR(LN({s}) / LN(1.1)) AS INT) END)"


def month(postgres: bool, at: str) -> str:
    """The UTC month of a time, as YYYY-MM."""
    if postgres:
        return f"to_char(({at}) AT TIME ZONE 'UTC', 'YYYY-MM')"
    return f"substr(date({at}), 1, 7)"


def _later(postgres: bool, a: str, b: str) -> str:
    return f"GREATEST({a}, {b})" if postgres else f"MAX({a}, {b})"


_ROW_COLUMNS = ", ".join((*ROW_KEY, "process_id", "process_version", "owner", "exited_at",
                          "seconds", "bucket"))  # fmt: skip
_KEY_COLUMNS = ", ".join(KEY)
_INSTANCE = "instance i JOIN record r ON r.id = i.record_id WHERE i.id = NEW.instance_id"
_TOTAL = (
    "stage_time t ON t.instance_id = NEW.instance_id AND t.what = 'inst' AND t.stage = NEW.stage"
)


def add(parts: list[str]) -> str:
    """One statement adding each SELECT's (key, n, seconds) to `stage_time_month`: summed
    per key first, a key whose sum is nought left alone, keys written in order."""
    body = " UNION ALL ".join(f"SELECT {_KEY_COLUMNS}, n, seconds FROM ({sql}) p" for sql in parts)
    return (
        f"INSERT INTO stage_time_month ({_KEY_COLUMNS}, n, seconds)"
        f" SELECT {_KEY_COLUMNS}, SUM(n), SUM(seconds) FROM ({body}) d WHERE 1 = 1"
        f" GROUP BY {_KEY_COLUMNS} HAVING SUM(n) <> 0 OR SUM(seconds) <> 0"
        f" ORDER BY {_KEY_COLUMNS} ON CONFLICT ({_KEY_COLUMNS}) DO UPDATE SET"
        " n = stage_time_month.n + excluded.n,"
        " seconds = stage_time_month.seconds + excluded.seconds"
    )


def _counted(postgres: bool, *, source: str, where: str, sign: int, owner: str = "t.owner",
             version: str = "t.process_version") -> str:  # fmt: skip
    """The counts of the rows `t` of `source` matching `where`, under `owner` and `version`,
    times `sign`."""
    values = ("t.process_id", version, owner, month(postgres, "t.exited_at"), "t.what",
              "t.stage", "t.bucket")  # fmt: skip
    picked = ", ".join(f"{v} AS {k}" for v, k in zip(values, KEY, strict=True))
    return (
        f"SELECT {picked}, {sign} * COUNT(*) AS n, {sign} * SUM(t.seconds) AS seconds"
        f" FROM {source} WHERE {where} GROUP BY {', '.join(values)}"
    )


def stay_ended(postgres: bool) -> list[str]:
    """Statements run when the stay `NEW` has ended: the counts of its row and of its
    instance's total in the stage, moved from what the total was (read before it changes),
    then the rows."""
    s = seconds(postgres, "NEW.entered_at", "NEW.exited_at")
    month_of = month(postgres, "NEW.exited_at")
    total = f"({s} + COALESCE(t.seconds, 0))"
    ended = _later(postgres, "COALESCE(t.exited_at, NEW.exited_at)", "NEW.exited_at")
    keys = "i.process_id AS process_id, i.process_version AS process_version, r.owner AS owner"
    parts = [
        f"SELECT {keys}, {month_of} AS month, 'stay' AS what, NEW.stage AS stage,"
        f" {bucket(s)} AS bucket, 1 AS n, {s} AS seconds FROM {_INSTANCE}",
        _counted(
            postgres,
            source="stage_time t",
            where="t.instance_id = NEW.instance_id AND t.what = 'inst' AND t.stage = NEW.stage",
            sign=-1,
        ),
        f"SELECT {keys}, {month(postgres, ended)} AS month, 'inst' AS what, NEW.stage AS stage,"
        f" {bucket(total)} AS bucket, 1 AS n, {total} AS seconds"
        f" FROM instance i JOIN record r ON r.id = i.record_id LEFT JOIN {_TOTAL}"
        " WHERE i.id = NEW.instance_id",
    ]
    row = (
        "SELECT NEW.instance_id, {what}, NEW.stage, {n}, i.process_id, i.process_version,"
        f" r.owner, NEW.exited_at, {s}, {bucket(s)} FROM {_INSTANCE}"
    )
    new_total = "stage_time.seconds + excluded.seconds"
    stay, inst = row.format(what="'stay'", n="NEW.n"), row.format(what="'inst'", n="0")
    return [
        add(parts),
        f"INSERT INTO stage_time ({_ROW_COLUMNS}) {stay}",
        f"INSERT INTO stage_time ({_ROW_COLUMNS}) {inst}"
        f" ON CONFLICT ({', '.join(ROW_KEY)}) DO UPDATE SET seconds = {new_total},"
        f" bucket = {bucket(new_total)},"
        f" exited_at = {_later(postgres, 'stage_time.exited_at', 'excluded.exited_at')}",
    ]


def moved(postgres: bool, *, instances: str, column: str, old: str, new: str) -> list[str]:
    """Statements moving the rows of the instances whose id is `instances` (`= NEW.id`,
    `IN (...)`) and their counts from `column` = `old` to `new` (owner, or version)."""
    keys = {"owner": "t.owner", "version": "t.process_version"}
    name = "owner" if column == "owner" else "process_version"
    rows = f"t.instance_id {instances} AND t.{name} = {old}"
    before = _counted(postgres, source="stage_time t", where=rows, sign=-1,
                      **{**keys, column: old})  # fmt: skip
    after = _counted(postgres, source="stage_time t", where=rows, sign=1,
                     **{**keys, column: new})  # fmt: skip
    return [
        add([before, after]),
        f"UPDATE stage_time SET {name} = {new} WHERE instance_id {instances} AND {name} = {old}",
    ]


_CYCLE = "t.instance_id = NEW.id AND t.what = 'cycle'"


def _cycle_row(postgres: bool, i: str) -> str:
    """The cycle row of the finished instances `i` (with record `r`), as stage_time's
    columns."""
    s = seconds(postgres, f"{i}.started_at", f"{i}.completed_at")
    return (
        f"{i}.id AS instance_id, 'cycle' AS what, '' AS stage, 0 AS n, {i}.process_id AS"
        f" process_id, {i}.process_version AS process_version, r.owner AS owner,"
        f" {i}.completed_at AS exited_at, {s} AS seconds, {bucket(s)} AS bucket"
    )


def instance_changed(postgres: bool) -> list[str]:
    """Statements run when the instance `NEW` was inserted or changed its status or times:
    its cycle row (start to finish, while it is finished) and its counts, replaced."""
    finished = "NEW.status = 'FINISHED' AND NEW.completed_at IS NOT NULL"
    new_row = (
        f"SELECT {_cycle_row(postgres, 'NEW')} FROM record r WHERE r.id = NEW.record_id"
        f" AND {finished}"
    )
    return [
        add(
            [
                _counted(postgres, source="stage_time t", where=_CYCLE, sign=-1),
                _counted(postgres, source=f"({new_row}) t", where="1 = 1", sign=1),
            ]
        ),
        "DELETE FROM stage_time WHERE instance_id = NEW.id AND what = 'cycle'",
        f"INSERT INTO stage_time ({_ROW_COLUMNS}) SELECT * FROM ({new_row}) c",
    ]


def recount(postgres: bool) -> list[str]:
    """Statements that take every row and count afresh from the stays."""
    s = seconds(postgres, "v.entered_at", "v.exited_at")
    stays = (
        "stage_visit v JOIN instance i ON i.id = v.instance_id JOIN record r ON r.id = i.record_id"
        " WHERE v.exited_at IS NOT NULL"
    )
    return [
        "DELETE FROM stage_time_month",
        "DELETE FROM stage_time",
        f"INSERT INTO stage_time ({_ROW_COLUMNS}) SELECT v.instance_id, 'stay', v.stage, v.n,"
        f" i.process_id, i.process_version, r.owner, v.exited_at, {s}, {bucket(s)} FROM {stays}",
        f"INSERT INTO stage_time ({_ROW_COLUMNS}) SELECT instance_id, 'inst', stage, 0,"
        " process_id, process_version, owner, exited_at, seconds, "
        f"{bucket('seconds')} FROM (SELECT t.instance_id, t.stage, t.process_id,"
        " t.process_version, t.owner, MAX(t.exited_at) AS exited_at, SUM(t.seconds) AS seconds"
        " FROM stage_time t WHERE t.what = 'stay' GROUP BY t.instance_id, t.stage,"
        " t.process_id, t.process_version, t.owner) s",
        f"INSERT INTO stage_time ({_ROW_COLUMNS}) SELECT {_cycle_row(postgres, 'i')}"
        " FROM instance i JOIN record r ON r.id = i.record_id"
        " WHERE i.status = 'FINISHED' AND i.completed_at IS NOT NULL",
        f"INSERT INTO stage_time_month ({_KEY_COLUMNS}, n, seconds) SELECT * FROM"
        f" ({_counted(postgres, source='stage_time t', where='1 = 1', sign=1)}) c",
    ]
