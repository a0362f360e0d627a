"""Close monitoring after a switch (pure): the check-in schedule, the diary's scales, the
red flags and the rules that turn a diary entry into alerts for the prescriber.

Everything is configuration, read from `care/data/monitoring.yaml` (or a site's own file)
and validated here, so that a wrong key fails at start with the file, the field and what
is allowed, not at the bedside. What is clinical fact and what is policy:

- the red flags (signs of baclofen withdrawal) come from the labels and carry their
  citation; a red flag that applies to the plan's medicines escalates urgently;
- the diary items say on which scale they are scored and whether a published instrument
  stands behind it;
- the schedule, the check-in windows, the fever temperature and every threshold and trend
  are local policy: medsafe's defaults are modest examples, to be replaced by each site.

The functions take the settings as an argument and do no I/O (except `load_settings`,
which reads the file once and caches it), so the service and the benchmark can call
`evaluate` in bulk: it makes one pass over the history and a few dictionary look-ups.
"""

from __future__ import annotations

import itertools
import re
import string
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import fields
from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    model_validator,
)

from medsafe.care.model import Alert, AlertSeverity, DiaryItem, Entry, RedFlag
from medsafe.errors import Invalid

DEFAULT_PATH = Path(__file__).parent / "data" / "monitoring.yaml"

# Plausibility bounds for a recorded body temperature: a typing error guard (37.5 typed as
# 375, Fahrenheit typed as Celsius), not a clinical statement.
TEMPERATURE_RANGE_C = (30.0, 45.0)

_ID = r"^[a-z0-9][a-z0-9_-]*$"
_ID_RE = re.compile(_ID)
_PLACED = re.compile(r"^([a-z_]+(?:\.[\w-]+)*): (.*)$", re.DOTALL)
RED_FLAG_RULE = "red-flag"
"""Alerts raised by a red flag have rule_id `red-flag:<flag id>`; those raised by a rule,
`<rule id>:<item id>`, so that the service can tell one open alert from another."""

_THRESHOLD_FIELDS = frozenset(
    {"label", "item", "value", "limit", "low", "high", "low_means", "high_means", "day"})
_TREND_FIELDS = frozenset({"label", "item", "value", "reference", "reference_day", "change",
                           "days", "low", "high", "day"})


