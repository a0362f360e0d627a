"""Recall notices (pure): what the pharmacy, the prescriber and the patient are told, and
who among the patients is told.

Each notice is composed once as blocks of text (`medsafe.notify.letter.Block`) and
rendered from them three ways: plain text and HTML for e-mail (`Composed.to_notice` hands
them to the outbox, which adds the acknowledgement link), and PDF for a patient without
e-mail (`Composed.pdf`). Nothing here reads the database or sends anything; the recall
service gathers the record, the matched lots and the recipients, and writes the notices to
the outbox in the transaction of the step that causes them.

The rules (docs/recall-notices.md says why):

- A consignee's notice follows 21 CFR 7.49: marked "DRUG RECALL" ("DRUG CORRECTION" for a
  correction), "URGENT" for Class I and II (and before FDA has classified the recall: it
  may yet be either); product, size, lot and code; reason and hazard; what to do; how to
  reply; nothing else (no promotion).
- A patient's notice is plain language, measured (`medsafe.notify.readability`), and
  never says "just stop". It says to keep taking the medicine until the prescriber or
  pharmacist switches them, unless the hazard itself says to stop (`Hazard.action`); and
  where the knowledge base marks stopping the ingredient abruptly as dangerous, it quotes
  the label warning from the catalog with its source, not words of our own.
- Depth decides who among the patients is told: at consumer depth every affected patient;
  at retail or wholesale depth medsafe proposes and the pharmacist decides per patient.
"""

from __future__ import annotations

import html
import textwrap
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Literal

from medsafe.errors import Invalid
from medsafe.knowledge.catalog import Catalog
from medsafe.knowledge.model import Ingredient
from medsafe.notify.letter import Block, PageSize, render_pdf
from medsafe.notify.message import ChannelName, Notice
from medsafe.recalls.matching import Affected, Recipient
from medsafe.recalls.model import Depth, RecallClass, RecallLot, RecallProduct, RecallRecord

# The patient advice is part of the recall record (stored with it, set with the strategy);
# importable from here too, where the notices use it.
from medsafe.recalls.model import Hazard as Hazard
from medsafe.recalls.model import PatientAction as PatientAction
from medsafe.recalls.workflow import RecallKind

# -- inputs ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Contact:
    """A recipient or a party named in a notice: a name and how to reach them."""

    name: str
    email: str | None = None
    phone: str | None = None
    address: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise Invalid("a contact needs a name", where="contact.name")


@dataclass(frozen=True, slots=True)
class HeldLot:
    """What matching found at one consignee for one recalled lot: units on hand (None:
    not known) and how many patients it was dispensed to."""

    lot_number: str
    on_hand: int | None = None
    dispensed_to: int = 0


@dataclass(frozen=True, slots=True)
class Consignee:
    """A pharmacy or clinic that holds or dispensed recalled lots."""

    contact: Contact
    lots: tuple[HeldLot, ...] = ()
    kind: Literal["pharmacy", "clinic"] = "pharmacy"


@dataclass(frozen=True, slots=True)
class Received:
    """One dispensing of a recalled lot to the patient."""

    lot_number: str
    dispensed_on: date


@dataclass(frozen=True, slots=True)
class AffectedPatient:
    """A patient who received recalled lots, as the notices need them.

    `key` is the service's own reference (never printed). `medicine` is the name the
    patient knows ("Baclofen 10 mg tablets"). `ingredient` is the knowledge-base id; when
    None it is read from the recall's product descriptions. `label` is how the
    prescriber's notice names the patient (the service decides how much to show); the
    contact's name by default.
    """

    key: str
    contact: Contact
    medicine: str
    received: tuple[Received, ...]
    pharmacy: Contact
    ingredient: str | None = None
    route: str | None = None
    label: str | None = None

    def __post_init__(self) -> None:
        if not self.received:
            raise Invalid("an affected patient received at least one recalled lot",
                          where="patient.received")
        if not self.medicine.strip():
            raise Invalid("name the medicine as the patient knows it", where="patient.medicine")

    @property
    def last_received(self) -> date:
        return max(r.dispensed_on for r in self.received)

    @property
    def shown_as(self) -> str:
        return self.label or self.contact.name


# -- from what matching found ---------------------------------------------------------------

