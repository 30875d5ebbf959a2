"""Settings from the environment, each with a development default (SPEC section 8)."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///.data/econsult.db"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", case_sensitive=False, extra="ignore")

    temporal_address: str = "localhost:7233"
    temporal_namespace: str = "default"
    econsult_task_queue: str = "econsultation"
    database_url: str = DEFAULT_DATABASE_URL
    # Development-only default; production sets its own secret or uses JWKS.
    auth_hs256_secret: str = "dev-only-secret-change-me-0123456789abcdef"  # noqa: S105
    auth_audience: str = "econsult"
    auth_jwks_url: str | None = None
    auth_issuer: str | None = None
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    # Comma-separated key_id:base64_key; the first encrypts, all decrypt.
    econsult_encryption_keys: str = ""
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
    # Worker concurrency: bounded so a burst of consultations cannot exhaust the DB pool.
    worker_max_concurrent_activities: int = Field(default=100, ge=1)


@lru_cache
def get_settings() -> Settings:
    return Settings()
