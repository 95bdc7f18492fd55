"""docfetch-consumer: run one member of the docfetch consumer group."""

from __future__ import annotations

import argparse
import asyncio
import errno
import functools
import logging
import os
import signal
import sys
import tempfile
import traceback
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path

from pydantic_settings import BaseSettings

from consumer import joblog
from consumer.app import FetcherFactory, run
from consumer.errors import ConfigError, ConsumerError
from consumer.fetch import Engine, EngineSettings
from consumer.fetch.http import pool_size
from consumer.fetch.politeness import load_overrides
from consumer.metrics import Metrics
from consumer.outcome import Fetcher
from consumer.settings import ConsumerSettings, EventLoop, Guarantee, consumer_settings
from consumer.storage import Store
from schemas import SchemaError
from schemas.environment import check_environment
from schemas.kafka import expected_error
from schemas.settings import add_kafka_flags, kafka_settings
from schemas.version import package_version

# flag dest -> ConsumerSettings field; flags override DOCFETCH_* environment variables.
RUN_FLAGS = {
    "store": "store",
    "concurrency": "concurrency",
    "guarantee": "guarantee",
    "metrics_port": "metrics_port",
    "exit_when_idle": "exit_when_idle_s",
    "drain_timeout_s": "drain_timeout_s",
    "max_poll_interval_ms": "max_poll_interval_ms",
    "session_timeout_ms": "session_timeout_ms",
    "heartbeat_interval_ms": "heartbeat_interval_ms",
    "commit_interval_s": "commit_interval_s",
    "commit_backlog": "commit_backlog",
}


# The engine's shipped contact address: fine on loopback, never sent to real hosts (start-up check).
PLACEHOLDER_CONTACT = "example.org"


def settings_help(model: type[BaseSettings], *, skip: frozenset[str] = frozenset()) -> list[str]:
    """`DOCFETCH_<FIELD> (default)` for every field of a settings model, generated so it stays true."""
    lines = []
    for name, field in model.model_fields.items():
        if name not in skip:
            lines.append(f"  DOCFETCH_{name.upper():<32} {field.default!r}")
    return lines


