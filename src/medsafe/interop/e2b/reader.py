"""Reads an ICH E2B(R3) batch (MCCI_IN200100UV01) into `CaseReport`s, one per message.

The structure followed is the one in FDA's example instances FAERS2022Scenario1-3.xml and
the "Xpath" column of `fda_icsr_data_elements.csv` (../shared/data/e2b-examples; the tables
are shipped in `data/`). The untrusted file is parsed by `safe_xml.parse_xml` first.

Mapping decisions (docs/e2b.md has the full element table):
- Dates: HL7 TS values become the model's PartialDate at the precision given
  ("2022", "2022-03", "2022-03-15"; a time is dropped). C.1.4 and C.1.5 must name a day.
- A value carried with a nullFlavor is read as "no value" (None), except D.5 nullFlavor UNK,
  which is the model's "unknown" sex.
- Reaction words: E.i.1.1a (native language) when present, else E.i.1.2 (for translation),
  else the MedDRA code's displayName, else "MedDRA <code>". FDA's examples carry only
  E.i.1.2 and codes without names, so the coded term's name is the reporter's words unless
  the file names the LLT (displayName): MedDRA names are licensed and medsafe ships none.
- Ids: a reaction's and a drug's model id is its XML `id` (a UUID in E2B, referenced by
  G.k.1, G.k.9.i.1 and G.k.9.i.4), or "r1", "r2" … / "d1", "d2" … by order when the file
  gives none, repeats one or gives one longer than the model allows.
- G.k.4.r (several dosage rows per drug) folds into the model's one dosage per drug: the
  first row that gives a value wins for each field; every row's lot number is kept.
- G.k.9.i.4 is per drug and reaction in E2B, per drug in the model: positive wins over
  negative over unknown over not applicable.
- The case-level occurrence country is the first reaction's E.i.9.

A value that cannot be mapped (an unknown code, a malformed date, a dangling reference)
raises `Invalid` with where = "<file>: <element number>" and the XPath-ish location.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, TypeVar

from lxml import etree
from pydantic import BaseModel, ValidationError

from medsafe.cases.model import (
    CaseReport,
    Causality,
    Challenge,
    Coded,
    Drug,
    DrugRole,
    PatientInfo,
    PrimarySource,
    Reaction,
    Seriousness,
)
from medsafe.errors import Invalid
from medsafe.interop.e2b import codes as c
from medsafe.interop.e2b.hl7 import (
    location,
    p,
    parse_number,
    q,
    ts_to_date,
    ts_to_datetime,
    ts_to_partial_date,
)
from medsafe.interop.e2b.safe_xml import parse_xml

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")
W = TypeVar("W", bound=str)

ID_MAX = 40  # Reaction.id and Drug.id bound in the model

# Which E2B element each model field carries, to name the element when a value is refused.
REPORT_FIELDS: Mapping[str, str] = {
    "sender_report_id": "C.1.1", "worldwide_id": "C.1.8.1", "report_type": "C.1.3",
    "first_received": "C.1.4", "latest_received": "C.1.5",
    "sender_organisation": "C.3.2", "occurrence_country": "E.i.9",
    "other_case_ids": "C.1.9.1.r.2", "linked_reports": "C.1.10.r",
    "nullification": "C.1.11.1", "nullification_reason": "C.1.11.2", "narrative": "H.1",
    "sender_comment": "H.4", "sender_diagnosis": "H.3.r",
}
SOURCE_FIELDS: Mapping[str, str] = {
    "given_name": "C.2.r.1.2", "family_name": "C.2.r.1.4", "organisation": "C.2.r.2.1",
    "qualification": "C.2.r.4", "country": "C.2.r.3", "regulatory": "C.2.r.5",
    "withheld": "C.2.r.1",
}
PATIENT_FIELDS: Mapping[str, str] = {
    "initials": "D.1", "age": "D.2.2a", "age_unit": "D.2.2b", "age_group": "D.2.3",
    "sex": "D.5", "weight_kg": "D.3", "height_cm": "D.4", "birth_date": "D.2.1",
    "medical_history": "D.7.1.r", "medical_history_text": "D.7.2", "died_on": "D.9.1",
}
HISTORY_FIELDS: Mapping[str, str] = {
    "term": "D.7.1.r.1b", "code": "D.7.1.r.1b", "terminology": "D.7.1.r.1b",
    "version": "D.7.1.r.1a",
}
REACTION_FIELDS: Mapping[str, str] = {
    "id": "E.i", "verbatim": "E.i.1.1a", "coded": "E.i.2.1b", "start": "E.i.4",
    "end": "E.i.5", "seriousness": "E.i.3.2", "outcome": "E.i.7", "country": "E.i.9",
}
CODED_REACTION_FIELDS: Mapping[str, str] = {
    "term": "E.i.2.1b", "code": "E.i.2.1b", "terminology": "E.i.2.1b", "version": "E.i.2.1a",
}
DRUG_FIELDS: Mapping[str, str] = {
    "id": "G.k", "role": "G.k.1", "product_name": "G.k.2.2", "substances": "G.k.2.3.r.1",
    "ndc": "G.k.2.1.1b", "manufacturer": "G.k.3.3", "lot_numbers": "G.k.4.r.7",
    "dose_text": "G.k.4.r.8", "dose_value": "G.k.4.r.1a", "dose_unit": "G.k.4.r.1b",
    "route": "G.k.4.r.10.1", "start": "G.k.4.r.4", "end": "G.k.4.r.5",
    "indication": "G.k.7.r.1", "action_taken": "G.k.8", "rechallenge": "G.k.9.i.4",
}
CAUSALITY_FIELDS: Mapping[str, str] = {
    "drug_id": "G.k.9.i.1", "reaction_id": "G.k.9.i.1", "source": "G.k.9.i.2.r.1",
    "method": "G.k.9.i.2.r.2", "result": "G.k.9.i.2.r.3",
}


@dataclass(frozen=True, slots=True)
class E2bMessage:
    """One ICSR message of a batch: the batch and message headers and the case version."""

    batch_id: str  # N.1.2
    batch_sender: str | None  # N.1.3
    batch_receiver: str | None  # N.1.4
    batch_created: datetime | None  # N.1.5
    message_id: str  # N.2.r.1
    sender_id: str | None  # N.2.r.2
    receiver_id: str | None  # N.2.r.3
    message_created: datetime | None  # N.2.r.4
    report_created: datetime | None  # C.1.2
    sender_type: str | None  # C.3.1, as a word of codes.SENDER_TYPE
    report: CaseReport


@dataclass(frozen=True, slots=True)
class _Batch:
    batch_id: str
    sender: str | None
    receiver: str | None
    created: datetime | None


@dataclass(frozen=True, slots=True)
class _Ctx:
    """Where errors are reported: the file name and the message number."""

    source: str | None
    message: int = 0

    def invalid(self, element: str, reason: str,
                node: etree._Element | None = None) -> Invalid:
        parts = [f"message {self.message}"] if self.message else []
        if node is not None:
            parts.append(f"at {location(node)}")
        detail = f" ({', '.join(parts)})" if parts else ""
        where = f"{self.source}: {element}" if self.source else element
        return Invalid(f"{reason}{detail}", where=where)


def read_e2b(data: bytes, *, source_name: str | None = None) -> list[E2bMessage]:
    """Every ICSR message of an E2B(R3) batch, in file order."""
    root = parse_xml(data, source_name=source_name)
    ctx = _Ctx(source_name)
    if root.tag != q("MCCI_IN200100UV01"):
        raise ctx.invalid("N.1", f"not an E2B(R3) ICSR batch: the root element is "
                          f"'{etree.QName(root).localname}' in namespace "
                          f"'{etree.QName(root).namespace}', expected MCCI_IN200100UV01 "
                          "in urn:hl7-org:v3", root)
    batch = _batch(root, ctx)
    messages = root.findall(q("PORR_IN049016UV"))
    if not messages:
        raise ctx.invalid("N.2.r", "the batch carries no ICSR message (PORR_IN049016UV)",
                          root)
    return [_message(node, batch, _Ctx(source_name, n)) for n, node in
            enumerate(messages, 1)]


# --- small XML helpers -------------------------------------------------------------

def _kid(node: etree._Element | None, path: str) -> etree._Element | None:
    return None if node is None else node.find(p(path))


def _kids(node: etree._Element | None, path: str) -> list[etree._Element]:
    return [] if node is None else node.findall(p(path))


def _null(node: etree._Element) -> bool:
    return node.get("nullFlavor") is not None


def _text(node: etree._Element | None) -> str | None:
    """Element text, stripped; None when absent, empty or given as a nullFlavor."""
    if node is None or _null(node):
        return None
    text = "".join(t if isinstance(t, str) else t.decode() for t in node.itertext())
    return text.strip() or None


def _attr(node: etree._Element | None, name: str) -> str | None:
    if node is None or _null(node):
        return None
    value = node.get(name)
    return value.strip() or None if value is not None else None


def _id(node: etree._Element | None, root: str) -> str | None:
    """The extension of the node's `id` child with the given root."""
    for child in _kids(node, "id"):
        if child.get("root") == root:
            return _attr(child, "extension")
    return None


