#!/usr/bin/env bash
# Set up (scripts/setup.sh) and run the main job on built-in data. Extra arguments go to the job.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
"${VENV:-.venv}/bin/python" examples/quickstart.py "$@"
