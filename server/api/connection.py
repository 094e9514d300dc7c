"""Cursor connections: a page of a list, the cursor to read on from, and a total on request."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

import strawberry

from server.services import queries

T = TypeVar("T")


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type
class Edge(Generic[T]):
    cursor: str
    node: T


@strawberry.type
class Connection(Generic[T]):
    edges: list[Edge[T]]
    page_info: PageInfo
    count: strawberry.Private[Callable[[], Awaitable[int]]]

    @strawberry.field(description="How many match, all pages together (counted when asked).")
    async def total_count(self) -> int:
        return await self.count()


def connection(page: queries.Page, convert: Callable[[object], T]) -> Connection[T]:
    edges = [Edge(cursor=queries.cursor_for(item.id), node=convert(item)) for item in page.items]  # type: ignore[attr-defined]
    return Connection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=page.has_next, end_cursor=edges[-1].cursor if edges else None
        ),
        count=page.count,
    )
