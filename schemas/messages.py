"""The job message (jobs topic) and the state record (compacted state topic), schema version 1."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from schemas.status import State, Status

SCHEMA_VERSION: Literal[1] = 1
SHA256_HEX = r"^[0-9a-f]{64}$"


class Tier(StrEnum):
    """Where a candidate URL came from; tried in this order."""

    OA_PDF = "oa_pdf"
    REPOSITORY = "repository"
    DOI = "doi"
    LANDING = "landing"
    ARCHIVE = "archive"


TIER_ORDER: tuple[Tier, ...] = tuple(Tier)


class Wanted(StrEnum):
    PDF = "pdf"
    XML = "xml"
    HTML = "html"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, strict=True, extra="forbid")


class Candidate(_Frozen):
    url: str = Field(min_length=1, max_length=8192)
    tier: Tier


class Hop(_Frozen):
    """One request made for a job: what was asked, what came back, and why we moved on."""

    url: str
    tier: Tier
    http_status: int | None = None
    note: str | None = None


class JobMessage(_Frozen):
    """A unit of work on the jobs topic, keyed by `job_id`."""

    schema_version: Literal[1] = Field(default=SCHEMA_VERSION, alias="schema")
    job_id: str = Field(pattern=SHA256_HEX)
    work_id: str | None = None
    doi: str | None = None
    candidates: tuple[Candidate, ...] = Field(min_length=1)
    wanted: Wanted = Wanted.PDF
    source: str = Field(min_length=1)
    seeded_at_ms: int = Field(ge=0)
    attempt: int = Field(default=0, ge=0)

    model_config = ConfigDict(populate_by_name=True)


class StateRecord(_Frozen):
    """One state of one job attempt on the compacted state topic, keyed by `job_id`."""

    schema_version: Literal[1] = Field(default=SCHEMA_VERSION, alias="schema")
    job_id: str = Field(pattern=SHA256_HEX)
    work_id: str | None
    state: State
    status: Status | None
    attempt: int = Field(ge=0)
    owner: str
    epoch: int
    source_partition: int = Field(ge=0)
    source_offset: int = Field(ge=0)
    ts_ms: int = Field(ge=0)
    sha256: str | None = Field(default=None, pattern=SHA256_HEX)
    size: int | None = Field(default=None, ge=0)
    mimetype: str | None = None
    final_url: str | None = None
    tier: Tier | None = None
    hops: tuple[Hop, ...] = ()
    detail: str | None = None

    model_config = ConfigDict(populate_by_name=True)

    @model_validator(mode="after")
    def _consistent(self) -> StateRecord:
        if self.state is State.FINALIZED and (
            self.status is not Status.SUCCESS or self.sha256 is None or self.size is None
        ):
            raise ValueError("FINALIZED needs status success, sha256 and size")
        if self.state is State.FAILED and (self.status is None or self.status is Status.SUCCESS):
            raise ValueError("FAILED needs a failure status")
        if self.state is State.PLANNED and self.status is not None:
            raise ValueError("PLANNED has no status")
        return self
