"""The terminology layer: the lay lexicon's words, its FAERS-attested names, the registry."""

from __future__ import annotations

import csv
from functools import cache
from pathlib import Path

import pytest

from medsafe.cases.model import Coded
from medsafe.cases.terminology import (
    LAY_LEXICON,
    LAY_LEXICON_FILE,
    LayLexicon,
    Terminology,
    TerminologyRegistry,
)
from medsafe.errors import Conflict, Invalid, KnowledgeError, NotFound

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"


@pytest.fixture(scope="module")
def lexicon() -> LayLexicon:
    return LayLexicon.load()


def terms_of(found: list[Coded]) -> list[str]:
    return [coded.term for coded in found]


@cache
def preferred_terms_in(path: Path) -> frozenset[str]:
    """The PT column of one FAERS file, case-folded: `AE` of the pvLRT quarter file, `pt`
    of a `$`-delimited REAC file, the first column of a drug x event table."""
    if path.suffix.lower() == ".txt":
        with path.open(encoding="latin-1") as handle:
            header = handle.readline().rstrip("\n").split("$")
            column = header.index("pt")
            return frozenset(line.rstrip("\n").split("$")[column].casefold()
                             for line in handle)
    with path.open(newline="", encoding="utf-8") as handle:
        rows = csv.reader(handle)
        header = next(rows)
        column = header.index("AE") if "AE" in header else 0
        return frozenset(row[column].casefold() for row in rows if row)


def test_every_preferred_term_occurs_in_the_faers_file_it_cites(lexicon: LayLexicon) -> None:
    if not (SHARED / "faers").is_dir():
        pytest.skip("needs ../shared/data/faers (the FAERS extracts the PT names come from)")
    missing = []
    for entry in lexicon.entries:
        source = SHARED / entry.found_in
        assert source.is_file(), f"{entry.term}: cited file {entry.found_in} does not exist"
        if entry.term.casefold() not in preferred_terms_in(source):
            missing.append(f"{entry.term} (cited {entry.found_in})")
    assert missing == []


def test_lexicon_ships_names_only_and_never_meddra_codes(lexicon: LayLexicon) -> None:
    assert len(lexicon.terms()) == len(set(lexicon.terms()))
    for term in lexicon.terms():
        coded = lexicon.lookup(term)
        assert coded is not None
        assert coded.code is None
        assert coded.terminology == LAY_LEXICON
    assert "code:" not in LAY_LEXICON_FILE.read_text(encoding="utf-8")


@pytest.mark.parametrize(("words", "term"), [
    # The side effects the seed article names, in its own words.
    ("drowsiness", "Somnolence"),
    ("dizziness", "Dizziness"),
    ("nausea", "Nausea"),
    ("constipation", "Constipation"),
    ("diarrhea", "Diarrhoea"),
    ("insomnia", "Insomnia"),
    ("difficulty falling asleep", "Initial insomnia"),
    ("sleep-wake cycle", "Circadian rhythm sleep disorder"),
    ("allergic reaction", "Hypersensitivity"),
    ("hives", "Urticaria"),
    ("difficulty breathing", "Dyspnoea"),
    ("swelling of the face", "Swelling face"),
    ("confusion", "Confusional state"),
    ("hallucinations", "Hallucination"),
    ("mood swings", "Mood swings"),
    ("muscle weakness", "Muscular weakness"),
    ("respiratory depression", "Respiratory depression"),
    # And the plain words patients use.
    ("sleepy", "Somnolence"),
    ("light-headed", "Dizziness"),
    ("queasy", "Nausea"),
    ("threw up", "Vomiting"),
    ("upset stomach", "Abdominal discomfort"),
    ("can't sleep", "Insomnia"),
    ("bad dreams", "Nightmare"),
    ("itching", "Pruritus"),
    ("swollen lips", "Lip swelling"),
    ("low mood", "Depressed mood"),
    ("anxious", "Anxiety"),
    ("weakness", "Asthenia"),
    ("spasms", "Muscle spasms"),
    ("seeing things", "Hallucination"),
    ("had a fit", "Seizure"),
    ("medicine not working", "Drug ineffective"),
    ("fever", "Pyrexia"),
    ("headache", "Headache"),
])
def test_lookup_maps_plain_words_to_the_faers_preferred_term(
        lexicon: LayLexicon, words: str, term: str) -> None:
    coded = lexicon.lookup(words)
    assert coded is not None
    assert coded.term == term


def test_lookup_of_words_the_lexicon_does_not_know_is_none(lexicon: LayLexicon) -> None:
    assert lexicon.lookup("purple elephant") is None
    assert lexicon.lookup("") is None


def test_extract_finds_several_terms_in_one_sentence(lexicon: LayLexicon) -> None:
    assert terms_of(lexicon.extract("I feel sleepy and dizzy")) == ["Somnolence", "Dizziness"]


