"""`medsafe recalls import-openfda|export|list|show|step` through the real `medsafe`
command group: FDA's sample loaded (zipped or not) and loaded again without change, a
malformed file refused with nothing written, a medsafe recall moved on as named users and
refused for the wrong one, and medsafe's recalls exported as openFDA JSON that the reader
reads back."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from medsafe.cli import app
from medsafe.error_mapping import EXIT_BAD_INPUT, EXIT_CONFLICT
from medsafe.interop.openfda.reader import read_recalls
from medsafe.store.schema import RecallRow
from tests.support.recalls import SAMPLE_RECORDS, malformed_file, mo_recall, sample_path
from tests.support.world import World, world_on

runner = CliRunner()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with world_on("sqlite", tmp_path_factory.mktemp("recalls-cli")) as built:
        yield built


def medsafe(world: World, *args: str) -> tuple[int, str]:
    url = world.container.engine.url.render_as_string(hide_password=False)
    result = runner.invoke(app, ["recalls", *args, "--database-url", url])
    return result.exit_code, result.output


def recalls_held(world: World) -> int:
    with world.container.uow() as uow:
        return int(uow.session.execute(select(func.count()).select_from(RecallRow))
                   .scalar_one())


def test_a_malformed_file_exits_2_naming_the_record_and_writes_nothing(
        world: World, tmp_path: Path) -> None:
    held = recalls_held(world)
    code, output = medsafe(world, "import-openfda",
                           str(malformed_file(tmp_path / "bad.json", size=4, bad=2)))
    assert code == EXIT_BAD_INPUT, output
    assert "record 2 (D-0003-2021), field report_date" in output
    assert recalls_held(world) == held


def test_the_sample_loads_zipped_and_again_without_change(world: World,
                                                          tmp_path: Path) -> None:
    sample = sample_path()
    zipped = tmp_path / "sample.json.zip"
    with zipfile.ZipFile(zipped, "w") as archive:
        archive.write(sample, "drug-enforcement-0001-of-0001.json")
    code, output = medsafe(world, "import-openfda", str(zipped))
    assert code == 0, output
    records = read_recalls(sample).records
    lots = sum(len(p.lots) for r in records for p in r.products)
    events = len({r.event_id for r in records})
    assert f"{SAMPLE_RECORDS} recalls loaded ({SAMPLE_RECORDS} records) in {events} events: " \
           f"{SAMPLE_RECORDS} products, {lots} lots" in output
    assert f"{SAMPLE_RECORDS} new, 0 updated, 0 unchanged" in output
    code, again = medsafe(world, "import-openfda", str(sample))
    assert code == 0, again
    assert f"0 new, 0 updated, {SAMPLE_RECORDS} unchanged" in again
    number = records[-1].recall_number
    assert number is not None
    code, shown = medsafe(world, "show", number)
    assert code == 0, shown
    assert f"recall {number}" in shown
    assert "openfda" in shown
    assert records[-1].firm.name in shown
    code, listed = medsafe(world, "list", "--source", "openfda", "--limit", "5")
    assert code == 0, listed
    assert f"recalls ({SAMPLE_RECORDS})" in listed


def test_a_recall_is_stepped_as_named_users_and_refused_for_the_wrong_one(
        world: World) -> None:
    number = mo_recall(world).summary.recall_number
    assert number is not None
    for transition, user in (("triage", "mo-manufacturer"), ("initiate", "mo-manufacturer")):
        code, output = medsafe(world, "step", number, transition, "--as", user, "--reason",
                               f"{transition} from the command line")
        assert code == 0, output
        assert f"{transition} by {user} as firm" in output
    code, refused = medsafe(world, "step", number, "classify", "--class", "II", "--as",
                            "mo-manufacturer", "--reason", "we would like Class III")
    assert code == EXIT_CONFLICT, refused
    assert "only the regulator classifies" in refused
    code, classified = medsafe(world, "step", number, "classify", "--class", "II", "--as",
                               "rita-regulator", "--reason", "hazard evaluation")
    assert code == 0, classified
    assert "now classified" in classified
    code, strategy = medsafe(world, "step", number, "set_strategy", "--depth", "retail",
                             "--public-warning", "specialised", "--effectiveness-check",
                             "C", "--as", "mo-manufacturer", "--reason", "pharmacies only")
    assert code == 0, strategy
    code, missing = medsafe(world, "step", number, "classify", "--as", "rita-regulator",
                            "--reason", "no class given")
    assert code == EXIT_BAD_INPUT, missing
    code, shown = medsafe(world, "show", number)
    assert code == 0, shown
    assert "Class II" in shown
    assert "depth retail" in shown
    assert "rita-regulator as regulator: classify initiated -> classified" in shown


def test_export_writes_medsafe_recalls_as_openfda_json(world: World, tmp_path: Path) -> None:
    number = mo_recall(world, lots=("MO-EXP-1",)).summary.recall_number
    for transition in ("triage", "initiate"):
        code, output = medsafe(world, "step", str(number), transition, "--as",
                               "mo-manufacturer", "--reason", "exporting")
        assert code == 0, output
    left = mo_recall(world, lots=("MO-EXP-2",)).summary.recall_number  # still detected
    out = tmp_path / "ours.json"
    code, output = medsafe(world, "export", "--out", str(out))
    assert code == 0, output
    document = json.loads(out.read_text(encoding="utf-8"))
    exported = {r["recall_number"]: r for r in document["results"]}
    assert exported[str(number)]["status"] == "Pending"  # initiated, not yet classified
    assert "MO-EXP-1" in exported[str(number)]["code_info"]
    assert {r.recall_number for r in read_recalls(out).records} == set(exported)
    assert left not in exported  # a recall still detected is not FDA's to list
    assert "not yet initiated or not recalls, left out" in output
