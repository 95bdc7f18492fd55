"""One assigned partition's life in this process: acquire it, commit it every interval, re-acquire it
when lost.

Acquiring p = a new sink (exactly-once: a new transactional producer, whose init_transactions fences every
earlier producer of p, our own lost one included), restoring state partition p, and seeking the consumer to
the group's committed offset of p. A loss (PartitionLost from a flush: fenced, a failed send, a timeout)
cancels p's jobs and acquires p again with backoff; when that does not succeed within the recovery deadline
the keeper raises PartitionUnrecoverable, which ends the process (it leaves the group, exits non-zero).
Each partition commits on its own loop, so a hung flush delays no other partition's commits.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from aiokafka.errors import KafkaError

from consumer.errors import PartitionLost, PartitionUnrecoverable, StoreFailed
from consumer.offsets import OffsetTracker
from consumer.oversize import Rejected
from consumer.partition import Owned
from consumer.restore import restore
from consumer.statedir import PartitionStore

if TYPE_CHECKING:
    from consumer.assignment import Ownership

log = logging.getLogger("docfetch.consumer")

# AssertionError: see committer.LOST_ERRORS; StoreFailed: p's state store failed twice in one restore
ACQUIRE_ERRORS = (KafkaError, TimeoutError, AssertionError, StoreFailed)
FIRST_RETRY_S = 0.5  # a broker restart or a leader election takes a few seconds; start small, double


class Keeper:
    """Runs as one task per assigned partition, from assignment until `stop()` (revocation)."""

    def __init__(self, own: Ownership, part: Owned, generation: int) -> None:
        self.own, self.part, self.generation = own, part, generation
        self.releasing = False  # revocation started: never acquire again
        self.refresh_limit = False  # re-read max.message.bytes before the next acquisition
        self.task: asyncio.Task[None] | None = None

    def ours(self) -> bool:
        """p is still assigned to us under the generation this keeper was made for."""
        own, part = self.own, self.part
        return (
            not self.releasing
            and own.owned.get(part.tp) is part
            and part.tp in own.consumer.assignment()
            and own.generation() == self.generation
        )

    async def run(self) -> None:
        lost_at: float | None = None
        while await self._acquire():
            if lost_at is not None:
                self.own.ctx.metrics.partitions_recovered.inc()
                log.info("event=partition-recovered partition=%d seconds=%.1f", self.part.tp.partition,
                         asyncio.get_running_loop().time() - lost_at)  # fmt: skip
            await self._commit_until_lost()
            lost_at = asyncio.get_running_loop().time()

    async def stop(self) -> None:
        """End the task between two flushes (a flush cut short could commit offsets without records)."""
        self.releasing = True
        task, sink = self.task, self.part.sink
        if task is None or task.done():
            return
        if sink is None:
            task.cancel()  # acquiring: the sink being built is closed on the way out
        else:
            async with sink.between_flushes():
                task.cancel()
        await asyncio.wait([task])

    # --- acquisition ------------------------------------------------------------------------------
    async def _acquire(self) -> bool:
        """Acquire p with backoff: True once ready, False once p is not ours; raises past the deadline."""
        cfg, loop = self.own.cfg, asyncio.get_running_loop()
        deadline, delay_s = loop.time() + cfg.recovery_deadline_s, FIRST_RETRY_S
        while True:
            async with self.own.init_lock(self.part.tp):  # one initialisation of p at a time
                if not self.ours():
                    return False  # revoked or a new generation: a retry would fence the new owner
                try:
                    return await self._try_acquire(deadline)
                except ACQUIRE_ERRORS as exc:
                    error = exc
            if loop.time() + delay_s > deadline:
                within = f"within {cfg.recovery_deadline_s:.0f}s"
                raise PartitionUnrecoverable(
                    f"partition {self.part.tp.partition} not re-acquired {within}: {error!r}"
                ) from error
            log.warning("event=acquire-retry partition=%d delay_s=%.1f error=%r", self.part.tp.partition,
                        delay_s, error)  # fmt: skip
            await asyncio.sleep(delay_s)
            delay_s = min(delay_s * 2, cfg.retry_cap_s)

    async def _try_acquire(self, deadline: float) -> bool:
        own, part = self.own, self.part
        if self.refresh_limit:  # the broker refused a batch: size the new producer to its limit now
            async with asyncio.timeout(own.cfg.acquire_timeout_s):
                await own.refresh_record_limit()
            self.refresh_limit = False
        async with asyncio.timeout(own.cfg.acquire_timeout_s):
            await self._check_membership()
            sink = await own.new_sink(part)  # exactly-once: init_transactions fences every earlier producer
        try:
            async with asyncio.timeout_at(deadline):
                store, report = await restore(
                    kafka=own.kafka, partition=part.tp.partition, state_dir=own.state_dir
                )
        except BaseException:
            await sink.close()
            raise
        try:
            async with asyncio.timeout(own.cfg.acquire_timeout_s):
                committed = await self._seek_to_committed()
        except BaseException:
            own.close_store(store)
            await sink.close()
            raise
        if not self.ours():  # revoked while restoring
            own.close_store(store)
            await sink.close()
            return False
        sink.resume_from(committed)
        part.store, part.sink = store, sink
        own.ctx.metrics.restore.observe(report.seconds)
        log.info(
            "event=restored partition=%d records=%d seconds=%.3f rate_per_s=%.0f undecodable=%d committed=%s "
            "from_offset=%d kind=%s rebuilt=%s",
            report.partition, report.records, report.seconds, report.rate, store.undecodable, committed,
            report.start, "persistent" if isinstance(store, PartitionStore) else "memory", report.rebuilt,
        )  # fmt: skip
        own.apply_pauses()
        return True

    async def _check_membership(self) -> None:
        """Ask the coordinator, not aiokafka's cached view, whether p is still ours before fencing: a
        generation-fenced commit of p's committed offset fails (and resets the cached generation) once a
        rebalance gave p to another member, whose producer a retried init_transactions would fence."""
        consumer, tp = self.own.consumer, self.part.tp
        committed = await consumer.committed(tp)
        if committed is not None:
            await consumer.commit({tp: committed})

    async def _seek_to_committed(self) -> int:
        """Resume p from the group's committed offset (what a lost sink had taken beyond it is redone).

        With nothing committed yet, from the beginning (auto_offset_reset=earliest); that offset is then
        what the sink counts as committed (at-least-once re-commits it to check its generation)."""
        consumer, tp = self.own.consumer, self.part.tp
        committed: int | None = await consumer.committed(tp)
        if committed is not None:
            consumer.seek(tp, committed)
            return committed
        await consumer.seek_to_beginning(tp)
        return int(await consumer.position(tp))

    # --- steady state and loss --------------------------------------------------------------------
    async def _commit_until_lost(self) -> None:
        interval_s = self.own.cfg.commit_interval_s
        while True:
            await asyncio.sleep(interval_s)
            sink = self.part.sink
            assert sink is not None
            try:
                await sink.flush()
            except PartitionLost as exc:
                await self._lose(exc)
                return

    async def _lose(self, exc: PartitionLost) -> None:
        """Cancel p's jobs, drop their results, forget what p had taken: the re-acquisition redoes it."""
        part, metrics = self.part, self.own.ctx.metrics
        metrics.partitions_lost.inc()
        metrics.fenced.inc()
        log.warning("event=partition-lost partition=%d %s", part.tp.partition, exc)
        self.refresh_limit = isinstance(exc.__cause__, Rejected)
        for task in part.tasks:
            task.cancel()
        sink, store, part.sink, part.store = part.sink, part.store, None, None
        self.own.close_store(store)  # on disk, as far as its checkpoint says; the re-acquisition reopens it
        if sink is not None:
            sink.fail_pending(exc)
            await sink.close()
        progress_s = part.tracker.last_progress_s  # /healthz judges the stall from the last real progress
        part.tracker, part.tasks, part.chains = OffsetTracker(), set(), {}
        part.tracker.last_progress_s = progress_s
        self.own.apply_pauses()
