"""Segment's own browser SDK (analytics.js 2.0, `@segment/analytics-next`) in Chromium, sending
to a real `parcours serve`.

The page loads the SDK's UMD build as npm ships it (tests/e2e/browser/node_modules, installed
by tests/e2e/browser/setup.sh) from a static server on loopback. With `cdnURL` pointing at
parcours, the SDK fetches `/v1/projects/{writeKey}/settings` from parcours and posts each call
to parcours's `/v1/p|i|t|g|a` as text/plain JSON, the way it talks to Segment (D1 of the
ingestion conventions). Expected values come from the page itself: what it called, and the
message ids and anonymous id the SDK reports for those calls.
"""

from __future__ import annotations

import datetime as dt
import functools
import http.server
import json
import threading
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from browser import CHROMIUM, CHROMIUM_ARGS, require
from playwright.sync_api import ConsoleMessage, Page, Request, Response, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from servers import Server, add_source, start_server
from waiting import HANG_GUARD, poll

import parcours

BROWSER_DIR = Path(__file__).parent / "browser"
SDK = BROWSER_DIR / "node_modules" / "@segment" / "analytics-next"
UMD = SDK / "dist" / "umd"
# The UMD build loads its lazy chunks from `<cdn>/analytics-next/bundles/` (webpack public path).
BUNDLES_PATH = "/analytics-next/bundles/"
USER_ID, GROUP_ID = "user-42", "acme"
# type → (the store's `name`, `user_id`), in the order the page calls them: an anonymous visit,
# a sign-up that aliases the visitor to their new user id, then calls as that user.
# (analytics-next gives every event the identified user's id, alias included, so a browser
# aliases before identify: previousId is then the anonymous id.)
EXPECTED = {
    "page": ("Pricing", None),
    "alias": (None, USER_ID),
    "identify": (None, USER_ID),
    "track": ("Order Completed", USER_ID),
    "group": (None, USER_ID),
}
# The path analytics-next posts each type to: its first letter.
PATHS = {kind: f"/v1/{kind[0]}" for kind in EXPECTED}
MILLISECOND = dt.timedelta(milliseconds=1)
"""The resolution of a JavaScript Date, hence of the page's timestamp and sentAt."""
CLOCK_FIELDS = ("sentAt", "timestamp", "receivedAt")
"""The times a stored message keeps, from which its skew-corrected time follows."""

PAGE = """<!doctype html>
<html>
<head>
<meta charset="utf-8">
<title>parcours · analytics-next</title>
<link rel="icon" href="data:,">
<script>
  window.PARCOURS = __CONFIG__;
  // The UMD build reads `window.analytics._cdn` once, as it starts, to find its lazy chunks:
  // this page's own server has them, so nothing is asked of Segment's CDN.
  window.analytics = { _cdn: location.origin };
</script>
<script src="/analytics-next/bundles/index.js"></script>
</head>
<body>
<h1>parcours · analytics-next</h1>
<pre id="log">loading analytics-next…</pre>
<script>
(async () => {
  const log = (line) => { document.getElementById("log").textContent += "\\n" + line; };
  const { AnalyticsBrowser } = window.AnalyticsNext;
  const analytics = AnalyticsBrowser.load({
    writeKey: PARCOURS.writeKey,
    cdnURL: PARCOURS.cdnURL,
  });
  // A failed load (no settings) leaves the calls below waiting for ever: say so at once.
  analytics.catch((error) => { window.parcoursSent = { error: `load failed: ${error}` }; });
  const calls = [
    () => analytics.page("Docs", "Pricing", { plan: "pro" }),
    () => analytics.alias(PARCOURS.userId),
    () => analytics.identify(PARCOURS.userId, { email: "ada@example.com", plan: "pro" }),
    () => analytics.track("Order Completed", { revenue: 42.5, currency: "EUR" }),
    () => analytics.group(PARCOURS.groupId, { name: "Acme", employees: 12 }),
  ];
  const sent = [];
  for (const call of calls) {
    const ctx = await call();  // resolves once the Segment.io plugin has had its turn
    const failed = ctx.failedDelivery();
    sent.push({
      type: ctx.event.type,
      messageId: ctx.event.messageId,
      failed: failed ? String(failed.reason) : null,
    });
    log(`${ctx.event.type} ${ctx.event.messageId}${failed ? " FAILED " + failed.reason : ""}`);
  }
  const [instance] = await analytics;
  window.parcoursSent = { anonymousId: instance.user().anonymousId(), sent };
  log("done");
})().catch((error) => {
  console.error("test page failed:", error);
  window.parcoursSent = { error: String(error) };
});
</script>
</body>
</html>
"""


