#!/usr/bin/env bash
# Set up a virtual environment (.venv, or $VENV) with mmembed and its dev extras.
# On a machine without an NVIDIA GPU the CPU build of torch is installed first, so that no multi-GB CUDA wheel is
# pulled: first from the package index as configured (a local wheel of torch 2.13.0+cpu where one is offered),
# else from the PyTorch CPU index.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
PY="$VENV/bin/python"
if ! "$PY" -c "import torch" 2>/dev/null; then
    if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
        "$PY" -m pip install "torch>=2.6"
    else
        "$PY" -m pip install "torch==2.13.0+cpu" \
            || "$PY" -m pip install "torch==2.13.0+cpu" --index-url https://download.pytorch.org/whl/cpu
    fi
fi
"$PY" -m pip install -e ".[dev]"
# espeak-ng synthesises the built-in demo speech (data_scripts/demo_corpus.py).
if ! command -v espeak-ng >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq espeak-ng >/dev/null
    elif command -v sudo >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
        sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq espeak-ng >/dev/null
    else
        echo "setup: espeak-ng is missing and could not be installed here; install it (apt-get install espeak-ng," \
            "brew install espeak-ng, ...) to generate the demo corpora." >&2
    fi
fi
