"""Topic names and the topic-level contract: co-partitioning and a compacted state topic."""

from __future__ import annotations

from collections.abc import Mapping

DEFAULT_JOBS_TOPIC = "docfetch.jobs"
DEFAULT_STATE_TOPIC = "docfetch.state"
DEFAULT_DLQ_TOPIC = "docfetch.dlq"
DEFAULT_GROUP_ID = "docfetch"

STATE_TOPIC_CONFIG: dict[str, str] = {
    "cleanup.policy": "compact",
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


def topology_problems(
    *,
    jobs_topic: str,
    state_topic: str,
    partitions: Mapping[str, int | None],
    state_cleanup_policy: str | None,
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
    return problems
