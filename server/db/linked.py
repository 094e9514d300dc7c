"""The records lookup fields point at, read for a check in one statement."""

from __future__ import annotations

from collections.abc import Collection

from server.db.store import Visible, visible_records


async def entities_of(ids: Collection[int], *, visible: Visible) -> dict[int, str]:
    """The entity of each record of `ids` the user may see; others are absent."""
    if not ids:
        return {}
    rows = await visible_records(visible).filter(id__in=sorted(ids)).values_list("id", "entity_id")
    return {int(id): str(entity) for id, entity in rows}
