"""train.py: argument parsing, each stage on tiny data, threshold tuning, the collator, and bad input."""

import json
from pathlib import Path

import datasets
import numpy as np
import pytest
import torch

from mmembed_training import arguments as train_arguments
from mmembed_training import cli, data, evaluation, run
from mmembed_training.collator import MMEmbedDataCollator
from mmembed_training.stages import EMOTION, PRETRAIN, SENTIMENT
from modeling_mmembed import MMEmbedConfig, MMEmbedForEmotionRecognition

REPO = Path(__file__).resolve().parents[1]
QUICK = [
    "--report_to",
    "none",
    "--per_device_train_batch_size",
    "16",
    "--per_device_eval_batch_size",
    "32",
    "--learning_rate",
    "0.001",
    "--eval_strategy",
    "epoch",
    "--save_strategy",
    "epoch",
    "--logging_steps",
    "5",
    "--load_best_model_at_end",
    "true",
    "--save_total_limit",
    "1",
]


def stage_arguments(stage: str, corpus: str, demo_root, output, *extra: str, cache=None) -> list[str]:
    """train.py arguments of a stage on a demo corpus into `output` (the dataset cache in `cache`)."""
    cache = ["--dataset_cache_dir", str(cache)] if cache is not None else []
    return [
        "--stage",
        stage,
        "--corpus",
        corpus,
        "--demo_root",
        str(demo_root),
        "--output_dir",
        str(output),
        *cache,
        *extra,
    ]


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--num_train_epochs", "0"], "--num_train_epochs is 0 and --max_steps is not set: nothing would be trained"),
        (["--num_train_epochs", "-1"], "--num_train_epochs is -1 and --max_steps is not set"),
        (["--corpus", "demo", "--data_dir", "my_corpus"], "--data_dir is not read with --corpus demo"),
        (["--corpus", "mosei", "--shuffled_labels", "true"], "--shuffled_labels is not read with --corpus mosei"),
        (["--corpus", "demo", "--mosei_visual", "openface2"], "--mosei_visual is not read with --corpus demo"),
        (["--train_fraction", "0"], r"--train_fraction must be in \(0, 1\], got 0.0"),
        (["--train_fraction", "1.5"], r"--train_fraction must be in \(0, 1\], got 1.5"),
        (["--streaming"], r"--streaming streams a pre-training corpus \(--stage pretrain\)"),
        (["--stage", "pretrain", "--streaming"], "--streaming needs --max_steps"),
        (["--corpus", "mosei", "--num_shards", "16"], "--num_shards is not read with --corpus mosei"),
    ],
)
def test_runs_that_would_silently_do_nothing_are_refused(flags, message):
    with pytest.raises(ValueError, match=message):
        train_arguments.parse_arguments(["--stage", "emotion", "--output_dir", "unused", *flags])


def test_config_file_and_command_line_parsing(tmp_path):
    run, training = train_arguments.parse_arguments([str(REPO / "configs" / "demo.yaml"), "--num_train_epochs", "2"])
    assert (run.stage, run.corpus, run.preset) == ("emotion", "demo", "tiny")
    assert training.num_train_epochs == 2 and training.learning_rate == 0.001
    assert training.train_sampling_strategy == "group_by_length" and training.report_to == ["tensorboard"]
    config = tmp_path / "run.json"
    config.write_text(
        json.dumps(
            {
                "stage": "sentiment",
                "corpus": "mosei",
                "modalities": ["audio", "text"],
                "output_dir": str(tmp_path),
                "mosei_visual": "none",
            }
        )
    )
    run, training = train_arguments.parse_arguments([str(config), "--freeze_encoder", "true"])
    assert run.stage == "sentiment" and run.modalities == ["audio", "text"] and run.freeze_encoder
    assert run.mosei_visual is None
    for name in ("pretrain", "emotion", "sentiment"):
        assert train_arguments.parse_arguments(["--stage", name, "--output_dir", str(tmp_path)])[0].stage == name
    with pytest.raises(SystemExit):  # argparse: "argument --stage: invalid choice: 'finetune' (choose from ...)"
        train_arguments.parse_arguments(["--stage", "finetune", "--output_dir", str(tmp_path)])
    nested = tmp_path / "nested.yaml"
    nested.write_text(
        "lr_scheduler_type: cosine_with_min_lr\nlr_scheduler_kwargs: {min_lr: 1.0e-5}\nlearning_rate: 0.01\n"
    )
    run, training = train_arguments.parse_arguments(
        [str(nested), "--learning_rate", "0.002", "--output_dir", str(tmp_path)]
    )
    assert training.lr_scheduler_kwargs == {"min_lr": 1e-5} and training.learning_rate == 0.002
    run, training = train_arguments.parse_arguments([str(nested), "--lr_scheduler_kwargs", '{"min_lr": 2e-5}'])
    assert training.lr_scheduler_kwargs == {"min_lr": 2e-5}  # the flag wins over the file
    (tmp_path / "typo.yaml").write_text("learnig_rate: 0.1\n")
    with pytest.raises(ValueError, match=r"typo.yaml has keys that are no argument of train.py: \['learnig_rate'\]"):
        train_arguments.parse_arguments([str(tmp_path / "typo.yaml")])
    with pytest.raises(SystemExit):
        train_arguments.parse_arguments(["--corpus", "imagenet", "--output_dir", str(tmp_path)])