class _Strict(BaseModel):
    """Immutable, unknown keys are an error (as knowledge.model.Strict)."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


def _template_fields(template: str) -> set[str]:
    try:
        return {name for _, name, _, _ in string.Formatter().parse(template)
                if name is not None}
    except ValueError as exc:  # an unmatched brace
        raise ValueError(f"not a message template: {exc}") from exc


def _check_template(template: str, allowed: frozenset[str]) -> str:
    unknown = sorted(_template_fields(template) - allowed)
    if unknown:
        raise ValueError(f"unknown field {', '.join('{' + u + '}' for u in unknown)} in "
                         f"the message (fields: {', '.join(sorted(allowed))})")
    return template


class ThresholdRule(_Strict):
    """An item at or above `at_least` (or at or below `at_most`) on the new entry. Local
    policy."""

    kind: Literal["threshold"]
    id: str = Field(pattern=_ID, max_length=40)
    items: tuple[str, ...] = Field(min_length=1)
    at_least: int | None = None
    at_most: int | None = None
    severity: AlertSeverity = "warning"
    message: str = Field(min_length=3)

    @model_validator(mode="after")
    def _one_limit(self) -> ThresholdRule:
        if (self.at_least is None) == (self.at_most is None):
            raise ValueError("give exactly one of at_least or at_most")
        _check_template(self.message, _THRESHOLD_FIELDS)
        return self

    @property
    def limit(self) -> int:
        """The configured limit, whichever of the two it is."""
        if self.at_least is not None:
            return self.at_least
        if self.at_most is not None:
            return self.at_most
        raise AssertionError("validated: one of at_least or at_most is set")


class TrendRule(_Strict):
    """An item worse by at least `worsened_by` points than on the plan's first entry that
    scored it (`first`), or than on the latest earlier entry that scored it, if that one
    is at most `within_days` old (`previous`). Local policy."""

    kind: Literal["trend"]
    id: str = Field(pattern=_ID, max_length=40)
    items: tuple[str, ...] = Field(min_length=1)
    worsened_by: int = Field(ge=1)
    versus: Literal["first", "previous"]
    within_days: int | None = Field(default=None, ge=1)
    severity: AlertSeverity = "warning"
    message: str = Field(min_length=3)

    @model_validator(mode="after")
    def _window_fits(self) -> TrendRule:
        if self.versus == "previous" and self.within_days is None:
            raise ValueError("versus: previous needs within_days")
        if self.versus == "first" and self.within_days is not None:
            raise ValueError("within_days applies only to versus: previous")
        _check_template(self.message, _TREND_FIELDS)
        return self


Rule = Annotated[ThresholdRule | TrendRule, Field(discriminator="kind")]


class Fever(_Strict):
    """A recorded temperature at or above `at_least_c` counts as the red flag `red_flag`.
    The labels say "high fever" without a number: the temperature is local policy."""

    red_flag: str
    at_least_c: float = Field(ge=TEMPERATURE_RANGE_C[0], le=TEMPERATURE_RANGE_C[1])


class MonitoringSettings(_Strict):
    """The whole configuration, validated (see `care/data/monitoring.yaml`)."""

    check_in_days: tuple[int, ...] = Field(min_length=1)
    window_days_before: int = Field(ge=0)
    grace_days_after: int = Field(ge=0)
    fever: Fever | None = None
    diary_items: tuple[DiaryItem, ...] = Field(min_length=1)
    red_flags: tuple[RedFlag, ...] = ()
    rules: tuple[Rule, ...] = ()

    # Look-ups built once, so that evaluate and validate_entry stay cheap.
    _items: dict[str, DiaryItem] = PrivateAttr(default_factory=dict)
    _flags: dict[str, RedFlag] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _consistent(self) -> MonitoringSettings:
        days = self.check_in_days
        if any(d < 1 for d in days) or list(days) != sorted(set(days)):
            raise ValueError("check_in_days: give whole days after the start (1 or more), "
                             "each once, in increasing order")
        for early, late in itertools.pairwise(days):
            if early + self.grace_days_after >= late - self.window_days_before:
                raise ValueError(
                    f"check_in_days: the windows of the check-ins on day {early} and day "
                    f"{late} overlap "
                    f"(window_days_before {self.window_days_before}, grace_days_after "
                    f"{self.grace_days_after}): one entry would answer both")
        self._check_items()
        self._check_flags()
        known = [i.id for i in self.diary_items]
        seen_rules: set[str] = set()
        for n, rule in enumerate(self.rules):
            if rule.id in seen_rules:
                raise ValueError(f"rules.{n}.id: the id {rule.id!r} is given twice")
            seen_rules.add(rule.id)
            if len(set(rule.items)) != len(rule.items):
                raise ValueError(f"rules.{n}.items: an item is listed twice")
            for item in rule.items:
                if item not in self._items:
                    raise ValueError(f"rules.{n}.items: unknown item {item!r} "
                                     f"(items: {', '.join(known)})")
                scale = self._items[item]
                if isinstance(rule, ThresholdRule) and not scale.low <= rule.limit <= scale.high:
                    limit = "at_least" if rule.at_least is not None else "at_most"
                    raise ValueError(f"rules.{n}.{limit}: {rule.limit} is outside the scale "
                                     f"of {item} ({scale.low}–{scale.high})")
        return self

    def _check_items(self) -> None:
        for n, item in enumerate(self.diary_items):
            if not _ID_RE.match(item.id) or len(item.id) > 30:
                raise ValueError(f"diary_items.{n}.id: {item.id!r} is not an id (up to 30 "
                                 "lower-case letters, digits, - and _)")
            if item.id in self._items:
                raise ValueError(f"diary_items.{n}.id: the id {item.id!r} is given twice")
            if item.low >= item.high:
                raise ValueError(f"diary_items.{n}.low: low ({item.low}) must be below "
                                 f"high ({item.high})")
            if not item.scale.strip():
                raise ValueError(f"diary_items.{n}.scale: say on which scale {item.id} is "
                                 "scored, and cite it or say it is medsafe's choice")
            self._items[item.id] = item

    def _check_flags(self) -> None:
        for n, flag in enumerate(self.red_flags):
            if not _ID_RE.match(flag.id) or len(flag.id) > 30:
                raise ValueError(f"red_flags.{n}.id: {flag.id!r} is not an id (up to 30 "
                                 "lower-case letters, digits, - and _)")
            if flag.id in self._flags:
                raise ValueError(f"red_flags.{n}.id: the id {flag.id!r} is given twice")
            if len(flag.source.strip()) < 10:
                raise ValueError(f"red_flags.{n}.source: a red flag ({flag.id}) needs its "
                                 "source (document and section)")
            self._flags[flag.id] = flag
        if self.fever is not None and self.fever.red_flag not in self._flags:
            raise ValueError(f"fever.red_flag: unknown red flag {self.fever.red_flag!r} "
                             f"(red flags: {', '.join(self._flags) or 'none'})")

    def item(self, item_id: str) -> DiaryItem:
        return self._items[item_id]

    def red_flag(self, flag_id: str) -> RedFlag:
        return self._flags[flag_id]


# -- loading -----------------------------------------------------------------------------

_ALLOWED_KEYS: dict[str, tuple[str, ...]] = {
    "": tuple(MonitoringSettings.model_fields),
    "fever": tuple(Fever.model_fields),
    "diary_items": tuple(f.name for f in fields(DiaryItem)),
    "red_flags": tuple(f.name for f in fields(RedFlag)),
}


def _allowed_keys(loc: Sequence[int | str], data: object) -> tuple[str, ...]:
    """The keys allowed where an unknown key was found (for the error message)."""
    if loc and loc[0] == "rules" and len(loc) >= 2:
        rules = data.get("rules") if isinstance(data, Mapping) else None
        kind = None
        if isinstance(rules, Sequence) and isinstance(loc[1], int) and loc[1] < len(rules):
            rule = rules[loc[1]]
            kind = rule.get("kind") if isinstance(rule, Mapping) else None
        model = TrendRule if kind == "trend" else ThresholdRule
        return tuple(model.model_fields)
    section = str(loc[0]) if len(loc) >= 2 else ""
    return _ALLOWED_KEYS.get(section, ())


def parse_settings(data: object, where: str = "monitoring") -> MonitoringSettings:
    """Settings from configuration data (the parsed YAML). Invalid names `where`, the field
    and what is allowed."""
    if not isinstance(data, Mapping):
        raise Invalid("expected a mapping with check_in_days, window_days_before, "
                      "grace_days_after, fever, diary_items, red_flags and rules", where=where)
    try:
        return MonitoringSettings.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = list(first["loc"])
        if len(loc) >= 3 and loc[0] == "rules" and loc[2] in ("threshold", "trend"):
            del loc[2]  # the union's tag, not a key of the file
        field = ".".join(str(part) for part in loc) or "(top level)"
        message = first["msg"].removeprefix("Value error, ")
        placed = _PLACED.match(message) if not loc else None
        if placed:  # a check across fields names its field at the start of the message
            field, message = placed.group(1), placed.group(2)
        if first["type"] in ("extra_forbidden", "unexpected_keyword_argument"):
            allowed = _allowed_keys(loc, data)
            message = "unknown key" + (f" (keys: {', '.join(allowed)})" if allowed else "")
        elif first["type"] == "union_tag_invalid" or first["type"] == "union_tag_not_found":
            message = "a rule needs kind: threshold or kind: trend"
        more = exc.error_count() - 1
        if more:
            message += f" (and {more} more error{'s' if more > 1 else ''})"
        raise Invalid(message, where=f"{where}: {field}") from exc


@lru_cache(maxsize=8)
def load_settings(path: Path | None = None) -> MonitoringSettings:
    """The settings in `path` (default: the shipped `care/data/monitoring.yaml`), read
    once and cached: restart to pick up a changed file."""
    path = path or DEFAULT_PATH
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise Invalid(f"cannot read the monitoring settings: {exc.strerror or exc}",
                      where=str(path)) from exc
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else "?"
        raise Invalid(f"not valid YAML: {exc.problem}", where=f"{path}:{line}") from exc
    return parse_settings(data, where=str(path))


# -- the schedule ------------------------------------------------------------------------

def check_in_dates(start: date, settings: MonitoringSettings) -> tuple[date, ...]:
    """The days the plan expects a check-in, for a plan starting on `start`."""
    return tuple(start + timedelta(days=d) for d in settings.check_in_days)


def plan_end(start: date, settings: MonitoringSettings) -> date:
    """The last day of the plan: the last check-in's grace ends. (A taper longer than the
    schedule is the service's to account for: it may keep the plan open longer.)"""
    return start + timedelta(days=settings.check_in_days[-1] + settings.grace_days_after)


