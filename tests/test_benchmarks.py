"""`python -m benchmarks --smoke` runs every figure end to end and writes complete records (timings never asserted)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def records(tmp_path_factory) -> dict:
    output = tmp_path_factory.mktemp("benchmarks") / "records.json"
    command = [sys.executable, "-m", "benchmarks", "--smoke", "--output", str(output)]
    completed = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "summary" in completed.stdout
    return json.loads(output.read_text())


def test_every_figure_writes_a_record_with_machine_and_peak_memory(records):
    from benchmarks.__main__ import FIGURES

    assert set(FIGURES) <= set(records)
    for name in FIGURES:
        assert records[name]["smoke"] is True and records[name]["machine"]
        assert records[name]["peak_rss_mb"] > 0


def test_training_and_reference_figures_hold_throughputs_and_ratios(records):
    for result in records["training_step"]["results"]:
        for precision in ("fp32", "bf16"):
            assert result[precision]["samples_per_s"] > 0 and result[precision]["repeats"] == 2
        assert 0 <= result["padding_fraction"] < 1
    reference = records["reference_model"]
    models = [(result["model"], result["precision"]) for result in reference["results"]]
    assert models == [
        (model, precision) for model in ("tiny emotion", "tiny pre-training") for precision in ("fp32", "bf16")
    ]
    for result in reference["results"]:
        for mode in ("training", "inference"):
            figures = result[mode]
            assert figures["ratio"] == pytest.approx(
                figures["ours_samples_per_s"] / figures["reference_samples_per_s"]
            )
    assert set(reference["targets"]) == {"training_ratio_at_least_1.0", "inference_ratio_at_least_1.0"}


def test_latency_loader_and_cross_figure_targets_are_reported(records):
    latency = records["pipeline_latency"]
    assert set(latency["results"]) >= {"audio-classification (audio)", "multimodal-emotion (audio+visual+text)"}
    for summary in latency["results"].values():
        assert 0 < summary["median_s"] <= summary["p95_s"]
    loader = records["data_loader"]["results"]
    assert set(loader) == {"grouped, 0 workers", "grouped, 2 workers", "random batches, 0 workers"}
    assert all(result["samples"] == records["data_loader"]["segments"] for result in loader.values())
    assert records["cross_figure"]["loader_vs_training_step"] > 0
    attention = records["attention_backends"]["results"]
    assert [row["audio_frames"] for row in attention] == [100, 200] and "growth" in attention[1]


def test_precision_figure_and_backward_memory_are_reported(records):
    precision = records["precision_speed"]
    assert [result["threads"] for result in precision["results"]] == [1, 2]
    for result in precision["results"]:
        assert set(result["variants"]) == {"fp32 eager", "bf16 eager"}  # --smoke skips compilation
        assert result["matmul_gflops"]["fp32"] > 0 and result["bf16_training_speedup"] > 0
        for figures in result["variants"].values():
            assert figures["training_gflops"] == pytest.approx(
                result["training_flops"] / 2 / figures["training_step_s"] / 1e9
            )
    assert set(precision["targets"]) == {"bf16_training_step_at_least_1.6x_fp32"}
    memory = records["attention_backends"]["results"]
    assert all(row["sdpa_saved_mb"] > 0 and row["eager_saved_mb"] > 0 for row in memory)
    assert "memory_growth" in memory[1]


def test_the_onnx_figure_times_every_variant(records):
    latency = records["onnx_runtime"]["latency"]
    for timings in latency.values():
        assert {"PyTorch fp32", "ONNX Runtime fp32", "ONNX Runtime int8"} <= set(timings)
        assert all(0 < timing["median_s"] <= timing["p95_s"] for timing in timings.values())


STAND_IN_MULT = """
import torch
from torch import nn


class MULTModel(nn.Module):  # the constructor and call of MulT's, around a small network
    def __init__(self, hyp_params):
        super().__init__()
        widths = hyp_params.orig_d_l + hyp_params.orig_d_a + hyp_params.orig_d_v
        self.out_layer = nn.Linear(widths, hyp_params.output_dim)

    def forward(self, x_l, x_a, x_v):
        pooled = torch.cat([x_l.mean(1), x_a.mean(1), x_v.mean(1)], dim=-1)
        return self.out_layer(pooled), pooled
