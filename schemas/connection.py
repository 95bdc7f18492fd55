"""Reach the cluster before using it, and say why not in one line: nothing listening, a host that does
not resolve, an address that is not a broker listener, a refused password, an untrusted certificate.

aiokafka's own bootstrap logs each address's failure and then raises "Unable to bootstrap from [...]"
(and waits 40 s on a listener that never answers); `probe` makes the same first exchange itself
(connect, TLS, SASL, a Metadata request) within `connect_timeout_s` and turns the first reason into a
ClusterError whose class gives the exit code (schemas.errors).
"""

from __future__ import annotations

import asyncio
import socket
import ssl

from aiokafka.conn import create_conn
from aiokafka.errors import (
    IncompatibleBrokerVersion,
    KafkaConnectionError,
    KafkaError,
    SaslAuthenticationFailed,
    UnsupportedSaslMechanismError,
)
from aiokafka.protocol.metadata import MetadataRequest

from schemas.errors import AuthenticationFailed, BrokerNoAnswer, BrokerUnreachable, ClusterError, TLSFailed
from schemas.settings import KafkaSettings

# When every address fails, the most telling reason wins: a refused password or certificate says more
# than "nothing listening" on a second address.
PRIORITY = (AuthenticationFailed, TLSFailed, BrokerNoAnswer, BrokerUnreachable)


async def probe(settings: KafkaSettings) -> None:
    """Return once one bootstrap address answers a Metadata request; else raise the telling ClusterError.

    All addresses are tried at once, so one hung address cannot use up the timeout of the others.
    """
    addresses = settings.addresses()
    failures: dict[str, ClusterError] = {}  # "host:port" -> why it failed
    try:
        async with asyncio.timeout(settings.connect_timeout_s), asyncio.TaskGroup() as tg:
            attempts = [tg.create_task(_attempt(settings, host, port)) for host, port in addresses]
            for finished in asyncio.as_completed(attempts):
                at, failure = await finished
                if failure is None:
                    for attempt in attempts:
                        attempt.cancel()
                    return
                failures[at] = failure
    except TimeoutError:
        silent = [f"{h}:{p}" for h, p in addresses if f"{h}:{p}" not in failures]
        failures[",".join(silent)] = BrokerNoAnswer(
            f"no answer from {', '.join(silent)} within {settings.connect_timeout_s:g} s: is it a Kafka "
            f"broker listener for security_protocol {settings.security_protocol}? (a slow cluster: "
            "raise --connect-timeout-s / DOCFETCH_CONNECT_TIMEOUT_S)"
        )
    raise _most_telling(list(failures.values()), len(addresses))


def _most_telling(failures: list[ClusterError], count: int) -> ClusterError:
    best = min(failures, key=lambda f: next(i for i, k in enumerate(PRIORITY) if isinstance(f, k)))
    if count > 1:
        return type(best)(f"{best} (all {count} bootstrap addresses failed)")
    return best


async def _attempt(settings: KafkaSettings, host: str, port: int) -> tuple[str, ClusterError | None]:
    """One address ("host:port") and None when it answered Metadata, else what went wrong there."""
    options = settings.client_options()
    options.pop("bootstrap_servers")
    conn = None
    try:
        conn = await create_conn(
            host, port, request_timeout_ms=int(settings.connect_timeout_s * 1000), **options
        )
        await conn.send(MetadataRequest([]))
        return f"{host}:{port}", None
    except (OSError, KafkaError, TimeoutError) as exc:
        return f"{host}:{port}", classify(exc, host, port, settings)
    finally:
        if conn is not None:
            conn.close()


def classify(exc: BaseException, host: str, port: int, settings: KafkaSettings) -> ClusterError:
    """The ClusterError (and so the exit code) for what one connection attempt raised."""
    at = f"{host}:{port}"
    error = _tls_error(exc, at) or _socket_error(exc, host, at) or _kafka_error(exc, at, settings)
    return error or BrokerUnreachable(f"cannot connect to {at}: {_reason(exc)}")


def _tls_error(exc: BaseException, at: str) -> ClusterError | None:
    if isinstance(exc, ssl.SSLCertVerificationError):
        fix = (
            "use a name the certificate holds in --bootstrap (or DOCFETCH_SSL_CHECK_HOSTNAME=false)"
            if "mismatch" in str(exc.verify_message)
            else "set DOCFETCH_SSL_CA_FILE to the CA that signed it"
        )
        return TLSFailed(f"the certificate of {at} is not trusted ({exc.verify_message}): {fix}")
    if isinstance(exc, ssl.SSLError):
        return TLSFailed(
            f"TLS handshake with {at} failed ({exc.reason or exc}): is it a TLS listener, "
            "and does it accept this client?"
        )
    return None


def _socket_error(exc: BaseException, host: str, at: str) -> ClusterError | None:
    if isinstance(exc, socket.gaierror):
        return BrokerUnreachable(
            f"cannot resolve host {host!r} ({exc.strerror}): check --bootstrap / DOCFETCH_BOOTSTRAP_SERVERS"
        )
    if isinstance(exc, ConnectionRefusedError):
        return BrokerUnreachable(
            f"nothing listening at {at}: is the broker running, and is this its port? "
            "(check --bootstrap / DOCFETCH_BOOTSTRAP_SERVERS)"
        )
    return None


def _kafka_error(exc: BaseException, at: str, settings: KafkaSettings) -> ClusterError | None:
    protocol = settings.security_protocol
    if isinstance(exc, SaslAuthenticationFailed | UnsupportedSaslMechanismError):
        return AuthenticationFailed(
            f"{at} refused SASL {settings.sasl_mechanism} authentication as {settings.sasl_username!r} "
            f"({_reason(exc)}): check DOCFETCH_SASL_USERNAME, the password (DOCFETCH_SASL_PASSWORD[_FILE]) "
            "and DOCFETCH_SASL_MECHANISM"
        )
    if isinstance(exc, IncompatibleBrokerVersion):
        return BrokerNoAnswer(
            f"{at} answers but is not a broker listener (a KRaft controller port?): use "
            "the broker's client port in --bootstrap"
        )
    if isinstance(exc, KafkaConnectionError | ConnectionError):
        return BrokerNoAnswer(
            f"{at} closed the connection during the handshake: does the listener use "
            f"security_protocol {protocol}? (set DOCFETCH_SECURITY_PROTOCOL)"
        )
    if isinstance(exc, TimeoutError):
        return BrokerNoAnswer(
            f"no answer from {at} within {settings.connect_timeout_s:g} s: is it a Kafka "
            f"broker listener for security_protocol {protocol}?"
        )
    return None


def _reason(exc: BaseException) -> str:
    text = str(exc).strip()
    return text or type(exc).__name__
