"""Typed model of medsafe's drug knowledge.

Every clinical statement is a `Cited` subclass: it cannot be built without a `Source`.
The data files under `knowledge/data/` are validated against these models at load
time (`medsafe.knowledge.loader`), so a malformed file fails before anything uses it.

Vocabulary used across files (ids are lower-case, hyphenated and stable, because the
database and other documents refer to them):
- condition ids come from `data/conditions.yaml`;
- interacting-class ids from `data/classes/*.yaml`;
- ingredient ids are the file names in `data/ingredients/`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Route = Literal["oral", "intrathecal", "intramuscular", "intravenous", "injection-other"]
Family = Literal["antispasticity", "musculoskeletal"]
SleepEffect = Literal["daytime-sleepiness", "insomnia", "sleep-quality"]
IndicationStatus = Literal[
    "indicated",  # the label indicates it for this condition
    "adjunct",  # indicated only as an add-on
    "may-be-of-value",  # label wording such as "may also be of some value"
    "not-established",  # efficacy not established
    "not-recommended",  # label says not recommended
    "not-effective",  # label says not effective / not indicated
]
RuleAction = Literal["no-change", "caution", "reduce-dose", "avoid", "contraindicated"]
InteractionSeverity = Literal["contraindicated", "major", "moderate", "minor"]
HepaticState = Literal[
    "child-pugh-a",
    "child-pugh-b",
    "child-pugh-c",
    "active-liver-disease",
    "transaminases-over-3x-uln",
]
RenalMeasure = Literal["egfr", "crcl", "either"]


class Strict(BaseModel):
    """Base for every knowledge model: immutable, and unknown keys are an error."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class Source(Strict):
    """Where a fact comes from: a document and the section within it.

    `verified` is False when the fact is taken from a secondary source (a summary that
    quotes the label, a drug-information site) rather than from the primary text itself;
    users are shown such facts as unverified.
    """

    document: str = Field(min_length=3, description="e.g. 'FDA label, baclofen tablets'")
    section: str = Field(min_length=1, description="e.g. 'WARNINGS (b) Abrupt Drug Withdrawal'")
    setid: str | None = Field(default=None, description="DailyMed SPL set id, where known")
    url: str | None = None
    verified: bool = True
    note: str | None = None

    def cite(self) -> str:
        """The one-line citation shown to users."""
        text = f"{self.document}, {self.section}"
        if self.setid:
            text += f" (DailyMed setid {self.setid})"
        if not self.verified:
            text += " [secondary source, not verified against the label]"
        return text


class Cited(Strict):
    """A statement that carries its source. Every clinical fact derives from this."""

    source: Source


class Statement(Cited):
    text: str = Field(min_length=3)


class Code(Strict):
    """A code in an external terminology. Unverified codes are kept but never required:
    matching by text must work without them."""

    system: Literal["rxnorm", "snomed", "loinc", "atc", "unii", "ndc"]
    code: str = Field(min_length=1)
    verified: bool
    source: Source


class Price(Cited):
    amount: str = Field(description="as the source prints it, e.g. '0,51'")
    currency: str = Field(description="ISO 4217 code, or 'not stated'")
    pack: str = Field(description="what the price buys, or 'not stated'")
    market: str = Field(description="country/market, or 'not stated'")


class Strength(Strict):
    value: float = Field(gt=0)
    unit: str = Field(description="mg, mcg, units")
    per: str | None = Field(default=None, description="e.g. '5 mL' for a solution")

    def label(self) -> str:
        value = f"{self.value:g}"
        return f"{value} {self.unit}" + (f"/{self.per}" if self.per else "")


class Product(Cited):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    name: str
    brand_names: tuple[str, ...] = ()
    strengths: tuple[Strength, ...] = Field(min_length=1)
    form: str = Field(description="tablet, oral solution, capsule, injection, ...")
    route: Route
    market: str = Field(description="e.g. 'US', or 'not stated'")
    price: Price | None = None
    codes: tuple[Code, ...] = ()


class Indication(Cited):
    condition: str = Field(description="condition id from conditions.yaml")
    status: IndicationStatus
    routes: tuple[Route, ...] = Field(
        default=(), description="routes this statement applies to; empty = every route"
    )
    text: str


class TitrationStep(Strict):
    dose_mg: float | None = Field(default=None, gt=0)
    dose_text: str | None = Field(default=None, description="when the dose is not in mg")
    times_per_day: int | None = Field(default=None, ge=1, le=6)
    days: int | None = Field(default=None, ge=1)
    note: str | None = None

    @model_validator(mode="after")
    def _has_a_dose(self) -> TitrationStep:
        if self.dose_mg is None and self.dose_text is None:
            raise ValueError("a titration step needs dose_mg or dose_text")
        return self

    def label(self) -> str:
        dose = f"{self.dose_mg:g} mg" if self.dose_mg is not None else str(self.dose_text)
        parts = [dose]
        if self.times_per_day:
            parts.append(_TIMES.get(self.times_per_day, f"{self.times_per_day} times daily"))
        if self.days:
            parts.append(f"for {self.days} days")
        if self.note:
            parts.append(f"({self.note})")
        return " ".join(parts)


