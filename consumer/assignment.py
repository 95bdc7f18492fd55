"""The partitions this process owns: assignment (fence, restore), commits, pauses, revocation."""

from __future__ import annotations

import asyncio
import logging
import time

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import KafkaError

from consumer.committer import AcknowledgedSink, Sink, TransactionalSink
from consumer.errors import PartitionLost
from consumer.jobs import JobContext
from consumer.partition import Owned
from consumer.settings import ConsumerSettings, Guarantee
from consumer.statestore import restore
from schemas import KafkaSettings

# In-flight jobs per download slot: one downloading, one planning or committing.
INTAKE_PER_DOWNLOAD_SLOT = 2

log = logging.getLogger("docfetch.consumer")
ASSIGN_TRIES = 5  # fencing + restore of a partition; a broker restart takes a few seconds
ASSIGN_RETRY_S = 2.0


class Ownership(ConsumerRebalanceListener):  # type: ignore[misc]
    """Owns partitions between assignment and revocation; the rebalance listener aiokafka awaits."""

    def __init__(
        self,
        *,
        kafka: KafkaSettings,
        cfg: ConsumerSettings,
        consumer: AIOKafkaConsumer,
        ctx: JobContext,
        tg: asyncio.TaskGroup,
        shared_producer: AIOKafkaProducer | None,
    ) -> None:
        self.kafka, self.cfg, self.consumer, self.ctx, self.tg = kafka, cfg, consumer, ctx, tg
        self.shared_producer = shared_producer
        self.owned: dict[TopicPartition, Owned] = {}
        self.epoch = 0
        self.paused_until_s = 0.0
        self.out_of_group_since_s: float | None = time.monotonic()

    # --- rebalance listener ---------------------------------------------------------------------
    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        self.epoch += 1
        self.ctx.metrics.rebalances.inc()
        self.out_of_group_since_s = None if assigned else time.monotonic()
        log.info("event=assigned epoch=%d partitions=%s", self.epoch, sorted(tp.partition for tp in assigned))
        group = self.consumer._coordinator  # the member id and generation this assignment belongs to
        for tp in assigned:
            count = lambda topic=tp.topic: len(self.consumer.partitions_for_topic(topic) or ())  # noqa: E731
            self.owned[tp] = Owned(tp, group.generation, group.member_id, count)
            self.tg.create_task(self._make_ready(self.owned[tp]))
        self.apply_pauses()

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        log.info("event=revoked partitions=%s", sorted(tp.partition for tp in revoked))
        await asyncio.gather(*(self.release(tp) for tp in revoked if tp in self.owned))
        if not self.owned:
            self.out_of_group_since_s = time.monotonic()  # until the next assignment gives us work

    # --- assignment -----------------------------------------------------------------------------
    async def _make_ready(self, part: Owned) -> None:
        """Fence the previous owner (exactly-once), then restore state partition p, then take jobs.

        A broker that is briefly unavailable (restart, coordinator move) gets a few tries; after that the
        error ends the process, whose supervisor restarts it.
        """
        for attempt in range(1, ASSIGN_TRIES + 1):
            try:
                return await self._try_make_ready(part)
            except KafkaError as exc:
                if self.owned.get(part.tp) is not part:
                    return  # revoked meanwhile: nothing to make ready
                if attempt == ASSIGN_TRIES:
                    raise
                log.warning("event=assign-retry partition=%d error=%r", part.tp.partition, exc)
                await asyncio.sleep(ASSIGN_RETRY_S)

    async def _try_make_ready(self, part: Owned) -> None:
        sink = await self._sink(part)
        try:
            store, report = await restore(
                kafka=self.kafka,
                partition=part.tp.partition,
            )
        except KafkaError:
            await sink.close()
            raise
        if self.owned.get(part.tp) is not part:  # revoked while restoring
            await sink.close()
            return
        part.store, part.sink = store, sink
        self.ctx.metrics.restore.observe(report.seconds)
        log.info(
            "event=restored partition=%d records=%d seconds=%.3f rate_per_s=%.0f undecodable=%d",
            report.partition,
            report.records,
            report.seconds,
            report.rate,
            store.undecodable,
        )
        self.apply_pauses()

    async def _sink(self, part: Owned) -> Sink:
        if self.cfg.guarantee is Guarantee.AT_LEAST_ONCE:
            assert self.shared_producer is not None
            return AcknowledgedSink(
                tp=part.tp, tracker=part.tracker, producer=self.shared_producer, consumer=self.consumer
            )
        producer = AIOKafkaProducer(
            **self.kafka.client_options(),
            transactional_id=f"{self.kafka.group_id}-{self.kafka.jobs_topic}-{part.tp.partition}",
        )
        await producer.start()  # init_transactions: aborts and fences the previous owner's producer
        return TransactionalSink(
            tp=part.tp, tracker=part.tracker, producer=producer, group_id=self.kafka.group_id
        )

    # --- revocation and loss --------------------------------------------------------------------
    async def release(self, tp: TopicPartition) -> None:
        """Bounded drain, commit what is final, abandon the rest, close p's producer."""
        part = self.owned.get(tp)
        if part is None:
            return
        abandoned = await part.drain(timeout_s=self.cfg.drain_timeout_s)
        if self.owned.get(tp) is not part:
            return  # lost while draining; `lose` cleaned up
        if part.sink is not None:
            try:
                await part.sink.flush()
            except PartitionLost as exc:
                self._count_lost(exc)
            part.sink.fail_pending(PartitionLost("revoked"))
            await part.sink.close()
        self.owned.pop(tp, None)
        self.ctx.metrics.forget_partition(tp.partition)
        log.info(
            "event=released partition=%d abandoned=%d committed=%s",
            tp.partition,
            abandoned,
            part.tracker.committable,
        )

    def _count_lost(self, exc: PartitionLost) -> None:
        self.ctx.metrics.fenced.inc()
        log.warning("event=fenced %s", exc)

    async def lose(self, tp: TopicPartition, exc: PartitionLost) -> None:
        """Fenced or a failed commit: p belongs to someone else. Cancel its jobs, drop their results."""
        part = self.owned.pop(tp, None)
        if part is None:
            return
        self._count_lost(exc)
        part.revoking = True
        for task in part.tasks:
            task.cancel()
        if part.sink is not None:
            part.sink.fail_pending(exc)
            await part.sink.close()
        self.ctx.metrics.forget_partition(tp.partition)

    # --- steady state ---------------------------------------------------------------------------
    async def commit_once(self) -> None:
        """One commit interval: each ready partition flushes its batch (one transaction each), in parallel."""
        await asyncio.gather(*(self._flush(tp, part) for tp, part in list(self.owned.items())))

    async def _flush(self, tp: TopicPartition, part: Owned) -> None:
        if part.sink is None:
            return
        try:
            await part.sink.flush()
        except PartitionLost as exc:
            await self.lose(tp, exc)

    def inflight(self) -> int:
        return sum(len(p.tasks) for p in self.owned.values())

    def intake_limit(self) -> int:
        """Jobs taken at most: downloads in flight plus as many again waiting for a commit (~100 ms),
        so download slots never idle while finished jobs wait for their transaction."""
        return self.cfg.concurrency * INTAKE_PER_DOWNLOAD_SLOT

    def pause_intake(self) -> None:
        self.paused_until_s = time.monotonic() + self.cfg.storage_pause_s
        log.warning("event=intake-paused reason=storage-error seconds=%.0f", self.cfg.storage_pause_s)

    async def storage_ready(self) -> None:
        """Wait out a storage pause (jobs already taken do not burn through a failing store either)."""
        # A loop, not an Event: another storage error may extend the pause while this one sleeps.
        while (wait_s := self.paused_until_s - time.monotonic()) > 0:  # noqa: ASYNC110
            await asyncio.sleep(wait_s)

    def apply_pauses(self) -> None:
        """Pause all partitions at the concurrency limit or in a storage pause; else only unready ones."""
        hold_all = self.inflight() >= self.intake_limit() or time.monotonic() < self.paused_until_s
        assigned = self.consumer.assignment()
        pause = {tp for tp in assigned if hold_all or not (tp in self.owned and self.owned[tp].ready)}
        self.consumer.pause(*pause)
        self.consumer.resume(*(assigned - pause))
