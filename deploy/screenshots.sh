#!/usr/bin/env bash
# Refresh the README's screenshots: the browser tests (tests/ui, Debian chromium through
# Playwright, against a real server with seeded data) write every page to
# .cache/ui-screenshots; the ones the README shows are copied to docs/screenshots.
# Needs what deploy/test.sh sets up (the venv, chromium).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
.venv/bin/python -m pytest -q -p no:cacheprovider tests/ui
mkdir -p docs/screenshots
for page in search ci graph impact services change; do
    cp ".cache/ui-screenshots/$page.png" "docs/screenshots/$page.png"
done
echo "screenshots: docs/screenshots ($(du -sh docs/screenshots | cut -f1))"