_TIMES = {1: "once daily", 2: "twice daily", 3: "three times daily", 4: "four times daily"}


class DoseRegimen(Cited):
    """Adult dosing for one route and use."""

    route: Route
    use: str = Field(description="e.g. 'spasticity', 'acute musculoskeletal spasm'")
    start: str
    titration: tuple[TitrationStep, ...] = ()
    max_daily_mg: float | None = Field(default=None, gt=0)
    max_daily_text: str | None = None
    max_duration_days: int | None = Field(default=None, ge=1)
    notes: tuple[str, ...] = ()


class RenalRule(Cited):
    """What to do when kidney function is within [min, max) mL/min (per 1.73 m² for eGFR)."""

    measure: RenalMeasure = "either"
    min: float | None = Field(default=None, ge=0)
    max: float | None = Field(default=None, gt=0)
    dialysis: bool = Field(default=False, description="applies to patients on dialysis")
    action: RuleAction
    routes: tuple[Route, ...] = ()
    text: str
    dose: str | None = Field(default=None, description="adjusted dose advice, if any")

    @model_validator(mode="after")
    def _band_is_ordered(self) -> RenalRule:
        if self.min is not None and self.max is not None and self.min >= self.max:
            raise ValueError("min must be below max")
        if self.min is None and self.max is None and not self.dialysis:
            raise ValueError("a renal rule needs a band (min/max) or dialysis: true")
        return self


class HepaticRule(Cited):
    when: tuple[HepaticState, ...] = Field(min_length=1)
    action: RuleAction
    routes: tuple[Route, ...] = ()
    text: str
    dose: str | None = None


class Contraindication(Cited):
    """Absolute contraindication. Exactly one target: a condition, a drug class,
    `hypersensitivity: true` (allergy to the ingredient itself), or an age limit
    (`min_age_years`: contraindicated below that age)."""

    condition: str | None = None
    drug_class: str | None = None
    hypersensitivity: bool = False
    min_age_years: float | None = None
    routes: tuple[Route, ...] = ()
    text: str

    @model_validator(mode="after")
    def _one_target(self) -> Contraindication:
        targets = [self.condition, self.drug_class, True if self.hypersensitivity else None,
                   self.min_age_years]
        if sum(t is not None for t in targets) != 1:
            raise ValueError("give exactly one of condition, drug_class, hypersensitivity: "
                             "true, min_age_years")
        return self


class Caution(Cited):
    """A condition that calls for care short of a contraindication."""

    condition: str
    severity: Literal["info", "warning", "critical"] = "warning"
    routes: tuple[Route, ...] = ()
    text: str


class LabelWarning(Cited):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    title: str
    text: str
    boxed: bool = False
    routes: tuple[Route, ...] = ()


class Frequency(Strict):
    low_pct: float | None = Field(default=None, ge=0, le=100)
    high_pct: float | None = Field(default=None, ge=0, le=100)
    text: str = Field(description="as the label puts it, e.g. '10 to 63%' or 'rare'")

    def short(self) -> str:
        """'10–63%' when the label gives numbers, else its words."""
        if self.low_pct is not None and self.high_pct is not None:
            if self.low_pct == self.high_pct:
                return f"{self.high_pct:g}%"
            return f"{self.low_pct:g}–{self.high_pct:g}%"
        if self.high_pct is not None:
            return f"up to {self.high_pct:g}%"
        return self.text

    @model_validator(mode="after")
    def _ordered(self) -> Frequency:
        if self.low_pct is not None and self.high_pct is not None and self.low_pct > self.high_pct:
            raise ValueError("low_pct must not exceed high_pct")
        return self


class SideEffect(Cited):
    term: str = Field(description="the label's word, e.g. 'drowsiness'")
    preferred_term: str | None = Field(
        default=None, description="the preferred-term name as FAERS uses it, e.g. 'Somnolence'"
    )
    frequency: Frequency
    affects_sleep: SleepEffect | None = None


class Interaction(Cited):
    """An interaction of this ingredient with a class (or one ingredient) of drugs."""

    with_class: str | None = None
    with_ingredient: str | None = None
    severity: InteractionSeverity
    effect: str
    management: str
    dose: str | None = Field(
        default=None, description="how the source adjusts this drug's dose with the partner"
    )

    @model_validator(mode="after")
    def _one_partner(self) -> Interaction:
        if (self.with_class is None) == (self.with_ingredient is None):
            raise ValueError("give exactly one of with_class, with_ingredient")
        return self


