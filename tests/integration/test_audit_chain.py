"""The audit trail is hash-chained; tampering with the table is detected on SQLite and
PostgreSQL, and concurrent writers never fork the chain."""

from __future__ import annotations

import threading

from sqlalchemy import text

from medsafe.bootstrap import Container
from medsafe.security import audit
from medsafe.security.principal import SYSTEM, Principal

ALICE = Principal(user_id=1, username="alice-admin", role="admin")


def write_events(container: Container, count: int, actor: Principal = ALICE) -> None:
    for index in range(count):
        with container.uow() as uow:
            audit.record(uow, actor, "thing.update", "thing", index,
                         {"colour": ["red", "blue"], "n": index}, reason="testing")
            uow.commit()


def verification(container: Container) -> audit.Verification:
    with container.uow() as uow:
        return audit.verify(uow)


def test_an_untouched_chain_verifies(container: Container) -> None:
    write_events(container, 5)
    result = verification(container)
    assert result.ok, result.problems
    assert result.events == 5


def test_a_changed_event_is_detected(container: Container) -> None:
    write_events(container, 4)
    with container.engine.begin() as connection:
        connection.execute(text("UPDATE audit_events SET actor = 'mallory' WHERE seq = 2"))
    result = verification(container)
    assert not result.ok
    assert any("event 2: content does not match its hash" in p for p in result.problems)


def test_a_deleted_event_is_detected(container: Container) -> None:
    write_events(container, 4)
    with container.engine.begin() as connection:
        connection.execute(text("DELETE FROM audit_events WHERE seq = 3"))
    result = verification(container)
    assert any("event 4" in p for p in result.problems)


def test_a_deleted_last_event_is_detected(container: Container) -> None:
    write_events(container, 3)
    with container.engine.begin() as connection:
        connection.execute(text("DELETE FROM audit_events WHERE seq = 3"))
    result = verification(container)
    assert any("chain head" in p for p in result.problems)


def test_reordered_events_are_detected(container: Container) -> None:
    write_events(container, 4)
    with container.engine.begin() as connection:
        # Swap the contents of events 2 and 3 (keeping each row's own hash).
        connection.execute(text("UPDATE audit_events SET seq = -2 WHERE seq = 2"))
        connection.execute(text("UPDATE audit_events SET seq = 2 WHERE seq = 3"))
        connection.execute(text("UPDATE audit_events SET seq = 3 WHERE seq = -2"))
    result = verification(container)
    assert not result.ok


def test_an_audit_event_rolls_back_with_its_use_case(container: Container) -> None:
    with container.uow() as uow:
        audit.record(uow, SYSTEM, "thing.create", "thing", 1)
        # no commit: the use case failed
    assert verification(container).events == 0


def test_concurrent_writers_do_not_fork_the_chain(container: Container) -> None:
    errors: list[BaseException] = []

    def writer(name: str) -> None:
        try:
            write_events(container, 10, Principal(user_id=2, username=name, role="admin"))
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(f"writer-{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    result = verification(container)
    assert result.ok, result.problems
    assert result.events == 40
