#!/usr/bin/env bash
# Set up (scripts/setup.sh) and run the main job: the default run of train.py (the whole method on the built-in demo
# corpora; results in outputs/demo/results.json). Extra arguments go to it (e.g. `--size smoke`).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
"${VENV:-.venv}/bin/python" train.py demo "$@"
