"""Broker and network faults on the private 3-broker cluster (replication 3, min ISR 2).

Two consumers work through slow-ish downloads; mid-run a node is killed (the partition leader, the group
coordinator, a transaction coordinator, or each node in turn), or the network to every broker is cut or
slowed through the TCP proxies. Then the run settles and audit must find nothing.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from schemas import KafkaSettings
from tests.faults.harness import Cluster, ProcessPool, TcpProxy
from tests.faults.harness.origin import Origin
from tests.faults.harness.waiting import poll_until
from tests.faults.scenario import conclude, jobs_for, open_jobs, options, publish, settle, wait_all_terminal

pytestmark = pytest.mark.faults

JOBS = 600
BODY_DELAY_S = 0.25  # 600 jobs x 0.25 s over 2 x 8 slots: about 10 s of downloads, longer than a fault
DOWN_S = 8.0  # how long a node or the network stays down: longer than the 6 s session timeout
Fault = Callable[[], Awaitable[None]]


async def run_scenario(
    name: str, settings: KafkaSettings, tmp_path: Path, fault: Fault, *, consumer_bootstrap: str
) -> None:
    """Seed, start two consumers, inject `fault` once downloads flow, settle, audit, record the row."""
    store = tmp_path / "store"
    consumer_settings = settings.model_copy(update={"bootstrap_servers": consumer_bootstrap})
    async with Origin(body_delay_s=BODY_DELAY_S) as origin, ProcessPool(tmp_path / "logs") as pool:
        jobs = jobs_for(origin, JOBS)
        await publish(settings, list(jobs))
        opts = options(consumer_settings, store)
        running = [pool.consumer(f"c{i}", opts) for i in range(2)]
        await poll_until(
            lambda: origin.total_requests >= JOBS // 6, timeout_s=120, interval_s=0.1, what="downloads"
        )
        open_at_fault = await open_jobs(settings, jobs)
        assert open_at_fault > JOBS // 2, "the fault must hit the middle of the run"
        await fault()
        fault_over = time.monotonic()
        await wait_all_terminal(settings, jobs, timeout_s=240)
        recover_s = time.monotonic() - fault_over
        for proc in running:
            proc.terminate()
            await proc.wait(60)
        await settle(pool, opts, timeout_s=180)
        outcome, _report = await conclude(
            name, settings, store, origin=origin, jobs=jobs, guarantee="exactly-once", recover_s=recover_s,
            open_at_fault=open_at_fault,
        )  # fmt: skip
    assert outcome.violations == dict.fromkeys(outcome.violations, 0), outcome
    assert outcome.finalized == JOBS and outcome.duplicates == 0


def kill_for_a_while(cluster: Cluster, node: Callable[[], Awaitable[int]]) -> Fault:
    async def fault() -> None:
        victim = await node()
        cluster.kill(victim)
        await asyncio.sleep(DOWN_S)
        await asyncio.to_thread(cluster.restart, victim)

    return fault


async def test_kill_partition_leader(
    fault_cluster: Cluster, cluster_topics: KafkaSettings, tmp_path: Path
) -> None:
    leader = kill_for_a_while(fault_cluster, lambda: fault_cluster.leader_of(cluster_topics.jobs_topic, 0))
    await run_scenario("kill -9 of partition leader, restart", cluster_topics, tmp_path, leader,
                       consumer_bootstrap=fault_cluster.bootstrap)  # fmt: skip


async def test_kill_group_coordinator(
    fault_cluster: Cluster, cluster_topics: KafkaSettings, tmp_path: Path
) -> None:
    coordinator = kill_for_a_while(
        fault_cluster, lambda: fault_cluster.group_coordinator(cluster_topics.group_id)
    )
    await run_scenario("kill -9 of group coordinator, restart", cluster_topics, tmp_path, coordinator,
                       consumer_bootstrap=fault_cluster.bootstrap)  # fmt: skip


async def test_kill_transaction_coordinator(
    fault_cluster: Cluster, cluster_topics: KafkaSettings, tmp_path: Path
) -> None:
    # consumer/ownership.py: transactional id "<group>-<jobs topic>-<partition>"
    txn_id = f"{cluster_topics.group_id}-{cluster_topics.jobs_topic}-0"
    coordinator = kill_for_a_while(fault_cluster, lambda: fault_cluster.transaction_coordinator(txn_id))
    await run_scenario("kill -9 of a transaction coordinator, restart", cluster_topics, tmp_path, coordinator,
                       consumer_bootstrap=fault_cluster.bootstrap)  # fmt: skip


async def test_rolling_restart(fault_cluster: Cluster, cluster_topics: KafkaSettings, tmp_path: Path) -> None:
    async def rolling() -> None:
        for node in (1, 2, 3):
            fault_cluster.kill(node)
            await asyncio.sleep(2)
            await asyncio.to_thread(fault_cluster.restart, node)
            await fault_cluster.wait_full_isr(cluster_topics.state_topic, timeout_s=120)

    await run_scenario("rolling restart of 3 brokers (kill -9 each)", cluster_topics, tmp_path, rolling,
                       consumer_bootstrap=fault_cluster.bootstrap)  # fmt: skip


async def test_network_cut_between_consumers_and_brokers(
    fault_cluster: Cluster, cluster_topics: KafkaSettings, proxies: dict[int, TcpProxy], tmp_path: Path
) -> None:
    async def cut() -> None:
        for proxy in proxies.values():
            proxy.cut()
        await asyncio.sleep(DOWN_S)
        for proxy in proxies.values():
            proxy.heal()

    await run_scenario(f"network cut {DOWN_S:.0f}s (all brokers)", cluster_topics, tmp_path, cut,
                       consumer_bootstrap=fault_cluster.proxied_bootstrap)  # fmt: skip


async def test_network_latency(
    fault_cluster: Cluster, cluster_topics: KafkaSettings, proxies: dict[int, TcpProxy], tmp_path: Path
) -> None:
    async def slow() -> None:
        for proxy in proxies.values():
            proxy.set_latency(0.3)
        await asyncio.sleep(DOWN_S)
        for proxy in proxies.values():
            proxy.set_latency(0)

    await run_scenario(f"+300 ms latency for {DOWN_S:.0f}s", cluster_topics, tmp_path, slow,
                       consumer_bootstrap=fault_cluster.proxied_bootstrap)  # fmt: skip
