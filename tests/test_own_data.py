"""
Training on a dataset of your own, the `datasets` way (`train.py --dataset_name ... / --train_file ...`): an
`audiofolder` (single-label), a JSON Lines manifest with visual `.npy` files and transcripts (multi-label), a CSV of
two float targets (regression) and a `save_to_disk` folder with decoded audio; each trains, saves and reloads through
`AutoModelForAudioClassification` and the pipelines with the dataset's own labels. Bad input stops before training.
"""

import csv
import json
from pathlib import Path

import datasets
import numpy as np
import pytest
import soundfile
from transformers import AutoModelForAudioClassification, pipeline

from data_scripts.labelled_dataset import DatasetOptions, load_labelled_dataset
from mmembed_training import cli

from .audio_signals import RATE, tone

CLASSES = ("angry", "happy", "neutral", "sad")
QUICK = ["--preset", "tiny", "--per_device_train_batch_size", "4", "--report_to", "none", "--learning_rate", "0.003"]


def clip(index: int, seconds: float = 0.6) -> np.ndarray:
    """A tone whose pitch follows its class (`index % 4`), with a little noise per clip."""
    noise = np.random.default_rng(index).normal(0, 0.01, int(seconds * RATE)).astype(np.float32)
    return tone(220.0 * (1 + index % 4), seconds) + noise


def write_wav(path: Path, index: int) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(path, clip(index), RATE)
    return path.name


