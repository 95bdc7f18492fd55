"""Per-host policy lookup: overrides by host or parent domain, defaults otherwise (no I/O beyond tmp_path)."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import pytest

from consumer.fetch import politeness
from consumer.fetch.politeness import HostPolicy, Politeness, Slots, load_overrides

SHIPPED = Path(__file__).resolve().parents[2] / "deploy" / "sample" / "host-overrides.json"
DEFAULT = HostPolicy(concurrency=4, min_interval_s=0.25)


def _politeness(overrides: dict[str, HostPolicy]) -> Politeness:
    return Politeness(default=DEFAULT, overrides=overrides, breaker_failures=5, breaker_cooldown_s=60)


def test_shipped_overrides_hold_arxiv_to_one_request_per_3s() -> None:
    overrides = load_overrides(SHIPPED)
    assert overrides["arxiv.org"] == HostPolicy(concurrency=1, min_interval_s=3.0)


def test_parent_domain_override_applies_to_subdomains() -> None:
    polite = _politeness(load_overrides(SHIPPED))
    assert polite.gate("export.arxiv.org").min_interval_s == 3.0
    assert polite.gate("ARXIV.org").min_interval_s == 3.0
    assert polite.gate("notarxiv.org").min_interval_s == DEFAULT.min_interval_s
    assert polite.gate("127.0.0.11").min_interval_s == DEFAULT.min_interval_s


def test_missing_keys_take_conservative_values(tmp_path: Path) -> None:
    path = tmp_path / "hosts.json"
    path.write_text('{"slow.example": {"min_interval_s": 5}}')
    assert load_overrides(path) == {"slow.example": HostPolicy(concurrency=1, min_interval_s=5.0)}
    assert load_overrides(None) == {}


def test_one_gate_per_host() -> None:
    polite = _politeness({})
    assert polite.gate("a.example") is polite.gate("A.example")
    assert polite.gate("a.example") is not polite.gate("b.example")


def test_group_share_divides_concurrency_and_multiplies_the_interval() -> None:
    polite = _politeness(load_overrides(SHIPPED))
    before = polite.gate("polite.example")  # created before the rebalance
    polite.set_share(1, 3)
    after = polite.gate("arxiv.org")  # created after it
    assert before.min_interval_s == DEFAULT.min_interval_s * 3
    assert after.min_interval_s == 3.0 * 3
    polite.set_share(3, 3)  # a rebalance gave us everything
    assert before.min_interval_s == DEFAULT.min_interval_s and after.min_interval_s == 3.0


def test_crawl_delay_is_the_groups_too() -> None:
    polite = _politeness({})
    polite.set_share(1, 2)
    gate = polite.gate("h.example")
    gate.slow_down(at_least_s=15.0)
    assert gate.min_interval_s == 30.0


@pytest.mark.parametrize(("owned", "total", "limit"), [(1, 3, 1), (2, 3, 2), (3, 3, 4), (0, 3, 1), (1, 8, 1)])
async def test_concurrency_share_is_at_least_one(owned: int, total: int, limit: int) -> None:
    no_interval = HostPolicy(concurrency=DEFAULT.concurrency, min_interval_s=0.0)
    polite = Politeness(default=no_interval, overrides={}, breaker_failures=5, breaker_cooldown_s=60)
    polite.set_share(owned, total)
    gate = polite.gate("h.example")
    held = 0
    async with contextlib.AsyncExitStack() as stack:
        for _ in range(DEFAULT.concurrency):
            try:
                async with asyncio.timeout(0.05):
                    await stack.enter_async_context(gate.slot())
                    held += 1
            except TimeoutError:
                break
    assert held == limit


async def test_a_raised_share_wakes_waiting_requests() -> None:
    slots = Slots(1)
    await slots.acquire()
    waiter = asyncio.ensure_future(slots.acquire())
    await asyncio.sleep(0.01)
    assert not waiter.done()
    slots.set_limit(2)
    await asyncio.wait_for(waiter, 1.0)
    assert slots.used == 2


@pytest.mark.parametrize(("owned", "total"), [(4, 3), (-1, 3), (0, 0)])
def test_bad_shares_are_refused(owned: int, total: int) -> None:
    with pytest.raises(ValueError):
        _politeness({}).set_share(owned, total)


NO_INTERVAL = HostPolicy(concurrency=2, min_interval_s=0.0)


def _bounded(monkeypatch: pytest.MonkeyPatch, limit: int = 3) -> Politeness:
    monkeypatch.setattr(politeness, "MAX_IDLE_GATES", limit)
    return Politeness(default=NO_INTERVAL, overrides={}, breaker_failures=5, breaker_cooldown_s=60)


async def test_idle_gates_of_hosts_met_once_are_dropped(monkeypatch: pytest.MonkeyPatch) -> None:
    polite = _bounded(monkeypatch)
    for n in range(1000):  # a long run meets ever more hosts
        async with polite.gate(f"h{n}.example").slot():
            pass
    assert len(polite) <= 3


async def test_a_gate_in_use_is_never_dropped(monkeypatch: pytest.MonkeyPatch) -> None:
    polite = _bounded(monkeypatch)
    with polite.held("held.example") as held:  # a request between its robots check and its slot
        busy = polite.gate("busy.example")
        deferred = polite.gate("deferred.example")
        deferred.defer(60)  # Retry-After: a fresh gate would forget it
        async with busy.slot():
            for n in range(100):
                async with polite.gate(f"h{n}.example").slot():
                    pass
            assert polite.gate("busy.example") is busy
        assert polite.gate("held.example") is held
        assert polite.gate("deferred.example") is deferred
    assert len(polite) <= 3 + 3


async def test_a_gate_whose_interval_has_not_passed_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(politeness, "MAX_IDLE_GATES", 1)
    polite = Politeness(default=DEFAULT, overrides={}, breaker_failures=5, breaker_cooldown_s=60)
    gate = polite.gate("slow.example")
    async with gate.slot():
        pass  # answered: the next request may start 0.25 s from now
    polite.gate("other.example")
    polite.gate("third.example")
    assert polite.gate("slow.example") is gate
