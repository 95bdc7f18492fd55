"""Issue 10 on the private 3-broker cluster: the state-partition leader unreachable for less than the default
45 s session timeout (no rebalance to hide it), SIGTERM while no broker can be reached, and a partition that
cannot be re-acquired within the recovery deadline.

Each asserts what tests/faults/guarantees.py checks for all: every job terminal, at most one visible
FINALIZED per job attempt, committed offsets never past an unfinished job.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from schemas import KafkaSettings
from tests.faults.guarantees import scenario
from tests.faults.harness import Cluster, TcpProxy
from tests.faults.scenario import open_jobs, terminal_count

pytestmark = pytest.mark.faults

OUTAGE_S = 38.0  # 35-40 s: longer than the flush timeout (30 s), shorter than the session timeout (45 s)
PROGRESS_WINDOW_S = 20.0  # shorter than the flush timeout (30 s): a hung flush has not been given up yet
DEFAULT_SESSION_ARGS = ("--drain-timeout-s", "5")  # the default session (45 s) and heartbeat (3 s)
DRAIN_S = 5.0  # scenario.options' --drain-timeout-s
SIGTERM_GRACE_S = 5.0  # SIGTERM ends the process within the drain timeout plus this, broker or no broker


async def test_state_leader_unreachable_within_the_session_timeout(
    fault_cluster: Cluster, cluster_topics: KafkaSettings, proxies: dict[int, TcpProxy], tmp_path: Path
) -> None:
    """The leader of a state partition (not the group coordinator) stays up for the other brokers (no
    leader election) but does not answer the consumers for OUTAGE_S: its proxy holds every chunk that
    long. Flushes of that partition time out (30 s), it is lost and re-acquired once the leader answers
    again; with the default 45 s session no rebalance happens to hide the loss."""
    name = f"state-partition leader unreachable {OUTAGE_S:.0f}s, 45 s session"
    async with scenario(
        name, cluster_topics, tmp_path, body_delay_s=0.25, extra_args=DEFAULT_SESSION_ARGS,
        consumer_bootstrap=fault_cluster.proxied_bootstrap,
    ) as s:  # fmt: skip
        await s.seed(300, prefix="O")
        consumers = [s.consumer(f"c{i}") for i in range(2)]
        await s.wait_requests(50, timeout_s=120)
        open_at_fault = await open_jobs(cluster_topics, s.jobs)
        victim = await _leader_not_coordinating(fault_cluster, cluster_topics)
        assigned = [c.log_text().count("event=assigned") for c in consumers]
        ids = {j.job_id for j in s.jobs}
        before = await terminal_count(cluster_topics, ids)
        proxies[victim].set_latency(OUTAGE_S)
        await asyncio.sleep(PROGRESS_WINDOW_S)
        # item 5: the other partitions keep committing while the victim's flushes hang
        progressed = await terminal_count(cluster_topics, ids) - before
        print(f"\nterminal in the first {PROGRESS_WINDOW_S:.0f}s of the outage: {progressed}", flush=True)
        await asyncio.sleep(OUTAGE_S - PROGRESS_WINDOW_S)
        proxies[victim].set_latency(0)
        recover_s = await s.all_terminal(timeout_s=240)
        rebalances = [
            c.log_text().count("event=assigned") - n for c, n in zip(consumers, assigned, strict=True)
        ]
        lost = sum(c.log_text().count("event=partition-lost") for c in consumers)
        outcome, _ = await s.finish(recover_s=recover_s, open_at_fault=open_at_fault)
    print(f"\nunreachable leader: node {victim} for {OUTAGE_S:.0f}s; rebalances after it {rebalances}; "
          f"partitions lost {lost}")  # fmt: skip
    assert outcome.finalized == 300
    assert progressed > 0, "a hung flush of one partition held back every partition's commits"


async def _leader_not_coordinating(cluster: Cluster, topics: KafkaSettings) -> int:
    """A node leading a state partition that is not the group's coordinator: held, the coordinator would
    stall every partition's offset commit (and the heartbeats), which is another scenario."""
    coordinator = await cluster.group_coordinator(topics.group_id)
    leaders = [int(p["leader"]) for p in (await cluster.partitions(topics.state_topic)).values()]
    others = [node for node in leaders if node != coordinator]
    assert others, f"every state partition is led by the group coordinator (node {coordinator})"
    return others[0]


