"""The per-job outcome line, text and JSON, and the silenced per-request loggers."""

from __future__ import annotations

import logging

import orjson
import pytest

from consumer import joblog
from schemas import State, Status, Tier
from tests.integration.statefix import record

FINAL = record("W7", State.FINALIZED).model_copy(update={"tier": Tier.DOI})
FAILED = record("W8", State.FAILED, status=Status.TIMEOUT)


def test_text_line_names_job_work_status_tier_bytes_seconds() -> None:
    line = joblog.text_line(joblog.outcome_fields(FINAL, seconds=1.23456))
    assert line == f"event=job job={FINAL.job_id} work=W7 status=success tier=doi bytes=10 seconds=1.235"
    failed = joblog.text_line(joblog.outcome_fields(FAILED, seconds=0))
    assert failed.endswith("work=W8 status=timeout tier=- bytes=0 seconds=0")


def test_json_formatter_writes_the_fields_or_the_message() -> None:
    fields = joblog.outcome_fields(FINAL, seconds=2.0)
    rec = logging.LogRecord("docfetch.consumer", logging.INFO, __file__, 1, "%s", ("x",), None)
    setattr(rec, joblog.FIELDS_ATTR, fields)
    doc = orjson.loads(joblog.JsonFormatter().format(rec))
    assert doc["level"] == "INFO" and doc["logger"] == "docfetch.consumer" and doc["ts"].endswith("+00:00")
    assert {k: doc[k] for k in fields} == fields
    plain = logging.LogRecord("docfetch.consumer", logging.INFO, __file__, 1, "event=%s", ("stopped",), None)
    assert orjson.loads(joblog.JsonFormatter().format(plain))["msg"] == "event=stopped"


def test_configure_silences_per_request_loggers(capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        joblog.configure("json")
        for name in ("httpx2", "httpcore2", "httpx", "httpcore", "aiokafka"):
            logging.getLogger(name).info("HTTP Request: GET http://x/ 200")
        joblog.job_outcome(FINAL, seconds=0.5)
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and orjson.loads(lines[0])["job"] == FINAL.job_id
