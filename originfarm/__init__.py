"""A local origin farm: simulated scholarly hosts on loopback addresses, for tests, demo and benchmarks."""

from originfarm.farm import Farm
from originfarm.hosts import HOSTS, PRIVATE_ADDRESS
from originfarm.pdfgen import make_pdf
from originfarm.stats import FarmStats, HostStats

__all__ = ["HOSTS", "PRIVATE_ADDRESS", "Farm", "FarmStats", "HostStats", "make_pdf"]
