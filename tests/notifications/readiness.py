"""Waits until a region evaluates a board's notification rules and delivers to registered webhooks,
read over the admin API (so it works for in-process and subprocess regions alike). Changes made
before a rule is live are its baseline, not crossings: a test acts only after this."""

from __future__ import annotations

import time

import httpx

READY_WITHIN_S = 30.0


def wait_rules_live(base: str, headers: dict[str, str], board: str) -> None:
    deadline = time.monotonic() + READY_WITHIN_S
    rules: list[dict[str, object]] = []
    while time.monotonic() < deadline:
        rules = [r for r in httpx.get(f"{base}/v1/admin/notification-rules", headers=headers, timeout=10).json()["rules"]
                 if r["board"] == board]
        if rules and all(r["live"] for r in rules):
            return
        time.sleep(0.05)
    raise AssertionError(f"the rules of {board} were not live within {READY_WITHIN_S} s: {rules}")


def wait_webhooks_active(base: str, headers: dict[str, str], ids: set[str]) -> None:
    deadline = time.monotonic() + READY_WITHIN_S
    active: set[str] = set()
    while time.monotonic() < deadline:
        doc = httpx.get(f"{base}/v1/admin/webhooks/status", headers=headers, timeout=10).json()
        active = {r["id"] for r in doc["webhooks"] if r["active"]}
        if ids <= active:
            return
        time.sleep(0.05)
    raise AssertionError(f"webhooks {sorted(ids - active)} were not picked up within {READY_WITHIN_S} s")
