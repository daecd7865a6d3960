#!/usr/bin/env bash
# Set up (scripts/setup.sh), lint, and run the whole test suite: in .venv, then the tests of the torchaudio code paths
# in the second environment (scripts/setup_torchaudio_env.sh: torch 2.11 + torchaudio 2.11). Extra arguments go to the
# first pytest run.
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
"$PY" -m pytest --ignore=tests/torchaudio_env "$@"
bash scripts/setup_torchaudio_env.sh
"${TORCHAUDIO_VENV:-.venv-torchaudio}/bin/python" -m pytest tests/torchaudio_env
