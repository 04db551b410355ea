"""Debian's Chromium, driven by Playwright: how tests open pages in a real browser."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
# No connection may leave loopback: no background services, no QUIC, no first-run fetches.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() not in ("", "0", "false", "no")


def require(*needed: tuple[str, Path]) -> None:
    """Skip when a part of the browser stack is missing here; under CI, fail instead."""
    missing = [f"{what} ({path})" for what, path in needed if not path.exists()]
    if not missing:
        return
    reason = f"{' and '.join(missing)} not installed: run `bash tests/e2e/browser/setup.sh`"
    if in_ci():
        pytest.fail(f"{reason} (CI installs them, so this is an error there)")
    pytest.skip(reason)
