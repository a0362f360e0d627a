"""The one list envelope: {"items", "page", "page_size", "total", "next"}."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Generic, TypeVar

from pydantic import BaseModel

from medsafe.api.deps import PageParams

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    page: int
    page_size: int
    total: int
    next: str | None


def page_of(items: Sequence[T], total: int, params: PageParams) -> Page[T]:
    more = params.offset + len(items) < total
    next_url = str(params.url.include_query_params(page=params.page + 1)) if more else None
    return Page[T](items=list(items), page=params.page, page_size=params.page_size,
                   total=total, next=next_url)
