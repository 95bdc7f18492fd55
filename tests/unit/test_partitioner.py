"""schemas.topics.partition_for_key is Kafka's default partitioner: murmur2 as the Java client computes it."""

from __future__ import annotations

from random import Random

import pytest
from aiokafka.partitioner import murmur2 as aiokafka_murmur2
from hypothesis import given
from hypothesis import strategies as st

from schemas.ids import job_id_for_work
from schemas.topics import murmur2, murmur2_many, partition_for_key, partitions_for_keys

# Signed results of org.apache.kafka.common.utils.Utils.murmur2: Kafka's UtilsTest, and one per tail
# length (0 to 3 bytes after the last 4-byte word).
KAFKA_VECTORS = {
    b"21": -973932308,
    b"foobar": -790332482,
    b"a-little-bit-long-string": -985981536,
    b"a-little-bit-longer-string": -1486304829,
    b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
    b"abc": 479470107,
    b"1": -1993445489,
    b"12": 126087238,
    b"123": -267702483,
    b"1234": -1614185708,
    b"12345": -1188365604,
}


@pytest.mark.parametrize(("data", "signed"), KAFKA_VECTORS.items())
def test_murmur2_matches_kafka_vectors(data: bytes, signed: int) -> None:
    assert murmur2(data) == signed & 0xFFFFFFFF


def test_murmur2_of_nothing() -> None:
    assert murmur2(b"") == aiokafka_murmur2(b"")


@given(st.binary(max_size=300))
def test_murmur2_matches_aiokafka(data: bytes) -> None:
    assert murmur2(data) == aiokafka_murmur2(data)


@given(st.text(min_size=1, max_size=40), st.integers(min_value=1, max_value=1000))
def test_partition_of_a_job_id_is_the_default_partitioners(work_id: str, partitions: int) -> None:
    key = job_id_for_work(f"W{work_id}").encode("ascii") if work_id.strip() else b"x"
    assert partition_for_key(key, partitions) == (aiokafka_murmur2(key) & 0x7FFFFFFF) % partitions


@given(st.lists(st.binary(min_size=7, max_size=7), max_size=50))
def test_murmur2_many_of_keys_of_one_length(keys: list[bytes]) -> None:
    assert murmur2_many(keys) == [aiokafka_murmur2(key) for key in keys]


@given(st.integers(min_value=0, max_value=70), st.integers(min_value=2, max_value=40), st.randoms())
def test_murmur2_many_of_every_length(length: int, count: int, rnd: Random) -> None:
    keys = [rnd.randbytes(length) for _ in range(count)]
    keys[0] = b"\xff" * length  # every lane's bits set: a spill into the next lane would show
    assert murmur2_many(keys) == [aiokafka_murmur2(key) for key in keys]


@given(st.lists(st.binary(max_size=70), max_size=20))
def test_murmur2_many_of_mixed_lengths(keys: list[bytes]) -> None:
    assert murmur2_many(keys) == [aiokafka_murmur2(key) for key in keys]


def test_partitions_of_many_job_ids() -> None:
    keys = [job_id_for_work(f"W{n}").encode("ascii") for n in range(1000)]
    assert partitions_for_keys(keys, 6) == [partition_for_key(key, 6) for key in keys]
    assert murmur2_many([]) == [] and murmur2_many([b"abc"]) == [murmur2(b"abc")]
