"""Settings from the environment, each with a development default; docs/configuration.md is
generated from this file (`make docs`)."""

from __future__ import annotations

from functools import lru_cache
from ipaddress import ip_network

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///.data/econsult.db"
# The token claim naming the practice a practice administrator or record system acts for.
DEFAULT_PRACTICE_CLAIM = "econsult:practice_id"


class SettingRefused(ValueError):
    """A setting the process cannot work with; the message names it."""

    def __init__(self, setting: str, reason: str) -> None:
        super().__init__(f"{setting}: {reason}")
        self.setting = setting


class Settings(BaseSettings):
    """Every setting, read from the environment variable of the same name in capitals."""

    model_config = SettingsConfigDict(env_prefix="", case_sensitive=False, extra="ignore")

    temporal_address: str = Field(
        default="localhost:7233", description="Temporal frontend, host:port."
    )
    temporal_namespace: str = Field(default="default", description="Temporal namespace.")
    # TLS to Temporal: file paths (mounted secrets), read at start; unset: plain gRPC.
    temporal_tls_ca: str | None = Field(
        default=None,
        description="PEM file of the CA that signed the Temporal frontend's certificate; "
        "setting it (or any TEMPORAL_TLS_* or TEMPORAL_API_KEY_FILE) turns TLS on. Unset with "
        "TLS on: the system's trusted roots (Temporal Cloud).",
    )
    temporal_tls_cert: str | None = Field(
        default=None,
        description="PEM file of this process's client certificate (mutual TLS); needs "
        "TEMPORAL_TLS_KEY.",
    )
    temporal_tls_key: str | None = Field(
        default=None,
        description="PEM file of the private key of TEMPORAL_TLS_CERT.",
    )
    temporal_tls_server_name: str | None = Field(
        default=None,
        description="Name the frontend's certificate must carry, when it is not the host of "
        "TEMPORAL_ADDRESS (a load balancer's address, an IP).",
    )
    temporal_api_key_file: str | None = Field(
        default=None,
        description="File holding a Temporal Cloud API key, sent as a bearer token; turns TLS on.",
    )
    econsult_sandbox: bool = Field(
        default=False,
        description="Sandbox for integrators: serves POST /v1/sandbox/clock (moves Temporal's "
        "time forward) and POST /v1/sandbox/test-events; both are 404 without it. The API and "
        "the worker refuse to start with it unless TEMPORAL_ADDRESS is Temporal's "
        "time-skipping test server. Seeds nothing (`make sandbox` does). Never in production.",
    )
    econsult_task_queue: str = Field(
        default="econsultation",
        description="Task queue of the EConsultation workflows; the API and every worker "
        "must name the same one.",
    )
    database_url: str = Field(
        default=DEFAULT_DATABASE_URL,
        description="The case store: SQLAlchemy URL, `postgresql+psycopg://...` in production. "
        "TLS to PostgreSQL: libpq's parameters in the query, e.g. `?sslmode=verify-full&"
        "sslrootcert=/run/secrets/pg-ca.pem&sslcert=...&sslkey=...`.",
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
    auth_practice_claim: str = Field(
        default=DEFAULT_PRACTICE_CLAIM,
        min_length=1,
        description="The token claim naming the practice of a practice administrator or "
        "record system. With HelseID, its organisation-number claim (e.g. "
        "`helseid://claims/client/claims/orgnr_parent`): each practice is then registered "
        "under its organisation number.",
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
    # Each upload is checked in a child process of its own under this budget
    # (api/inspection.py); the figures behind the defaults are in bench/README.md.
    attachment_inspection_cpu_seconds: int = Field(
        default=3,
        ge=1,
        description="CPU seconds the check of one upload may spend (an image decoded whole, a "
        "PDF opened and every object read); past it the check's process is ended and the "
        "upload refused (422 upload-over-budget). A 12 MP phone photo takes 0.15 s (JPEG) "
        "to 0.6 s (HEIC), a 48 MP HEIC about 1 s, a scanned 20-page PDF 0.06 s.",
    )
    attachment_inspection_memory_mib: int = Field(
        default=1024,
        ge=512,
        description="Address space (RLIMIT_AS, MiB) of the process checking one upload, "
        "interpreter and decoders included (about 90 MiB before the file); an allocation "
        "past it refuses the upload. A 12 MP HEIC peaks near 270 MiB, a 48 MP one near 500.",
    )
    attachment_max_megapixels: int = Field(
        default=60,
        ge=1,
        description="Largest image accepted, in megapixels, read from its header before "
        "decoding: above the 48-50 MP the largest phone cameras make, so any phone photo "
        "fits, and an image that would decode to more (a few hundred KB of PNG can claim "
        "64 MP) is refused unread.",
    )
    attachment_pdf_max_inflated_mib: int = Field(
        default=16,
        ge=1,
        description="Most bytes (MiB) one stream of an uploaded PDF may inflate to while it "
        "is checked; pypdf stops decompressing there and the upload is refused.",
    )
    attachment_inspection_processes: int = Field(
        default=2,
        ge=1,
        description="Uploads checked at once per lane, one process each: images have their "
        "lane and PDFs theirs, so a photo never waits behind documents; more wait their turn.",
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
        description="Directory of practices' secret files: a folder per practice, "
        "`<practice_id>/`, one secret per file (the container convention), which the practice "
        "names by reference for its own webhook and record system and which resolve only in "
        "its folder; checked at start when set (it must be a readable directory); unset: "
        "practices can name none.",
    )
    outbound_allowed_networks: str = Field(
        default="",
        description="Comma-separated CIDRs of the region's own networks (e.g. "
        "`10.20.0.0/16,fd12:3456::/48`) that practices' own webhook and record-system URLs may "
        "reach, over http too; elsewhere those URLs must be https to public addresses. Empty: "
        "public addresses only. The service-wide endpoints are not checked.",
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

    @field_validator("outbound_allowed_networks")
    @classmethod
    def _networks_parse(cls, value: str) -> str:
        """A network that does not parse is refused at start, never silently dropped."""
        for network in value.split(","):
            if network.strip():
                ip_network(network.strip(), strict=False)
        return value

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
