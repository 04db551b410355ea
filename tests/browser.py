"""Debian's Chromium, driven by Playwright: how tests open pages in a real browser."""

from __future__ import annotations

from pathlib import Path

from peers import unavailable

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


def require(*needed: tuple[str, Path]) -> None:
    """The browser stack's parts are all here; else skip, or under CI fail (`peers`)."""
    missing = [f"{what} ({path})" for what, path in needed if not path.exists()]
    if missing:
        setup = "run `bash tests/e2e/browser/setup.sh`"
        unavailable(f"{' and '.join(missing)} not installed", setup)
