"""Engine findings about a drug being ordered, as CDS Hooks 2.0 cards. Pure: no I/O.

The card fields follow CDS Hooks 2.0 "CDS Service Response" (`HL7/cds-hooks`
`input/pagecontent/index.md` §Card Attributes): `uuid` (so feedback can name the card),
`summary` under 140 characters, `indicator` info | warning | critical, `source` with a
`label` (and the cited label's `url`, and a `topic` Coding naming medsafe's rule),
`detail` in GitHub-flavoured Markdown, `suggestions` whose actions are create | update |
delete, `selectionBehavior` (required when there are suggestions: "at-most-one" here,
since swapping the drug and changing its dose are alternatives), and `overrideReasons`
(Codings, each with a display).

Which findings become cards is local policy (`CardPolicy`), not a clinical fact: by
default only warning and critical findings about the drug being ordered, never the
data-gap, monitoring and preference notes (the users of such services ask for no noise,
`shared/reference/cds-and-knowledge.md` §5), and a "sedation adds up" finding goes into
the card of the interaction with the same medicine instead of a card of its own.

The DetectedIssue a card offers to create is FHIR R4 (status, code, severity
high | moderate | low, patient, implicated, detail, reference, mitigation); R5 renames
`patient` to `subject`, so it is R4 on purpose (reference notes §2; the HL7 PDDI IG lets a
service send a DetectedIssue as a create suggestion, `HL7/PDDI-CDS`
`input/pagecontent/cds-service-spec.md`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from medsafe.assessment.findings import SUMMARY_LIMIT, Finding, FindingSeverity, short
from medsafe.assessment.patient import Coding
from medsafe.interop.cds_hooks.requests import DraftOrder
from medsafe.knowledge.model import Source

SOURCE_LABEL = "medsafe"
RULE_SYSTEM = "urn:medsafe:cds-rule"
OVERRIDE_SYSTEM = "urn:medsafe:cds-override-reason"
DAILYMED_SETID_URL = "https://dailymed.nlm.nih.gov/dailymed/lookup.cfm?setid={setid}"
ISSUE_SEVERITY: dict[str, str] = {"critical": "high", "warning": "moderate", "info": "low"}
_SYSTEM_URI = {"rxnorm": "http://www.nlm.nih.gov/research/umls/rxnorm",
               "snomed": "http://snomed.info/sct", "loinc": "http://loinc.org",
               "atc": "http://www.whocc.no/atc", "ndc": "http://hl7.org/fhir/sid/ndc",
               "unii": "http://fdasis.nlm.nih.gov"}

# Why a prescriber goes ahead anyway: medsafe's own vocabulary (local policy, shown in
# the override report per rule so noisy rules can be found and tuned).
OVERRIDE_REASONS: tuple[tuple[str, str], ...] = (
    ("benefit-outweighs-risk", "Benefit outweighs the risk for this patient"),
    ("tolerated-before", "Patient already takes this combination without harm"),
    ("will-monitor", "Will monitor the patient closely"),
    ("dose-already-adjusted", "The dose is already adjusted"),
    ("not-relevant", "Not relevant to this patient"),
    ("alert-wrong", "The alert is wrong: please review the rule"),
)


@dataclass(frozen=True, slots=True)
class CardPolicy:
    """Which findings are worth a card (local policy, configurable)."""

    severities: frozenset[FindingSeverity] = frozenset({"warning", "critical"})
    quiet_kinds: frozenset[str] = frozenset({"missing-data", "monitoring",
                                             "route-preference", "tolerability-preference"})
    folded_kinds: frozenset[str] = frozenset({"sleep"})

    def worth_a_card(self, finding: Finding) -> bool:
        return finding.severity in self.severities and finding.kind not in self.quiet_kinds


DEFAULT_POLICY = CardPolicy()


@dataclass(frozen=True, slots=True)
class Alternative:
    """The engine's best other medicine for the patient."""

    ingredient_id: str
    name: str
    suitability: str
    dose_start: str | None = None
    codings: tuple[Coding, ...] = ()


@dataclass(frozen=True, slots=True)
class Problem:
    """One actionable problem about the drug of a draft order.

    `switch_from` is None when the swap replaces the draft order itself; otherwise it
    names the medicine the patient already takes that the swap would replace (when the
    ordered drug is outside medsafe's knowledge, e.g. an opioid ordered for a patient on
    baclofen), and `taper` is the engine's finding on how that medicine must be stopped.
    """

    order: DraftOrder
    finding: Finding
    related: tuple[Finding, ...] = ()
    swap: Alternative | None = None
    switch_from: str | None = None
    taper: Finding | None = None
    dose_change: str | None = None


