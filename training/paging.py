"""Paging and search for long lists: one page of rows and the query string that keeps the
list's other parameters (its search and filters) when moving between pages."""

from __future__ import annotations

from dataclasses import dataclass

from django.core.paginator import Page, Paginator
from django.db.models import Q
from django.utils.http import urlencode

PAGE_SIZE = 50


@dataclass(frozen=True)
class ListPage:
    page: Page
    # the list's parameters except the page number, ready to put before "page=" in a link
    query: str

    @property
    def rows(self):
        return self.page.object_list


def list_page(request, rows, *, per_page: int = PAGE_SIZE, keep: tuple[str, ...] = ()) -> ListPage:
    """The page of `rows` asked for by ?page= (out of range or not a number: the nearest
    page), and the parameters in `keep` that the page's links must carry on."""
    page = Paginator(rows, per_page).get_page(request.GET.get("page"))
    kept = [(name, request.GET.get(name, "").strip()) for name in keep]
    return ListPage(page=page, query=urlencode([(k, v) for k, v in kept if v]))


def search_filter(term: str, fields: tuple[str, ...]) -> Q:
    """Rows where every word of `term` appears (case-insensitive) in one of `fields`."""
    q = Q()
    for word in term.split()[:8]:
        any_field = Q()
        for field in fields:
            any_field |= Q(**{f"{field}__icontains": word})
        q &= any_field
    return q
