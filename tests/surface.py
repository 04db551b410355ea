"""What the suite runs of the product's surface: every `parcours` command line it starts and every
request it sends to loopback, kept when the test phase that made it passed. A pytest plugin,
registered by tests/conftest.py; tests/test_surface.py judges the record against the app's
own lists of commands and routes, last, and only when the whole suite was collected.

Tests do nothing special to be seen. A command is seen when `python -m parcours ...` (or the
`parcours` script) starts as a process: `subprocess.Popen`, which `subprocess.run` and asyncio
use too. A request is seen when an httpx client (Starlette's TestClient is one), a requests
session (the vendors' Python SDKs use them) or a Playwright page sends it to 127.0.0.1,
localhost or `testserver`. The fuzzer's requests are not counted: it checks only that no
answer is a 5xx (tests/api/test_fuzz.py), and the admin routes answer it 401.
"""

from __future__ import annotations

import os
import subprocess
import urllib.parse
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests
from playwright.sync_api import Browser

JUDGE = "surface_judge"
"""The marker of the tests that judge the record: run last, and only on a whole-suite run."""
LOOPBACK = {"127.0.0.1", "localhost", "::1", "testserver"}
FUZZER = "schemathesis/"
"""How the fuzzer's requests begin their User-Agent."""
NARROWING = ("keyword", "markexpr", "deselect", "ignore", "ignore_glob", "lf", "stepwise")
"""pytest options that run part of the suite (-k, -m, --deselect, --ignore, --lf, --sw)."""

command_lines: set[tuple[str, ...]] = set()
"""The arguments after `parcours` of every command line a passing test phase started."""
requests_sent: set[tuple[str, str]] = set()
"""(method, path) of every loopback request a passing test phase sent."""
_pending_commands: list[tuple[str, ...]] = []
_pending_requests: list[tuple[str, str]] = []
_undo: list[Callable[[], None]] = []
_deselected_by_others: list[pytest.Item] = []


def parcours_arguments(argv: Any) -> tuple[str, ...] | None:
    """The arguments of a `python -m parcours ...` or `parcours ...` command line; None for
    any other process (a shell string included)."""
    if isinstance(argv, (str, bytes, os.PathLike)) or argv is None:
        return None
    words = [os.fsdecode(word) for word in argv]
    if words and Path(words[0]).name == "parcours":
        return tuple(words[1:])
    for at in range(len(words) - 1):
        if words[at : at + 2] == ["-m", "parcours"]:
            return tuple(words[at + 2 :])
    return None


def _see_process(args: Any, *_: Any, **__: Any) -> None:
    """`Popen(args, ...)`: a `parcours` command line is kept."""
    found = parcours_arguments(args)
    if found is not None:
        _pending_commands.append(found)


def _see_sent(request: Any, *_: Any, **__: Any) -> None:
    """`send(request, ...)` of httpx or requests: both requests have a method, a URL and
    headers that ignore case."""
    if not request.headers.get("user-agent", "").startswith(FUZZER):
        _see_request(request.method, str(request.url))


def _see_request(method: str, url: str) -> None:
    parts = urllib.parse.urlsplit(url)
    if parts.hostname in LOOPBACK:
        _pending_requests.append((method.upper(), urllib.parse.unquote(parts.path) or "/"))


# --- wrapping the clients ----------------------------------------------------------------------


def _before(owner: type, name: str, see: Callable[..., None]) -> None:
    """`owner.name(self, ...)` calls `see(...)` with the same arguments first."""
    original = getattr(owner, name)

    def seen(self: Any, *args: Any, **kwargs: Any) -> Any:
        see(*args, **kwargs)
        return original(self, *args, **kwargs)

    _replace(owner, name, seen)


def _before_async(owner: type, name: str, see: Callable[..., None]) -> None:
    original = getattr(owner, name)

    async def seen(self: Any, *args: Any, **kwargs: Any) -> Any:
        see(*args, **kwargs)
        return await original(self, *args, **kwargs)

    _replace(owner, name, seen)


def _after(owner: type, name: str, then: Callable[[Any], None]) -> None:
    """`owner.name(...)` hands what it made to `then` before returning it."""
    original = getattr(owner, name)

    def made(self: Any, *args: Any, **kwargs: Any) -> Any:
        thing = original(self, *args, **kwargs)
        then(thing)
        return thing

    _replace(owner, name, made)


def _replace(owner: type, name: str, function: Callable[..., Any]) -> None:
    original = owner.__dict__[name]
    setattr(owner, name, function)
    _undo.append(lambda: setattr(owner, name, original))


def _see_pages(emitter: Any) -> None:
    """A Playwright context or page reports each request it sends."""
    emitter.on("request", lambda request: _see_request(request.method, request.url))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"{JUDGE}: judges what the whole suite ran (runs last, whole runs only)"
    )
    _before(subprocess.Popen, "__init__", _see_process)
    _before(httpx.Client, "send", _see_sent)
    _before_async(httpx.AsyncClient, "send", _see_sent)
    _before(requests.Session, "send", _see_sent)
    _after(Browser, "new_context", _see_pages)
    _after(Browser, "new_page", _see_pages)


def pytest_unconfigure(config: pytest.Config) -> None:
    while _undo:
        _undo.pop()()


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Calls made in a test's setup, call or teardown count when that phase passed: a fixture
    that runs the demo and checks its exit status has passed its setup."""
    if report.passed:
        command_lines.update(_pending_commands)
        requests_sent.update(_pending_requests)
    _pending_commands.clear()
    _pending_requests.clear()


# --- the judges: last, on whole runs only ------------------------------------------------------


def pytest_deselected(items: Sequence[pytest.Item]) -> None:
    _deselected_by_others.extend(i for i in items if i.get_closest_marker(JUDGE) is None)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    judges = [item for item in items if item.get_closest_marker(JUDGE)]
    items[:] = [item for item in items if item.get_closest_marker(JUDGE) is None]
    if judges and _whole_suite(config):
        items.extend(judges)
    elif judges:
        config.hook.pytest_deselected(items=judges)


def _whole_suite(config: pytest.Config) -> bool:
    """Every test of every test file: no path narrower than tests/, no option that selects,
    and nothing deselected."""
    tests = Path(__file__).parent.resolve()
    paths = [Path(config.invocation_params.dir, str(arg)).resolve() for arg in config.args]
    return (
        all("::" not in str(arg) for arg in config.args)
        and all(tests.is_relative_to(path) for path in paths)
        and not any(config.getoption(name, default=None) for name in NARROWING)
        and not _deselected_by_others
    )
