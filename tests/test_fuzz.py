"""
Fuzzing every reader of untrusted input (`tests/fuzz_inputs.py`), each in a child process with a fixed example budget
and seed: mutated MMSA/MulT pickles, `.csd` files, WAV/FLAC files and endpoint requests must each end in a result or
a `ValueError`, never another exception, a crash or a hang; one example may allocate at most `EXAMPLE_MEMORY_BOUND`
(measured with `tracemalloc`, which numpy's buffers report to) and the whole child stays under `PROCESS_MEMORY_BOUND`.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = {"pickle": 120, "csd": 200, "audio": 200, "request": 150}
"""Examples per target in CI (about 10 s each on 2 cores); `MMEMBED_FUZZ_EXAMPLES` raises them for a longer hunt."""
SEED = 20261207
EXAMPLE_MEMORY_BOUND = 16 * 2**20
"""What one fuzzed input (at most about 2 MB) may make a reader allocate."""
PROCESS_MEMORY_BOUND = 2 * 2**30
"""The child's peak resident memory, interpreter, torch and the endpoint's model included (about 0.6-1 GB)."""


@pytest.mark.parametrize("target", list(EXAMPLES))
def test_fuzzed_inputs_end_in_a_result_or_a_value_error(target, tmp_path):
    examples = int(os.environ.get("MMEMBED_FUZZ_EXAMPLES", EXAMPLES[target]))
    command = [sys.executable, "-m", "tests.fuzz_inputs", target, "--examples", str(examples), "--seed", str(SEED)]
    done = subprocess.run([*command, "--work", str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, (
        f"{' '.join(command)} exited {done.returncode}:\n{done.stdout[-3000:]}{done.stderr[-3000:]}"
    )
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report.get("result", 0) + report.get("refused", 0) >= examples // 2, report  # hypothesis ran the examples
    assert report.get("result", 0) > 0 and report.get("refused", 0) > 0, report  # both outcomes were reached
    assert report["largest_example_bytes"] < EXAMPLE_MEMORY_BOUND, report
    assert report["process_peak_bytes"] < PROCESS_MEMORY_BOUND, report
