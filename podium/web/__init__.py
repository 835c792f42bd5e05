"""Podium's own web pages: the live leaderboard (`/`), the admin console (`/console`) and GraphiQL,
with every script and style served from the package (no request leaves the host)."""
