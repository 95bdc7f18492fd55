"""The consumer's log: one line per job outcome, text (key=value) or JSON lines, and quiet HTTP clients.

    2026-12-01 21:00:00,123 INFO event=job job=3f2a… work=W1 status=success tier=oa_pdf bytes=1024 seconds=0.8
    {"ts": "2026-12-01T21:00:00.123+00:00", "level": "INFO", "logger": "docfetch.consumer", "event": "job"…}

Every other consumer line is already `event=... key=value`; in JSON it is the `msg` field.
"""

from __future__ import annotations

import datetime
import logging
import sys
from typing import Any

import orjson

from schemas import StateRecord

LOG_FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(message)s"
# Libraries that log one INFO line per request or connection: warnings only. The engine's client is
# httpx2 over aiohttp or httpcore2; httpx/httpcore serve the minimal fetcher.
QUIET_LOGGERS = ("aiokafka", "aiohttp", "httpx2", "httpcore2", "httpx", "httpcore")
FIELDS_ATTR = "docfetch_fields"  # the LogRecord attribute holding a line's structured fields

log = logging.getLogger("docfetch.consumer")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, then the line's fields (or its message as `msg`)."""

    def format(self, record: logging.LogRecord) -> str:
        ts = datetime.datetime.fromtimestamp(record.created, tz=datetime.UTC)
        doc: dict[str, Any] = {"ts": ts.isoformat(timespec="milliseconds"), "level": record.levelname,
                               "logger": record.name}  # fmt: skip
        fields = getattr(record, FIELDS_ATTR, None)
        doc.update(fields if isinstance(fields, dict) else {"msg": record.getMessage()})
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(doc, default=str).decode()


def configure(log_format: str) -> None:
    """The root handler on stderr in `log_format` ("text" or "json"); chatty libraries at WARNING."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


def outcome_fields(record: StateRecord, *, seconds: float) -> dict[str, Any]:
    """The fields of one job's outcome line."""
    return {"event": "job", "job": record.job_id, "work": record.work_id,
            "status": record.status.value if record.status else None,
            "tier": record.tier.value if record.tier else None, "bytes": record.size or 0,
            "seconds": round(seconds, 3)}  # fmt: skip


def text_line(fields: dict[str, Any]) -> str:
    """key=value pairs in order; a missing value is `-`."""
    return " ".join(f"{k}={'-' if v is None else v}" for k, v in fields.items())


def job_outcome(record: StateRecord, *, seconds: float) -> None:
    """Log the terminal record of one job (called once per job, after its commit was queued)."""
    fields = outcome_fields(record, seconds=seconds)
    log.info("%s", text_line(fields), extra={FIELDS_ATTR: fields})
