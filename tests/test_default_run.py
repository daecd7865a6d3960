"""The default run (`python train.py`) at smoke size: the same code path with tiny budgets."""

import json
import logging
import re

import pytest

from mmembed_training import cli, demo_budgets, demo_report
from modeling_mmembed import EMOTIONS, MMEmbedConfig


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


VARIANTS = {
    "raw/pretrained/all", "raw/scratch/all", "raw/pretrained/all/25%", "raw/scratch/all/25%",
    "mosei-format/scratch/all", "mosei-format/scratch/all/published", "mosei-format/scratch/audio",
    "mosei-format/scratch/audio+visual", "mosei-format/scratch/audio+text", "mosei-format/scratch/all/shuffled-labels",
}  # fmt: skip
"""The emotion runs of each seed at smoke size (label fractions 25% and 100%)."""


def test_the_log_announces_each_run_and_sums_up_each_load_in_one_line(smoke):
    *_, lines = smoke
    announced = [line for line in lines if line.startswith("[")]
    assert len(announced) == 2 * (1 + len(VARIANTS))  # per seed: pre-training and every variant
    assert announced[0] == "[1/22] pre-training (ASR + person id), seed 0"
    assert "[4/22] raw corpus, pre-trained, all modalities, 25% of the labels, seed 0" in announced
    assert "[7/22] CMU-MOSEI-format corpus, from scratch, all modalities, the method as published, seed 0" in announced
    assert announced[-1] == "[22/22] CMU-MOSEI-format corpus, from scratch, all modalities, shuffled labels, seed 1"
    loads = [line for line in lines if line.startswith("Loaded MMEmbedForEmotionRecognition from")]
    # per seed: the 2 pre-trained variants (25% and 100% of the labels), then the frozen encoder of the probes
    assert len(loads) == 2 * (2 + 1)
    assert all("newly initialised: classifier 4 tensors, text branch" in line for line in loads if "text" in line)


def test_only_final_models_are_kept_and_smoke_targets_are_not_judged(smoke):
    summary, output, _ = smoke
    assert not list(output.rglob("checkpoint-*"))
    assert all((folder / "model.safetensors").is_file() for folder in output.iterdir() if folder.is_dir())
    assert summary["targets_judged"] is False
    table = demo_report.demo_table(summary)
    assert "targets: not judged at size smoke" in table and "NOT met" not in table
    (row,) = [line for line in table.splitlines() if re.match(r"raw/scratch/all +\d", line.strip())]
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
    assert set(saved["emotion"]) == VARIANTS | {"mosei-format, best pooled baseline"}
    frozen = {f"frozen/{start}/{labels}" for start in ("pretrained", "scratch") for labels in ("25%", "100%")}
    assert set(saved["frozen"]) == frozen
    for name, scores in {**saved["emotion"], **saved["frozen"]}.items():
        assert set(scores["per_seed"]) == {"0", "1"}, name
        assert all(0 <= value <= 1 for value in scores["per_seed"].values())
        assert scores["mean"] == pytest.approx(sum(scores["per_seed"].values()) / 2)
        assert scores["sd"] is not None  # the sample sd (ddof=1) of two seeds
    assert set(saved["per_emotion"]) == {"raw/pretrained/all", "raw/scratch/all", "mosei-format/scratch/all",
                                         "mosei-format/scratch/all/published"}  # fmt: skip
    assert all(set(scores) == set(EMOTIONS) for scores in saved["per_emotion"].values())
    baseline = saved["best_pooled_baseline"]
    assert set(baseline["chosen_on_validation"]) == {"0", "1"} and 0 <= baseline["mean"] <= 1
    assert len(saved["baselines"]["0"]) == 2 * 7  # two classifiers x every modality set
    intervals = saved["intervals"]
    assert set(intervals) == {
        "model_minus_best_baseline", "pretrained_minus_scratch_25%", "pretrained_minus_scratch_100%",
        "mosei_format_all_minus_audio", "mosei_format_all_minus_audio+visual", "mosei_format_all_minus_audio+text",
        "mosei_format_extended_minus_published", "frozen_pretrained_minus_frozen_scratch_25%",
        "frozen_pretrained_minus_frozen_scratch_100%",
    }  # fmt: skip
    for name, interval in intervals.items():
        assert interval["low"] <= interval["difference"] <= interval["high"], name
        assert interval["seeds"] == [0, 1], name
    assert set(saved["targets"]) == {
        "every_emotion_at_least_0.75", "all_beats_each_subset", "pretrained_beats_scratch_at_10%_and_25%",
        "frozen_pretrained_beats_frozen_scratch", "model_beats_best_baseline", "best_pooled_baseline_at_most_0.70",
        "shuffled_control_within_0.45_0.55", "pretraining_test_cer_at_most_0.35",
        "visual_only_speaker_probe_at_most_0.5",
    }  # fmt: skip
    assert all(isinstance(value, bool) for value in saved["targets"].values())
    assert saved["seconds"]["total"] > 0 and "pretrain-seed0" in saved["seconds"] and saved["size"] == "smoke"
    assert saved["label_fractions"] == [0.25, 1.0]


