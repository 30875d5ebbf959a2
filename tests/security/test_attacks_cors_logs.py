"""Leaks through the browser and the logs: only /codec/ answers cross-origin requests, no log
line carries a URL's userinfo or query string, and a 422 never echoes an unknown key's name."""

from __future__ import annotations

import io
import logging
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from fastapi import FastAPI

from dev.harness.ports import serving
from infra.logs import configure_logging, redact_every_handler
from infra.settings import Settings
from tests.api.support import ADMIN, Tokens, api_serving, assert_problem, bearer, clinician_body

CREDENTIAL = "s3cr3t-t0ken"
# What an unknown key could be named: input, so possibly health content.
UNKNOWN_KEY = "rash on the left arm"


@pytest.fixture(scope="module")
async def api(sqlite_url: str) -> AsyncIterator[tuple[httpx.AsyncClient, Settings]]:
    settings = Settings(database_url=sqlite_url)
    async with api_serving(settings) as base_url, httpx.AsyncClient(base_url=base_url) as http:
        yield http, settings


def preflight(origin: str) -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type",
    }


# --- CORS ----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/v1/consultations", "/v1/inbox", "/healthz"])
async def test_v1_answers_no_cross_origin_preflight_even_from_the_temporal_ui(
    api: tuple[httpx.AsyncClient, Settings], path: str
) -> None:
    http, settings = api
    response = await http.options(path, headers=preflight(settings.temporal_ui_origin))
    assert "access-control-allow-origin" not in response.headers
    assert "access-control-allow-credentials" not in response.headers


async def test_v1_answers_carry_no_cors_headers(api: tuple[httpx.AsyncClient, Settings]) -> None:
    http, settings = api
    response = await http.get("/v1/inbox", headers={"Origin": settings.temporal_ui_origin})
    assert_problem(response, 401)
    assert not [name for name in response.headers if name.startswith("access-control-")]


async def test_the_codec_answers_the_temporal_uis_preflight(
    api: tuple[httpx.AsyncClient, Settings],
) -> None:
    http, settings = api
    origin = settings.temporal_ui_origin
    response = await http.options("/codec/decode", headers=preflight(origin))
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == origin
    other = await http.options("/codec/decode", headers=preflight("https://evil.example"))
    assert "access-control-allow-origin" not in other.headers


# --- logs ----------------------------------------------------------------------------------


UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")


@pytest.fixture
def service_logs() -> Iterator[io.StringIO]:
    """Logging as `python -m api` and the worker configure it, written here; restored after.
    uvicorn keeps no handlers of its own there (`log_config=None`): its lines reach the root's."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    uvicorn = [logging.getLogger(name) for name in UVICORN_LOGGERS]
    kept = [(logger.handlers[:], logger.propagate, logger.level) for logger in uvicorn]
    for logger in uvicorn:
        logger.handlers[:], logger.propagate = [], True
        logger.setLevel(logging.NOTSET)
    configure_logging("INFO")
    lines = io.StringIO()
    for handler in root.handlers:
        assert isinstance(handler, logging.StreamHandler)
        handler.setStream(lines)
    try:
        yield lines
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        for logger, (its_handlers, propagate, its_level) in zip(uvicorn, kept, strict=True):
            logger.handlers[:], logger.propagate = its_handlers, propagate
            logger.setLevel(its_level)


@pytest.fixture
async def webhook() -> AsyncIterator[str]:
    app = FastAPI()

    @app.post("/hook")
    async def hook() -> dict[str, str]:
        return {}

    async with serving(app) as base_url:
        yield base_url


async def test_the_httpx_request_line_does_not_log_a_credential_in_the_url(
    service_logs: io.StringIO, webhook: str
) -> None:
    """A webhook URL with its token in the query, and userinfo, as a practice may give it."""
    url = webhook.replace("http://", f"http://user:{CREDENTIAL}@") + f"/hook?token={CREDENTIAL}"
    async with httpx.AsyncClient() as http:
        await http.post(url, json={})
    logged = service_logs.getvalue()
    assert "HTTP Request: POST" in logged
    assert "/hook?[redacted]" in logged
    assert CREDENTIAL not in logged


def test_an_access_line_does_not_log_a_query_string(
    service_logs: io.StringIO,
) -> None:
    # uvicorn's own format and arguments for an access line.
    access = logging.getLogger("uvicorn.access")
    access.info(
        '%s - "%s %s HTTP/%s" %d', "10.0.0.1:5000", "GET", f"/v1/inbox?c={CREDENTIAL}", "1.1", 200
    )
    logged = service_logs.getvalue()
    assert "GET /v1/inbox?[redacted] HTTP/1.1" in logged
    assert CREDENTIAL not in logged


def test_an_exception_and_its_traceback_do_not_log_a_credential(
    service_logs: io.StringIO,
) -> None:
    """A handler that writes tracebacks (a library's, a debugging operator's) gets them
    redacted too; the service's own JSON lines carry the exception's type only."""
    plain = logging.StreamHandler(service_logs)
    logging.getLogger().addHandler(plain)
    redact_every_handler()
    try:
        raise ConnectionError(f"cannot reach postgresql://app:{CREDENTIAL}@db/econsult")
    except ConnectionError as error:
        logging.getLogger("econsult.test").warning(
            "store unreachable", exc_info=error, extra={"reason": str(error)}
        )
    logged = service_logs.getvalue()
    assert "postgresql://[redacted]@db/econsult" in logged
    assert "Traceback" in logged
    assert CREDENTIAL not in logged


# --- validation errors ---------------------------------------------------------------------


async def test_an_unknown_key_is_refused_without_its_name_echoed(
    api: tuple[httpx.AsyncClient, Settings],
) -> None:
    http, settings = api
    admin = bearer(Tokens(settings).mint(ADMIN, sub="ops"))
    body = clinician_body("practice-1") | {UNKNOWN_KEY: True}
    response = await http.put("/v1/clinicians/9100001", json=body, headers=admin)
    problem = assert_problem(response, 422)
    assert ["body"] in [error["loc"] for error in problem["errors"]]
    assert UNKNOWN_KEY not in response.text
