"""The event-loop lag sampler sees a stall, and the consumer exports it as docfetch_event_loop_lag_seconds."""

from __future__ import annotations

import asyncio
import time

from prometheus_client import generate_latest

from consumer.looplag import sample_loop_lag
from consumer.metrics import Metrics

STALL_S = 0.4


async def test_a_blocking_call_shows_as_lag() -> None:
    samples: list[float] = []
    async with asyncio.TaskGroup() as tg:
        sampler = tg.create_task(sample_loop_lag(samples.append, interval_s=0.05))
        await asyncio.sleep(0.12)
        time.sleep(STALL_S)  # noqa: ASYNC251 (the stall under test: nothing else runs meanwhile)
        await asyncio.sleep(0.12)
        sampler.cancel()
    assert samples, "the sampler recorded nothing"
    assert max(samples) >= STALL_S - 0.1  # the sleep due during the stall woke ~STALL_S late


def test_lag_is_a_histogram_on_the_consumer_registry() -> None:
    metrics = Metrics()
    metrics.loop_lag(2.0)
    text = generate_latest(metrics.registry).decode()
    assert 'docfetch_event_loop_lag_seconds_bucket{le="1.0"} 0.0' in text
    assert 'docfetch_event_loop_lag_seconds_bucket{le="2.5"} 1.0' in text
    assert "docfetch_event_loop_lag_seconds_count 1.0" in text
