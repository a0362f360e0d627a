"""Signal management on a real database (SQLite and PostgreSQL): detection over the case
store by lot, product and ingredient, stored runs, candidate signals and their lifecycle
(audited), the case series behind a pair, who may see and do what, and the API."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest
from sqlalchemy import func, select

from medsafe.cases import service as cases
from medsafe.errors import Forbidden, Invalid, InvalidTransition, NotFound
from medsafe.security.audit import verify
from medsafe.security.principal import SYSTEM, Principal
from medsafe.signals import management
from medsafe.signals.management import RunView, SignalSummary
from medsafe.signals.stats import Prior
from medsafe.store.repositories.signals import case_store_table
from medsafe.store.schema import Signal
from tests.support.case_builder import case_report
from tests.support.databases import KINDS
from tests.support.signal_world import (
    CLUSTER_FROM,
    CLUSTER_PER_LOT,
    Cluster,
    fresh_signal,
    store_lot_cluster,
)
from tests.support.world import World, world_on


@dataclass
class Store:
    world: World
    cluster: Cluster
    lot_run: RunView

    def principal(self, name: str) -> Principal:
        return self.world.principals[name]

    def prior(self) -> Prior:
        """The lot run's fitted prior, to run other axes without fitting again."""
        p = self.lot_run.prior
        return Prior(p["alpha1"], p["beta1"], p["alpha2"], p["beta2"], p["p"])