def _require_browser_stack() -> None:
    """Skip when Chromium or the SDK is not installed here; under CI, fail instead."""
    require(("chromium", CHROMIUM), ("analytics-next", UMD / "index.js"))


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    """A real `parcours serve` on loopback with one source, `website` (channel `web`)."""
    _require_browser_stack()
    store = tmp_path / "store.duckdb"
    running = start_server(store, add_source(store))
    yield running
    running.stop()


class _Site(http.server.BaseHTTPRequestHandler):
    """The test page at `/`, and the SDK's UMD files under BUNDLES_PATH; nothing else."""

    def __init__(self, *args: Any, page: bytes, **kwargs: Any) -> None:
        self.page = page
        super().__init__(*args, **kwargs)

    def do_GET(self) -> None:
        path = urllib.parse.urlsplit(self.path).path
        name = path.removeprefix(BUNDLES_PATH)
        if path == "/":
            self._send(self.page, "text/html; charset=utf-8")
        elif path.startswith(BUNDLES_PATH) and "/" not in name and (UMD / name).is_file():
            self._send((UMD / name).read_bytes(), "text/javascript; charset=utf-8")
        else:
            self.send_error(404)

    def _send(self, body: bytes, content_type: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def site(server: Server) -> Iterator[str]:
    """A static server on another loopback port (another origin, as on a real site)."""
    config = {
        "writeKey": server.write_key,
        "cdnURL": server.url,
        "userId": USER_ID,
        "groupId": GROUP_ID,
    }
    page = PAGE.replace("__CONFIG__", json.dumps(config)).encode()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Site, page=page))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


@dataclass
class Traffic:
    """What the page did: its requests, answers of 400 and up, failures and console errors."""

    requests: list[tuple[str, str, str]] = field(default_factory=list)  # method, url, type
    bad_answers: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def watch(self, page: Page) -> None:
        page.on("request", self._request)
        page.on("response", self._response)
        page.on("requestfailed", lambda r: self.failures.append(f"{r.url}: {r.failure}"))
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.errors.append(f"uncaught: {error}"))

    def _request(self, request: Request) -> None:
        content_type = request.headers.get("content-type", "")
        self.requests.append((request.method, request.url, content_type))

    def _response(self, response: Response) -> None:
        if response.status >= 400:
            answer = f"{response.status} {response.text()[:300]}"
            self.bad_answers.append(f"{response.request.method} {response.url} → {answer}")

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(f"{message.text} (at {message.location})")


def run_page(url: str, user_data: Path) -> tuple[dict[str, Any], Traffic]:
    """Open the page in Chromium, wait for its calls to resolve; what it sent and did."""
    traffic = Traffic()
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(user_data), executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            page = context.new_page()
            traffic.watch(page)
            page.goto(url)
            try:
                page.wait_for_function(
                    "() => window.parcoursSent !== undefined", timeout=HANG_GUARD * 1000
                )
                sent: dict[str, Any] = page.evaluate("() => window.parcoursSent")
            except PlaywrightTimeoutError:
                sent = {"error": f"the page's calls had not resolved after {HANG_GUARD:.0f} s"}
        finally:
            context.close()
    return sent, traffic