@pytest.fixture(scope="module")
def learnable(tmp_path_factory):
    """A CMU-MOSEI-format folder whose emotions are mean shifts a tiny model learns in seconds."""
    from .learnable_corpus import write_learnable_corpus

    return write_learnable_corpus(tmp_path_factory.mktemp("learnable") / "mosei")


def learnable_arguments(stage: str, corpus, output, *extra: str) -> list[str]:
    """train.py arguments of a stage on the learnable corpus (its dataset cache beside it)."""
    return ["--stage", stage, "--corpus", "mosei", "--data_dir", str(corpus), "--output_dir", str(output),
            "--dataset_cache_dir", str(Path(corpus).parent / "cache"), *extra]  # fmt: skip


@pytest.fixture(scope="module")
def emotion_run(learnable, tmp_path_factory):
    output = tmp_path_factory.mktemp("emotion-run")
    return cli.main(learnable_arguments("emotion", learnable, output, "--num_train_epochs", "8", *QUICK)), output


def training_losses(output: Path) -> list[float]:
    """The training losses a run logged (its final folder's `trainer_state.json`)."""
    history = json.loads((output / "trainer_state.json").read_text())["log_history"]
    return [entry["loss"] for entry in history if "loss" in entry]


def test_emotion_stage_improves_and_saves_everything(emotion_run):
    results, output = emotion_run
    assert results["validation"]["mean_weighted_accuracy"] > results["initial_validation"]["mean_weighted_accuracy"]
    assert results["validation"]["mean_auc"] > results["initial_validation"]["mean_auc"] + 0.05
    assert len(training_losses(output)) >= 8 and np.isfinite(training_losses(output)).all()
    saved = json.loads((output / "results.json").read_text())
    assert saved["test"]["mean_weighted_accuracy"] == pytest.approx(results["test"]["mean_weighted_accuracy"])
    model = MMEmbedForEmotionRecognition.from_pretrained(output)
    assert model.config.thresholds == pytest.approx(results["thresholds"])
    assert (output / "processor_config.json").is_file() and (output / "handler.py").is_file()


def test_evaluate_stage_scores_the_saved_model_with_its_thresholds(emotion_run, learnable, tmp_path):
    results, output = emotion_run
    evaluated = cli.main(learnable_arguments("evaluate", learnable, tmp_path, "--model_name_or_path", str(output)))
    assert evaluated["test"]["mean_weighted_accuracy"] == pytest.approx(results["test"]["mean_weighted_accuracy"])


def test_pretrain_stage_improves_cer(demo_root, tmp_path):
    arguments = [
        str(REPO / "configs" / "demo_pretrain.yaml"), "--corpus", "manifest", "--data_dir",
        str(demo_root / "speech" / "manifest.jsonl"), "--output_dir", str(tmp_path / "run"), "--num_train_epochs", "6",
        "--dataset_cache_dir", str(tmp_path / "cache"), "--report_to", "none",
    ]  # fmt: skip
    results = cli.main(arguments)
    assert results["validation"]["cer"] < results["initial_validation"]["cer"]
    assert {"wer", "speaker_accuracy", "speaker_accuracy_audio_only"} <= results["validation"].keys()


