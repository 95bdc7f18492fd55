"""What both sides need of a Kafka cluster: an admin client, a topic's partitions, a group's offsets;
and the one-line ClusterError for any aiokafka error that still reaches a command's main()."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaConnectionError, KafkaError

from schemas.connection import probe
from schemas.errors import AuthenticationFailed, BrokerNoAnswer, ClusterError, TopologyError
from schemas.settings import KafkaSettings

T = TypeVar("T")
RETRY_BACKOFF_S = (0.1, 0.2, 0.5, 1.0)  # then 1 s apart: a new group's coordinator takes ~0.1-3 s


@asynccontextmanager
async def admin_client(settings: KafkaSettings) -> AsyncIterator[AIOKafkaAdminClient]:
    """A started admin client, closed on the way out; the cluster is probed first (schemas.connection),
    so an unreachable or refusing cluster fails within connect_timeout_s with the reason."""
    deadline = asyncio.get_running_loop().time() + settings.connect_timeout_s
    await probe(settings)  # within connect_timeout_s; the admin client gets what is left of it
    admin = AIOKafkaAdminClient(**settings.client_options())
    try:
        async with asyncio.timeout_at(deadline):
            await admin.start()
    except TimeoutError:
        await admin.close()
        raise BrokerNoAnswer(
            f"the cluster at {settings.bootstrap_servers} answered the probe but not the admin client within "
            f"{settings.connect_timeout_s:g} s (raise --connect-timeout-s / DOCFETCH_CONNECT_TIMEOUT_S)"
        ) from None
    except BaseException:
        await admin.close()
        raise
    try:
        yield admin
    finally:
        await admin.close()


async def retrying(settings: KafkaSettings, what: str, call: Callable[[], Awaitable[T]]) -> T:
    """`call()`, again while it raises a retriable Kafka error (no coordinator for a new group yet, a
    leader election), for up to connect_timeout_s; then BrokerNoAnswer naming `what` and the error."""
    loop = asyncio.get_running_loop()
    deadline, attempt = loop.time() + settings.connect_timeout_s, 0
    while True:
        try:
            return await call()
        except KafkaError as exc:
            if not exc.retriable:
                raise
            if loop.time() >= deadline:
                raise BrokerNoAnswer(
                    f"{what}: still {type(exc).__name__} after {settings.connect_timeout_s:g} s (is the "
                    "cluster healthy? raise --connect-timeout-s / DOCFETCH_CONNECT_TIMEOUT_S)"
                ) from None
        await asyncio.sleep(
            min(RETRY_BACKOFF_S[min(attempt, len(RETRY_BACKOFF_S) - 1)], deadline - loop.time())
        )
        attempt += 1


async def partitions_of(settings: KafkaSettings, topic: str) -> list[TopicPartition]:
    """The partitions of `topic`; TopologyError when it does not exist."""
    async with admin_client(settings) as admin:
        (meta,) = await admin.describe_topics([topic])
    if meta["error_code"] != 0 or not meta["partitions"]:
        raise TopologyError(f"topic {topic!r} does not exist (run `docfetch-producer topics ensure`)")
    return sorted(TopicPartition(topic, p["partition"]) for p in meta["partitions"])


async def committed_offsets(settings: KafkaSettings) -> dict[int, int | None]:
    """The group's committed offset of every jobs-topic partition (None: nothing committed yet).

    Right after the first `seed` on a cluster the group's coordinator may not be ready yet
    (GroupCoordinatorNotAvailable): retried within connect_timeout_s.
    """
    tps = await partitions_of(settings, settings.jobs_topic)
    async with admin_client(settings) as admin:
        offsets = await retrying(
            settings,
            f"reading the committed offsets of group {settings.group_id!r}",
            lambda: admin.list_consumer_group_offsets(settings.group_id, partitions=tps),
        )
    found = {tp.partition: meta.offset for tp, meta in offsets.items() if meta.offset >= 0}
    return {tp.partition: found.get(tp.partition) for tp in tps}


def as_cluster_error(exc: BaseException) -> ClusterError | None:
    """A one-line ClusterError for an aiokafka error that reached a command's main() (the cluster went
    away mid-command, a broker refused a request); None when `exc` is not one."""
    if isinstance(exc, KafkaConnectionError):
        return BrokerNoAnswer(f"lost the connection to the cluster: {exc}")
    if isinstance(exc, KafkaError) and "Authorization" in type(exc).__name__:
        return AuthenticationFailed(
            f"the cluster refused this user a request ({type(exc).__name__}): grant the ACLs "
            "docs/OPERATIONS.md lists for DOCFETCH_SASL_USERNAME"
        )
    if isinstance(exc, KafkaError):
        return BrokerNoAnswer(f"the cluster refused a request: {type(exc).__name__} {exc}".strip())
    return None


def expected_error(exc: BaseException, known: tuple[type[Exception], ...]) -> Exception | None:
    """The error a command's main() reports in one line: `exc` itself when it is of a `known` tree, the
    known error inside a task group's ExceptionGroup, or an aiokafka error as a ClusterError; None for a
    bug (the traceback is then the report)."""
    if isinstance(exc, BaseExceptionGroup):
        leaves = [expected_error(e, known) for e in exc.exceptions]
        return next((e for e in leaves if e is not None), None)
    if isinstance(exc, known):
        return exc
    return as_cluster_error(exc)
