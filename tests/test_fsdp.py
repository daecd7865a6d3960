"""The FSDP config's sharding (configs/accelerate_fsdp.yaml) on 2 CPU processes: the step of one unsharded process."""

import os
import subprocess
import sys
from pathlib import Path

from safetensors.torch import load_file

REPO = Path(__file__).resolve().parents[1]


def test_an_fsdp_step_as_the_config_shards_the_model_is_the_unsharded_step(tmp_path):
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "tests/fsdp_step.py",
        str(tmp_path),
    ]
    done = subprocess.run(
        command, cwd=REPO, env=dict(os.environ, HF_HUB_OFFLINE="1"), capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    sharded, single = load_file(tmp_path / "fsdp.safetensors"), load_file(tmp_path / "one_process.safetensors")
    assert sharded.keys() == single.keys() and len(single) > 50
    assert max(float((sharded[name] - single[name]).abs().max()) for name in single) <= 1e-6
    moved = [name for name in single if "_layers." in name or ".layers." in name]
    assert moved, "the test must cover the sharded layers"
