"""The 3-broker cluster helper and the proxied listener, on a real private cluster.

Proves the tools the broker scenarios rely on: finding a partition's leader and the coordinators,
kill -9 of the leader with writes continuing (replication 3, min ISR 2), restart to a full ISR, and a
proxy cut that stops a client which then recovers when the network heals.
"""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from schemas import KafkaSettings
from tests.faults.harness import Cluster, TcpProxy

pytestmark = pytest.mark.faults


async def _send(bootstrap: str, topic: str, value: bytes, *, timeout_ms: int = 30_000) -> int:
    """Send one record with acks=all; return the partition leader's offset."""
    producer = AIOKafkaProducer(
        **KafkaSettings(bootstrap_servers=bootstrap).client_options(),
        acks="all",
        request_timeout_ms=timeout_ms,
    )
    await producer.start()
    try:
        meta = await producer.send_and_wait(topic, value, partition=0)
    finally:
        await producer.stop()
    return int(meta.offset)


async def test_kill_the_leader_writes_continue_and_node_rejoins(
    fault_cluster: Cluster, cluster_topics: KafkaSettings
) -> None:
    topic = cluster_topics.jobs_topic
    leader = await fault_cluster.leader_of(topic, 0)
    assert leader in (1, 2, 3)
    assert await fault_cluster.group_coordinator(cluster_topics.group_id) in (1, 2, 3)
    assert await fault_cluster.transaction_coordinator("t-faults-probe") in (1, 2, 3)
    await _send(fault_cluster.bootstrap, topic, b"before")

    fault_cluster.kill(leader)
    try:
        offset = await _send(fault_cluster.bootstrap, topic, b"during")  # two replicas left: min ISR met
        new_leader = await fault_cluster.leader_of(topic, 0)
    finally:
        fault_cluster.restart(leader)

    assert offset == 1 and new_leader != leader
    await fault_cluster.wait_full_isr(topic, timeout_s=90)


async def test_proxy_cut_stalls_a_client_until_healed(
    fault_cluster: Cluster, cluster_topics: KafkaSettings, proxies: dict[int, TcpProxy]
) -> None:
    topic = cluster_topics.jobs_topic
    assert await _send(fault_cluster.proxied_bootstrap, topic, b"through the proxy") == 0
    assert sum(p.connections_total for p in proxies.values()) >= 2  # bootstrap, then the leader's proxy

    for proxy in proxies.values():
        proxy.cut()
    with pytest.raises((KafkaError, TimeoutError)):
        async with asyncio.timeout(8):
            await _send(fault_cluster.proxied_bootstrap, topic, b"cut", timeout_ms=3_000)
    for proxy in proxies.values():
        proxy.heal()

    assert await _send(fault_cluster.proxied_bootstrap, topic, b"healed") == 1
