"""train.py II: SIGKILL and exact resume, atomic checkpoints, and 2-process equivalence (CPU, gloo)."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from safetensors.torch import load_file

REPO = Path(__file__).resolve().parents[1]
STEPS = ["--max_steps", "24", "--save_strategy", "steps", "--save_steps", "8", "--eval_strategy", "steps",
         "--eval_steps", "8", "--save_total_limit", "2"]  # fmt: skip


def run_arguments(demo_root: Path, cache: Path, output: Path, *extra: str) -> list[str]:
    return [
        "--stage", "emotion", "--corpus", "demo", "--demo_root", str(demo_root), "--dataset_cache_dir", str(cache),
        "--output_dir", str(output), "--report_to", "none", "--learning_rate", "0.001", "--logging_steps", "4",
        "--seed", "0", "--per_device_eval_batch_size", "32", *extra,
    ]  # fmt: skip


def train_process(arguments: list[str], wrapper: str | None = None, **popen) -> subprocess.Popen:
    environment = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1")
    command = [sys.executable, "-c", wrapper, *arguments] if wrapper else [sys.executable, "train.py", *arguments]
    return subprocess.Popen(
        command, cwd=REPO, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, **popen
    )


def finish(process: subprocess.Popen) -> str:
    output = process.communicate(timeout=600)[0].decode(errors="replace")
    assert process.returncode == 0, output[-4000:]
    return output


def weights(directory: Path) -> dict:
    return load_file(directory / "model.safetensors")


def assert_bitwise_equal_weights(reference_dir: Path, resumed_dir: Path) -> None:
    reference, resumed = weights(reference_dir), weights(resumed_dir)
    assert reference.keys() == resumed.keys()
    for name in reference:
        assert (reference[name] == resumed[name]).all(), name


def wait_for(condition, process: subprocess.Popen, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert process.poll() is None, process.communicate()[0].decode(errors="replace")[-4000:]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@pytest.fixture(scope="module")
def uninterrupted(demo_root, tmp_path_factory):
    """The reference: 24 steps with dropout and length-grouped sampling, never interrupted."""
    work = tmp_path_factory.mktemp("resume")
    extra = [*STEPS, "--dropout", "0.1", "--train_sampling_strategy", "group_by_length",
             "--per_device_train_batch_size", "16"]  # fmt: skip
    finish(train_process(run_arguments(demo_root, work / "cache", work / "reference", *extra)))
    return work, extra


def test_sigkill_mid_training_then_resume_gives_bitwise_identical_weights(uninterrupted, demo_root):
    work, extra = uninterrupted
    output = work / "killed"
    arguments = run_arguments(demo_root, work / "cache", output, *extra)
    process = train_process(arguments)
    wait_for(lambda: (output / "checkpoint-16" / "trainer_state.json").is_file(), process)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (output / "model.safetensors").exists()
    log = finish(train_process([*arguments, "--resume", "true"]))
    assert "continuing from" in log and "checkpoint-16" in log
    assert_bitwise_equal_weights(work / "reference", output)
    history = json.loads((output / "checkpoint-24" / "trainer_state.json").read_text())["log_history"]
    assert [entry["step"] for entry in history if "eval_mean_weighted_accuracy" in entry] == [8, 16, 24]


SLOW_SAVE = """
import pathlib, sys, time
from mmembed_training import cli, trainer

original = trainer.MMEmbedTrainer._save_rng_state

def save_then_hang(self, output_dir):
    original(self, output_dir)
    if self.state.global_step == 16:
        pathlib.Path(output_dir).parent.joinpath("saving-16").write_text("mid-save")
        time.sleep(600)

