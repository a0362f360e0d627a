"""`medsafe signals detect-cases|runs|list|show|advance` on a case store with a cluster
of one reaction on two lots: the run finds the two lots, and a signal is moved through
its lifecycle from the command line, through the real `medsafe signals` group."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from typer.testing import CliRunner

from medsafe.cli.signals import app
from medsafe.error_mapping import EXIT_BAD_INPUT, EXIT_CONFLICT
from medsafe.security.principal import SYSTEM
from medsafe.signals import management
from tests.support.signal_world import CLUSTER_PER_LOT, Cluster, store_lot_cluster
from tests.support.world import World, world_on

runner = CliRunner()


@dataclass
class Store:
    world: World
    cluster: Cluster

    @property
    def url(self) -> str:
        return str(self.world.container.engine.url.render_as_string(hide_password=False))


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    """A SQLite case store with the lot cluster."""
    with world_on("sqlite", tmp_path_factory.mktemp("signals-cli")) as world:
        yield Store(world, store_lot_cluster(world))


def medsafe_signals(url: str, *args: str) -> tuple[int, str]:
    result = runner.invoke(app, [*args, "--database-url", url])
    return result.exit_code, result.output


def test_detect_cases_by_lot_stores_a_run_that_opens_the_two_cluster_lots(
        store: Store) -> None:
    url, cluster = store.url, store.cluster
    code, output = medsafe_signals(url, "detect-cases", "--axis", "lot")
    assert code == 0, output
    assert f"{cluster.cases:,} reports" in output
    assert f"{len(cluster.cluster_lots)} candidate signals" in output
    code, listed = medsafe_signals(url, "list", "--axis", "lot", "--event", "spastic")
    assert code == 0, listed
    assert f"signals ({len(cluster.cluster_lots)};" in listed
    for lot in cluster.cluster_lots:
        assert lot in listed
    code, runs = medsafe_signals(url, "runs")
    assert code == 0, runs
    assert "detection runs (1)" in runs
    assert f"{cluster.cases:,}" in runs


def test_a_signal_is_shown_and_moved_on_from_the_command_line(store: Store) -> None:
    url, cluster, container = store.url, store.cluster, store.world.container
    with container.uow() as uow:
        if not management.list_runs(uow, SYSTEM)[1]:
            management.run_over_case_store(uow, SYSTEM, axis="lot")
    with container.uow() as uow:
        found, _ = management.list_signals(uow, SYSTEM, axis="lot",
                                           drug=cluster.cluster_lots[0])
    signal_id = str(found[0].id)
    code, shown = medsafe_signals(url, "show", signal_id)
    assert code == 0, shown
    assert f"case series ({CLUSTER_PER_LOT + 1})" in shown
    assert "next: validated or refuted" in shown
    code, moved = medsafe_signals(url, "advance", signal_id, "validated", "--note",
                                  "eight reports on one lot")
    assert code == 0, moved
    assert "is now validated" in moved
    code, refused = medsafe_signals(url, "advance", signal_id, "closed", "--note", "done")
    assert code == EXIT_CONFLICT
    assert "only to under assessment" in refused.replace("_", " ")
    code, shown = medsafe_signals(url, "show", signal_id)
    assert "new -> validated (eight reports on one lot)" in shown


def test_an_unknown_axis_is_bad_input(store: Store) -> None:
    code, output = medsafe_signals(store.url, "detect-cases", "--axis", "batch")
    assert code == EXIT_BAD_INPUT
    assert "unknown drug axis 'batch'" in output
