"""Process-level fault tools: consumer processes, a TCP proxy, a private 3-broker cluster."""

from tests.faults.harness.cluster import Cluster
from tests.faults.harness.process import ConsumerOptions, ManagedProcess, ProcessPool
from tests.faults.harness.proxy import TcpProxy

__all__ = ["Cluster", "ConsumerOptions", "ManagedProcess", "ProcessPool", "TcpProxy"]
