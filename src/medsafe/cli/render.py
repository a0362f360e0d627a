"""Rich rendering of assessments and drug pages for people at a terminal."""

from __future__ import annotations

from collections.abc import Iterable

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from medsafe.assessment.engine import Assessment
from medsafe.knowledge.catalog import Catalog
from medsafe.knowledge.model import Ingredient, Source

SUITABILITY_STYLE = {
    "recommended": "bold green",
    "caution": "bold yellow",
    "avoid": "bold red",
    "contraindicated": "bold white on red",
}
SEVERITY_STYLE = {"info": "cyan", "warning": "yellow", "critical": "bold red"}


def _cite(source: Source | None) -> Text:
    if source is None:
        return Text("medsafe rule (no external source)", style="dim")
    style = "dim" if source.verified else "dim italic magenta"
    return Text(source.cite(), style=style)


def render_assessment(console: Console, assessment: Assessment, catalog: Catalog) -> None:
    ctx = assessment.context
    facts = [
        f"age {ctx.age}" if ctx.age is not None else "age unknown",
        ctx.record.sex or "sex unknown",
        "conditions: " + (", ".join(catalog.conditions[c].name for c in sorted(ctx.condition_ids))
                          or "none recognised"),
        "medicines: " + (", ".join(m.label for m in ctx.medicines) or "none recognised"),
    ]
    if ctx.unrecognised_medicines:
        facts.append("NOT recognised: " + ", ".join(ctx.unrecognised_medicines))
    if ctx.kidney:
        facts.append(f"{ctx.kidney.measure.upper()} {ctx.kidney.value:g}")
    if ctx.hepatic_states:
        facts.append("liver: " + ", ".join(sorted(ctx.hepatic_states)))
    prefs = ctx.preferences
    if prefs.route or prefs.avoid_side_effects:
        facts.append("prefers: " + ", ".join(
            [*([prefs.route] if prefs.route else []),
             *[f"no {a}" for a in prefs.avoid_side_effects]]))
    console.print(Panel(" · ".join(facts), title=f"Patient {ctx.record.id or ''}".strip()))

    table = Table(title="Options, best first", show_lines=False)
    table.add_column("#", justify="right")
    table.add_column("Drug")
    table.add_column("Route")
    table.add_column("Suitability")
    table.add_column("Findings", justify="right")
    table.add_column("Most serious")
    for option in assessment.options:
        top = option.findings[0].summary if option.findings else "-"
        table.add_row(
            str(option.rank),
            option.candidate.name,
            option.candidate.route,
            Text(option.suitability, style=SUITABILITY_STYLE[option.suitability]),
            str(len(option.findings)),
            top,
        )
    console.print(table)
    for option in assessment.options:
        lines: list[Text | Table] = []
        for finding in option.findings:
            line = Text()
            line.append(f"[{finding.severity}] ", style=SEVERITY_STYLE[finding.severity])
            line.append(f"{finding.kind}: ", style="bold")
            line.append(finding.summary)
            lines.append(line)
            lines.append(Text("    ").append_text(_cite(finding.source)))
        if option.dose:
            dose = option.dose
            lines.append(Text(f"Dose ({dose.route}, {dose.use}): {dose.start}", style="bold"))
            if dose.titration:
                lines.append(Text("  Titration: " + "; then ".join(dose.titration)))
            if dose.max_daily:
                lines.append(Text(f"  Maximum: {dose.max_daily} a day"))
            for adjustment in dose.adjustments:
                lines.append(Text(f"  Adjust: {adjustment}", style="yellow"))
        if option.monitoring:
            lines.append(Text("Monitor: " + "; ".join(option.monitoring)))
        title = (f"{option.rank}. {option.candidate.name} ({option.candidate.route}) — "
                 f"{option.suitability}")
        console.print(Panel(Group(*lines) if lines else Text("No findings."), title=title,
                            border_style=SUITABILITY_STYLE[option.suitability].split()[-1]))


def render_drug_list(console: Console, ingredients: Iterable[Ingredient]) -> None:
    table = Table(title="medsafe drug knowledge base")
    table.add_column("Ingredient")
    table.add_column("Products and strengths")
    table.add_column("Price")
    table.add_column("Category")
    table.add_column("Tags")
    for ing in ingredients:
        products = "\n".join(
            f"{p.name}: {', '.join(s.label() for s in p.strengths)} ({p.route}, {p.market})"
            for p in ing.products
        )
        prices = "\n".join(
            f"{p.name}: {p.price.amount} (currency {p.price.currency}, pack {p.price.pack})"
            for p in ing.products if p.price
        ) or "-"
        table.add_row(ing.name, products, prices, ing.category.text, ", ".join(ing.tags))
    console.print(table)


