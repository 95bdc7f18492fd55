"""Topic names and the topic-level contract: co-partitioning and a compacted state topic."""

from __future__ import annotations

import struct
from collections.abc import Mapping

DEFAULT_JOBS_TOPIC = "docfetch.jobs"
DEFAULT_STATE_TOPIC = "docfetch.state"
DEFAULT_DLQ_TOPIC = "docfetch.dlq"
DEFAULT_GROUP_ID = "docfetch"

# docfetch's bound on one encoded state record (DESIGN §2): schemas.codec.encode_state drops hops and the
# detail to stay below it. A record's hops and texts are clipped first (schemas.messages), so real records
# are a few KiB; the bound only matters for hostile origins.
MAX_STATE_RECORD_BYTES = 256 * 1024
# What a record batch adds around one record: batch header (61 bytes), record header, key (the 64-char job
# id), varints. A state topic must accept a batch holding one record of the full bound.
RECORD_OVERHEAD_BYTES = 1024
STATE_TOPIC_MIN_MESSAGE_BYTES = MAX_STATE_RECORD_BYTES + RECORD_OVERHEAD_BYTES
DEFAULT_STATE_MAX_MESSAGE_BYTES = 1024 * 1024

STATE_TOPIC_CONFIG: dict[str, str] = {
    "cleanup.policy": "compact",
    # Kafka's default (1 MiB), set explicitly: the topology check refuses a state topic below
    # STATE_TOPIC_MIN_MESSAGE_BYTES, so a cluster-wide lower default cannot lose records.
    "max.message.bytes": str(DEFAULT_STATE_MAX_MESSAGE_BYTES),
    # A record stays uncompacted for at least an hour so downstream readers polling the state
    # topic see every FINALIZED record, not only the latest per job.
    "min.compaction.lag.ms": str(60 * 60 * 1000),
    # Tombstones (operator deletes) stay readable for a day so restoring consumers see them.
    "delete.retention.ms": str(24 * 60 * 60 * 1000),
}
JOBS_TOPIC_CONFIG: dict[str, str] = {"cleanup.policy": "delete"}
DLQ_TOPIC_CONFIG: dict[str, str] = {
    "cleanup.policy": "delete",
    "retention.ms": str(30 * 24 * 60 * 60 * 1000),  # a month to look at poison by hand
}

# Headers on a DLQ message; its key and value are the original raw bytes.
DLQ_REASON = "docfetch-reason"
DLQ_DETAIL = "docfetch-detail"
DLQ_TOPIC = "docfetch-source-topic"
DLQ_PARTITION = "docfetch-source-partition"
DLQ_OFFSET = "docfetch-source-offset"

# DLQ reasons besides the decoding ones of schemas.codec (undecodable, unknown-version, schema-violation).
KEY_MISMATCH = "key-mismatch"  # the message's key is not its job id
WRONG_PARTITION = "wrong-partition"  # the key hashes to another partition than the one the message is on
INTERNAL_ERROR = "internal-error"  # the job raised and not even its FAILED record could be written


