"""One typed settings object, read from the environment (prefix MEDSAFE_) and validated at
start. Secrets may come from a file: MEDSAFE_SECRET_KEY_FILE=/run/secrets/key."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from medsafe.cases.rules import CLOCK_RULES
from medsafe.errors import Invalid

DEV_SECRET = "medsafe-development-secret-do-not-use-in-production"
LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MEDSAFE_", extra="ignore", frozen=True)

    environment: Literal["development", "test", "production"] = "development"
    data_dir: Path = Path("medsafe-data")
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL (sqlite:///… or postgresql+psycopg://…); default: a "
        "SQLite file in the data directory",
    )
    secret_key: str = DEV_SECRET
    secret_key_file: Path | None = None
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    token_minutes: int = Field(default=30, ge=1, le=24 * 60, description="bearer token lifetime")
    session_hours: int = Field(default=12, ge=1, le=24 * 30)
    max_body_bytes: int = Field(default=2_000_000, ge=1_000)
    cookie_secure: bool = True
    page_size_max: int = Field(default=200, ge=10)
    case_region: str = Field(default="US", description="whose expedited-reporting clock "
                             "applies to cases (see medsafe.cases.rules.CLOCK_RULES)")

    @model_validator(mode="after")
    def _secrets_and_safety(self) -> Settings:
        if self.secret_key_file is not None:
            try:
                key = self.secret_key_file.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ValueError(f"MEDSAFE_SECRET_KEY_FILE: cannot read: {exc}") from exc
            object.__setattr__(self, "secret_key", key)
        if self.environment == "production" and (
            self.secret_key == DEV_SECRET or len(self.secret_key) < 32
        ):
            raise ValueError("MEDSAFE_SECRET_KEY must be set to 32+ random characters in "
                             "production (or use MEDSAFE_SECRET_KEY_FILE)")
        if self.case_region not in CLOCK_RULES:
            raise ValueError(f"MEDSAFE_CASE_REGION: no expedited-reporting rule for "
                             f"'{self.case_region}' (known: {', '.join(sorted(CLOCK_RULES))})")
        return self

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'medsafe.sqlite3').resolve()}"

    @property
    def is_loopback(self) -> bool:
        return self.host in LOOPBACK


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment, with explicit overrides (CLI options, tests)."""
    from pydantic import ValidationError

    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "settings"
        raise Invalid(f"configuration: {field}: {first['msg']}") from None


def random_secret() -> str:
    return secrets.token_urlsafe(48)