@pytest.fixture(scope="module")
def audiofolder(tmp_path_factory) -> Path:
    """`metadata.csv` with a class-name `label` and a `speaker` per clip, in train/ and test/ folders."""
    root = tmp_path_factory.mktemp("audiofolder")
    for split, count in (("train", 32), ("test", 8)):
        rows = []
        for index in range(count):
            name = write_wav(root / split / f"clip{index}.wav", index)
            rows.append({"file_name": name, "label": CLASSES[index % 4], "speaker": f"s{index // 4}"})
        with open(root / split / "metadata.csv", "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=["file_name", "label", "speaker"])
            writer.writeheader()
            writer.writerows(rows)
    return root


def run_training(tmp_path: Path, *flags: str) -> dict:
    output = tmp_path / "model"
    arguments = [*flags, "--output_dir", str(output), "--max_steps", "6", *QUICK]
    return cli.main([*arguments, "--dataset_cache_dir", str(tmp_path / "cache")])


def test_an_audiofolder_trains_a_single_label_model_with_its_own_classes(audiofolder, tmp_path):
    flags = ["--dataset_name", "audiofolder", "--data_dir", str(audiofolder), "--group_column_name", "speaker"]
    results = run_training(tmp_path, *flags)
    assert results["stage"] == "classification"
    assert {"accuracy", "unweighted_accuracy", "macro_f1"} <= results["test"].keys()
    assert results["test"]["samples"] == 8.0  # the folder's own test split, scored once
    model = AutoModelForAudioClassification.from_pretrained(tmp_path / "model", trust_remote_code=True)
    assert list(model.config.id2label.values()) == list(CLASSES)
    assert model.config.problem_type == "single_label_classification"
    classifier = pipeline("audio-classification", model=str(tmp_path / "model"), trust_remote_code=True, top_k=None)
    scores = classifier({"array": clip(1), "sampling_rate": RATE})
    assert sorted(score["label"] for score in scores) == sorted(CLASSES)
    assert sum(score["score"] for score in scores) == pytest.approx(1.0, abs=1e-4)


def test_training_starts_from_a_pretraining_checkpoint_or_re_heads_an_emotion_model(audiofolder, tmp_path, caplog):
    """The paper's route (pre-training, then tuning) and an earlier 6-emotion model re-headed to the 4 classes."""
    from modeling_mmembed import MMEmbedConfig, MMEmbedForEmotionRecognition, MMEmbedForPreTraining

    MMEmbedForPreTraining(MMEmbedConfig.from_preset("tiny", num_speakers=3)).save_pretrained(tmp_path / "pretrained")
    MMEmbedForEmotionRecognition(MMEmbedConfig.from_preset("tiny", pos_weight=[2.0] * 6)).save_pretrained(
        tmp_path / "emotion"
    )
    flags = ["--dataset_name", "audiofolder", "--data_dir", str(audiofolder)]
    for start in ("pretrained", "emotion"):
        with caplog.at_level("INFO", logger="mmembed_training.models"):
            results = run_training(tmp_path / start / "run", *flags, "--model_name_or_path", str(tmp_path / start))
        assert results["stage"] == "classification"
        model = AutoModelForAudioClassification.from_pretrained(
            tmp_path / start / "run" / "model", trust_remote_code=True
        )
        assert list(model.config.id2label.values()) == list(CLASSES) and model.config.pos_weight is None
        assert model.config.thresholds is None  # a single-label head has none; the 6-emotion ones are gone
    assert f"Re-heading {tmp_path / 'emotion'} to 4 labels" in caplog.text


def test_the_evaluate_stage_scores_a_saved_model_on_its_dataset(audiofolder, tmp_path):
    flags = ["--dataset_name", "audiofolder", "--data_dir", str(audiofolder)]
    trained = run_training(tmp_path, *flags)
    evaluated = cli.main(
        ["--stage", "evaluate", "--model_name_or_path", str(tmp_path / "model"), *flags, "--output_dir", str(tmp_path)]
    )
    assert evaluated["test"]["unweighted_accuracy"] == pytest.approx(trained["test"]["unweighted_accuracy"])


def test_problem_type_overrides_what_the_label_column_suggests(tmp_path):
    """Integer labels are classes unless `problem_type` says they are scores."""
    train = manifest_with(tmp_path, [{"label": index % 4} for index in range(12)])
    assert load_labelled_dataset(DatasetOptions(train_file=train)).labels.problem_type == "single_label_classification"
    scored = load_labelled_dataset(DatasetOptions(train_file=train, problem_type="regression"))
    assert (
        scored.labels.problem_type == "regression" and scored["train"].features["targets"].feature.dtype == "float32"
    )


def test_a_validation_split_is_carved_by_speaker(audiofolder):
    options = DatasetOptions(dataset_name="audiofolder", data_dir=str(audiofolder), group_column_name="speaker")
    corpus = load_labelled_dataset(options)
    assert corpus.report["splits"]["validation"]["from"] == "0.15 of train (seed 0, by speaker)"
    assert corpus.report["splits"]["test"]["from"] == "split 'test'"
    train_ids, validation_ids = set(corpus["train"]["id"]), set(corpus["validation"]["id"])
    assert not train_ids & validation_ids and len(corpus["validation"]) % 4 == 0  # whole speakers of 4 clips
    assert corpus.labels.names == CLASSES and corpus.feature_extractor_config["sampling_rate"] == RATE


@pytest.fixture(scope="module")
def manifest(tmp_path_factory) -> Path:
    """JSON Lines manifests: audio and visual paths relative to the file, a transcript, a list of label names."""
    root = tmp_path_factory.mktemp("manifest")
    for split, count in (("train", 24), ("validation", 8), ("test", 8)):
        rows = []
        for index in range(count):
            write_wav(root / "wav" / f"{split}{index}.wav", index)
            frames = np.random.default_rng(index).normal(size=(15, 5)).astype(np.float32)
            (root / "visual").mkdir(exist_ok=True)
            np.save(root / "visual" / f"{split}{index}.npy", frames)
            labels = [name for bit, name in enumerate(("joy", "surprise")) if (index >> bit) & 1] or ["calm"]
            rows.append(
                {
                    "audio": f"wav/{split}{index}.wav",
                    "video": f"visual/{split}{index}.npy",
                    "transcript": f"utterance {index}",
                    "emotions": labels,
                }
            )
        (root / f"{split}.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    return root


def test_a_manifest_with_visual_files_and_transcripts_trains_a_multi_label_model(manifest, tmp_path):
    flags = ["--train_file", str(manifest / "train.jsonl"), "--validation_file", str(manifest / "validation.jsonl")]
    flags += ["--test_file", str(manifest / "test.jsonl"), "--label_column_name", "emotions"]
    flags += ["--visual_column_name", "video", "--text_column_name", "transcript"]
    results = run_training(tmp_path, *flags)
    assert results["stage"] == "multilabel" and len(results["thresholds"]) == 3
    assert {"calm_weighted_accuracy", "joy_auc", "mean_weighted_accuracy"} <= results["test"].keys()
    model = AutoModelForAudioClassification.from_pretrained(tmp_path / "model", trust_remote_code=True)
    assert model.config.modalities == ["audio", "visual", "text"]
    assert sorted(model.config.id2label.values()) == ["calm", "joy", "surprise"]
    classifier = pipeline("audio-classification", model=str(tmp_path / "model"), trust_remote_code=True, top_k=None)
    assert {score["label"] for score in classifier({"array": clip(3), "sampling_rate": RATE})} == {
        "calm",
        "joy",
        "surprise",
    }
    card = (tmp_path / "model" / "README.md").read_text()
    assert "train.jsonl" in card and "joy_weighted_accuracy" in card
    multimodal = pipeline("multimodal-emotion-recognition", model=str(tmp_path / "model"), trust_remote_code=True)
    inputs = {"audio": clip(3), "visual": np.zeros((15, 5), np.float32), "transcript": "utterance 3"}
    assert {score["label"] for score in multimodal(inputs)} == {"calm", "joy", "surprise"}


def test_two_float_columns_train_a_regression_scored_by_concordance(tmp_path):
    rows = [
        {"audio": write_wav(tmp_path / "data" / f"c{index}.wav", index), "arousal": index % 4 / 3, "valence": 0.5}
        for index in range(30)
    ]
    for row, index in zip(rows, range(30), strict=True):
        row["valence"] = float(np.sin(index))
    with open(tmp_path / "data" / "all.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["audio", "arousal", "valence"])
        writer.writeheader()
        writer.writerows(rows)
    flags = ["--train_file", str(tmp_path / "data" / "all.csv"), "--label_column_name", "arousal,valence"]
    results = run_training(tmp_path, *flags)
    assert results["stage"] == "regression"
    assert {"arousal_ccc", "valence_ccc", "mean_ccc", "mean_mae", "mean_pearson_r"} <= results["test"].keys()
    model = AutoModelForAudioClassification.from_pretrained(tmp_path / "model", trust_remote_code=True)
    assert list(model.config.id2label.values()) == ["arousal", "valence"] and model.config.problem_type == "regression"
    multimodal = pipeline("multimodal-emotion-recognition", model=str(tmp_path / "model"), trust_remote_code=True)
    assert [score["label"] for score in multimodal({"audio": clip(0)})] == ["arousal", "valence"]


def test_a_save_to_disk_folder_with_decoded_audio_at_another_rate(tmp_path):
    """An `Audio` column as `datasets` stores it (here 8 kHz arrays): read without torchcodec, resampled to 16 kHz."""
    rates = 8000
    columns = {
        "audio": [{"array": clip(index)[::2], "sampling_rate": rates} for index in range(24)],
        "label": [index % 2 for index in range(24)],
    }
    features = datasets.Features({"audio": datasets.Audio(), "label": datasets.ClassLabel(names=["low", "high"])})
    saved = datasets.Dataset.from_dict(columns, features=features).train_test_split(test_size=6, seed=0)
    saved.save_to_disk(str(tmp_path / "saved"))
    corpus = load_labelled_dataset(DatasetOptions(dataset_name=str(tmp_path / "saved")))
    frames = np.asarray(corpus["train"][0]["input_features"])
    assert frames.shape[0] == pytest.approx(60, abs=3)  # 0.6 s at 100 frames per second after resampling
    assert corpus.labels.names == ("low", "high") and corpus.report["splits"]["test"]["from"] == "split 'test'"
    results = run_training(tmp_path, "--dataset_name", str(tmp_path / "saved"))
    assert results["stage"] == "classification" and results["test"]["samples"] == 6.0


def manifest_with(tmp_path: Path, rows: list[dict], name: str = "train.jsonl") -> str:
    for index, row in enumerate(rows):
        row.setdefault("audio", write_wav(tmp_path / f"a{index}.wav", index))
    (tmp_path / name).write_text("".join(json.dumps(row) + "\n" for row in rows))
    return str(tmp_path / name)


@pytest.mark.parametrize(
    ("rows", "options", "message"),
    [
        ([{"label": "a"}, {"label": "b"}] * 5, {"label_column_name": "emotion"},
         r"--label_column_name 'emotion' is not a column; the dataset's columns are \['label', 'audio'\]"),
        ([{"label": "a"}, {"label": 1}] * 5, {}, r"mixes value types \['int', 'str'\]"),
        ([{"label": "a"}, {"label": "a"}] * 5, {}, "has 1 class; classification needs at least 2"),
        ([{"label": "a", "video": "../outside.npy"}, {"label": "b", "video": "../outside.npy"}] * 5,
         {"visual_column_name": "video"}, r"\.\./outside\.npy is outside the dataset's folder"),
    ],
)  # fmt: skip
def test_bad_datasets_are_refused_before_training(tmp_path, rows, options, message):
    train = manifest_with(tmp_path, rows)
    with pytest.raises(ValueError, match=message):
        load_labelled_dataset(DatasetOptions(train_file=train, **options))


def test_a_label_never_seen_in_train_and_an_empty_audio_file_are_named(tmp_path):
    train = manifest_with(tmp_path, [{"label": "a"}, {"label": "b"}] * 5)
    rows = [{"label": "a", "audio": "a0.wav"}, {"label": "c", "audio": "a1.wav"}]
    validation = manifest_with(tmp_path, rows, "v.jsonl")
    with pytest.raises(ValueError, match=r"The validation split has labels \['c'\] that the train split never has"):
        load_labelled_dataset(DatasetOptions(train_file=train, validation_file=validation))
    soundfile.write(tmp_path / "empty.wav", np.zeros(0, np.float32), RATE)
    rows = [{"label": "a", "audio": "empty.wav"}] + [{"label": "ab"[index % 2]} for index in range(1, 10)]
    with pytest.raises(ValueError, match=r"row 0 \(empty\.wav\).*empty or shorter than one 25 ms frame"):
        load_labelled_dataset(DatasetOptions(train_file=manifest_with(tmp_path, rows, "e.jsonl")))


def test_a_class_with_no_training_example_is_refused(tmp_path):
    features = datasets.Features({"audio": datasets.Audio(), "label": datasets.ClassLabel(names=["a", "b", "c"])})
    audio = [{"array": clip(index), "sampling_rate": RATE} for index in range(10)]
    split = datasets.Dataset.from_dict(
        {"audio": audio, "label": [index % 2 for index in range(10)]}, features=features
    )
    datasets.DatasetDict({"train": split, "validation": split, "test": split}).save_to_disk(str(tmp_path / "saved"))
    with pytest.raises(ValueError, match=r"Classes \['c'\] have no training example"):
        load_labelled_dataset(DatasetOptions(dataset_name=str(tmp_path / "saved")))
