"""docfetch contracts: job messages, state records, statuses, ids, and what both sides need of Kafka
(settings, topology check, topic reader, committed offsets: schemas.kafka/topology/topicreader).
Imports nothing else of ours."""

from schemas.codec import (
    decode_job,
    decode_state,
    encode,
    peek_state,
    peek_state_attempt,
    peek_state_attempt_bytes,
)
from schemas.errors import (
    ClusterError,
    IllegalTransition,
    InvalidURL,
    PoisonMessage,
    ReadStalled,
    SchemaError,
    TopologyError,
)
from schemas.ids import URL_ID_VERSION, WORK_ID_VERSION, job_id, job_id_for_url, job_id_for_work
from schemas.messages import (
    SCHEMA_VERSION,
    TIER_RANK,
    Candidate,
    Finalized,
    Hop,
    JobMessage,
    StateRecord,
    Tier,
    Wanted,
    tier_rank,
)
from schemas.settings import KafkaSettings
from schemas.status import TRANSITIONS, State, Status, check_transition
from schemas.topics import STATE_TOPIC_CONFIG, topology_problems
from schemas.urls import canonical_url, full_canonical_url

__all__ = [
    "SCHEMA_VERSION",
    "STATE_TOPIC_CONFIG",
    "TIER_RANK",
    "TRANSITIONS",
    "URL_ID_VERSION",
    "WORK_ID_VERSION",
    "Candidate",
    "ClusterError",
    "Finalized",
    "Hop",
    "IllegalTransition",
    "InvalidURL",
    "JobMessage",
    "KafkaSettings",
    "PoisonMessage",
    "ReadStalled",
    "SchemaError",
    "State",
    "StateRecord",
    "Status",
    "Tier",
    "TopologyError",
    "Wanted",
    "canonical_url",
    "check_transition",
    "decode_job",
    "decode_state",
    "encode",
    "full_canonical_url",
    "job_id",
    "job_id_for_url",
    "job_id_for_work",
    "peek_state",
    "peek_state_attempt",
    "peek_state_attempt_bytes",
    "tier_rank",
    "topology_problems",
]
