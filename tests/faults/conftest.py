"""Fixtures of the fault suite: a private 3-broker cluster, proxies in front of it, process pools."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AsyncExitStack
from pathlib import Path

import pytest

from producer.commands import topics
from schemas import KafkaSettings, TopologyError
from tests.faults.harness import Cluster, ProcessPool, TcpProxy
from tests.faults.harness.waiting import poll_until
from tests.faults.scenario import RESULTS

CLUSTER_REPLICATION = 3


@pytest.fixture(scope="session")
def fault_cluster() -> Iterator[Cluster]:
    """Three brokers in /tmp/faults-kafka (never the shared broker); stopped at the end of the session."""
    cluster = Cluster()
    cluster.start(proxied=cluster.supports_proxy)
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def cluster_settings(fault_cluster: Cluster, unique_name: Callable[[str], str]) -> KafkaSettings:
    """Fresh topic names and group on the fault cluster, direct (not proxied) bootstrap."""
    return KafkaSettings(
        bootstrap_servers=fault_cluster.bootstrap,
        jobs_topic=unique_name("jobs"),
        state_topic=unique_name("state"),
        dlq_topic=unique_name("dlq"),
        group_id=unique_name("group"),
    )


@pytest.fixture
async def cluster_topics(cluster_settings: KafkaSettings) -> KafkaSettings:
    """This test's topics on the fault cluster: 6 partitions, replication 3 (min ISR 2 by broker default)."""

    async def ensured() -> bool:
        # ensure() describes right after creating; on 3 nodes a lagging node's metadata may not list the
        # new topics yet (TopologyError "does not exist"). ensure() is idempotent, so ask again.
        try:
            await topics.ensure(cluster_settings, partitions=6, replication=CLUSTER_REPLICATION)
        except TopologyError as exc:
            if "does not exist" not in str(exc):
                raise
            return False
        return True

    await poll_until(ensured, timeout_s=30, interval_s=0.5, what="topics visible on every node")
    return cluster_settings


@pytest.fixture
async def proxies(fault_cluster: Cluster) -> AsyncIterator[dict[int, TcpProxy]]:
    """One TCP proxy per node on its advertised client port; clients use `fault_cluster.proxied_bootstrap`."""
    if not fault_cluster.supports_proxy:
        pytest.skip("scripts/kafka-local has no --proxied-listener yet (diff in docs/RELIABILITY.md)")
    async with AsyncExitStack() as stack:
        running = {}
        for node, (client_port, advertised_port) in fault_cluster.proxy_routes().items():
            proxy = TcpProxy(("127.0.0.1", client_port), listen_port=advertised_port)
            running[node] = await stack.enter_async_context(proxy)
        yield running


@pytest.fixture
async def pool(tmp_path: Path) -> AsyncIterator[ProcessPool]:
    """Every process a scenario starts; logs under the test's tmp dir."""
    async with ProcessPool(tmp_path / "logs") as processes:
        yield processes


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print the session's scenario rows as the markdown table docs/RELIABILITY.md holds."""
    if not RESULTS:
        return
    terminalreporter.section("fault scenarios (docs/RELIABILITY.md)")
    terminalreporter.write_line(TABLE_HEAD)
    for o in RESULTS:
        bad = sum(o.violations.values())
        recover = "-" if o.recover_s is None else f"{o.recover_s}"
        cells = [o.scenario, o.guarantee, o.seeded, o.finalized, o.failed, o.pending, o.duplicates]
        opened = "-" if o.open_at_fault is None else o.open_at_fault
        cells += [
            opened,
            o.redownloads,
            recover,
            o.stale_temp_files,
            "ok" if bad == 0 else f"{bad} violations",
        ]
        terminalreporter.write_line("| " + " | ".join(str(c) for c in cells) + " |")


TABLE_HEAD = (
    "| scenario | guarantee | seeded | finalized | failed | pending | duplicates visible | open at fault "
    "| re-downloads | time to recover (s) | stale temp files | audit |\n" + "|---" * 12 + "|"
)
