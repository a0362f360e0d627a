"""The synthetic population generator against real databases: SQLite in a temporary file,
and PostgreSQL (in a schema of its own, dropped afterwards) when MEDSAFE_TEST_POSTGRES_URL
is set.

One population of 2,000 patients is loaded per database and shared by the read-only
checks; the tests that write get a fresh database each.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import statistics
import uuid
import zipfile
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, Executable, func, inspect, select, text
from sqlalchemy.engine import make_url

from medsafe.cases.model import CaseReport
from medsafe.cases.rules import validity_problems
from medsafe.errors import Conflict
from medsafe.interop.openfda.ndc import normalise_ndc
from medsafe.knowledge.catalog import Catalog
from medsafe.population import generator
from medsafe.population.generator import (
    BULK_TABLES,
    COLUMNS,
    PLACEHOLDER_PASSWORD,
    PopulationSummary,
    digest_of,
    generate,
    write_population,
)
from medsafe.population.real_codes import DATA_FILE, SOURCE_FILE, SOURCE_SHA256, real_lots
from medsafe.security.audit import verify
from medsafe.store.engine import make_engine
from medsafe.store.migrate import upgrade
from medsafe.store.schema import (
    Base,
    Case,
    CaseDrug,
    CaseReaction,
    CaseVersion,
    Dispensing,
    Lot,
    Patient,
    Product,
)
from medsafe.store.uow import uow_factory

PATIENTS = 2000
SEED = 7
END = generator.DEFAULT_END
WINDOW_START = END - timedelta(days=generator.WINDOW_DAYS - 1)
SPASTICITY_CONDITIONS = {"multiple-sclerosis", "spinal-cord-injury", "cerebral-palsy"}
STORY_TERMS = ("Muscle spasticity", "Drug ineffective", "Product quality issue")
POSTGRES_URL = os.environ.get("MEDSAFE_TEST_POSTGRES_URL")
BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.skipif(
    not POSTGRES_URL, reason="MEDSAFE_TEST_POSTGRES_URL is not set"))]
ENFORCEMENT_ZIP = (Path(__file__).resolve().parents[3] / "shared" / "data"
                   / "fda-enforcement" / SOURCE_FILE)


@contextmanager
def fresh_database(backend: str, folder: Path) -> Iterator[Engine]:
    """A migrated, empty database: a SQLite file, or a new PostgreSQL schema that every
    connection of the engine uses (search_path) and that is dropped afterwards."""
    if backend == "sqlite":
        engine = make_engine(f"sqlite:///{folder / 'medsafe.sqlite'}")
        upgrade(engine)
        try:
            yield engine
        finally:
            engine.dispose()
        return
    assert POSTGRES_URL is not None
    schema = f"test_population_{uuid.uuid4().hex[:12]}"
    admin = make_engine(POSTGRES_URL)
    with admin.begin() as connection:
        connection.exec_driver_sql(f"CREATE SCHEMA {schema}")
    url = make_url(POSTGRES_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    engine = make_engine(url.render_as_string(hide_password=False))
    try:
        upgrade(engine)
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as connection:
            connection.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        admin.dispose()


@dataclass(frozen=True)
class Loaded:
    engine: Engine
    summary: PopulationSummary

    def rows(self, query: str | Executable, **params: Any) -> list[Any]:
        """Rows of raw SQL, or of a Core select (which returns dates and flags as Python
        values on every database: what SQLAlchemy reads back is what the app sees)."""
        statement = text(query) if isinstance(query, str) else query
        with self.engine.connect() as connection:
            return list(connection.execute(statement, params))

    def value(self, query: str | Executable, **params: Any) -> Any:
        statement = text(query) if isinstance(query, str) else query
        with self.engine.connect() as connection:
            return connection.execute(statement, params).scalar()


@pytest.fixture(scope="module", params=BACKENDS)
def loaded(request: pytest.FixtureRequest,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Loaded]:
    backend: str = request.param
    with fresh_database(backend, tmp_path_factory.mktemp(backend)) as engine:
        yield Loaded(engine, write_population(engine, PATIENTS, SEED))


@pytest.fixture(params=BACKENDS)
def empty(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    with fresh_database(request.param, tmp_path) as engine:
        yield engine


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.load()


# -- determinism


def test_the_same_seed_gives_the_same_rows_and_another_seed_other_rows() -> None:
    first = digest_of(generate(300, seed=11))
    assert digest_of(generate(300, seed=11)) == first
    assert digest_of(generate(300, seed=12))[1] != first[1]


def test_both_databases_store_exactly_the_generated_rows(loaded: Loaded) -> None:
    counts, digest = digest_of(generate(PATIENTS, SEED))
    assert loaded.summary.sha256 == digest
    assert loaded.summary.counts == counts


def test_a_producer_process_generates_the_same_rows(tmp_path: Path) -> None:
    with fresh_database("sqlite", tmp_path) as engine:
        summary = write_population(engine, 300, seed=5, parallel=True)
    assert summary.sha256 == digest_of(generate(300, seed=5))[1]


@pytest.mark.parametrize("backend", BACKENDS)
def test_every_write_method_stores_the_same_rows(backend: str, tmp_path: Path) -> None:
    methods: list[generator.Method] = ["executemany", "core"]
    if backend == "postgresql":
        methods.append("copy")
    expected = digest_of(generate(150, seed=9))
    for method in methods:
        with fresh_database(backend, tmp_path / method) as engine:
            summary = write_population(engine, 150, seed=9, method=method)
            assert (summary.counts, summary.sha256) == expected, method
            with engine.connect() as connection:
                stored = connection.execute(select(func.count()).select_from(Dispensing))
                assert stored.scalar() == expected[0]["dispensings"], method


def test_ids_follow_the_rows_already_in_the_database() -> None:
    batches = list(generate(20, seed=3, id_offsets={"patients": 500, "dispensings": 9000}))
    patients = next(b for b in batches if b.table == "patients")
    dispensings = [row for b in batches if b.table == "dispensings" for row in b.rows]
    assert patients.rows[0][0] == 501
    assert patients.rows[0][1] == "P-0000001"  # pseudonyms stay stable
    assert dispensings[0][0] == 9001
    assert {row[1] for row in dispensings} <= {row[0] for row in patients.rows}


def test_lots_grow_with_the_population_so_a_lot_reaches_thousands_not_everyone() -> None:
    def lots(patients: int) -> int:
        for batch in generate(patients, seed=1):  # reference data comes first
            if batch.table == "lots":
                return len(batch.rows)
        raise AssertionError("no lots")

    assert lots(1_000_000) > 10 * lots(3_000)


# -- what was stored


def test_every_table_holds_the_counted_rows(loaded: Loaded) -> None:
    for table, count in loaded.summary.counts.items():
        if table == generator.REPORTS:  # stored as cases, one per report
            table = "cases"
        assert loaded.value(f"SELECT count(*) FROM {table}") == count, table
    counts = loaded.summary.counts
    assert counts["patients"] == PATIENTS
    assert 8 <= counts["dispensings"] / PATIENTS <= 14  # about ten fills per patient
    kinds = dict(loaded.rows("SELECT kind, count(*) FROM organisations GROUP BY kind"))
    assert kinds["pharmacy"] == 40
    assert kinds["clinic"] == 15
    assert kinds["wholesaler"] == 2
    assert kinds["regulator"] == 1
    roles = dict(loaded.rows("SELECT role, count(*) FROM users GROUP BY role"))
    assert roles == {"physician": PATIENTS // 50, "pharmacist": 40}


def test_foreign_keys_hold_and_indexes_are_back(loaded: Loaded) -> None:
    if loaded.engine.dialect.name == "sqlite":
        assert loaded.rows("PRAGMA foreign_key_check") == []
    else:
        invalid = loaded.value("SELECT count(*) FROM pg_constraint WHERE contype = 'f' "
                               "AND NOT convalidated AND connamespace = "
                               "current_schema()::regnamespace")
        assert invalid == 0
    inspector = inspect(loaded.engine)
    for table in BULK_TABLES:
        expected = {str(ix.name) for ix in Base.metadata.tables[table].indexes}
        assert expected <= {ix["name"] for ix in inspector.get_indexes(table)}, table
        expected_fks = {str(fk.name) for fk in Base.metadata.tables[table].foreign_key_constraints}
        assert expected_fks <= {fk["name"] for fk in inspector.get_foreign_keys(table)}, table


def test_each_dispensing_is_consistent_with_its_prescription_lot_and_pharmacy(
        loaded: Loaded) -> None:
    wrong = loaded.value("""
        SELECT count(*) FROM dispensings d
        JOIN lots l ON l.id = d.lot_id
        JOIN prescriptions r ON r.id = d.prescription_id
        JOIN organisations o ON o.id = d.pharmacy_id
        JOIN users u ON u.id = d.prescriber_id
        JOIN products given ON given.id = d.product_id
        JOIN products prescribed ON prescribed.id = r.product_id
        WHERE l.product_id <> d.product_id OR r.patient_id <> d.patient_id
           OR o.kind <> 'pharmacy' OR u.role <> 'physician'
           OR l.expiry <= d.dispensed_on OR d.quantity <= 0
           OR (r.product_id <> d.product_id AND (given.code_system <> 'ndc'
               OR given.ingredient_id <> prescribed.ingredient_id
               OR given.strength <> prescribed.strength OR given.form <> prescribed.form
               OR given.route <> prescribed.route))""")
    # The product dispensed is the one prescribed, or a real twin of it that the pharmacy
    # stocked in its place (same ingredient, strength, form and route).
    assert wrong == 0
    # Every pharmacy that dispensed a lot received it: a recall reaches it through stock.
    unstocked = loaded.value("""
        SELECT count(*) FROM dispensings d WHERE NOT EXISTS (
            SELECT 1 FROM stock s WHERE s.pharmacy_id = d.pharmacy_id AND s.lot_id = d.lot_id)""")
    assert unstocked == 0


def test_every_patient_has_spasticity_from_ms_spinal_cord_injury_or_cerebral_palsy(
        loaded: Loaded, catalog: Catalog) -> None:
    causes: dict[int, set[str]] = defaultdict(set)
    for patient_id, condition in loaded.rows(
            "SELECT patient_id, text FROM patient_conditions"):
        causes[patient_id].update(catalog.identify_condition_text(condition))
    patients = loaded.rows(select(Patient.id, Patient.birth_date, Patient.sex,
                                  Patient.symptom_severity, Patient.synthetic))
    assert len(patients) == PATIENTS
    for patient_id, birth, sex, severity, synthetic in patients:
        assert causes[patient_id] & SPASTICITY_CONDITIONS, patient_id
        age = END.year - birth.year - ((END.month, END.day) < (birth.month, birth.day))
        assert 18 <= age <= 90
        assert sex in ("female", "male")
        assert severity in ("mild", "moderate", "severe")
        assert synthetic is True
    others = Counter(c for found in causes.values() for c in found - SPASTICITY_CONDITIONS)
    for condition in ("sleep-apnoea", "insomnia", "chronic-kidney-disease",
                      "active-liver-disease", "depression", "epilepsy"):
        assert others[condition] > 0, condition


def test_co_medication_is_drawn_from_realistic_classes(loaded: Loaded,
                                                       catalog: Catalog) -> None:
    medicines = loaded.rows("SELECT patient_id, text, rxnorm FROM patient_medications")
    classes: dict[str, set[int]] = defaultdict(set)
    for patient_id, name, rxnorm in medicines:
        identities = catalog.identify_drug_text(name)
        for identity in identities:
            for drug_class in identity.classes:
                classes[drug_class].add(patient_id)
        if rxnorm is not None:  # a code we store must denote what the text says
            coded = catalog.identify_drug_code("rxnorm", rxnorm)
            assert coded is not None, name
            assert coded.classes <= frozenset[str]().union(*(i.classes for i in identities))
    share = {c: len(patients) / PATIENTS for c, patients in classes.items()}
    assert 0.08 <= share["opioids"] <= 0.35
    for drug_class in ("ssris", "snris", "antihypertensives", "sedative-hypnotics",
                       "tricyclic-antidepressants", "benzodiazepines"):
        assert share[drug_class] > 0, drug_class
    names = Counter(name.split()[0] for _, name, _ in medicines)
    assert names["Gabapentin"] > 0.1 * PATIENTS
    assert names["Metformin"] > 0
    with_any = len({patient_id for patient_id, _, _ in medicines})
    assert 0.5 <= with_any / PATIENTS <= 0.95


def test_spasticity_treatment_uses_all_eight_ingredients_baclofen_first(
        loaded: Loaded, catalog: Catalog) -> None:
    used = Counter(dict(loaded.rows(
        "SELECT ingredient_id, count(DISTINCT patient_id) FROM prescriptions "
        "GROUP BY ingredient_id")))
    assert set(used) == set(catalog.ingredients)
    assert used.most_common(1)[0][0] == "baclofen"
    assert used["baclofen"] > 0.5 * PATIENTS


def test_dispensing_is_monthly_and_spans_two_years(loaded: Loaded) -> None:
    first, last = loaded.rows(select(func.min(Dispensing.dispensed_on),
                                     func.max(Dispensing.dispensed_on)))[0]
    assert WINDOW_START <= first <= WINDOW_START + timedelta(days=10)
    assert END - timedelta(days=10) <= last <= END
    fills: dict[int, list[date]] = defaultdict(list)
    for prescription_id, day in loaded.rows(
            select(Dispensing.prescription_id, Dispensing.dispensed_on)
            .join(Product, Product.id == Dispensing.product_id).where(Product.form == "tablet")
            .order_by(Dispensing.prescription_id, Dispensing.dispensed_on)):
        fills[prescription_id].append(day)
    gaps = [(b - a).days for days in fills.values() for a, b in pairwise(days)]
    assert 29 <= statistics.median(gaps) <= 40
    months = {(day.year, day.month) for days in fills.values() for day in days}
    assert len(months) >= 24


def test_contacts_are_synthetic_and_undeliverable(loaded: Loaded) -> None:
    contacts = loaded.rows("SELECT full_name, email, phone FROM patient_contacts")
    assert len(contacts) == PATIENTS
    emails = [email for _, email, _ in contacts if email]
    assert 0.6 <= len(emails) / PATIENTS <= 0.8
    assert all(email.endswith("@example.org") for email in emails)
    phones = [phone for _, _, phone in contacts if phone]
    assert all(re.fullmatch(r"\+1-\d{3}-555-01\d\d", phone) for phone in phones)


def test_organisations_users_products_and_lots_are_labelled_synthetic(loaded: Loaded) -> None:
    real_labelers = {lot.labeler for lot in real_lots()}
    for name, in loaded.rows("SELECT name FROM organisations"):
        assert name.endswith("(synthetic)") or name in real_labelers, name
    users = loaded.rows("SELECT display_name, password_hash FROM users")
    assert all(display.endswith("(synthetic)") for display, _ in users)
    assert {password for _, password in users} == {PLACEHOLDER_PASSWORD}
    synthetic_lots = loaded.rows(
        "SELECT p.code, l.lot_number FROM lots l JOIN products p ON p.id = l.product_id "
        "WHERE p.code_system = 'other'")
    assert all(code.startswith("SYN-") and lot.startswith("SYN-")
               for code, lot in synthetic_lots)


def test_real_recalled_lots_are_listed_and_some_dispensed_in_place_of_their_twin(
        loaded: Loaded) -> None:
    stored = {(code, number): expiry for code, number, expiry in loaded.rows(
        select(Product.code, Lot.lot_number, Lot.expiry)
        .join(Product, Product.id == Lot.product_id).where(Product.code_system == "ndc"))}
    assert set(stored) == {(lot.ndc, lot.lot_number) for lot in real_lots()}
    dispensed = loaded.rows(
        "SELECT p.code, l.lot_number, p.ingredient_id, p.strength, p.form, "
        "count(DISTINCT d.patient_id), "
        "sum(CASE WHEN d.product_id = l.product_id THEN 0 ELSE 1 END) "
        "FROM dispensings d JOIN lots l ON l.id = d.lot_id "
        "JOIN products p ON p.id = d.product_id WHERE p.code_system = 'ndc' "
        "GROUP BY p.code, l.lot_number, p.ingredient_id, p.strength, p.form")
    assert len({code for code, *_ in dispensed}) >= 3  # real matches for the recalls
    for code, number, ingredient, strength, form, patients, mismatched in dispensed:
        assert patients > 0
        assert mismatched == 0  # a dispensing names the lot's own product
        assert stored[code, number] is None  # no expiry: they expired before the window
        prescribed = loaded.rows(
            "SELECT DISTINCT p.ingredient_id, p.strength, p.form FROM dispensings d "
            "JOIN prescriptions r ON r.id = d.prescription_id "
            "JOIN products p ON p.id = r.product_id JOIN lots l ON l.id = d.lot_id "
            "WHERE l.lot_number = :number", number=number)
        assert prescribed == [(ingredient, strength, form)]  # a twin of what was prescribed
    # The others are catalogue entries, with the expiry the recall prints, unless a shelf
    # received them (too few patients take the product for a fill at this size).
    assert all(stored[lot.ndc, lot.lot_number] in (None, lot.expiry) for lot in real_lots())


@pytest.mark.skipif(not ENFORCEMENT_ZIP.exists(), reason=f"{ENFORCEMENT_ZIP} is not here")
def test_real_codes_are_copied_from_the_fda_enforcement_records() -> None:
    assert hashlib.sha256(ENFORCEMENT_ZIP.read_bytes()).hexdigest() == SOURCE_SHA256
    with zipfile.ZipFile(ENFORCEMENT_ZIP) as archive:
        records = json.loads(archive.read(archive.namelist()[0]))["results"]
    by_number = {r["recall_number"]: r for r in records}
    for entry in json.loads(DATA_FILE.read_text())["products"]:
        record = by_number[entry["recall_number"]]
        assert entry["product_description"] == record["product_description"]
        assert entry["code_info"] == record["code_info"]
        # Picked where the structured NDC block confirms the printed package NDC.
        structured = {normalise_ndc(ndc) for ndc in record["openfda"]["package_ndc"]
                      if "-" in ndc}
        assert normalise_ndc(entry["ndc"]) in structured, entry["recall_number"]
    for lot in real_lots():
        record = by_number[lot.recall_number]
        printed = record["product_description"] + " " + record["code_info"]
        assert record["recalling_firm"] == lot.recalling_firm
        assert record["classification"] == lot.classification
        assert lot.ingredient_id in record["product_description"].lower()
        assert lot.ndc in printed, lot
        assert lot.lot_number in record["code_info"], lot
        assert record["reason_for_recall"].startswith(lot.reason), lot


# -- adverse-event reports: the demo's story


def test_synthetic_reports_become_synthetic_baclofen_cases(loaded: Loaded) -> None:
    reports = loaded.rows(
        select(CaseDrug.ingredient_id, Case.synthetic, Case.source, CaseVersion.payload,
               CaseReaction.term, Case.first_received, Case.status)
        .join(CaseDrug, CaseDrug.case_id == Case.id)
        .join(CaseReaction, CaseReaction.case_id == Case.id)
        .join(CaseVersion, CaseVersion.case_id == Case.id))
    assert 200 <= len(reports) <= 450  # a few hundred
    for ingredient, synthetic, source, payload, term, received, status in reports:
        report = CaseReport.model_validate_json(payload)
        assert ingredient == "baclofen"
        assert synthetic is True
        assert source == "population"
        assert status == "triage"
        assert report.narrative is not None
        assert report.narrative.startswith("SYNTHETIC")
        assert term
        onset = date.fromisoformat(report.reactions[0].start or "")
        assert onset <= received <= END
        assert not validity_problems(report)  # reporter, patient, suspect and reaction
    terms = Counter(term for _, _, _, _, term, _, _ in reports)
    assert terms.most_common(1)[0][0] == "Somnolence"


def test_a_handful_of_reports_cluster_on_two_baclofen_lots(loaded: Loaded) -> None:
    story = loaded.rows(
        select(CaseDrug.lot_id, Case.patient_id, CaseVersion.payload, Product.code)
        .join(Case, Case.id == CaseDrug.case_id)
        .join(CaseVersion, CaseVersion.case_id == Case.id)
        .join(CaseReaction, CaseReaction.case_id == Case.id)
        .join(Product, Product.id == CaseDrug.product_id)
        .where(CaseReaction.term.in_(STORY_TERMS)))
    per_lot = Counter(lot for lot, *_ in story)
    (first, n1), (second, n2), *rest = per_lot.most_common()
    assert 12 <= n1 + n2 <= 20
    assert min(n1, n2) >= 5
    assert all(n <= 1 for _, n in rest)  # elsewhere these terms are absent
    assert {code for lot, *_, code in story if lot in (first, second)} == {"SYN-ALD-BAC10"}
    assert len({patient for lot, patient, *_ in story if lot in (first, second)}) == n1 + n2
    for lot, patient, payload, _ in story:
        onset = date.fromisoformat(
            CaseReport.model_validate_json(payload).reactions[0].start or "")
        received_before = loaded.value(
            select(func.count()).select_from(Dispensing).where(
                Dispensing.patient_id == patient, Dispensing.lot_id == lot,
                Dispensing.dispensed_on <= onset))
        assert received_before > 0  # the reporter really took that lot
    spasticity = Counter(lot for lot, in loaded.rows(
        "SELECT d.lot_id FROM case_drugs d JOIN case_reactions r ON r.case_id = d.case_id "
        "WHERE r.term = 'Muscle spasticity'"))
    assert spasticity[first] + spasticity[second] >= 0.8 * sum(spasticity.values())


def test_one_audit_event_names_generator_seed_counts_and_digest(loaded: Loaded) -> None:
    events = loaded.rows("SELECT actor, entity_id, changes FROM audit_events "
                         "WHERE action = 'population.generate'")
    assert len(events) == 1
    actor, entity_id, changes_text = events[0]
    changes = json.loads(changes_text)
    assert actor == "system"
    assert entity_id == f"seed-{SEED}"
    assert changes["generator"] == generator.GENERATOR
    assert changes["seed"] == SEED
    assert changes["counts"] == loaded.summary.counts
    assert changes["sha256"] == loaded.summary.sha256
    with uow_factory(loaded.engine)() as uow:
        assert verify(uow).ok


# -- writes that must fail cleanly


def test_a_second_population_is_refused(loaded: Loaded) -> None:
    with pytest.raises(Conflict, match="already holds"):
        write_population(loaded.engine, 10, SEED)


def test_a_load_failing_half_way_leaves_nothing_behind(
        empty: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    written = 0

    def fail_in_the_patients(self: Any, batch: generator.RowBatch) -> None:
        nonlocal written
        written += 1
        if written > 12:  # after the reference data and some patient tables
            raise RuntimeError("disk full (simulated)")
        original(self, batch)

    sink = generator._CopySink if empty.dialect.name == "postgresql" else (
        generator._ExecutemanySink)
    original = sink.write
    monkeypatch.setattr(sink, "write", fail_in_the_patients)
    with pytest.raises(RuntimeError, match="simulated"):
        write_population(empty, 200, SEED)
    with empty.connect() as connection:
        for table in (*(t for t in COLUMNS if t != generator.REPORTS), "cases"):
            assert connection.execute(text(f"SELECT count(*) FROM {table}")).scalar() == 0
        assert connection.execute(text("SELECT count(*) FROM audit_events")).scalar() == 0
    # The dropped indexes came back with the rollback.
    names = {ix["name"] for ix in inspect(empty).get_indexes("dispensings")}
    assert "ix_dispensings_lot_patient" in names
