"""Reads for the API: single objects, pages, and batches for DataLoaders."""

from __future__ import annotations

import datetime as dt

from server.db import listing, store
from server.db.store import Page, Visible, cursor_for
from server.domain.errors import InvalidValue
from server.domain.events import Event, EventKind
from server.domain.fields import MAX_SHORT_TEXT
from server.domain.instance import InstanceStatus
from server.domain.text import check_text

MAX_PAGE = 100
# The page of a list inside an object (an instance's events, its history): such objects come
# in lists themselves, so their lists' pages are small unless asked for.
INNER_PAGE = 20
MAX_KEY = 64  # entity and stage keys

__all__ = [
    "Page",
    "check_filter",
    "cursor_for",
    "event_pages",
    "events_after",
    "events_of_instances",
    "feed_after",
    "get_instance",
    "get_instance_and_record",
    "get_record",
    "instances_by_id",
    "instances_of_records",
    "last_seq",
    "last_visits",
    "links_of",
    "list_instances",
    "list_records",
    "newest_seq",
    "records_by_id",
    "visits_of",
]

get_instance = store.get_instance
get_instance_and_record = store.get_instance_and_record
last_seq = store.last_seq
events_after = store.events_after
feed_after = store.feed_after
newest_seq = store.newest_seq
get_record = store.get_record
instances_by_id = store.instances_by_id
instances_of_records = store.instances_of_records
records_by_id = store.records_by_id
visits_of = store.visits_of
links_of = store.links_of
last_visits = store.last_visits
event_pages = store.event_pages
events_of_instances = store.events_of_instances


def check_page(first: int, name: str = "first") -> int:
    if not 1 <= first <= MAX_PAGE:
        raise InvalidValue(name, f"a page holds 1 to {MAX_PAGE} items")
    return first


def check_filter(name: str, value: str | None, *, limit: int) -> str | None:
    """A filter's text, refused if no stored text could match it (too long, or unstorable)."""
    return None if value is None else check_text(name, value, limit=limit)


async def list_instances(
    *,
    process_id: int | None = None,
    stage: str | None = None,
    status: InstanceStatus | None = None,
    record_id: int | None = None,
    owner: str | None = None,
    first: int = 20,
    after: str | None = None,
    visible: Visible = None,
    overdue: bool | None = None,
) -> Page:
    return await store.list_instances(
        process_id=process_id,
        stage=check_filter("stage", stage, limit=MAX_KEY),
        status=status,
        record_id=record_id,
        owner=check_filter("owner", owner, limit=MAX_SHORT_TEXT),
        first=check_page(first),
        after=after,
        visible=visible,
        overdue=overdue,
        now=_now(),
    )


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


async def list_records(
    *,
    entity: str | None = None,
    search: str | None = None,
    owner: str | None = None,
    process_id: int | None = None,
    stage: str | None = None,
    status: InstanceStatus | None = None,
    first: int = 20,
    after: str | None = None,
    visible: Visible = None,
    overdue: bool | None = None,
) -> Page:
    return await listing.list_records(
        entity=check_filter("entity", entity, limit=MAX_KEY),
        search=check_filter("search", search, limit=MAX_SHORT_TEXT),
        owner=check_filter("owner", owner, limit=MAX_SHORT_TEXT),
        shown=store.InstanceFilter(
            process_id,
            check_filter("stage", stage, limit=MAX_KEY),
            status,
            overdue=overdue,
            now=_now(),
        ),
        first=check_page(first),
        after=after,
        visible=visible,
    )


async def list_events(
    *,
    after_seq: int,
    instance_id: int | None,
    record_id: int | None,
    kinds: set[EventKind] | None = None,
    first: int,
    newest: bool = False,
    visible: Visible = None,
    designs: bool = False,
) -> list[Event]:
    """The audit trail as a user may read it: `visible`, the processes they may run (None:
    all); `designs`, whether they design (and so read the events about webhooks)."""
    return await store.events_after(
        after_seq,
        instance_id=instance_id,
        record_id=record_id,
        kinds=kinds,
        newest=newest,
        limit=check_page(first),
        visible=visible,
        designs=designs,
    )