def render_drug(console: Console, ing: Ingredient, catalog: Catalog) -> None:
    def section(title: str, rows: Iterable[tuple[str, Source | None]]) -> None:
        items = list(rows)
        if not items:
            return
        console.rule(title)
        for text, source in items:
            console.print(Text("• ").append(text))
            console.print(Text("    ").append_text(_cite(source)))

    console.print(Panel(f"{ing.name} — {ing.category.text}\nTags: {', '.join(ing.tags) or '-'}",
                        title=ing.name))
    section("Products", [
        (f"{p.name}: {', '.join(s.label() for s in p.strengths)}; {p.form}; {p.route}; "
         f"market {p.market}"
         + (f"; price {p.price.amount} ({p.price.currency}, pack {p.price.pack})"
            if p.price else ""), p.source)
        for p in ing.products
    ])
    section("Category", [(ing.category.text, ing.category.source)])
    section("How it works", [(ing.mechanism.text, ing.mechanism.source)])
    section("What it treats", [
        (f"{catalog.conditions[i.condition].name}: {i.status}"
         + (f" ({'/'.join(i.routes)})" if i.routes else "") + f" — {i.text}", i.source)
        for i in ing.indications
    ])
    section("Adult dosing", [
        (f"{d.route}, {d.use}: {d.start}"
         + (f"; titration: {'; '.join(s.label() for s in d.titration)}" if d.titration else "")
         + (f"; max {d.max_daily_mg:g} mg/day" if d.max_daily_mg else "")
         + (f"; max {d.max_daily_text}" if d.max_daily_text else ""), d.source)
        for d in ing.dosing
    ])
    section("Side effects", [
        (f"{s.term}: {s.frequency.text}"
         + (f" (affects sleep: {s.affects_sleep})" if s.affects_sleep else ""), s.source)
        for s in ing.side_effects
    ])
    section("Effects on sleep", [
        (f"{s.term} ({s.frequency.text}): {s.affects_sleep}", s.source) for s in ing.sleep_effects
    ])
    section("Interactions", [
        (f"{catalog.classes[x.with_class].name if x.with_class else x.with_ingredient} "
         f"[{x.severity}]: {x.effect} {x.management}", x.source)
        for x in ing.interactions
    ])
    section("Contraindications", [(c.text, c.source) for c in ing.contraindications])
    section("Kidney", [
        *([(ing.renally_cleared.text, ing.renally_cleared.source)] if ing.renally_cleared else []),
        *[(f"{_band(r.min, r.max, r.dialysis)} {r.measure}: {r.action} — {r.text}", r.source)
          for r in ing.renal],
    ])
    section("Liver", [
        *([(ing.hepatotoxic.text, ing.hepatotoxic.source)] if ing.hepatotoxic else []),
        *[(f"{', '.join(h.when)}: {h.action} — {h.text}", h.source) for h in ing.hepatic],
    ])
    section("Warnings", [
        (("BOXED: " if w.boxed else "") + f"{w.title}: {w.text}", w.source) for w in ing.warnings
    ])
    section("Pregnancy", [(ing.pregnancy.text, ing.pregnancy.source)] if ing.pregnancy else [])
    section("Older adults",
            [(ing.older_adults.text, ing.older_adults.source)] if ing.older_adults else [])
    section("Monitoring", [(f"{m.what}: {m.when}", m.source) for m in ing.monitoring])
    if ing.discontinuation:
        section("Stopping", [(ing.discontinuation.text, ing.discontinuation.source)])
    if ing.related:
        console.rule("Related")
        console.print(", ".join(catalog.ingredients[r].name for r in ing.related))
    if ing.not_included:
        console.rule("Not included (no source found)")
        for line in ing.not_included:
            console.print(Text("• " + line, style="dim"))


def _band(low: float | None, high: float | None, dialysis: bool) -> str:
    if dialysis:
        return "on dialysis"
    if low is None:
        return f"below {high:g}"
    if high is None:
        return f"{low:g} and above"
    return f"{low:g} to below {high:g}"