def held_lots(affected: Affected, organisation_id: int) -> tuple[HeldLot, ...]:
    """What matching found at one pharmacy or clinic, per affected lot it holds or
    dispensed: units on hand (0 where it holds none) and the patients it dispensed to."""
    numbers = {lot.lot_id: lot.lot_number for lot in affected.lots}
    on_hand: dict[int, int] = {}
    for holder in affected.holders:
        if holder.organisation_id == organisation_id:
            on_hand[holder.lot_id] = on_hand.get(holder.lot_id, 0) + holder.quantity
    patients: dict[int, set[int]] = {}
    for recipient in affected.recipients:
        if recipient.pharmacy_id == organisation_id:
            patients.setdefault(recipient.lot_id, set()).add(recipient.patient_id)
    lot_ids = sorted(on_hand.keys() | patients.keys(), key=lambda i: (numbers.get(i, ""), i))
    return tuple(HeldLot(numbers.get(i, str(i)), on_hand.get(i, 0), len(patients.get(i, ())))
                 for i in lot_ids)


def affected_patients(affected: Affected, contacts: Mapping[int, Contact],
                      pharmacies: Mapping[int, Contact] | None = None,
                      ingredients: Mapping[int, str] | None = None
                      ) -> list[AffectedPatient]:
    """One `AffectedPatient` per patient matching found, with every recalled lot they
    received. `contacts` are the patients' (by patient id; a patient without one is named
    by pseudonym), `pharmacies` the pharmacies' (by organisation id; else the name matching
    gives), `ingredients` the knowledge-base ingredient of each product (by product id).
    The medicine and the pharmacy are those of the patient's latest dispensing; the
    prescriber's notice names the patient by pseudonym."""
    lots = {lot.lot_id: lot for lot in affected.lots}
    by_patient: dict[int, list[Recipient]] = {}
    for recipient in affected.recipients:
        by_patient.setdefault(recipient.patient_id, []).append(recipient)
    found: list[AffectedPatient] = []
    for patient_id, dispensings in sorted(by_patient.items()):
        latest = max(dispensings, key=lambda r: (r.dispensed_on, r.lot_id))
        lot = lots[latest.lot_id]
        received = tuple(dict.fromkeys(Received(lots[r.lot_id].lot_number, r.dispensed_on)
                                       for r in sorted(dispensings,
                                                       key=lambda r: r.dispensed_on)))
        found.append(AffectedPatient(
            key=str(patient_id),
            contact=contacts.get(patient_id) or Contact(latest.pseudonym),
            medicine=lot.product_name, received=received,
            pharmacy=(pharmacies or {}).get(latest.pharmacy_id) or Contact(latest.pharmacy_name),
            ingredient=(ingredients or {}).get(lot.product_id), label=latest.pseudonym))
    return found


# -- the composed notice ---------------------------------------------------------------------

Audience = Literal["pharmacy", "clinic", "prescriber", "patient"]
MEASURED_STYLES = ("body", "bullet", "strong")  # medsafe's own sentences, not quotes


@dataclass(frozen=True, slots=True)
class Composed:
    """A notice: its audience, subject and blocks, rendered as text, HTML or PDF."""

    audience: Audience
    subject: str
    blocks: tuple[Block, ...]

    @property
    def text(self) -> str:
        return render_text(self.blocks)

    @property
    def html(self) -> str:
        return render_html(self.subject, self.blocks)

    @property
    def own_words(self) -> str:
        """The sentences medsafe wrote, without quotations (the firm's reason, the label's
        warning), headings or small print: what the reading grade is measured on."""
        return "\n".join(b.text for b in self.blocks if b.style in MEASURED_STYLES)

    def pdf(self, *, page_size: PageSize = "A4", created: datetime | None = None) -> bytes:
        return render_pdf(self.blocks, title=self.subject, page_size=page_size,
                          created=created)

    def to_notice(self, channel: ChannelName, recipient: str, topic: str, *,
                  acknowledge: bool = True,
                  headers: Mapping[str, str] | None = None) -> Notice:
        """The outbox message for this notice (the outbox adds the acknowledgement link)."""
        return Notice(channel=channel, recipient=recipient, subject=self.subject,
                      body_text=self.text, body_html=self.html, topic=topic,
                      audience=self.audience, headers=dict(headers or {}),
                      acknowledge=acknowledge)


def topic(record: RecallRecord) -> str:
    """The outbox topic of a recall's notices: "recall:<recall number or event id>"."""
    reference = record.recall_number or record.event_id
    if not reference:
        raise Invalid("a recall needs a recall number or an event id before notices go out",
                      where="recall.recall_number")
    return f"recall:{reference}"


