"""The installed docfetch version, for both CLIs' --version."""

from __future__ import annotations

import importlib.metadata


def package_version() -> str:
    """The installed docfetch distribution's version (pyproject.toml), or "unknown" outside one."""
    try:
        return importlib.metadata.version("docfetch")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"