trainer.MMEmbedTrainer._save_rng_state = save_then_hang
cli.main(sys.argv[1:])
"""


def killed_while_saving(uninterrupted, demo_root: Path, name: str, wrapper: str, marker: str):
    """
    Run the reference's training into `work/name` under `wrapper`, which writes `marker` in the output folder in the
    middle of a save, and SIGKILL it there; returns the work folder, the output folder and the arguments.
    """
    work, extra = uninterrupted
    output = work / name
    arguments = run_arguments(demo_root, work / "cache", output, *extra)
    process = train_process(arguments, wrapper=wrapper)
    wait_for(lambda: (output / marker).is_file(), process)
    process.send_signal(signal.SIGKILL)
    process.wait()
    return work, output, arguments


def test_sigkill_during_a_save_leaves_no_half_checkpoint_and_resume_is_exact(uninterrupted, demo_root):
    work, output, arguments = killed_while_saving(uninterrupted, demo_root, "killed-saving", SLOW_SAVE, "saving-16")
    # Trainer writes trainer_state.json last: the half-written checkpoint has none
    assert (output / "checkpoint-16").is_dir() and not (output / "checkpoint-16" / "trainer_state.json").exists()
    assert (output / "checkpoint-8" / "trainer_state.json").is_file()
    log = finish(train_process([*arguments, "--resume", "true"]))
    assert "half-written: ['checkpoint-16']" in log and "continuing from" in log and "checkpoint-8" in log
    assert_bitwise_equal_weights(work / "reference", output)


SLOW_FINAL_SAVE = """
import pathlib, sys, time
from mmembed_training import cli, run

def hang(self, folder, *args, **kwargs):
    pathlib.Path(folder).parent.joinpath("saving-final").write_text("mid-save")
    time.sleep(600)

