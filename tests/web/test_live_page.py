"""The live page on a region: top-10 over the topChanged subscription, updated by a signed batch,
"find me" following a player, no request to any other host, accessible and usable at 375 px."""

from __future__ import annotations

import time

from playwright.sync_api import Page, expect

from podium.stack import Stack
from tests.web.conftest import BrowserLog, post_scores, run_axe, score

UPDATE_WITHIN_MS = 2000


def seed(stack: Stack, board: str, tag: str, n: int = 12) -> None:
    post_scores(stack, "eu-west", [score(board, f"{tag}{i:02d}", 1000 - 10 * i, f"{tag}-seed-{i}") for i in range(n)])


def test_live_page_shows_the_top_10_and_updates_after_a_signed_batch(stack: Stack, page: Page, log: BrowserLog) -> None:
    seed(stack, "arena", "ann")
    base = stack.region_node("eu-west").url
    page.goto(f"{base}/?board=arena")
    rows = page.locator("#top tbody tr[data-player]")
    expect(rows).to_have_count(10)
    expect(rows.first).to_have_attribute("data-player", "ann00")
    expect(page.locator("#live-status")).to_have_attribute("data-state", "live")

    post_scores(stack, "eu-west", [score("arena", "zed", 5000, "zed-jump")])
    posted = time.monotonic()
    expect(rows.first).to_have_attribute("data-player", "zed", timeout=UPDATE_WITHIN_MS)
    assert time.monotonic() - posted < UPDATE_WITHIN_MS / 1000
    expect(rows.nth(1)).to_have_attribute("data-player", "ann00")
    expect(rows).to_have_count(10)
    assert log.foreign_requests(base) == []
    assert log.errors == []


def test_find_me_follows_a_player_and_the_url_is_shareable(stack: Stack, page: Page, log: BrowserLog) -> None:
    seed(stack, "speedrun", "bo")   # ascending: lower is better; bo00 leads with 1000 - 0
    base = stack.region_node("eu-west").url
    page.goto(f"{base}/?board=speedrun")
    page.fill("#player", "bo05")
    page.click("#find-form button")
    status = page.locator("#me-status")
    expect(status).to_have_attribute("data-rank", "7")    # asc: bo11 (890) is first ... bo05 (950) is 7th
    assert "player=bo05" in page.url and "board=speedrun" in page.url
    expect(page.locator("#around tbody tr.me")).to_have_attribute("data-player", "bo05")

    post_scores(stack, "eu-west", [score("speedrun", "bo05", 100, "bo05-pb")])
    expect(status).to_have_attribute("data-rank", "1", timeout=UPDATE_WITHIN_MS)
    expect(page.locator("#spark-figure")).to_be_visible()
    assert page.locator("#spark polyline").count() == 1

    shared = page.url
    page.goto(shared)   # the URL alone restores board and player
    expect(page.locator("#me-status")).to_have_attribute("data-rank", "1")
    assert log.foreign_requests(base) == []


def test_live_page_is_accessible_and_fits_a_phone(stack: Stack, phone: Page, log: BrowserLog) -> None:
    base = stack.region_node("eu-west").url
    phone.goto(f"{base}/?board=arena&player=ann03")
    expect(phone.locator("#top tbody tr[data-player]").first).to_be_visible()
    expect(phone.locator("#me-status")).to_have_attribute("data-state", "found")
    assert run_axe(phone) == []
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= 375, f"the page scrolls sideways at 375 px ({width} px wide)"
    for control in ("#board", "#player", "#find-form button"):
        box = phone.locator(control).bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 375, control
    assert log.foreign_requests(base) == []
