"""One partition this process owns: offsets, restored state, its sink, its job tasks."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

from aiokafka import ConsumerRecord, TopicPartition

from consumer.committer import Sink
from consumer.errors import PartitionLost
from consumer.jobs import JobContext, Placed, run_after
from consumer.offsets import OffsetTracker
from consumer.records import dlq_record
from consumer.statestore import StateStore
from schemas import PoisonMessage, decode_job

log = logging.getLogger("docfetch.consumer")


@dataclass
class Owned:
    """A partition from assignment to revocation. `sink` and `store` exist once it is ready."""

    tp: TopicPartition
    epoch: int
    tracker: OffsetTracker = field(default_factory=OffsetTracker)
    sink: Sink | None = None
    store: StateStore | None = None
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
            job = decode_job(msg.value)
        except PoisonMessage as exc:
            self._to_dlq(msg, exc, ctx, dlq_topic)
            return
        at = Placed(self.tp.partition, msg.offset, self.epoch, self.sink, self.store)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        previous, self.chains[job.job_id] = self.chains.get(job.job_id), done
        task = tg.create_task(self._guarded(run_after(previous, job, at, ctx), job.job_id, done))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

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
        self, work: Coroutine[Any, Any, None], job_id: str, done: asyncio.Future[None]
    ) -> None:
        try:
            await work
        except PartitionLost:
            return  # the partition is gone; whoever saw the failure logged and counted it
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