async def test_sigterm_with_no_broker_reachable_ends_within_the_drain_timeout(
    fault_cluster: Cluster, cluster_topics: KafkaSettings, proxies: dict[int, TcpProxy], tmp_path: Path
) -> None:
    name = "SIGTERM while no broker is reachable"
    async with scenario(
        name, cluster_topics, tmp_path, body_delay_s=1.0, consumer_bootstrap=fault_cluster.proxied_bootstrap
    ) as s:
        await s.seed(100, prefix="T")
        c = s.consumer("c0")
        await s.wait_requests(8, timeout_s=120)
        for proxy in proxies.values():
            proxy.cut()
        c.terminate()
        started = time.monotonic()
        code = await c.wait(DRAIN_S + SIGTERM_GRACE_S + 30)  # bounded generously; the figure is asserted
        exit_s = time.monotonic() - started
        for proxy in proxies.values():
            proxy.heal()
        outcome, _ = await s.finish(recover_s=exit_s)
    print(f"\nSIGTERM without brokers: exit code {code} after {exit_s:.1f}s")
    assert exit_s <= DRAIN_S + SIGTERM_GRACE_S, exit_s
    assert outcome.finalized == 100


RECOVERY_S = 8.0  # DOCFETCH_RECOVERY_TIMEOUT_S for the next scenario: give up after 8 s without brokers
UNRECOVERABLE_EXIT = 4  # consumer.errors.PartitionUnrecoverable


async def test_partition_not_recoverable_in_time_exits_non_zero(
    fault_cluster: Cluster, cluster_topics: KafkaSettings, proxies: dict[int, TcpProxy], tmp_path: Path
) -> None:
    """No broker for longer than the recovery deadline: the lost partitions are not re-acquired in time, so
    the process leaves the group and exits 4 (a supervisor restarts it) instead of idling forever."""
    name = "no broker for longer than the recovery deadline: exit 4"
    async with scenario(
        name, cluster_topics, tmp_path, body_delay_s=0.5, consumer_bootstrap=fault_cluster.proxied_bootstrap,
        env={"DOCFETCH_RECOVERY_TIMEOUT_S": str(RECOVERY_S)},
    ) as s:  # fmt: skip
        await s.seed(100, prefix="U")
        c = s.consumer("c0")
        await s.wait_requests(8, timeout_s=120)
        for proxy in proxies.values():
            proxy.cut()
        started = time.monotonic()
        code = await c.wait(120)
        exit_s = time.monotonic() - started
        for proxy in proxies.values():
            proxy.heal()
        outcome, _ = await s.finish(recover_s=exit_s)
    print(f"\nno broker: exit code {code} after {exit_s:.1f}s")
    assert code == UNRECOVERABLE_EXIT, c.tail()
    assert "event=giving-up" in c.log_text()
    assert outcome.finalized == 100


SLOW_S = 45.0  # longer than aiokafka's 40 s request timeout: requests to that node fail, not just wait
JOIN_AFTER_S = 0.8  # within the retry delay (old code: 2 s; backoff here: 0.5 s doubling)


async def test_acquisition_retry_after_a_rebalance_never_fences_the_new_owner(
    fault_cluster: Cluster, cluster_topics: KafkaSettings, proxies: dict[int, TcpProxy], tmp_path: Path
) -> None:
    """A reaches the brokers through the proxies; the node leading some state partitions (not A's group
    coordinator) answers A nothing, so A's acquisitions of those partitions fail and are retried. B joins
    (direct, unaffected) right after A's first failure: the rebalance gives B some of them. A's retries
    must check ownership first: a retried init_transactions would fence B, whose partition then stalled."""
    coordinator = await fault_cluster.group_coordinator(cluster_topics.group_id)
    leaders = {p["leader"] for p in (await fault_cluster.partitions(cluster_topics.state_topic)).values()}
    victim = min(int(n) for n in leaders if int(n) != coordinator)
    name = "acquisition error, second consumer joins within the retry delay"
    async with scenario(name, cluster_topics, tmp_path, body_delay_s=0.1) as s:
        await s.seed(120, prefix="R")
        proxied = s.opts.settings.model_copy(update={"bootstrap_servers": fault_cluster.proxied_bootstrap})
        patient = {**s.opts.env, "DOCFETCH_RECOVERY_TIMEOUT_S": "300"}  # A's retries are the point here
        a = s.consumer("a", settings=proxied, env=patient)
        await a.wait_for_log(r"event=http", timeout_s=60)  # topics checked; joining the group next
        proxies[victim].set_latency(SLOW_S)
        # a bootstrap or a restore through the slow node waits out the 40 s request timeout first
        await a.wait_for_log(r"event=(acquire|assign)-retry", timeout_s=150)
        await asyncio.sleep(JOIN_AFTER_S)
        b = s.consumer("b")
        await b.wait_for_log(r"event=restored", timeout_s=60)
        proxies[victim].set_latency(0)
        joined = time.monotonic()
        recover_s = await s.all_terminal(timeout_s=120)
        b_lost = b.log_text().count("event=partition-lost")
        outcome, _ = await s.finish(recover_s=recover_s)
    print(f"\nretry race: A retries {a.log_text().count('-retry')}, B partitions lost {b_lost}, "
          f"all terminal {time.monotonic() - joined:.1f}s after B restored")  # fmt: skip
    assert outcome.finalized == 120
