"""Settings from the environment, each with a development default; docs/configuration.md is
generated from this file (`make docs`)."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///.data/econsult.db"


class Settings(BaseSettings):
    """Every setting, read from the environment variable of the same name in capitals."""

    model_config = SettingsConfigDict(env_prefix="", case_sensitive=False, extra="ignore")

    temporal_address: str = Field(
        default="localhost:7233", description="Temporal frontend, host:port."
    )
    temporal_namespace: str = Field(default="default", description="Temporal namespace.")
    econsult_task_queue: str = Field(
        default="econsultation",
        description="Task queue of the EConsultation workflows; the API and every worker "
        "must name the same one.",
    )
    database_url: str = Field(
        default=DEFAULT_DATABASE_URL,
        description="The case store: SQLAlchemy URL, `postgresql+psycopg://...` in production.",
    )
    # Secrets have no default (None: not set).
    auth_hs256_secret: str | None = Field(
        default=None,
        description="HS256 secret that verifies tokens outside production, at least 32 bytes. "
        "The API refuses to start without it or AUTH_JWKS_URL; `make run` generates one.",
    )
    auth_audience: str = Field(default="econsult", description="The `aud` every token must carry.")
    auth_jwks_url: str | None = Field(
        default=None,
        description="Production: the token issuer's JWKS (HelseID); tokens are verified "
        "RS256, PS256 or ES256 against it. Needs AUTH_ISSUER.",
    )
    auth_issuer: str | None = Field(
        default=None, description="The `iss` every token must carry; required with AUTH_JWKS_URL."
    )
    auth_require_dpop: bool = Field(
        default=False,
        description="Refuse plain bearer tokens: only DPoP-bound tokens with their proof (RFC "
        "9449). A token bound to a key (claim cnf.jkt) needs its proof whatever this says.",
    )
    auth_max_token_lifetime: int = Field(
        default=3600,
        gt=0,
        description="The longest a token may live, in seconds (`exp` - `iat`; a token without "
        "`iat` is refused). HelseID's access tokens live an hour at most.",
    )
    api_host: str = Field(default="127.0.0.1", description="Address the API listens on.")
    api_port: int = Field(default=8000, description="Port the API listens on.")
    forwarded_allow_ips: str = Field(
        default="127.0.0.1",
        description="Reverse proxies (comma-separated addresses, or *) whose X-Forwarded-Proto "
        "and X-Forwarded-For the API believes: DPoP proofs name the URL the client called.",
    )
    # No default: a process that needs it refuses to start without it.
    econsult_encryption_keys: str | None = Field(
        default=None,
        description="Payload keys, comma-separated `key_id:base64_key` (32 bytes each); the "
        "first encrypts, all decrypt. Required by the API and the worker; `make run` "
        "generates one.",
    )
    temporal_ui_origin: str = Field(
        default="http://localhost:8233",
        description="Origin of the Temporal Web UI, the only browser origin allowed to call "
        "the codec endpoint.",
    )
    dev_codec_trusts_local_ui: bool = Field(
        default=False,
        description="Development only (`make run` sets it): the codec endpoint decodes for the "
        "Temporal UI on this machine without a token. Refused unless the API and the UI are "
        "on loopback; never set in production.",
    )
    otel_exporter_otlp_endpoint: str | None = Field(
        default=None,
        description="OTLP/HTTP collector for traces (e.g. http://otel-collector:4318); unset: "
        "nothing exported.",
    )
    worker_metrics_address: str = Field(
        default="127.0.0.1:9464",
        description="host:port where the worker serves Prometheus metrics at /metrics; "
        "empty: not served.",
    )
    log_level: str = Field(default="INFO", description="Log level of the JSON log lines.")
    econsult_tariffs_file: str | None = Field(
        default=None,
        description="Worker: a JSON file of dated co-payment tariff and age-limit rows; unset: "
        "the shipped table.",
    )
    # One API process counts alone; several instances need a shared limiter in front.
    api_write_rate_per_second: float = Field(
        default=20.0,
        gt=0,
        description="Writes per second per caller (token bucket), per API process.",
    )
    api_write_burst: int = Field(
        default=100, ge=1, description="Writes a caller may send at once, per API process."
    )
    # Writes per patient (token bucket), besides the caller's. Per API process, as above.
    api_patient_write_rate_per_second: float = Field(
        default=0.2,
        gt=0,
        description="Commands per second, on average, for one patient: the portal's writes "
        "that name a patient (create; patient-replies and withdraw on the patient's case; a "
        "submit counts for its consultation), so one patient's flood cannot spend the "
        "portal's whole allowance. Per API process.",
    )
    api_patient_write_burst: int = Field(
        default=20,
        ge=1,
        description="Commands one patient may send at once before the per-patient rate "
        "applies. Per API process.",
    )
    # Bounded so a burst of consultations cannot exhaust the database pool.
    worker_max_concurrent_activities: int = Field(
        default=100, ge=1, description="Activities one worker runs at once."
    )
    # A consultation waits days between events, so its next event replays it whether it was
    # cached or not; the cache only has to hold the cases in the middle of a command. Each
    # cached case holds about 150 KB of the worker's memory.
    worker_max_cached_workflows: int = Field(
        default=250,
        ge=1,
        description="Consultations one worker keeps in memory between their events; one "
        "evicted is replayed from its history at its next event.",
    )
    # Integrations; unset: the outbox and journal tables only.
    webhook_portal_url: str | None = Field(
        default=None, description="Where patient events are POSTed (Standard Webhooks)."
    )
    webhook_portal_secrets: str | None = Field(
        default=None,
        description="Comma-separated `whsec_` keys signing the portal's webhooks; every one "
        "signs. Required with WEBHOOK_PORTAL_URL.",
    )
    webhook_practice_url: str | None = Field(
        default=None, description="Where clinician and practice events are POSTed."
    )
    webhook_practice_secrets: str | None = Field(
        default=None,
        description="Comma-separated `whsec_` keys signing the practice webhooks. Required "
        "with WEBHOOK_PRACTICE_URL.",
    )
    econsult_secrets_dir: str | None = Field(
        default=None,
        description="Directory of secret files (one secret per file, the container convention) "
        "that practices name by reference for their own webhook and record system; checked at "
        "start when set (it must be a readable directory); unset: practices can name none.",
    )
    fhir_base_url: str | None = Field(
        default=None,
        description="FHIR R4 record system that receives journal entries as Communication "
        "resources; unset: the journal table only.",
    )
    fhir_token_url: str | None = Field(
        default=None,
        description="OAuth 2 token endpoint (client credentials). Required with FHIR_BASE_URL.",
    )
    fhir_client_id: str | None = Field(
        default=None, description="Client id at FHIR_TOKEN_URL. Required with FHIR_BASE_URL."
    )
    fhir_client_secret: str | None = Field(
        default=None,
        description="Client secret at FHIR_TOKEN_URL. Required with FHIR_BASE_URL.",
    )
    fhir_scope: str | None = Field(
        default=None, description="Scope asked for at FHIR_TOKEN_URL; unset: none asked."
    )
    public_api_url: str = Field(
        default="http://127.0.0.1:8000",
        description="The API's public base URL: attachment links in FHIR entries point here.",
    )
    fhir_entry_system: str = Field(
        default="urn:econsult:journal-entry",
        description="Identifier system of journal entries sent to the record system.",
    )
    fhir_consultation_system: str = Field(
        default="urn:econsult:consultation",
        description="Identifier system of consultations in the entries' `about`.",
    )

    @model_validator(mode="after")
    def _integrations_complete(self) -> Settings:
        """An endpoint without its secret is refused at start, never sent unsigned."""
        pairs = {
            "WEBHOOK_PORTAL_SECRETS": (self.webhook_portal_url, self.webhook_portal_secrets),
            "WEBHOOK_PRACTICE_SECRETS": (self.webhook_practice_url, self.webhook_practice_secrets),
            "FHIR_TOKEN_URL": (self.fhir_base_url, self.fhir_token_url),
            "FHIR_CLIENT_ID": (self.fhir_base_url, self.fhir_client_id),
            "FHIR_CLIENT_SECRET": (self.fhir_base_url, self.fhir_client_secret),
        }
        missing = [name for name, (endpoint, needed) in pairs.items() if endpoint and not needed]
        if missing:
            raise ValueError(f"set {', '.join(missing)} for the configured integration")
        return self


@lru_cache
def get_settings() -> Settings:
    return Settings()
