"""The live page on the global tier: precision badges, as-of time, and a region marked stale
when its shipping is paused (and live again once resumed)."""

from __future__ import annotations

import time

import httpx
from playwright.sync_api import Page, expect

from podium.devtools.stack import Stack
from tests.web.conftest import ARTIFACTS, REGIONS, BrowserLog, admin_post, post_scores, run_axe, score

REPLICATED_WITHIN_MS = 30_000
STALE_WITHIN_MS = 15_000


def wait_for_global_board(base: str, board: str) -> None:
    deadline = time.monotonic() + REPLICATED_WITHIN_MS / 1000
    while f'"{board}"' not in httpx.post(f"{base}/graphql", json={"query": "{ boards { id } }"}, timeout=5).text:
        assert time.monotonic() < deadline, f"{board} never reached the global tier"
        time.sleep(0.2)


def test_global_page_shows_precision_and_a_stale_region(stack: Stack, page: Page, log: BrowserLog) -> None:
    for region in REGIONS:
        httpx.post(f"{stack.region_node(region).url}/v1/admin/boards", json={"id": "world"},
                   headers={"Authorization": f"Bearer {stack.admin_key}"}, timeout=5).raise_for_status()
    post_scores(stack, "eu-west", [score("world", f"eu{i}", 700 + i, f"g-eu-{i}") for i in range(6)])
    post_scores(stack, "us-east", [score("world", f"us{i}", 600 + i, f"g-us-{i}") for i in range(6)])
    base = stack.global_node.url
    # the page lists the boards it finds when it loads: open it once "world" has reached the global tier
    wait_for_global_board(base, "world")
    page.goto(f"{base}/?board=world&player=us5")
    rows = page.locator("#top tbody tr[data-player]")
    expect(page.locator("#top tbody tr[data-player=us5]")).to_be_visible(timeout=REPLICATED_WITHIN_MS)
    expect(rows.first.locator(".badge")).to_have_text("EXACT")
    expect(page.locator("#me-status .badge")).to_be_visible()
    expect(page.locator("#as-of")).to_contain_text("As of")
    for region in ("eu-west", "us-east"):
        expect(page.locator(f"#regions tbody tr[data-region={region}]")).to_have_attribute("data-stale", "false")

    admin_post(stack, "us-east", "/v1/admin/replication/pause")
    # staleness measures data: a paused region is stale once it holds a change the global tier lacks
    post_scores(stack, "us-east", [score("world", "us-late", 900, "g-us-late")])
    try:
        us = page.locator("#regions tbody tr[data-region=us-east]")
        expect(us).to_have_attribute("data-stale", "true", timeout=STALE_WITHIN_MS)
        expect(us.locator(".badge")).to_have_text("STALE")
        expect(page.locator("#regions tbody tr[data-region=eu-west]")).to_have_attribute("data-stale", "false")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "global-page-stale-region.png"), full_page=True)
    finally:
        admin_post(stack, "us-east", "/v1/admin/replication/resume")
    expect(page.locator("#regions tbody tr[data-region=us-east]")).to_have_attribute("data-stale", "false",
                                                                                       timeout=STALE_WITHIN_MS)
    assert run_axe(page) == []
    assert log.foreign_requests(base) == []
    assert log.errors == []


def test_global_console_shows_regions_and_the_conflict_log(stack: Stack, page: Page, log: BrowserLog) -> None:
    base = stack.global_node.url
    post_scores(stack, "eu-west", [score("arena", "conflicted", 1, "g-c-1")])
    wait_for_global_board(base, "arena")
    page.goto(f"{base}/console")
    page.fill("#credential", stack.admin_key)
    page.click("#auth-form button[type=submit]")
    for region in ("eu-west", "us-east"):
        expect(page.locator(f"#regions-list li[data-region={region}]")).to_be_visible()
    expect(page.locator("#cf-board option[value=arena]")).to_have_count(1)
    page.select_option("#cf-board", "arena")
    page.click("#conflicts-form button")
    expect(page.locator("#conflicts-count")).to_contain_text("conflicts on arena")
    assert run_axe(page) == []
    assert log.foreign_requests(base) == []
    assert log.errors == []
