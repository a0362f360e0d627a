"""The public drug catalog: every clinical fact with its source. No login needed."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

from medsafe.api.deps import ContainerDep, Paging
from medsafe.api.pagination import Page, page_of

router = APIRouter(prefix="/drugs", tags=["drugs"])


class DrugSummary(BaseModel):
    id: str
    name: str
    family: str
    category: str
    tags: list[str]
    strengths: list[str]
    routes: list[str]


@router.get("", response_model=Page[DrugSummary])
def list_drugs(app: ContainerDep, paging: Paging, q: str | None = None) -> Page[DrugSummary]:
    """Ingredients in the knowledge base, optionally filtered by a name or brand (`q`)."""
    ingredients = sorted(app.catalog.ingredients.values(), key=lambda i: i.name)
    if q:
        wanted = q.casefold()
        ingredients = [i for i in ingredients
                       if wanted in i.name.casefold() or wanted in i.id
                       or any(wanted in b.casefold() for b in i.brand_names)]
    rows = [
        DrugSummary(id=i.id, name=i.name, family=i.family, category=i.category.text,
                    tags=list(i.tags),
                    strengths=sorted({s.label() for p in i.products for s in p.strengths}),
                    routes=sorted(i.routes))
        for i in ingredients
    ]
    window = rows[paging.offset: paging.offset + paging.page_size]
    return page_of(window, len(rows), paging)


@router.get("/{drug_id}")
def show_drug(drug_id: str, app: ContainerDep) -> dict[str, Any]:
    """Everything medsafe knows about one ingredient (id, name or brand), each fact cited."""
    return app.catalog.ingredient(drug_id).model_dump(mode="json")