KEEP_TAKING = Hazard()  # the default: keep taking it until switched


# -- marking and the withdrawal caution ------------------------------------------------------

CLASS_MEANING = {
    RecallClass.I: "a reasonable probability of serious harm or death",
    RecallClass.II: "temporary or reversible harm, or a remote probability of serious harm",
    RecallClass.III: "harm is unlikely",
}


def marking(record: RecallRecord) -> str:
    """The §7.49 marking: "DRUG RECALL" (or "DRUG CORRECTION", "MARKET WITHDRAWAL"),
    prefixed "URGENT:" for Class I and II and for a recall not classified yet."""
    if record.kind is RecallKind.STOCK_RECOVERY:
        raise Invalid("a stock recovery never left the firm's control: nobody outside it "
                      "is notified", where="recall.kind")
    if record.kind is RecallKind.MARKET_WITHDRAWAL:
        return "MARKET WITHDRAWAL"
    word = "DRUG CORRECTION" if record.kind is RecallKind.CORRECTION else "DRUG RECALL"
    return f"URGENT: {word}" if urgent(record) else word


def urgent(record: RecallRecord) -> bool:
    return (record.kind is not RecallKind.MARKET_WITHDRAWAL
            and record.classification in (RecallClass.I, RecallClass.II, None))


@dataclass(frozen=True, slots=True)
class WithdrawalCaution:
    """The knowledge base's word that stopping an ingredient abruptly is dangerous: the
    label warning it cites, quoted, with its source."""

    ingredient: str  # the ingredient's name
    title: str
    text: str
    citation: str


def withdrawal_caution(ingredient: Ingredient, route: str | None = None
                       ) -> WithdrawalCaution | None:
    """The cited caution against stopping `ingredient` abruptly, or None when the
    knowledge base does not say stopping it abruptly is dangerous.

    The fact is the ingredient's `discontinuation.abrupt_stop_dangerous`; the words quoted
    are those of the label warning that statement cites (same source), for `route` when
    given (baclofen's oral label warning, not the intrathecal boxed one). Without such a
    warning the discontinuation statement itself is quoted; it carries the same source.
    """
    stop = ingredient.discontinuation
    if stop is None or not stop.abrupt_stop_dangerous:
        return None
    for warning in ingredient.warnings:
        if warning.source == stop.source and (route is None or not warning.routes
                                              or route in warning.routes):
            return WithdrawalCaution(ingredient.name, warning.title, warning.text,
                                     warning.source.cite())
    return WithdrawalCaution(ingredient.name, "Discontinuation", stop.text, stop.source.cite())


def ingredients_of(record: RecallRecord, catalog: Catalog, named: str | None = None,
                   texts: Iterable[str] = ()) -> tuple[Ingredient, ...]:
    """The knowledge-base ingredients a recall is about: `named` (an id or name) when the
    caller knows it, else those named in `texts` (the medicine as the patient knows it)
    or in the products' descriptions."""
    if named is not None:
        return (catalog.ingredient(named),)
    found: dict[str, Ingredient] = {}
    for text in (*texts, *(product.description for product in record.products)):
        for identity in catalog.identify_drug_text(text):
            if identity.ingredient is not None:
                found.setdefault(identity.ingredient, catalog.ingredients[identity.ingredient])
    return tuple(found.values())


def _cautions(ingredients: Iterable[Ingredient], route: str | None
              ) -> tuple[WithdrawalCaution, ...]:
    return tuple(c for c in (withdrawal_caution(i, route) for i in ingredients) if c)


# -- consignee (pharmacy or clinic) notice ---------------------------------------------------

