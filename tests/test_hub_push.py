"""Pushing a trained model to the Hub (mocked client) with its model card; a failing push keeps the local save."""

import fnmatch
import json
import logging
import re
from pathlib import Path

import numpy as np
import pytest
from huggingface_hub import ModelCard, ModelCardData

from mmembed_training import arguments as train_arguments
from mmembed_training import cli
from mmembed_training import hub as card_and_upload
from modeling_mmembed import MMEmbedConfig, MMEmbedForEmotionRecognition


class RecordingHubApi:
    """Stands in for `huggingface_hub.HfApi`: records the repo and the files an upload would send."""

    calls: list = []
    error: Exception | None = None

    def __init__(self, token=None):
        self.token = token

    def create_repo(self, repo_id, exist_ok=False, private=None):
        if self.error is not None:
            raise self.error
        self.calls.append(("create_repo", repo_id, private))

    def upload_folder(self, repo_id, folder_path, ignore_patterns=(), commit_message=None):
        folder = Path(folder_path)
        files = sorted(
            str(path.relative_to(folder))
            for path in folder.rglob("*")
            if path.is_file()
            and not any(fnmatch.fnmatch(str(path.relative_to(folder)), pattern) for pattern in ignore_patterns)
        )
        self.calls.append(("upload_folder", repo_id, files))


@pytest.fixture
def hub(monkeypatch):
    RecordingHubApi.calls, RecordingHubApi.error = [], None
    monkeypatch.setattr(card_and_upload, "HfApi", RecordingHubApi)
    return RecordingHubApi


def quick_run(demo_root: Path, output: Path, stage: str, *extra: str) -> dict:
    corpus = (
        ["--corpus", "manifest", "--data_dir", str(demo_root / "speech" / "manifest.jsonl")]
        if stage == "pretrain"
        else ["--corpus", "demo", "--demo_root", str(demo_root)]
    )
    return cli.main([
        "--stage", stage, *corpus, "--output_dir", str(output), "--dataset_cache_dir", str(output.parent / "cache"),
        "--max_steps", "4", "--save_strategy", "steps", "--save_steps", "2", "--eval_strategy", "steps",
        "--eval_steps", "2", "--logging_steps", "1", "--report_to", "tensorboard", "--per_device_train_batch_size",
        "16", *extra,
    ])  # fmt: skip


def test_push_uploads_the_complete_model_folder(demo_root, tmp_path, hub):
    output = tmp_path / "pretrain"
    results = quick_run(demo_root, output, "pretrain", "--push_to_hub", "true", "--hub_model_id", "me/mmembed-pre")
    assert results["pushed"] is True
    assert hub.calls[0] == ("create_repo", "me/mmembed-pre", None)
    _, repo_id, files = hub.calls[1]
    assert repo_id == "me/mmembed-pre"
    expected = {
        "model.safetensors", "config.json", "generation_config.json", "modeling_mmembed.py",
        "configuration_mmembed.py", "input_validation_mmembed.py", "pipeline_mmembed.py", "processing_mmembed.py",
        "feature_extraction_mmembed.py", "audio_mmembed.py", "array_checks_mmembed.py", "tokenization_mmembed.py",
        "openface_mmembed.py", "processor_config.json",
        "tokenizer_config.json", "vocab.json", "handler.py", "README.md", "results.json",
    }  # fmt: skip
    assert expected <= set(files)
    assert any(name.startswith("runs/") and "tfevents" in name for name in files)  # TensorBoard logs
    assert not any(name.startswith(("checkpoint-", "tmp-")) for name in files)
    assert not any(name.endswith((".bin", ".pkl", ".pt")) for name in files)  # no pickle (training_args.bin)
    assert list(output.glob("checkpoint-*"))  # kept locally, not uploaded


