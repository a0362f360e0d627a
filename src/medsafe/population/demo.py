"""The demo's accounts: one person per role, attached to the part of the synthetic
population where the story happens (the baclofen lots the synthetic reports cluster on).

The accounts are real local accounts (argon2 hashes) with one shared demo password, so a
person can walk the story in a browser. They exist only in the demo database.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import distinct, func, select

from medsafe.errors import MedsafeError, NotFound
from medsafe.population.generator import EMAIL_DOMAIN as DEMO_EMAIL_DOMAIN
from medsafe.population.generator import STORY_REACTIONS
from medsafe.security import accounts
from medsafe.security.principal import SYSTEM, Principal
from medsafe.store.schema import (
    CareRelationship,
    CaseDrug,
    CaseReaction,
    Dispensing,
    Lot,
    Organisation,
    Product,
    User,
)
from medsafe.store.uow import UnitOfWork, UowFactory

DEMO_PASSWORD = "medsafe-demo-2026"
STORY_REACTION = STORY_REACTIONS[0].term
"""The reaction that clusters on the story's two lots (worsening spasticity)."""


@dataclass(frozen=True, slots=True)
class DemoLogin:
    username: str
    role: str
    who: str


def story_lot(uow: UnitOfWork) -> Lot:
    """The first of the story's two lots: the lot with the most cases of the story's
    reaction (which no background report has), ties by lot id. Not the lot with the most
    reports: from a few thousand patients on, background reports outnumber the story's
    on some other lot."""
    lot_id = uow.session.execute(
        select(CaseDrug.lot_id)
        .join(CaseReaction, CaseReaction.case_id == CaseDrug.case_id)
        .where(CaseDrug.lot_id.is_not(None), CaseReaction.term == STORY_REACTION)
        .group_by(CaseDrug.lot_id)
        .order_by(func.count(distinct(CaseDrug.case_id)).desc(), CaseDrug.lot_id)
        .limit(1)
    ).scalar_one()
    return uow.session.get_one(Lot, lot_id)


def _busiest(uow: UnitOfWork, column: object, lot: Lot) -> int:
    value = uow.session.execute(
        select(column).where(Dispensing.lot_id == lot.id)  # type: ignore[call-overload]
        .group_by(column).order_by(func.count().desc(), column).limit(1)
    ).scalar_one()
    return int(value)


def create_demo_accounts(uow: UnitOfWork) -> list[DemoLogin]:
    """Create the six demo accounts (idempotent: existing ones are kept)."""
    existing = {u.username for u in uow.session.execute(select(User)).scalars()}
    if "alice-admin" in existing:
        return demo_logins(uow)
    lot = story_lot(uow)
    product = uow.session.get_one(Product, lot.product_id)
    pharmacy_id = _busiest(uow, Dispensing.pharmacy_id, lot)
    physician_id = _busiest(uow, Dispensing.prescriber_id, lot)
    patient_id = uow.session.execute(
        select(Dispensing.patient_id)
        .where(Dispensing.lot_id == lot.id, Dispensing.prescriber_id == physician_id)
        .order_by(Dispensing.patient_id).limit(1)
    ).scalar_one()
    regulator = uow.session.execute(
        select(Organisation).where(Organisation.kind == "regulator").order_by(Organisation.id)
    ).scalars().first()
    if regulator is None:
        regulator = Organisation(kind="regulator", name="Medicines regulator (synthetic)",
                                 created_at=accounts.now())
        uow.session.add(regulator)
        uow.flush()

    def make(username: str, role: str, name: str, organisation_id: int | None = None,
             patient: int | None = None, email: str | None = None) -> None:
        accounts.create_user(uow, SYSTEM, username=username, password=DEMO_PASSWORD,
                             role=role, display_name=name, organisation_id=organisation_id,
                             patient_id=patient, email=email)

    # Phil reads his pharmacy's mailbox, and Dora the one of the synthetic prescriber whose
    # patients she takes over: the story's notices go to those addresses (example.org, as
    # the generator writes them, reaches nobody outside the demo's mail catcher).
    pharmacy = uow.session.get(Organisation, pharmacy_id)
    prescriber = uow.session.get(User, physician_id)
    phil_email = (pharmacy.email if pharmacy is not None and pharmacy.email
                  else f"phil-pharmacist@{DEMO_EMAIL_DOMAIN}")
    dora_email = (prescriber.email if prescriber is not None and prescriber.email
                  else f"dora-physician@{DEMO_EMAIL_DOMAIN}")

    make("alice-admin", "admin", "Alice (administrator)")
    make("rita-regulator", "regulator", "Rita (regulator)", regulator.id)
    make("mo-manufacturer", "manufacturer", "Mo (baclofen manufacturer)",
         product.manufacturer_id)
    make("phil-pharmacist", "pharmacist", "Phil (pharmacist)", pharmacy_id, email=phil_email)
    make("dora-physician", "physician", "Dr Dora (physician)", email=dora_email)
    make("pat-patient", "patient", "Pat (patient)", patient=patient_id)
    dora = uow.session.execute(select(User).where(User.username == "dora-physician")
                               ).scalar_one()
    # Dora takes over the patients of the synthetic prescriber who dispensed the story lot.
    cared = uow.session.execute(
        select(CareRelationship.patient_id).where(CareRelationship.physician_id == physician_id)
    ).scalars().all()
    for cared_id in sorted(set(cared) | {patient_id}):
        uow.session.add(CareRelationship(patient_id=cared_id, physician_id=dora.id))
    return demo_logins(uow)


def demo_principal(uow: UnitOfWork, username: str) -> Principal:
    """The principal of a demo account, to take the story's steps as that person."""
    user = uow.users.by_username(username)
    if user is None:
        raise NotFound(f"no demo account {username}: create the demo accounts first")
    return accounts.principal_of(user)


def demo_logins(uow: UnitOfWork) -> list[DemoLogin]:
    names = ("alice-admin", "rita-regulator", "mo-manufacturer", "phil-pharmacist",
             "dora-physician", "pat-patient")
    users = {u.username: u for u in uow.session.execute(
        select(User).where(User.username.in_(names))).scalars()}
    return [DemoLogin(n, users[n].role, users[n].display_name) for n in names if n in users]


def store_demo_signal_runs(uows: UowFactory, say: Callable[[str], None]) -> None:
    """Signal detection over the demo's case store, both runs stored: by lot within the
    story's ingredient (its lots compared with each other, where the story's two lots
    stand out), and by ingredient over every case. A run that cannot be made (a prior
    that cannot be fitted to a very small population) is reported, and the demo goes on
    without it."""
    from medsafe.signals import management

    with uows() as uow:
        ingredient = uow.session.get_one(Product, story_lot(uow).product_id).ingredient_id
    for axis, within in (("lot", ingredient), ("ingredient", None)):
        scope = f"by {axis}" + (f" within {within}" if within else "")
        try:
            with uows() as uow:
                run = management.run_over_case_store(uow, SYSTEM, axis=axis, within=within)
        except MedsafeError as error:
            say(f"signal detection {scope}: not stored: {error.message}")
            continue
        say(f"signal detection {scope}: {run.reports:,} reports, {run.pairs:,} pairs, "
            f"{run.candidates:,} candidate signals ({run.seconds:.1f} s)")