def run_epilog() -> str:
    flagged = frozenset({*RUN_FLAGS.values(), "engine"})
    return "\n".join(
        ["consumer settings without a flag (environment, prefix DOCFETCH_):",
         *settings_help(ConsumerSettings, skip=flagged),
         "download engine settings (environment):", *settings_help(EngineSettings),
         "With DOCFETCH_ALLOW_PRIVATE_HOSTS off (real hosts) the consumer refuses to start until",
         "DOCFETCH_USER_AGENT names your contact instead of the example.org placeholder."]
    )  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="docfetch-consumer",
        description=__doc__,
        epilog="Exit codes: 0 stopped or idle, 2 bad setting, 3 topics missing or wrong, 4 cluster "
        "unreachable, 5 cluster does not answer as a broker, 6 authentication failed, 7 TLS failed, "
        "8 metrics port unavailable (docs/OPERATIONS.md).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {package_version()}")
    sub = parser.add_subparsers(dest="cmd", required=True)
    run_p = sub.add_parser(
        "run",
        help="join the group and fetch jobs until stopped (SIGTERM drains)",
        epilog=run_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run_p.add_argument("--store", help="artifact store directory [DOCFETCH_STORE, ./store]")
    run_p.add_argument(
        "--concurrency",
        type=int,
        help="downloads in flight (jobs taken before their terminal commit: twice that) "
        "[DOCFETCH_CONCURRENCY, 16]",
    )
    run_p.add_argument("--guarantee", choices=[g.value for g in Guarantee], help="[DOCFETCH_GUARANTEE]")
    run_p.add_argument(
        "--metrics-port", type=int, help="/metrics /healthz /readyz; 0 = off [DOCFETCH_METRICS_PORT]"
    )
    run_p.add_argument(
        "--exit-when-idle",
        type=float,
        metavar="SECONDS",
        help="exit 0 once the group is done (every jobs partition committed to its end, nothing in flight "
        "here) and nothing arrived for that long",
    )
    run_p.add_argument(
        "--drain-timeout-s", type=float, help="revocation/shutdown drain [DOCFETCH_DRAIN_TIMEOUT_S]"
    )
    run_p.add_argument("--max-poll-interval-ms", type=int, help="[DOCFETCH_MAX_POLL_INTERVAL_MS]")
    run_p.add_argument("--session-timeout-ms", type=int, help="[DOCFETCH_SESSION_TIMEOUT_MS]")
    run_p.add_argument("--heartbeat-interval-ms", type=int, help="[DOCFETCH_HEARTBEAT_INTERVAL_MS]")
    run_p.add_argument("--commit-interval-s", type=float, help="[DOCFETCH_COMMIT_INTERVAL_S, 0.1]")
    run_p.add_argument(
        "--commit-backlog",
        type=int,
        help="jobs done or skipped waiting for their commit, at most [DOCFETCH_COMMIT_BACKLOG, 1000]",
    )
    run_p.add_argument("--log-format", choices=joblog.LOG_FORMATS, default="text",
                       help="stderr log lines: text (key=value) or json lines (text)")  # fmt: skip
    add_kafka_flags(run_p)
    return parser


def check_engine(engine_cfg: EngineSettings) -> None:
    """What the engine's settings name must be usable before the start; ConfigError saying what to fix."""
    if engine_cfg.host_overrides_path is not None:
        _check_overrides(engine_cfg.host_overrides_path)
    check_contact(engine_cfg)


def default_fetchers(cfg: ConsumerSettings) -> FetcherFactory:
    """The download engine over the artifact store."""

    def make(metrics: Metrics) -> AbstractAsyncContextManager[Fetcher]:
        store = Store(cfg.store, max_bytes=cfg.engine.max_bytes)
        pool = pool_size(cfg.concurrency)  # every download slot gets a connection
        return Engine(settings=cfg.engine, store=store, observer=metrics, max_connections=pool)

    return make


def _check_overrides(path: Path) -> None:
    """Read the host-overrides file now, so a missing or broken one stops the start with its path."""
    try:
        load_overrides(path)
    except OSError as exc:
        raise ConfigError(f"cannot read DOCFETCH_HOST_OVERRIDES_PATH {path}: {exc.strerror}") from None
    except (ValueError, TypeError, AttributeError) as exc:
        raise ConfigError(
            f'DOCFETCH_HOST_OVERRIDES_PATH {path} is not {{"host": {{"concurrency": N, '
            f'"min_interval_s": S}}}} JSON: {exc}'
        ) from None


def check_contact(engine: EngineSettings) -> None:
    """Real hosts (private hosts disallowed) get a User-Agent with a contact, never the placeholder."""
    if not engine.allow_private_hosts and PLACEHOLDER_CONTACT in engine.user_agent:
        raise ConfigError(
            f"DOCFETCH_USER_AGENT is the placeholder {engine.user_agent!r}: set a contact for the hosts you "
            'fetch from, e.g. DOCFETCH_USER_AGENT="docfetch/0.1 (+mailto:you@your.org)"'
        )


def check_store_writable(store: Path) -> None:
    """Create the store and a probe file in it, or refuse to start naming the path and errno."""
    try:
        store.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=store, prefix=".tmp-probe-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        code = errno.errorcode.get(exc.errno or 0, str(exc.errno))
        raise ConfigError(f"store {store} is not writable: {code} ({exc.strerror})") from None


async def _main(args: argparse.Namespace, cfg: ConsumerSettings) -> int:
    kafka = kafka_settings(args)
    check_engine(cfg.engine)
    check_store_writable(cfg.store)
    check_store_writable(cfg.state_root)  # the partition stores (DOCFETCH_STATE_DIR)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, functools.partial(_stopping, stop, sig))
    swept = Store(cfg.store, max_bytes=cfg.engine.max_bytes).sweep_temps(older_than_s=cfg.temp_grace_s)
    logging.getLogger("docfetch.consumer").info("event=store_swept store=%s stale_temps=%d", cfg.store, swept)
    return await run(kafka, cfg, default_fetchers(cfg), stop=stop)


def _stopping(stop: asyncio.Event, sig: signal.Signals) -> None:
    logging.getLogger("docfetch.consumer").info("event=signal name=%s action=drain", sig.name)
    stop.set()


def loop_factory(choice: EventLoop) -> Callable[[], asyncio.AbstractEventLoop]:
    """DOCFETCH_EVENT_LOOP: uvloop's loop, or the standard library's."""
    if choice is EventLoop.UVLOOP:
        import uvloop

        return uvloop.new_event_loop
    return asyncio.new_event_loop


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    joblog.configure(args.log_format)  # one line per job; none per HTTP request
    try:
        check_environment()
        cfg = consumer_settings(
            {f: getattr(args, d) for d, f in RUN_FLAGS.items() if getattr(args, d) is not None}
        )
        with asyncio.Runner(loop_factory=loop_factory(cfg.event_loop)) as runner:
            return runner.run(_main(args, cfg))
    except Exception as exc:
        error = expected_error(exc, (ConsumerError, SchemaError))
        if error is None:
            raise
        if args.debug:
            traceback.print_exception(exc)
        print(f"docfetch-consumer: error: {' '.join(str(error).split())}", file=sys.stderr)
        return int(getattr(error, "exit_code", 1))