def test_model_card_metadata_round_trips_and_matches_results(demo_root, tmp_path, hub):
    output = tmp_path / "emotion"
    quick_run(demo_root, output, "emotion", "--push_to_hub", "true", "--hub_model_id", "me/mmembed-emo")
    results = json.loads((output / "results.json").read_text())
    card = ModelCard.load(output / "README.md")
    data = card.data.to_dict()
    assert data["library_name"] == "transformers" and data["pipeline_tag"] == "audio-classification"
    assert {"mmembed", "multimodal", "custom_code"} <= set(data["tags"])
    assert data["license"] == "apache-2.0"
    set_based = ["jaccard_accuracy", "hamming_loss", "micro_f1", "macro_f1"]  # the second protocol, tuned and at 0.5
    per_emotion = ["mean_weighted_accuracy", "mean_f1", "mean_auc"]
    assert data["metrics"] == per_emotion + set_based + [f"{name}_untuned" for name in set_based]
    assert data["language"] == "en"
    # the demo corpora are no Hub dataset: no dataset id and no model-index (the Hub would link both)
    assert card.data.datasets is None and card.data.eval_results is None
    again = ModelCardData(**ModelCard(str(card)).data.to_dict())
    assert again.to_dict() == card.data.to_dict()
    for section in (
        "## How to use",
        "trust_remote_code=True",
        "## Labels",
        "- `fear`: present when the generator planted the demo's cue for fear",
        "- `..._untuned`: the same figure with every decision at a fixed 0.5",
        "## Intended use",
        "## Limitations",
        "The demo corpora are synthetic",
        "## Training data",
        "Data terms: Generated by mmembed",
        "## Biometric and privacy note",
        "## Results",
        "- `mean_weighted_accuracy`: mean over the emotions of the weighted accuracy",
        "- `hamming_loss`: share of (segment, emotion) decisions that are wrong",
    ):
        assert section in card.text, section
    for absent in ("VoxCeleb2", "CMU-MOSEI is distributed"):  # terms of data this model was not trained on
        assert absent not in card.text, absent
    assert f"{results['test']['mean_weighted_accuracy']:.4f}" in card.text
    model = MMEmbedForEmotionRecognition.from_pretrained(output)
    compute = results["training_compute"]
    assert compute["parameters"] == model.num_parameters() and compute["train_seconds"] > 0
    assert f"Size and compute: {model.num_parameters() / 1e6:.2f} M parameters; trained for " in card.text
    assert "CPU cores" in card.text and "1 process;" in card.text


def card_code(card_text: str) -> str:
    (code,) = re.findall(r"```python\n(.*?)```", card_text.split("## How to use")[1].split("##")[0], flags=re.DOTALL)
    return code


def test_the_card_s_example_runs_as_written_against_the_saved_folder(demo_root, tmp_path, monkeypatch, capsys):
    output = tmp_path / "emotion"
    results = quick_run(demo_root, output, "emotion")
    card = ModelCard.load(output / "README.md")
    code = card_code(card.text)
    assert f'model="{output}"' in code and "frames" not in code.split("inputs = {")[0]
    assert card.data.pipeline_tag == "audio-classification" and 'pipeline("audio-classification"' in code
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    exec(compile(code, "model card", "exec"), {"__name__": "__card__"})
    printed = capsys.readouterr().out
    assert printed.count("'label': 'happy'") == 2 and "'present'" in printed  # both pipelines ran
    assert "features (FACET 4.2" in card.text  # input descriptions are prose, not code spans
    table = card.text.split("## Results")[1].split("Training arguments")[0]
    (samples,) = [line for line in table.splitlines() if line.startswith("| samples ")]
    assert samples.count(".0000") == 3 and f"{results['test']['samples']:.4f}" in samples  # every split counted


def test_mosei_card_names_the_dataset_and_its_terms_without_synthetic_data_text(tmp_path):
    run, training = train_arguments.parse_arguments(
        ["--stage", "emotion", "--corpus", "mosei", "--output_dir", str(tmp_path)]
    )
    results = {"stage": "emotion", "test": {"mean_weighted_accuracy": 0.6, "mean_f1": 0.7, "mean_auc": None}}
    card = ModelCard.load(card_and_upload.write_model_card(tmp_path, results, run, training, MMEmbedConfig()))
    assert card.data.license == "other" and card.data.language == "en"
    assert card.data.datasets is None and card.data.eval_results is None  # "CMU-MOSEI" is no Hub dataset id
    assert "Data terms: CMU-MOSEI is distributed by CMU" in card.text and "Trained on CMU-MOSEI" in card.text
    assert "- `sad`: sad is present in the segment: the mean of three annotators' ratings" in card.text
    for absent in ("synthetic", "VoxCeleb2", "espeak"):
        assert absent not in card.text, absent
    assert "Method: The method as published" in card.text