def partition_for_key(key: bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner (murmur2, as the Java client) puts `key` on."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions


def partitions_for_keys(keys: list[bytes], partitions: int) -> list[int]:
    """`[partition_for_key(key, partitions) for key in keys]`, at a tenth of the cost for many keys."""
    return [(hashed & 0x7FFFFFFF) % partitions for hashed in murmur2_many(keys)]


_MURMUR_SEED = 0x9747B28C
_MURMUR_M = 0x5BD1E995
_U32 = 0xFFFFFFFF


def murmur2(data: bytes) -> int:
    """Kafka's murmur2 (org.apache.kafka.common.utils.Utils.murmur2) as an unsigned 32-bit int.

    Same results as aiokafka's (tests/unit/test_partitioner.py, with Kafka's own test vectors), at a
    third of its cost: the 4-byte words are unpacked at once, and a mask follows only the products (a
    shift or xor of 32-bit values stays within 32 bits). It runs once per seeded job."""
    length = len(data)
    words = length >> 2
    m, h = _MURMUR_M, _MURMUR_SEED ^ length
    for k in struct.unpack_from(f"<{words}I", data):
        k = (k * m) & _U32
        k = ((k ^ (k >> 24)) * m) & _U32
        h = ((h * m) & _U32) ^ k
    tail = data[words << 2 :]
    if tail:
        for i in range(len(tail) - 1, -1, -1):
            h ^= tail[i] << (8 * i)
        h = (h * m) & _U32
    h = ((h ^ (h >> 13)) * m) & _U32
    return h ^ (h >> 15)


def topology_problems(
    *,
    jobs_topic: str,
    state_topic: str,
    partitions: Mapping[str, int | None],
    state_cleanup_policy: str | None,
    state_max_message_bytes: int | None = None,
) -> list[str]:
    """What is wrong with the existing topics, in words an operator can act on; empty when fine."""
    problems = [f"topic {name!r} does not exist" for name, n in partitions.items() if n is None]
    jobs, state = partitions.get(jobs_topic), partitions.get(state_topic)
    if jobs is not None and state is not None and jobs != state:
        problems.append(
            f"state topic {state_topic!r} has {state} partitions but jobs topic {jobs_topic!r} has {jobs}; "
            "they must be equal (co-partitioning). Recreate the state topic with "
            f"{jobs} partitions or point DOCFETCH_STATE_TOPIC at one that matches."
        )
    if state is not None and "compact" not in (state_cleanup_policy or "").split(","):
        problems.append(
            f"state topic {state_topic!r} has cleanup.policy={state_cleanup_policy!r}; it must be "
            "'compact' (kafka-configs --alter --add-config cleanup.policy=compact)"
        )
    limit = state_max_message_bytes
    if state is not None and limit is not None and limit < STATE_TOPIC_MIN_MESSAGE_BYTES:
        problems.append(
            f"state topic {state_topic!r} has max.message.bytes={limit}; docfetch writes state records of "
            f"up to {MAX_STATE_RECORD_BYTES} bytes and needs at least {STATE_TOPIC_MIN_MESSAGE_BYTES} "
            f"(kafka-configs --alter --add-config max.message.bytes={DEFAULT_STATE_MAX_MESSAGE_BYTES})"
        )
    return problems


_LANE_BYTES = 8  # one 32-bit value per 64-bit lane: a lane times _MURMUR_M (< 2**31) stays below 2**63


def murmur2_many(keys: list[bytes]) -> list[int]:
    """`[murmur2(key) for key in keys]`, all at once when the keys have one length (job ids do).

    SIMD within Python integers: the i-th key's state lives in bits 64*i to 64*i+31 of one big int, so each
    step of murmur2 is a few big-int operations for every key together. A product of a lane and the
    32-bit multiplier fits in its 64 bits, and the lanes are masked back to 32 bits before every
    multiplication, so no lane spills into the next."""
    count = len(keys)
    length = len(keys[0]) if keys else 0
    if count < 2 or any(len(key) != length for key in keys):
        return [murmur2(key) for key in keys]
    data, size = b"".join(keys), _LANE_BYTES * count
    lanes = int.from_bytes(b"\xff\xff\xff\xff\0\0\0\0" * count, "little")
    m, h = _MURMUR_M, (_MURMUR_SEED ^ length) * int.from_bytes(b"\1\0\0\0\0\0\0\0" * count, "little")
    column = bytearray(size)  # bytes 4 to 7 of every lane stay 0
    for start in range(0, length - 3, 4):  # word by word: that word of every key, in its lane
        for byte in range(4):
            column[byte::_LANE_BYTES] = data[start + byte :: length]
        k = (int.from_bytes(column, "little") * m) & lanes
        k = (((k ^ (k >> 24)) & lanes) * m) & lanes
        h = ((h * m) & lanes) ^ k
    if tail := length & 3:
        column = bytearray(size)
        for byte in range(tail):
            column[byte::_LANE_BYTES] = data[length - tail + byte :: length]
        h = ((h ^ int.from_bytes(column, "little")) * m) & lanes
    h = (((h ^ (h >> 13)) & lanes) * m) & lanes
    h = (h ^ (h >> 15)) & lanes
    return list(struct.unpack(f"<{2 * count}I", h.to_bytes(size, "little"))[::2])
