"""The default run (`python train.py`) at smoke size: the same code path with tiny budgets."""

import json
import logging
import re

import pytest

from mmembed_training import cli, demo
from modeling_mmembed import MMEmbedConfig


class Messages(logging.Handler):
    def __init__(self):
        super().__init__(logging.INFO)
        self.lines = []

    def emit(self, record):
        self.lines.append(record.getMessage())


@pytest.fixture(scope="module")
def smoke(demo_root, tmp_path_factory):
    output = tmp_path_factory.mktemp("default-run")
    messages, training_logger = Messages(), logging.getLogger("mmembed_training")
    training_logger.addHandler(messages)
    training_logger.setLevel(logging.INFO)
    try:
        summary = cli.main(["demo", "--size", "smoke", "--seeds", "0", "1", "--demo_root", str(demo_root),
                            "--output_dir", str(output)])  # fmt: skip
    finally:
        training_logger.removeHandler(messages)
        training_logger.setLevel(logging.NOTSET)
    return summary, output, messages.lines


def test_the_log_announces_each_run_and_sums_up_each_load_in_one_line(smoke):
    *_, lines = smoke
    announced = [line for line in lines if line.startswith("[")]
    assert len(announced) == (1 + 7) + (1 + 2)  # seed 0: pre-training and 7 runs; seed 1: pre-training and 2 runs
    assert announced[0] == "[1/11] pre-training (ASR + person id), seed 0"
    assert "[5/11] raw corpus, pre-trained, audio+visual, seed 0" in announced
    assert announced[-1] == "[11/11] raw corpus, from scratch, all modalities, seed 1"
    loads = [line for line in lines if line.startswith("Loaded MMEmbedForEmotionRecognition from")]
    assert len(loads) == 5 + 1  # the pre-trained variants of each seed
    assert all("newly initialised: classifier 4 tensors, text branch" in line for line in loads if "text" in line)


def test_only_final_models_are_kept_and_smoke_targets_are_not_judged(smoke):
    summary, output, _ = smoke
    assert not list(output.rglob("checkpoint-*"))
    assert all((folder / "model.safetensors").is_file() for folder in output.iterdir() if folder.is_dir())
    assert summary["targets_judged"] is False
    table = demo.demo_table(summary)
    assert "targets: not judged at size smoke" in table and "NOT met" not in table
    (row,) = [line for line in table.splitlines() if line.strip().startswith("raw/scratch/all")]
    assert re.search(r"± \d\.\d{3}   per seed 0: \d\.\d{3}, 1: \d\.\d{3}$", row)


def test_results_json_has_every_figure_in_sane_ranges(smoke):
    summary, output, _ = smoke
    saved = json.loads((output / "results.json").read_text())
    assert saved == json.loads(json.dumps(summary))
    assert saved["corpus_seeds"] == {"0": 0, "1": 1} and saved["corpus_seed"] == 0
    for split in ("validation", "test"):  # pre-training: the checkpoint chosen on validation, scored on test
        asr = saved["pretraining"][split]
        assert 0 <= asr["cer"] and 0 <= asr["wer"] and 0 <= asr["speaker_accuracy"] <= 1
        assert 0 <= asr["cer_decoder_only"] and 0 <= asr["speaker_accuracy_audio_only"] <= 1
    assert set(saved["pretraining"]["per_seed"]) == {"0", "1"}
    assert all(0 <= probe <= 1 for probe in saved["visual_speaker_probe"].values())
    with_ablations = {"raw/pretrained/audio", "raw/pretrained/audio+visual", "raw/pretrained/audio+text",
                      "raw/shuffled-labels", "mosei-format/scratch/all",
                      "mosei-format, best pooled baseline"}  # fmt: skip
    assert set(saved["emotion"]) == {"raw/pretrained/all", "raw/scratch/all"} | with_ablations
    for name, scores in saved["emotion"].items():
        seeds = {"0"} if name in with_ablations else {"0", "1"}
        assert set(scores["per_seed"]) == seeds and all(0 <= value <= 1 for value in scores["per_seed"].values())
        assert scores["mean"] == pytest.approx(sum(scores["per_seed"].values()) / len(seeds))
        assert (scores["sd"] is None) == (len(seeds) == 1)  # the sample sd (ddof=1) needs two seeds
    baseline = saved["best_pooled_baseline"]
    assert set(baseline["chosen_on_validation"]) == {"0", "1"} and 0 <= baseline["mean"] <= 1
    assert len(saved["baselines"]["0"]) == 2 * 7  # two classifiers x every modality set
    intervals = saved["intervals"]
    assert set(intervals) == {"model_minus_best_baseline", "pretrained_minus_scratch", "all_minus_audio",
                              "all_minus_audio+visual", "all_minus_audio+text"}  # fmt: skip
    for name, interval in intervals.items():
        assert interval["low"] <= interval["difference"] <= interval["high"], name
        both_seeds = name in ("model_minus_best_baseline", "pretrained_minus_scratch")
        assert interval["seeds"] == ([0, 1] if both_seeds else [0]), name
    assert set(saved["targets"]) == {
        "best_pooled_baseline_at_most_0.70", "model_beats_best_baseline", "pretrained_beats_scratch",
        "all_beats_each_subset", "shuffled_control_within_0.45_0.55", "pretraining_test_cer_at_most_0.35",
        "visual_only_speaker_probe_at_most_0.5", "whole_run_at_most_15_min",
    }  # fmt: skip
    assert all(isinstance(value, bool) for value in saved["targets"].values())
    assert saved["seconds"]["total"] > 0 and "pretrain-seed0" in saved["seconds"] and saved["size"] == "smoke"


def test_the_saved_model_reloads_and_runs_in_a_pipeline(smoke):
    summary, output, _ = smoke
    checks = summary["checks"]
    assert checks["reloaded_class"] == "MMEmbedModel"
    assert len(checks["pipeline_scores"]) == 6
    assert {item["label"] for item in checks["pipeline_scores"]} == {
        "happy",
        "sad",
        "anger",
        "surprise",
        "disgust",
        "fear",
    }
    assert (output / "raw-pretrained-all-seed0" / "model.safetensors").is_file()
    assert (output / "pretrain-seed0" / "generation_config.json").is_file()
    # pre-training reads the demo speech's audio only (its frames are noise); the emotion model adds visual and text
    assert MMEmbedConfig.from_pretrained(output / "pretrain-seed0").modalities == ["audio"]
    assert MMEmbedConfig.from_pretrained(output / "raw-pretrained-all-seed0").modalities == ["audio", "visual", "text"]


def test_pretraining_is_scored_as_often_as_its_budget_says(tmp_path):
    """Evaluations spread as a fraction of the steps (transformers reads an `eval_steps` of 1 or more as steps)."""
    for size, budget in demo.DEMO_BUDGETS.items():
        args = demo.demo_training(tmp_path, 0, budget["pretrain_epochs"], budget, "pretrain")
        evaluations = budget["pretrain_evaluations"]
        if budget["max_steps"] > 0:
            assert args.eval_strategy == args.save_strategy == "steps" and args.eval_steps == budget["max_steps"]
        elif evaluations is None:
            assert args.eval_strategy == args.save_strategy == "epoch", size
        else:
            assert args.eval_strategy == args.save_strategy == "steps", size
            assert args.eval_steps == args.save_steps == pytest.approx(1 / evaluations) and args.eval_steps < 1, size
    with pytest.raises(ValueError, match="pretrain_evaluations must be 2 or more"):
        demo.demo_training(tmp_path, 0, 3, {**demo.DEMO_BUDGETS["full"], "pretrain_evaluations": 1}, "pretrain")
