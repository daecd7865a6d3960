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
# The package with its dev extras, unless this environment already has them for this pyproject.toml (a stamp of it):
# a re-run needs no network.
STAMP="$VENV/.mmembed-pyproject.sha256"
if ! { [ -f "$STAMP" ] && sha256sum --status -c "$STAMP" 2>/dev/null && "$PY" -m pip show -q mmembed 2>/dev/null; }
then
    "$PY" -m pip install -e ".[dev]"
    sha256sum pyproject.toml >"$STAMP"
fi
# espeak-ng synthesises the built-in demo speech (data_scripts/demo_corpus.py).
source scripts/system_packages.sh
ensure_command espeak-ng espeak-ng || true
# datasets (4 and later) writes and decodes Audio columns (audiofolder, Hub audio datasets) with torchcodec, which
# needs FFmpeg's libraries and the torchcodec release of the installed torch (0.N for torch 2.N). mmembed itself reads
# the audio with its own bounded reader (data_scripts/labelled_dataset.py), never with torchcodec.
ensure_command ffmpeg ffmpeg || true
if ! "$PY" -m pip show -q torchcodec 2>/dev/null; then
    TORCH_MINOR=$("$PY" -c "import torch; print(torch.__version__.split('.')[1])")
    "$PY" -m pip install "torchcodec==0.${TORCH_MINOR}.*"
fi
