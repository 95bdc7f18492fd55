"""Guards on what a job message cannot be trusted with: its key, its partition, fields that break a job.

Consumer processes on the real broker against a loopback origin. Each bad message must end on the DLQ
(or FAILED) with its reason while the process keeps running and every other job finishes; the records
name the group member and generation that wrote them (DESIGN §2).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from consumer.app import run
from consumer.metrics import Metrics
from consumer.outcome import FetchOutcome
from consumer.settings import ConsumerSettings
from producer.statereader import read_state
from schemas import JobMessage, KafkaSettings, State, Status, TopologyError, encode, topology
from schemas.messages import MAX_RECORD_URL_CHARS
from schemas.topicreader import iter_topic
from schemas.topics import DLQ_OFFSET, DLQ_REASON, MAX_STATE_RECORD_BYTES, partition_for_key
from tests.conftest import MakeTopics
from tests.faults.harness.process import ProcessPool
from tests.integration.consumer_harness import (
    BIG_LOCATION_CHARS,
    check_invariants,
    loopback_only,
    make_job,
    options,
    origin,
    seed,
)

PARTITIONS = 3
ATTEMPT_2_64 = 2**64  # decodes as an int; orjson cannot encode it (above 64 bits)
# A broker-assigned member id: the client id, a dash, a UUID.
MEMBER_ID = re.compile(r"^.+-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


async def _send_raw(settings: KafkaSettings, key: bytes, value: bytes, partition: int) -> int:
    """One message on an explicit partition; its offset."""
    producer = AIOKafkaProducer(**settings.client_options(), acks="all")
    await producer.start()
    try:
        meta = await producer.send_and_wait(settings.jobs_topic, value, key=key, partition=partition)
    finally:
        await producer.stop()
    return int(meta.offset)


def _with_attempt(job: JobMessage, attempt: int) -> bytes:
    """The job's bytes with an attempt the encoder could not write (the wire is plain JSON)."""
    raw = encode(job)
    assert b'"attempt":0' in raw
    return raw.replace(b'"attempt":0', f'"attempt":{attempt}'.encode())


async def _dlq(settings: KafkaSettings) -> dict[tuple[int, int], str]:
    """(source partition, source offset) -> reason of every DLQ record."""
    found = {}
    async for rec in iter_topic(settings, settings.dlq_topic):
        headers = dict(rec.headers)
        part = headers["docfetch-source-partition"]
        found[(int(part), int(headers[DLQ_OFFSET]))] = headers[DLQ_REASON].decode()
    return found


async def test_wrong_key_wrong_partition_and_unencodable_attempt_never_stop_the_consumer(
    make_topics: MakeTopics, tmp_path: Path
) -> None:
    settings = await make_topics(partitions=PARTITIONS)
    store = tmp_path / "store"
    async with origin() as farm, ProcessPool(tmp_path / "logs") as pool:
        good = [make_job(farm.url(f"/pdf/g{i}"), work=f"G{i}") for i in range(12)]
        await seed(settings, good[:6])
        stray = make_job(farm.url("/pdf/stray"), work="STRAY")
        home = partition_for_key(stray.job_id.encode(), PARTITIONS)
        other = make_job(farm.url("/pdf/other"), work="OTHER")
        huge = make_job(farm.url("/pdf/huge"), work="HUGE")
        huge_home = partition_for_key(huge.job_id.encode(), PARTITIONS)
        bad = {
            "wrong-partition": ((home + 1) % PARTITIONS, stray.job_id.encode(), encode(stray)),
            "key-mismatch": (home, stray.job_id.encode(), encode(other)),  # other's message, stray's key
            "huge-attempt": (huge_home, huge.job_id.encode(), _with_attempt(huge, ATTEMPT_2_64)),
        }
        offsets = {
            name: (p, await _send_raw(settings, key, value, p)) for name, (p, key, value) in bad.items()
        }
        await seed(settings, good[6:])
        proc = pool.consumer("c0", options(settings, store, exit_when_idle_s=3))
        assert await proc.wait(120) == 0, proc.tail()
    dlq = await _dlq(settings)
    assert dlq[offsets["wrong-partition"]] == "wrong-partition"
    assert dlq[offsets["key-mismatch"]] == "key-mismatch"
    # On a branch whose schema bounds attempt (31 bits) the message is poison; else the job cannot even be
    # recorded FAILED, so it goes to the DLQ as an internal error. Either way nothing else stops.
    assert dlq[offsets["huge-attempt"]] in {"internal-error", "schema-violation"}
    result = await check_invariants(settings, store)
    assert result.violations == []
    assert set(result.finalized_per_job) == {j.job_id for j in good}  # stray, other and huge: none
    await _assert_written_by_group_members(settings)


async def _assert_written_by_group_members(settings: KafkaSettings) -> None:
    """owner is the group member id and epoch the group generation (not host:pid and a local counter)."""
    records = [r for history in (await read_state(settings)).history.values() for r in history]
    assert records and all(MEMBER_ID.match(r.owner) for r in records), {r.owner for r in records}
    assert {r.epoch for r in records} <= {1}  # the first generation of this fresh group: one member


