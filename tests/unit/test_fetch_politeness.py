"""Per-host policy lookup: overrides by host or parent domain, defaults otherwise (no I/O beyond tmp_path)."""

from __future__ import annotations

from pathlib import Path

from consumer.fetch.politeness import HostPolicy, Politeness, load_overrides

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