def consignee_notice(record: RecallRecord, consignee: Consignee, catalog: Catalog,
                     hazard: Hazard = KEEP_TAKING, *,
                     lots: Collection[RecallLot] | None = None) -> Composed:
    """The §7.49 notice to a pharmacy or clinic that holds or dispensed recalled lots.

    `lots` narrows the product list to the lots that concern this consignee (all of the
    recall's lots by default)."""
    mark = marking(record)
    products = _products(record, lots)
    blocks: list[Block] = [Block(mark, "title"), *_identity(record)]
    blocks.append(Block(f"To: {consignee.contact.name}", "strong"))
    blocks += _product_blocks(products)
    blocks += _reason_blocks(record)

    held = [lot for lot in consignee.lots if lot.on_hand or lot.dispensed_to]
    if held:
        blocks.append(Block("What our records show for you", "heading"))
        for lot in held:
            on_hand = "units on hand not known" if lot.on_hand is None else (
                f"{lot.on_hand} unit{'s' if lot.on_hand != 1 else ''} on hand")
            blocks.append(Block(f"Lot {lot.lot_number}: {on_hand}; dispensed to "
                                f"{_count(lot.dispensed_to, 'patient')}.", "bullet"))

    cautions = _cautions(ingredients_of(record, catalog), None)
    blocks.append(Block("What to do now", "heading"))
    blocks += [
        Block("Stop dispensing the lots listed above and quarantine every unit at once: "
              "shelves, dispensing robots, wards and kits. medsafe refuses these lots at "
              "dispensing.", "bullet"),
        Block("Check your dispensing records for these lots. The patients medsafe found "
              "are listed on the recall's page.", "bullet"),
        Block(_depth_instruction(record.depth), "bullet"),
    ]
    blocks += _patient_advice_for_professionals(hazard, cautions)
    blocks += [
        Block("If you passed any of these lots on to another pharmacy, clinic or ward, "
              "tell them at once and pass this notice on (21 CFR 7.49).", "bullet"),
        Block(f"Keep the quarantined stock until {record.firm.name} says how to return or "
              "destroy it.", "bullet"),
    ]
    blocks.append(Block("How to reply", "heading"))
    blocks.append(Block("Confirm that you received this notice with the link at the end of "
                        "it. Then record on the recall's page in medsafe how many units you "
                        "quarantined and returned, even if you hold none.", "body"))
    blocks += _firm_blocks(record)
    subject = _one_line(f"{mark}: {_product_short(products)} – "
                        f"{_lot_summary(products)} – {_reference(record)}")
    return Composed(consignee.kind, subject, tuple(blocks))


def _depth_instruction(depth: Depth | None) -> str:
    if depth is Depth.CONSUMER:
        return ("This recall goes to the patient (consumer) level. medsafe sends a notice to "
                "every patient who received these lots; patients without e-mail get a "
                "printed letter, and you get a task to telephone them.")
    if depth in (Depth.RETAIL, Depth.WHOLESALE):
        level = "retail" if depth is Depth.RETAIL else "wholesale"
        return (f"This recall goes to the {level} level, not to patients. medsafe lists the "
                "patients who received these lots with a proposal for each; you decide "
                "which of them to tell.")
    return ("The recall's depth is not set yet; medsafe will tell you whether patients are "
            "to be notified.")


def _patient_advice_for_professionals(hazard: Hazard, cautions: Sequence[WithdrawalCaution]
                                      ) -> list[Block]:
    blocks: list[Block] = []
    if hazard.stop:
        blocks.append(Block("The hazard calls for patients to stop using medicine from these "
                            "lots now. The reason given:", "bullet"))
        blocks.append(Block(str(hazard.stop_reason), "quote"))
        blocks.append(Block("Give each patient a supply from a lot that is not recalled, or "
                            "have the prescriber switch them, the same day.", "bullet"))
    else:
        blocks.append(Block("Do not tell patients to stop. Patients are told to keep taking "
                            "their medicine until their prescriber or pharmacist gives them a "
                            "supply from a lot that is not recalled or switches them.",
                            "bullet"))
    for caution in cautions:
        blocks.append(Block(f"{caution.ingredient} must not be stopped abruptly. The label "
                            f"warns ({caution.title}):", "bullet"))
        blocks.append(Block(caution.text, "quote"))
        blocks.append(Block(f"Source: {caution.citation}", "small"))
    return blocks


# -- prescriber notice -----------------------------------------------------------------------

