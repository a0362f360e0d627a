"""The pure rules under the recall service: which Part 7 role each account acts in, and how
an imported recall is known again on the next import."""

from __future__ import annotations

from dataclasses import replace

import pytest

from medsafe.errors import Forbidden
from medsafe.recalls.model import Firm, RecallProduct, RecallRecord
from medsafe.recalls.service import part7_role
from medsafe.recalls.workflow import RecallKind, RecallState, Role
from medsafe.security.principal import Principal
from medsafe.store.repositories.recalls import content_hash, source_key


def principal(role: str) -> Principal:
    return Principal(user_id=1, username=f"a-{role}", role=role)  # type: ignore[arg-type]


def record(number: str | None = "D-0121-2021", event: str = "86749",
           description: str = "Busulfan Injection 60 mg/10 mL") -> RecallRecord:
    return RecallRecord(recall_number=number, event_id=event, kind=RecallKind.RECALL,
                        state=RecallState.IN_PROGRESS, classification=None,
                        reason="Lack of sterility assurance", reason_category=None,
                        products=(RecallProduct(description=description),),
                        firm=Firm(name="Test Pharma"))


@pytest.mark.parametrize(("account", "role"), [
    ("manufacturer", Role.FIRM), ("regulator", Role.REGULATOR),
    ("pharmacist", Role.PHARMACY), ("physician", Role.PHYSICIAN)])
def test_each_account_acts_in_its_own_part7_role(account: str, role: Role) -> None:
    assert part7_role(principal(account), "triage", None) is role
    assert part7_role(principal(account), "triage", role.value) is role


def test_an_account_cannot_act_in_another_role() -> None:
    with pytest.raises(Forbidden, match="a manufacturer acts as firm, not as regulator"):
        part7_role(principal("manufacturer"), "classify", "regulator")


def test_a_patient_takes_no_part_in_a_recall() -> None:
    with pytest.raises(Forbidden, match="a patient takes no part in a recall"):
        part7_role(principal("patient"), "respond", None)


@pytest.mark.parametrize(("transition", "role"), [
    ("triage", Role.FIRM), ("initiate", Role.FIRM), ("classify", Role.REGULATOR),
    ("publish", Role.REGULATOR), ("respond", Role.PHARMACY), ("terminate", Role.REGULATOR)])
def test_an_administrator_acts_as_the_first_role_the_step_belongs_to(
        transition: str, role: Role) -> None:
    assert part7_role(principal("admin"), transition, None) is role


def test_an_administrator_may_name_any_role() -> None:
    for role in Role:
        assert part7_role(principal("admin"), "classify", role.value) is role


def test_an_imported_recall_is_known_by_its_number_within_its_event() -> None:
    assert source_key(record()) == "D-0121-2021@86749"
    assert source_key(record(event="70577")) != source_key(record())  # FDA reused numbers


def test_a_recall_without_a_number_is_known_by_its_event_and_product() -> None:
    first, second = record(number=None), record(number=None, description="Other product")
    assert source_key(first).startswith("@86749#")
    assert source_key(first) == source_key(replace(first, reason="changed"))
    assert source_key(first) != source_key(second)


def test_the_content_hash_changes_with_any_field_and_only_then() -> None:
    original = record()
    assert content_hash(original) == content_hash(record())
    assert content_hash(original) != content_hash(replace(original,
                                                          state=RecallState.TERMINATED))
