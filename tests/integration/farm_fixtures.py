"""Origin-farm fixtures: a fresh farm per test (own port, zeroed counters), real sockets on 127.0.0.x.

Use from a test module with `from tests.integration.farm_fixtures import origin_farm  # noqa: F401`, or
register for every test with `pytest_plugins = ["tests.integration.farm_fixtures"]` in tests/conftest.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from originfarm import Farm


@pytest.fixture
async def origin_farm() -> AsyncIterator[Farm]:
    """A running farm; build URLs with `origin_farm.url("pdfs", "/pdf/20000/a.pdf")`."""
    async with Farm(port=0) as farm:
        yield farm
