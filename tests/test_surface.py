"""Every command of the command line and every route of the HTTP API is run by a passing test.

The lists come from the app itself: the commands from the Typer app's tree (`parcours.cli.main`),
the routes from the FastAPI app `parcours serve` runs (`create_app`). What the suite ran is
recorded by the plugin tests/surface.py: each `parcours ...` process a test starts and each
request it sends to loopback, counted when the test phase that made it passed.

When a judge below names a command or a route, satisfy it with a test that runs it as a user
does and checks its answer against a value from outside the code under test (hand-computed
from the test's own data, the demo's truth, a peer): a command as a process
(tests/cli_process.py), a route through a real `parcours serve` (tests/servers.py) or any httpx
or requests client on loopback. Nothing else is needed: the plugin sees the call. The judges
cannot see the asserts; a reviewer does.

The judges run last, and only when the whole suite was collected (`pytest` with no path
narrower than tests/ and no -k, -m, --deselect, --lf or --sw); otherwise they are deselected.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
import surface
import typer
from starlette.routing import Match

from parcours.api.app import create_app
from parcours.cli.main import app as cli_app
from parcours.config import load_settings

NEVER_CALLED = {
    "GET /docs": "FastAPI's Swagger UI page, drawn from /openapi.json: FastAPI's, not ours",
    "GET /docs/oauth2-redirect": "the Swagger UI's OAuth2 helper page: parcours has no OAuth2",
    "GET /redoc": "FastAPI's ReDoc page, drawn from /openapi.json: FastAPI's, not ours",
}
"""Routes no test needs to call, each with its reason."""


def commands(group: Any = None, prefix: tuple[str, ...] = ()) -> Iterator[str]:
    """Every command of the command line by its path, e.g. 'journeys funnel'."""
    group = group or typer.main.get_command(cli_app)
    for name, command in group.commands.items():
        if hasattr(command, "commands"):
            yield from commands(command, (*prefix, name))
        else:
            yield " ".join((*prefix, name))


def command_path(arguments: Sequence[str]) -> str | None:
    """The command a command line runs ('journeys funnel'); None for `--help`, `--version`,
    a group alone or a command that does not exist."""
    if "--help" in arguments:
        return None
    names: list[str] = []
    command: Any = typer.main.get_command(cli_app)
    for word in arguments:
        if not hasattr(command, "commands"):
            break
        if word.startswith("-"):
            continue
        command = command.commands.get(word)
        if command is None:
            return None
        names.append(word)
    return " ".join(names) if names and not hasattr(command, "commands") else None


def routes(tmp_path: Path) -> list[Any]:
    """The app's routes in the order it tries them (a store is named, never opened). FastAPI
    0.13x and later keeps included routers whole; `iter_route_contexts` lists their routes."""
    app = create_app(load_settings(store=tmp_path / "never-opened.duckdb"))
    try:
        from fastapi.routing import iter_route_contexts  # type: ignore[attr-defined]
    except ImportError:  # an earlier FastAPI copies every included route into app.routes
        return list(app.routes)
    return list(iter_route_contexts(app.routes))


def route_name(route: Any) -> str:
    return f"{'|'.join(sorted(set(route.methods) - {'HEAD'}))} {route.path}"


def answering(all_routes: list[Any], method: str, path: str) -> str | None:
    """The route that answers a request, as the app chooses it: the first that matches whole."""
    scope = {"type": "http", "method": method, "path": path, "root_path": ""}
    for route in all_routes:
        if route.matches(scope)[0] is Match.FULL:
            return route_name(route)
    return None


@pytest.mark.surface_judge
def test_every_command_is_run_by_a_passing_test() -> None:
    ran = {command_path(arguments) for arguments in surface.command_lines}
    never_run = sorted(set(commands()) - ran)
    assert not never_run, (
        f"no passing test runs `parcours {'`, `parcours '.join(never_run)}`: add a test that "
        "runs each as a process and checks its answer (see this module's docstring)"
    )


@pytest.mark.surface_judge
def test_every_route_is_called_by_a_passing_test(tmp_path: Path) -> None:
    all_routes = routes(tmp_path)
    called = {answering(all_routes, method, path) for method, path in surface.requests_sent}
    never_called = sorted({route_name(r) for r in all_routes} - called - set(NEVER_CALLED))
    assert not never_called, (
        f"no passing test calls {', '.join(never_called)}: add a test that sends each a "
        "request and checks the answer (see this module's docstring)"
    )


# --- the judges' own parts, on every run -------------------------------------------------------


def test_a_command_line_is_known_by_its_command_path() -> None:
    python = [sys.executable, "-m", "parcours"]
    seen = surface.parcours_arguments([*python, "journeys", "funnel", "A", "B", "--store", "s"])
    assert seen == ("journeys", "funnel", "A", "B", "--store", "s")
    assert command_path(seen) == "journeys funnel"
    assert command_path(surface.parcours_arguments(["/venv/bin/parcours", "stats"]) or ()) == (
        "stats"
    )
    assert surface.parcours_arguments(["git", "status"]) is None
    assert surface.parcours_arguments("parcours stats") is None  # a shell string: not parsed
    for not_a_run in (["journeys"], ["--version"], ["journeys", "funnel", "--help"], ["nope"]):
        assert command_path(not_a_run) is None, not_a_run
    assert {"import", "journeys funnel", "sources rotate", "customers erase"} <= set(commands())
    assert "journeys" not in set(commands())


def test_a_request_is_known_by_the_route_that_answers_it(tmp_path: Path) -> None:
    all_routes = routes(tmp_path)
    assert answering(all_routes, "POST", "/v1/batch") == "POST /v1/batch"
    assert answering(all_routes, "POST", "/v1/track") == "POST /v1/{kind}"
    assert answering(all_routes, "GET", "/v1/customers/c-1") == "GET /v1/customers/{customer_id}"
    assert answering(all_routes, "GET", "/v1/customers/lookup") == "GET /v1/customers/lookup"
    assert answering(all_routes, "GET", "/capture/") == "GET|POST /capture/"
    assert answering(all_routes, "GET", "/v1/batch") is None  # a method no route takes there
    assert answering(all_routes, "GET", "/nowhere") is None
    assert set(NEVER_CALLED) <= {route_name(r) for r in all_routes}, "a reason for a lost route"


def test_requests_to_loopback_are_seen_but_not_the_fuzzers() -> None:
    answer = httpx.MockTransport(lambda request: httpx.Response(200))
    with httpx.Client(transport=answer) as client:
        client.get("http://127.0.0.1:1/v1/journeys/map")
        client.get("http://example.com/v1/journeys/funnel")  # not loopback
        client.get("http://localhost:1/health", headers={"User-Agent": "schemathesis/4.0"})
    assert ("GET", "/v1/journeys/map") in surface._pending_requests
    assert not {"/v1/journeys/funnel", "/health"} & {p for _, p in surface._pending_requests}
