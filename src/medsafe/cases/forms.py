"""The two report forms, as input models, and how each becomes a `CaseReport` (pure: no
framework, no I/O; the caller hands in the lexicon and the day).

- `PatientReport`: a patient's report in plain words: the medicine (and lot, if known),
  what happened in their own words and/or ticked from the side effects the seed article
  names, when it started, how it ended, and whether it was serious in plain terms. Each
  term the lay lexicon finds becomes one reaction whose verbatim is the patient's words; a
  description the lexicon cannot code is kept uncoded (`coded=None`), so no report is lost
  and a person codes it later. The reporter is a consumer (E2B C.2.r.4).
- `ClinicianReport`: a health professional's fuller report: qualification, the patient's
  initials, age, sex and weight, several reactions (term, onset, outcome, seriousness),
  suspect and concomitant drugs (lot, dose, route, action taken, dechallenge and
  rechallenge), narrative and a causality opinion.

Both are first received, and last updated, on the day they are typed (E2B C.1.4/C.1.5; see
`cases.intake`), and get a worldwide unique case id minted by medsafe (C.1.8.1).

Sources:
- the side effects a patient can tick: the seed article, ../shared/seed/
  000_3cc443c37154d853.txt, "7. Potential side effects of Baclofen" (drowsiness and
  dizziness; nausea and other gastrointestinal disturbances; changes in sleep patterns;
  allergic reactions; confusion and mood swings; muscle weakness). Each is coded through
  medsafe's lay lexicon (`cases/data/lay_lexicon.yaml`) to a FAERS preferred-term name;
- the fields: ICH E2B(R3) as summarised in ../shared/reference/recall-and-cases.md §3
  (C.2.r.4 qualification, D patient, E.i.3.2 seriousness, E.i.7 outcome, G.k.1 role,
  G.k.4.r.7 lot, G.k.8 action taken, G.k.9.i.2.r relatedness as free text and G.k.9.i.4
  rechallenge), and FDA's element table ../shared/data/e2b-examples/
  fda_icsr_data_elements.csv (G.k.9.i.2.r.1-3 source, method and result are free text);
- the causality opinion's categories: the WHO-UMC system for standardised case causality
  assessment (certain, probable/likely, possible, unlikely, conditional/unclassified,
  unassessable/unclassifiable).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal, Protocol, get_args

from pydantic import Field, model_validator

from medsafe.cases.intake import mint_worldwide_id
from medsafe.cases.model import (
    ActionTaken,
    CaseReport,
    Causality,
    Challenge,
    Coded,
    Drug,
    Outcome,
    PartialDate,
    PatientInfo,
    PrimarySource,
    Reaction,
    Seriousness,
)
from medsafe.errors import Invalid, KnowledgeError
from medsafe.records import Day, Input

VERBATIM = 250
"""E2B E.i.1.1a's bound, as `Reaction.verbatim` keeps it."""
WORDS = 2000
"""Longest description a patient types; all of it is kept as the narrative (H.1)."""
NARRATIVE = 20_000
MAX_ROWS = 10
"""Most reactions, and most drugs, one clinician form holds."""


class Lexicon(Protocol):
    """What the forms need from a plain-language terminology (`LayLexicon` has both)."""

    def lookup(self, text: str) -> Coded | None: ...

    def extract(self, text: str) -> list[Coded]: ...


# -- the patient's form ------------------------------------------------------------------

SideEffectChoice = Literal["drowsiness", "dizziness", "nausea", "stomach_upset",
                           "sleep_changes", "allergic_reaction", "confusion", "mood_changes",
                           "muscle_weakness"]


@dataclass(frozen=True, slots=True)
class Choice:
    """One tick box: what the patient reads, the article's heading it comes under, and
    the lexicon phrase it is coded through."""

    key: SideEffectChoice
    label: str
    group: str
    phrase: str


