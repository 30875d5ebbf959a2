"""Structured logs: one JSON object per line, with trace and consultation ids, never content.

Only whitelisted `extra` fields are written, so a stray keyword cannot leak a message body. A
URL's userinfo and query string never reach a log either (RedactCredentials): a webhook's URL
may carry its token in the query, a database URL its password, whoever logs them (httpx's
request line, uvicorn's access line, an exception's message or traceback).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from datetime import UTC, datetime

from opentelemetry import trace

# Fields a log call may add; all are ids, statuses, events or deadlines.
SAFE_FIELDS = (
    "consultation_id",
    "workflow_id",
    "task_queue",
    "audience",
    "notification_event",
    "notification_key",
    "entry_key",
    "http_status",
    "reason",
    "status",
    "route",
    "status_code",
    "duration_ms",
    "caller_role",
    "actor_id",
    "practice_id",
    "secret_ref",
    "tariffs_file",
    "unconfirmed_rows",
)


REDACTED = "[redacted]"
_STOP = "\\s\"'<>`"
# scheme://[userinfo@]host/path[?query]: userinfo and query go.
_URL = re.compile(
    rf"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^{_STOP}/@?#]*@)?"
    rf"(?P<rest>[^{_STOP}?#]*)(?P<query>\?[^{_STOP}#]*)?"
)
# A path with a query on its own, as in an access line's `GET /v1/inbox?cursor=... HTTP/1.1`.
_PATH_QUERY = re.compile(rf"(?P<path>(?:^|(?<=[{_STOP}(]))/[^{_STOP}?#]*)\?[^{_STOP}#]*")


def _url_redacted(match: re.Match[str]) -> str:
    userinfo = f"{REDACTED}@" if match["userinfo"] else ""
    query = f"?{REDACTED}" if match["query"] else ""
    return f"{match['scheme']}{userinfo}{match['rest']}{query}"


def redact(text: str) -> str:
    """`text` with the userinfo and query string of every URL (and path) in it replaced."""
    text = _URL.sub(_url_redacted, text)
    return _PATH_QUERY.sub(lambda match: f"{match['path']}?{REDACTED}", text)


def _redacted_argument(value: object) -> object:
    if isinstance(value, int | float):
        return value  # as it was: a format may need the number (%d)
    try:
        text = str(value)
    except Exception:  # an argument logging could not print either
        return value
    redacted = redact(text)
    return value if redacted == text else redacted


class RedactCredentials(logging.Filter):
    """Redacts URLs in a record's message and arguments (kept apart: uvicorn's access lines
    are formatted from them), its safe fields, its traceback and stack, for every handler
    after it (the record itself is changed)."""

    _tracebacks = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(_redacted_argument(value) for value in record.args)
        elif isinstance(record.args, Mapping):
            record.args = {key: _redacted_argument(value) for key, value in record.args.items()}
        for name in SAFE_FIELDS:
            value = getattr(record, name, None)
            if isinstance(value, str):
                setattr(record, name, redact(value))
        if record.exc_info and not record.exc_text:
            record.exc_text = self._tracebacks.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


def redact_every_handler() -> None:
    """Put RedactCredentials on every handler there is: the root logger's, which every record
    that propagates reaches, and those of loggers that keep theirs (uvicorn's, as it
    configures them by default)."""
    loggers = [logging.getLogger()] + [
        logger
        for logger in logging.Logger.manager.loggerDict.values()
        if isinstance(logger, logging.Logger)
    ]
    for logger in loggers:
        for handler in logger.handlers:
            if not any(isinstance(f, RedactCredentials) for f in handler.filters):
                handler.addFilter(RedactCredentials())


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "event": record.getMessage(),
        }
        span = trace.get_current_span().get_span_context()
        if span.is_valid:
            line["trace_id"] = format(span.trace_id, "032x")
            line["span_id"] = format(span.span_id, "016x")
        line.update({k: getattr(record, k) for k in SAFE_FIELDS if hasattr(record, k)})
        if record.exc_info and record.exc_info[0] is not None:
            # The exception type only: messages and tracebacks can quote payloads.
            line["exception"] = record.exc_info[0].__name__
        return json.dumps(line, default=str)


def configure_logging(level: str) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    redact_every_handler()