run.MMEmbedProcessor.save_pretrained = hang
cli.main(sys.argv[1:])
"""


def test_sigkill_during_the_final_save_leaves_no_model_folder_and_resume_adds_no_step(uninterrupted, demo_root):
    work, output, arguments = killed_while_saving(
        uninterrupted, demo_root, "killed-final", SLOW_FINAL_SAVE, "saving-final"
    )
    assert (output / "tmp-final" / "model.safetensors").is_file()
    assert not (output / "config.json").exists()  # nothing takes the folder for a model
    log = finish(train_process([*arguments, "--resume", "true"]))
    assert "training had finished at step 24" in log
    steps = sorted(int(path.name.split("-")[1]) for path in output.glob("checkpoint-*"))
    assert steps[-1] == 24 and len(steps) == 2  # no phantom checkpoint-25; the best one kept beside the last
    assert not (output / "tmp-final").exists()
    for name in ("config.json", "processor_config.json", "handler.py", "results.json", "README.md"):
        assert (output / name).is_file(), name
    assert_bitwise_equal_weights(work / "reference", output)


def test_two_processes_match_one_process_with_the_same_global_batch(demo_root, tmp_path):
    common = ["--max_steps", "6", "--eval_strategy", "no", "--save_strategy", "no", "--dropout", "0"]
    one = finish(train_process(
        run_arguments(demo_root, tmp_path / "cache", tmp_path / "one", *common, "--per_device_train_batch_size", "16")
    ))  # fmt: skip
    assert "results of stage emotion" in one
    environment = dict(os.environ, ACCELERATE_USE_CPU="1", HF_HUB_OFFLINE="1")
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2", "train.py"]
    two = subprocess.run(
        [*launch, *run_arguments(demo_root, tmp_path / "cache", tmp_path / "two", *common,
                                 "--per_device_train_batch_size", "8")],
        cwd=REPO, env=environment, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert two.returncode == 0, (two.stdout + two.stderr)[-4000:]
    single, double = weights(tmp_path / "one"), weights(tmp_path / "two")
    assert max(float((single[name] - double[name]).abs().max()) for name in single) <= 1e-5
    results = {name: json.loads((tmp_path / name / "results.json").read_text()) for name in ("one", "two")}
    assert results["two"]["initial_validation"]["samples"] == 3 * 24  # the whole validation split (3 voices x 24)
    assert results["two"]["test"] == pytest.approx(results["one"]["test"], abs=1e-5)


def pretraining_arguments(manifest: Path, cache: Path, output: Path, *extra: str) -> list[str]:
    return [
        str(REPO / "configs" / "demo_pretrain.yaml"), "--corpus", "manifest", "--data_dir", str(manifest),
        "--dataset_cache_dir", str(cache), "--output_dir", str(output), "--report_to", "none", "--num_beams", "1",
        "--train_sampling_strategy", "random", "--logging_steps", "1", "--dropout", "0", "--eval_strategy", "no",
        "--load_best_model_at_end", "false", *extra,
    ]  # fmt: skip


def launch_two_processes(arguments: list[str], **popen) -> subprocess.Popen:
    environment = dict(os.environ, ACCELERATE_USE_CPU="1", HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1")
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2", "train.py"]
    return subprocess.Popen(
        [*launch, *arguments], cwd=REPO, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, **popen
    )


def kill_tree(process: subprocess.Popen) -> None:
    """SIGKILL the launcher and its training processes (torch's launcher starts each in a session of its own)."""
    import psutil

    for member in [*psutil.Process(process.pid).children(recursive=True), psutil.Process(process.pid)]:
        try:
            member.send_signal(signal.SIGKILL)
        except psutil.NoSuchProcess:  # a DataLoader worker that ended with its epoch
            pass
    process.wait()


def losses(output: Path) -> list[float]:
    history = json.loads((output / "trainer_state.json").read_text())["log_history"]
    return [entry["loss"] for entry in history if "loss" in entry]


@pytest.mark.parametrize("streamed", [True, False], ids=["streamed", "cached"])
def test_two_processes_pretrain_as_one_process_with_the_same_global_batch(demo_root, tmp_path, streamed):
    """
    Streamed: 2 processes x 1 DataLoader worker read what 1 process x 2 workers reads (one worker's batch per
    accumulation step); cached: 2 processes x 8 against 1 process x 16, as the emotion test above.
    """
    manifest = demo_root / "speech" / "manifest.jsonl"
    common = ["--max_steps", "6", "--save_strategy", "no"]
    if streamed:
        common += ["--streaming", "--num_shards", "4", "--per_device_train_batch_size", "8"]
        one_only = ["--dataloader_num_workers", "2", "--gradient_accumulation_steps", "2"]
        two_only = ["--dataloader_num_workers", "1"]
    else:
        one_only, two_only = ["--per_device_train_batch_size", "16"], ["--per_device_train_batch_size", "8"]
    finish(train_process(pretraining_arguments(manifest, tmp_path / "cache", tmp_path / "one", *common, *one_only)))
    finish(
        launch_two_processes(pretraining_arguments(manifest, tmp_path / "cache", tmp_path / "two", *common, *two_only))
    )
    assert len(losses(tmp_path / "one")) == 6
    assert losses(tmp_path / "two") == pytest.approx(losses(tmp_path / "one"), abs=1e-5)
    single, double = weights(tmp_path / "one"), weights(tmp_path / "two")
    assert max(float((single[name] - double[name]).abs().max()) for name in single) <= 1e-5


def test_sigkill_of_two_streaming_processes_then_resume_is_exact_and_counts_bad_rows(demo_root, tmp_path):
    """2 processes x 2 workers, a row whose audio is missing: killed after checkpoint 8 of 40, resumed."""
    from data_scripts.pretraining_corpus import read_manifest, write_manifest

    rows = read_manifest(demo_root / "speech" / "manifest.jsonl")
    rows[5] = dict(rows[5], audio=str(tmp_path / "gone.wav"))
    manifest = write_manifest(rows, tmp_path / "manifest.jsonl")
    extra = ["--streaming", "--num_shards", "4", "--dataloader_num_workers", "2", "--max_steps", "40",
             "--per_device_train_batch_size", "8", "--save_strategy", "steps", "--save_steps", "8",
             "--shuffle_buffer_size", "16"]  # fmt: skip
    finish(launch_two_processes(pretraining_arguments(manifest, tmp_path / "cache", tmp_path / "reference", *extra)))
    output = tmp_path / "killed"
    arguments = pretraining_arguments(manifest, tmp_path / "cache", output, *extra)
    process = launch_two_processes(arguments)
    wait_for(lambda: (output / "checkpoint-8" / "trainer_state.json").is_file(), process)
    kill_tree(process)
    assert not (output / "model.safetensors").exists()
    position = json.loads((output / "checkpoint-8" / "trainer_state.json").read_text())["stateful_callbacks"]
    position = position["StreamPositionCallback"]["attributes"]["position"]
    assert position["layout"] == {"world_size": 2, "num_workers": 2, "batch_size": 8}
    assert sum(sum(process["consumed"].values()) for process in position["processes"]) >= 8 * 2 * 8
    log = finish(launch_two_processes([*arguments, "--resume", "true"]))
    assert "continuing from" in log and "Resuming the streamed corpus at" in log and "had finished" not in log
    assert_bitwise_equal_weights(tmp_path / "reference", output)
    assert losses(output) == losses(tmp_path / "reference")
    for folder in (tmp_path / "reference", output):
        skipped = json.loads((folder / "results.json").read_text())["skipped_rows"]
        assert skipped["count"] == 1 and rows[5]["id"] in skipped["rows"][0], skipped
