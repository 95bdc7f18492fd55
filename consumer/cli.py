"""docfetch-consumer: run one member of the docfetch consumer group."""

from __future__ import annotations

import argparse
import asyncio
import functools
import logging
import signal
import sys
from contextlib import AbstractAsyncContextManager

from pydantic import ValidationError

from consumer.app import FetcherFactory, run
from consumer.errors import ConfigError, ConsumerError
from consumer.fetch import Engine, EngineSettings
from consumer.fetch_minimal import minimal_fetcher
from consumer.metrics import Metrics
from consumer.outcome import Fetcher
from consumer.settings import ConsumerSettings, FetcherKind, Guarantee, consumer_settings
from consumer.storage import Store
from schemas import SchemaError
from schemas.settings import add_kafka_flags, kafka_settings

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
    "fetcher": "fetcher",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="docfetch-consumer", description=__doc__)
    sub = parser.add_subparsers(dest="cmd", required=True)
    run_p = sub.add_parser("run", help="join the group and fetch jobs until stopped (SIGTERM drains)")
    run_p.add_argument("--store", help="artifact store directory [DOCFETCH_STORE, ./store]")
    run_p.add_argument(
        "--concurrency",
        type=int,
        help="downloads in flight (jobs taken: twice that) [DOCFETCH_CONCURRENCY, 16]",
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
    run_p.add_argument("--fetcher", choices=[k.value for k in FetcherKind], help="[DOCFETCH_FETCHER, engine]")
    run_p.add_argument("--commit-interval-s", type=float, help="[DOCFETCH_COMMIT_INTERVAL_S, 0.1]")
    add_kafka_flags(run_p)
    return parser


def default_fetchers(cfg: ConsumerSettings) -> FetcherFactory:
    """The download engine (its settings read here, once) or the minimal fetcher."""
    try:
        engine_cfg = EngineSettings() if cfg.fetcher is FetcherKind.ENGINE else None
    except ValidationError as exc:
        raise ConfigError(
            f"invalid engine setting: {exc.errors()[0]['loc']}: {exc.errors()[0]['msg']}"
        ) from None

    def make(metrics: Metrics) -> AbstractAsyncContextManager[Fetcher]:
        if engine_cfg is not None:
            store = Store(cfg.store, max_bytes=engine_cfg.max_bytes)
            return Engine(settings=engine_cfg, store=store, observer=metrics)
        return minimal_fetcher(
            store=cfg.store, timeout_s=cfg.fetch_timeout_s, max_bytes=cfg.max_body_bytes, observer=metrics
        )

    return make


async def _main(args: argparse.Namespace) -> int:
    kafka = kafka_settings(args)
    cfg = consumer_settings(
        {f: getattr(args, d) for d, f in RUN_FLAGS.items() if getattr(args, d) is not None}
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, functools.partial(_stopping, stop, sig))
    swept = Store(cfg.store, max_bytes=cfg.max_body_bytes).sweep_temps(older_than_s=cfg.temp_grace_s)
    logging.getLogger("docfetch.consumer").info("event=store_swept store=%s stale_temps=%d", cfg.store, swept)
    return await run(kafka, cfg, default_fetchers(cfg), stop=stop)


def _stopping(stop: asyncio.Event, sig: signal.Signals) -> None:
    logging.getLogger("docfetch.consumer").info("event=signal name=%s action=drain", sig.name)
    stop.set()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    logging.getLogger("httpx2").setLevel(logging.WARNING)  # one line per request drowns the lifecycle events
    try:
        return asyncio.run(_main(args))
    except (ConsumerError, SchemaError) as exc:
        print(f"docfetch-consumer: error: {exc}", file=sys.stderr)
        return exc.exit_code
