"""The job message (jobs topic) and the state record (compacted state topic), schema version 1."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from schemas.status import State, Status

SCHEMA_VERSION: Literal[1] = 1
SHA256_HEX = r"^[0-9a-f]{64}$"

# Bounds of a job message: anyone who can write to the jobs topic shapes it, and its fields are copied
# into PLANNED records, logs and requests, so every size is capped here, at decode (a violation is poison).
# URLs: RFC 9110 asks clients and servers to support at least 8,000 octets; longer ones are not served.
MAX_URL_CHARS = 8192
# DOI names have no length limit in the standard; registered ones run to a few hundred characters.
MAX_DOI_CHARS = 1024
# OpenAlex ids are ~12 characters; a URL list's work ids are free text, kept to a short label.
MAX_WORK_ID_CHARS = 256
# The producer that seeded the job ("openalex", "urls", ...): a label, not a payload.
MAX_SOURCE_CHARS = 128
# A work's locations rarely number more than a dozen; each candidate costs a DNS lookup, a robots.txt
# fetch and a request (the engine's per-job budget stops far earlier: 3 x max_hops operations).
MAX_CANDIDATES = 64
MAX_CANDIDATE_HOSTS = 32
# Kafka clients and other decoders read attempts as 32-bit, timestamps as 64-bit signed integers; a
# larger number (2^64 decodes fine in Python) would crash the encoding of the state record later.
MAX_ATTEMPT = 2**31 - 1
MAX_TIMESTAMP_MS = 2**63 - 1
# No C0 control character or DEL: a NUL or CR/LF in a URL or label is never legitimate.
NO_CONTROL_CHARS = r"^[^\x00-\x1f\x7f]*$"


def _bounded(max_chars: int, *, min_chars: int = 0) -> StringConstraints:
    return StringConstraints(min_length=min_chars, max_length=max_chars, pattern=NO_CONTROL_CHARS)


Url = Annotated[str, _bounded(MAX_URL_CHARS, min_chars=1)]
Doi = Annotated[str, _bounded(MAX_DOI_CHARS, min_chars=1)]
WorkId = Annotated[str, _bounded(MAX_WORK_ID_CHARS, min_chars=1)]
Source = Annotated[str, _bounded(MAX_SOURCE_CHARS, min_chars=1)]


class Tier(StrEnum):
    """Where a candidate URL came from. The order candidates are tried in is TIER_RANK, not this order."""

    OA_PDF = "oa_pdf"
    REPOSITORY = "repository"
    DOI = "doi"
    LANDING = "landing"
    ARCHIVE = "archive"


# The one statement of the tier order (DESIGN §6): open-access PDFs and repository copies first, as one rank
# (a producer lists them in the order it trusts them: openalex puts repository copies first), then DOI
# resolution, then landing pages, then the web archive. Tried by rank, in list order within a rank.
TIER_RANK: dict[Tier, int] = {
    Tier.OA_PDF: 0,
    Tier.REPOSITORY: 0,
    Tier.DOI: 1,
    Tier.LANDING: 2,
    Tier.ARCHIVE: 3,
}


def tier_rank(tier: Tier) -> int:
    return TIER_RANK[tier]


class Wanted(StrEnum):
    PDF = "pdf"
    XML = "xml"
    HTML = "html"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, strict=True, extra="forbid")


class Candidate(_Frozen):
    url: Url
    tier: Tier


# What an origin controls in a state record is bounded so the record always fits the state topic (DESIGN §2).
MAX_RECORD_URL_CHARS = 2048  # longer than any real document URL; a 64 KiB Location header is an attack
MAX_NOTE_CHARS = 512  # a hop's note is one reason, not a page
MAX_DETAIL_CHARS = 4096  # an exception message or a status explanation
MAX_LABEL_CHARS = 256  # mimetype, owner (a group member id is about 80)
MAX_RECORD_HOPS = 32  # above the engine's default 20 requests; beyond it the first and last half are kept


_CLIP_MARKER_CHARS = 32  # room for "...[<n> more chars]" with any n below 10**20


def clip(text: str | None, limit: int) -> str | None:
    """`text` cut to at most `limit` characters, ending in a marker saying how many were dropped.
    Idempotent: a clipped text is within the limit, so decoding a record never changes it."""
    if text is None or len(text) <= limit:
        return text
    kept = limit - _CLIP_MARKER_CHARS
    return f"{text[:kept]}...[{len(text) - kept} more chars]"


def _clipped(limit: int) -> BeforeValidator:
    return BeforeValidator(lambda v: clip(v, limit) if isinstance(v, str) else v)


class Hop(_Frozen):
    """One request made for a job: what was asked, what came back, and why we moved on.

    Origin-controlled text is clipped (a redirect's Location is the origin's to choose)."""

    url: Annotated[str, _clipped(MAX_RECORD_URL_CHARS)]
    tier: Tier
    http_status: int | None = None
    note: Annotated[str | None, _clipped(MAX_NOTE_CHARS)] = None


class JobMessage(_Frozen):
    """A unit of work on the jobs topic, keyed by `job_id`."""

    schema_version: Literal[1] = Field(default=SCHEMA_VERSION, alias="schema")
    job_id: str = Field(pattern=SHA256_HEX)
    work_id: WorkId | None = None
    doi: Doi | None = None
    candidates: tuple[Candidate, ...] = Field(min_length=1, max_length=MAX_CANDIDATES)
    wanted: Wanted = Wanted.PDF
    source: Source
    seeded_at_ms: int = Field(ge=0, le=MAX_TIMESTAMP_MS)
    attempt: int = Field(default=0, ge=0, le=MAX_ATTEMPT)

    model_config = ConfigDict(populate_by_name=True)

    @field_validator("schema_version", mode="before")
    @classmethod
    def _exact_version(cls, value: object) -> object:
        """`true` and `1.0` equal 1 in Python; the wire version is the JSON integer 1, nothing else."""
        if type(value) is not int:
            raise ValueError(f"schema must be the integer {SCHEMA_VERSION}")
        return value

    @model_validator(mode="after")
    def _few_hosts(self) -> JobMessage:
        if len(self.candidates) <= MAX_CANDIDATE_HOSTS:
            return self  # fewer candidates than the host limit: no URL needs parsing (the seeding hot path)
        hosts = {_host_of(candidate.url) for candidate in self.candidates}
        if len(hosts) > MAX_CANDIDATE_HOSTS:
            raise ValueError(f"candidates on {len(hosts)} hosts; at most {MAX_CANDIDATE_HOSTS}")
        return self


def _host_of(url: str) -> str:
    """The host a candidate URL names (the URL itself when it does not parse)."""
    try:
        return (urlsplit(url).hostname or url).lower()
    except ValueError:
        return url


class Finalized(_Frozen):
    """The FINALIZED fields: the artifact a successful fetch stored and where it came from. The fetch
    outcome carries one (consumer.outcome.FetchOutcome.finalized); a state record has these fields, flat on
    the wire (StateRecord). A new one is declared here and filled where the engine stores the artifact."""

    sha256: str | None = Field(default=None, pattern=SHA256_HEX)
    size: int | None = Field(default=None, ge=0)
    mimetype: Annotated[str | None, _clipped(MAX_LABEL_CHARS)] = None
    final_url: Annotated[str | None, _clipped(MAX_RECORD_URL_CHARS)] = None
    tier: Tier | None = None


class _RecordHead(_Frozen):
    """Which job attempt a state record is about, its state, and who wrote it. `state`, `status` and
    `attempt` stay adjacent, in this order: the restore fast path (codec.peek_state_attempt) reads them so."""

    schema_version: Literal[1] = Field(default=SCHEMA_VERSION, alias="schema")
    job_id: str = Field(pattern=SHA256_HEX)
    work_id: str | None
    state: State
    status: Status | None
    attempt: int = Field(ge=0)
    owner: Annotated[str, _clipped(MAX_LABEL_CHARS)]
    epoch: int
    source_partition: int = Field(ge=0)
    source_offset: int = Field(ge=0)
    ts_ms: int = Field(ge=0)


class _RecordTrail(_Frozen):
    """How the attempt went: the requests made and what went wrong."""

    hops: tuple[Hop, ...] = ()
    hops_dropped: int = Field(default=0, ge=0)  # hops left out between the first and the last ones kept
    detail: Annotated[str | None, _clipped(MAX_DETAIL_CHARS)] = None


# pydantic puts the fields of the last base first: on the wire a record is head, finalized, trail.
class StateRecord(_RecordTrail, Finalized, _RecordHead):
    """One state of one job attempt on the compacted state topic, keyed by `job_id`."""

    model_config = ConfigDict(populate_by_name=True)

    @model_validator(mode="after")
    def _cap_hops(self) -> StateRecord:
        """At most MAX_RECORD_HOPS hops: the first and the last half kept, the rest counted."""
        if len(self.hops) > MAX_RECORD_HOPS:
            for name, value in cap_hops(self.hops, MAX_RECORD_HOPS, self.hops_dropped).items():
                object.__setattr__(self, name, value)  # frozen: set once, here, while validating
        return self

    def with_hops_at_most(self, limit: int) -> StateRecord:
        """The same record keeping at most `limit` hops (the encoder's way to fit the size bound)."""
        if len(self.hops) <= limit:
            return self
        return self.model_copy(update=cap_hops(self.hops, limit, self.hops_dropped))

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


def cap_hops(hops: tuple[Hop, ...], limit: int, dropped: int) -> dict[str, Any]:
    """`hops` and `hops_dropped` keeping the first ceil(limit/2) and the last floor(limit/2) hops."""
    head, tail = (limit + 1) // 2, limit // 2
    kept = (*hops[:head], *(hops[len(hops) - tail :] if tail else ()))
    return {"hops": kept, "hops_dropped": dropped + len(hops) - len(kept)}