def prescriber_notice(record: RecallRecord, prescriber: Contact,
                      patients: Sequence[AffectedPatient], catalog: Catalog,
                      hazard: Hazard = KEEP_TAKING) -> Composed:
    """The notice to a prescriber: which of their patients received the recalled lots and
    what to do for each."""
    if not patients:
        raise Invalid("a prescriber is notified about at least one patient",
                      where="prescriber.patients")
    mark = marking(record)
    lot_numbers = {r.lot_number for p in patients for r in p.received}
    products = _products(record, [lot for product in record.products for lot in product.lots
                                  if lot.number in lot_numbers] or None)
    blocks: list[Block] = [Block(mark, "title"), *_identity(record),
                           Block(f"To: {prescriber.name}", "strong")]
    blocks += _product_blocks(products)
    blocks += _reason_blocks(record)
    blocks.append(Block("Your patients who received these lots", "heading"))
    for patient in sorted(patients, key=lambda p: (p.shown_as, p.key)):
        received = "; ".join(f"lot {r.lot_number} on {_day(r.dispensed_on)}"
                             for r in sorted(patient.received, key=lambda r: r.dispensed_on))
        blocks.append(Block(f"{patient.shown_as}: {patient.medicine}, {received}, from "
                            f"{patient.pharmacy.name}.", "bullet"))
    blocks.append(Block("What to do", "heading"))
    blocks.append(Block("For each patient, arrange the same medicine from a lot that is not "
                        "recalled, or switch them to another treatment, and record the "
                        "change in medsafe.", "bullet"))
    ingredients: dict[str, Ingredient] = {}
    for patient in patients:
        for ingredient in ingredients_of(record, catalog, patient.ingredient,
                                         (patient.medicine,)):
            ingredients.setdefault(ingredient.id, ingredient)
    routes = {p.route for p in patients}
    blocks += _patient_advice_for_professionals(
        hazard, _cautions(ingredients.values(), routes.pop() if len(routes) == 1 else None))
    blocks.append(Block("How to reply", "heading"))
    blocks.append(Block("Confirm that you received this notice with the link at the end of "
                        "it.", "body"))
    blocks += _firm_blocks(record)
    subject = _one_line(f"{mark}: {_count(len(patients), 'of your patients', 'of your patients')}"
                        f" received {_product_short(products)} – {_reference(record)}")
    return Composed("prescriber", subject, tuple(blocks))


# -- patient notice --------------------------------------------------------------------------

def patient_notice(record: RecallRecord, patient: AffectedPatient, catalog: Catalog,
                   hazard: Hazard = KEEP_TAKING, *, letter: bool = False,
                   today: date | None = None) -> Composed:
    """The plain-language notice to a patient who received recalled lots: e-mail, or a
    printed letter (`letter`: addressed, dated, and answered by telephone instead of a
    link)."""
    marking(record)  # refuses what nobody outside the firm is told about
    medicine = patient.medicine
    ingredients = ingredients_of(record, catalog, patient.ingredient, (medicine,))
    cautions = _cautions(ingredients, patient.route)
    pharmacy = patient.pharmacy
    call = f"{pharmacy.name} at {pharmacy.phone}" if pharmacy.phone else pharmacy.name

    blocks: list[Block] = []
    if letter:
        blocks += _letter_head(patient, today)
    title = f"{'Urgent' if urgent(record) else 'Important'}: a recall of your {medicine}"
    blocks.append(Block(title, "title"))
    blocks.append(Block(f"Dear {patient.contact.name},", "body"))

    blocks.append(Block("What is wrong", "heading"))
    several = len({r.lot_number for r in patient.received}) > 1
    batch = ("batches that are being recalled. The batch numbers are" if several
             else "a batch that is being recalled. The batch number is")
    blocks.append(Block(f"{pharmacy.name} gave you {medicine} {_dates(patient.received)}. "
                        f"It came from {batch} {_lots(patient.received)}.", "body"))
    if hazard.plain_words:
        blocks.append(Block(hazard.plain_words, "body"))
    else:
        blocks.append(Block(f"The maker, {record.firm.name}, gave this reason:", "body"))
        blocks.append(Block(record.reason, "quote"))

    blocks.append(Block("What to do", "heading"))
    if hazard.stop:
        blocks.append(Block(f"Stop using the {medicine} from this batch now. This is why:",
                            "bullet"))
        blocks.append(Block(str(hazard.stop_reason), "quote"))
        blocks.append(Block(f"Call {call} today. They will give you a safe supply or a new "
                            "medicine.", "bullet"))
    else:
        blocks.append(Block(f"Keep taking your {medicine}. Do not stop on your own.", "bullet"))
        blocks.append(Block("Your doctor or pharmacist will give you a new supply or a new "
                            "medicine. Keep taking this one until they do.", "bullet"))
    for caution in cautions:
        lead = (f"Do not go without {caution.ingredient.lower()}. " if hazard.stop else "")
        blocks.append(Block(f"{lead}Stopping {caution.ingredient.lower()} all at once can be "
                            "dangerous. The drug label says:", "bullet"))
        blocks.append(Block(caution.text, "quote"))
        blocks.append(Block(f"Source: {caution.citation}", "small"))
    blocks.append(Block("Keep the pack. Take it back to your pharmacy when you get your new "
                        "supply.", "bullet"))

    blocks.append(Block("If you feel unwell", "heading"))
    blocks.append(Block("Call your doctor. In an emergency, call your local emergency "
                        "number.", "body"))
    blocks.append(Block("Questions and reply", "heading"))
    blocks.append(Block(f"If you have questions, call {call}.", "body"))
    if letter:
        blocks.append(Block(f"Please call {pharmacy.name} to tell them you got this letter.",
                            "body"))
    else:
        blocks.append(Block("Please tell us you got this message. Use the link at the end.",
                            "body"))
    blocks.append(Block(f"Recall {_reference(record)}. {pharmacy.name}.", "small"))
    return Composed("patient", _one_line(title), tuple(blocks))


