"""The live page on a region: top-10 over the topChanged subscription, updated by a signed batch,
"find me" following a player, no request to any other host, accessible and usable at 375 px."""

from __future__ import annotations

import re
import time
from urllib.parse import quote, urlsplit

import httpx
import pytest
from playwright.sync_api import Page, expect

from podium.devtools.stack import Stack
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


def test_a_board_created_after_the_page_loaded_is_shown_when_it_appears(stack: Stack, page: Page, log: BrowserLog) -> None:
    """The page lists boards on a timer: a shared URL naming a board that does not exist yet (or has not
    reached the global tier yet) shows another board first, then switches to the named one."""
    seed(stack, "arena", "ann")
    base = stack.region_node("eu-west").url
    board = f"late-{time.monotonic_ns()}"
    page.goto(f"{base}/?board={board}")
    expect(page.locator("#live-status")).to_have_attribute("data-state", "live")
    assert page.locator("#board").input_value() != board
    created = httpx.post(f"{base}/v1/admin/boards", json={"id": board},
                         headers={"Authorization": f"Bearer {stack.admin_key}"}, timeout=10)
    assert created.status_code == 201, created.text
    post_scores(stack, "eu-west", [score(board, "lou", 77, f"{board}-lou")])
    expect(page.locator("#board")).to_have_value(board, timeout=30_000)
    expect(page.locator("#top tbody tr[data-player]").first).to_have_attribute("data-player", "lou")
    assert f"board={board}" in page.url
    assert log.errors == []


@pytest.mark.parametrize("tier, path", [("region", "/?board=arena&player=ann03"), ("region", "/console"),
                                        ("global", "/?board=arena")])
def test_pages_are_accessible_and_fit_a_phone(stack: Stack, phone: Page, log: BrowserLog, tier: str, path: str) -> None:
    base = stack.region_node("eu-west").url if tier == "region" else stack.global_node.url
    seed(stack, "arena", "ann")
    phone.goto(f"{base}{path}")
    if path.startswith("/?"):
        expect(phone.locator("#live-status")).to_have_attribute("data-state", "live", timeout=10_000)
    else:
        expect(phone.locator("#boards-list li").first).to_be_visible()
    assert run_axe(phone) == []
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= 375, f"the page scrolls sideways at 375 px ({width} px wide)"
    for control in phone.locator("main button:visible, main input:visible, main select:visible").all():
        box = control.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 375, control
        assert box["height"] >= 24, "touch targets stay at least 24 px high"
    assert log.foreign_requests(base) == []

def test_find_me_with_a_credential_follows_a_player_outside_the_top(stack: Stack, page: Page, log: BrowserLog) -> None:
    """With a credential in the tab, the page follows the player through rankChanged: a move from
    #12 to #11 changes nothing in the top-10, yet the page shows it."""
    base = stack.region_node("eu-west").url
    httpx.post(f"{base}/v1/admin/boards", json={"id": "follow"},
               headers={"Authorization": f"Bearer {stack.admin_key}"}, timeout=5).raise_for_status()
    seed(stack, "follow", "cy")
    page.goto(f"{base}/console")
    page.fill("#credential", stack.admin_key)
    page.click("#auth-form button[type=submit]")
    page.goto(f"{base}/?board=follow&player=cy11")    # same tab: the credential is in sessionStorage
    status = page.locator("#me-status")
    expect(status).to_have_attribute("data-rank", "12")
    expect(page.locator("#me-title")).to_have_attribute("data-follow", "rank")
    expect(page.locator("#top")).to_have_attribute("data-seq", re.compile(r"^\d+$"))   # the first top is shown
    seq = page.locator("#top").get_attribute("data-seq")
    post_scores(stack, "eu-west", [score("follow", "cy11", 905, "cy11-up")])   # passes cy10 (900): now #11
    expect(status).to_have_attribute("data-rank", "11", timeout=UPDATE_WITHIN_MS)
    assert page.locator("#top").get_attribute("data-seq") == seq, "the top-10 did not change"
    assert log.foreign_requests(base) == []


def test_hostile_url_state_is_shown_as_text_never_run(stack: Stack, page: Page, log: BrowserLog) -> None:
    base = stack.region_node("eu-west").url
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    hostile = '"><img src=/x-injected onerror=alert(1)>'
    page.goto(f"{base}/?board=arena&player={quote(hostile)}")
    expect(page.locator("#me-status")).to_have_attribute("data-state", "missing")
    expect(page.locator("#me-status")).to_contain_text(hostile)
    assert page.locator("img").count() == 0
    assert dialogs == []
    assert not any("x-injected" in urlsplit(u).path for u in log.requests)
    assert httpx.get(f"{base}/static/..%2f..%2fpyproject.toml").status_code == 404
    assert httpx.get(f"{base}/static/../podium/config.py").status_code == 404
