"""One partition this process owns: offsets, restored state, its sink, its job tasks."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from aiokafka import ConsumerRecord, TopicPartition

from consumer.committer import Sink
from consumer.errors import PartitionLost
from consumer.jobs import JobContext, Placed, run_after
from consumer.offsets import OffsetTracker
from consumer.records import dlq_record
from consumer.statestore import JobStates
from schemas import JobMessage, PoisonMessage, decode_job
from schemas.topics import INTERNAL_ERROR, KEY_MISMATCH, WRONG_PARTITION, partition_for_key

log = logging.getLogger("docfetch.consumer")


@dataclass
class Owned:
    """A partition from assignment to revocation. `sink` and `store` exist once it is ready.

    `epoch` and `owner` are the group generation and member id of the assignment (DESIGN §2);
    `partitions` gives the jobs topic's partition count in the consumer's current metadata, against
    which keys are checked (0 when unknown: no check).
    """

    tp: TopicPartition
    epoch: int
    owner: str
    partitions: Callable[[], int]
    tracker: OffsetTracker = field(default_factory=OffsetTracker)
    sink: Sink | None = None
    store: JobStates | None = None
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    chains: dict[str, asyncio.Future[None]] = field(default_factory=dict)
    revoking: bool = False

    @property
    def ready(self) -> bool:
        return self.sink is not None and not self.revoking

    def accept(
        self, msg: ConsumerRecord[bytes, bytes], ctx: JobContext, dlq_topic: str, tg: asyncio.TaskGroup
    ) -> None:
        """Take one message: poison goes to the DLQ in p's next commit, a job becomes a task."""
        assert self.sink is not None and self.store is not None
        if not self.tracker.take(msg.offset):
            return  # already in flight or finished under this assignment
        try:
            job = self._job_of(msg)
        except PoisonMessage as exc:
            self._to_dlq(msg, exc, ctx, dlq_topic)
            return
        at = Placed(self.tp.partition, msg.offset, self.epoch, self.owner, self.sink, self.store)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        previous, self.chains[job.job_id] = self.chains.get(job.job_id), done
        work = run_after(previous, job, at, ctx)
        task = tg.create_task(
            self._guarded(work, job.job_id, done, lambda e: self._internal(msg, e, ctx, dlq_topic))
        )
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def _job_of(self, msg: ConsumerRecord[bytes, bytes]) -> JobMessage:
        """The job, or PoisonMessage: undecodable, or on a key or partition one job could share with
        another partition (then two owners, two stores and two FINALIZED for one attempt)."""
        job = decode_job(msg.value)
        if msg.key != job.job_id.encode("ascii"):
            key = (msg.key or b"").decode("utf-8", "replace")[:80]
            raise PoisonMessage(KEY_MISMATCH, f"key {key!r} is not the job id {job.job_id}")
        count = self.partitions()
        expected = partition_for_key(msg.key, count) if count > 0 else self.tp.partition
        if expected != self.tp.partition:
            raise PoisonMessage(
                WRONG_PARTITION,
                f"key {job.job_id} hashes to partition {expected} of {count}, "
                f"the message is on {self.tp.partition}",
            )
        return job

    def _internal(
        self, msg: ConsumerRecord[bytes, bytes], exc: Exception, ctx: JobContext, dlq_topic: str
    ) -> None:
        """A job raised where not even its FAILED record could be written: its message goes to the DLQ."""
        detail = f"{type(exc).__name__}: {exc}"
        self._to_dlq(msg, PoisonMessage(INTERNAL_ERROR, detail), ctx, dlq_topic)

    def _to_dlq(
        self, msg: ConsumerRecord[bytes, bytes], exc: PoisonMessage, ctx: JobContext, dlq_topic: str
    ) -> None:
        assert self.sink is not None
        record = dlq_record(
            dlq_topic=dlq_topic,
            source_topic=self.tp.topic,
            partition=self.tp.partition,
            offset=msg.offset,
            key=msg.key,
            value=msg.value,
            reason=exc.reason,
            detail=exc.detail,
        )
        self.sink.add([record], offset=msg.offset)
        ctx.metrics.dlq.labels(reason=exc.reason).inc()
        log.warning(
            "event=dlq partition=%d offset=%d reason=%s detail=%r",
            self.tp.partition,
            msg.offset,
            exc.reason,
            exc.detail[:200],
        )

    async def _guarded(
        self,
        work: Coroutine[Any, Any, None],
        job_id: str,
        done: asyncio.Future[None],
        on_error: Callable[[Exception], None],
    ) -> None:
        """Run one job; nothing it raises ends the process-wide TaskGroup (only cancellation passes)."""
        try:
            await work
        except PartitionLost:
            return  # the partition is gone; whoever saw the failure logged and counted it
        except Exception as exc:
            log.exception("event=job-crashed job=%s", job_id)
            if not self.revoking:
                on_error(exc)
        finally:
            done.set_result(None)
            if self.chains.get(job_id) is done:
                del self.chains[job_id]

    async def drain(self, *, timeout_s: float) -> int:
        """Wait up to `timeout_s` for in-flight jobs; cancel the rest. Returns how many were abandoned."""
        self.revoking = True
        if self.tasks:
            await asyncio.wait(set(self.tasks), timeout=timeout_s)
        abandoned = [t for t in self.tasks if not t.done()]
        for task in abandoned:
            task.cancel()
        return len(abandoned)