async def test_epoch_is_the_group_generation_across_members(make_topics: MakeTopics, tmp_path: Path) -> None:
    """A second process joining later writes the later generation and its own member id."""
    settings = await make_topics(partitions=1)
    store = tmp_path / "store"
    async with origin() as farm, ProcessPool(tmp_path / "logs") as pool:
        first = [make_job(farm.url(f"/pdf/a{i}"), work=f"A{i}") for i in range(3)]
        await seed(settings, first)
        proc = pool.consumer("first", options(settings, store, exit_when_idle_s=3))
        assert await proc.wait(90) == 0, proc.tail()
        second = [make_job(farm.url(f"/pdf/b{i}"), work=f"B{i}") for i in range(3)]
        await seed(settings, second)
        proc = pool.consumer("second", options(settings, store, exit_when_idle_s=3))
        assert await proc.wait(90) == 0, proc.tail()
    latest = (await read_state(settings)).latest
    owners_a = {latest[j.job_id].owner for j in first}
    owners_b = {latest[j.job_id].owner for j in second}
    assert len(owners_a) == 1 and len(owners_b) == 1 and owners_a != owners_b
    epoch_a = {latest[j.job_id].epoch for j in first}
    epoch_b = {latest[j.job_id].epoch for j in second}
    assert len(epoch_a) == 1 and len(epoch_b) == 1 and min(epoch_b) > max(epoch_a) >= 1


async def test_a_hostile_origins_huge_redirects_still_end_the_job_with_a_bounded_record(
    make_topics: MakeTopics, tmp_path: Path
) -> None:
    """Twenty ~8 KB Location headers (the longest the engine follows; the engine's default 20 requests):
    the FAILED record is written, below docfetch's record bound, its hop URLs clipped."""
    settings = await make_topics(partitions=1)
    store = tmp_path / "store"
    async with origin() as farm, ProcessPool(tmp_path / "logs") as pool:
        hostile = make_job(farm.url("/big-redirect/h/0"), work="HOSTILE")
        await seed(settings, [hostile, make_job(farm.url("/pdf/ok"), work="OK")])
        # Redirects allowed up to the request budget (20 by default), so all twenty hops are big ones.
        opts = loopback_only(options(settings, store, exit_when_idle_s=3), farm, DOCFETCH_MAX_REDIRECTS="40")
        proc = pool.consumer("c0", opts)
        assert await proc.wait(120) == 0, proc.tail()
    big_requests = sum(n for path, n in farm.hits.items() if len(path) > BIG_LOCATION_CHARS)
    assert big_requests >= 19  # the origin really sent the engine through its 8 KB Locations
    sizes = {}
    async for rec in iter_topic(settings, settings.state_topic):
        sizes[rec.key] = len(rec.value or b"")
    latest = (await read_state(settings)).latest[hostile.job_id]
    assert latest.state is State.FAILED, latest.status
    print(f"\nhostile FAILED record: {sizes[hostile.job_id.encode()]} bytes, {len(latest.hops)} hops")
    assert sizes[hostile.job_id.encode()] <= MAX_STATE_RECORD_BYTES
    assert len(latest.hops) + latest.hops_dropped >= 20
    assert all(len(h.url) <= MAX_RECORD_URL_CHARS for h in latest.hops)
    result = await check_invariants(settings, store)
    assert result.violations == [] and result.failed == 1


async def test_topology_check_refuses_a_state_topic_below_the_record_bound(
    kafka_settings: KafkaSettings,
) -> None:
    s = kafka_settings
    admin = AIOKafkaAdminClient(**s.client_options())
    await admin.start()
    try:
        small = {"cleanup.policy": "compact", "max.message.bytes": str(MAX_STATE_RECORD_BYTES // 2)}
        await admin.create_topics(
            [
                NewTopic(s.jobs_topic, 1, 1),
                NewTopic(s.state_topic, 1, 1, topic_configs=small),
                NewTopic(s.dlq_topic, 1, 1),
            ]
        )
    finally:
        await admin.close()
    with pytest.raises(TopologyError, match=f"max.message.bytes={MAX_STATE_RECORD_BYTES // 2}"):
        await topology.check(s)


class SecondJobRaises:
    """A fetcher with a bug: the job of work G1 raises; the others report not-found at once."""

    async def fetch(self, job: JobMessage) -> FetchOutcome:
        if job.work_id == "G1":
            raise RuntimeError("a bug in the fetcher")
        return FetchOutcome(status=Status.NOT_FOUND)


async def test_a_job_that_raises_ends_failed_internal_error(make_topics: MakeTopics, tmp_path: Path) -> None:
    """The consumer app in this process; the raising job is FAILED internal-error (retryable)."""
    settings = await make_topics(partitions=1)
    cfg = ConsumerSettings(
        store=tmp_path / "store", concurrency=2, exit_when_idle_s=2, session_timeout_ms=6000,
        heartbeat_interval_ms=500,
    )  # fmt: skip
    jobs = [make_job(f"http://127.0.0.1:9/g{i}", work=f"G{i}") for i in range(4)]
    await seed(settings, jobs)

    @contextlib.asynccontextmanager
    async def fetchers(metrics: Metrics) -> AsyncIterator[SecondJobRaises]:
        yield SecondJobRaises()

    assert await asyncio.wait_for(run(settings, cfg, fetchers, stop=asyncio.Event()), 90) == 0
    latest = (await read_state(settings)).latest
    statuses = {j.work_id: latest[j.job_id].status for j in jobs}
    assert statuses == {"G0": Status.NOT_FOUND, "G1": Status.INTERNAL_ERROR, "G2": Status.NOT_FOUND,
                        "G3": Status.NOT_FOUND}  # fmt: skip
    assert Status.INTERNAL_ERROR.retryable
    assert "RuntimeError: a bug in the fetcher" in (latest[jobs[1].job_id].detail or "")
