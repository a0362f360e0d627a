"""One typed settings object, read from the environment (prefix MEDSAFE_) and validated at
start. Secrets may come from a file: MEDSAFE_SECRET_KEY_FILE=/run/secrets/key."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from medsafe.cases.rules import CLOCK_RULES
from medsafe.errors import Invalid

DEV_SECRET = "medsafe-development-secret-do-not-use-in-production"
LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})


class CdsIssuer(BaseModel):
    """A CDS client (EHR) trusted to call the CDS Hooks services: its JWT `iss` and the URL
    of its JWK Set, agreed out of band (docs/cds-hooks.md)."""

    iss: str
    jwks_url: str


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
    workers: int | None = Field(default=None, ge=1, le=64, description="`medsafe serve` "
                                "worker processes; default: the cores this process may "
                                "use in production, 1 otherwise")
    token_minutes: int = Field(default=30, ge=1, le=24 * 60, description="bearer token lifetime")
    session_hours: int = Field(default=12, ge=1, le=24 * 30)
    max_body_bytes: int = Field(default=2_000_000, ge=1_000)
    cookie_secure: bool = True
    page_size_max: int = Field(default=200, ge=10)
    case_region: str = Field(default="US", description="whose expedited-reporting clock "
                             "applies to cases (see medsafe.cases.rules.CLOCK_RULES)")
    # Notices (docs/notify.md). The SMTP default is a development mail catcher on this
    # machine (`python -m aiosmtpd -n -l localhost:1025`), never a relay that would pass a
    # development run's notices on to real people; production names its relay.
    smtp_host: str = "localhost"
    smtp_port: int = Field(default=1025, ge=1, le=65535)
    smtp_starttls: bool = False
    smtp_user: str | None = None
    smtp_password: str | None = None
    mail_from: str = "medsafe@localhost"
    public_base_url: str = Field(default="http://127.0.0.1:8000", description="where "
                                 "recipients reach medsafe: the base of acknowledgement links")
    webhook_secret: str | None = Field(default=None, description="key of the HMAC-SHA256 "
                                       "signature on webhook notices; none: no webhooks")
    # CDS Hooks (docs/cds-hooks.md). Unsigned requests are for local development only and
    # are refused at start unless the server binds a loopback address.
    cds_allow_unsigned: bool = False
    cds_trusted_issuers: list[CdsIssuer] = Field(
        default_factory=list, description='JSON, e.g. [{"iss": "https://ehr.example.org", '
        '"jwks_url": "https://ehr.example.org/.well-known/jwks.json"}]')

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
        self._check_notices()
        self._check_cds()
        if self.case_region not in CLOCK_RULES:
            raise ValueError(f"MEDSAFE_CASE_REGION: no expedited-reporting rule for "
                             f"'{self.case_region}' (known: {', '.join(sorted(CLOCK_RULES))})")
        return self

    def _check_notices(self) -> None:
        if (self.smtp_password and not self.smtp_starttls
                and self.smtp_host not in LOOPBACK):
            raise ValueError("MEDSAFE_SMTP_PASSWORD would cross the network in clear: set "
                             "MEDSAFE_SMTP_STARTTLS=true for a relay on another machine")
        if not self.public_base_url.startswith(("http://", "https://")):
            raise ValueError("MEDSAFE_PUBLIC_BASE_URL must be an http or https URL")
        if self.environment == "production" and not self.public_base_url.startswith("https://"):
            raise ValueError("MEDSAFE_PUBLIC_BASE_URL must be an https URL in production: "
                             "acknowledgement links travel in e-mail")
        if self.webhook_secret is not None and len(self.webhook_secret) < 16:
            raise ValueError("MEDSAFE_WEBHOOK_SECRET must have 16 characters or more")

    def _check_cds(self) -> None:
        # Imported here: the security module pulls in PyJWT and cryptography, which a CLI
        # command that never serves CDS Hooks should not pay for at start.
        from medsafe.interop.cds_hooks.security import TrustedIssuer, check_unsigned_allowed

        try:
            check_unsigned_allowed(self.host, self.cds_allow_unsigned)
        except Invalid as exc:
            raise ValueError(f"MEDSAFE_CDS_ALLOW_UNSIGNED: {exc.reason}") from None
        for issuer in self.cds_trusted_issuers:
            try:
                TrustedIssuer(issuer.iss, issuer.jwks_url)
            except Invalid as exc:
                raise ValueError(f"MEDSAFE_CDS_TRUSTED_ISSUERS: {exc.reason}") from None
        if len({issuer.iss for issuer in self.cds_trusted_issuers}) < len(
                self.cds_trusted_issuers):
            raise ValueError("MEDSAFE_CDS_TRUSTED_ISSUERS: an iss is listed twice")

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'medsafe.sqlite3').resolve()}"

    @property
    def effective_workers(self) -> int:
        if self.workers is not None:
            return self.workers
        if self.environment != "production":
            return 1  # one process: reloads, debuggers and logs stay simple
        return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                   else os.cpu_count() or 1)

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
