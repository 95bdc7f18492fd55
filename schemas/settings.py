"""Kafka settings shared by every docfetch command (prefix DOCFETCH_); read once, passed down.

Security (DESIGN §6b): TLS and SASL for every client docfetch creates, all from here. Secrets (the SASL
password, the client key's password) come from the environment or from a file, are held as SecretStr
and are never printed: not in errors, not in reprs, not in logs.
"""

from __future__ import annotations

import argparse
import logging
import ssl
from pathlib import Path
from typing import Any, Literal

from aiokafka.helpers import create_ssl_context
from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from schemas.errors import SettingsError
from schemas.topics import DEFAULT_DLQ_TOPIC, DEFAULT_GROUP_ID, DEFAULT_JOBS_TOPIC, DEFAULT_STATE_TOPIC

log = logging.getLogger("docfetch.kafka")

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]
TLS_PROTOCOLS = ("SSL", "SASL_SSL")
SASL_PROTOCOLS = ("SASL_PLAINTEXT", "SASL_SSL")
DEFAULT_BOOTSTRAP = "127.0.0.1:9092"  # a broker on this machine (scripts/kafka-local, make demo)
DEFAULT_KAFKA_PORT = 9092  # what Kafka clients assume when an address has no port
# How long a command waits for the cluster to answer (connect, TLS, SASL, metadata; a new group's
# coordinator). A reachable cluster answers in well under a second; a slow link or a broker still
# starting gets 15 s before the command says why it gave up.
DEFAULT_CONNECT_TIMEOUT_S = 15.0
SECRET_FILES = {"sasl_password_file": "sasl_password", "ssl_key_password_file": "ssl_key_password"}