# The article groups "nausea, constipation, or diarrhea" as gastrointestinal disturbances
# and "confusion, hallucinations, or mood swings" under mood and cognition; each group is
# split in two here, so that one tick is one preferred term and never a guess.
SIDE_EFFECT_CHOICES: tuple[Choice, ...] = (
    Choice("drowsiness", "Drowsiness (sleepy during the day)", "Drowsiness and dizziness",
           "drowsiness"),
    Choice("dizziness", "Dizziness or feeling light-headed", "Drowsiness and dizziness",
           "dizziness"),
    Choice("nausea", "Feeling sick (nausea)", "Nausea and other stomach upset", "nausea"),
    Choice("stomach_upset", "Another stomach upset", "Nausea and other stomach upset",
           "stomach upset"),
    Choice("sleep_changes", "Changes in my sleep", "Sleep changes", "sleep changes"),
    Choice("allergic_reaction", "An allergic reaction (such as hives, swelling of the face "
           "or throat, or trouble breathing)", "Allergic reactions", "allergic reaction"),
    Choice("confusion", "Confusion", "Confusion or mood changes", "confusion"),
    Choice("mood_changes", "Mood changes", "Confusion or mood changes", "mood changes"),
    Choice("muscle_weakness", "Muscle weakness", "Muscle weakness", "muscle weakness"),
)
CHOICES: dict[str, Choice] = {choice.key: choice for choice in SIDE_EFFECT_CHOICES}

HowItEnded = Literal["ongoing", "getting_better", "gone", "gone_with_lasting_effects",
                     "unknown"]
HOW_IT_ENDED: dict[HowItEnded, tuple[str, Outcome]] = {
    "ongoing": ("It is still going on", "not_recovered"),
    "getting_better": ("It is getting better", "recovering"),
    "gone": ("It has gone", "recovered"),
    "gone_with_lasting_effects": ("It has gone, but left lasting effects",
                                  "recovered_with_sequelae"),
    "unknown": ("I don't know", "unknown"),
}
"""Each plain answer: its words on the form, and the E2B outcome (E.i.7) it means."""

PlainSex = Literal["female", "male"]


class PatientReport(Input):
    """A patient's report, in the patient's words."""

    medicine: str = Field(min_length=1, max_length=250,
                          description="the medicine as the patient names it")
    lot: str | None = Field(default=None, min_length=1, max_length=60)
    what_happened: str | None = Field(default=None, min_length=1, max_length=WORDS)
    side_effects: list[SideEffectChoice] = Field(default_factory=list,
                                                 max_length=len(SIDE_EFFECT_CHOICES))
    started_on: Day | None = None
    how_it_ended: HowItEnded = "unknown"
    went_to_hospital: bool = False
    life_threatening: bool = False
    disability: bool = False
    age: int | None = Field(default=None, ge=0, le=130, description="in years")
    sex: PlainSex | None = None
    country: str = Field(default="US", pattern=r"^[A-Z]{2}$")

    @model_validator(mode="after")
    def _says_what_happened(self) -> PatientReport:
        if not self.what_happened and not self.side_effects:
            raise ValueError("tell us what happened: describe it in your own words, or tick "
                             "one of the side effects")
        return self


def choice_term(choice: Choice, lexicon: Lexicon) -> Coded:
    """The preferred term a tick box codes to. A box the lexicon cannot code is a bug in
    medsafe's own data, never the patient's fault."""
    coded = lexicon.lookup(choice.phrase)
    if coded is None:
        raise KnowledgeError(f"the lay lexicon has no term for the form's choice "
                             f"{choice.key!r} (phrase {choice.phrase!r})")
    return coded