@dataclass(frozen=True, slots=True)
class Card:
    uuid: str
    rule: str
    indicator: str
    summary: str
    detected_issue: dict[str, Any]
    suggestion_ids: tuple[str, ...]
    document: dict[str, Any] = field(hash=False)


def select_problems(findings: Iterable[Finding], policy: CardPolicy = DEFAULT_POLICY
                    ) -> list[tuple[Finding, tuple[Finding, ...]]]:
    """The findings worth a card, each with the findings folded into it: a folded-kind
    finding (sedation adding up) joins the card of the interaction with the same medicine
    and is dropped when there is none (it says less than the interaction would)."""
    chosen = [f for f in findings if policy.worth_a_card(f)]
    main = [f for f in chosen if f.kind not in policy.folded_kinds]
    folded = [f for f in chosen if f.kind in policy.folded_kinds]
    result = []
    for finding in main:
        related = tuple(f for f in folded
                        if finding.kind == "interaction" and set(f.with_) & set(finding.with_))
        result.append((finding, related))
    taken = {id(f) for _, related in result for f in related}
    result.extend((f, ()) for f in folded if id(f) not in taken
                  and not any(set(f.with_) & set(m.with_) for m in main))
    return result


def source_url(source: Source | None) -> str | None:
    """The cited label's address: its URL, else its DailyMed page from the set id."""
    if source is None:
        return None
    if source.url:
        return source.url
    if source.setid:
        return DAILYMED_SETID_URL.format(setid=source.setid)
    return None


def build_card(problem: Problem, *, patient_id: str, now: datetime,
               new_uuid: Callable[[], str]) -> Card:
    finding = problem.finding
    card_uuid = new_uuid()
    issue = detected_issue(problem, patient_id=patient_id, now=now, card_uuid=card_uuid)
    suggestions = _suggestions(problem, patient_id=patient_id, issue=issue,
                               new_uuid=new_uuid)
    summary = finding.summary if len(finding.summary) < SUMMARY_LIMIT else short(
        finding.summary)
    source: dict[str, Any] = {"label": SOURCE_LABEL,
                              "topic": {"system": RULE_SYSTEM, "code": finding.rule,
                                        "display": finding.kind}}
    url = source_url(finding.source)
    if url:
        source["url"] = url
    card: dict[str, Any] = {
        "uuid": card_uuid,
        "summary": summary,
        "indicator": finding.severity,
        "detail": card_detail(problem),
        "source": source,
        "overrideReasons": [{"system": OVERRIDE_SYSTEM, "code": code, "display": display}
                            for code, display in OVERRIDE_REASONS],
    }
    if suggestions:
        card["suggestions"] = suggestions
        card["selectionBehavior"] = "at-most-one"
    return Card(uuid=card_uuid, rule=finding.rule, indicator=finding.severity,
                summary=summary, detected_issue=issue,
                suggestion_ids=tuple(s["uuid"] for s in suggestions), document=card)


def card_detail(problem: Problem) -> str:
    """Markdown: what the finding says, each related finding, and where it comes from."""
    finding = problem.finding
    lines = [f"**{_md(finding.summary)}**", "", _md(finding.detail)]
    for other in problem.related:
        lines += ["", f"Also: {_md(other.detail)}"]
    if problem.swap is not None:
        lines += ["", f"medsafe's best alternative for this patient: "
                      f"**{_md(problem.swap.name)}** ({problem.swap.suitability})."]
        if problem.switch_from is not None:
            lines.append(f"Switching from {_md(problem.switch_from)} needs a plan: "
                         + _md(_stopping(problem)))
    if problem.dose_change:
        lines += ["", f"Dose: {_md(problem.dose_change)}"]
    lines += ["", "Source: " + _citation(finding.source)]
    for other in problem.related:
        if other.source is not None and other.source != finding.source:
            lines.append("Also: " + _citation(other.source))
    lines += ["", f"Rule `{finding.rule}`"]
    return "\n".join(lines)


def _citation(source: Source | None) -> str:
    if source is None:
        return "medsafe knowledge base (no citation recorded for this finding)"
    url = source_url(source)
    text = _md(source.cite())
    return f"[{text}]({url})" if url else text


def _md(text: str) -> str:
    """Plain text inside Markdown: characters that would start markup are escaped."""
    out = text
    for char in ("\\", "*", "_", "`", "[", "]", "<", ">", "#"):
        out = out.replace(char, "\\" + char)
    return out