class KafkaSettings(BaseSettings):
    """Where the cluster is, how to reach it securely, and which topics and group docfetch uses."""

    model_config = SettingsConfigDict(env_prefix="DOCFETCH_", extra="forbid", frozen=True)

    bootstrap_servers: str = Field(default=DEFAULT_BOOTSTRAP, min_length=1)
    jobs_topic: str = Field(default=DEFAULT_JOBS_TOPIC, min_length=1)
    state_topic: str = Field(default=DEFAULT_STATE_TOPIC, min_length=1)
    dlq_topic: str = Field(default=DEFAULT_DLQ_TOPIC, min_length=1)
    group_id: str = Field(default=DEFAULT_GROUP_ID, min_length=1)
    connect_timeout_s: float = Field(default=DEFAULT_CONNECT_TIMEOUT_S, gt=0)
    security_protocol: SecurityProtocol = "PLAINTEXT"
    ssl_ca_file: Path | None = None  # CA bundle the broker certificates chain to (else the system's)
    ssl_cert_file: Path | None = None  # client certificate (PEM), for brokers that check clients
    ssl_key_file: Path | None = None  # its private key (PEM)
    ssl_key_password: SecretStr | None = None
    ssl_key_password_file: Path | None = None
    ssl_check_hostname: bool = True  # the certificate must name the address dialled
    sasl_mechanism: SaslMechanism | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    sasl_password_file: Path | None = None

    @field_validator("bootstrap_servers")
    @classmethod
    def _addresses(cls, value: str) -> str:
        parse_bootstrap(value)
        return value

    @model_validator(mode="before")
    @classmethod
    def _read_secret_files(cls, data: Any) -> Any:
        """DOCFETCH_SASL_PASSWORD_FILE (and the key password's) fill the secret from the file's text."""
        if not isinstance(data, dict):
            return data
        for file_field, secret_field in SECRET_FILES.items():
            path = data.get(file_field)
            if path and not data.get(secret_field):
                data = {**data, secret_field: _read_secret(Path(path), file_field)}
        return data

    @model_validator(mode="after")
    def _consistent(self) -> KafkaSettings:
        sasl = self.security_protocol in SASL_PROTOCOLS
        if sasl:
            missing = [
                n for n in ("sasl_mechanism", "sasl_username", "sasl_password") if not getattr(self, n)
            ]
            if missing:
                names = ", ".join(f"DOCFETCH_{n.upper()}" for n in missing)
                raise ValueError(
                    f"security_protocol {self.security_protocol} needs {names} (password: "
                    "DOCFETCH_SASL_PASSWORD or DOCFETCH_SASL_PASSWORD_FILE)"
                )
        elif self.sasl_mechanism or self.sasl_username:
            raise ValueError(
                f"SASL settings are given but security_protocol is {self.security_protocol}: "
                "set DOCFETCH_SECURITY_PROTOCOL=SASL_SSL (or SASL_PLAINTEXT)"
            )
        tls_files = [n for n in ("ssl_ca_file", "ssl_cert_file", "ssl_key_file") if getattr(self, n)]
        if tls_files and self.security_protocol not in TLS_PROTOCOLS:
            raise ValueError(
                f"DOCFETCH_{tls_files[0].upper()} is given but security_protocol is "
                f"{self.security_protocol}: set DOCFETCH_SECURITY_PROTOCOL=SSL or SASL_SSL"
            )
        return self

    def addresses(self) -> list[tuple[str, int]]:
        """The bootstrap servers as (host, port)."""
        return parse_bootstrap(self.bootstrap_servers)

    def ssl_context(self) -> ssl.SSLContext:
        """The TLS context of SSL and SASL_SSL clients; SettingsError when a file cannot be loaded."""
        password = self.ssl_key_password.get_secret_value() if self.ssl_key_password else None
        try:
            context: ssl.SSLContext = create_ssl_context(
                cafile=self.ssl_ca_file,
                certfile=self.ssl_cert_file,
                keyfile=self.ssl_key_file,
                password=password,
            )
        except (OSError, ssl.SSLError) as exc:
            files = ", ".join(str(p) for p in (self.ssl_ca_file, self.ssl_cert_file, self.ssl_key_file) if p)
            raise SettingsError(
                f"cannot load the TLS files ({files}): {exc.strerror or exc} (check DOCFETCH_SSL_CA_FILE, "
                "DOCFETCH_SSL_CERT_FILE, DOCFETCH_SSL_KEY_FILE and the key password)"
            ) from None
        context.check_hostname = self.ssl_check_hostname
        return context

    def client_options(self) -> dict[str, Any]:
        """The keyword arguments every aiokafka client docfetch creates starts from: the one place for
        the connection (bootstrap servers, security protocol, TLS context, SASL credentials)."""
        options: dict[str, Any] = {
            "bootstrap_servers": self.bootstrap_servers,
            "security_protocol": self.security_protocol,
        }
        if self.security_protocol in TLS_PROTOCOLS:
            options["ssl_context"] = self.ssl_context()
        if self.security_protocol in SASL_PROTOCOLS and self.sasl_password is not None:
            options["sasl_mechanism"] = self.sasl_mechanism
            options["sasl_plain_username"] = self.sasl_username
            options["sasl_plain_password"] = self.sasl_password.get_secret_value()
        return options


def parse_bootstrap(value: str) -> list[tuple[str, int]]:
    """`host[:port][,host[:port]...]` (IPv6 as `[::1]:9092`) -> [(host, port)]; ValueError saying which."""
    out = []
    for entry in (e.strip() for e in value.split(",")):
        if entry.startswith("["):  # [IPv6]:port
            host, _, rest = entry[1:].partition("]")
            port_text = rest.removeprefix(":") if rest else str(DEFAULT_KAFKA_PORT)
        elif entry.count(":") == 1:
            host, port_text = entry.split(":")
        else:  # no port (or a bare IPv6 address): Kafka's default port
            host, port_text = entry, str(DEFAULT_KAFKA_PORT)
        if not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise ValueError(f"bad bootstrap address {entry!r}: expected host:port with a port 1-65535")
        out.append((host, int(port_text)))
    return out


def _read_secret(path: Path, field: str) -> str:
    try:
        return path.read_text().strip()
    except OSError as exc:
        raise ValueError(f"cannot read DOCFETCH_{field.upper()} {path}: {exc.strerror}") from None