def patient_case(form: PatientReport, lexicon: Lexicon, *, today: date,
                 worldwide_id: str | None = None) -> CaseReport:
    """The case a patient's form reports, received `today`."""
    if form.started_on is not None:
        _not_after(form.started_on.isoformat(), today, "started_on")
    seriousness = Seriousness(hospitalisation=form.went_to_hospital,
                              life_threatening=form.life_threatening,
                              disability=form.disability)
    outcome = HOW_IT_ENDED[form.how_it_ended][1]
    reactions = tuple(
        Reaction(id=f"r{n}", verbatim=verbatim, coded=coded,
                 start=form.started_on.isoformat() if form.started_on else None,
                 seriousness=seriousness, outcome=outcome, country=form.country)
        for n, (verbatim, coded) in enumerate(_patient_terms(form, lexicon), start=1))
    wwid = worldwide_id or mint_worldwide_id()
    return CaseReport(
        sender_report_id=wwid, worldwide_id=wwid, report_type="spontaneous",
        first_received=today, latest_received=today, occurrence_country=form.country,
        primary_sources=(PrimarySource(qualification="consumer", country=form.country,
                                       regulatory=True),),
        patient=PatientInfo(age=form.age, age_unit="year" if form.age is not None else None,
                            sex=form.sex),
        reactions=reactions,
        drugs=(Drug(id="d1", role="suspect", product_name=form.medicine,
                    lot_numbers=(form.lot,) if form.lot else ()),),
        narrative=form.what_happened)


def _patient_terms(form: PatientReport, lexicon: Lexicon) -> list[tuple[str, Coded | None]]:
    """(verbatim, coded) per reaction: the terms found in the patient's words first, then
    the ticked ones not already found; each preferred term once."""
    found: dict[str, tuple[str, Coded | None]] = {}
    uncoded: list[tuple[str, Coded | None]] = []
    if form.what_happened:
        words = _verbatim(form.what_happened)
        in_text = lexicon.extract(form.what_happened)
        for coded in in_text:
            found.setdefault(coded.term, (words, coded))
        if not in_text:
            # Nothing recognised: keep the words uncoded for a person to code.
            uncoded.append((words, None))
    for key in dict.fromkeys(form.side_effects):
        choice = CHOICES[key]
        coded = choice_term(choice, lexicon)
        found.setdefault(coded.term, (choice.label, coded))
    return uncoded + list(found.values())


def _verbatim(text: str) -> str:
    return text if len(text) <= VERBATIM else text[:VERBATIM - 1] + "…"


# -- the clinician's form ----------------------------------------------------------------

ClinicianQualification = Literal["physician", "pharmacist", "other_health_professional"]
Criterion = Literal["death", "life_threatening", "hospitalisation", "disability",
                    "congenital_anomaly", "other_medically_important",
                    "required_intervention"]
CRITERIA: tuple[str, ...] = get_args(Criterion)
ClinicianRole = Literal["suspect", "concomitant", "interacting"]
ClinicianAgeUnit = Literal["year", "month", "week", "day"]
CausalityOpinion = Literal["certain", "probable", "possible", "unlikely", "conditional",
                           "unassessable"]
CAUSALITY: dict[CausalityOpinion, str] = {
    "certain": "Certain",
    "probable": "Probable/Likely",
    "possible": "Possible",
    "unlikely": "Unlikely",
    "conditional": "Conditional/Unclassified",
    "unassessable": "Unassessable/Unclassifiable",
}
"""The WHO-UMC categories, as their result text (G.k.9.i.2.r.3)."""
CAUSALITY_METHOD = "WHO-UMC"
CAUSALITY_SOURCE = "Primary source reporter"


class ClinicianReaction(Input):
    term: str = Field(min_length=1, max_length=VERBATIM)
    onset: PartialDate | None = None
    outcome: Outcome = "unknown"
    seriousness: list[Criterion] = Field(default_factory=list, max_length=len(CRITERIA))


class ClinicianDrug(Input):
    role: ClinicianRole = "suspect"
    name: str = Field(min_length=1, max_length=250)
    lot: str | None = Field(default=None, min_length=1, max_length=60)
    dose: str | None = Field(default=None, min_length=1, max_length=250)
    route: str | None = Field(default=None, min_length=1, max_length=60)
    action_taken: ActionTaken | None = None
    dechallenge: Challenge | None = None
    rechallenge: Challenge | None = None