def _has_code(node: etree._Element | None, code: str, system: str) -> bool:
    return node is not None and node.get("code") == code and node.get("codeSystem") == system


def _coded_child(parent: etree._Element | None, relation: str, act: str, code: str,
                 system: str) -> list[etree._Element]:
    """The `act` elements under `relation` children of parent whose code is code/system."""
    return [node for node in _kids(parent, f"{relation}/{act}")
            if _has_code(_kid(node, "code"), code, system)]


def _first(nodes: Sequence[etree._Element]) -> etree._Element | None:
    return nodes[0] if nodes else None


def _bool(node: etree._Element | None) -> bool:
    """A BL value: true only when it says value="true" (nullFlavor NI means not met)."""
    return _attr(node, "value") == "true"


def _make(cls: type[M], ctx: _Ctx, fields: Mapping[str, str], section: str,
          node: etree._Element | None, **values: Any) -> M:
    """Builds a model object; a value the model refuses becomes Invalid naming the element."""
    try:
        return cls(**values)
    except ValidationError as error:
        first = error.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else ""
        shown = repr(first.get("input"))
        shown = shown if len(shown) <= 60 else shown[:57] + "..."
        raise ctx.invalid(fields.get(field, section),
                          f"{first['msg']} ({field} = {shown})", node) from None


