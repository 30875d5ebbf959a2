"""Settings from the environment, each with a development default (docs/operations.md)."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///.data/econsult.db"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", case_sensitive=False, extra="ignore")

    temporal_address: str = "localhost:7233"
    temporal_namespace: str = "default"
    econsult_task_queue: str = "econsultation"
    database_url: str = DEFAULT_DATABASE_URL
    # Secrets have no default (None: not set). The API refuses to start without this (32+
    # bytes) or AUTH_JWKS_URL; `make run` generates one in .data/.
    auth_hs256_secret: str | None = None
    auth_audience: str = "econsult"
    auth_jwks_url: str | None = None
    auth_issuer: str | None = None
    auth_require_dpop: bool = Field(
        default=False,
        description="Refuse plain bearer tokens: only DPoP-bound tokens with their proof (RFC "
        "9449). A token bound to a key (claim cnf.jkt) needs its proof whatever this says.",
    )
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    forwarded_allow_ips: str = Field(
        default="127.0.0.1",
        description="Reverse proxies (comma-separated addresses, or *) whose X-Forwarded-Proto "
        "and X-Forwarded-For the API believes: DPoP proofs name the URL the client called.",
    )
    # Comma-separated key_id:base64_key; the first encrypts, all decrypt. No default: a
    # process that needs it refuses to start without it; `make run` generates one in .data/.
    econsult_encryption_keys: str | None = None
    # Origin of the Temporal Web UI allowed to call the codec endpoint.
    temporal_ui_origin: str = "http://localhost:8233"
    # Development only (`make run` sets it; production never does): the codec endpoint decodes
    # for the Temporal UI on this machine without a token. The API refuses it off loopback.
    dev_codec_trusts_local_ui: bool = False
    otel_exporter_otlp_endpoint: str | None = None
    # Where the worker serves the Temporal SDK's Prometheus metrics (empty: not served).
    worker_metrics_address: str = "127.0.0.1:9464"
    log_level: str = "INFO"
    # JSON list of co-payment tariff rows (domain.copayment.TariffRate); empty: shipped table.
    econsult_tariffs_file: str | None = None
    # Writes per caller (token bucket): a backend cannot flood clinicians with commands.
    # One API process counts alone; several instances need a shared limiter in front.
    api_write_rate_per_second: float = Field(default=20.0, gt=0)
    api_write_burst: int = Field(default=100, ge=1)
    # Writes per patient (token bucket), besides the caller's. Per API process, as above.
    api_patient_write_rate_per_second: float = Field(
        default=0.2,
        gt=0,
        description="Commands per second, on average, for one patient: the portal's writes "
        "that name a patient (create; patient-replies and withdraw on the patient's case; a "
        "submit counts for its consultation), so one patient's flood cannot spend the "
        "portal's whole allowance.",
    )
    api_patient_write_burst: int = Field(
        default=20,
        ge=1,
        description="Commands one patient may send at once before the per-patient rate applies.",
    )
    # Worker concurrency: bounded so a burst of consultations cannot exhaust the DB pool.
    worker_max_concurrent_activities: int = Field(default=100, ge=1)
    # Integrations (docs in README "Integrations"); unset: the outbox and journal tables only.
    # Webhook endpoints per audience; secrets are comma-separated whsec_ keys, every one signs.
    webhook_portal_url: str | None = None
    webhook_portal_secrets: str | None = None
    webhook_practice_url: str | None = None
    webhook_practice_secrets: str | None = None
    # FHIR R4 record system: journal entries become Communication resources.
    fhir_base_url: str | None = None
    fhir_token_url: str | None = None
    fhir_client_id: str | None = None
    fhir_client_secret: str | None = None
    fhir_scope: str | None = None
    # Where a record system fetches an attachment (GET /v1/attachments/{id}).
    public_api_url: str = "http://127.0.0.1:8000"
    fhir_entry_system: str = "urn:econsult:journal-entry"
    fhir_consultation_system: str = "urn:econsult:consultation"

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
