#!/usr/bin/env bash
# Browser tests of the live page and the console (tests/web): Debian's Chromium, driven by
# Playwright for Python through executable_path (no `playwright install`: no browser downloads).
# Idempotent and quiet. The page assets themselves are committed (podium/web/static/vendor), built
# from webui/ with npm only by developers who change them.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v chromium >/dev/null 2>&1; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
python -c "import playwright" 2>/dev/null || pip install -q --root-user-action=ignore "playwright>=1.45"