def _letter_head(patient: AffectedPatient, today: date | None) -> list[Block]:
    pharmacy = patient.pharmacy
    sender = "\n".join([pharmacy.name, *pharmacy.address,
                        *([f"Telephone {pharmacy.phone}"] if pharmacy.phone else [])])
    blocks = [Block(sender, "small")]
    if patient.contact.address:
        blocks.append(Block("\n".join([patient.contact.name, *patient.contact.address]),
                            "body"))
    if today is not None:
        blocks.append(Block(_day(today), "body"))
    return blocks


# -- phone-call task -------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class PhoneCallTask:
    """A task for the pharmacy: telephone a patient who has no e-mail address."""

    patient_key: str
    pharmacy: str
    phone: str | None
    title: str
    script: str


def phone_call_task(record: RecallRecord, patient: AffectedPatient, catalog: Catalog,
                    hazard: Hazard = KEEP_TAKING) -> PhoneCallTask:
    """What the pharmacy's staff say on the telephone: the patient notice's own words,
    with who to call and what to record."""
    notice = patient_notice(record, patient, catalog, hazard, letter=True)
    phone = patient.contact.phone
    who = f"{patient.contact.name} on {phone}" if phone else patient.contact.name
    lots = _lots(patient.received)
    lines = [
        f"Call {who} about recalled {patient.medicine} (lot {lots}, recall "
        f"{_reference(record)}).",
        "" if phone else "No telephone number is on file: post the printed letter and "
                         "record that you could not call.",
        "Tell them:",
    ]
    start = next(i for i, b in enumerate(notice.blocks) if b.text == "What is wrong")
    for block in notice.blocks[start:]:
        if block.style == "heading" or block.text.startswith("Please call"):
            continue
        prefix = {"bullet": "- ", "quote": "    ", "small": "    "}.get(block.style, "")
        lines.append(prefix + block.text)
    lines += [
        "Check that they know to keep taking it until they are switched."
        if not hazard.stop else "Check that they know to stop using this batch today and "
                                "that you have arranged a safe supply.",
        "Record the outcome in medsafe: reached, left a message, or no answer. If there was "
        "no answer, try again the next working day.",
    ]
    title = _one_line(f"Call {patient.contact.name} about recalled {patient.medicine}")
    return PhoneCallTask(patient.key, patient.pharmacy.name, phone, title,
                         "\n".join(line for line in lines if line))


# -- who among the patients is told (depth) --------------------------------------------------

@dataclass(frozen=True, slots=True)
class Proposal:
    """medsafe's proposal for one patient at retail or wholesale depth; the pharmacist
    decides."""

    patient: AffectedPatient
    notify: bool
    reasons: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PatientNoticePlan:
    """Who is told. At consumer depth `notify` holds every affected patient and there is
    nothing to decide; at retail or wholesale depth `notify` is empty and `proposals` holds
    one proposal per patient (proposed ones first, most recent first)."""

    depth: Depth
    notify: tuple[AffectedPatient, ...] = ()
    proposals: tuple[Proposal, ...] = field(default=())


RECENT_DAYS = 90  # local policy: a dispensing this recent may not be used up yet