def _convert(ctx: _Ctx, element: str, node: etree._Element | None,
             value: str | None, convert: Callable[[str], T]) -> T | None:
    if value is None:
        return None
    try:
        return convert(value)
    except ValueError as error:
        raise ctx.invalid(element, f"{element} has an unusable value: {error}",
                          node) from None


def _partial(ctx: _Ctx, element: str, node: etree._Element | None) -> str | None:
    return _convert(ctx, element, node, _attr(node, "value"), ts_to_partial_date)


def _datetime(ctx: _Ctx, element: str, node: etree._Element | None) -> datetime | None:
    return _convert(ctx, element, node, _attr(node, "value"), ts_to_datetime)


def _number(ctx: _Ctx, element: str, node: etree._Element | None) -> float | None:
    return _convert(ctx, element, node, _attr(node, "value"), parse_number)


def _required_day(ctx: _Ctx, element: str, node: etree._Element | None) -> date:
    day = _convert(ctx, element, node, _attr(node, "value"), ts_to_date)
    if day is None:
        raise ctx.invalid(element, f"Data value required for tag {element}", node)
    return day


def _interval(node: etree._Element | None) -> tuple[etree._Element | None,
                                                      etree._Element | None]:
    """The low and high of an IVL_TS, or of the IVL_TS inside an SXPR_TS (E.i.4/E.i.5,
    G.k.4.r.4/G.k.4.r.5 are written either way)."""
    if node is None or _null(node):
        return None, None
    low, high = _kid(node, "low"), _kid(node, "high")
    for comp in _kids(node, "comp"):
        low = low if low is not None else _kid(comp, "low")
        high = high if high is not None else _kid(comp, "high")
    return low, high


def _code(ctx: _Ctx, table: c.CodeTable[W], node: etree._Element | None) -> W | None:
    return _lookup(ctx, table, _attr(node, "code"), node)


def _lookup(ctx: _Ctx, table: c.CodeTable[W], value: str | None,
            node: etree._Element | None) -> W | None:
    if value is None:
        return None
    try:
        return table.word(value)
    except Invalid as error:
        raise ctx.invalid(table.element, error.reason, node) from None


