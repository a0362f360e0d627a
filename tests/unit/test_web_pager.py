"""The pager macro every paged table uses: previous and next links that keep the page's
filters, escaped for an HTML attribute."""

from __future__ import annotations

from medsafe.web.templating import environment


def pager(page: int, pages: int, query: str = "") -> str:
    template = environment.from_string(
        '{% import "macros.html" as m %}{{ m.pager(page, pages, query) }}')
    return template.render(page=page, pages=pages, query=query)


def test_a_middle_page_links_both_ways_and_keeps_the_filters() -> None:
    html = pager(2, 3, "status=new&drug=baclofen")
    assert 'href="?status=new&amp;drug=baclofen&amp;page=1" rel="prev"' in html
    assert 'href="?status=new&amp;drug=baclofen&amp;page=3" rel="next"' in html
    assert "Page 2 of 3" in html


def test_the_first_and_last_pages_have_no_link_beyond_them() -> None:
    first, last = pager(1, 2), pager(2, 2)
    assert 'rel="prev"' not in first
    assert 'href="?page=2" rel="next"' in first
    assert 'rel="next"' not in last
    assert 'href="?page=1" rel="prev"' in last
