"""The default run (`python train.py`) at smoke size: the same code path with tiny budgets."""

import json
import logging
import re

import pytest

from mmembed_training import cli, demo


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
    assert len(announced) == 1 + 2 * 7 and announced[0] == "[1/15] pre-training (ASR + person id)"
    assert "[7/15] raw corpus, pre-trained, audio+visual, seed 0" in announced
    assert announced[-1] == "[15/15] raw corpus, pre-trained, audio+text, seed 1"
    loads = [line for line in lines if line.startswith("Loaded MMEmbedForEmotionRecognition from")]
    assert len(loads) == 2 * 5  # the pre-trained variants of each seed
    assert all("newly initialised: classifier 4 tensors, text branch" in line for line in loads if "text" in line)


def test_only_final_models_are_kept_and_smoke_targets_are_not_judged(smoke):
    summary, output, _ = smoke
    assert not list(output.rglob("checkpoint-*"))
    assert all((folder / "model.safetensors").is_file() for folder in output.iterdir() if folder.is_dir())
    assert summary["targets_judged"] is False
    table = demo.demo_table(summary)
    assert "targets: not judged at size smoke" in table and "NOT met" not in table
    assert re.search(r"per seed 0: \d\.\d{3}, 1: \d\.\d{3}$", table.splitlines()[3])


def test_results_json_has_every_figure_in_sane_ranges(smoke):
    summary, output, _ = smoke
    saved = json.loads((output / "results.json").read_text())
    assert saved == json.loads(json.dumps(summary))
    asr = saved["pretraining"]
    assert 0 <= asr["cer"] and 0 <= asr["wer"] and 0 <= asr["speaker_accuracy"] <= 1
    assert 0 <= asr["cer_decoder_only"] and 0 <= asr["wer_decoder_only"]  # joint decoding vs the decoder alone
    assert 0 <= asr["speaker_accuracy_audio_only"] <= 1
    expected = {"raw/pretrained/all", "raw/scratch/all", "raw/shuffled-labels", "mosei-format/scratch/all",
                "raw/pretrained/audio", "raw/pretrained/audio+visual", "raw/pretrained/audio+text"}  # fmt: skip
    assert set(saved["emotion"]) == expected
    for scores in saved["emotion"].values():
        assert set(scores["per_seed"]) == {"0", "1"}
        assert all(0 <= value <= 1 for value in scores["per_seed"].values())
        assert scores["mean"] == pytest.approx(sum(scores["per_seed"].values()) / 2)
        assert scores["sd"] >= 0
    assert set(saved["targets"]) == {
        "cer_at_most_0.35", "speaker_accuracy_at_least_0.9", "raw_emotion_mean_wa_at_least_0.80",
        "mosei_format_emotion_mean_wa_at_least_0.80", "fusion_beats_every_subset_by_0.03",
        "pretraining_beats_scratch_by_0.02", "shuffled_control_within_0.45_0.55",
    }  # fmt: skip
    assert all(isinstance(value, bool) for value in saved["targets"].values())
    assert saved["seconds"]["total"] > 0 and "pretrain" in saved["seconds"] and saved["size"] == "smoke"


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
    assert (output / "pretrain" / "generation_config.json").is_file()


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
