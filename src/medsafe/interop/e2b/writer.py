"""Writes `CaseReport`s as one ICH E2B(R3) batch (MCCI_IN200100UV01), one PORR_IN049016UV
message per case, in the structure and namespaces of FDA's example instances
FAERS2022Scenario1-3.xml (../shared/data/e2b-examples) and the "Xpath" column of
`fda_icsr_data_elements.csv`.

Everything the model carries is written, so that `read_e2b(write_e2b(...))` gives the same
reports back (tests/unit/test_e2b_writer.py checks it on FDA's three examples). Decisions:
- N.2.r.1 (message id) is the case's C.1.1: the ICH IG (ACK.B.r.1) says the message
  number is the same as N.2.r.1 and C.1.1, so an acknowledgement names the case. A batch
  therefore carries each C.1.1 once.
- N.1.5, N.2.r.4 and C.1.2 are `created`.
- Reaction and drug ids are written as `id root`; E2B wants UUIDs there, so a model id that
  is neither a UUID nor an OID (e.g. "d1") is written as a UUID derived from the case and
  the id (stable: the same case always gives the same UUID).
- The reporter's words go to E.i.1.2 (as in FDA's examples): E.i.1.1a would need the
  language (E.i.1.1b, FDA rule R0058), which the model does not keep. A coded term is
  written as E.i.2.1 when it has a code and its terminology is MedDRA (or an OID); its name
  goes to displayName only when it differs from the reporter's words.
- Required elements the model does not have are written as honestly as E2B allows:
  C.1.6.1 false (medsafe holds no attached documents), C.1.7 nullFlavor NI, C.1.8.2
  "2 = other", C.3.1 "6 = other", FDA.C.1.12 nullFlavor NI, FDA.D.11.r and FDA.D.12
  nullFlavor UNK, D.9.3 nullFlavor UNK when a date of death is given. docs/e2b.md lists them.
- The rechallenge (one per drug in the model) is written once, against the drug's first
  reaction with a causality assessment (or the case's first reaction).
- Not validated against FDA's XSD (the schemas are not shipped with medsafe).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import cast

from lxml import etree

from medsafe.cases.model import (
    CaseReport,
    Causality,
    Coded,
    Drug,
    PatientInfo,
    PrimarySource,
    Reaction,
)
from medsafe.errors import Invalid
from medsafe.interop.e2b import codes as c
from medsafe.interop.e2b.hl7 import (
    NS,
    XSI,
    child,
    date_to_ts,
    datetime_to_ts,
    number_text,
    partial_date_to_ts,
    q,
)

SCHEMA_LOCATION = "urn:hl7-org:v3 MCCI_IN200100UV01.xsd"
_UUID = re.compile(r"^[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
_OID = re.compile(r"^[0-2](?:\.(?:0|[1-9]\d*))+$")
_ID_NAMESPACE = uuid.UUID("0b6f4a52-6a53-5f3b-9d53-6d6564736166")  # medsafe's E2B ids


def write_e2b(reports: Sequence[CaseReport], *, batch_id: str, sender_id: str,
              receiver_id: str, created: datetime) -> bytes:
    """One E2B(R3) batch holding every report, as UTF-8 XML bytes."""
    if not reports:
        raise Invalid("an E2B batch needs at least one report", where="reports")
    seen: set[str] = set()
    for report in reports:
        if report.sender_report_id in seen:
            raise Invalid(f"two reports share C.1.1 '{report.sender_report_id}'; send "
                          "each version of a case in its own batch", where="reports")
        seen.add(report.sender_report_id)
    # The None key makes HL7 the default namespace; lxml-stubs types nsmap keys as str.
    namespaces = cast("dict[str, str]", {None: NS, "xsi": XSI})
    root = etree.Element(q("MCCI_IN200100UV01"), nsmap=namespaces)
    root.set("ITSVersion", "XML_1.0")
    root.set(f"{{{XSI}}}schemaLocation", SCHEMA_LOCATION)
    child(root, "id", extension=batch_id, root=c.ROOT_BATCH)
    child(root, "creationTime", value=datetime_to_ts(created))
    child(root, "responseModeCode", code="D")
    child(root, "interactionId", extension="MCCI_IN200100UV01", root=c.INTERACTION)
    child(root, "name", code="1", displayName="ichicsr",
        codeSystem="2.16.840.1.113883.3.989.2.1.1.1")
    for report in reports:
        _message(root, report, sender_id=sender_id, receiver_id=receiver_id,
                 created=created)
    _device(root, "receiver", "RCV", receiver_id, c.ROOT_BATCH_RECEIVER)
    _device(root, "sender", "SND", sender_id, c.ROOT_BATCH_SENDER)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


# --- helpers -----------------------------------------------------------------------

def _path(parent: etree._Element, *steps: tuple[str, Mapping[str, str]]) -> etree._Element:
    """Nested elements, each with its attributes; returns the innermost."""
    node = parent
    for tag, attributes in steps:
        node = child(node, tag, **attributes)
    return node


def _device(parent: etree._Element, tag: str, type_code: str, value: str,
            root: str) -> None:
    device = _path(parent, (tag, {"typeCode": type_code}),
                   ("device", {"classCode": "DEV", "determinerCode": "INSTANCE"}))
    child(device, "id", extension=value, root=root)


def _observation(parent: etree._Element, relation: str, type_code: str, code: str,
                 system: str, display: str | None = None,
                 xml_id: str | None = None) -> etree._Element:
    observation = _path(parent, (relation, {"typeCode": type_code}),
                        ("observation", {"classCode": "OBS", "moodCode": "EVN"}))
    if xml_id is not None:
        child(observation, "id", root=xml_id)
    attributes = {"code": code, "codeSystem": system}
    if display:
        attributes["displayName"] = display
    child(observation, "code", **attributes)
    return observation


def _boolean(parent: etree._Element, value: bool) -> None:
    """The E2B flags that allow only "true, nullFlavor: NI" (E.i.3.2, C.1.9.1)."""
    if value:
        child(parent, "value", xsi_type="BL", value="true")
    else:
        child(parent, "value", xsi_type="BL", nullFlavor="NI")


def _xml_id(kind: str, model_id: str, report: CaseReport) -> str:
    if _UUID.match(model_id) or _OID.match(model_id):
        return model_id
    name = f"{report.worldwide_id}\x1f{report.sender_report_id}\x1f{kind}\x1f{model_id}"
    return str(uuid.uuid5(_ID_NAMESPACE, name))


def _interval(parent: etree._Element, start: str | None, end: str | None) -> None:
    if start is None and end is None:
        return
    interval = child(parent, "effectiveTime", xsi_type="IVL_TS")
    if start is not None:
        child(interval, "low", value=partial_date_to_ts(start))
    if end is not None:
        child(interval, "high", value=partial_date_to_ts(end))


def _writable_code(coded: Coded | None) -> bool:
    return (coded is not None and coded.code is not None
            and (coded.terminology == "MedDRA" or bool(_OID.match(coded.terminology))))


def _code_system(coded: Coded) -> str:
    return c.MEDDRA if coded.terminology == "MedDRA" else coded.terminology


# --- message -----------------------------------------------------------------------

def _message(root: etree._Element, report: CaseReport, *, sender_id: str,
             receiver_id: str, created: datetime) -> None:
    stamp = datetime_to_ts(created)
    message = child(root, "PORR_IN049016UV")
    child(message, "id", extension=report.sender_report_id, root=c.ROOT_MESSAGE)
    child(message, "creationTime", value=stamp)
    child(message, "interactionId", extension="PORR_IN049016UV", root=c.INTERACTION)
    child(message, "processingCode", code="P")
    child(message, "processingModeCode", code="I")
    child(message, "acceptAckCode", code="AL")
    _device(message, "receiver", "RCV", receiver_id, c.ROOT_MESSAGE_RECEIVER)
    _device(message, "sender", "SND", sender_id, c.ROOT_MESSAGE_SENDER)
    act = child(message, "controlActProcess", classCode="CACT", moodCode="EVN")
    child(act, "code", code="PORR_TE049016UV", codeSystem=c.TRIGGER_EVENT)
    child(act, "effectiveTime", value=stamp)
    event = _path(act, ("subject", {"typeCode": "SUBJ"}),
                  ("investigationEvent", {"classCode": "INVSTG", "moodCode": "EVN"}))
    _case(event, report)


def _case(event: etree._Element, report: CaseReport) -> None:
    child(event, "id", extension=report.sender_report_id, root=c.ROOT_MESSAGE)
    child(event, "id", extension=report.worldwide_id, root=c.ROOT_WORLDWIDE)
    child(event, "code", code="PAT_ADV_EVNT", codeSystem="2.16.840.1.113883.5.4")
    if report.narrative is not None:
        child(event, "text", report.narrative)
    child(event, "statusCode", code="active")
    child(child(event, "effectiveTime"), "low", value=date_to_ts(report.first_received))
    child(event, "availabilityTime", value=date_to_ts(report.latest_received))
    _assessment(event, report)
    _case_flags(event)
    _first_sender(event)
    for linked in report.linked_reports:
        related = _path(event, ("outboundRelationship", {"typeCode": "SPRT"}),
                        ("relatedInvestigation", {"classCode": "INVSTG", "moodCode": "EVN"}))
        child(related, "code", nullFlavor="NA")
        control = _path(related, ("subjectOf2", {"typeCode": "SUBJ"}),
                        ("controlActEvent", {"classCode": "CACT", "moodCode": "EVN"}))
        child(control, "id", extension=linked, root=c.ROOT_WORLDWIDE)
    for source in report.primary_sources:
        _primary_source(event, source)
    for other in report.other_case_ids:
        control = _path(event, ("subjectOf1", {"typeCode": "SUBJ"}),
                        ("controlActEvent", {"classCode": "CACT", "moodCode": "EVN"}))
        child(control, "id", extension=other, root=c.ROOT_OTHER_CASE)
    _sender(event, report)
    _characteristics(event, report)


def _case_flags(event: etree._Element) -> None:
    """C.1.6.1, C.1.7 and FDA.C.1.12, which the model does not carry."""
    documents = _path(event, ("component", {"typeCode": "COMP"}),
                      ("observationEvent", {"classCode": "OBS", "moodCode": "EVN"}))
    child(documents, "code", code=c.OBS_DOCUMENTS, codeSystem=c.ICH_OBSERVATION,
        displayName="additionalDocumentsAvailable")
    child(documents, "value", xsi_type="BL", value="false")
    expedited = _path(event, ("component", {"typeCode": "COMP"}),
                      ("observationEvent", {"classCode": "OBS", "moodCode": "EVN"}))
    child(expedited, "code", code=c.OBS_EXPEDITED, codeSystem=c.ICH_OBSERVATION,
        displayName="localCriteriaForExpedited")
    child(expedited, "value", xsi_type="BL", nullFlavor="NI")
    combination = _path(event, ("component", {"typeCode": "COMP"}),
                        ("observationEvent", {"classCode": "OBS", "moodCode": "EVN"}))
    child(combination, "code", code="C156384", codeSystem=c.NCI_THESAURUS,
        displayName="Combination Product Report Indicator")
    child(combination, "value", xsi_type="BL", nullFlavor="NI")


def _first_sender(event: etree._Element) -> None:
    related = _path(event, ("outboundRelationship", {"typeCode": "SPRT"}),
                    ("relatedInvestigation", {"classCode": "INVSTG", "moodCode": "EVN"}))
    child(related, "code", code=c.REL_INITIAL_REPORT, codeSystem=c.ICH_RELATED,
        displayName="initialReport")
    entity = _path(related, ("subjectOf2", {"typeCode": "SUBJ"}),
                   ("controlActEvent", {"classCode": "CACT", "moodCode": "EVN"}),
                   ("author", {"typeCode": "AUT"}),
                   ("assignedEntity", {"classCode": "ASSIGNED"}))
    child(entity, "code", code=c.FIRST_SENDER.code("other"),
        codeSystem=c.FIRST_SENDER.code_system or "", displayName="other")


def _primary_source(event: etree._Element, source: PrimarySource) -> None:
    relation = child(event, "outboundRelationship", typeCode="SPRT")
    if source.regulatory:
        child(relation, "priorityNumber", value="1")
    related = child(relation, "relatedInvestigation", classCode="INVSTG", moodCode="EVN")
    child(related, "code", code=c.REL_SOURCE_REPORT, codeSystem=c.ICH_RELATED,
        displayName="sourceReport")
    entity = _path(related, ("subjectOf2", {"typeCode": "SUBJ"}),
                   ("controlActEvent", {"classCode": "CACT", "moodCode": "EVN"}),
                   ("author", {"typeCode": "AUT"}),
                   ("assignedEntity", {"classCode": "ASSIGNED"}))
    if (source.given_name or source.family_name or source.qualification or source.country
            or source.withheld):
        person = child(entity, "assignedPerson", classCode="PSN", determinerCode="INSTANCE")
        if source.withheld and not (source.given_name or source.family_name):
            name = child(person, "name")  # known to the sender, masked (C.2.r.1)
            child(name, "given", nullFlavor="MSK")
            child(name, "family", nullFlavor="MSK")
        elif source.given_name or source.family_name:
            name = child(person, "name")
            if source.given_name:
                child(name, "given", source.given_name)
            if source.family_name:
                child(name, "family", source.family_name)
        if source.qualification:
            child(child(person, "asQualifiedEntity", classCode="QUAL"), "code",
                code=c.QUALIFICATION.code(source.qualification),
                codeSystem=c.QUALIFICATION.code_system or "")
        if source.country:
            located = _path(person, ("asLocatedEntity", {"classCode": "LOCE"}),
                            ("location", {"classCode": "COUNTRY",
                                          "determinerCode": "INSTANCE"}))
            child(located, "code", code=source.country, codeSystem=c.ISO_COUNTRY)
    if source.organisation:
        _organisation(entity, source.organisation)


def _organisation(entity: etree._Element, name: str) -> None:
    """C.2.r.2.1 / C.3.2: the organisation, inside the (department) organisation."""
    inner = _path(entity, ("representedOrganization", {"classCode": "ORG",
                                                       "determinerCode": "INSTANCE"}),
                  ("assignedEntity", {"classCode": "ASSIGNED"}),
                  ("representedOrganization", {"classCode": "ORG",
                                               "determinerCode": "INSTANCE"}))
    child(inner, "name", name)


def _sender(event: etree._Element, report: CaseReport) -> None:
    entity = _path(event, ("subjectOf1", {"typeCode": "SUBJ"}),
                   ("controlActEvent", {"classCode": "CACT", "moodCode": "EVN"}),
                   ("author", {"typeCode": "AUT"}),
                   ("assignedEntity", {"classCode": "ASSIGNED"}))
    child(entity, "code", code=c.SENDER_TYPE.code("other"),
        codeSystem=c.SENDER_TYPE.code_system or "")
    if report.sender_organisation:
        _organisation(entity, report.sender_organisation)


def _characteristic(event: etree._Element, code: str, display: str) -> etree._Element:
    characteristic = _path(event, ("subjectOf2", {"typeCode": "SUBJ"}),
                           ("investigationCharacteristic", {"classCode": "OBS",
                                                            "moodCode": "EVN"}))
    child(characteristic, "code", code=code, codeSystem=c.ICH_CHARACTERISTIC,
        displayName=display)
    return characteristic


def _characteristics(event: etree._Element, report: CaseReport) -> None:
    child(_characteristic(event, c.CHAR_REPORT_TYPE, "ICH ReportType"), "value",
        xsi_type="CE", code=c.REPORT_TYPE.code(report.report_type),
        codeSystem=c.REPORT_TYPE.code_system or "")
    _boolean(_characteristic(event, c.CHAR_OTHER_CASE_IDS, "otherCaseIds"),
             bool(report.other_case_ids))
    if report.nullification is not None:
        child(_characteristic(event, c.CHAR_NULLIFICATION, "nullificationAmendmentCode"),
            "value", xsi_type="CE", code=c.NULLIFICATION.code(report.nullification),
            codeSystem=c.NULLIFICATION.code_system or "")
    if report.nullification_reason is not None:
        value = child(_characteristic(event, c.CHAR_NULLIFICATION_REASON,
                                    "nullificationAmendmentReason"), "value", xsi_type="CE")
        child(value, "originalText", report.nullification_reason)


# --- adverse event assessment: patient, reactions, drugs, causality ----------------

def _assessment(event: etree._Element, report: CaseReport) -> None:
    assessment = _path(event, ("component", {"typeCode": "COMP"}),
                       ("adverseEventAssessment", {"classCode": "INVSTG", "moodCode": "EVN"}))
    role = _path(assessment, ("subject1", {"typeCode": "SBJ"}),
                 ("primaryRole", {"classCode": "INVSBJ"}))
    _patient(role, report.patient)
    reaction_ids = {r.id: _xml_id("reaction", r.id, report) for r in report.reactions}
    drug_ids = {d.id: _xml_id("drug", d.id, report) for d in report.drugs}
    for reaction in report.reactions:
        _reaction(role, reaction, reaction_ids[reaction.id], report)
    if report.drugs:
        organizer = _path(role, ("subjectOf2", {"typeCode": "SBJ"}),
                          ("organizer", {"classCode": "CATEGORY", "moodCode": "EVN"}))
        child(organizer, "code", code=c.ORG_DRUGS, codeSystem=c.ICH_ORGANIZER,
            displayName="drugInformation")
        for drug in report.drugs:
            _drug(organizer, drug, drug_ids, reaction_ids, report)
    for drug in report.drugs:
        _drug_role(assessment, drug, drug_ids[drug.id])
    for causality in report.causality:
        _causality(assessment, causality, drug_ids, reaction_ids)
    if report.sender_diagnosis is not None:
        value = _sender_observation(assessment, c.OBS_DIAGNOSIS, "diagnosis")
        child(child(value, "value", xsi_type="CE", codeSystem=c.MEDDRA), "originalText",
            report.sender_diagnosis)
        _sender_author(value)
    if report.sender_comment is not None:
        value = _sender_observation(assessment, c.OBS_COMMENT, "comment")
        child(value, "value", report.sender_comment, xsi_type="ED")
        _sender_author(value)


def _sender_observation(assessment: etree._Element, code: str,
                        display: str) -> etree._Element:
    event = _path(assessment, ("component1", {"typeCode": "COMP"}),
                  ("observationEvent", {"classCode": "OBS", "moodCode": "EVN"}))
    child(event, "code", code=code, codeSystem=c.ICH_OBSERVATION, displayName=display)
    return event


def _sender_author(event: etree._Element) -> None:
    entity = _path(event, ("author", {"typeCode": "AUT"}),
                   ("assignedEntity", {"classCode": "ASSIGNED"}))
    child(entity, "code", code=c.ROLE_SENDER, codeSystem=c.ICH_SOURCE_ROLE,
        displayName="sender")


def _patient(role: etree._Element, patient: PatientInfo) -> None:
    person = child(role, "player1", classCode="PSN", determinerCode="INSTANCE")
    if patient.initials is not None:
        child(person, "name", patient.initials)
    else:
        child(person, "name", nullFlavor="UNK")
    if patient.sex == "unknown":
        child(person, "administrativeGenderCode", nullFlavor="UNK")
    elif patient.sex is not None:
        child(person, "administrativeGenderCode", code=c.SEX.code(patient.sex),
            codeSystem=c.ISO_SEX)
    if patient.birth_date is not None:
        child(person, "birthTime", value=partial_date_to_ts(patient.birth_date))
    if patient.died_on is not None:
        child(person, "deceasedTime", value=partial_date_to_ts(patient.died_on))
    if patient.age is not None:
        observation = _observation(role, "subjectOf2", "SBJ", c.OBS_AGE,
                                   c.ICH_OBSERVATION, "age")
        attributes = {"value": number_text(patient.age)}
        if patient.age_unit is not None:
            attributes["unit"] = c.AGE_UNIT.code(patient.age_unit)
        child(observation, "value", xsi_type="PQ", **attributes)
    if patient.age_group is not None:
        observation = _observation(role, "subjectOf2", "SBJ", c.OBS_AGE_GROUP,
                                   c.ICH_OBSERVATION, "Age Group")
        child(observation, "value", xsi_type="CE", code=c.AGE_GROUP.code(patient.age_group),
            codeSystem=c.AGE_GROUP.code_system or "")
    for code, display, value, unit in ((c.OBS_WEIGHT, "bodyWeight", patient.weight_kg, "kg"),
                                       (c.OBS_HEIGHT, "height", patient.height_cm, "cm")):
        if value is not None:
            observation = _observation(role, "subjectOf2", "SBJ", code, c.ICH_OBSERVATION,
                                       display)
            child(observation, "value", xsi_type="PQ", value=number_text(value), unit=unit)
    for code, display in (("C17049", "Race"), ("C16564", "Ethnic Group")):
        # FDA.D.11.r and FDA.D.12 are FDA-required; the model has neither, and the
        # table allows nullFlavor UNK for both.
        observation = _observation(role, "subjectOf2", "SBJ", code, c.NCI_THESAURUS,
                                   display)
        child(observation, "value", xsi_type="CE", nullFlavor="UNK")
    if patient.died_on is not None:
        # D.9.3 is required when D.9.1 is given (FDA rule R0045); the model has no autopsy.
        observation = _observation(role, "subjectOf2", "SBJ", c.OBS_AUTOPSY,
                                   c.ICH_OBSERVATION, "autopsy")
        child(observation, "value", xsi_type="BL", nullFlavor="UNK")
    _medical_history(role, patient)


def _medical_history(role: etree._Element, patient: PatientInfo) -> None:
    history = [h for h in patient.medical_history if _writable_code(h)]
    if not history and patient.medical_history_text is None:
        return
    organizer = _path(role, ("subjectOf2", {"typeCode": "SBJ"}),
                      ("organizer", {"classCode": "CATEGORY", "moodCode": "EVN"}))
    child(organizer, "code", code=c.ORG_MEDICAL_HISTORY, codeSystem=c.ICH_ORGANIZER,
        displayName="relevantMedicalHistoryAndConcurrentConditions")
    for coded in history:
        observation = _path(organizer, ("component", {"typeCode": "COMP"}),
                            ("observation", {"classCode": "OBS", "moodCode": "EVN"}))
        attributes = {"code": coded.code or "", "codeSystem": _code_system(coded),
                      "displayName": coded.term}
        if coded.version:
            attributes["codeSystemVersion"] = coded.version
        child(observation, "code", **attributes)
    if patient.medical_history_text is not None:
        observation = _observation(organizer, "component", "COMP", c.OBS_HISTORY_TEXT,
                                   c.ICH_OBSERVATION, "historyAndConcurrentConditionText")
        child(observation, "value", patient.medical_history_text, xsi_type="ED")


def _reaction(role: etree._Element, reaction: Reaction, xml_id: str,
              report: CaseReport) -> None:
    node = _observation(role, "subjectOf2", "SBJ", c.OBS_REACTION, c.ICH_OBSERVATION,
                        "reaction", xml_id=xml_id)
    _interval(node, reaction.start, reaction.end)
    coded = reaction.coded
    if coded is not None and _writable_code(coded):
        attributes = {"code": coded.code or "", "codeSystem": _code_system(coded)}
        if coded.version:
            attributes["codeSystemVersion"] = coded.version
        if coded.term != reaction.verbatim:
            attributes["displayName"] = coded.term
        child(node, "value", xsi_type="CE", **attributes)
    country = reaction.country or report.occurrence_country
    if country:
        place = _path(node, ("location", {"typeCode": "LOC"}),
                      ("locatedEntity", {"classCode": "LOCE"}),
                      ("locatedPlace", {"classCode": "COUNTRY",
                                        "determinerCode": "INSTANCE"}))
        child(place, "code", code=country, codeSystem=c.ISO_COUNTRY)
    words = _observation(node, "outboundRelationship2", "PERT", c.OBS_TRANSLATION,
                         c.ICH_OBSERVATION, "reactionForTranslation")
    child(words, "value", reaction.verbatim, xsi_type="ED")
    for criterion in c.SERIOUSNESS:
        flag = _observation(node, "outboundRelationship2", "PERT", criterion.code,
                            criterion.code_system, criterion.display)
        _boolean(flag, bool(getattr(reaction.seriousness, criterion.field)))
    outcome = _observation(node, "outboundRelationship2", "PERT", c.OBS_OUTCOME,
                           c.ICH_OBSERVATION, "outcome")
    child(outcome, "value", xsi_type="CE", code=c.OUTCOME.code(reaction.outcome),
        codeSystem=c.OUTCOME.code_system or "")


def _drug(organizer: etree._Element, drug: Drug, drug_ids: Mapping[str, str],
          reaction_ids: Mapping[str, str], report: CaseReport) -> None:
    administration = _path(organizer, ("component", {"typeCode": "COMP"}),
                           ("substanceAdministration", {"classCode": "SBADM",
                                                        "moodCode": "EVN"}))
    child(administration, "id", root=drug_ids[drug.id])
    product = _path(administration, ("consumable", {"typeCode": "CSM"}),
                    ("instanceOfKind", {"classCode": "INST"}),
                    ("kindOfProduct", {"classCode": "MMAT", "determinerCode": "KIND"}))
    if drug.ndc is not None:
        child(product, "code", code=drug.ndc, codeSystem=c.NDC)
    child(product, "name", drug.product_name)
    if drug.manufacturer is not None:
        holder = _path(product, ("asManufacturedProduct", {"classCode": "MANU"}),
                       ("subjectOf", {"typeCode": "SBJ"}),
                       ("approval", {"classCode": "CNTRCT", "moodCode": "EVN"}),
                       ("holder", {"typeCode": "HLD"}), ("role", {"classCode": "HLD"}),
                       ("playingOrganization", {"classCode": "ORG",
                                                "determinerCode": "INSTANCE"}))
        child(holder, "name", drug.manufacturer)
    for substance in drug.substances:
        ingredient = _path(product, ("ingredient", {"classCode": "ACTI"}),
                           ("ingredientSubstance", {"classCode": "MMAT",
                                                    "determinerCode": "KIND"}))
        child(ingredient, "name", substance)
    _dosages(administration, drug)
    if drug.rechallenge is not None and report.reactions:
        _rechallenge(administration, drug, reaction_ids, report)
    if drug.indication is not None:
        indication = _observation(administration, "inboundRelationship", "RSON",
                                  c.OBS_INDICATION, c.ICH_OBSERVATION, "indication")
        child(child(indication, "value", xsi_type="CE", codeSystem=c.MEDDRA), "originalText",
            drug.indication)
        entity = _path(indication, ("performer", {"typeCode": "PRF"}),
                       ("assignedEntity", {"classCode": "ASSIGNED"}))
        child(entity, "code", code=c.ROLE_REPORTER, codeSystem=c.ICH_SOURCE_ROLE,
            displayName="sourceReporter")
    if drug.action_taken is not None:
        act = _path(administration, ("inboundRelationship", {"typeCode": "CAUS"}),
                    ("act", {"classCode": "ACT", "moodCode": "EVN"}))
        child(act, "code", code=c.ACTION_TAKEN.code(drug.action_taken),
            codeSystem=c.ACTION_TAKEN.code_system or "")


def _dosages(administration: etree._Element, drug: Drug) -> None:
    """G.k.4.r: one row with the model's dose, dates, route and first lot; one more row per
    further lot (G.k.4.r.7 holds one lot per row)."""
    lots: list[str | None] = list(drug.lot_numbers) or [None]
    has_dose = any(v is not None for v in (drug.dose_text, drug.dose_value, drug.dose_unit,
                                           drug.route, drug.start, drug.end))
    for index, lot in enumerate(lots):
        if index == 0 and not has_dose and lot is None:
            return
        row = _path(administration, ("outboundRelationship2", {"typeCode": "COMP"}),
                    ("substanceAdministration", {"classCode": "SBADM", "moodCode": "EVN"}))
        if index == 0:
            if drug.dose_text is not None:
                child(row, "text", drug.dose_text)
            _interval(row, drug.start, drug.end)
            if drug.route is not None:
                child(child(row, "routeCode"), "originalText", drug.route)
            if drug.dose_value is not None or drug.dose_unit is not None:
                attributes: dict[str, str] = {}
                if drug.dose_value is not None:
                    attributes["value"] = number_text(drug.dose_value)
                if drug.dose_unit is not None:
                    attributes["unit"] = drug.dose_unit
                child(row, "doseQuantity", **attributes)
        if lot is not None:
            instance = _path(row, ("consumable", {"typeCode": "CSM"}),
                             ("instanceOfKind", {"classCode": "INST"}),
                             ("productInstanceInstance", {"classCode": "MMAT",
                                                          "determinerCode": "INSTANCE"}))
            child(instance, "lotNumberText", lot)


def _rechallenge(administration: etree._Element, drug: Drug,
                 reaction_ids: Mapping[str, str], report: CaseReport) -> None:
    assessed = [a.reaction_id for a in report.causality if a.drug_id == drug.id]
    reaction_id = assessed[0] if assessed else report.reactions[0].id
    observation = _observation(administration, "outboundRelationship2", "PERT",
                               c.OBS_RECURRENCE, c.ICH_OBSERVATION, "recurranceOfReaction")
    child(observation, "value", xsi_type="CE", code=c.RECHALLENGE.code(drug.rechallenge or ""),
        codeSystem=c.RECHALLENGE.code_system or "")
    reference = _path(observation, ("outboundRelationship1", {"typeCode": "REFR"}),
                      ("actReference", {"classCode": "OBS", "moodCode": "EVN"}))
    child(reference, "id", root=reaction_ids[reaction_id])


def _drug_role(assessment: etree._Element, drug: Drug, xml_id: str) -> None:
    node = _path(assessment, ("component", {"typeCode": "COMP"}),
                 ("causalityAssessment", {"classCode": "OBS", "moodCode": "EVN"}))
    child(node, "code", code=c.OBS_DRUG_ROLE, codeSystem=c.ICH_OBSERVATION,
        displayName="interventionCharacterization")
    child(node, "value", xsi_type="CE", code=c.DRUG_ROLE.code(drug.role),
        codeSystem=c.DRUG_ROLE.code_system or "")
    reference = _path(node, ("subject2", {"typeCode": "SUBJ"}),
                      ("productUseReference", {"classCode": "SBADM", "moodCode": "EVN"}))
    child(reference, "id", root=xml_id)


def _causality(assessment: etree._Element, causality: Causality,
               drug_ids: Mapping[str, str], reaction_ids: Mapping[str, str]) -> None:
    if causality.drug_id not in drug_ids or causality.reaction_id not in reaction_ids:
        raise Invalid(f"causality refers to drug '{causality.drug_id}' and reaction "
                      f"'{causality.reaction_id}', which the case does not have",
                      where="G.k.9.i.1")
    node = _path(assessment, ("component", {"typeCode": "COMP"}),
                 ("causalityAssessment", {"classCode": "OBS", "moodCode": "EVN"}))
    child(node, "code", code=c.OBS_CAUSALITY, codeSystem=c.ICH_OBSERVATION,
        displayName="causality")
    if causality.result:
        child(node, "value", causality.result, xsi_type="ST")
    if causality.method:
        child(child(node, "methodCode"), "originalText", causality.method)
    if causality.source:
        entity = _path(node, ("author", {"typeCode": "AUT"}),
                       ("assignedEntity", {"classCode": "ASSIGNED"}))
        child(child(entity, "code"), "originalText", causality.source)
    reaction = _path(node, ("subject1", {"typeCode": "SUBJ"}),
                     ("adverseEffectReference", {"classCode": "OBS", "moodCode": "EVN"}))
    child(reaction, "id", root=reaction_ids[causality.reaction_id])
    drug = _path(node, ("subject2", {"typeCode": "SUBJ"}),
                 ("productUseReference", {"classCode": "SBADM", "moodCode": "EVN"}))
    child(drug, "id", root=drug_ids[causality.drug_id])