def _model_ids(keys: Sequence[str | None], prefix: str) -> list[str]:
    """XML ids when every item has a distinct usable one, else positional ids."""
    usable = [k for k in keys if k is not None and 0 < len(k) <= ID_MAX]
    if len(usable) == len(keys) and len(set(usable)) == len(usable):
        return usable
    return [f"{prefix}{n}" for n in range(1, len(keys) + 1)]


def _xml_id(node: etree._Element | None) -> str | None:
    """The key of an `id` element: its root, with the extension when there is one."""
    if node is None or _null(node):
        return None
    root, extension = node.get("root"), node.get("extension")
    if not root:
        return None
    return f"{root}/{extension}" if extension else root


# --- batch and message -------------------------------------------------------------

def _batch(root: etree._Element, ctx: _Ctx) -> _Batch:
    batch_id = _id(root, c.ROOT_BATCH)
    if batch_id is None:
        raise ctx.invalid("N.1.2", "Data value required for tag N.1.2", root)
    return _Batch(
        batch_id=batch_id,
        sender=_id(_kid(root, "sender/device"), c.ROOT_BATCH_SENDER),
        receiver=_id(_kid(root, "receiver/device"), c.ROOT_BATCH_RECEIVER),
        created=_datetime(ctx, "N.1.5", _kid(root, "creationTime")))


def _message(node: etree._Element, batch: _Batch, ctx: _Ctx) -> E2bMessage:
    message_id = _id(node, c.ROOT_MESSAGE)
    if message_id is None:
        raise ctx.invalid("N.2.r.1", "Data value required for tag N.2.r.1", node)
    act = _kid(node, "controlActProcess")
    event = _kid(act, "subject/investigationEvent")
    if event is None:
        raise ctx.invalid("C.1", "the message has no case (controlActProcess/subject/"
                          "investigationEvent)", node)
    return E2bMessage(
        batch_id=batch.batch_id, batch_sender=batch.sender, batch_receiver=batch.receiver,
        batch_created=batch.created, message_id=message_id,
        sender_id=_id(_kid(node, "sender/device"), c.ROOT_MESSAGE_SENDER),
        receiver_id=_id(_kid(node, "receiver/device"), c.ROOT_MESSAGE_RECEIVER),
        message_created=_datetime(ctx, "N.2.r.4", _kid(node, "creationTime")),
        report_created=_datetime(ctx, "C.1.2", _kid(act, "effectiveTime")),
        sender_type=_code(ctx, c.SENDER_TYPE, _kid(_sender(event), "code")),
        report=_report(event, ctx))


def _characteristic(event: etree._Element, code: str) -> etree._Element | None:
    found = _coded_child(event, "subjectOf2", "investigationCharacteristic", code,
                         c.ICH_CHARACTERISTIC)
    return _kid(_first(found), "value")


def _sender(event: etree._Element) -> etree._Element | None:
    """C.3: the author of the subjectOf1 control act coded with a sender type (C.3.1)."""
    for author in _kids(event, "subjectOf1/controlActEvent/author/assignedEntity"):
        code = _kid(author, "code")
        if code is not None and code.get("codeSystem") == c.SENDER_TYPE.code_system:
            return author
    return None


