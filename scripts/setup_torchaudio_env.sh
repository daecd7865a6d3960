#!/usr/bin/env bash
# The second test environment (.venv-torchaudio, or $TORCHAUDIO_VENV): torch 2.11 with torchaudio 2.11, and mmembed
# with its core dependencies only. No torchaudio release loads beside the torch 2.13 of .venv, so the code paths that
# use torchaudio (the feature extractor's Kaldi back-end, the standard audio-classification pipeline's resampling) are
# tested here (tests/torchaudio_env). scripts/test.sh builds and uses it.
# The CPU wheels come from PyTorch's CPU index; where that index cannot be reached (this project's machines and CI
# reach PyPI only), PyPI's build of the same release is installed instead: it runs on the CPU, but carries CUDA
# libraries (about 4.7 GB in the environment, about a minute from a PyPI mirror).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${TORCHAUDIO_VENV:-.venv-torchaudio}
TORCH_RELEASE=2.11.0
TORCHAUDIO_RELEASE=2.11.0  # 2.11.1 fails to load beside torch 2.11.0 (undefined symbol), tried here
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
PY="$VENV/bin/python"
if ! "$PY" -c "import torchaudio.functional" 2>/dev/null; then
    "$PY" -m pip install --retries 0 --timeout 20 --index-url https://download.pytorch.org/whl/cpu \
        "torch==$TORCH_RELEASE+cpu" "torchaudio==$TORCHAUDIO_RELEASE" \
        || { echo "setup_torchaudio_env.sh: PyTorch's CPU index is out of reach; installing PyPI's build." >&2
             "$PY" -m pip install "torch==$TORCH_RELEASE" "torchaudio==$TORCHAUDIO_RELEASE"; }
fi
STAMP="$VENV/.mmembed-pyproject.sha256"
if ! { [ -f "$STAMP" ] && sha256sum --status -c "$STAMP" 2>/dev/null && "$PY" -m pip show -q mmembed 2>/dev/null; }
then
    "$PY" -m pip install -e . "pytest>=8" "scipy>=1.11"
    sha256sum pyproject.toml >"$STAMP"
fi
