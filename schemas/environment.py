"""Every DOCFETCH_ environment variable docfetch knows, and the start-up check that refuses any other.

pydantic-settings reads only the variables that name a field, so a mistyped one (DOCFETCH_CONCURENCY)
would be ignored and its default used in silence. Both CLIs refuse to start instead, naming the variable
and the closest known name. One environment often serves both CLIs (and the scripts and test harnesses),
so both check against one list: the fields of every settings model, and the variables read by tools that
are not settings.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping

from pydantic import BaseModel

from schemas.errors import SettingsError

PREFIX = "DOCFETCH_"

# The fields of every settings model, as environment variables (tests/unit/test_environment.py keeps this
# equal to them): schemas.settings.KafkaSettings, consumer.settings.ConsumerSettings with the engine's
# consumer.fetch.settings.EngineSettings nested in it, and producer.commands.seedfile.SeedFileSettings.
SETTINGS = frozenset(
    {
        # KafkaSettings (both CLIs)
        "DOCFETCH_BOOTSTRAP_SERVERS",
        "DOCFETCH_CONNECT_TIMEOUT_S",
        "DOCFETCH_DLQ_TOPIC",
        "DOCFETCH_GROUP_ID",
        "DOCFETCH_JOBS_TOPIC",
        "DOCFETCH_SASL_MECHANISM",
        "DOCFETCH_SASL_PASSWORD",
        "DOCFETCH_SASL_PASSWORD_FILE",
        "DOCFETCH_SASL_USERNAME",
        "DOCFETCH_SECURITY_PROTOCOL",
        "DOCFETCH_SSL_CA_FILE",
        "DOCFETCH_SSL_CERT_FILE",
        "DOCFETCH_SSL_CHECK_HOSTNAME",
        "DOCFETCH_SSL_KEY_FILE",
        "DOCFETCH_SSL_KEY_PASSWORD",
        "DOCFETCH_SSL_KEY_PASSWORD_FILE",
        "DOCFETCH_STATE_TOPIC",
        # ConsumerSettings
        "DOCFETCH_COMMIT_BACKLOG",
        "DOCFETCH_COMMIT_INTERVAL_S",
        "DOCFETCH_CONCURRENCY",
        "DOCFETCH_DRAIN_TIMEOUT_S",
        "DOCFETCH_EVENT_LOOP",
        "DOCFETCH_EXIT_WHEN_IDLE_S",
        "DOCFETCH_GUARANTEE",
        "DOCFETCH_HEARTBEAT_INTERVAL_MS",
        "DOCFETCH_MAX_POLL_INTERVAL_MS",
        "DOCFETCH_METRICS_PORT",
        "DOCFETCH_OUT_OF_GROUP_S",
        "DOCFETCH_RECOVERY_TIMEOUT_S",
        "DOCFETCH_INSTANCE_ID",
        "DOCFETCH_SESSION_TIMEOUT_MS",
        "DOCFETCH_STATE_CACHE_BYTES",
        "DOCFETCH_STATE_DIR",
        "DOCFETCH_STATE_DIR_MAX_BYTES",
        "DOCFETCH_STALL_TIMEOUT_S",
        "DOCFETCH_STORAGE_PAUSE_S",
        "DOCFETCH_STORE",
        "DOCFETCH_TEMP_GRACE_S",
        # EngineSettings (nested in ConsumerSettings)
        "DOCFETCH_ALLOW_PRIVATE_HOSTS",
        "DOCFETCH_BREAKER_COOLDOWN_S",
        "DOCFETCH_BREAKER_FAILURES",
        "DOCFETCH_CRAWL_DELAY_CAP_S",
        "DOCFETCH_DOI_RESOLVER",
        "DOCFETCH_HOST_CONCURRENCY",
        "DOCFETCH_HOST_MIN_INTERVAL_S",
        "DOCFETCH_HOST_OVERRIDES_PATH",
        "DOCFETCH_HTTP2",
        "DOCFETCH_HTTP_CONNECT_TIMEOUT_S",
        "DOCFETCH_HTTP_TRANSPORT",
        "DOCFETCH_JOB_DEADLINE_S",
        "DOCFETCH_MAX_BYTES",
        "DOCFETCH_MAX_HOPS",
        "DOCFETCH_MAX_HTML_BYTES",
        "DOCFETCH_MAX_REDIRECTS",
        "DOCFETCH_PARSE_WORKERS",
        "DOCFETCH_PRIVATE_ALLOWLIST",
        "DOCFETCH_READ_TIMEOUT_S",
        "DOCFETCH_RETRY_AFTER_CAP_S",
        "DOCFETCH_RETRY_ATTEMPTS",
        "DOCFETCH_RETRY_BACKOFF_S",
        "DOCFETCH_ROBOTS_TTL_S",
        "DOCFETCH_USER_AGENT",
        "DOCFETCH_WAYBACK_AVAILABILITY_URL",
        "DOCFETCH_WAYBACK_MAX_LOOKUPS",
        # SeedFileSettings (the producer's seed)
        "DOCFETCH_SEED_MAX_LINE_BYTES",
    }
)
# Read by scripts/kafka-local and the test harnesses (tests/kafka_harness, tests/faults/harness), never by
# a command; allowed so that the environment of a test run or a local cluster may hold them.
TOOLING = frozenset(
    {
        "DOCFETCH_KAFKA_CACHE",
        "DOCFETCH_KAFKA_HEAP",
        "DOCFETCH_KAFKA_RUN_DIR",
        "DOCFETCH_KAFKA_VERSION",
        "DOCFETCH_FAULTS_KAFKA_CACHE",
        "DOCFETCH_FAULTS_KAFKA_HEAP",
        "DOCFETCH_FAULTS_KAFKA_LOCAL",
        "DOCFETCH_TEST_NO_DOCKER",
    }
)
KNOWN = SETTINGS | TOOLING


def setting_names(model: type[BaseModel]) -> set[str]:
    """The environment variables of a settings model's fields; a nested model's fields keep their own."""
    names = set()
    for name, field in model.model_fields.items():
        nested = field.annotation
        if isinstance(nested, type) and issubclass(nested, BaseModel):
            names |= setting_names(nested)
        else:
            names.add(f"{PREFIX}{name.upper()}")
    return names


def unknown_variables(environ: Mapping[str, str]) -> list[str]:
    """The DOCFETCH_ variables of `environ` that no command or tool reads (any case: settings ignore it)."""
    return sorted(n for n in environ if n.upper().startswith(PREFIX) and n.upper() not in KNOWN)


def check_environment(environ: Mapping[str, str] | None = None) -> None:
    """SettingsError in one line naming each unknown DOCFETCH_ variable and the closest known name."""
    unknown = unknown_variables(os.environ if environ is None else environ)
    if unknown:
        named = ", ".join(_with_guess(n) for n in unknown)
        raise SettingsError(
            f"unknown setting {named}: docfetch reads no such variable (docs/OPERATIONS.md, Settings)"
        )


def _with_guess(name: str) -> str:
    """`name`, with the known name closest to it (compared without the prefix all of them share)."""
    rest = {known.removeprefix(PREFIX): known for known in sorted(KNOWN)}
    close = difflib.get_close_matches(name.upper().removeprefix(PREFIX), list(rest), n=1, cutoff=0.6)
    return f"{name} (did you mean {rest[close[0]]}?)" if close else name
