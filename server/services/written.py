"""What this worker last wrote of an instance and its record: a change decided on it is
written only if both rows are still at those versions, so a row another worker changed
since costs one more statement, never a wrong write."""

from __future__ import annotations

from collections import OrderedDict

from server.domain.instance import Instance
from server.domain.record import Record

MAX_INSTANCES = 4096


class Written:
    """The instance and record rows this worker wrote last, by instance id; the least
    recently used are dropped first."""

    def __init__(self, most: int = MAX_INSTANCES) -> None:
        self._most = most
        self._rows: OrderedDict[int, tuple[Instance, Record]] = OrderedDict()

    def get(self, instance_id: int) -> tuple[Instance, Record] | None:
        found = self._rows.get(instance_id)
        if found is not None:
            self._rows.move_to_end(instance_id)
        return found

    def put(self, instance: Instance, record: Record) -> None:
        assert instance.id is not None
        self._rows[instance.id] = (instance, record)
        self._rows.move_to_end(instance.id)
        while len(self._rows) > self._most:
            self._rows.popitem(last=False)

    def drop(self, instance_id: int) -> None:
        self._rows.pop(instance_id, None)
