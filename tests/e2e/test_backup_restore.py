"""`medsafe backup` and `medsafe restore` on the embedded database, as a user runs them."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def medsafe(*args: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "MEDSAFE_DATABASE_URL"}
    env["COLUMNS"] = "200"
    return subprocess.run([sys.executable, "-m", "medsafe", *args, "--data-dir", str(data_dir)],
                          capture_output=True, text=True, cwd=ROOT, env=env, timeout=300,
                          check=False)


def patients(database: Path) -> int:
    with sqlite3.connect(database) as connection:
        count: int = connection.execute("SELECT count(*) FROM patients").fetchone()[0]
        return count


def test_a_backup_restores_what_was_lost(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    database = data_dir / "medsafe.sqlite3"
    generated = medsafe("generate", "--patients", "200", data_dir=data_dir)
    assert generated.returncode == 0, generated.stderr
    assert patients(database) == 200
    backup_file = tmp_path / "backups" / "medsafe.sqlite3"
    backed_up = medsafe("backup", str(backup_file), data_dir=data_dir)
    assert backed_up.returncode == 0, backed_up.stderr
    with sqlite3.connect(database) as connection:
        connection.execute("PRAGMA foreign_keys=OFF")
        connection.execute("DELETE FROM patient_contacts")
    refused = medsafe("restore", str(backup_file), data_dir=data_dir)
    assert refused.returncode == 2
    assert "pass --yes" in refused.stderr
    restored = medsafe("restore", str(backup_file), "--yes", data_dir=data_dir)
    assert restored.returncode == 0, restored.stderr
    with sqlite3.connect(database) as connection:
        assert connection.execute("SELECT count(*) FROM patient_contacts").fetchone()[0] == 200
    verified = medsafe("audit", "verify", data_dir=data_dir)
    assert verified.returncode == 0, verified.stdout
    assert "audit trail intact" in verified.stdout


def test_restore_refuses_a_file_that_is_not_a_medsafe_backup(tmp_path: Path) -> None:
    junk = tmp_path / "junk.sqlite3"
    junk.write_bytes(b"not a database at all" * 100)
    result = medsafe("restore", str(junk), "--yes", data_dir=tmp_path / "data")
    assert result.returncode == 2
    assert "not a medsafe database backup" in result.stderr


def test_a_backup_never_overwrites_a_file(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    assert medsafe("db", "upgrade", data_dir=data_dir).returncode == 0
    target = tmp_path / "exists.sqlite3"
    target.write_text("keep me")
    result = medsafe("backup", str(target), data_dir=data_dir)
    assert result.returncode == 2
    assert target.read_text() == "keep me"
