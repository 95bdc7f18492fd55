"""Consumer settings (prefix DOCFETCH_): read once at start-up, then passed down as arguments."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from consumer.errors import ConfigError
from consumer.fetch.settings import EngineSettings
from schemas.settings import first_problem


class Guarantee(StrEnum):
    EXACTLY_ONCE = "exactly-once"
    AT_LEAST_ONCE = "at-least-once"


class EventLoop(StrEnum):
    """The asyncio event loop the consumer runs on (docs/BENCHMARKS.md "uvloop")."""

    ASYNCIO = "asyncio"
    UVLOOP = "uvloop"


class ConsumerSettings(BaseSettings):
    """How one consumer process runs, its download engine's settings nested (same DOCFETCH_ names, read
    from the environment by EngineSettings itself); the Kafka part is `schemas.KafkaSettings`."""

    model_config = SettingsConfigDict(env_prefix="DOCFETCH_", extra="forbid", frozen=True)

    store: Path = Path("store")
    concurrency: int = Field(default=16, ge=1, le=10_000)
    guarantee: Guarantee = Guarantee.EXACTLY_ONCE
    # uvloop by default: about a sixth less CPU per job; asyncio stays a choice (docs/BENCHMARKS.md "uvloop")
    event_loop: EventLoop = EventLoop.UVLOOP
    metrics_port: int = Field(default=0, ge=0, le=65_535)  # 0 = no HTTP endpoint
    exit_when_idle_s: float | None = Field(default=None, gt=0)
    # One short transaction per partition per interval; ~100 ms keeps latency low and batches well.
    commit_interval_s: float = Field(default=0.1, gt=0, le=10)
    # Jobs whose download is over and whose terminal record waits for its transaction, at most (each
    # holds its record and its task, a few KiB); apart from the download slots (consumer/assignment.py).
    commit_backlog: int = Field(default=1000, ge=1, le=1_000_000)
    # Revocation and shutdown wait this long for in-flight jobs before abandoning them.
    drain_timeout_s: float = Field(default=10.0, ge=0)
    # After a STORAGE_ERROR outcome intake pauses this long instead of failing the whole queue.
    storage_pause_s: float = Field(default=30.0, ge=0)
    # Temp files older than this are leftovers of killed processes and are swept at start-up; far above
    # any job deadline, so a live writer of another consumer sharing the store is never touched.
    temp_grace_s: float = Field(default=3600.0, gt=0)
    max_poll_interval_ms: int = Field(default=300_000, ge=1_000)
    session_timeout_ms: int = Field(default=45_000, ge=1_000)
    heartbeat_interval_ms: int = Field(default=3_000, ge=100)
    # A lost partition (fenced, failed flush) is re-acquired with backoff for this long, then the process
    # leaves the group and exits non-zero. None: 3 session timeouts, enough to outlast a leader election or a
    # broker restart without the group noticing anything.
    recovery_timeout_s: float | None = Field(default=None, gt=0)
    # /healthz fails when a partition has lag and made no progress for this long.
    stall_timeout_s: float = Field(default=300.0, gt=0)
    # /healthz fails when the consumer has held no partition for this long.
    out_of_group_s: float = Field(default=120.0, gt=0)
    engine: EngineSettings = Field(default_factory=EngineSettings)
    # Persistent state stores, one per state partition (consumer/statedir.py). None: `state` beside the
    # artifact store. Revoked partitions' stores stay on disk (warm restores) within state_dir_max_bytes.
    state_dir: Path | None = None
    state_dir_max_bytes: int = Field(default=20 * 2**30, ge=0)
    # RocksDB memory of all stores together (block cache; write buffers are charged to it): not per job.
    state_cache_bytes: int = Field(default=64 * 2**20, ge=2**20)
    # Static group membership (aiokafka group_instance_id), e.g. the pod or host name; None: dynamic.
    instance_id: str | None = Field(default=None, min_length=1, max_length=249)

    @property
    def state_root(self) -> Path:
        """Where the partition stores live: DOCFETCH_STATE_DIR, else `state` beside the artifact store."""
        return self.state_dir if self.state_dir is not None else self.store.absolute().parent / "state"

    # --- timeouts derived from the session timeout (DESIGN §4): a flush or an acquisition that outlasts it
    # would hold a partition the group may already have given away.
    @property
    def session_timeout_s(self) -> float:
        return self.session_timeout_ms / 1000

    @property
    def flush_timeout_s(self) -> float:
        """One flush (transaction or acks + commit): two thirds of the session timeout (30 s at 45 s)."""
        return self.session_timeout_s * 2 / 3

    @property
    def acquire_timeout_s(self) -> float:
        """One fencing step of an acquisition (init_transactions, committed-offset fetch): as a flush."""
        return self.session_timeout_s * 2 / 3

    @property
    def retry_cap_s(self) -> float:
        """Longest backoff between acquisition attempts: a third of the session timeout (15 s at 45 s)."""
        return self.session_timeout_s / 3

    @property
    def recovery_deadline_s(self) -> float:
        """How long a partition may stay lost before the process gives up (see recovery_timeout_s)."""
        return self.recovery_timeout_s or 3 * self.session_timeout_s


def consumer_settings(overrides: dict[str, object]) -> ConsumerSettings:
    """Read the environment once, apply flag overrides, refuse bad values with what to fix."""
    try:
        return ConsumerSettings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise ConfigError(first_problem(exc, whole="consumer settings")) from None
