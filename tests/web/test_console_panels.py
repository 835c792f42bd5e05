"""The console's newer panels in Chromium: a score edit with a reason (audited), a snapshot and a
rebuild with their results, and the webhook panels (an endpoint registered in the form, its
failures counted, its dead letter replayed once the receiver is back)."""

from __future__ import annotations

import time

import httpx
from playwright.sync_api import Page, expect

from podium.devtools.stack import Stack
from tests.notifications.readiness import wait_rules_live, wait_webhooks_active
from tests.notifications.receiver import Receiver
from tests.web.conftest import BrowserLog, post_scores, run_axe, score

HOOK_SECRET = "console-hook-secret-0123456789"


def admin(stack: Stack) -> dict[str, str]:
    return {"Authorization": f"Bearer {stack.admin_key}"}


def player_score(base: str, board: str, player: str) -> int | None:
    doc = httpx.post(f"{base}/graphql", json={"query": "query($b:String!,$p:String!){ player(id:$p){ score(board:$b) } }",
                                              "variables": {"b": board, "p": player}}, timeout=5).json()
    assert "errors" not in doc, doc
    return doc["data"]["player"]["score"]  # type: ignore[no-any-return]


def sign_in(page: Page, stack: Stack, base: str) -> None:
    page.on("dialog", lambda d: d.accept())
    page.goto(f"{base}/console")
    page.fill("#credential", stack.admin_key)
    page.click("#auth-form button[type=submit]")


def test_console_edits_a_score_with_a_reason_snapshots_and_rebuilds(stack: Stack, page: Page, log: BrowserLog) -> None:
    base = stack.region_node("eu-west").url
    httpx.post(f"{base}/v1/admin/boards", json={"id": "relay"}, headers=admin(stack), timeout=10).raise_for_status()
    post_scores(stack, "eu-west", [score("relay", p, s, f"relay-{p}") for p, s in (("ann", 900), ("bob", 500))])
    sign_in(page, stack, base)
    status = page.locator("#console-status")

    # a score edit lowers a best-score entry; the reason is required
    page.select_option("#pf-board", "relay")
    page.fill("#pf-player", "ann")
    page.fill("#ef-score", "300")
    page.fill("#ef-reason", "   ")
    page.click("#ef-save")
    expect(status).to_contain_text("needs a reason")
    assert player_score(base, "relay", "ann") == 900
    page.fill("#ef-reason", "exploit rollback, ticket 7")
    page.click("#ef-save")
    expect(status).to_contain_text("Edited ann's score on relay: 300, rank 2")
    assert player_score(base, "relay", "ann") == 300
    edit = page.locator("#audit-list li[data-action=editScore]").first
    expect(edit).to_contain_text("exploit rollback, ticket 7")

    # a snapshot now, listed with its size; then a rebuild from the warm store, verified
    page.select_option("#sf-board", "relay")
    page.click("#sf-take")
    expect(page.locator("#sf-result")).to_contain_text("Snapshot of relay: 2 entries")
    expect(page.locator("#snapshots-list li").first).to_contain_text("2 entries")
    page.click("#sf-rebuild")
    expect(page.locator("#sf-progress")).to_be_visible()
    expect(page.locator("#sf-result")).to_contain_text("Rebuilt relay season 0: 2 entries", timeout=20_000)
    expect(page.locator("#sf-result")).to_contain_text("verified")
    expect(page.locator("#sf-progress")).to_be_hidden()
    expect(page.locator("#audit-list li").nth(0)).to_have_attribute("data-action", "rebuildBoard")
    expect(page.locator("#audit-list li").nth(1)).to_have_attribute("data-action", "takeSnapshot")

    assert run_axe(page) == []
    assert log.foreign_requests(base) == []
    assert log.errors == []


def test_console_webhook_panels_register_count_and_replay(stack: Stack, page: Page, log: BrowserLog) -> None:
    base = stack.region_node("eu-west").url
    httpx.post(f"{base}/v1/admin/boards", json={"id": "hooked"}, headers=admin(stack), timeout=10).raise_for_status()
    httpx.post(f"{base}/v1/admin/notification-rules", headers=admin(stack), timeout=10, json={
        "id": "hundred", "board": "hooked", "kind": "threshold", "metric": "score", "value": 100}).raise_for_status()
    with Receiver({"ops-hook": HOOK_SECRET}) as rx:
        rx.dead = True
        sign_in(page, stack, base)
        page.fill("#wh-id", "ops-hook")
        page.fill("#wh-url", rx.url())
        page.fill("#wh-secret", HOOK_SECRET)
        page.fill("#wh-boards", "hooked")
        page.click("#wh-save")
        endpoint = page.locator("#webhooks-list li[data-endpoint=ops-hook]")
        expect(endpoint).to_contain_text("hooked")
        assert HOOK_SECRET not in page.content()
        wait_rules_live(base, admin(stack), "hooked")
        wait_webhooks_active(base, admin(stack), {"ops-hook"})

        post_scores(stack, "eu-west", [score("hooked", "zoe", 150, "zoe-1")])
        for _ in range(100):                   # the failing receiver's event is dead-lettered
            page.click("#wh-refresh")
            if "dead-lettered 1" in endpoint.inner_text():
                break
            time.sleep(0.2)
        expect(endpoint).to_contain_text("delivered 0")
        expect(endpoint).to_contain_text("dead-lettered 1")
        expect(endpoint).to_contain_text("last error: HTTP 500")
        assert sum(rx.accepted.values()) == 0 and sum(rx.attempts.values()) >= 1

        page.click("#dead-refresh")
        dead = page.locator("#dead-list li[data-endpoint=ops-hook]")
        expect(dead).to_have_count(1)
        expect(dead).to_contain_text("threshold")
        rx.dead = False                        # the receiver is back: replay delivers the event once
        dead.get_by_role("button", name="Replay").click()
        expect(page.locator("#dead-list li[data-endpoint=ops-hook]")).to_have_count(0)
        for _ in range(100):
            page.click("#wh-refresh")
            if "delivered 1" in endpoint.inner_text():
                break
            time.sleep(0.2)
        expect(endpoint).to_contain_text("delivered 1")
        assert list(rx.accepted.values()) == [1]
        expect(page.locator("#audit-list li").first).to_contain_text("/v1/admin/webhooks/dead-letters/")

        assert run_axe(page) == []
        page.get_by_role("button", name="Delete webhook ops-hook").click()
        expect(page.locator("#webhooks-list li[data-endpoint=ops-hook]")).to_have_count(0)
    assert log.foreign_requests(base) == []
    assert log.errors == []
