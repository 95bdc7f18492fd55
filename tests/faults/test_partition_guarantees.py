"""Issue 10 on the session broker: a fenced partition is re-acquired, a refused record ends its job FAILED,
an at-least-once zombie writes nothing after losing its generation.

Each scenario asserts what tests/faults/guarantees.py checks for all: every job terminal, at most one
visible FINALIZED per job attempt, committed offsets never past an unfinished job.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from producer.statereader import read_state
from schemas import STATE_TOPIC_CONFIG, JobMessage, KafkaSettings, State, Status
from tests.conftest import MakeTopics
from tests.faults.guarantees import scenario
from tests.faults.harness.waiting import poll_until
from tests.faults.scenario import jobs_for

pytestmark = pytest.mark.faults

SESSION_S = 6.0  # scenario.options' --session-timeout-ms
STALL_ENV = {"DOCFETCH_STALL_TIMEOUT_S": "2"}  # /healthz judges a stall after 2 s instead of 5 minutes
FENCE_FOR_S = 10.0  # the outside producer fences partition 0 again and again for this long
FENCE_EVERY_S = 1.0  # shorter than one download (BODY_DELAY_S): no job of p0 can finish meanwhile
BODY_DELAY_S = 2.0


async def fence(settings: KafkaSettings, partition: int) -> None:
    """What a second owner does: init_transactions with p's transactional id (consumer/assignment.py)."""
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.bootstrap_servers,
        transactional_id=f"{settings.group_id}-{settings.jobs_topic}-{partition}",
    )
    await producer.start()
    await producer.stop()


@pytest.mark.ci
async def test_externally_fenced_partition_is_recovered(make_topics: MakeTopics, tmp_path: Path) -> None:
    settings = await make_topics(partitions=2)
    name = "partition fenced from outside, re-acquired"
    async with scenario(name, settings, tmp_path, body_delay_s=BODY_DELAY_S, env=STALL_ENV) as s:
        await s.seed(10, prefix="A")
        c = s.consumer("c0")
        await s.all_terminal(timeout_s=90)
        async with s.watching_health("c0") as codes:
            assert codes <= {200}, codes
            await fence(settings, 0)
            await s.seed(10, prefix="B")
            deadline = time.monotonic() + FENCE_FOR_S
            while time.monotonic() < deadline:
                await asyncio.sleep(FENCE_EVERY_S)
                await fence(settings, 0)
            fault_over = time.monotonic()
            recover_s = await s.all_terminal(timeout_s=120)
            await poll_until(lambda: 200 in codes and 503 in codes, timeout_s=30, interval_s=0.5,
                             what="healthz 503 during the stall, 200 after")  # fmt: skip
        lost = await s.metric("c0", "docfetch_partitions_lost_total")
        recovered = await s.metric("c0", "docfetch_partitions_recovered_total")
        assert c.alive, c.tail()
        outcome, _ = await s.finish(recover_s=recover_s)
    print(f"\nfenced: lost {lost:.0f} recovered {recovered:.0f}, all terminal "
          f"{time.monotonic() - fault_over:.1f}s after the last fence")  # fmt: skip
    assert lost >= 1 and recovered >= 1, (lost, recovered)
    assert outcome.finalized == 20


async def shrink_max_message_bytes(settings: KafkaSettings, limit: int) -> None:
    admin = AIOKafkaAdminClient(**settings.client_options())
    await admin.start()
    try:
        configs = {**STATE_TOPIC_CONFIG, "max.message.bytes": str(limit)}  # alter_configs replaces them all
        await admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, settings.state_topic, configs)])
    finally:
        await admin.close()


STATE_LIMIT_BYTES = 2048  # a PLANNED or a plain FINALIZED record is well below; the long-URL job's is not
LONG_URL_PAD = 3000


def with_url(job: JobMessage, url: str) -> JobMessage:
    return job.model_copy(update={"candidates": (job.candidates[0].model_copy(update={"url": url}),)})


@pytest.mark.ci
async def test_state_record_refused_as_too_large_fails_its_job(
    make_topics: MakeTopics, tmp_path: Path
) -> None:
    """The topology check refuses a state topic below docfetch's record bound at start-up, so the limit is
    lowered under a running consumer (an operator's change): its next records are refused by the broker."""
    settings = await make_topics(partitions=2)
    async with scenario("state topic refuses one record (max.message.bytes)", settings, tmp_path) as s:
        s.consumer("c0")

        async def ready() -> bool:
            response = await s.get("c0", "/readyz")
            return response is not None and response.status_code == 200

        await poll_until(ready, timeout_s=60, interval_s=0.5, what="c0 ready")
        await shrink_max_message_bytes(settings, STATE_LIMIT_BYTES)
        jobs = jobs_for(s.origin, 12, prefix="S")
        jobs[0] = with_url(jobs[0], jobs[0].candidates[0].url + "?pad=" + "x" * LONG_URL_PAD)
        await s.publish(jobs)
        recover_s = await s.all_terminal(timeout_s=90)
        latest = (await read_state(settings)).latest[jobs[0].job_id]
        # The settling consumer `finish` starts must pass the topology check again.
        await shrink_max_message_bytes(settings, int(STATE_TOPIC_CONFIG["max.message.bytes"]))
        outcome, _ = await s.finish(recover_s=recover_s)
    assert latest.state is State.FAILED and latest.status is Status.RECORD_TOO_LARGE, latest
    assert outcome.failed == 1 and outcome.finalized == len(jobs) - 1, outcome


async def test_at_least_once_zombie_writes_nothing_after_losing_its_generation(
    make_topics: MakeTopics, tmp_path: Path
) -> None:
    """SIGSTOP a consumer mid-download past the session timeout; the survivor finishes everything; on
    SIGCONT the zombie's late PLANNED/FINALIZED must not land after (and so replace) the survivor's."""
    settings = await make_topics(partitions=6)
    name = "at-least-once zombie (SIGSTOP past session timeout, SIGCONT)"
    async with scenario(name, settings, tmp_path, body_delay_s=SESSION_S / 2, guarantee="at-least-once") as s:
        await s.seed(48, prefix="Z")
        zombie = s.consumer("zombie")
        await s.wait_requests(4)
        zombie.pause()
        s.consumer("survivor")
        await asyncio.sleep(SESSION_S * 1.5)  # the zombie's session expires; the survivor takes all
        zombie.resume()
        recover_s = await s.all_terminal(timeout_s=180)
        await asyncio.sleep(SESSION_S / 2 + 2)  # the zombie's downloads end and it tries to write
        outcome, _ = await s.finish(recover_s=recover_s)
    assert outcome.finalized == 48, outcome  # the latest record of every job is its FINALIZED