def test_sentiment_stage_improves_mae_with_an_ablation_and_config_overrides(learnable, tmp_path):
    flags = ["--modalities", "audio", "text", "--num_train_epochs", "8", *QUICK, "--learning_rate", "0.003"]
    flags += ["--config_overrides", "num_source_layers=1,pooling=attention,learn_modality_weights=true"]
    results = cli.main(learnable_arguments("sentiment", learnable, tmp_path, *flags))
    assert results["validation"]["mae"] < results["initial_validation"]["mae"]
    saved = MMEmbedConfig.from_pretrained(tmp_path)
    assert saved.modalities == ["audio", "text"]
    assert (saved.num_source_layers, saved.pooling, saved.learn_modality_weights) == (1, "attention", True)


def test_config_overrides_are_typed_and_unknown_fields_named():
    from mmembed_training.models import config_overrides

    assert config_overrides("num_fusion_layers=2,source_positions=aligned,learn_modality_weights=true") == {
        "num_fusion_layers": 2,
        "source_positions": "aligned",
        "learn_modality_weights": True,
    }
    with pytest.raises(ValueError, match="--config_overrides 'num_layerz=2': key num_layerz isn't in the original"):
        config_overrides("num_layerz=2")


def test_sentiment_on_a_feature_pickle_end_to_end_and_emotion_refused(tmp_path):
    from .mosei_pickle_fixture import write_mmsa

    pickle_file = write_mmsa(tmp_path / "unaligned.pkl")
    flags = ["--stage", "sentiment", "--corpus", "mosei_pickle", "--data_dir", str(pickle_file), "--output_dir"]
    results = cli.main([*flags, str(tmp_path / "run"), "--dataset_cache_dir", str(tmp_path / "cache"),
                        "--num_train_epochs", "2", *QUICK])  # fmt: skip
    for split in ("validation", "test"):
        assert {"mae", "pearson_r", "acc7", "acc5", "acc2_negative_nonnegative", "acc2_negative_positive"} <= set(
            results[split]
        )
    config = MMEmbedConfig.from_pretrained(tmp_path / "run")
    assert (config.audio_feature_size, config.visual_feature_size, config.text_feature_size) == (74, 35, 768)
    assert config.problem_type == "regression"
    emotion = ["--stage", "emotion", *flags[2:], str(tmp_path / "emotion")]
    with pytest.raises(ValueError, match="has no emotion labels .* --stage sentiment"):
        cli.main(emotion)


def test_thresholds_are_tuned_on_validation_before_test_is_read(monkeypatch):
    splits = {name: datasets.Dataset.from_dict({"id": [f"{name}{index}" for index in range(40)]})
              for name in ("validation", "test")}  # fmt: skip
    model = MMEmbedForEmotionRecognition(MMEmbedConfig.from_preset("tiny"))
    calls = []
    rng = np.random.default_rng(0)

    def fake_predict(model, split, collator, batch_size):
        calls.append((split["id"][0], list(model.config.thresholds)))
        return rng.random((40, 6)), (rng.random((40, 6)) > 0.5).astype(int)

    monkeypatch.setattr(evaluation, "predict_emotions", fake_predict)
    results = evaluation.emotion_evaluation(model, splits, None, 8, train_arguments.RunArguments(tune_thresholds=True))
    assert [split for split, _ in calls] == ["validation0", "test0"]
    assert calls[0][1] == [0.5] * 6  # validation predicted before tuning
    assert calls[1][1] == results["thresholds"] != [0.5] * 6  # test scored with the tuned thresholds only
    predictions = results["test_predictions"]  # kept for paired comparisons, in the split's order
    assert predictions["ids"] == splits["test"]["id"] and np.shape(predictions["probabilities"]) == (40, 6)


