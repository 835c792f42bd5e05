"""The HTML pages, read once from the package and sent with a strict Content-Security-Policy."""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Literal

from starlette.responses import HTMLResponse

Tier = Literal["region", "global"]
Page = Literal["live", "console", "graphiql"]

# No inline script or style anywhere; data: only for the fonts and images GraphiQL's stylesheet
# embeds; 'self' also admits same-origin ws:/wss: for the subscriptions.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-cache",
}


@cache
def page_html(page: Page, tier: Tier) -> str:
    template = resources.files("podium.web").joinpath(f"static/{page}.html").read_text()
    return template.replace("{{tier}}", tier)


def page_response(page: Page, tier: Tier) -> HTMLResponse:
    return HTMLResponse(page_html(page, tier), headers=SECURITY_HEADERS)