def _report(event: etree._Element, ctx: _Ctx) -> CaseReport:
    sender_report_id = _id(event, c.ROOT_MESSAGE)
    worldwide_id = _id(event, c.ROOT_WORLDWIDE)
    if sender_report_id is None:
        raise ctx.invalid("C.1.1", "Data value required for tag C.1.1", event)
    if worldwide_id is None:
        raise ctx.invalid("C.1.8.1", "Data value required for tag C.1.8.1", event)
    assessment = _kid(event, "component/adverseEventAssessment")
    role = _kid(assessment, "subject1/primaryRole")
    reactions, reaction_ids = _reactions(role, ctx)
    drugs, drug_ids = _drugs(role, assessment, reaction_ids, ctx)
    report_type = _code(ctx, c.REPORT_TYPE, _characteristic(event, c.CHAR_REPORT_TYPE))
    if report_type is None:
        raise ctx.invalid("C.1.3", "Data value required for tag C.1.3", event)
    return _make(
        CaseReport, ctx, REPORT_FIELDS, "C.1", event,
        sender_report_id=sender_report_id, worldwide_id=worldwide_id,
        report_type=report_type,
        first_received=_required_day(ctx, "C.1.4", _kid(event, "effectiveTime/low")),
        latest_received=_required_day(ctx, "C.1.5", _kid(event, "availabilityTime")),
        sender_organisation=_text(_kid(
            _sender(event),
            "representedOrganization/assignedEntity/representedOrganization/name")),
        occurrence_country=next((r.country for r in reactions if r.country), None),
        other_case_ids=tuple(v for v in (
            _id(n, c.ROOT_OTHER_CASE) for n in _kids(event, "subjectOf1/controlActEvent"))
            if v),
        linked_reports=_linked_reports(event),
        nullification=_code(ctx, c.NULLIFICATION,
                            _characteristic(event, c.CHAR_NULLIFICATION)),
        nullification_reason=_text(_kid(
            _characteristic(event, c.CHAR_NULLIFICATION_REASON), "originalText")),
        primary_sources=_primary_sources(event, ctx),
        patient=_patient(role, ctx),
        reactions=tuple(reactions), drugs=tuple(drugs),
        causality=_causality(assessment, reaction_ids, drug_ids, ctx),
        narrative=_text(_kid(event, "text")),
        sender_comment=_comment(assessment, c.OBS_COMMENT),
        sender_diagnosis=_comment(assessment, c.OBS_DIAGNOSIS))


def _linked_reports(event: etree._Element) -> tuple[str, ...]:
    """C.1.10.r: related investigations whose code is nullFlavor NA."""
    linked: list[str] = []
    for related in _kids(event, "outboundRelationship/relatedInvestigation"):
        code = _kid(related, "code")
        if code is not None and code.get("nullFlavor") == "NA":
            value = _id(_kid(related, "subjectOf2/controlActEvent"), c.ROOT_WORLDWIDE)
            if value:
                linked.append(value)
    return tuple(linked)


def _comment(assessment: etree._Element | None, code: str) -> str | None:
    """H.4 (comment) and H.3.r (diagnosis) by the sender: their texts, joined."""
    texts: list[str] = []
    for event in _coded_child(assessment, "component1", "observationEvent", code,
                              c.ICH_OBSERVATION):
        author = _kid(event, "author/assignedEntity/code")
        if not _has_code(author, c.ROLE_SENDER, c.ICH_SOURCE_ROLE):
            continue
        value = _kid(event, "value")
        text = _text(_kid(value, "originalText")) if code == c.OBS_DIAGNOSIS else _text(value)
        if code == c.OBS_DIAGNOSIS and text is None:
            text = _attr(value, "displayName")
        if text:
            texts.append(text)
    return "; ".join(texts) or None


# --- C.2.r primary sources ---------------------------------------------------------

def _primary_sources(event: etree._Element, ctx: _Ctx) -> tuple[PrimarySource, ...]:
    sources: list[PrimarySource] = []
    for relation in _kids(event, "outboundRelationship"):
        related = _kid(relation, "relatedInvestigation")
        if not _has_code(_kid(related, "code"), c.REL_SOURCE_REPORT, c.ICH_RELATED):
            continue
        entity = _kid(related, "subjectOf2/controlActEvent/author/assignedEntity")
        person = _kid(entity, "assignedPerson")
        qualification = None
        for qual in _kids(person, "asQualifiedEntity/code"):
            if qual.get("codeSystem") == c.QUALIFICATION.code_system:
                qualification = _code(ctx, c.QUALIFICATION, qual)
        sources.append(_make(
            PrimarySource, ctx, SOURCE_FIELDS, "C.2.r", entity,
            given_name=_text(_kid(person, "name/given")),
            family_name=_text(_kid(person, "name/family")),
            organisation=_text(_kid(
                entity, "representedOrganization/assignedEntity/representedOrganization/name")),
            qualification=qualification,
            country=_attr(_kid(person, "asLocatedEntity/location/code"), "code"),
            regulatory=_attr(_kid(relation, "priorityNumber"), "value") == "1",
            withheld=any(n.get("nullFlavor") == "MSK"
                         for n in _kids(person, "name/*"))))
    return tuple(sources)


# --- D patient ---------------------------------------------------------------------

