#!/usr/bin/env bash
# Set up (scripts/setup.sh), lint, and run the whole test suite. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# The browser test of the demo app (tests/test_app.py) drives Debian's Chromium with Playwright from npm. Where they
# cannot be had (no root or sudo, no network), everything else still runs and that one test is skipped, saying why.
source scripts/system_packages.sh
if ensure_command chromium chromium; then
    ensure_npm_packages tests/browser || true
else
    echo "test.sh: Chromium is missing, so the browser test of the demo app will be skipped." >&2
fi
PY="${VENV:-.venv}/bin/python"
"$PY" -m ruff check .
"$PY" -m pytest "$@"