def plan_patient_notices(record: RecallRecord, patients: Sequence[AffectedPatient],
                         hazard: Hazard = KEEP_TAKING, *, today: date,
                         recent_days: int = RECENT_DAYS) -> PatientNoticePlan:
    """Apply the depth rule. A proposal says notify when the recall is Class I, when the
    hazard says to stop, or when the patient received a lot within `recent_days` (they
    may still have some); otherwise it says why not. Invalid before the depth is set."""
    if record.depth is None:
        raise Invalid("set the recall's strategy (its depth) before planning patient notices",
                      where="recall.depth")
    if recent_days < 1:
        raise Invalid("must be at least 1 day", where="recent_days")
    marking(record)
    unique = list({p.key: p for p in patients}.values())
    if len(unique) != len(patients):
        raise Invalid("each patient is listed once (with all the lots they received)",
                      where="patients")
    if record.depth is Depth.CONSUMER:
        return PatientNoticePlan(record.depth, notify=tuple(unique))
    proposals = [_propose(record, p, hazard, today, recent_days) for p in unique]
    proposals.sort(key=lambda p: (not p.notify, -p.patient.last_received.toordinal(),
                                  p.patient.key))
    return PatientNoticePlan(record.depth, proposals=tuple(proposals))


def _propose(record: RecallRecord, patient: AffectedPatient, hazard: Hazard, today: date,
             recent_days: int) -> Proposal:
    reasons: list[str] = []
    if record.classification is RecallClass.I:
        reasons.append(f"Class I: {CLASS_MEANING[RecallClass.I]}")
    if hazard.stop:
        reasons.append("the hazard says to stop using medicine from these lots")
    days = (today - patient.last_received).days
    if days <= recent_days:
        reasons.append(f"received a recalled lot {_count(days, 'day')} ago: may still have "
                       "some")
    if reasons:
        return Proposal(patient, True, tuple(reasons))
    return Proposal(patient, False, (f"last received a recalled lot {days} days ago (more "
                                     f"than {recent_days}): probably used up",))


# -- shared pieces ---------------------------------------------------------------------------

def _products(record: RecallRecord, lots: Collection[RecallLot] | None
              ) -> tuple[RecallProduct, ...]:
    if lots is None:
        return record.products
    wanted = set(lots)
    chosen = tuple(p for p in record.products
                   if p.all_lots or any(lot in wanted for lot in p.lots))
    if not chosen:
        raise Invalid("none of these lots is in the recall", where="lots")
    return tuple(
        p if p.all_lots else RecallProduct(
            description=p.description, ndcs=p.ndcs, quantity=p.quantity,
            lots=tuple(lot for lot in p.lots if lot in wanted), code_info=p.code_info)
        for p in chosen)


def _identity(record: RecallRecord) -> list[Block]:
    parts = [f"Recall {_reference(record)}"]
    if record.classification is not None:
        parts.append(f"Class {record.classification.value} "
                     f"({CLASS_MEANING[record.classification]}, 21 CFR 7.3(m))")
    elif record.kind is not RecallKind.MARKET_WITHDRAWAL:
        parts.append("not yet classified by FDA")
    if record.depth is not None:
        parts.append(f"depth: {record.depth.value}")
    return [Block(" · ".join(parts), "small")]


def _product_blocks(products: Sequence[RecallProduct]) -> list[Block]:
    blocks = [Block("Product", "heading")]
    for product in products:
        blocks.append(Block(product.description, "strong"))
        details = []
        if product.ndcs:
            details.append("NDC " + ", ".join(format_ndc(n) for n in product.ndcs))
        if product.quantity:
            details.append(f"quantity recalled: {product.quantity}")
        if details:
            blocks.append(Block("; ".join(details), "body"))
        if product.all_lots:
            blocks.append(Block("All lots of this product are recalled.", "bullet"))
        for lot in product.lots:
            expiry = f", expiry {lot.expiry.isoformat()}" if lot.expiry else ""
            ndc = f", NDC {format_ndc(lot.ndc)}" if lot.ndc else ""
            blocks.append(Block(f"Lot {lot.number}{expiry}{ndc}", "bullet"))
        if product.code_info and not product.lots and not product.all_lots:
            blocks.append(Block(f"Codes as the firm gives them: {product.code_info}", "body"))
    return blocks


def _reason_blocks(record: RecallRecord) -> list[Block]:
    blocks = [Block("Reason and hazard", "heading"), Block(record.reason, "body")]
    if record.classification is not None:
        blocks.append(Block(f"FDA classified this recall Class {record.classification.value}: "
                            f"{CLASS_MEANING[record.classification]}.", "body"))
    return blocks


