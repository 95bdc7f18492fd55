"""Wait for a condition outside this process (a child's exit, broker metadata, a log line)."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import Any


async def poll_until(
    probe: Callable[[], Any] | Callable[[], Awaitable[Any]], *, timeout_s: float, interval_s: float, what: str
) -> Any:
    """Call `probe` every `interval_s` until it returns something other than None (or False).

    Polling is the only way to observe other processes and brokers; an Event cannot be set by them.
    Raises TimeoutError naming `what` after `timeout_s`.
    """
    try:
        async with asyncio.timeout(timeout_s):
            while True:
                value = probe()
                if inspect.isawaitable(value):
                    value = await value
                if value is not None and value is not False:
                    return value
                await asyncio.sleep(interval_s)
    except TimeoutError:
        raise TimeoutError(f"{what}: not within {timeout_s}s") from None
