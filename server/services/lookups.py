"""Lookup values checked against the records they point at."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from server.db import linked
from server.domain.errors import InvalidValue
from server.domain.fields import Entity, Field, FieldType


async def check_lookups(
    entity: Entity, values: Mapping[str, Any], visible: set[int] | None
) -> None:
    """Refuse a lookup value (already coerced) that names no record of the field's target the
    user may see (`visible`: the processes they may run; None: all).

    One statement reads every record named. A record the user may not see is refused as one
    that does not exist, so the answer never tells that it does.
    """
    given: list[tuple[Field, int]] = []
    for key, value in values.items():
        field = entity.field(key)
        if field is not None and field.type is FieldType.LOOKUP and value is not None:
            given.append((field, value))
    if not given:
        return
    found = await linked.entities_of({id for _, id in given}, visible=visible)
    for field, id in given:
        if id not in found:
            raise InvalidValue(field.key, f"names no {field.target} record you can see")
        if found[id] != field.target:
            raise InvalidValue(field.key, f"names a {found[id]} record, not a {field.target}")
