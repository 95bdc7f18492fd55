"""The partitions this process owns: assignment, pauses, revocation; each one's life is a `Keeper`."""

from __future__ import annotations

import asyncio
import collections
import logging
import time

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import KafkaError

from consumer.committer import AcknowledgedSink, Sink, TransactionalSink, close_producer
from consumer.errors import PartitionLost
from consumer.jobs import JobContext
from consumer.keeper import Keeper
from consumer.outcome import GroupShared
from consumer.oversize import size_options, state_record_limit
from consumer.partition import Owned
from consumer.restore import catch_up
from consumer.settings import ConsumerSettings, Guarantee
from consumer.statedir import PartitionStore, StateDir
from consumer.statestore import JobStates
from schemas import KafkaSettings

# A revocation reads the partition's own writes into its store (so the next assignment is warm) for at most
# this long; what is left is read by the next restore (every fetched batch moves the checkpoint).
CATCH_UP_TIMEOUT_S = 5.0
# Jobs before their terminal commit per download slot: one downloading, one waiting for the slot.
INTAKE_PER_DOWNLOAD_SLOT = 2

log = logging.getLogger("docfetch.consumer")


def intake_room(inflight: int, finishing: int, cfg: ConsumerSettings) -> int:
    """Jobs that may still be taken. Jobs before their terminal commit (downloading or waiting for a
    slot) are bounded by the download slots; jobs whose terminal record waits for its transaction are
    bounded apart, by DOCFETCH_COMMIT_BACKLOG, so a slot never waits for a commit."""
    working = inflight - finishing
    return max(0, min(cfg.concurrency * INTAKE_PER_DOWNLOAD_SLOT - working, cfg.commit_backlog - finishing))


