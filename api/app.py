"""The FastAPI application: routers, error handlers, and the wiring of its dependencies."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client

from api.auth import TokenVerifier
from api.commands import TemporalConnection
from api.contract import API_VERSION, install_contract
from api.docs import install_docs
from api.middleware import (
    NATIVE_TELEMETRY_OFF,
    BodyLimitMiddleware,
    CodecOnlyCORS,
    ResponseMiddleware,
    SecurityHeadersMiddleware,
    UnexpectedErrorMiddleware,
)
from api.openapi import TAGS
from api.operation_answers import declare_limits_per_operation
from api.outages import install_outage_handlers
from api.problems import document_problems, install_problem_handlers, problem_responses
from api.rate_limits import CallerRateLimiter, PatientWriteLimit, RateLimit
from api.routes import (
    attachments,
    clinicians,
    codec,
    consultations,
    frikort,
    health,
    inbox,
    patients,
    practices,
    redeliveries,
    sandbox,
)
from api.services import Services, forget_expired_keys
from api.webhook_events import describe_webhooks
from infra.settings import Settings
from store.database import create_engine, create_session_factory

DESCRIPTION = (
    "E-consultations between patients (through the patient portal backend) and their "
    "clinicians. Errors are application/problem+json (RFC 9457)."
)

# Pre-ping costs a round trip on every checkout, a few per request. Connections go stale while
# they sit unused (a server restart, a failover, an idle timeout on the way): only those are
# pinged, so a busy API sends no pings and a quiet one pings a connection it has not used for
# this long. A connection cut while in use, or within this window, fails its statement: the
# driver's error is answered 503 with Retry-After (api/outages.py), never 500, and it
# invalidates the pool, so the retry and every other request after it get new connections.
# pool_recycle would not do instead: it replaces connections by age, dead or alive.
PING_IDLE_CONNECTIONS_AFTER_SECONDS = 10.0


def create_app(
    settings: Settings,
    client: Client | None = None,
    sessions: async_sessionmaker[AsyncSession] | None = None,
    rate_limit: RateLimit | None = None,
) -> FastAPI:
    """Build the API; tests inject a Temporal client and sessions, production builds its own."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = None
        case_store = sessions
        if case_store is None:
            engine = create_engine(
                settings.database_url,
                pool_pre_ping=False,
                ping_idle_after_seconds=PING_IDLE_CONNECTIONS_AFTER_SECONDS,
            )
            case_store = create_session_factory(engine)
        # The Temporal client connects on first use: the API starts (and says it is not
        # ready) while Temporal is still coming up.
        services = Services.build(
            settings, case_store, TemporalConnection(settings, client), app.state.patient_writes
        )
        app.state.services = services
        housekeeping = asyncio.create_task(forget_expired_keys(services.command_keys))
        try:
            yield
        finally:
            housekeeping.cancel()
            await services.outages.close()
            await asyncio.to_thread(services.inspector.close)
            if engine is not None:
                await engine.dispose()

    app = FastAPI(
        title="E-consultation API",
        version=API_VERSION,
        description=DESCRIPTION,
        openapi_tags=TAGS,
        lifespan=lifespan,
        # Spans and metrics come from ResponseMiddleware, by route template (api/middleware.py).
        telemetry=NATIVE_TELEMETRY_OFF,
        responses=problem_responses(500),
        # Served from this process instead (api/docs.py): a CDN is out of reach offline.
        docs_url=None,
        redoc_url=None,
    )
    install_docs(app)
    app.state.settings = settings
    app.state.local_ui_origins = codec.trusted_local_ui_origins(settings)
    app.state.token_verifier = TokenVerifier(settings)
    app.state.rate_limiter = CallerRateLimiter(
        rate_limit
        or RateLimit(per_second=settings.api_write_rate_per_second, burst=settings.api_write_burst)
    )
    app.state.patient_writes = PatientWriteLimit(
        callers=app.state.rate_limiter,
        patients=CallerRateLimiter(
            RateLimit(
                per_second=settings.api_patient_write_rate_per_second,
                burst=settings.api_patient_write_burst,
            )
        ),
    )
    install_problem_handlers(app)
    document_problems(app)
    declare_limits_per_operation(app)
    install_outage_handlers(app)
    # Innermost first: each middleware sees the answers of the ones added before it.
    app.add_middleware(UnexpectedErrorMiddleware)
    install_contract(app)
    app.add_middleware(BodyLimitMiddleware)
    app.add_middleware(ResponseMiddleware)
    app.add_middleware(SecurityHeadersMiddleware)
    # Only the Temporal UI calls from a browser: the codec endpoint, with the operator's token
    # (or, on `make run`, without one: api/routes/codec.py).
    app.add_middleware(CodecOnlyCORS, origins=codec.ui_origins(settings))
    routers = (
        consultations,
        attachments,
        clinicians,
        practices,
        redeliveries,
        frikort,
        inbox,
        patients,
        health,
        codec,
        sandbox,
    )
    for module in routers:
        app.include_router(module.router)
    describe_webhooks(app)
    return app
