"""Public pages, no login: what medsafe is, the medicines list and one page per medicine,
with the medicine's open recalls (`recalls.queries.open_recalls_of`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import RedirectResponse

from medsafe.knowledge.model import Cited, Interaction, Source
from medsafe.recalls.queries import any_published, open_recalls_of
from medsafe.web import catalog_view as cv
from medsafe.web.labels import POSITIVE_STATUSES
from medsafe.web.routing import PageRoute, is_partial
from medsafe.web.session import MaybeCaller, container_of
from medsafe.web.templating import render

router = APIRouter(route_class=PageRoute, include_in_schema=False)

# Public pages still take `caller: MaybeCaller`: looking the caller up lets the page
# header say who is signed in (and offer "Log out") on every page.


@router.get("/")
def index(request: Request, caller: MaybeCaller) -> Response:
    return render(request, "index.html")


@router.get("/drugs")
def drugs(request: Request, caller: MaybeCaller,
          q: Annotated[str, Query(max_length=cv.MAX_QUERY)] = "") -> Response:
    catalog = container_of(request).catalog
    rows = [cv.drug_row(ing) for ing in cv.search(catalog, q)]
    context = {"rows": rows, "query": q.strip(), "total": len(catalog.ingredients)}
    # The same URL answers with a fragment or a page, so caches must key on the header.
    vary = {"Vary": "HX-Request, HX-Request-Type"}
    if is_partial(request):
        return render(request, "_drug_results.html", context, headers=vary)
    return render(request, "drugs.html", context, headers=vary)


def _source(statement: Cited) -> Source:
    return statement.source


@router.get("/drugs/{drug_id}")
def drug(request: Request, caller: MaybeCaller,
         drug_id: Annotated[str, Path(min_length=1, max_length=100)]) -> Response:
    container = container_of(request)
    catalog = container.catalog
    ing = catalog.ingredient(drug_id)
    if ing.id != drug_id:
        # /drugs/Gablofen finds baclofen; the page has one address, its id.
        return RedirectResponse(f"/drugs/{ing.id}", status_code=308)
    with container.uow() as uow:
        open_recalls = open_recalls_of(uow, catalog, ing.id)
        recalls_recorded = bool(open_recalls) or any_published(uow)

    def partner(interaction: Interaction) -> str:
        if interaction.with_class is not None:
            found = catalog.classes.get(interaction.with_class)
            return found.name if found else interaction.with_class
        other = catalog.ingredients.get(interaction.with_ingredient or "")
        return other.name if other else str(interaction.with_ingredient)

    return render(request, "drug.html", {
        "ing": ing,
        "catalog": catalog,
        "cv": cv,
        "brands": cv.brand_names(ing),
        "partner": partner,
        "supported": cv.cited_groups(
            [i for i in ing.indications if i.status in POSITIVE_STATUSES], _source),
        "unsupported": cv.cited_groups(
            [i for i in ing.indications if i.status not in POSITIVE_STATUSES], _source),
        "side_effects": cv.cited_groups(ing.side_effects, _source),
        "sleep_effects": cv.cited_groups(ing.sleep_effects, _source),
        "contraindications": cv.cited_groups(ing.contraindications, _source),
        "cautions": cv.cited_groups(ing.cautions, _source),
        "monitoring": cv.cited_groups(ing.monitoring, _source),
        "related": cv.related(ing, catalog),
        "open_recalls": open_recalls,
        "recalls_recorded": recalls_recorded,
    })