class Monitoring(Cited):
    what: str
    when: str


class Discontinuation(Cited):
    """How to stop: the taper plan (issue 'patient protection' builds on it).

    `taper` holds a source's own taper steps. Where a source gives only how long the
    taper should last, `taper_over_days` holds that period (shortest, longest; equal when
    the source names one figure) with its own `taper_source` and the source's words in
    `taper_over_text`; medsafe may then split the period into equal reductions, and says
    that the split is its arithmetic, not the source's (care.transitions)."""

    abrupt_stop_dangerous: bool
    text: str
    taper: tuple[TitrationStep, ...] = ()
    taper_over_days: tuple[int, int] | None = None
    taper_over_text: str | None = None
    taper_source: Source | None = None

    @model_validator(mode="after")
    def _taper_period_is_cited(self) -> Discontinuation:
        given = [self.taper_over_days is not None, self.taper_over_text is not None,
                 self.taper_source is not None]
        if any(given) and not all(given):
            raise ValueError("taper_over_days, taper_over_text and taper_source go together")
        if self.taper_over_days is not None:
            shortest, longest = self.taper_over_days
            if not 1 <= shortest <= longest:
                raise ValueError("taper_over_days must be (shortest, longest), 1 <= shortest "
                                 "<= longest")
        return self


class Ingredient(Strict):
    """One active ingredient and everything medsafe knows about it."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    name: str
    synonyms: tuple[str, ...] = ()
    brand_names: tuple[str, ...] = ()
    codes: tuple[Code, ...] = ()
    family: Family
    category: Statement
    tags: tuple[str, ...] = ()
    classes: tuple[str, ...] = Field(
        default=(), description="interacting-class ids this ingredient belongs to"
    )
    first_line_for: tuple[str, ...] = Field(
        default=(), description="condition ids for which a cited source calls it first line"
    )
    mechanism: Statement
    indications: tuple[Indication, ...] = Field(min_length=1)
    products: tuple[Product, ...] = Field(min_length=1)
    dosing: tuple[DoseRegimen, ...] = Field(min_length=1)
    renally_cleared: Statement | None = None
    hepatotoxic: Statement | None = None
    renal: tuple[RenalRule, ...] = ()
    hepatic: tuple[HepaticRule, ...] = ()
    contraindications: tuple[Contraindication, ...] = ()
    cautions: tuple[Caution, ...] = ()
    warnings: tuple[LabelWarning, ...] = ()
    side_effects: tuple[SideEffect, ...] = ()
    interactions: tuple[Interaction, ...] = ()
    pregnancy: Statement | None = None
    older_adults: Statement | None = None
    older_adult_dose: Statement | None = None
    monitoring: tuple[Monitoring, ...] = ()
    discontinuation: Discontinuation | None = None
    related: tuple[str, ...] = Field(default=(), description="ids of related ingredients")
    not_included: tuple[str, ...] = Field(
        default=(), description="facts we looked for and could not source, said plainly"
    )

    @field_validator("products")
    @classmethod
    def _unique_products(cls, products: tuple[Product, ...]) -> tuple[Product, ...]:
        ids = [p.id for p in products]
        if len(ids) != len(set(ids)):
            raise ValueError("product ids must be unique")
        return products

    @property
    def routes(self) -> frozenset[str]:
        return frozenset(p.route for p in self.products)

    @property
    def sleep_effects(self) -> tuple[SideEffect, ...]:
        return tuple(s for s in self.side_effects if s.affects_sleep is not None)


class ClassMember(Strict):
    name: str
    brand_names: tuple[str, ...] = ()
    codes: tuple[Code, ...] = ()


class ValueSetRef(Strict):
    """A FHIR ValueSet file (RxNorm expansion) shipped under knowledge/data/valuesets."""

    file: str
    source: Source


class DrugClass(Cited):
    """A class of drugs that candidates interact with, matched by member name, brand and
    code. `includes` nests classes (every opioid is also a CNS depressant)."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    name: str
    description: str
    members: tuple[ClassMember, ...] = ()
    includes: tuple[str, ...] = ()
    valuesets: tuple[ValueSetRef, ...] = ()
    name_patterns: tuple[str, ...] = Field(
        default=(), description="extra words that identify members in free text"
    )


class Condition(Strict):
    """An entry in the condition vocabulary: how to recognise it in a patient record."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    name: str
    synonyms: tuple[str, ...] = ()
    codes: tuple[Code, ...] = ()
    spasticity: bool = Field(default=False, description="a cause of spasticity")
    musculoskeletal: bool = Field(default=False, description="acute painful musculoskeletal")
    sleep: bool = Field(default=False, description="a sleep disorder")
    hepatic_state: HepaticState | None = None
