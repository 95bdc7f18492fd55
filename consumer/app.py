"""The consumer's main loop: poll, hand messages to their partitions, commit, drain on the way out."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import AbstractAsyncContextManager
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import IllegalStateError, KafkaError

from consumer.assignment import Ownership
from consumer.committer import CLOSE_TIMEOUT_S
from consumer.errors import PartitionUnrecoverable
from consumer.health import Health, serve_http
from consumer.jobs import JobContext
from consumer.looplag import sample_loop_lag
from consumer.metrics import Metrics
from consumer.outcome import Fetcher
from consumer.oversize import size_options, state_record_limit
from consumer.settings import ConsumerSettings, Guarantee
from consumer.statedir import cluster_id, state_dir
from schemas import ClusterError, KafkaSettings, topology
from schemas.kafka import committed_offsets

log = logging.getLogger("docfetch.consumer")

FetcherFactory = Callable[[Metrics], AbstractAsyncContextManager[Fetcher]]
POLL_TIMEOUT_MS = 100  # short, so pauses, stop and idle are noticed quickly; never blocks on work
TICK_S = 1.0  # gauges, health and the idle check
# Shutdown: after the drain timeout, the final flushes get this long (a flush on a healthy broker is a few
# round trips); then the consumer and producers get CLOSE_TIMEOUT_S each to leave. SIGTERM ends the process
# within drain_timeout_s + ~5 s, broker or no broker.
SHUTDOWN_GRACE_S = 2.0


async def run(
    kafka: KafkaSettings, cfg: ConsumerSettings, fetchers: FetcherFactory, *, stop: asyncio.Event
) -> int:
    """Check the topics, join the group and work until `stop` (or idle); drain, then return 0.

    A partition that cannot be re-acquired ends the run with PartitionUnrecoverable's exit code: the
    consumer leaves the group on the way out and a supervisor restarts the process."""
    await topology.check(kafka)
    gave_up: list[PartitionUnrecoverable] = []
    try:
        return await _run(kafka, cfg, fetchers, stop=stop)
    except* PartitionUnrecoverable as group:
        gave_up += [e for e in group.exceptions if isinstance(e, PartitionUnrecoverable)]
    log.error("event=giving-up %s", gave_up[0])
    return gave_up[0].exit_code


async def _run(
    kafka: KafkaSettings, cfg: ConsumerSettings, fetchers: FetcherFactory, *, stop: asyncio.Event
) -> int:
    metrics, limit_bytes, cluster = Metrics(), await state_record_limit(kafka), await cluster_id(kafka)
    async with contextlib.AsyncExitStack() as stack:
        states = stack.enter_context(
            state_dir(cfg.state_root, max_bytes=cfg.state_dir_max_bytes, cache_bytes=cfg.state_cache_bytes,
                      cluster=cluster)
        )  # fmt: skip
        fetcher = await stack.enter_async_context(fetchers(metrics))
        consumer = await stack.enter_async_context(group_consumer(kafka, cfg))
        shared = await stack.enter_async_context(idempotent_producer(kafka, cfg, limit_bytes))
        async with asyncio.TaskGroup() as tg:
            ctx = JobContext(
                fetcher,
                metrics,
                kafka.state_topic,
                owner_id(),
                pause_intake=lambda: own.pause_intake(),
                storage_ready=lambda: own.storage_ready(),
                downloads=asyncio.Semaphore(cfg.concurrency),
            )
            own = Ownership(
                kafka=kafka, cfg=cfg, consumer=consumer, ctx=ctx, tg=tg, shared_producer=shared,
                record_limit_bytes=limit_bytes, state_dir=states,
            )  # fmt: skip
            health = Health(own, cfg)
            await stack.enter_async_context(serve_http(cfg.metrics_port, metrics.registry, health))
            consumer.subscribe([kafka.jobs_topic], listener=own)
            sampling = tg.create_task(sample_loop_lag(metrics.loop_lag))
            await poll_loop(consumer, own, health, cfg, stop)
            await drain(own, cfg)
            sampling.cancel()
    log.info("event=stopped")
    return 0


async def drain(own: Ownership, cfg: ConsumerSettings) -> None:
    """Release every partition (bounded drain, commit what is final), all within drain_timeout_s plus
    SHUTDOWN_GRACE_S whether or not the broker answers; whatever is left then is abandoned."""
    own.stopping = True
    log.info("event=draining partitions=%s", sorted(tp.partition for tp in own.owned))
    try:
        async with asyncio.timeout(cfg.drain_timeout_s + SHUTDOWN_GRACE_S):
            await asyncio.gather(*(own.release(tp) for tp in list(own.owned)))
    except TimeoutError:
        log.warning("event=drain-timeout partitions=%s", sorted(tp.partition for tp in own.owned))
    own.abandon()


async def poll_loop(
    consumer: AIOKafkaConsumer, own: Ownership, health: Health, cfg: ConsumerSettings, stop: asyncio.Event
) -> None:
    """Never blocks on work: jobs run as tasks; at the concurrency limit partitions are paused."""
    last_message_s, next_tick_s = time.monotonic(), 0.0
    while not stop.is_set():
        own.apply_pauses()
        free = max(1, own.intake_room())
        batch = await consumer.getmany(timeout_ms=POLL_TIMEOUT_MS, max_records=free)
        for tp, messages in batch.items():
            part = own.owned.get(tp)
            if part is None or not part.ready:  # paused after this fetch: read it again later
                if tp in consumer.assignment():
                    consumer.seek(tp, messages[0].offset)
                continue
            for msg in messages:
                part.accept(msg, own.ctx, own.kafka.dlq_topic, own.tg)
            last_message_s = time.monotonic()
        if time.monotonic() >= next_tick_s:
            next_tick_s = time.monotonic() + TICK_S
            await health.observe(consumer)
            if await idle_for_long_enough(consumer, own, cfg, last_message_s):
                log.info("event=idle seconds=%.1f", cfg.exit_when_idle_s)
                return


async def idle_for_long_enough(
    consumer: AIOKafkaConsumer, own: Ownership, cfg: ConsumerSettings, last_message_s: float
) -> bool:
    """--exit-when-idle: the GROUP is done, not only this process's partitions. No message here for that
    long, nothing in flight or uncommitted here, and every partition of the jobs topic has the group's
    committed offset at its end (a dead member's partitions count until their new owner finishes them)."""
    if cfg.exit_when_idle_s is None or time.monotonic() - last_message_s < cfg.exit_when_idle_s:
        return False
    if (
        own.epoch == 0
        or own.inflight()
        or not all(p.ready and p.sink and p.sink.settled for p in own.owned.values())
    ):
        return False
    try:
        return await group_done(consumer, own.kafka)
    except (IllegalStateError, KafkaError, ClusterError) as exc:  # a rebalance or the broker: not idle yet
        log.info("event=idle-check-failed error=%r", exc)
        return False


async def group_done(consumer: AIOKafkaConsumer, kafka: KafkaSettings) -> bool:
    """Every partition of the jobs topic has the group's committed offset at its end offset."""
    partitions = consumer.partitions_for_topic(kafka.jobs_topic)
    if not partitions:
        return False
    tps = [TopicPartition(kafka.jobs_topic, p) for p in sorted(partitions)]
    ends = await consumer.end_offsets(tps)
    committed = await committed_offsets(kafka)
    behind = {tp.partition: end for tp, end in ends.items() if (committed.get(tp.partition) or 0) < end}
    if behind:
        log.debug("event=idle-waiting-for-group behind=%s", sorted(behind))
    return not behind


def owner_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@contextlib.asynccontextmanager
async def group_consumer(kafka: KafkaSettings, cfg: ConsumerSettings) -> AsyncIterator[AIOKafkaConsumer]:
    consumer = AIOKafkaConsumer(
        **kafka.client_options(),
        group_id=kafka.group_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
        max_poll_interval_ms=cfg.max_poll_interval_ms,
        session_timeout_ms=cfg.session_timeout_ms,
        heartbeat_interval_ms=cfg.heartbeat_interval_ms,
        group_instance_id=cfg.instance_id,  # static membership: a restart within the session keeps p
    )
    await consumer.start()
    try:
        yield consumer
    finally:
        await _stop_within(consumer.stop(), "consumer")


@contextlib.asynccontextmanager
async def idempotent_producer(
    kafka: KafkaSettings, cfg: ConsumerSettings, limit_bytes: int
) -> AsyncIterator[AIOKafkaProducer | None]:
    """At-least-once shares one idempotent producer; exactly-once makes one per partition instead."""
    if cfg.guarantee is not Guarantee.AT_LEAST_ONCE:
        yield None
        return
    producer = AIOKafkaProducer(
        **kafka.client_options(), **size_options(limit_bytes), enable_idempotence=True, acks="all"
    )
    await producer.start()
    try:
        yield producer
    finally:
        await _stop_within(producer.stop(), "producer")


async def _stop_within(stopping: Coroutine[Any, Any, None], what: str) -> None:
    """Stop a client within CLOSE_TIMEOUT_S: leaving the group or flushing needs a broker that may be gone."""
    try:
        async with asyncio.timeout(CLOSE_TIMEOUT_S):
            await stopping
    except (TimeoutError, KafkaError) as exc:
        log.warning("event=close-abandoned client=%s error=%r", what, exc)
    except asyncio.CancelledError:
        # aiokafka's stop() awaits the fetch tasks it cancels, so their CancelledError escapes it while a
        # fetch waits out a retry backoff; only a cancellation of this task itself goes on up.
        current = asyncio.current_task()
        if current is not None and current.cancelling():
            raise
        log.warning("event=close-abandoned client=%s error=fetch-cancelled", what)
