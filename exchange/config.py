"""Hub configuration, read from ``EXCHANGE_*`` environment variables (pydantic-settings).

Precedence, highest first: explicit arguments (CLI flags), environment variables, a ``.env`` file
in the working directory, the defaults below. Paths are resolved once, so a relative
``EXCHANGE_HOME`` means the same directory for every component of one process.
"""

from __future__ import annotations

import os
import re
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

if TYPE_CHECKING:
    from adapters.resilience import LegacyPolicy

DEFAULT_HUB_ID = "exchange-hub"
HUB_NAME = "数据共享交换平台 Data Exchange Hub"  # the catalogue's title (DCAT-AP dcat:Catalog)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="EXCHANGE_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
    )

    home: Path = Field(default=Path("var"), description="Data directory: database, PKI, demo keys.")
    database_url: str = Field(
        default="",
        description="SQLAlchemy URL. Empty means a SQLite file in EXCHANGE_HOME. "
        "postgresql:// URLs are served by psycopg 3.",
    )
    database_url_file: Path | None = Field(
        default=None,
        description="File holding the database URL (Docker/Compose secrets); wins over database_url.",
    )
    database_admin_url: str = Field(
        default="",
        description="PostgreSQL only: the owner role's URL, for migrations. When set, `exchange db upgrade` "
        "and `exchange up` migrate as this role, then grant the role of EXCHANGE_DATABASE_URL only what "
        "the hub does at runtime (docs/operations.md). Empty: EXCHANGE_DATABASE_URL does both.",
    )
    database_admin_url_file: Path | None = Field(
        default=None, description="File holding the owner role's URL; wins over database_admin_url."
    )
    hub_id: str = Field(default=DEFAULT_HUB_ID, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
    ca_key_passphrase: SecretStr | None = Field(
        default=None, description="Encrypts the CA private key at rest when set."
    )

    crl_refresh_seconds: float = Field(
        default=3600, gt=0, description="How often each hub worker checks whether the CRL must be re-signed."
    )
    public_url: str = Field(
        default="http://127.0.0.1:8000",
        pattern=r"^https?://[^\s/]+(/[^\s]*)?$",
        description="The hub's address as integrators reach it; names resources in the DCAT-AP catalogue.",
    )
    holidays_file: Path | None = Field(
        default=None,
        description="Public holidays and make-up working days ('YYYY-MM-DD holiday|workday name' a line) "
        "for application deadlines; weekends only when unset.",
    )
    max_body_bytes: int = Field(
        default=65_536, ge=1_024, le=10_485_760, description="Largest request body accepted (413 above)."
    )
    max_clock_skew_seconds: int = Field(
        default=60, ge=0, le=600, description="Tolerance for the consumer's clock on iat and exp."
    )
    replay_window_seconds: int = Field(
        default=300,
        ge=30,
        le=86_400,
        description="How recent iat must be; a jti is remembered this long (409 on reuse).",
    )
    rate_limit_per_second: float = Field(
        default=20, gt=0, description="Requests per second each consumer may send to one hub worker."
    )
    rate_limit_burst: int = Field(default=40, ge=1, description="Requests a consumer may send at once.")
    checkpoint_every_entries: int = Field(
        default=1000, ge=1, description="Sign an audit checkpoint after this many new entries..."
    )
    checkpoint_every_seconds: float = Field(
        default=60, gt=0, description="...or when the last checkpoint is this old and entries are unsigned."
    )
    log_format: Literal["auto", "json", "text"] = Field(
        default="auto",
        description="How `exchange up` writes its log: one JSON object a line, or text for a terminal; "
        "auto means text when stderr is a terminal, JSON otherwise (docs/observability.md).",
    )
    shutdown_grace_seconds: int = Field(
        default=30,
        ge=1,
        le=3600,
        description="On SIGTERM, how long each hub worker lets in-flight requests finish before it "
        "cancels them; then it signs a final audit checkpoint and exits.",
    )
    subject_auth: Literal["demo", "oidc"] = Field(
        default="demo",
        description="How citizens sign in to see their access record: the province's identity provider "
        "over OpenID Connect, or the embedded default's demo provider (anyone may sign in as anyone).",
    )
    oidc_issuer: str = Field(
        default="", description="The identity provider's issuer (iss) for subject_auth=oidc."
    )
    oidc_audience: str = Field(default="", description="This hub's client id at the identity provider (aud).")
    oidc_jwks_url: str = Field(default="", description="Where the identity provider publishes its keys.")
    oidc_subject_claim: str = Field(default="sub", description="The ID-token claim holding the citizen ID.")
    demo_grants: bool = Field(
        default=True,
        description="Grant the demo consumer every shared resource (matter DEMO-0001) in the embedded demo.",
    )
    gateways: dict[str, str] = Field(
        default_factory=dict,
        description="Departments served by their own gateway (`exchange gateway`), as a JSON object "
        'of department id to base URL, e.g. {"tax": "http://tax-gateway:8100"}. The hub holds no key '
        "of these departments and routes their queries, license searches and status lists there.",
    )
    gateway_timeout_seconds: float = Field(
        default=10, gt=0, le=120, description="How long the hub waits for a department gateway's answer."
    )
    legacy_timeout_seconds: float | None = Field(
        default=None,
        gt=0,
        le=300,
        description="Deadline of one call to a legacy system (a lookup, a change-feed page), in seconds; "
        "the answer is 504 when it passes. Unset: each department's own default (household, social "
        "insurance and real estate 5 s, tax 10 s). Retries of a call stay within it.",
    )
    legacy_circuit_fail_max: int = Field(
        default=5,
        ge=1,
        le=10_000,
        description="Consecutive failed calls (attempts, retries included) to one legacy system after "
        "which its circuit opens: calls then answer 503 at once without reaching the system.",
    )
    legacy_circuit_reset_seconds: float = Field(
        default=30,
        gt=0,
        le=3600,
        description="How long an open circuit stays open before one trial call may go through; its "
        "success closes the circuit, its failure opens it again for as long.",
    )
    legacy_retries: int = Field(
        default=2,
        ge=0,
        le=10,
        description="Retries of a read that failed fast as unavailable (refused, HTTP 503); timeouts "
        "and bad data are never retried.",
    )
    sync_workers: int = Field(
        default_factory=lambda: os.cpu_count() or 1,
        ge=1,
        le=256,
        description="Processes that seal licenses during a license sync (`exchange sync`, the Airflow "
        "tasks, the first sync of `exchange up`). 1: the sync's own process seals. More: a pool of that "
        "many worker processes, each loading the department keys from their files, seals each large "
        "batch while the sync reads the next one (docs/licenses.md). Default: the number of CPUs.",
    )
    demo_persons: int = Field(
        default=2000,
        ge=1,
        le=10_000_000,
        description="Size of the synthetic population `exchange up` generates for the simulated departments.",
    )

    @field_validator("gateways")
    @classmethod
    def _known_gateways(cls, value: dict[str, str]) -> dict[str, str]:
        from adapters.registry import DEPARTMENTS

        for department_id, url in value.items():
            if department_id not in DEPARTMENTS:
                raise ValueError(f"EXCHANGE_GATEWAYS names an unknown department {department_id!r}")
            if not re.fullmatch(r"https?://[^\s/]+(/[^\s]*)?", url):
                raise ValueError(f"EXCHANGE_GATEWAYS[{department_id!r}] is not an http(s) URL: {url!r}")
        return {department_id: url.rstrip("/") for department_id, url in value.items()}

    @field_validator("home")
    @classmethod
    def _absolute_home(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @model_validator(mode="after")
    def _oidc_complete(self) -> Settings:
        if self.subject_auth == "oidc":
            missing = [
                f"EXCHANGE_{name.upper()}"
                for name in ("oidc_issuer", "oidc_audience", "oidc_jwks_url")
                if not getattr(self, name)
            ]
            if missing:
                raise ValueError(f"EXCHANGE_SUBJECT_AUTH=oidc needs {', '.join(missing)}")
        return self

    @model_validator(mode="after")
    def _default_database(self) -> Settings:
        if self.database_url_file is not None:
            try:
                self.database_url = self.database_url_file.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ValueError(f"cannot read EXCHANGE_DATABASE_URL_FILE: {exc.strerror}") from None
        if not self.database_url:
            self.database_url = f"sqlite:///{self.home / 'exchange.db'}"
        self.database_url = normalise_database_url(self.database_url)
        return self

    @model_validator(mode="after")
    def _admin_database(self) -> Settings:
        if self.database_admin_url_file is not None:
            try:
                self.database_admin_url = self.database_admin_url_file.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ValueError(f"cannot read EXCHANGE_DATABASE_ADMIN_URL_FILE: {exc.strerror}") from None
        if self.database_admin_url:
            self.database_admin_url = normalise_database_url(self.database_admin_url)
            if not self.database_url.startswith("postgresql") or not self.database_admin_url.startswith(
                "postgresql"
            ):
                raise ValueError(
                    "EXCHANGE_DATABASE_ADMIN_URL needs PostgreSQL URLs for both database settings"
                )
        return self

    def legacy_policy(self) -> LegacyPolicy:
        """How this process calls legacy systems: deadline, circuit and retries (the settings above)."""
        from adapters.resilience import LegacyPolicy

        return LegacyPolicy(
            timeout=self.legacy_timeout_seconds,
            fail_max=self.legacy_circuit_fail_max,
            reset_timeout=self.legacy_circuit_reset_seconds,
            retries=self.legacy_retries,
        )

    def ca_passphrase(self) -> bytes | None:
        secret = self.ca_key_passphrase
        return secret.get_secret_value().encode("utf-8") if secret else None

    @property
    def base_url(self) -> str:
        return self.public_url.rstrip("/")

    @property
    def pki_dir(self) -> Path:
        return self.home / "pki"

    @property
    def ca_cert_path(self) -> Path:
        return self.pki_dir / "ca.pem"

    @property
    def demo_dir(self) -> Path:
        return self.home / "demo"

    @property
    def legacy_dir(self) -> Path:
        """The simulated departments' legacy systems (databases, file drops, HTTP stores)."""
        return self.home / "legacy"


def normalise_database_url(url: str) -> str:
    """Route plain PostgreSQL URLs to psycopg 3, the only PostgreSQL driver we ship."""
    for prefix in ("postgresql://", "postgres://", "postgresql+psycopg2://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings; tests call ``get_settings.cache_clear()`` after changing the environment."""
    return Settings()