def wait_for_accepted(url: str, count: int) -> dict[str, Any]:
    """/health's answer once `count` messages are stored or quarantined (`waiting.poll`)."""

    def health() -> dict[str, Any]:
        answer: dict[str, Any] = httpx.get(f"{url}/health", timeout=30).json()
        return answer

    return poll(health, until=lambda h: h["accepted"] + h["quarantined"] >= count, every=0.1)


def test_analytics_next_in_chromium_stores_every_call_in_parcours(
    server: Server, site: str, tmp_path: Path
) -> None:
    # The page, the browser and the server share this machine's clock: every call was made,
    # sent and received between these two readings of it (`received_at`: when it was stored).
    before = dt.datetime.now(dt.UTC)
    sent, traffic = run_page(site, tmp_path / "chromium-profile")
    after = dt.datetime.now(dt.UTC)
    assert "error" not in sent, f"the page failed: {sent}\n{traffic}"
    health = wait_for_accepted(server.url, len(EXPECTED))
    stored_by = dt.datetime.now(dt.UTC)
    server.stop()

    # The SDK spoke only to loopback: its settings and its events to parcours, no CDN.
    hosts = {urllib.parse.urlsplit(url).hostname for _, url, _ in traffic.requests}
    assert hosts == {"127.0.0.1"}, traffic.requests
    assert traffic.errors == [], traffic.errors
    assert traffic.bad_answers == [], traffic.bad_answers
    assert traffic.failures == [], traffic.failures
    settings = f"{server.url}/v1/projects/{server.write_key}/settings"
    assert ("GET", settings, "") in traffic.requests
    posts = [(url, kind) for method, url, kind in traffic.requests if method == "POST"]
    assert posts == [(server.url + PATHS[kind], "text/plain") for kind in EXPECTED]

    # The SDK believes every call was delivered, and the server counted them all as stored.
    assert [(m["type"], m["failed"]) for m in sent["sent"]] == [(k, None) for k in EXPECTED]
    assert (health["accepted"], health["quarantined"]) == (len(EXPECTED), 0), health

    with parcours.connect(server.store, read_only=True) as p:
        rows = p.sql(
            "SELECT event_id, type, name, channel, source, anonymous_id, user_id, identifiers,"
            " occurred_at, received_at, context, raw FROM events"
        ).to_pylist()
        quarantined = p.sql("SELECT reason FROM quarantine").to_pylist()
    assert quarantined == []
    by_id = {row["event_id"]: row for row in rows}
    assert sorted(by_id) == sorted(m["messageId"] for m in sent["sent"])

    version = json.loads((SDK / "package.json").read_text())["version"]
    for message in sent["sent"]:
        row = by_id[message["messageId"]]
        name, user_id = EXPECTED[message["type"]]
        assert (row["type"], row["name"], row["user_id"]) == (message["type"], name, user_id)
        assert (row["channel"], row["source"]) == ("web", "website")
        assert row["anonymous_id"] == sent["anonymousId"]
        # Skew-corrected: received − (sentAt − timestamp), all read during the page's calls (the
        # page's times are whole milliseconds, a JavaScript Date's, cut down); stored after.
        assert before - MILLISECOND <= row["occurred_at"] <= after, row
        raw = json.loads(row["raw"])
        sent_at, at, received = (dt.datetime.fromisoformat(raw[k]) for k in CLOCK_FIELDS)
        assert row["occurred_at"] == received - (sent_at - at), raw
        assert row["occurred_at"] <= row["received_at"] <= stored_by, row
        library = json.loads(row["context"])["library"]
        assert library == {"name": "analytics.js", "version": f"next-{version}"}, library

    # What has no column of its own is kept: the alias's previous id, the group's id.
    alias, group = (next(r for r in rows if r["type"] == kind) for kind in ("alias", "group"))
    assert {"type": "previous_id", "value": sent["anonymousId"]} in alias["identifiers"]
    assert json.loads(group["raw"])["groupId"] == GROUP_ID