def _patient_observation(role: etree._Element | None, code: str) -> etree._Element | None:
    return _kid(_first(_coded_child(role, "subjectOf2", "observation", code,
                                    c.ICH_OBSERVATION)), "value")


def _measure(ctx: _Ctx, element: str, value: etree._Element | None,
             unit: str) -> float | None:
    number = _number(ctx, element, value)
    if number is not None and value is not None and value.get("unit") != unit:
        raise ctx.invalid(element, f"{element} must be given in '{unit}', not "
                          f"'{value.get('unit')}'", value)
    return number


def _patient(role: etree._Element | None, ctx: _Ctx) -> PatientInfo:
    person = _kid(role, "player1")
    sex_node = _kid(person, "administrativeGenderCode")
    sex = ("unknown" if sex_node is not None and sex_node.get("nullFlavor") == "UNK"
           else _code(ctx, c.SEX, sex_node))
    age = _patient_observation(role, c.OBS_AGE)
    history = _first([org for org in _kids(role, "subjectOf2/organizer")
                      if _has_code(_kid(org, "code"), c.ORG_MEDICAL_HISTORY,
                                   c.ICH_ORGANIZER)])
    coded, history_text = _medical_history(history, ctx)
    return _make(
        PatientInfo, ctx, PATIENT_FIELDS, "D", person,
        initials=_text(_kid(person, "name")),
        age=_number(ctx, "D.2.2a", age),
        age_unit=_lookup(ctx, c.AGE_UNIT, _attr(age, "unit"), age),
        age_group=_code(ctx, c.AGE_GROUP, _patient_observation(role, c.OBS_AGE_GROUP)),
        sex=sex,
        weight_kg=_measure(ctx, "D.3", _patient_observation(role, c.OBS_WEIGHT), "kg"),
        height_cm=_measure(ctx, "D.4", _patient_observation(role, c.OBS_HEIGHT), "cm"),
        birth_date=_partial(ctx, "D.2.1", _kid(person, "birthTime")),
        medical_history=coded, medical_history_text=history_text,
        died_on=_partial(ctx, "D.9.1", _kid(person, "deceasedTime")))


def _medical_history(organizer: etree._Element | None,
                     ctx: _Ctx) -> tuple[tuple[Coded, ...], str | None]:
    coded: list[Coded] = []
    text: str | None = None
    for observation in _kids(organizer, "component/observation"):
        code = _kid(observation, "code")
        if _has_code(code, c.OBS_HISTORY_TEXT, c.ICH_OBSERVATION):
            text = _text(_kid(observation, "value"))
        elif code is not None and code.get("codeSystem") == c.MEDDRA and not _null(code):
            value = _attr(code, "code")
            if value is None:
                continue
            coded.append(_make(
                Coded, ctx, HISTORY_FIELDS, "D.7.1.r", observation,
                term=_attr(code, "displayName") or f"MedDRA {value}", code=value,
                terminology="MedDRA", version=_attr(code, "codeSystemVersion")))
    return tuple(coded), text


# --- E.i reactions -----------------------------------------------------------------

def _reactions(role: etree._Element | None,
               ctx: _Ctx) -> tuple[list[Reaction], dict[str, str]]:
    nodes = _coded_child(role, "subjectOf2", "observation", c.OBS_REACTION,
                         c.ICH_OBSERVATION)
    keys = [_xml_id(_kid(node, "id")) for node in nodes]
    ids = _model_ids(keys, "r")
    reactions = [_reaction(node, model_id, ctx) for node, model_id in zip(nodes, ids,
                                                                          strict=True)]
    return reactions, {k: i for k, i in zip(keys, ids, strict=True) if k is not None}


def _reaction_detail(node: etree._Element, code: str,
                     system: str = c.ICH_OBSERVATION) -> etree._Element | None:
    return _kid(_first(_coded_child(node, "outboundRelationship2", "observation", code,
                                    system)), "value")


