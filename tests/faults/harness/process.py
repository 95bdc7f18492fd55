"""Start, signal and reap docfetch consumer processes for fault tests; each one logs to its own file.

Only processes a `ProcessPool` started are ever signalled, each by its own pid. Leaving the pool's
`async with` kills whatever still runs (stopped ones too), so a failing test leaves nothing.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from schemas import KafkaSettings
from tests.faults.harness.waiting import poll_until

REPO = Path(__file__).resolve().parents[3]
EXIT_POLL_S = 0.05  # how often a wait looks at the child; exits are rare events in these tests
REAP_TIMEOUT_S = 10.0  # after SIGKILL the kernel reaps within milliseconds; this only bounds a hang


@dataclass(frozen=True)
class ConsumerOptions:
    """The `docfetch-consumer run` command line for one consumer process (issue 4's flags)."""

    settings: KafkaSettings
    store: Path
    concurrency: int = 8
    guarantee: str = "exactly-once"
    exit_when_idle_s: float | None = None
    metrics_port: int | None = None
    extra_args: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)

    def argv(self) -> list[str]:
        s = self.settings
        argv = [sys.executable, "-m", "consumer", "run", "--bootstrap", s.bootstrap_servers]
        argv += ["--group", s.group_id, "--store", str(self.store), "--concurrency", str(self.concurrency)]
        argv += ["--guarantee", self.guarantee, "--jobs-topic", s.jobs_topic, "--state-topic", s.state_topic]
        argv += ["--dlq-topic", s.dlq_topic]
        if self.exit_when_idle_s is not None:
            argv += ["--exit-when-idle", str(self.exit_when_idle_s)]
        if self.metrics_port is not None:
            argv += ["--metrics-port", str(self.metrics_port)]
        return [*argv, *self.extra_args]


class ManagedProcess:
    """One child process: signals by pid, waits with timeouts, output captured to `log_path`."""

    def __init__(self, name: str, argv: list[str], log_path: Path, env: Mapping[str, str]) -> None:
        self.name, self.argv, self.log_path = name, argv, log_path
        self._env = {**os.environ, **env}
        self._popen: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0

    def start(self) -> ManagedProcess:
        with self.log_path.open("ab") as log:
            log.write(f"--- {self.name}: {' '.join(self.argv)}\n".encode())
            log.flush()
            self._popen = subprocess.Popen(
                self.argv, cwd=REPO, env=self._env, stdin=subprocess.DEVNULL, stdout=log, stderr=log
            )
        self.started_at = time.monotonic()
        return self

    @property
    def popen(self) -> subprocess.Popen[bytes]:
        assert self._popen is not None, f"{self.name} was never started"
        return self._popen

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def returncode(self) -> int | None:
        return self.popen.poll()

    @property
    def alive(self) -> bool:
        return self._popen is not None and self._popen.poll() is None

    def signal(self, sig: signal.Signals) -> None:
        """Send `sig` to this child only; a child that already exited is left alone."""
        if self.alive:
            self.popen.send_signal(sig)

    def kill(self) -> None:
        self.signal(signal.SIGKILL)

    def terminate(self) -> None:
        self.signal(signal.SIGTERM)

    def pause(self) -> None:
        self.signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.signal(signal.SIGCONT)

    async def wait(self, timeout_s: float) -> int:
        """The exit code; TimeoutError (with the log's tail) when it still runs after `timeout_s`."""
        try:
            code: int = await poll_until(
                self.popen.poll, timeout_s=timeout_s, interval_s=EXIT_POLL_S, what=f"{self.name} exit"
            )
        except TimeoutError as exc:
            raise TimeoutError(f"{exc} (still running); log:\n{self.tail()}") from None
        return code

    async def wait_for_log(self, pattern: str, timeout_s: float) -> re.Match[str]:
        """The first match of `pattern` in the log; fails early when the process exits without it."""
        regex = re.compile(pattern, re.M)

        def probe() -> re.Match[str] | None:
            match = regex.search(self.log_text())
            if match is None and not self.alive:
                exited = f"{self.name} exited ({self.returncode}) before /{pattern}/"
                raise AssertionError(f"{exited}:\n{self.tail()}")
            return match

        found: re.Match[str] = await poll_until(
            probe, timeout_s=timeout_s, interval_s=EXIT_POLL_S * 4, what=f"/{pattern}/"
        )
        return found

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def tail(self, chars: int = 4000) -> str:
        return self.log_text()[-chars:]


class ProcessPool:
    """Owns every process a test starts; `async with` guarantees none outlives the test."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.processes: list[ManagedProcess] = []

    async def __aenter__(self) -> ProcessPool:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        return self

    async def __aexit__(
        self, _t: type[BaseException] | None, _e: BaseException | None, _tb: TracebackType | None
    ) -> None:
        for proc in self.processes:
            proc.kill()  # SIGKILL also ends a SIGSTOPped process
        for proc in self.processes:
            if proc._popen is not None:
                await proc.wait(REAP_TIMEOUT_S)

    def spawn(self, name: str, argv: list[str], env: Mapping[str, str] | None = None) -> ManagedProcess:
        proc = ManagedProcess(name, argv, self.log_dir / f"{name}.log", env or {})
        self.processes.append(proc.start())
        return proc

    def consumer(self, name: str, options: ConsumerOptions) -> ManagedProcess:
        """Start `python -m consumer run ...` with `options`."""
        return self.spawn(name, options.argv(), options.env)

    def alive(self) -> list[ManagedProcess]:
        return [p for p in self.processes if p.alive]