def done_by(due: date, entry_day: date, settings: MonitoringSettings) -> bool:
    """Whether a diary entry on `entry_day` answers the check-in due on `due`."""
    return (due - timedelta(days=settings.window_days_before) <= entry_day
            <= due + timedelta(days=settings.grace_days_after))


def missed(due: date, entries_on: Collection[date], today: date,
           settings: MonitoringSettings) -> bool:
    """A check-in is missed once its grace has passed (today is after due + grace) and
    no entry fell in its window; before that it is only due."""
    if today <= due + timedelta(days=settings.grace_days_after):
        return False
    return not any(done_by(due, day, settings) for day in entries_on)


# -- a diary entry -----------------------------------------------------------------------

def validate_entry(scores: Mapping[str, int], red_flags: Sequence[str],
                   temperature_c: float | None, settings: MonitoringSettings) -> None:
    """Raise Invalid naming every bad field at once (so a form can mark them all): an
    unknown item, a score that is not a whole number in its item's range, an unknown red
    flag, an implausible temperature."""
    problems: list[tuple[str, str]] = []
    for item_id, value in scores.items():
        field = f"scores.{item_id}"
        try:
            item = settings.item(item_id)
        except KeyError:
            known = ", ".join(i.id for i in settings.diary_items)
            problems.append((field, f"unknown diary item {item_id!r} (items: {known})"))
            continue
        if isinstance(value, bool) or not isinstance(value, int):
            problems.append((field, f"{item.label}: {value!r} is not a whole number "
                                    f"({item.low}–{item.high})"))
        elif not item.low <= value <= item.high:
            problems.append((field, f"{item.label}: {value} is outside its scale "
                                    f"{item.low}–{item.high} ({item.low} = {item.low_means}, "
                                    f"{item.high} = {item.high_means})"))
    for flag_id in red_flags:
        try:
            settings.red_flag(flag_id)
        except KeyError:
            known = ", ".join(f.id for f in settings.red_flags) or "none"
            problems.append(("red_flags", f"unknown red flag {flag_id!r} (red flags: {known})"))
    if temperature_c is not None:
        low, high = TEMPERATURE_RANGE_C
        if (isinstance(temperature_c, bool) or not isinstance(temperature_c, int | float)
                or not low <= temperature_c <= high):
            problems.append(("temperature_c", f"{temperature_c!r} °C is not a plausible body "
                                              f"temperature (give degrees Celsius, "
                                              f"{low:g}–{high:g})"))
    if problems:
        where = ", ".join(dict.fromkeys(field for field, _ in problems))
        raise Invalid("; ".join(message for _, message in problems), where=where)


