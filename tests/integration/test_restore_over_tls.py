"""The restore's reader over the SASL_SSL listener, on both event loops the consumer can run on.

Closing a TLS connection while a fetch response is still arriving stalled under uvloop until its TLS
shutdown timed out (30 s): every restore and catch-up that read records left a fetch ahead in flight, so a
revoked partition's catch-up timed out and a re-assigned partition was not re-acquired in time
(tests/integration/test_secure_flow.py exited 4 under DOCFETCH_EVENT_LOOP=uvloop). consumer/rawfetch.py now
lets the fetch ahead finish before it closes, and bounds the close.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
import uvloop
from aiokafka import AIOKafkaProducer

from consumer.restore import restore
from consumer.statestore import StateStore
from producer.commands import topics
from schemas import KafkaSettings, State, encode
from tests.integration.statefix import record
from tests.kafka_harness.secure import SecureCluster

pytestmark = pytest.mark.integration

JOBS = 24
RESTORES = 5
RESTORE_DEADLINE_S = 10.0  # a restore of 24 records takes ~0.1 s; the stall was 30 s

Runner = Callable[[Coroutine[Any, Any, None]], None]
LOOPS: dict[str, Runner] = {"asyncio": asyncio.run, "uvloop": uvloop.run}


async def write(settings: KafkaSettings) -> None:
    """JOBS FINALIZED records in partition 0, in three transactions (markers between them)."""
    producer = AIOKafkaProducer(**settings.client_options(), transactional_id=f"{settings.group_id}-t")
    await producer.start()
    try:
        for chunk in range(3):
            async with producer.transaction():
                for i in range(chunk * 8, chunk * 8 + 8):
                    r = record(f"W{i}", State.FINALIZED)
                    await producer.send(settings.state_topic, encode(r), key=r.job_id.encode(), partition=0)
    finally:
        await producer.stop()


async def restores(settings: KafkaSettings) -> list[float]:
    await topics.ensure(settings, partitions=1, replication=1)
    await write(settings)
    seconds = []
    for _ in range(RESTORES):
        started = time.monotonic()
        async with asyncio.timeout(RESTORE_DEADLINE_S):
            store, report = await restore(kafka=settings, partition=0, state_dir=None)
        seconds.append(time.monotonic() - started)
        assert isinstance(store, StateStore) and report.records == JOBS
        assert store.get(record("W0", State.FINALIZED).job_id) == (State.FINALIZED, 0)
    return seconds


@pytest.mark.parametrize("loop", sorted(LOOPS))
def test_restores_over_sasl_ssl_return_promptly(secure_cluster: SecureCluster, loop: str) -> None:
    seconds: list[float] = []

    async def run() -> None:
        seconds.extend(await restores(secure_cluster.settings()))

    LOOPS[loop](run())
    assert len(seconds) == RESTORES and max(seconds) < RESTORE_DEADLINE_S, seconds