def test_collator_pads_each_modality_with_its_mask():
    examples = [
        {
            "input_features": np.ones((5, 4), np.float16),
            "visual_features": np.ones((3, 2)),
            "text_input_ids": [7, 8],
            "emotion_labels": [1, 0, 0, 1, 0, 0],
            "words": ["a"],
        },
        {
            "input_features": np.ones((2, 4), np.float16),
            "visual_features": np.zeros((0, 2)),
            "text_input_ids": [9],
            "emotion_labels": [0, 0, 0, 0, 0, 1],
            "words": ["b"],
        },
    ]
    collator = MMEmbedDataCollator("emotion", ("audio", "visual", "text"))
    batch = collator(examples)
    assert batch["input_features"].dtype == torch.float32 and batch["input_features"].shape == (2, 5, 4)
    assert batch["attention_mask"].tolist() == [[1] * 5, [1, 1, 0, 0, 0]]
    assert batch["visual_attention_mask"].tolist() == [[1, 1, 1], [0, 0, 0]]  # empty visual -> absent
    assert batch["text_input_ids"].tolist() == [[7, 8], [9, 0]] and batch["text_attention_mask"].tolist() == [
        [1, 1],
        [1, 0],
    ]
    assert batch["labels"].dtype == torch.float32 and batch["labels"][1].tolist() == [0, 0, 0, 0, 0, 1]
    assert "words" not in batch
    assert collator.padding_fraction == pytest.approx(3 / 10)
    audio_only = MMEmbedDataCollator("emotion", ("audio",))(examples)
    assert set(audio_only) == {"input_features", "attention_mask", "labels"}
    pretrain = MMEmbedDataCollator("pretrain")(
        [
            {"input_features": np.ones((3, 4)), "labels": [5, 6, 2], "speaker_labels": 1},
            {"input_features": np.ones((3, 4)), "labels": [7, 2], "speaker_labels": 0},
        ]
    )
    assert pretrain["labels"].tolist() == [[5, 6, 2], [7, 2, -100]] and pretrain["speaker_labels"].tolist() == [1, 0]


def test_corpus_that_does_not_fit_the_checkpoint_stops_before_training(emotion_run, demo_root, tmp_path):
    _, output = emotion_run  # trained on COVAREP (74) and GloVe; the raw demo corpus has fbank (80) and token ids
    arguments = stage_arguments(
        "emotion",
        "demo",
        str(demo_root),
        str(tmp_path),
        "--model_name_or_path",
        str(output),
        "--num_train_epochs",
        "1",
        *QUICK,
        cache=str(tmp_path / "cache"),
    )
    with pytest.raises(ValueError, match=r"audio_feature_size: checkpoint 74, requested 80.*--reinit_input_layers"):
        cli.main(arguments)
    assert not (tmp_path / "results.json").exists()
    results = cli.main([*arguments, "--reinit_input_layers", "true"])
    assert "test" in results


def test_checkpoint_of_another_model_type_is_refused(demo_root, tmp_path):
    (tmp_path / "bert").mkdir()
    (tmp_path / "bert" / "config.json").write_text(json.dumps({"model_type": "bert"}))
    arguments = stage_arguments(
        "emotion",
        "demo",
        str(demo_root),
        str(tmp_path / "run"),
        "--model_name_or_path",
        str(tmp_path / "bert"),
        "--report_to",
        "none",
        cache=str(tmp_path / "cache"),
    )
    with pytest.raises(ValueError, match="holds a 'bert' model, not an mmembed checkpoint"):
        cli.main(arguments)


def test_a_missing_checkpoint_is_reported_before_the_corpus_is_prepared(tmp_path, monkeypatch):
    def never(*args, **kwargs):
        raise AssertionError("the corpus was prepared before the checkpoint was checked")

    monkeypatch.setattr(run, "load_corpus", never)
    arguments = [
        "--stage",
        "emotion",
        "--model_name_or_path",
        str(tmp_path / "nowhere"),
        "--output_dir",
        str(tmp_path),
    ]
    with pytest.raises(ValueError, match=r"--model_name_or_path .*nowhere: no mmembed checkpoint there"):
        cli.main(arguments)


