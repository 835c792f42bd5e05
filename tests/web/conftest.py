"""Browser tests of the web pages: a real multi-region stack (regions and the global tier as
`podium serve` processes, each with its own redis-server) and Debian's Chromium driven by
Playwright through `executable_path` (installed by .ci/setup-console.sh; nothing is downloaded).

Every page's requests are logged: a test fails if one goes to any host but the server. Each test
leaves a screenshot in tests/web/artifacts/ (gitignored)."""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson
import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, Playwright, Request, sync_playwright

from podium.devtools.stack import Stack
from podium.signing import signed_headers

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
AXE = Path(__file__).resolve().parent / "vendor" / "axe.min.js"
REGIONS = ["eu-west", "us-east"]
BOARDS: list[dict[str, object]] = [{"id": "arena"}, {"id": "speedrun", "order": "asc"}]
STALE_AFTER_MS = 1500   # the global tier labels a silent region stale after this long
# webhook retries give up within a second, so the console's dead-letter panel has something to show
WEBHOOK_ENV = {"PODIUM_NOTIFICATIONS__WEBHOOK_POLL_MS": "50", "PODIUM_NOTIFICATIONS__WEBHOOK_RETRY_BASE_MS": "50",
               "PODIUM_NOTIFICATIONS__WEBHOOK_RETRY_MS_MAX": "200", "PODIUM_NOTIFICATIONS__WEBHOOK_DEADLINE_MS": "800",
               "PODIUM_NOTIFICATIONS__WEBHOOK_BREAKER_OPEN_MS": "1000",   # a replay after recovery is tried within 1 s
               "PODIUM_CONTESTS__TICK_MS": "250"}   # contestChanged as often as topChanged


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with Stack(REGIONS, tmp_path_factory.mktemp("web-stack"), boards=BOARDS,
               extra_env={"PODIUM_GLOBAL__STALE_AFTER_MS": str(STALE_AFTER_MS), **WEBHOOK_ENV},
               ready_timeout_s=120) as s:
        yield s


# Module scope: Playwright's sync API keeps an event loop running on the main thread while it is
# open, and async tests elsewhere in the session need that thread's loop free again.
@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    if shutil.which("chromium") is None:
        pytest.fail("Debian's chromium is missing: run .ci/setup-console.sh")
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    b = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
    yield b
    b.close()


@dataclass
class BrowserLog:
    """What a page did: every request URL, console errors (CSP violations land here too)."""

    requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def foreign_requests(self, origin: str) -> list[str]:
        host = urlsplit(origin).netloc
        return [u for u in self.requests if urlsplit(u).scheme not in ("data", "blob") and urlsplit(u).netloc != host]


@pytest.fixture
def log() -> BrowserLog:
    return BrowserLog()


def _page(browser: Browser, log: BrowserLog, request: pytest.FixtureRequest, width: int, height: int) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()

    def on_request(r: Request) -> None:
        log.requests.append(r.url)

    def on_console(m: ConsoleMessage) -> None:
        if m.type == "error":
            log.errors.append(m.text)

    page.on("request", on_request)
    page.on("console", on_console)
    page.on("pageerror", lambda exc: log.errors.append(f"pageerror: {exc}"))
    yield page
    ARTIFACTS.mkdir(exist_ok=True)
    try:
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name).strip("_")
        page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    finally:
        context.close()


@pytest.fixture
def page(browser: Browser, log: BrowserLog, request: pytest.FixtureRequest) -> Iterator[Page]:
    yield from _page(browser, log, request, 1280, 900)


@pytest.fixture
def phone(browser: Browser, log: BrowserLog, request: pytest.FixtureRequest) -> Iterator[Page]:
    yield from _page(browser, log, request, 375, 740)


def post_scores(stack: Stack, region: str, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A batch signed by the stack's game server, as a game back-end would post it."""
    body = orjson.dumps({"entries": entries})
    headers = signed_headers(stack.game_key_id, stack.game_secret, "POST", "/v1/scores", time.time_ns() // 10**6, body)
    r = httpx.post(f"{stack.region_node(region).url}/v1/scores", content=body, headers=headers, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()["results"]  # type: ignore[no-any-return]


def score(board: str, player: str, value: int, event: str, ago_ms: int = 1000) -> dict[str, Any]:
    return {"board": board, "player": player, "score": value, "achieved_at": time.time_ns() // 10**6 - ago_ms,
            "event_id": event}


def admin_post(stack: Stack, region: str, path: str) -> dict[str, Any]:
    r = httpx.post(f"{stack.region_node(region).url}{path}",
                   headers={"Authorization": f"Bearer {stack.admin_key}"}, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def run_axe(page: Page) -> list[dict[str, Any]]:
    """axe-core (vendored from npm) in the page itself; the serious and critical violations.
    Evaluated through the DevTools protocol, so the page's CSP needs no exception for it."""
    page.evaluate(AXE.read_text())
    result = page.evaluate("async () => (await axe.run(document)).violations"
                           ".map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.map(n => n.target.join(' '))}))")
    return [v for v in result if v["impact"] in ("serious", "critical")]
