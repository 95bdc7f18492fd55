"""producer.statereader on the real broker: committed records only, in order, poison listed."""

from __future__ import annotations

from aiokafka import AIOKafkaProducer

from producer.statereader import finalized_job_ids, read_jobs, read_state
from schemas import State, Status, encode
from tests.conftest import MakeTopics
from tests.integration.statefix import job, publish, record


async def test_read_state_history_latest_and_poison(make_topics: MakeTopics) -> None:
    settings = await make_topics(partitions=2)
    planned, failed = record("W1", State.PLANNED), record("W1", State.FAILED, status=Status.TIMEOUT)
    final = record("W2", State.FINALIZED)
    await publish(settings, settings.state_topic, [planned, failed, final, b"not json"])
    aborted = AIOKafkaProducer(**settings.client_options(), transactional_id="t-abort")
    await aborted.start()
    try:
        await aborted.begin_transaction()
        await aborted.send_and_wait(settings.state_topic, encode(record("W3", State.PLANNED)), key=b"x")
        await aborted.abort_transaction()
    finally:
        await aborted.stop()

    snapshot = await read_state(settings)

    assert snapshot.history[planned.job_id] == [planned, failed]
    assert snapshot.latest[final.job_id] == final
    assert record("W3", State.PLANNED).job_id not in snapshot.latest  # aborted: never visible
    assert [reason.split(":")[0] for _p, _o, reason in snapshot.undecodable] == ["undecodable"]
    assert sum(snapshot.end_offsets.values()) >= 4
    assert await finalized_job_ids(settings) == {final.job_id}


async def test_read_jobs_keeps_last_message_and_offsets(make_topics: MakeTopics) -> None:
    settings = await make_topics(partitions=3)
    await publish(settings, settings.jobs_topic, [job("W1"), job("W2"), job("W1", attempt=1)])

    snapshot = await read_jobs(settings)

    assert snapshot.jobs[job("W1").job_id].attempt == 1
    positions = snapshot.offsets[job("W1").job_id]
    assert len(positions) == 2 and positions[0][0] == positions[1][0]  # one partition per job
    assert positions[0][1] < positions[1][1]
    assert set(snapshot.jobs) == {job("W1").job_id, job("W2").job_id}
