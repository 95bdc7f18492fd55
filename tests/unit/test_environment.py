"""The one list of DOCFETCH_ variables: equal to the settings models' fields, holding every name the tree
reads or documents, and refusing any other with the closest known name."""

from __future__ import annotations

import os
import re
from collections import Counter
from pathlib import Path

import pytest

from consumer.fetch.settings import EngineSettings
from consumer.settings import ConsumerSettings
from producer.commands.seedfile import SeedFileSettings
from schemas.environment import KNOWN, SETTINGS, TOOLING, check_environment, setting_names, unknown_variables
from schemas.errors import SettingsError
from schemas.settings import KafkaSettings

REPO = Path(__file__).resolve().parents[2]
MODELS = (KafkaSettings, ConsumerSettings, SeedFileSettings)
NAME = re.compile(r"\bDOCFETCH_[A-Z0-9_]*[A-Z0-9]\b")
# Unknown on purpose: the mistyped setting of the tests and the docs' example.
TYPOS = {"DOCFETCH_CONCURENCY", "DOCFETCH_XYZZY"}
TEXT_SUFFIXES = {".py", ".md", ".yml", ".yaml", ".toml", ".json", ".env", ".sh"}
TEXT_NAMES = {"Makefile", "Dockerfile"}
SKIP_DIRS = {".venv", ".git", ".cache", "build", "dist", "__pycache__", "node_modules"}


def test_the_list_is_the_settings_models_fields() -> None:
    assert set().union(*(setting_names(m) for m in MODELS)) == SETTINGS
    assert setting_names(EngineSettings) <= setting_names(ConsumerSettings)  # nested, same names
    assert not SETTINGS & TOOLING


def test_each_setting_is_defined_once() -> None:
    fields = Counter(name for m in (KafkaSettings, ConsumerSettings, EngineSettings, SeedFileSettings)
                     for name in m.model_fields if name != "engine")  # fmt: skip
    assert [name for name, count in fields.items() if count > 1] == []


def test_every_name_the_tree_reads_or_documents_is_known() -> None:
    seen: dict[str, str] = {}
    for path in _text_files():
        for name in NAME.findall(path.read_text(errors="replace")):
            seen.setdefault(name, path.relative_to(REPO).as_posix())
    assert {n: f for n, f in seen.items() if n not in KNOWN | TYPOS} == {}
    assert set(seen) >= TOOLING  # no tool name stays allowed once nothing reads it


def _text_files() -> list[Path]:
    """Sources, docs, scripts and deployment files of the tree."""
    found = []
    for root, dirs, files in os.walk(REPO):
        dirs[:] = [d for d in dirs if d not in SKIP_DIRS]
        for name in files:
            path = Path(root, name)
            if (
                path.suffix in TEXT_SUFFIXES
                or name in {"Makefile", "Dockerfile"}
                or path.parent.name == "scripts"
            ):
                found.append(path)
    return found


def test_a_mistyped_name_is_refused_with_the_closest_known_one() -> None:
    with pytest.raises(SettingsError) as info:
        check_environment({"DOCFETCH_CONCURENCY": "3", "DOCFETCH_STORE": "/s", "HOME": "/root"})
    assert str(info.value) == (
        "unknown setting DOCFETCH_CONCURENCY (did you mean DOCFETCH_CONCURRENCY?): docfetch reads no such "
        "variable (docs/OPERATIONS.md, Settings)"
    )
    assert info.value.exit_code == 2


def test_every_unknown_name_is_named_on_one_line_any_case() -> None:
    env = {"docfetch_concurency": "3", "DOCFETCH_XYZZY": "1", "DOCFETCH_MAX_BYTES": "9"}
    assert unknown_variables(env) == ["DOCFETCH_XYZZY", "docfetch_concurency"]
    with pytest.raises(SettingsError) as info:
        check_environment(env)
    assert "\n" not in str(info.value)
    assert "DOCFETCH_XYZZY, docfetch_concurency (did you mean DOCFETCH_CONCURRENCY?)" in str(info.value)


def test_known_settings_and_tool_variables_pass() -> None:
    check_environment({name: "x" for name in KNOWN} | {"KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9092"})


def test_the_engine_settings_are_read_into_the_consumer_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCFETCH_MAX_BYTES", "12345")
    monkeypatch.setenv("DOCFETCH_HTTP_CONNECT_TIMEOUT_S", "4")
    monkeypatch.setenv("DOCFETCH_CONNECT_TIMEOUT_S", "60")  # Kafka's: the engine keeps its own
    cfg = ConsumerSettings()
    assert cfg.engine.max_bytes == 12345 and cfg.engine.http_connect_timeout_s == 4.0
    assert KafkaSettings().connect_timeout_s == 60.0