def _firm_blocks(record: RecallRecord) -> list[Block]:
    firm = record.firm
    place = ", ".join(p for p in (firm.address_1, firm.address_2, firm.city, firm.state,
                                  firm.postal_code, firm.country) if p)
    return [Block(f"Recalling firm: {firm.name}" + (f", {place}" if place else ""), "small")]


def format_ndc(ndc: str) -> str:
    """An 11-digit NDC in its 5-4-2 printed form."""
    return f"{ndc[:5]}-{ndc[5:9]}-{ndc[9:]}" if len(ndc) == 11 and ndc.isdigit() else ndc


def _reference(record: RecallRecord) -> str:
    return record.recall_number or (f"event {record.event_id}" if record.event_id
                                    else "(number not assigned yet)")


def _product_short(products: Sequence[RecallProduct], longest: int = 70) -> str:
    text = " ".join(products[0].description.split())
    if len(text) > longest:
        text = text[:longest].rsplit(" ", 1)[0] + "…"
    return text + (f" and {len(products) - 1} more" if len(products) > 1 else "")


def _lot_summary(products: Sequence[RecallProduct], most: int = 4) -> str:
    if any(p.all_lots for p in products):
        return "all lots"
    numbers = [lot.number for p in products for lot in p.lots]
    if not numbers:
        return "lots in the notice"
    shown = ", ".join(numbers[:most])
    more = f" and {len(numbers) - most} more" if len(numbers) > most else ""
    return f"lot{'s' if len(numbers) > 1 else ''} {shown}{more}"


def _dates(received: Sequence[Received]) -> str:
    days = sorted({r.dispensed_on for r in received})
    return "on " + _and([_day(d) for d in days])


def _lots(received: Sequence[Received]) -> str:
    return _and(sorted({r.lot_number for r in received}))


def _and(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _day(day: date) -> str:
    return f"{day.day} {day:%B %Y}"


def _count(n: int, singular: str, plural: str | None = None) -> str:
    return f"{n} {singular if n == 1 else plural or singular + 's'}"


def _one_line(text: str, longest: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= longest else text[:longest - 1] + "…"


# -- rendering -------------------------------------------------------------------------------

def render_text(blocks: Sequence[Block], width: int = 78) -> str:
    """Plain text for e-mail: headings underlined, bullets dashed, quotes indented,
    wrapped at `width` without breaking words or links."""
    out: list[str] = []
    previous = ""
    for block in blocks:
        follows_quote, previous = previous == "quote", block.style
        if block.style == "title":
            out += [block.text, "=" * min(len(block.text), width), ""]
            continue
        if block.style == "heading":
            if out and out[-1]:
                out.append("")
            out += [block.text, "-" * min(len(block.text), width)]
            continue
        first, rest = {"bullet": ("- ", "  "), "quote": ("    ", "    ")}.get(
            block.style, ("    ", "    ") if follows_quote else ("", ""))
        for line in block.text.split("\n"):
            out += textwrap.wrap(line, width, initial_indent=first, subsequent_indent=rest,
                                 break_long_words=False, break_on_hyphens=False) or [""]
            first = rest
        if block.style != "bullet":
            out.append("")
    return "\n".join(out).rstrip("\n") + "\n"


_ELEMENTS = {
    "title": "<h1>{}</h1>", "heading": "<h2>{}</h2>", "body": "<p>{}</p>",
    "strong": "<p><strong>{}</strong></p>", "bullet": "<li>{}</li>",
    "quote": "<blockquote>{}</blockquote>", "small": '<p style="font-size:smaller">{}</p>',
}


def render_html(title: str, blocks: Sequence[Block]) -> str:
    """A small, self-contained HTML document; every text escaped."""
    parts: list[str] = []
    in_list = False
    for block in blocks:
        text = html.escape(block.text).replace("\n", "<br>\n")
        element = _ELEMENTS[block.style].format(text)
        if in_list and block.style in ("quote", "small"):
            # A quotation or its source belongs to the list item it follows.
            parts[-1] = parts[-1].removesuffix("</li>") + element + "</li>"
            continue
        if block.style == "bullet" and not in_list:
            parts.append("<ul>")
            in_list = True
        elif block.style != "bullet" and in_list:
            parts.append("</ul>")
            in_list = False
        parts.append(element)
    if in_list:
        parts.append("</ul>")
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title></head>\n<body>\n" + "\n".join(parts)
            + "\n</body>\n</html>\n")