def test_a_hub_dataset_is_named_and_linked_a_local_one_is_not(tmp_path):
    results = {"stage": "classification", "test": {"unweighted_accuracy": 0.5, "accuracy": 0.6, "macro_f1": 0.4}}
    config = MMEmbedConfig(num_labels=2, id2label={0: "calm", 1: "angry"}, problem_type="single_label_classification")
    local = tmp_path / "my-clips"
    local.mkdir()
    for name, hub_ids in (("someone/emotion-clips", ["someone/emotion-clips"]), (str(local), None)):
        run, training = train_arguments.parse_arguments(["--dataset_name", name, "--output_dir", str(tmp_path)])
        card = ModelCard.load(card_and_upload.write_model_card(tmp_path, results, run, training, config))
        assert card.data.datasets == hub_ids and card.data.language is None
        assert (card.data.eval_results is None) is (hub_ids is None)
        if hub_ids:
            assert {result.dataset_type for result in card.data.eval_results} == set(hub_ids)
        assert f"- `angry`: the label `angry` of {name}, as it defines it." in card.text
        assert "- `unweighted_accuracy`: mean over the classes of each class's recall" in card.text


def test_the_card_names_the_extensions_a_checkpoint_uses(tmp_path):
    run, training = train_arguments.parse_arguments(
        ["--stage", "emotion", "--corpus", "mosei", "--output_dir", str(tmp_path)]
    )
    results = {"stage": "emotion", "test": {"mean_weighted_accuracy": 0.6, "mean_f1": 0.7, "mean_auc": None}}
    config = MMEmbedConfig.from_preset("paper", cross_modal_residual=False, pooling="attention")
    card = ModelCard.load(card_and_upload.write_model_card(tmp_path, results, run, training, config))
    assert (
        "with these extensions (config fields; the `paper` preset has none): `cross_modal_residual=False`, "
        "`pooling=attention`." in card.text
    )


def test_a_pickle_sentiment_card_reports_both_binary_conventions(tmp_path):
    run, training = train_arguments.parse_arguments(
        ["--stage", "sentiment", "--corpus", "mosei_pickle", "--output_dir", str(tmp_path)]
    )
    names = ["mae", "pearson_r", "acc7", "acc5", "acc2_negative_nonnegative", "acc2_negative_positive"]
    results = {"stage": "sentiment", "test": {name: 0.5 + index / 10 for index, name in enumerate(names)}}
    card = ModelCard.load(card_and_upload.write_model_card(tmp_path, results, run, training, MMEmbedConfig()))
    assert card.data.license == "other" and card.data.metrics == names
    table = card.text.split("## Results")[1]
    assert all(f"{value:.4f}" in table for value in results["test"].values())
    assert "- `acc2_negative_positive`: binary accuracy of negative against positive sentiment" in table


@pytest.mark.parametrize("error", [PermissionError("403: no write access to me/mmembed-emo"), OSError("offline")])
def test_a_failing_push_keeps_the_local_save_and_says_how_to_retry(demo_root, tmp_path, hub, error, caplog):
    hub.error = error
    output = tmp_path / "emotion"
    with caplog.at_level(logging.ERROR, logger="mmembed_training.hub"):
        results = quick_run(demo_root, output, "emotion", "--push_to_hub", "true", "--hub_model_id", "me/mmembed-emo")
    assert results["pushed"] is False
    assert (output / "model.safetensors").is_file() and (output / "README.md").is_file()
    assert "hf upload me/mmembed-emo" in caplog.text and str(output) in caplog.text


def test_push_needs_a_repository_name(demo_root, tmp_path):
    with pytest.raises(ValueError, match="--push_to_hub needs --hub_model_id"):
        quick_run(demo_root, tmp_path / "x", "emotion", "--push_to_hub", "true")