def _reaction(node: etree._Element, model_id: str, ctx: _Ctx) -> Reaction:
    value = _kid(node, "value")
    meddra_code = _attr(value, "code")
    verbatim = (_text(_kid(value, "originalText"))
                or _text(_reaction_detail(node, c.OBS_TRANSLATION))
                or _attr(value, "displayName")
                or (f"MedDRA {meddra_code}" if meddra_code else None))
    if verbatim is None:
        raise ctx.invalid("E.i.1", "the reaction has neither words (E.i.1.1a, E.i.1.2) nor "
                          "a MedDRA code (E.i.2.1b)", node)
    coded = None
    if meddra_code is not None and value is not None:
        system = value.get("codeSystem")
        coded = _make(Coded, ctx, CODED_REACTION_FIELDS, "E.i.2.1", value,
                      term=_attr(value, "displayName") or verbatim, code=meddra_code,
                      terminology="MedDRA" if system == c.MEDDRA else system or "unknown",
                      version=_attr(value, "codeSystemVersion"))
    low, high = _interval(_kid(node, "effectiveTime"))
    seriousness = Seriousness(**{
        s.field: _bool(_reaction_detail(node, s.code, s.code_system)) for s in c.SERIOUSNESS})
    return _make(
        Reaction, ctx, REACTION_FIELDS, "E.i", node,
        id=model_id, verbatim=verbatim, coded=coded,
        start=_partial(ctx, "E.i.4", low), end=_partial(ctx, "E.i.5", high),
        seriousness=seriousness,
        outcome=_code(ctx, c.OUTCOME, _reaction_detail(node, c.OBS_OUTCOME)) or "unknown",
        country=_attr(_kid(node, "location/locatedEntity/locatedPlace/code"), "code"))


# --- G.k drugs ---------------------------------------------------------------------

def _drugs(role: etree._Element | None, assessment: etree._Element | None,
           reaction_ids: Mapping[str, str],
           ctx: _Ctx) -> tuple[list[Drug], dict[str, str]]:
    organizer = _first([org for org in _kids(role, "subjectOf2/organizer")
                        if _has_code(_kid(org, "code"), c.ORG_DRUGS, c.ICH_ORGANIZER)])
    nodes = _kids(organizer, "component/substanceAdministration")
    keys = [_xml_id(_kid(node, "id")) for node in nodes]
    ids = _model_ids(keys, "d")
    id_map = {k: i for k, i in zip(keys, ids, strict=True) if k is not None}
    roles = _drug_roles(assessment, id_map, ctx)
    drugs = [_drug(node, model_id, roles.get(model_id), reaction_ids, ctx)
             for node, model_id in zip(nodes, ids, strict=True)]
    return drugs, id_map


def _reference(node: etree._Element | None, path: str, known: Mapping[str, str],
               element: str, what: str, ctx: _Ctx) -> str:
    target = _kid(node, path)
    key = _xml_id(target)
    if key is None or key not in known:
        raise ctx.invalid(element, f"{element} refers to {what} '{key}', which the message "
                          "does not describe", target if target is not None else node)
    return known[key]


def _drug_roles(assessment: etree._Element | None, drug_ids: Mapping[str, str],
                ctx: _Ctx) -> dict[str, DrugRole | None]:
    roles: dict[str, DrugRole | None] = {}
    for node in _coded_child(assessment, "component", "causalityAssessment",
                             c.OBS_DRUG_ROLE, c.ICH_OBSERVATION):
        drug = _reference(node, "subject2/productUseReference/id", drug_ids, "G.k.1",
                          "drug", ctx)
        roles[drug] = _code(ctx, c.DRUG_ROLE, _kid(node, "value"))
    return roles


@dataclass(frozen=True, slots=True)
class _Dosage:
    text: str | None
    value: float | None
    unit: str | None
    route: str | None
    start: str | None
    end: str | None
    lot: str | None


def _dosage(node: etree._Element, ctx: _Ctx) -> _Dosage:
    dose = _kid(node, "doseQuantity")
    route = _kid(node, "routeCode")
    low, high = _interval(_kid(node, "effectiveTime"))
    return _Dosage(
        text=_text(_kid(node, "text")),
        value=_number(ctx, "G.k.4.r.1a", dose),
        unit=_attr(dose, "unit"),
        route=_text(_kid(route, "originalText")) or _attr(route, "displayName"),
        start=_partial(ctx, "G.k.4.r.4", low), end=_partial(ctx, "G.k.4.r.5", high),
        lot=_text(_kid(node, "consumable/instanceOfKind/productInstanceInstance/"
                       "lotNumberText")))