def test_labels_out_of_range_and_empty_splits_are_refused():
    with pytest.raises(ValueError, match=r"emotion_labels must be 0/1 presence; found values \[0, 1, 2\]"):
        EMOTION.check_labels(datasets.Dataset.from_dict({"emotion_labels": [[0, 1, 2, 0, 0, 0]]}), MMEmbedConfig())
    with pytest.raises(ValueError, match=r"sentiment must be finite and within \[-3, 3\]"):
        SENTIMENT.check_labels(datasets.Dataset.from_dict({"sentiment": [0.5, 3.5]}), MMEmbedConfig())
    with pytest.raises(ValueError, match=r"speaker_labels must lie in \[0, 2\)"):
        PRETRAIN.check_labels(datasets.Dataset.from_dict({"speaker_labels": [0, 2]}), MMEmbedConfig(num_speakers=2))
    corpus = datasets.DatasetDict(
        {"train": datasets.Dataset.from_dict({"x": [1]}), "validation": datasets.Dataset.from_dict({"x": []})}
    )
    with pytest.raises(ValueError, match="The 'validation' split is empty or missing"):
        data.check_splits(corpus, ["train", "validation"])
    with pytest.raises(ValueError, match="The 'test' split is empty or missing"):
        data.check_splits(corpus, ["train", "test"])


def test_collator_refuses_non_finite_features_naming_modality_and_example():
    examples = [
        {"id": "vid1[0]", "input_features": np.ones((4, 3), np.float32), "emotion_labels": [0] * 6},
        {"id": "vid2[3]", "input_features": np.ones((4, 3), np.float32), "emotion_labels": [0] * 6},
    ]
    examples[1]["visual_features"] = np.full((2, 5), np.nan, np.float32)
    examples[0]["visual_features"] = np.ones((2, 5), np.float32)
    with pytest.raises(ValueError, match=r"visual_features \(visual\) holds NaN/inf in examples \['vid2\[3\]'\]"):
        MMEmbedDataCollator("emotion", ("audio", "visual"))(examples)


def test_the_processor_saved_with_the_model_is_the_one_that_featurised_its_corpus(demo_root, tmp_path, monkeypatch):
    from data_scripts.demo_corpus import load_demo_emotion
    from modeling_mmembed import MMEmbedFeatureExtractor

    extractor = MMEmbedFeatureExtractor(global_mean=10.0, global_std=5.0)
    corpus = load_demo_emotion(demo_root / "emotion", cache_dir=tmp_path / "cache", feature_extractor=extractor)
    assert corpus.feature_extractor_config["global_mean"] == 10.0
    monkeypatch.setattr(run, "load_corpus", lambda run_arguments, stage, model_inputs: corpus)
    cli.main(stage_arguments("emotion", "demo", demo_root, tmp_path / "run", "--max_steps", "1", *QUICK))
    saved = MMEmbedFeatureExtractor.from_pretrained(tmp_path / "run")
    assert (saved.global_mean, saved.global_std) == (10.0, 5.0)


def test_a_bf16_compiled_run_trains_on_cpu(learnable, tmp_path):
    """`--bf16` on a CPU-only machine (autocast; losses in fp32) and `--torch_compile` through `Trainer`."""
    output = tmp_path / "bf16"
    flags = [*QUICK, "--bf16", "true", "--torch_compile", "true", "--torch_compile_backend", "aot_eager",
             "--num_train_epochs", "4", "--logging_steps", "4"]  # fmt: skip
    results = cli.main(learnable_arguments("emotion", learnable, output, *flags))
    losses = training_losses(output)  # the whole run's, from the final folder (the kept checkpoint is the best one)
    assert len(losses) >= 10 and np.isfinite(losses).all(), losses
    assert results["validation"]["mean_auc"] > results["initial_validation"]["mean_auc"] + 0.05


def test_the_command_line_prints_a_users_mistake_without_a_traceback(tmp_path, capsys):
    """`train.py` / `mmembed-train`: the package's own error as one message and exit status 2; --debug raises it."""
    arguments = ["--stage", "evaluate", "--output_dir", str(tmp_path)]
    assert cli.console(arguments) == 2
    error = capsys.readouterr().err
    assert (
        error.startswith("train.py: error: --stage evaluate needs --model_name_or_path.") and "Traceback" not in error
    )
    with pytest.raises(ValueError, match="--stage evaluate needs --model_name_or_path"):
        cli.console([*arguments, "--debug"])


def test_no_flags_say_what_they_turn_off(capsys):
    with pytest.raises(SystemExit):
        train_arguments.parse_arguments(["--help"])
    shown = " ".join(capsys.readouterr().out.split())
    assert "--no_tune_thresholds, --no-tune-thresholds Turn off --tune_thresholds (Tune emotion thresholds" in shown
    assert "--stage {pretrain,emotion,sentiment,evaluate}" in shown
