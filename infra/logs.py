"""Structured logs: one JSON object per line, with trace and consultation ids, never content.

Only whitelisted `extra` fields are written, so a stray keyword cannot leak a message body.
"""

from __future__ import annotations

import json
import logging
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
