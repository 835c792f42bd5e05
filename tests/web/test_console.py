"""The admin console on a region: creates a board, reviews a quarantined entry, bans a player, and
its audit log shows all three; everything through the public API with a header credential."""

from __future__ import annotations

import httpx
from playwright.sync_api import Page, expect

from podium.devtools.stack import Stack
from tests.web.conftest import BrowserLog, post_scores, run_axe, score


def player_score(base: str, board: str, player: str) -> int | None:
    doc = httpx.post(f"{base}/graphql", json={"query": "query($b:String!,$p:String!){ player(id:$p){ score(board:$b) } }",
                                              "variables": {"b": board, "p": player}}, timeout=5).json()
    assert "errors" not in doc, doc
    return doc["data"]["player"]["score"]  # type: ignore[no-any-return]


def test_console_creates_a_board_reviews_quarantine_bans_and_audits(stack: Stack, page: Page, log: BrowserLog) -> None:
    base = stack.region_node("eu-west").url
    page.on("dialog", lambda d: d.accept())
    page.goto(f"{base}/console")
    page.fill("#credential", stack.admin_key)
    page.click("#auth-form button[type=submit]")
    status = page.locator("#console-status")

    # 1. create a board whose scores may move at most 50 a minute
    page.fill("#bf-id", "duel")
    page.fill("#bf-delta", "50")
    page.click("#bf-create")
    expect(page.locator("#boards-list li[data-board=duel]")).to_be_visible()
    expect(status).to_have_attribute("data-state", "ok")

    # 2. a jump of 900 is quarantined; the console approves it, with a reason
    post_scores(stack, "eu-west", [score("duel", "cat", 100, "cat-1", ago_ms=3000)])
    [result] = post_scores(stack, "eu-west", [score("duel", "cat", 1000, "cat-2")])
    assert result["status"] == "quarantined", result
    assert player_score(base, "duel", "cat") == 100
    page.select_option("#qf-board", "duel")
    page.click("#quarantine-form button")
    item = page.locator("#quarantine-list li[data-player=cat]")
    expect(item).to_have_count(1)
    item.locator("input").fill("verified replay")
    item.get_by_role("button", name="Approve").click()
    expect(page.locator("#quarantine-list li[data-player=cat]")).to_have_count(0)
    assert player_score(base, "duel", "cat") == 1000

    # 3. ban the player: the entry vanishes
    page.select_option("#pf-board", "duel")
    page.fill("#pf-player", "cat")
    page.click("#pf-ban")
    expect(status).to_contain_text("Banned cat on duel")
    assert player_score(base, "duel", "cat") is None

    # 4. the audit log shows the three actions, by the same admin, newest first
    audit = page.locator("#audit-list li")
    expect(audit.nth(0)).to_have_attribute("data-action", "banPlayer")
    expect(audit.nth(1)).to_have_attribute("data-action", "approveQuarantined")
    expect(page.locator("#audit-list li[data-action=createBoard]")).to_contain_text("duel")
    expect(audit.nth(1)).to_contain_text("verified replay")
    whos = {t.split(" by ")[1].split(" at ")[0] for t in audit.all_inner_texts()[:3]}
    assert len(whos) == 1 and next(iter(whos)).startswith("key:"), whos
    assert stack.admin_key not in page.content()

    assert run_axe(page) == []
    assert log.foreign_requests(base) == []
    assert log.errors == []


def test_console_without_a_valid_credential_changes_nothing(stack: Stack, page: Page, log: BrowserLog) -> None:
    base = stack.region_node("eu-west").url
    page.goto(f"{base}/console")
    page.fill("#credential", "not-an-admin-key")
    page.click("#auth-form button[type=submit]")
    page.fill("#bf-id", "intruder")
    page.click("#bf-create")
    expect(page.locator("#console-status")).to_have_attribute("data-state", "error")
    expect(page.locator("#console-status")).to_contain_text("Created board intruder failed")
    assert page.locator("#boards-list li[data-board=intruder]").count() == 0
    assert "intruder" not in httpx.post(f"{base}/graphql", json={"query": "{ boards { id } }"}).text
    assert page.evaluate("document.cookie") == ""
