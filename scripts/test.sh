#!/usr/bin/env bash
# Set up (scripts/setup.sh), lint, and run the whole test suite. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# The browser test of the demo app (tests/test_app.py): Debian's Chromium, driven by Playwright from npm.
source scripts/system_packages.sh
ensure_command chromium chromium
npm ci --prefix tests/browser --no-audit --no-fund --loglevel=error
PY="${VENV:-.venv}/bin/python"
"$PY" -m ruff check .
"$PY" -m pytest "$@"