# -- the rules ---------------------------------------------------------------------------

def _worse_by(item: DiaryItem, value: int, reference: int) -> int:
    """How many points worse `value` is than `reference` (negative: better)."""
    return value - reference if item.higher_is_worse else reference - value


def _red_flag_alerts(entry: Entry, medicines: Collection[str],
                     settings: MonitoringSettings) -> list[Alert]:
    """Ticked red flags, plus the fever flag when the temperature reaches the threshold.
    A flag that warns of a medicine the plan does not involve still reaches the prescriber,
    as a warning: the sign is worth knowing, but the label ties it to another medicine."""
    fever = settings.fever
    flagged = dict.fromkeys(entry.red_flags)
    feverish = (fever is not None and entry.temperature_c is not None
                and entry.temperature_c >= fever.at_least_c)
    if feverish and fever is not None:
        flagged.setdefault(fever.red_flag)
    alerts = []
    for flag in settings.red_flags:  # the configuration's order
        if flag.id not in flagged:
            continue
        flag_id = flag.id
        applies = not flag.medicines or any(m in medicines for m in flag.medicines)
        sign = flag.label
        if feverish and fever is not None and flag_id == fever.red_flag:
            sign += (f" (temperature {entry.temperature_c:g} °C, at or above the local "
                     f"threshold of {fever.at_least_c:g} °C)")
        if applies:
            names = ", ".join(flag.medicines) or "the plan's medicines"
            message = (f"URGENT: {sign} reported on {entry.day.isoformat()}: a warning sign "
                       f"of {names} withdrawal. Source: {flag.source}")
        else:
            message = (f"{sign} reported on {entry.day.isoformat()}. Listed as a withdrawal "
                       f"sign of {', '.join(flag.medicines)}, which this plan does not "
                       f"involve; review. Source: {flag.source}")
        alerts.append(Alert(rule_id=f"{RED_FLAG_RULE}:{flag_id}",
                            severity="urgent" if applies else "warning", message=message))
    return alerts