def test_extract_prefers_the_longest_phrase(lexicon: LayLexicon) -> None:
    found = terms_of(lexicon.extract("Since the new dose: muscle weakness and stomach ache"))
    assert found == ["Muscular weakness", "Abdominal pain"]
    assert "Asthenia" not in found


def test_extract_ignores_case_spacing_hyphens_and_curly_apostrophes(
        lexicon: LayLexicon) -> None:
    text = "  I   FEEL\tSick, very LIGHT -  headed and I can\u2019t   sleep "
    assert terms_of(lexicon.extract(text)) == ["Nausea", "Dizziness", "Insomnia"]


def test_extract_names_each_term_once_in_order_of_first_mention(lexicon: LayLexicon) -> None:
    text = "Drowsy in the morning, dizzy at noon, sleepy again at night."
    assert terms_of(lexicon.extract(text)) == ["Somnolence", "Dizziness"]


def test_extract_refuses_text_longer_than_a_narrative(lexicon: LayLexicon) -> None:
    with pytest.raises(Invalid) as caught:
        lexicon.extract("dizzy " * 5000)
    assert caught.value.where == "text"


def test_coded_terms_carry_the_lexicon_name_and_file_version(lexicon: LayLexicon) -> None:
    coded = lexicon.lookup("drowsy")
    assert coded == Coded(term="Somnolence", code=None,
                          terminology="medsafe lay lexicon -> FAERS preferred term",
                          version=lexicon.version)
    assert lexicon.version  # the file's own version, never empty


def test_suggest_completes_a_partial_word_and_respects_the_limit(lexicon: LayLexicon) -> None:
    assert terms_of(lexicon.suggest("dizz", limit=3))[0] == "Dizziness"
    assert len(lexicon.suggest("s", limit=4)) == 4
    assert terms_of(lexicon.suggest("sleepy"))[0] == "Somnolence"
    assert lexicon.suggest("   ") == []
    with pytest.raises(Invalid):
        lexicon.suggest("dizzy", limit=0)


def write_lexicon(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "lexicon.yaml"
    path.write_text(f'name: "test lexicon"\nversion: "9"\nentries:\n{body}', encoding="utf-8")
    return path


def test_a_phrase_mapping_to_two_terms_is_refused(tmp_path: Path) -> None:
    path = write_lexicon(tmp_path, '  - {pt: "Dizziness", found_in: x, lay: ["woozy"]}\n'
                                   '  - {pt: "Vertigo", found_in: y, lay: ["Woozy"]}\n')
    with pytest.raises(KnowledgeError, match=r"(?i)woozy.*Dizziness.*Vertigo"):
        LayLexicon.load(path)


def test_a_malformed_lexicon_file_names_the_file_and_field(tmp_path: Path) -> None:
    path = write_lexicon(tmp_path, '  - {pt: "Dizziness", lay: ["woozy"]}\n')
    with pytest.raises(KnowledgeError, match=r"lexicon\.yaml: entries\.0\.found_in"):
        LayLexicon.load(path)


class FakeLicensedMedDRA:
    """Stands in for a terminology a user installs (nothing of MedDRA's is in it)."""

    name = "MedDRA"
    version = "99.0"

    def lookup(self, text: str) -> Coded | None:
        if text.casefold() != "somnolence":
            return None
        return Coded(term="Somnolence", code="0000001", terminology=self.name,
                     version=self.version)

    def suggest(self, text: str, limit: int = 10) -> list[Coded]:
        found = self.lookup(text)
        return [found][:limit] if found else []


def test_registry_plugs_in_another_terminology_by_name() -> None:
    registry = TerminologyRegistry()
    licensed = FakeLicensedMedDRA()
    assert isinstance(licensed, Terminology)
    registry.register(licensed)
    assert registry.get("MedDRA") is licensed
    assert registry.names() == tuple(sorted(("MedDRA", LAY_LEXICON)))
    coded = registry.get("MedDRA").lookup("Somnolence")
    assert coded is not None
    assert coded.terminology == "MedDRA"


def test_registry_serves_the_built_in_lay_lexicon() -> None:
    lay = TerminologyRegistry().get(LAY_LEXICON)
    coded = lay.lookup("dizzy")
    assert coded is not None
    assert coded.term == "Dizziness"


def test_registry_refuses_a_second_terminology_under_a_taken_name() -> None:
    registry = TerminologyRegistry()
    registry.register(FakeLicensedMedDRA())
    with pytest.raises(Conflict):
        registry.register(FakeLicensedMedDRA())
    newer = FakeLicensedMedDRA()
    registry.register(newer, replace=True)
    assert registry.get("MedDRA") is newer


def test_registry_names_what_it_knows_when_asked_for_an_unknown_terminology() -> None:
    with pytest.raises(NotFound, match="lay lexicon"):
        TerminologyRegistry().get("SNOMED CT")


def test_registry_refuses_an_object_that_is_not_a_terminology() -> None:
    with pytest.raises(Invalid):
        TerminologyRegistry().register(object())  # type: ignore[arg-type]