"""


def test_the_mult_figure_times_both_models_from_a_checkout_it_is_given(tmp_path):
    """The harness of figure 10 against a stand-in with MulT's layout and interface (no MulT checkout in CI)."""
    (tmp_path / "src").mkdir()
    (tmp_path / "modules").mkdir()
    (tmp_path / "src" / "models.py").write_text(STAND_IN_MULT)
    (tmp_path / "modules" / "position_embedding.py").write_text(
        "def make_positions(tensor, *rest):\n    return tensor\n"
    )
    record_path = tmp_path / "record.json"
    command = [sys.executable, "-m", "benchmarks.mult_reference", "--smoke", "--mult-repo", str(tmp_path)]
    completed = subprocess.run(
        [*command, "--record", str(record_path)], cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    record = json.loads(record_path.read_text())
    assert {"training", "batch-1, PyTorch fp32", "batch-1, ONNX Runtime int8"} <= set(record["speedup_over_mult"])
    assert record["parameters"]["MulT"] > 0
    missing = subprocess.run(
        [sys.executable, "-m", "benchmarks.mult_reference", "--smoke"], cwd=ROOT, capture_output=True, text=True
    )
    assert missing.returncode != 0 and "--mult-repo PATH is needed" in missing.stderr


def test_the_bf16_quality_figure_trains_both_precisions_and_compares_them(tmp_path):
    record_path = tmp_path / "record.json"
    command = [sys.executable, "-m", "benchmarks.precision_quality", "--smoke", "--corpus-seed", "0"]
    command += ["--output-dir", str(tmp_path / "runs"), "--record", str(record_path)]
    completed = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert completed.returncode == 0, completed.stderr[-3000:]
    record = json.loads(record_path.read_text())
    assert set(record["mean_weighted_accuracy"]) == {"fp32", "bf16"} and record["test_segments"] > 0
    difference = record["bf16_minus_fp32"]
    assert difference["low"] <= difference["difference"] <= difference["high"]
    assert (tmp_path / "runs" / "bf16-seed0" / "config.json").is_file()


def test_the_scale_figure_measures_each_manifest_size_in_its_own_process(tmp_path):
    record_path = tmp_path / "record.json"
    command = [sys.executable, "-m", "benchmarks.pretraining_scale", "--smoke", "--record", str(record_path)]
    completed = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert completed.returncode == 0, completed.stderr[-3000:]
    record = json.loads(record_path.read_text())
    assert set(record["results"]) == {"200", "2000"}
    for size, result in record["results"].items():
        assert result["rows"] == int(size) and 0 < result["heldout_utterances"] <= 4 * 20  # 20 per split at most
        assert set(result["loader_samples_per_s"]) == {"0", "2"} and result["first_batch_s"] > 0
        assert result["shards_bytes"] > 0 and result["peak_rss_mb"] >= result["manifest_rss_mb"]
    assert record["results"]["2000"]["heldout_utterances"] == 4 * 20  # at this size every split reaches the cap
    assert "rss_growth_within_manifest_growth_plus_10pct" in record["targets"]


def test_the_pretrained_encoder_figure_times_every_freezing_choice(tmp_path):
    record_path = tmp_path / "record.json"
    command = [sys.executable, "-m", "benchmarks.pretrained_encoders", "--smoke", "--record", str(record_path)]
    completed = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert completed.returncode == 0, completed.stderr[-3000:]
    results = json.loads(record_path.read_text())["results"]
    assert len(results) == 4
    trained = {name: result["parameters"]["trained"] for name, result in results.items()}
    assert trained["both encoders frozen"] < trained["feature encoder frozen"] < trained["nothing frozen"]
    assert all(result["step_s"] > 0 and result["peak_rss_mb"] > 0 for result in results.values())
