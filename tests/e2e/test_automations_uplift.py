"""An automation's uplift as a user asks for it: `parcours automations uplift` as a process and
`GET /v1/automations/{name}/uplift` through a real `parcours serve`, on a store holding
Newcombe's (1998) Table II case (a) as entries: 56 of 70 treated and 48 of 80 held-out
customers converted, whose 95 % interval for the difference is published as 0.0524 to 0.3339.

The rows are written straight into the v9 tables; the automation is paused, so the server's
own loop moves none of them while it answers.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import httpx
from cli_process import run
from servers import ADMIN, add_source, start_server

import parcours

T0 = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)
WELCOME = {
    "name": "welcome",
    "trigger": {"event": {"name": "Signed Up"}},
    "holdout": 10,
    "goal": {"event": {"name": "Order Completed"}, "within": "30d"},
    "steps": [{"id": "hello", "wait": "1d"}],
}


def newcombe_store(path: Path) -> Path:
    with parcours.connect(path) as p:
        engine = p.store.engine
        engine.execute(
            "INSERT INTO automations (name, version, definition, status, on_publish, "
            "published_at) VALUES ('welcome', 1, ?, 'paused', 'finish', ?)",
            [json.dumps(WELCOME), T0],
        )
        for base, arm, converted, entries in [(1, "treated", 56, 70), (1000, "holdout", 48, 80)]:
            for n in range(entries):
                won = T0 + dt.timedelta(days=1) if n < converted else None
                engine.execute(
                    "INSERT INTO automation_instances (instance_id, automation, version, "
                    "customer_id, arm, step, state, entered_at, updated_at, converted_at, "
                    "exited_at, exit_reason) VALUES (?, 'welcome', 1, ?, ?, NULL, 'done', ?, ?, "
                    "?, ?, 'end')",
                    [base + n, f"c{base + n}", arm, T0, T0, won, T0 + dt.timedelta(days=1)],
                )
    return path


def test_the_uplift_command_says_the_published_interval(tmp_path: Path) -> None:
    store = newcombe_store(tmp_path / "store.duckdb")
    done = run("automations", "uplift", "welcome", "--store", str(store), "--format", "json",
               cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    measured = json.loads(done.stdout)
    assert (measured["treated"]["converted"], measured["holdout"]["converted"]) == (56, 48)
    assert (round(measured["low"], 4), round(measured["high"], 4)) == (0.0524, 0.3339)
    said = run("automations", "uplift", "welcome", "--store", str(store), cwd=tmp_path)
    assert said.returncode == 0, said.stderr
    assert "lifted Order Completed within 30 days from 60.0 % to 80.0 %" in said.stdout
    assert "(+20.0 points, 95 % CI +5.2 to +33.4" in said.stdout
    wrong = run("automations", "uplift", "welcom", "--store", str(store), cwd=tmp_path)
    assert wrong.returncode == 2 and "welcome" in wrong.stderr


def test_the_uplift_route_answers_the_published_interval(tmp_path: Path) -> None:
    store = newcombe_store(tmp_path / "store.duckdb")
    server = start_server(store, add_source(store))
    try:
        answer = httpx.get(f"{server.url}/v1/automations/welcome/uplift", headers=ADMIN)
        refused = httpx.get(f"{server.url}/v1/automations/welcome/uplift")
        missing = httpx.get(f"{server.url}/v1/automations/nothing/uplift", headers=ADMIN)
    finally:
        server.stop()
    assert answer.status_code == 200, answer.text
    measured = answer.json()
    assert measured["difference"] == 0.2 or abs(measured["difference"] - 0.2) < 1e-12
    assert (round(measured["low"], 4), round(measured["high"], 4)) == (0.0524, 0.3339)
    assert refused.status_code == 401
    assert missing.status_code == 404 and "welcome" in missing.json()["message"]
