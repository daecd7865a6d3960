"""The default run (`python train.py`) at smoke size: the same code path with tiny budgets."""

import json

import pytest

from mmembed_training import cli, demo


@pytest.fixture(scope="module")
def smoke(demo_root, tmp_path_factory):
    output = tmp_path_factory.mktemp("default-run")
    summary = cli.main(["demo", "--size", "smoke", "--seeds", "0", "1", "--demo_root", str(demo_root),
                          "--output_dir", str(output)])  # fmt: skip
    return summary, output


def test_results_json_has_every_figure_in_sane_ranges(smoke):
    summary, output = smoke
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
    summary, output = smoke
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
