"""A fresh machine: `make test` and .ci/run get Prometheus from one script, and nothing signals processes
by name. scripts/ensure-prometheus is run for real on a copy of itself (no network: PATH and the cache are
prepared; the apt-get download step is what .ci/run and the fresh-clone check exercise)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "ensure-prometheus"
# What the script needs besides the tools it looks for.
BASICS = ("bash", "dirname", "rm", "mkdir", "id", "head")


def _tool(directory: Path, name: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text("#!/bin/sh\necho fake 2.0\n")
    path.chmod(0o755)


def _run(root: Path, path: str) -> subprocess.CompletedProcess[str]:
    (root / "scripts").mkdir(exist_ok=True)
    shutil.copy(SCRIPT, root / "scripts" / "ensure-prometheus")
    env = {"PATH": path, "HOME": str(root)}
    return subprocess.run([shutil.which("bash") or "bash", str(root / "scripts" / "ensure-prometheus")],
                          env=env, capture_output=True, text=True, timeout=60, check=False)  # fmt: skip


def _basics(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name in BASICS:
        os.symlink(shutil.which(name) or name, directory / name)
    return directory


def test_tools_on_path_are_used_as_they_are(tmp_path: Path) -> None:
    _tool(tmp_path / "tools", "prometheus")
    _tool(tmp_path / "tools", "promtool")
    basics = _basics(tmp_path / "basics")
    done = _run(tmp_path, f"{tmp_path / 'tools'}:{basics}")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(tmp_path / "tools")
    assert not (tmp_path / ".cache").exists()  # nothing fetched, nothing installed


def test_the_unpacked_copy_in_the_cache_is_reused(tmp_path: Path) -> None:
    cached = tmp_path / ".cache" / "prometheus" / "usr" / "bin"
    _tool(cached, "prometheus")
    _tool(cached, "promtool")
    done = _run(tmp_path, str(_basics(tmp_path / "basics")))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(cached)


def test_without_the_tools_or_apt_it_says_what_to_install(tmp_path: Path) -> None:
    done = _run(tmp_path, str(_basics(tmp_path / "basics")))
    assert done.returncode == 1
    assert "install Prometheus 2.x" in done.stderr and done.stdout == ""


def test_make_test_and_ci_use_the_script_and_nothing_kills_by_name() -> None:
    makefile = (REPO / "Makefile").read_text()
    test_target = makefile.split("\ntest:", 1)[1].split("\n\n", 1)[0]
    assert "scripts/ensure-prometheus" in test_target
    assert "scripts/ensure-prometheus" in (REPO / ".ci" / "run").read_text()
    by_name = re.compile(r"\b(pkill|killall)\b")
    tests = [p for p in sorted((REPO / "tests").rglob("*.py")) if p != Path(__file__).resolve()]
    checked = [REPO / ".ci" / "run", REPO / "Makefile", *sorted((REPO / "scripts").iterdir()), *tests]
    assert [str(p) for p in checked if p.is_file() and by_name.search(p.read_text(errors="replace"))] == []