def test_the_plots_are_written(smoke):
    _, output, _ = smoke
    for name in ("label_efficiency.png", "learning_curves.png"):
        assert (output / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name


def test_label_fractions_train_on_nested_subsets_for_at_least_the_quarter_runs_steps(smoke):
    summary, output, _ = smoke
    from mmembed_training.data import train_fraction_indices

    quarter, whole = train_fraction_indices(144, 0.25), train_fraction_indices(144, 1.0)
    assert len(quarter) == 36 and set(quarter) < set(whole) and list(quarter) == sorted(quarter)
    assert set(train_fraction_indices(144, 0.1)) < set(quarter)  # a smaller fraction is inside a larger one
    assert [demo_budgets.fraction_epochs(8, fraction) for fraction in (0.1, 0.25, 0.5, 1.0)] == [20, 8, 8, 8]
    results = json.loads((output / "raw-scratch-all-25pct-seed0" / "results.json").read_text())
    assert results["run_arguments"]["train_fraction"] == 0.25


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


def test_each_stage_is_scored_as_often_as_its_budget_says(tmp_path):
    """Evaluations spread as a fraction of the steps (transformers reads an `eval_steps` of 1 or more as steps)."""
    for size, budget in demo_budgets.DEMO_BUDGETS.items():
        for schedule, evaluations in budget["evaluations"].items():
            args = demo_budgets.demo_training(tmp_path, 0, 8, budget, schedule, evaluations)
            assert args.learning_rate == demo_budgets.DEMO_LEARNING_RATES[schedule]
            if budget["max_steps"] > 0:
                assert args.eval_strategy == args.save_strategy == "steps" and args.eval_steps == budget["max_steps"]
            elif evaluations is None:
                assert args.eval_strategy == args.save_strategy == "epoch", size
            elif evaluations == 0:  # a fixed schedule: nothing scored or saved until the final model
                assert args.eval_strategy == args.save_strategy == "no" and not args.load_best_model_at_end, size
            else:
                assert args.eval_strategy == args.save_strategy == "steps", size
                assert args.eval_steps == pytest.approx(1 / evaluations) and args.eval_steps < 1, size
    assert demo_budgets.DEMO_BUDGETS["full"]["evaluations"] == {"pretrain": 0, "demo": 0, "demo-mosei": None}
    args = demo_budgets.demo_training(tmp_path, 0, 8, {**demo_budgets.DEMO_BUDGETS["full"]}, "pretrain", 4)
    assert args.eval_strategy == "steps" and args.eval_steps == 0.25 and args.load_best_model_at_end
    with pytest.raises(ValueError, match="evaluations must be 0, 2 or more"):
        demo_budgets.demo_training(tmp_path, 0, 3, demo_budgets.DEMO_BUDGETS["full"], "pretrain", 1)
