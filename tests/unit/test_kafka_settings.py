"""KafkaSettings: bootstrap parsing, secrets from files, refused combinations, the client kwargs."""

from __future__ import annotations

import argparse
import ssl
from pathlib import Path

import pytest

from schemas.errors import SettingsError
from schemas.settings import KafkaSettings, add_kafka_flags, kafka_settings, parse_bootstrap


@pytest.fixture(autouse=True)
def no_docfetch_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in [n for n in os.environ if n.startswith("DOCFETCH_")]:
        monkeypatch.delenv(name)


def parsed(*argv: str) -> KafkaSettings:
    parser = argparse.ArgumentParser()
    add_kafka_flags(parser)
    return kafka_settings(parser.parse_args(list(argv)))


def test_bootstrap_addresses() -> None:
    assert parse_bootstrap("a:1, [::1]:9093,b") == [("a", 1), ("::1", 9093), ("b", 9092)]
    for bad in ("127.0.0.1:abc", "h:0", "h:65536", ":9092", "a,,b"):
        with pytest.raises(ValueError, match="bad bootstrap address"):
            parse_bootstrap(bad)


def test_bad_bootstrap_flag_is_a_settings_error() -> None:
    with pytest.raises(SettingsError, match=r"DOCFETCH_BOOTSTRAP_SERVERS.*'127.0.0.1:abc'"):
        parsed("--bootstrap", "127.0.0.1:abc")


def test_password_from_a_file_is_secret(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = tmp_path / "pw"
    secret.write_text("s3cret-value\n")
    monkeypatch.setenv("DOCFETCH_SASL_PASSWORD_FILE", str(secret))
    settings = parsed(
        "--security-protocol", "SASL_PLAINTEXT", "--sasl-mechanism", "PLAIN", "--sasl-username", "u"
    )
    options = settings.client_options()
    assert options["sasl_plain_password"] == "s3cret-value"  # newline stripped
    assert options["sasl_mechanism"] == "PLAIN" and options["security_protocol"] == "SASL_PLAINTEXT"
    assert "s3cret-value" not in repr(settings) and "s3cret-value" not in str(settings.model_dump())


def test_the_environment_password_wins_over_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCFETCH_SASL_PASSWORD", "from-env")
    monkeypatch.setenv("DOCFETCH_SASL_PASSWORD_FILE", str(tmp_path / "missing"))
    settings = KafkaSettings(
        security_protocol="SASL_PLAINTEXT", sasl_mechanism="SCRAM-SHA-256", sasl_username="u"
    )
    assert settings.client_options()["sasl_plain_password"] == "from-env"


def test_unreadable_password_file_names_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCFETCH_SASL_PASSWORD_FILE", str(tmp_path / "missing"))
    with pytest.raises(SettingsError, match=r"cannot read DOCFETCH_SASL_PASSWORD_FILE .*missing"):
        parsed("--security-protocol", "SASL_SSL", "--sasl-mechanism", "PLAIN", "--sasl-username", "u")


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--security-protocol", "SASL_SSL"], "needs DOCFETCH_SASL_MECHANISM"),
        (["--sasl-mechanism", "PLAIN"], "security_protocol is PLAINTEXT"),
        (
            ["--ssl-ca-file", "/etc/hostname"],
            "DOCFETCH_SSL_CA_FILE is given but security_protocol is PLAINTEXT",
        ),
        (["--security-protocol", "SSL", "--ssl-ca-file", "/nonexistent.pem"], "cannot load the TLS files"),
        (["--connect-timeout-s", "-1"], "connect_timeout_s"),
    ],
)
def test_refused_combinations(argv: list[str], needle: str) -> None:
    with pytest.raises(SettingsError, match=needle):
        parsed(*argv)


def test_plaintext_options_are_only_the_address() -> None:
    assert KafkaSettings(bootstrap_servers="h:1").client_options() == {
        "bootstrap_servers": "h:1",
        "security_protocol": "PLAINTEXT",
    }


def test_tls_context_verifies_and_can_skip_only_the_name(monkeypatch: pytest.MonkeyPatch) -> None:
    context = KafkaSettings(security_protocol="SSL").client_options()["ssl_context"]
    assert context.verify_mode is ssl.CERT_REQUIRED and context.check_hostname
    monkeypatch.setenv("DOCFETCH_SSL_CHECK_HOSTNAME", "false")
    relaxed = KafkaSettings(security_protocol="SSL").ssl_context()
    assert relaxed.verify_mode is ssl.CERT_REQUIRED and not relaxed.check_hostname