@pytest.fixture(scope="module", params=KINDS)
def store(request: pytest.FixtureRequest,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    """One world per database: the lot-cluster case store and one fitted run by lot.
    Tests that move signals use signals of their own."""
    with world_on(request.param, tmp_path_factory.mktemp("signals")) as world:
        cluster = store_lot_cluster(world)
        with world.container.uow() as uow:
            run = management.run_over_case_store(uow, SYSTEM, axis="lot")
        yield Store(world, cluster, run)


def signals(store: Store, who: str = "alice-admin", **filters: Any
            ) -> list[SignalSummary]:
    with store.world.container.uow() as uow:
        found, _ = management.list_signals(uow, store.principal(who), limit=200, **filters)
    return found


def step(store: Store, who: str, signal_id: int, to: str, note: str | None = None
         ) -> SignalSummary:
    with store.world.container.uow() as uow:
        return management.advance(uow, store.principal(who), signal_id, to, note=note)


def cluster_signal(store: Store, lot_number: str) -> SignalSummary:
    label = f"{store.cluster.product_name} lot {lot_number}"
    return next(s for s in signals(store, axis="lot", event=store.cluster.event)
                if s.drug == label)


# -- detection over the case store ----------------------------------------------------------

def test_a_cluster_of_one_reaction_on_two_lots_flags_exactly_those_lots(store: Store) -> None:
    with store.world.container.uow() as uow:
        candidates, total = management.run_pairs(uow, SYSTEM, store.lot_run.id,
                                                 candidates_only=True)
    flagged = {(p.drug, p.event) for p in candidates}
    assert flagged == {(label, store.cluster.event)
                       for label in store.cluster.cluster_lot_labels}
    assert total == store.lot_run.candidates == len(store.cluster.cluster_lots)
    # Each cluster lot's signal counts the cluster and the lot's one background report.
    for pair in candidates:
        assert pair.n == CLUSTER_PER_LOT + 1
        assert pair.signal
        assert pair.signal_by
    opened = {s.drug for s in signals(store, axis="lot", run=store.lot_run.id)}
    assert opened == store.cluster.cluster_lot_labels


def test_a_run_is_stored_with_its_input_parameters_prior_and_counts(store: Store) -> None:
    with store.world.container.uow() as uow:
        run = management.read_run(uow, SYSTEM, store.lot_run.id)
    assert (run.input, run.input_format, run.axis) == ("case store", "cases", "lot")
    assert run.reports == store.cluster.cases
    assert run.parameters["axis"] == "lot"
    assert run.parameters["thresholds"]["eb05"] == 2
    assert {"alpha1", "beta1", "alpha2", "beta2", "p", "loglik", "converged"} <= set(run.prior)
    assert run.converged is True
    assert run.loglik == run.prior["loglik"]
    assert run.created_by == "system"
    with store.world.container.uow() as uow:
        pairs, scored = management.run_pairs(uow, SYSTEM, run.id, limit=1000)
    assert scored == run.pairs == len(pairs)
    assert sum(p.signal for p in pairs) == run.candidates


def test_the_case_store_table_has_one_row_per_case_suspect_drug_and_reaction(
        store: Store) -> None:
    with store.world.container.uow() as uow:
        table = case_store_table(uow.session, "lot")
        ingredient = case_store_table(uow.session, "ingredient")
    assert table.column_names == ["report", "drug", "event", "received", "sex", "age_group",
                                  "year"]
    assert len(set(table["report"].to_pylist())) == store.cluster.cases
    # The builder's concomitant metformin is not suspected of anything: never counted.
    drugs = [str(d) for d in table["drug"].to_pylist()]
    assert not any("Metformin" in d for d in drugs)
    assert set(ingredient["drug"].to_pylist()) == {"baclofen", "tizanidine"}
    lots = {d for d in drugs if d.startswith(store.cluster.product_name)}
    assert lots == {f"{store.cluster.product_name} lot {n}"
                    for n in store.cluster.lot_numbers}
    # The builder's patient: a 54-year-old woman.
    assert set(table["sex"].to_pylist()) == {"female"}
    assert set(table["age_group"].to_pylist()) == {"45-64"}


def test_nullified_merged_and_invalid_cases_are_not_counted(store: Store) -> None:
    world = store.world
    made = {}
    for name, report in (
            ("nullified", case_report("US-SIGNAL-NULL")),
            ("merged", case_report("US-SIGNAL-MERGED")),
            ("invalid", case_report("US-SIGNAL-INVALID", primary_sources=())),
            ("counted", case_report("US-SIGNAL-COUNTED"))):
        with world.container.uow() as uow:
            made[name] = cases.report_case(uow, world.principals["dora-physician"],
                                           world.container.catalog, report).id
    with world.container.uow() as uow:
        cases.report_case(uow, world.principals["dora-physician"], world.container.catalog,
                          case_report("US-SIGNAL-NULL", latest=date(2026, 10, 9),
                                      nullification="nullified",
                                      nullification_reason="sent in error"))
    with world.container.uow() as uow:
        uow.cases.update_case(made["merged"], {"merged_into_id": made["counted"]})
        uow.commit()
    with world.container.uow() as uow:
        reports = set(case_store_table(uow.session, "product")["report"].to_pylist())
    assert str(made["counted"]) in reports
    for name in ("nullified", "merged", "invalid"):
        assert str(made[name]) not in reports, name


def test_a_second_run_points_the_signals_it_scored_at_itself_and_opens_no_duplicates(
        store: Store) -> None:
    before = {s.drug: s for s in signals(store, axis="lot")}
    with store.world.container.uow() as uow:
        again = management.run_over_case_store(uow, SYSTEM, axis="lot", prior=store.prior())
    after = {s.drug: s for s in signals(store, axis="lot")}
    for label in store.cluster.cluster_lot_labels:
        assert after[label].id == before[label].id
        assert after[label].first_run_id == store.lot_run.id
        assert after[label].latest_run_id == again.id
        statistics = after[label].statistics
        assert statistics is not None
        assert statistics.run_id == again.id
    with store.world.container.uow() as uow:
        keys = uow.session.execute(select(Signal.axis, Signal.drug, Signal.event,
                                          func.count()).group_by(Signal.axis, Signal.drug,
                                                                 Signal.event)).all()
    assert all(row[3] == 1 for row in keys)
    assert again.new_signals == len(after) - len(before)


def test_the_ingredient_axis_names_the_recognised_ingredient(store: Store) -> None:
    with store.world.container.uow() as uow:
        run = management.run_over_case_store(uow, SYSTEM, axis="ingredient",
                                             prior=store.prior())
    assert run.converged is None  # a given prior: nothing was fitted
    assert run.prior["fitted"] is False
    with store.world.container.uow() as uow:
        pairs, _ = management.run_pairs(uow, SYSTEM, run.id, limit=1000)
    assert {p.drug for p in pairs} == {"baclofen", "tizanidine"}
    spasticity = next(p for p in pairs if p.event == store.cluster.event)
    # Every report of the event, on any lot, is one report of the ingredient.
    assert spasticity.n == len(store.cluster.lot_numbers) + 2 * CLUSTER_PER_LOT


def test_a_run_within_an_ingredient_counts_only_the_cases_about_it(store: Store) -> None:
    with store.world.container.uow() as uow:
        run = management.run_over_case_store(uow, SYSTEM, axis="lot", within="baclofen",
                                             prior=store.prior())
    with store.world.container.uow() as uow:
        every = case_store_table(uow.session, "ingredient").to_pylist()
        pairs, _ = management.run_pairs(uow, SYSTEM, run.id, limit=1000)
    about_baclofen = {row["report"] for row in every if row["drug"] == "baclofen"}
    assert run.reports == len(about_baclofen)
    assert run.reports < store.cluster.cases
    assert run.parameters["within"] == "baclofen"
    drugs = {p.drug for p in pairs}
    assert all(drug.startswith(f"{store.cluster.product_name} lot ") for drug in drugs)
    assert {f"{store.cluster.product_name} lot {n}" for n in store.cluster.lot_numbers} \
        <= drugs
    with store.world.container.uow() as uow, pytest.raises(Invalid, match="aspirin"):
        management.run_over_case_store(uow, SYSTEM, axis="lot", within="aspirin")


def test_detection_refuses_an_unknown_axis_or_stratum(store: Store) -> None:
    with store.world.container.uow() as uow, pytest.raises(Invalid, match="axis"):
        management.run_over_case_store(uow, SYSTEM, axis="batch")
    with store.world.container.uow() as uow, pytest.raises(Invalid, match="stratum"):
        management.run_over_case_store(uow, SYSTEM, axis="lot", strata=("country",))


# -- the signal, its case series and its history --------------------------------------------

def test_the_case_series_holds_every_case_with_the_pair(store: Store) -> None:
    signal = cluster_signal(store, store.cluster.cluster_lots[0])
    with store.world.container.uow() as uow:
        detail = management.read_signal(uow, SYSTEM, signal.id)
        page, total = management.case_series(uow, SYSTEM, signal.id, limit=3)
    assert signal.statistics is not None
    assert detail.cases_total == total == signal.statistics.n
    assert {c.primary_term for c in detail.cases} == {store.cluster.event}
    assert [c.id for c in page] == [c.id for c in detail.cases[:3]]
    received = [c.latest_received for c in detail.cases]
    assert received == sorted(received, reverse=True)


def test_a_signal_is_validated_assessed_and_closed_each_step_audited(store: Store) -> None:
    signal_id = fresh_signal(store.world, "lifecycle-drug")
    assert step(store, "rita-regulator", signal_id, "validated", "six reports, no other "
                "drug with the event").status == "validated"
    assert step(store, "alice-admin", signal_id, "under_assessment").status \
        == "under_assessment"
    closed = step(store, "rita-regulator", signal_id, "closed",
                  "confirmed risk: label update proposed")
    assert (closed.status, closed.conclusion) == ("closed", "confirmed risk: label update "
                                                  "proposed")
    assert closed.next_steps == []
    with store.world.container.uow() as uow:
        detail = management.read_signal(uow, store.principal("rita-regulator"), signal_id)
        assert verify(uow).ok
    history = detail.history
    assert [(h.status_from, h.status_to) for h in history] == [
        ("new", "validated"), ("validated", "under_assessment"),
        ("under_assessment", "closed")]
    assert [h.by for h in history] == ["rita-regulator", "alice-admin", "rita-regulator"]
    assert history[2].note == "confirmed risk: label update proposed"
    assert history[0].evidence["n"] == 6
    assert history[0].run_id == detail.signal.latest_run_id


def test_a_closed_signal_takes_no_more_steps(store: Store) -> None:
    signal_id = fresh_signal(store.world, "closed-drug")
    step(store, "alice-admin", signal_id, "validated")
    step(store, "alice-admin", signal_id, "under_assessment")
    step(store, "alice-admin", signal_id, "closed", "no new risk")
    with pytest.raises(InvalidTransition, match="final"):
        step(store, "rita-regulator", signal_id, "validated")


def test_a_refutation_needs_a_reason_and_the_refused_step_changes_nothing(
        store: Store) -> None:
    signal_id = fresh_signal(store.world, "refuted-drug")
    with pytest.raises(InvalidTransition, match="why it is refuted"):
        step(store, "rita-regulator", signal_id, "refuted")
    with pytest.raises(InvalidTransition, match="only to validated or refuted"):
        step(store, "rita-regulator", signal_id, "closed", "skipping ahead")
    with store.world.container.uow() as uow:
        assert management.read_signal(uow, SYSTEM, signal_id).history == []
    refuted = step(store, "rita-regulator", signal_id, "refuted",
                   "every case is a known, labelled effect")
    assert refuted.status == "refuted"
    assert refuted.next_steps == []


# -- who may see and do what ----------------------------------------------------------------

def test_clinicians_and_patients_may_not_read_signals(store: Store) -> None:
    for who in ("dora-physician", "phil-pharmacist", "pat-patient"):
        with store.world.container.uow() as uow, pytest.raises(Forbidden):
            management.list_signals(uow, store.principal(who))
        with store.world.container.uow() as uow, pytest.raises(Forbidden):
            management.list_runs(uow, store.principal(who))


def test_a_manufacturer_reads_the_signals_about_its_own_products_only(store: Store) -> None:
    competitor = fresh_signal(store.world, "Tizanidine 10 mg", axis="product")
    own = cluster_signal(store, store.cluster.cluster_lots[1])
    seen = {s.id for s in signals(store, "mo-manufacturer")}
    assert own.id in seen
    assert competitor not in seen
    assert competitor in {s.id for s in signals(store)}
    with store.world.container.uow() as uow, pytest.raises(NotFound):
        management.read_signal(uow, store.principal("mo-manufacturer"), competitor)
    with store.world.container.uow() as uow:
        detail = management.read_signal(uow, store.principal("mo-manufacturer"), own.id)
        run = management.read_run(uow, store.principal("mo-manufacturer"), own.first_run_id)
    assert detail.cases_total == CLUSTER_PER_LOT + 1  # the cases name Mo's product
    assert detail.signal.next_steps == []
    assert run.created_by is None  # regulators' staff are not named to makers


def test_manufacturers_may_neither_decide_on_signals_nor_run_detection(store: Store) -> None:
    own = cluster_signal(store, store.cluster.cluster_lots[1])
    with store.world.container.uow() as uow, pytest.raises(Forbidden):
        management.advance(uow, store.principal("mo-manufacturer"), own.id, "refuted",
                           note="our tablets are fine")
    with store.world.container.uow() as uow, pytest.raises(Forbidden):
        management.run_over_case_store(uow, store.principal("mo-manufacturer"), axis="lot")


# -- filters --------------------------------------------------------------------------------

def test_signals_filter_by_status_axis_names_criterion_count_and_run(store: Store) -> None:
    cluster = store.cluster
    spastic = signals(store, axis="lot", event="SPASTIC")
    assert {s.drug for s in spastic} == cluster.cluster_lot_labels
    one = signals(store, axis="lot", drug=cluster.cluster_lots[0].lower())
    assert [s.drug for s in one] == [f"{cluster.product_name} lot {cluster.cluster_lots[0]}"]
    for criterion in ("EB05", "IC025", "PRR"):
        for s in signals(store, signal_by=criterion):
            assert s.statistics is not None
            assert criterion in s.statistics.signal_by
    counts = [s.statistics.n for s in spastic if s.statistics]
    assert signals(store, axis="lot", event="spastic", min_n=max(counts) + 1) == []
    assert {s.id for s in signals(store, axis="lot", event="spastic", min_n=max(counts))} \
        == {s.id for s in spastic}
    assert all(s.status == "new" for s in signals(store, status="new"))
    in_first = signals(store, run=store.lot_run.id)
    assert {s.statistics.run_id for s in in_first if s.statistics} == {store.lot_run.id}
    with pytest.raises(Invalid, match="status"):
        signals(store, status="open")
    with pytest.raises(NotFound):
        signals(store, run=999_999)


# -- the trend of a signal in the case store ------------------------------------------------

@pytest.mark.slow
def test_a_cluster_signal_is_first_flagged_in_the_quarter_its_reports_arrive(
        store: Store) -> None:
    signal = cluster_signal(store, store.cluster.cluster_lots[0])
    with store.world.container.uow() as uow:
        rows = management.signal_trend(uow, SYSTEM, signal.id, by="quarter")
    cluster_quarter = f"{CLUSTER_FROM.year}-Q{(CLUSTER_FROM.month - 1) // 3 + 1}"
    flagged = [row.period for row in rows if row.signal]
    assert flagged
    assert flagged[0] == cluster_quarter
    assert signal.statistics is not None
    assert rows[-1].n == signal.statistics.n


# -- the API --------------------------------------------------------------------------------

def test_the_api_runs_detection_once_per_idempotency_key(store: Store) -> None:
    p = store.lot_run.prior
    body = {"axis": "product", "prior": {k: p[k] for k in ("alpha1", "beta1", "alpha2",
                                                          "beta2", "p")}}
    headers = {**store.world.bearer("regulator"), "Idempotency-Key": "run-product-1"}
    first = store.world.client.post("/api/v1/signals/runs", json=body, headers=headers)
    again = store.world.client.post("/api/v1/signals/runs", json=body, headers=headers)
    assert first.status_code == again.status_code == 201, first.text
    assert first.json()["id"] == again.json()["id"]
    assert first.json()["axis"] == "product"
    listed = store.world.client.get("/api/v1/signals/runs",
                                    headers=store.world.bearer("manufacturer")).json()
    assert first.json()["id"] in {r["id"] for r in listed["items"]}


def test_the_api_lists_reads_and_moves_a_signal(store: Store) -> None:
    client, world = store.world.client, store.world
    signal_id = fresh_signal(world, "api-drug")
    found = client.get("/api/v1/signals", params={"drug": "api-drug", "status": "new"},
                       headers=world.bearer("regulator")).json()
    assert [s["id"] for s in found["items"]] == [signal_id]
    statistics = found["items"][0]["statistics"]
    assert statistics["n"] == 6
    # No other drug has the event: the PRR is infinite, stored as such, null in JSON.
    assert statistics["prr"] is None
    with world.container.uow() as uow:
        stored = uow.signals.pair(statistics["run_id"], "api-drug", "Test event")
        assert stored is not None
        assert stored.prr == math.inf
    refused = client.post(f"/api/v1/signals/{signal_id}/steps", json={"to": "closed"},
                          headers=world.bearer("regulator"))
    assert refused.status_code == 409
    assert refused.headers["content-type"] == "application/problem+json"
    moved = client.post(f"/api/v1/signals/{signal_id}/steps",
                        json={"to": "validated", "note": "worth assessing"},
                        headers=world.bearer("admin"))
    assert moved.status_code == 200, moved.text
    assert moved.json()["status"] == "validated"
    detail = client.get(f"/api/v1/signals/{signal_id}", headers=world.bearer("regulator"))
    assert detail.json()["history"][0]["note"] == "worth assessing"
    series = client.get(f"/api/v1/signals/{cluster_signal(store, 'MO-C03').id}/cases",
                        params={"page_size": 2}, headers=world.bearer("manufacturer"))
    assert series.json()["total"] == CLUSTER_PER_LOT + 1
    assert len(series.json()["items"]) == 2