def detected_issue(problem: Problem, *, patient_id: str, now: datetime,
                   card_uuid: str) -> dict[str, Any]:
    finding = problem.finding
    implicated: list[dict[str, Any]] = []
    if problem.order.reference:
        implicated.append({"reference": problem.order.reference,
                           "display": problem.order.label()})
    else:
        implicated.append({"display": problem.order.label()})
    implicated.extend({"display": name} for name in finding.with_)
    issue: dict[str, Any] = {
        "resourceType": "DetectedIssue",
        "status": "final",
        "code": {"coding": [{"system": RULE_SYSTEM, "code": finding.rule,
                             "display": finding.kind}],
                 "text": finding.summary},
        "severity": ISSUE_SEVERITY[finding.severity],
        "patient": {"reference": f"Patient/{patient_id}"},
        "identifiedDateTime": now.isoformat(),
        "implicated": implicated,
        "detail": finding.detail,
        "mitigation": [{"action": {"text": f"Shown to the prescriber as medsafe CDS card "
                                           f"{card_uuid}"},
                        "date": now.isoformat()}],
    }
    url = source_url(finding.source)
    if url:
        issue["reference"] = url
    return issue


def _suggestions(problem: Problem, *, patient_id: str, issue: dict[str, Any],
                 new_uuid: Callable[[], str]) -> list[dict[str, Any]]:
    order = problem.order
    found: list[dict[str, Any]] = []
    if problem.swap is not None:
        found.append(_swap(problem, problem.swap, patient_id, new_uuid()))
    if problem.dose_change and order.id:
        resource = dict(order.resource)
        resource["dosageInstruction"] = [{"text": problem.dose_change}]
        found.append({"label": short(f"Change the {order.label()} dose as the label "
                                     "advises for this patient", 80),
                      "uuid": new_uuid(),
                      "actions": [{"type": "update",
                                   "description": short(problem.dose_change, 500),
                                   "resource": resource}]})
    found.append({"label": "Record this issue (DetectedIssue) and go ahead",
                  "uuid": new_uuid(),
                  "actions": [{"type": "create",
                               "description": "Record the problem, and that it was shown, "
                                              "in the patient's record",
                               "resource": issue}]})
    return found


def _swap(problem: Problem, alt: Alternative, patient_id: str,
          suggestion_uuid: str) -> dict[str, Any]:
    order = problem.order
    concept: dict[str, Any] = {"text": alt.name}
    if alt.codings:
        concept["coding"] = [{"system": c.system, "code": c.code, "display": c.display}
                             for c in alt.codings]
    request: dict[str, Any] = {
        "resourceType": "MedicationRequest",
        "status": "draft",
        "intent": order.intent or "order",
        "subject": {"reference": f"Patient/{patient_id}"},
        "medicationCodeableConcept": concept,
    }
    if alt.dose_start:
        request["dosageInstruction"] = [{"text": alt.dose_start}]
    if problem.switch_from is None:
        label = short(f"Order {alt.name} instead of {order.label()}", 80)
        if order.id:
            request["id"] = order.id
            actions = [{"type": "update",
                        "description": f"Replace the draft order for {order.label()} with "
                                       f"{alt.name}",
                        "resource": request}]
        else:
            actions = [{"type": "create",
                        "description": f"Order {alt.name}; remove the draft order for "
                                       f"{order.label()}",
                        "resource": request}]
    else:
        label = short(f"Switch {problem.switch_from} to {alt.name}", 80)
        taper = _stopping(problem)
        actions = [{"type": "create",
                    "description": f"Start {alt.name} in place of {problem.switch_from}. "
                                   f"{taper}",
                    "resource": request}]
    return {"label": label, "uuid": suggestion_uuid, "isRecommended": True,
            "actions": actions}


def _stopping(problem: Problem) -> str:
    """How the medicine switched from must be stopped: the engine's cited finding, or, when
    the knowledge base holds none, a pointer to its label (medsafe states no withdrawal
    advice it cannot cite)."""
    if problem.taper is not None:
        return problem.taper.summary
    return (f"medsafe holds no cited advice on stopping {problem.switch_from}; check its "
            "label before stopping it.")


def response(cards: Sequence[Card]) -> dict[str, Any]:
    """The service's reply: `{"cards": []}` when there is nothing to say."""
    return {"cards": [card.document for card in cards]}


def code_system_uri(system: str) -> str:
    """The FHIR system URI of one of the knowledge base's code systems."""
    return _SYSTEM_URI.get(system, system)