def group_generation(consumer: AIOKafkaConsumer) -> int:
    """The group generation this member is in (-1 when it is not a member); aiokafka has no public API."""
    return int(consumer._coordinator.generation)


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
        record_limit_bytes: int,
        state_dir: StateDir | None = None,
    ) -> None:
        self.kafka, self.cfg, self.consumer, self.ctx, self.tg = kafka, cfg, consumer, ctx, tg
        self.shared_producer = shared_producer
        self.record_limit_bytes = record_limit_bytes  # the state topic's max.message.bytes
        self.state_dir = state_dir  # None: in-memory state, restored from the beginning on every assignment
        self.owned: dict[TopicPartition, Owned] = {}
        self.keepers: dict[TopicPartition, Keeper] = {}
        self._init_locks: collections.defaultdict[TopicPartition, asyncio.Lock] = collections.defaultdict(
            asyncio.Lock
        )
        self.epoch = 0
        self.stopping = False  # set by the shutdown drain: assignments after it are not taken
        self.paused_until_s = 0.0
        self.out_of_group_since_s: float | None = time.monotonic()

    def generation(self) -> int:
        return group_generation(self.consumer)

    def init_lock(self, tp: TopicPartition) -> asyncio.Lock:
        """Held while p is being acquired: one initialisation (fencing, restore) of p at a time."""
        return self._init_locks[tp]

    # --- rebalance listener ---------------------------------------------------------------------
    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        if self.stopping:
            # The group rebalanced while this process drains (another member left or joined): it takes no
            # work now; leaving the group on the way out hands these partitions to the others.
            log.info("event=assigned-while-stopping partitions=%s action=not-taken",
                     sorted(tp.partition for tp in assigned))  # fmt: skip
            return
        self.epoch += 1
        self.ctx.metrics.rebalances.inc()
        self.out_of_group_since_s = None if assigned else time.monotonic()
        log.info("event=assigned epoch=%d partitions=%s", self.epoch, sorted(tp.partition for tp in assigned))
        generation, member_id = self.generation(), self.consumer._coordinator.member_id
        for tp in assigned:
            count = lambda topic=tp.topic: len(self.consumer.partitions_for_topic(topic) or ())  # noqa: E731
            self.owned[tp] = part = Owned(tp, generation, member_id, count)
            keeper = self.keepers[tp] = Keeper(self, part, generation)
            keeper.task = self.tg.create_task(keeper.run())
        self._share_politeness(len(assigned))
        self.apply_pauses()

    def _share_politeness(self, owned: int) -> None:
        """The per-host limits are the group's (DESIGN §6): this member takes owned/total of each host's
        budget, re-computed on every assignment (aiokafka rebalances eagerly: `assigned` is all it owns)."""
        total = len(self.consumer.partitions_for_topic(self.kafka.jobs_topic) or ())
        if owned and total and isinstance(self.ctx.fetcher, GroupShared):
            self.ctx.fetcher.set_group_share(owned, total)
            log.info("event=politeness-share owned=%d total=%d", owned, total)

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        log.info("event=revoked partitions=%s", sorted(tp.partition for tp in revoked))
        await asyncio.gather(*(self.release(tp) for tp in revoked if tp in self.owned))
        if not self.owned:
            self.out_of_group_since_s = time.monotonic()  # until the next assignment gives us work

    async def new_sink(self, part: Owned) -> Sink:
        """p's sink; exactly-once starts a transactional producer (init_transactions fences the previous)."""
        common = {
            "tp": part.tp,
            "tracker": part.tracker,
            "state_topic": self.kafka.state_topic,
            "flush_timeout_s": self.cfg.flush_timeout_s,
        }
        if self.cfg.guarantee is Guarantee.AT_LEAST_ONCE:
            assert self.shared_producer is not None
            return AcknowledgedSink(producer=self.shared_producer, consumer=self.consumer, **common)
        producer = AIOKafkaProducer(
            **self.kafka.client_options(),
            **size_options(self.record_limit_bytes),
            transactional_id=f"{self.kafka.group_id}-{self.kafka.jobs_topic}-{part.tp.partition}",
        )
        try:
            await producer.start()
        except BaseException:
            await close_producer(producer)
            raise
        return TransactionalSink(producer=producer, group_id=self.kafka.group_id, **common)

    async def refresh_record_limit(self) -> None:
        """Read the state topic's max.message.bytes again (a broker refused a batch: it may have changed)."""
        self.record_limit_bytes = await state_record_limit(self.kafka)
        log.info("event=record-limit bytes=%d", self.record_limit_bytes)

    # --- revocation -----------------------------------------------------------------------------
    async def release(self, tp: TopicPartition) -> None:
        """Bounded drain, commit what is final, abandon the rest, close p's producer."""
        part, keeper = self.owned.get(tp), self.keepers.get(tp)
        if part is None or keeper is None:
            return
        keeper.releasing = True  # a loss from now on is not re-acquired
        abandoned = await part.drain(timeout_s=self.cfg.drain_timeout_s)
        await keeper.stop()
        if self.owned.get(tp) is not part:
            return  # released meanwhile
        if part.sink is not None:
            try:
                await part.sink.flush()
            except PartitionLost as exc:
                self.ctx.metrics.fenced.inc()
                log.warning("event=fenced %s", exc)
            part.sink.fail_pending(PartitionLost("revoked"))
            await part.sink.close()
        await self.keep_store(part)
        self.owned.pop(tp, None)
        self.keepers.pop(tp, None)
        self.ctx.metrics.forget_partition(tp.partition)
        log.info(
            "event=released partition=%d abandoned=%d committed=%s",
            tp.partition,
            abandoned,
            part.tracker.committable,
        )

    async def keep_store(self, part: Owned) -> None:
        """Revoked: no job writes p's store any more; read p's own writes into it (bounded), then close it."""
        store, part.store = part.store, None
        if not isinstance(store, PartitionStore):
            return
        try:
            async with asyncio.timeout(CATCH_UP_TIMEOUT_S):
                records = await catch_up(kafka=self.kafka, store=store, partition=part.tp.partition)
            log.info("event=state-caught-up partition=%d records=%d", part.tp.partition, records)
        except (KafkaError, TimeoutError, OSError) as exc:
            log.warning("event=state-catch-up-incomplete partition=%d error=%r", part.tp.partition, exc)
        finally:
            self.close_store(store)

    def close_store(self, store: JobStates | None) -> None:
        if isinstance(store, PartitionStore) and self.state_dir is not None:
            self.state_dir.close(store)

    def abandon(self) -> None:
        """Shutdown ran out of time: cancel every keeper and job left (the next owner redoes them)."""
        for keeper in self.keepers.values():
            if keeper.task is not None:
                keeper.task.cancel()
        for part in self.owned.values():
            for task in part.tasks:
                task.cancel()

    # --- steady state ---------------------------------------------------------------------------
    def inflight(self) -> int:
        return sum(len(p.tasks) for p in self.owned.values())

    def intake_room(self) -> int:
        """How many more jobs this process may take now (`intake_room`)."""
        return intake_room(self.inflight(), self.ctx.finishing.count, self.cfg)

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
        hold_all = self.intake_room() <= 0 or time.monotonic() < self.paused_until_s
        assigned = self.consumer.assignment()
        pause = {tp for tp in assigned if hold_all or not (tp in self.owned and self.owned[tp].ready)}
        self.consumer.pause(*pause)
        self.consumer.resume(*(assigned - pause))
