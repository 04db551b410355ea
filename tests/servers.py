"""A real `parcours serve` on loopback, for clients to talk to (used by tests and benches)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx
from waiting import HANG_GUARD, poll


@dataclass
class Server:
    url: str
    write_key: str
    store: Path
    process: subprocess.Popen[bytes]

    @property
    def log(self) -> str:
        """What the server wrote to stderr so far (tracebacks of 5xx answers among it)."""
        return self.store.with_name(self.store.name + ".serve.log").read_text()

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Stop the server (SIGTERM commits what is queued; SIGKILL is a crash)."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(timeout=HANG_GUARD)


ADMIN_TOKEN = "test-admin-token"
"""The bearer token of the customer and identity routes on test servers."""
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def parcours(*args: str, store: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "parcours", *args, "--store", str(store)],
        capture_output=True,
        text=True,
        check=True,
    )


def add_source(store: Path, name: str = "website", channel: str = "web") -> str:
    done = parcours("sources", "add", name, "--channel", channel, "-f", "json", store=store)
    return str(json.loads(done.stdout)[0]["write_key"])


def start_server(store: Path, write_key: str, port: int | None = None) -> Server:
    port = port or free_port()
    # The server's output goes to a file: a pipe nobody reads would block it once full.
    log = store.with_name(store.name + ".serve.log")
    process = subprocess.Popen(
        [sys.executable, "-m", "parcours", "serve", "--port", str(port), "--store", str(store)],
        stdout=subprocess.DEVNULL,
        stderr=log.open("ab"),
        env={**os.environ, "PARCOURS_ADMIN_TOKEN": ADMIN_TOKEN},
    )
    url = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"parcours serve exited: {log.read_text()}")
        try:
            return httpx.get(f"{url}/health", timeout=HANG_GUARD).status_code == 200
        except httpx.TransportError:
            return False

    if poll(answers, until=bool, every=0.1):
        return Server(url, write_key, store, process)
    process.kill()
    raise RuntimeError(f"parcours serve had not answered /health after {HANG_GUARD:.0f} s")