class ClinicianReport(Input):
    """A health professional's report."""

    qualification: ClinicianQualification
    country: str = Field(default="US", pattern=r"^[A-Z]{2}$")
    initials: str | None = Field(default=None, min_length=1, max_length=10)
    age: int | None = Field(default=None, ge=0, le=150)
    age_unit: ClinicianAgeUnit = "year"
    sex: PlainSex | None = None
    weight_kg: float | None = Field(default=None, gt=0, le=700, allow_inf_nan=False)
    reactions: list[ClinicianReaction] = Field(min_length=1, max_length=MAX_ROWS)
    drugs: list[ClinicianDrug] = Field(min_length=1, max_length=MAX_ROWS)
    narrative: str | None = Field(default=None, min_length=1, max_length=NARRATIVE)
    causality: CausalityOpinion | None = None


def code_term(text: str, lexicon: Lexicon) -> Coded | None:
    """A clinician's term, coded: the term the text names exactly ("Somnolence",
    "drowsy"), else the one term the text mentions ("marked drowsiness"), else None (two
    terms, or none, is for a person to decide)."""
    exact = lexicon.lookup(text)
    if exact is not None:
        return exact
    found = lexicon.extract(text)
    return found[0] if len(found) == 1 else None


def clinician_case(form: ClinicianReport, lexicon: Lexicon, *, today: date,
                   worldwide_id: str | None = None) -> CaseReport:
    """The case a clinician's form reports, received `today`."""
    reactions: list[Reaction] = []
    for n, row in enumerate(form.reactions, start=1):
        if row.onset is not None:
            _not_after(row.onset, today, f"reactions[{n - 1}].onset")
        reactions.append(Reaction(
            id=f"r{n}", verbatim=row.term, coded=code_term(row.term, lexicon),
            start=row.onset, outcome=row.outcome, country=form.country,
            seriousness=Seriousness.model_validate(dict.fromkeys(row.seriousness, True))))
    drugs = tuple(
        Drug(id=f"d{n}", role=row.role, product_name=row.name,
             lot_numbers=(row.lot,) if row.lot else (), dose_text=row.dose, route=row.route,
             action_taken=row.action_taken, dechallenge=row.dechallenge,
             rechallenge=row.rechallenge)
        for n, row in enumerate(form.drugs, start=1))
    causality: tuple[Causality, ...] = ()
    if form.causality is not None:
        # One opinion for the whole report: the reporter's view of each suspect against
        # each reaction.
        causality = tuple(
            Causality(drug_id=drug.id, reaction_id=reaction.id, source=CAUSALITY_SOURCE,
                      method=CAUSALITY_METHOD, result=CAUSALITY[form.causality])
            for drug in drugs if drug.is_suspect for reaction in reactions)
    wwid = worldwide_id or mint_worldwide_id()
    return CaseReport(
        sender_report_id=wwid, worldwide_id=wwid, report_type="spontaneous",
        first_received=today, latest_received=today, occurrence_country=form.country,
        primary_sources=(PrimarySource(qualification=form.qualification,
                                       country=form.country, regulatory=True),),
        patient=PatientInfo(initials=form.initials, age=form.age,
                            age_unit=form.age_unit if form.age is not None else None,
                            sex=form.sex, weight_kg=form.weight_kg),
        reactions=tuple(reactions), drugs=drugs, causality=causality,
        narrative=form.narrative)


def _not_after(value: str, today: date, where: str) -> None:
    """A (partial) date that is not in the future: "2026-11" is refused in October 2026.
    ISO dates of one precision compare as text."""
    if value > today.isoformat()[:len(value)]:
        raise Invalid(f"{value} is in the future (today is {today.isoformat()})",
                      where=where)
