"""A child process run to its end with its CPU watched: sampled from /proc while it runs, exact at exit.

The samples let a benchmark take the CPU spent inside a measured window (first job to last job) rather
than over the process's whole life (imports, group join, the idle wait before exit).
"""

from __future__ import annotations

import asyncio
import bisect
import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from bench.common import REPO

TICK_S = 1 / os.sysconf("SC_CLK_TCK")
SAMPLE_S = 0.05


def proc_cpu_s(pid: int) -> float | None:
    """user+sys CPU of a live process from /proc/<pid>/stat (None once it is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()  # after "pid (comm)": state is fields[0], utime fields[11]
    return (int(fields[11]) + int(fields[12])) * TICK_S


@dataclass
class CpuSamples:
    """(wall clock s, CPU s) pairs of one process, in time order."""

    walls: list[float] = field(default_factory=list)
    cpus: list[float] = field(default_factory=list)

    def add(self, wall_s: float, cpu_s: float) -> None:
        self.walls.append(wall_s)
        self.cpus.append(cpu_s)

    def at(self, wall_s: float) -> float:
        """The CPU used by `wall_s`, interpolated between the samples around it."""
        i = bisect.bisect_left(self.walls, wall_s)
        if i == 0:
            return self.cpus[0]
        if i == len(self.walls):
            return self.cpus[-1]
        w0, w1, c0, c1 = self.walls[i - 1], self.walls[i], self.cpus[i - 1], self.cpus[i]
        return c0 + (c1 - c0) * (wall_s - w0) / max(w1 - w0, 1e-9)

    def between(self, start_s: float, end_s: float) -> float:
        return self.at(end_s) - self.at(start_s)


@dataclass(frozen=True)
class Watched:
    returncode: int
    samples: CpuSamples
    cpu_total_s: float  # from the kernel's rusage at exit: every thread, the whole life
    sys_total_s: float  # the kernel-mode part of it (file and socket syscalls: fsync, open, send)


async def run_watched(
    argv: list[str],
    *,
    env: Mapping[str, str],
    log_path: Path,
    timeout_s: float,
    on_start: Callable[[int], None] = lambda pid: None,
    cwd: Path = REPO,
) -> Watched:
    """Run `argv` in `cwd` to its exit, sampling its CPU; killed (by its pid) on timeout or cancellation."""
    with log_path.open("ab") as log:
        proc = subprocess.Popen(  # noqa: ASYNC220 - starting is quick; the wait below never blocks
            argv, cwd=cwd, env={**os.environ, **env}, stdin=subprocess.DEVNULL, stdout=log, stderr=log
        )
    samples = CpuSamples()
    deadline = time.monotonic() + timeout_s
    try:
        on_start(proc.pid)
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)  # noqa: ASYNC222 - WNOHANG
            if pid == proc.pid:
                proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
                samples.add(time.time(), usage.ru_utime + usage.ru_stime)
                return Watched(proc.returncode, samples, usage.ru_utime + usage.ru_stime, usage.ru_stime)
            if (cpu := proc_cpu_s(proc.pid)) is not None:
                samples.add(time.time(), cpu)
            if time.monotonic() > deadline:
                raise TimeoutError(f"{argv[:4]} still running after {timeout_s:.0f} s; log {log_path}")
            await asyncio.sleep(SAMPLE_S)
    except BaseException:
        if proc.returncode is None:
            os.kill(proc.pid, signal.SIGKILL)
            os.waitpid(proc.pid, 0)  # noqa: ASYNC222 - a SIGKILLed child is reaped at once
            proc.returncode = -9
        raise