def test_the_card_cites_the_paper_and_names_its_base_model(tmp_path):
    results = {"stage": "emotion", "test": {"mean_weighted_accuracy": 0.6, "mean_f1": 0.7, "mean_auc": 0.8}}
    pushed = tmp_path / "pushed-pretrain"  # a local pre-training folder whose card records its Hub name
    pushed.mkdir()
    ModelCard.from_template(
        ModelCardData(model_name="me/mmembed-pre"), template_str="---\n{{ card_data }}\n---\n"
    ).save(pushed / "README.md")
    local = tmp_path / "local-pretrain"
    local.mkdir()
    cases = {"me/mmembed-pre-hub": "me/mmembed-pre-hub", str(pushed): "me/mmembed-pre", str(local): None, None: None}
    for start, base_model in cases.items():
        flags = ["--stage", "emotion", "--output_dir", str(tmp_path / "run")]
        run, training = train_arguments.parse_arguments(flags + (["--model_name_or_path", start] if start else []))
        card = ModelCard.load(
            card_and_upload.write_model_card(tmp_path / "run", results, run, training, MMEmbedConfig())
        )
        assert card.data.base_model == base_model, start
        assert "{10.21437/Interspeech.2020-1827}" in card.text and "{2009.05019}" in card.text
        if start == str(local):
            assert "local pre-training checkpoint `local-pretrain` (not on the Hub)" in card.text
        if start is None:
            assert "Trained from scratch" in card.text


def corpus_flags(kind: str, demo_root: Path, work: Path) -> list[str]:
    """train.py flags of a quick emotion (or, for a feature pickle, sentiment) run on each kind of corpus."""
    if kind == "mosei":
        from .learnable_corpus import write_learnable_corpus

        return ["--corpus", "mosei", "--data_dir", str(write_learnable_corpus(work / "mosei"))]
    if kind == "mosei_pickle":
        from .mosei_pickle_fixture import write_mmsa

        return ["--stage", "sentiment", "--corpus", "mosei_pickle", "--data_dir", str(write_mmsa(work / "u.pkl"))]
    if kind == "dataset":
        import soundfile

        from .audio_signals import RATE, tone

        (work / "clips").mkdir(parents=True)
        rows = []
        for index in range(12):
            soundfile.write(work / "clips" / f"c{index}.wav", tone(200.0 * (1 + index % 3), 0.5), RATE)
            rows.append(json.dumps({"audio": f"c{index}.wav", "label": "abc"[index % 3]}) + "\n")
        (work / "clips" / "train.jsonl").write_text("".join(rows))
        return ["--train_file", str(work / "clips" / "train.jsonl")]
    return ["--corpus", kind, "--demo_root", str(demo_root)]


@pytest.mark.parametrize("kind", ["demo", "demo-mosei", "mosei", "mosei_pickle", "dataset"])
def test_the_card_example_runs_for_a_model_of_every_corpus_kind(kind, demo_root, tmp_path, monkeypatch, capsys):
    """Audio or, for a model trained on pre-extracted features, frames of those features: the saved processor and
    the card both say which, and the card's code runs against the saved folder."""
    output = tmp_path / "model"
    flags = [*corpus_flags(kind, demo_root, tmp_path), "--output_dir", str(output), "--max_steps", "2"]
    cli.main([*flags, "--dataset_cache_dir", str(tmp_path / "cache"), "--report_to", "none"])
    from modeling_mmembed import MMEmbedFeatureExtractor

    features = {"demo-mosei": "COVAREP", "mosei": "COVAREP", "mosei_pickle": "MMSA pickle"}.get(kind)
    assert MMEmbedFeatureExtractor.from_pretrained(output).audio_features == features
    text = ModelCard.load(output / "README.md").text
    assert ("16 kHz audio" in text) is (features is None) and (f"pre-extracted {features}" in text) is bool(features)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    exec(compile(card_code(text), "model card", "exec"), {"__name__": "__card__"})
    assert "'score'" in capsys.readouterr().out


def test_a_features_model_refuses_audio_naming_what_it_reads(tmp_path):
    from modeling_mmembed import MMEmbedFeatureExtractor

    MMEmbedFeatureExtractor(feature_size=74, audio_features="COVAREP").save_pretrained(tmp_path)
    reloaded = MMEmbedFeatureExtractor.from_pretrained(tmp_path)
    assert reloaded(np.ones((3, 74), np.float32))["input_features"][0].shape == (3, 74)  # taken as they are
    with pytest.raises(ValueError, match=r"reads pre-extracted COVAREP audio features, 74 per frame, not audio"):
        reloaded(np.zeros(16000, np.float32), sampling_rate=16000)