# flag dest -> settings field; flags override DOCFETCH_* environment variables.
KAFKA_FLAGS = {
    "bootstrap": "bootstrap_servers",
    "jobs_topic": "jobs_topic",
    "state_topic": "state_topic",
    "dlq_topic": "dlq_topic",
    "group": "group_id",
    "connect_timeout_s": "connect_timeout_s",
    "security_protocol": "security_protocol",
    "ssl_ca_file": "ssl_ca_file",
    "sasl_mechanism": "sasl_mechanism",
    "sasl_username": "sasl_username",
}


def add_kafka_flags(parser: argparse.ArgumentParser) -> None:
    """The Kafka flags every docfetch command takes (producer and consumer alike); secrets have none."""
    group = parser.add_argument_group("kafka (each also a DOCFETCH_ setting)")
    group.add_argument(
        "--bootstrap", help=f"bootstrap servers [DOCFETCH_BOOTSTRAP_SERVERS, {DEFAULT_BOOTSTRAP}]"
    )
    group.add_argument("--jobs-topic", help="jobs topic [DOCFETCH_JOBS_TOPIC, docfetch.jobs]")
    group.add_argument("--state-topic", help="state topic [DOCFETCH_STATE_TOPIC, docfetch.state]")
    group.add_argument("--dlq-topic", help="DLQ topic [DOCFETCH_DLQ_TOPIC, docfetch.dlq]")
    group.add_argument("--group", help="consumer group [DOCFETCH_GROUP_ID, docfetch]")
    group.add_argument(
        "--connect-timeout-s",
        type=float,
        help="how long to wait for the cluster to answer "
        f"[DOCFETCH_CONNECT_TIMEOUT_S, {DEFAULT_CONNECT_TIMEOUT_S:.0f}]",
    )
    sec = parser.add_argument_group(
        "kafka security",
        "Secrets only from the environment or files: DOCFETCH_SASL_PASSWORD[_FILE], "
        "DOCFETCH_SSL_KEY_PASSWORD[_FILE]. Client certificate: DOCFETCH_SSL_CERT_FILE, "
        "DOCFETCH_SSL_KEY_FILE. DOCFETCH_SSL_CHECK_HOSTNAME=false skips the certificate's name check "
        "(docs/OPERATIONS.md).",
    )
    sec.add_argument(
        "--security-protocol",
        choices=["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"],
        help="[DOCFETCH_SECURITY_PROTOCOL, PLAINTEXT]",
    )
    sec.add_argument(
        "--ssl-ca-file", help="CA bundle (PEM) of the broker certificates [DOCFETCH_SSL_CA_FILE]"
    )
    sec.add_argument(
        "--sasl-mechanism",
        choices=["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"],
        help="[DOCFETCH_SASL_MECHANISM]",
    )
    sec.add_argument("--sasl-username", help="[DOCFETCH_SASL_USERNAME]")
    parser.add_argument("--debug", action="store_true", help="print the traceback of an error")


def kafka_settings(args: argparse.Namespace) -> KafkaSettings:
    """Read the environment once and apply the flags given; SettingsError saying what to fix."""
    overrides = {
        field: getattr(args, dest) for dest, field in KAFKA_FLAGS.items() if getattr(args, dest, None)
    }
    try:
        settings = KafkaSettings(**overrides)
    except ValidationError as exc:
        raise SettingsError(first_problem(exc)) from None
    if "bootstrap_servers" not in settings.model_fields_set:
        log.info("no --bootstrap or DOCFETCH_BOOTSTRAP_SERVERS given: trying %s", settings.bootstrap_servers)
    if settings.security_protocol in TLS_PROTOCOLS:
        settings.ssl_context()  # a file that cannot be loaded fails here, before any connection
    return settings


def first_problem(exc: ValidationError, *, whole: str = "Kafka settings") -> str:
    """One line naming the first bad setting and its variable (a check across fields names `whole`)."""
    first = exc.errors()[0]
    msg = str(first["msg"]).removeprefix("Value error, ")
    fields = [str(p) for p in first["loc"] if p != "engine"]  # the engine's settings nest in the consumer's
    if not fields:
        return f"invalid {whole}: {msg}"
    where = ".".join(fields)
    return f"invalid setting {where} (DOCFETCH_{where.upper()}): {msg}"
