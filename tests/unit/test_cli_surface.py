"""What the two CLIs promise operators: --version, every command in the help, every engine setting in
`docfetch-consumer run --help`, the start-up refusals (placeholder contact, unwritable store)."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import pytest

from consumer import cli as consumer_cli
from consumer.errors import ConfigError
from consumer.fetch import EngineSettings
from consumer.settings import ConsumerSettings
from producer import cli as producer_cli
from schemas.environment import setting_names


@pytest.mark.parametrize(("main", "prog"), [(consumer_cli.main, "docfetch-consumer"),
                                            (producer_cli.main, "docfetch-producer")])  # fmt: skip
def test_version_comes_from_the_package_metadata(
    main: object, prog: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])  # type: ignore[operator]
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"{prog} {importlib.metadata.version('docfetch')}"


def test_producer_help_lists_every_command() -> None:
    text = producer_cli.build_parser().format_help()
    for name in ("topics", "seed", "status", "inspect", "requeue", "export", "hosts", "audit"):
        assert name in text.split("Commands:")[1].split(".")[0], name
        assert f"\n    {name} " in text, name


def test_consumer_run_help_lists_every_setting() -> None:
    parser = consumer_cli.build_parser()
    run = parser._subparsers._group_actions[0].choices["run"]  # type: ignore[union-attr]
    text = run.format_help()
    flagged = {f"DOCFETCH_{name.upper()}" for name in consumer_cli.RUN_FLAGS.values()}
    for name in setting_names(ConsumerSettings) - flagged:  # the engine's nested settings included
        assert name in text, name
    assert "--log-format {text,json}" in text


def test_placeholder_contact_refused_for_real_hosts_only() -> None:
    with pytest.raises(ConfigError, match="DOCFETCH_USER_AGENT"):
        consumer_cli.check_contact(EngineSettings(allow_private_hosts=False))
    consumer_cli.check_contact(EngineSettings(allow_private_hosts=True))  # tests, the demo
    consumer_cli.check_contact(EngineSettings(user_agent="docfetch/0.1 (+mailto:ops@uni.edu)"))


def test_consumer_refuses_to_start_without_a_contact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("DOCFETCH_ALLOW_PRIVATE_HOSTS", "DOCFETCH_USER_AGENT"):
        monkeypatch.delenv(name, raising=False)
    code = consumer_cli.main(["run", "--store", str(tmp_path / "s"), "--bootstrap", "127.0.0.1:1"])
    assert code == ConfigError.exit_code
    err = capsys.readouterr().err
    assert "DOCFETCH_USER_AGENT is the placeholder" in err and "Traceback" not in err


def test_unwritable_store_refuses_to_start_with_path_and_errno(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DOCFETCH_ALLOW_PRIVATE_HOSTS", "true")
    blocker = tmp_path / "a-file"
    blocker.write_bytes(b"x")
    store = blocker / "store"
    code = consumer_cli.main(["run", "--store", str(store), "--bootstrap", "127.0.0.1:1"])
    assert code == ConfigError.exit_code
    err = capsys.readouterr().err.strip()
    assert err == f"docfetch-consumer: error: store {store} is not writable: ENOTDIR (Not a directory)"


def test_writable_store_passes_and_leaves_nothing(tmp_path: Path) -> None:
    consumer_cli.check_store_writable(tmp_path / "new" / "store")
    assert list((tmp_path / "new" / "store").iterdir()) == []
