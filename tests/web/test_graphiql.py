"""GraphiQL served by Podium itself: a browser opening /graphql (or /graphiql) on a region or the
global tier gets the vendored GraphiQL, under the strict CSP, with no request to any other host,
and can run a query through it."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from podium.devtools.stack import Stack
from tests.web.conftest import BrowserLog


@pytest.mark.parametrize("tier, path", [("region", "/graphql"), ("global", "/graphiql")])
def test_graphiql_loads_from_the_server_only(stack: Stack, page: Page, log: BrowserLog, tier: str, path: str) -> None:
    base = stack.region_node("eu-west").url if tier == "region" else stack.global_node.url
    response = page.goto(f"{base}{path}")
    assert response is not None and response.status == 200
    assert "default-src 'self'" in response.headers["content-security-policy"]
    expect(page.locator(".graphiql-container")).to_be_visible(timeout=15_000)
    editor = page.locator(".graphiql-query-editor .CodeMirror").first
    editor.click()
    page.keyboard.press("Control+A")
    page.keyboard.type("{ boards { id ")
    page.keyboard.press("Control+Enter")
    # the region knows its configured boards; the global tier only those it has received data for
    expect(page.locator(".graphiql-response")).to_contain_text('"arena"' if tier == "region" else '"boards"',
                                                              timeout=10_000)
    assert log.foreign_requests(base) == []
    assert log.errors == []