RECHALLENGE_PRIORITY: tuple[Challenge, ...] = ("positive", "negative", "unknown",
                                               "not_applicable")


def _rechallenge(node: etree._Element, reaction_ids: Mapping[str, str],
                 ctx: _Ctx) -> Challenge | None:
    found: set[str] = set()
    for observation in _coded_child(node, "outboundRelationship2", "observation",
                                    c.OBS_RECURRENCE, c.ICH_OBSERVATION):
        if _kid(observation, "outboundRelationship1/actReference/id") is not None:
            _reference(observation, "outboundRelationship1/actReference/id", reaction_ids,
                       "G.k.9.i.4", "reaction", ctx)
        word = _code(ctx, c.RECHALLENGE, _kid(observation, "value"))
        if word is not None:
            found.add(word)
    return next((w for w in RECHALLENGE_PRIORITY if w in found), None)


def _drug(node: etree._Element, model_id: str, role: DrugRole | None,
          reaction_ids: Mapping[str, str], ctx: _Ctx) -> Drug:
    product = _kid(node, "consumable/instanceOfKind/kindOfProduct")
    name = _text(_kid(product, "name"))
    if role is None:
        raise ctx.invalid("G.k.1", f"Data value required for tag G.k.1 (drug "
                          f"'{name or model_id}' has no role)", node)
    if name is None:
        raise ctx.invalid("G.k.2.2", "Data value required for tag G.k.2.2", node)
    ndc = _first([code for code in _kids(product, "code")
                  if code.get("codeSystem") == c.NDC])
    dosages = [_dosage(d, ctx) for relation in _kids(node, "outboundRelationship2")
               if relation.get("typeCode") == "COMP"
               for d in _kids(relation, "substanceAdministration")]

    def first(attribute: str) -> Any:
        return next((getattr(d, attribute) for d in dosages
                     if getattr(d, attribute) is not None), None)

    indication = _first(_coded_child(node, "inboundRelationship", "observation",
                                     c.OBS_INDICATION, c.ICH_OBSERVATION))
    indication_value = _kid(indication, "value")
    action = _first([code for code in _kids(node, "inboundRelationship/act/code")
                     if code.get("codeSystem") == c.ACTION_TAKEN.code_system])
    return _make(
        Drug, ctx, DRUG_FIELDS, "G.k", node,
        id=model_id, role=role, product_name=name,
        substances=tuple(s for s in (_text(n) for n in _kids(
            product, "ingredient/ingredientSubstance/name")) if s),
        ndc=_attr(ndc, "code"),
        manufacturer=_text(_kid(product, "asManufacturedProduct/subjectOf/approval/holder/"
                                         "role/playingOrganization/name")),
        lot_numbers=tuple(dict.fromkeys(d.lot for d in dosages if d.lot)),
        dose_text=first("text"), dose_value=first("value"), dose_unit=first("unit"),
        route=first("route"), start=first("start"), end=first("end"),
        indication=(_text(_kid(indication_value, "originalText"))
                    or _attr(indication_value, "displayName")),
        action_taken=_code(ctx, c.ACTION_TAKEN, action),
        rechallenge=_rechallenge(node, reaction_ids, ctx))


# --- G.k.9.i.2.r causality -----------------------------------------------------------

def _causality(assessment: etree._Element | None, reaction_ids: Mapping[str, str],
               drug_ids: Mapping[str, str], ctx: _Ctx) -> tuple[Causality, ...]:
    found: list[Causality] = []
    for node in _coded_child(assessment, "component", "causalityAssessment",
                             c.OBS_CAUSALITY, c.ICH_OBSERVATION):
        found.append(_make(
            Causality, ctx, CAUSALITY_FIELDS, "G.k.9.i.2.r", node,
            reaction_id=_reference(node, "subject1/adverseEffectReference/id",
                                   reaction_ids, "G.k.9.i.1", "reaction", ctx),
            drug_id=_reference(node, "subject2/productUseReference/id", drug_ids,
                               "G.k.9.i.1", "drug", ctx),
            source=_text(_kid(node, "author/assignedEntity/code/originalText")) or "",
            method=_text(_kid(node, "methodCode/originalText")) or "",
            result=_text(_kid(node, "value")) or ""))
    return tuple(found)