def evaluate(entry: Entry, history: Sequence[Entry], *, medicines: Collection[str],
             settings: MonitoringSettings) -> tuple[Alert, ...]:
    """The alerts a new diary entry raises. `history` holds the plan's earlier entries,
    oldest first; `medicines` the ingredient ids the plan stops or starts. Red flags that
    apply to those medicines are urgent; thresholds and trends warn. No alert twice; urgent
    first, then in the order of the configuration (flags, rules, items)."""
    alerts = _red_flag_alerts(entry, medicines, settings)
    scores = entry.scores
    if not scores or not settings.rules:
        return _ordered(alerts)
    # One pass over the history: each item's first and latest earlier score.
    first: dict[str, tuple[date, int]] = {}
    latest: dict[str, tuple[date, int]] = {}
    for earlier in history:
        for item_id, score in earlier.scores.items():
            first.setdefault(item_id, (earlier.day, score))
            latest[item_id] = (earlier.day, score)
    trend_refs: set[tuple[str, date]] = set()
    day = entry.day.isoformat()
    for rule in settings.rules:
        for item_id in rule.items:
            value = scores.get(item_id)
            if value is None:
                continue
            item = settings.item(item_id)
            if isinstance(rule, ThresholdRule):
                hit = (value >= rule.at_least if rule.at_least is not None
                       else value <= rule.limit)
                if hit:
                    message = rule.message.format(
                        label=item.label, item=item.id, value=value, limit=rule.limit,
                        low=item.low, high=item.high, low_means=item.low_means,
                        high_means=item.high_means, day=day)
                    alerts.append(Alert(f"{rule.id}:{item_id}", rule.severity, message))
                continue
            reference = (first if rule.versus == "first" else latest).get(item_id)
            if reference is None:
                continue
            ref_day, ref_value = reference
            days = (entry.day - ref_day).days
            if rule.within_days is not None and days > rule.within_days:
                continue
            change = _worse_by(item, value, ref_value)
            if change < rule.worsened_by or (item_id, ref_day) in trend_refs:
                continue
            trend_refs.add((item_id, ref_day))
            message = rule.message.format(
                label=item.label, item=item.id, value=value, reference=ref_value,
                reference_day=ref_day.isoformat(), change=change, days=days,
                low=item.low, high=item.high, day=day)
            alerts.append(Alert(f"{rule.id}:{item_id}", rule.severity, message))
    return _ordered(alerts)


def _ordered(alerts: Iterable[Alert]) -> tuple[Alert, ...]:
    """Urgent first; otherwise the order they were raised in (the configuration's); an
    alert raised twice (same rule id) kept once. The sort is stable."""
    seen: set[str] = set()
    kept = []
    for alert in alerts:
        if alert.rule_id not in seen:
            seen.add(alert.rule_id)
            kept.append(alert)
    return tuple(sorted(kept, key=lambda a: a.severity != "urgent"))
