"""The shared test world: two pharmacies, two manufacturers, a regulator, two physicians
and two patients, with products, lots, stock, prescriptions and dispensings, all created
through the services. Used by the permission matrix and the case tests."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from medsafe.api.app import create_app
from medsafe.bootstrap import Container, bootstrap
from medsafe.config import Settings
from medsafe.records import organisations, patients
from medsafe.records.organisations import NewOrganisation
from medsafe.records.patients import NewCareLink, NewCondition, NewPatient
from medsafe.security import accounts
from medsafe.security.principal import SYSTEM, Principal
from medsafe.store.schema import Patient
from medsafe.supply import dispensing, prescriptions, products, stock
from medsafe.supply.dispensing import NewDispensing
from medsafe.supply.prescriptions import NewPrescription
from medsafe.supply.products import NewLot, NewProduct
from medsafe.supply.stock import StockLevel
from tests.support.databases import fresh_database

PASSWORD = "correct horse battery"
ROLES = ("admin", "regulator", "manufacturer", "pharmacist", "physician", "patient",
         "anonymous")
PERSONAS = {"admin": "alice-admin", "regulator": "rita-regulator",
            "manufacturer": "mo-manufacturer", "pharmacist": "phil-pharmacist",
            "physician": "dora-physician", "patient": "pat-patient"}


@dataclass
class World:
    container: Container
    client: TestClient
    principals: dict[str, Principal]
    tokens: dict[str, str]
    ids: dict[str, Any]
    serial: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def bearer(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"} if role in self.tokens else {}

    def next(self) -> int:
        return next(self.serial)


def build_world(container: Container, client: TestClient) -> World:
    """The personas and their records, created through the services themselves."""
    ids: dict[str, Any] = {}
    for key, kind, name in (("phil_pharmacy", "pharmacy", "Phil's Pharmacy"),
                            ("other_pharmacy", "pharmacy", "Oscar's Pharmacy"),
                            ("mo_pharma", "manufacturer", "Mo Pharma"),
                            ("acme", "manufacturer", "Acme Generics"),
                            ("agency", "regulator", "The Agency")):
        with container.uow() as uow:
            ids[key] = organisations.create_organisation(
                uow, SYSTEM, NewOrganisation.model_validate({"kind": kind, "name": name})).id
    for name in ("cared", "other"):
        with container.uow() as uow:
            ids[name] = patients.register_patient(uow, SYSTEM, NewPatient(
                birth_date=day("1974-02-20"), sex="female", synthetic=True)).pseudonym
    people = {
        "alice-admin": ("admin", None, None),
        "rita-regulator": ("regulator", ids["agency"], None),
        "mo-manufacturer": ("manufacturer", ids["mo_pharma"], None),
        "phil-pharmacist": ("pharmacist", ids["phil_pharmacy"], None),
        "oscar-pharmacist": ("pharmacist", ids["other_pharmacy"], None),
        "dora-physician": ("physician", None, None),
        "olga-physician": ("physician", None, None),
        "pat-patient": ("patient", None, ids["cared"]),
    }
    principals: dict[str, Principal] = {}
    for username, (role, organisation_id, pseudonym) in people.items():
        with container.uow() as uow:
            patient_id = None
            if pseudonym is not None:
                patient_id = uow.session.execute(
                    select(Patient.id).where(Patient.pseudonym == pseudonym)).scalar_one()
            principals[username] = accounts.create_user(
                uow, SYSTEM, username=username, password=PASSWORD, role=role,
                display_name=username.replace("-", " ").title(),
                organisation_id=organisation_id, patient_id=patient_id)
            uow.commit()
    for pseudonym, physician, pharmacy in (("cared", "dora-physician", "phil_pharmacy"),
                                           ("other", "olga-physician", "other_pharmacy")):
        for link in (NewCareLink(physician=physician), NewCareLink(pharmacy_id=ids[pharmacy])):
            with container.uow() as uow:
                patients.link_care(uow, SYSTEM, ids[pseudonym], link)
    for maker, code, ingredient, key in (("mo_pharma", "12345-678-90", "baclofen", "mo"),
                                         ("acme", "54321-876-09", "tizanidine", "acme")):
        with container.uow() as uow:
            ids[f"{key}_product"] = products.create_product(
                uow, SYSTEM, container.catalog,
                NewProduct(code_system="ndc", code=code, name=f"{ingredient.title()} 10 mg",
                           ingredient_id=ingredient, manufacturer_id=ids[maker])).id
        with container.uow() as uow:
            ids[f"{key}_lot"] = products.create_lot(
                uow, SYSTEM, ids[f"{key}_product"],
                NewLot(lot_number=f"{key.upper()}-001", expiry=day("2031-12-31"))).id
    for pharmacy, lot, pharmacist, pseudonym, physician, ingredient in (
            ("phil_pharmacy", "mo_lot", "phil-pharmacist", "cared", "dora-physician",
             "baclofen"),
            ("other_pharmacy", "acme_lot", "oscar-pharmacist", "other", "olga-physician",
             "tizanidine")):
        with container.uow() as uow:
            stock.set_stock(uow, SYSTEM, ids[pharmacy], ids[lot], StockLevel(quantity=100_000))
        with container.uow() as uow:
            ids[f"{pseudonym}_rx"] = prescriptions.prescribe(
                uow, principals[physician], container.catalog,
                NewPrescription(patient=ids[pseudonym], ingredient=ingredient,
                                dose_text="5 mg three times a day")).id
        with container.uow() as uow:
            ids[f"{pseudonym}_dispensing"] = dispensing.record_dispensing(
                uow, principals[pharmacist],
                NewDispensing(patient=ids[pseudonym], lot_id=ids[lot], quantity=30,
                              prescription_id=ids[f"{pseudonym}_rx"])).id
    with container.uow() as uow:
        patients.add_condition(uow, SYSTEM, ids["cared"],
                               NewCondition(text="Multiple sclerosis", severity="moderate"))
    tokens: dict[str, str] = {}
    for role, username in PERSONAS.items():
        with container.uow() as uow:
            tokens[role] = accounts.issue_token(uow, principals[username], 60).token
            uow.commit()
    return World(container, client, principals, tokens, ids)


def day(text: str) -> date:
    return date.fromisoformat(text)


@contextmanager
def world_on(kind: str, tmp_path: Path) -> Iterator[World]:
    """A migrated database of this kind, the app over it, and the world in it."""
    with fresh_database(kind, tmp_path) as url:
        container = bootstrap(Settings(environment="test", data_dir=tmp_path,
                                       database_url=url, cookie_secure=False), migrate=True)
        try:
            with TestClient(create_app(container)) as client:
                yield build_world(container, client)
        finally:
            container.engine.dispose()
