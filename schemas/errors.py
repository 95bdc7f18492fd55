"""The error tree of the contracts package:

    SchemaError                      exit_code: what a command exits with when this error ends it
    ├── PoisonMessage                bytes that can never become a valid message (to the DLQ)
    ├── InvalidURL                   a URL that cannot be canonicalised
    ├── IllegalTransition            a state change the transition table does not allow
    ├── RecordTooLarge               a state record above the bound even without hops and detail
    ├── SettingsError                a setting or flag is invalid (exit 2)
    └── ClusterError                 the cluster or its topics are not as docfetch needs them (exit 3)
        ├── TopologyError            topics missing, not co-partitioned, state topic not compacted (exit 3)
        ├── BrokerUnreachable        nothing listens, or the host does not resolve (exit 4)
        ├── BrokerNoAnswer           an address that does not answer as a broker would (exit 5)
        ├── AuthenticationFailed     SASL refused (exit 6)
        ├── TLSFailed                the TLS handshake failed (exit 7)
        └── ReadStalled              reading a topic to its end made no progress (exit 1)

The exit codes are the EXIT_* constants below (docs/OPERATIONS.md, "Exit codes").
"""

from __future__ import annotations


class SchemaError(Exception):
    """Base of every error raised by `schemas`."""

    exit_code = 1  # what a command exits with when this error ends it


class PoisonMessage(SchemaError):
    """Bytes that can never become a valid message; they go to the DLQ with `reason`.

    reason is one of: ``undecodable``, ``unknown-version``, ``schema-violation``.
    """

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class InvalidURL(SchemaError):
    """A URL that cannot be canonicalised (no http(s) scheme, no host, bad IDNA, bad port)."""


class IllegalTransition(SchemaError):
    """A state change the transition table does not allow."""


class RecordTooLarge(SchemaError):
    """A state record above the bound even without hops and detail (its job's own fields are too long)."""


# Exit codes of both CLIs (documented in docs/OPERATIONS.md, "Exit codes"); each names one kind of fix.
EXIT_FAILED = 1  # the command ran and found a problem (audit violation, unsent jobs, unknown job)
EXIT_SETTINGS = 2  # a flag, setting or input file is wrong
EXIT_TOPOLOGY = 3  # topics missing, not co-partitioned, state topic not compacted
EXIT_UNREACHABLE = 4  # nothing listening at the bootstrap address, or its host does not resolve
EXIT_NO_ANSWER = 5  # the address answers, but not as a Kafka broker would (timeout, controller port,
# other security protocol) or the cluster is not ready within --connect-timeout-s
EXIT_AUTHENTICATION = 6  # SASL authentication failed (user, password, mechanism)
EXIT_TLS = 7  # TLS failed: untrusted or mismatched broker certificate, handshake refused
EXIT_LOCAL_RESOURCE = 8  # a local resource is taken or unusable (metrics port in use)


class ClusterError(SchemaError):
    """The Kafka cluster or its topics are not as docfetch needs them; the message says what to fix."""

    exit_code = EXIT_TOPOLOGY


class TopologyError(ClusterError):
    """Topics are missing, not co-partitioned, or the state topic is not compacted."""


class BrokerUnreachable(ClusterError):
    """Nothing listens at any bootstrap address, or its host name does not resolve."""

    exit_code = EXIT_UNREACHABLE


class BrokerNoAnswer(ClusterError):
    """An address accepts connections but does not answer as a Kafka broker within the connect timeout
    (a KRaft controller port, another security protocol, a hung broker), or a retriable cluster error
    (no group coordinator yet) outlasted it."""

    exit_code = EXIT_NO_ANSWER


class AuthenticationFailed(ClusterError):
    """The broker refused the SASL credentials or the mechanism."""

    exit_code = EXIT_AUTHENTICATION


class TLSFailed(ClusterError):
    """The TLS handshake failed: the broker's certificate is not trusted or does not match its address."""

    exit_code = EXIT_TLS


class ReadStalled(ClusterError):
    """Reading a topic to its end made no progress (the broker lost data or stopped answering)."""

    exit_code = EXIT_FAILED


class SettingsError(SchemaError):
    """A setting or flag is invalid: the command refuses to start."""

    exit_code = EXIT_SETTINGS
