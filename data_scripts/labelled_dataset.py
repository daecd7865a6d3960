"""
Your own labelled speech (+ video, + transcript) dataset, the `datasets` way, as a `PreparedCorpus`:

    corpus = load_labelled_dataset(DatasetOptions(dataset_name="audiofolder", data_dir="my_clips"))
    corpus = load_labelled_dataset(DatasetOptions(train_file="train.jsonl", test_file="test.jsonl",
                                                  label_column_name="emotions", visual_column_name="video"))

The dataset is a Hub id or a builder (`audiofolder`, `csv`, `json`, with `data_dir`), a folder written by
`save_to_disk`, or CSV / JSON Lines manifests (`train_file`, `validation_file`, `test_file`), as transformers'
`run_audio_classification.py` takes it. Its label column decides the problem (`label_kind`), overridable with
`problem_type`: class names (a `ClassLabel`, strings or integers) -> single-label; lists of names or 0/1 vectors ->
multi-label; floats in one or several columns (`"arousal,valence"`) -> regression. Audio is read by the package's
bounded reader whatever `datasets` holds (an `Audio` column is read undecoded, so no `torchcodec`/FFmpeg is needed;
a path relative to the dataset; bytes; or an already decoded `{"array", "sampling_rate"}`), mixed to mono, resampled
to the extractor's rate and turned into fbank rows; `max_length_seconds` bounds what is decoded. Visual frames are an
array per row or a `.npy` / OpenFace 2 CSV path inside the dataset's folder; the transcript becomes character ids.
A missing validation (or test) split is carved from train by `seed`, by group when `group_column_name` names one
(speaker or session). Everything that would stop training is checked here, before the first step.
"""

import io
import logging
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import datasets
import numpy as np
from datasets.fingerprint import Hasher

from .model_inputs import InputFeaturizer, audio_feature, feature_extractor_config
from .prepared_corpus import LabelSpec, PreparedCorpus

logger = logging.getLogger(__name__)

PROBLEM_TYPES = ("single_label_classification", "multi_label_classification", "regression")


@dataclass(frozen=True)
class DatasetOptions:
    """Where the dataset is and which of its columns are what (the flag names of `run_audio_classification.py`)."""

    dataset_name: str | None = None
    dataset_config_name: str | None = None
    data_dir: str | None = None
    train_file: str | None = None
    validation_file: str | None = None
    test_file: str | None = None
    train_split_name: str = "train"
    eval_split_name: str = "validation"
    test_split_name: str = "test"
    audio_column_name: str = "audio"
    label_column_name: str = "label"
    visual_column_name: str | None = None
    text_column_name: str | None = None
    group_column_name: str | None = None
    max_length_seconds: float = 30.0
    problem_type: str | None = None
    validation_fraction: float = 0.15
    seed: int = 0

    @property
    def label_columns(self) -> list[str]:
        return [name.strip() for name in self.label_column_name.split(",") if name.strip()]


def load_labelled_dataset(
    options: DatasetOptions,
    *,
    cache_dir=None,
    num_proc: int | None = None,
    feature_extractor=None,
    text_tokenizer=None,
) -> PreparedCorpus:
    """
    The dataset `options` name as a `PreparedCorpus` with splits `train`, `validation`, `test` and the columns
    training reads: `id`, `input_features` (fbank of `feature_extractor`, default `MMEmbedFeatureExtractor()`; a
    speech encoder's extractor makes the waveform `input_values`), `visual_features` / `text_input_ids` (characters,
    or the tokens of `text_tokenizer`) when asked for, and the labels as
    `label` (class id), `multi_labels` (0/1 per class) or `targets` (floats); its `report` says
    where each split came from and how many examples each has, its `labels` the `LabelSpec`.
    """
    raw, base = read_raw_splits(options)
    report = {"splits": {}}
    splits = pick_splits(raw, options, report)
    check_columns(splits["train"], options)
    labels = label_spec(splits, options)
    extractor_config = feature_extractor_config(feature_extractor)
    width = None  # every row's visual frames have the width of the first training row's
    if options.visual_column_name:
        width = read_visual(splits["train"][0][options.visual_column_name], base, "train row 0").shape[1]
    prepared = {}
    for name, split in splits.items():
        prepared[name] = featurise(
            split, name, options, labels, InputFeaturizer(extractor_config, text_tokenizer), base, width, cache_dir,
            num_proc,
        )  # fmt: skip
        report["splits"][name]["examples"] = len(prepared[name])
    logger.info("Dataset %s: %s", options.dataset_name or options.train_file, report)
    return PreparedCorpus(datasets.DatasetDict(prepared), extractor_config, report, labels)


def read_raw_splits(options: DatasetOptions) -> tuple[dict, Path | None]:
    """The dataset's splits as `datasets` loads them, and the folder its relative paths are read from."""
    if options.train_file:
        files = {
            split: path
            for split, path in (
                (options.train_split_name, options.train_file),
                (options.eval_split_name, options.validation_file),
                (options.test_split_name, options.test_file),
            )
            if path
        }
        for path in files.values():
            if not Path(path).is_file():
                raise ValueError(f"Manifest {path} does not exist.")
        builder = "csv" if Path(options.train_file).suffix.lower() in (".csv", ".tsv") else "json"
        extra = {"delimiter": "\t"} if Path(options.train_file).suffix.lower() == ".tsv" else {}
        loaded = datasets.load_dataset(builder, data_files=files, **extra)
        return dict(loaded), Path(options.train_file).resolve().parent
    if not options.dataset_name:
        raise ValueError(
            "Name the dataset: --dataset_name (a Hub id, a builder or a save_to_disk folder) or --train_file."
        )
    folder = Path(options.dataset_name)
    saved = any((folder / name).is_file() for name in ("dataset_dict.json", "dataset_info.json"))
    if folder.is_dir() and saved:
        loaded = datasets.load_from_disk(str(folder))
        loaded = loaded if isinstance(loaded, datasets.DatasetDict) else {options.train_split_name: loaded}
        return dict(loaded), folder.resolve()
    try:
        loaded = datasets.load_dataset(options.dataset_name, options.dataset_config_name, data_dir=options.data_dir)
    except (ConnectionError, FileNotFoundError) as error:
        raise ValueError(
            f"--dataset_name {options.dataset_name}: cannot be loaded ({error}). Offline, give a local folder "
            "(save_to_disk), a builder with --data_dir (audiofolder), or --train_file."
        ) from None
    return dict(loaded), Path(options.data_dir).resolve() if options.data_dir else None


def pick_splits(raw: dict, options: DatasetOptions, report: dict) -> dict:
    """`train`, `validation` and `test`: the named splits, or carved from train (by group) where one is missing."""
    if options.train_split_name not in raw:
        raise ValueError(f"The dataset has no {options.train_split_name!r} split; its splits are {sorted(raw)}.")
    train = raw[options.train_split_name]
    splits = {}
    for name, wanted in (("test", options.test_split_name), ("validation", options.eval_split_name)):
        if wanted in raw:
            splits[name] = raw[wanted]
            report["splits"][name] = {"from": f"split {wanted!r}"}
            continue
        train, splits[name] = carve(train, options, name)
        by = f", by {options.group_column_name}" if options.group_column_name else ""
        report["splits"][name] = {"from": f"{options.validation_fraction:g} of train (seed {options.seed}{by})"}
        logger.warning("No %r split: %s carved from train (%s).", wanted, name, report["splits"][name]["from"])
    report["splits"]["train"] = {"from": f"split {options.train_split_name!r}"}
    return {"train": train, "validation": splits["validation"], "test": splits["test"]}


def carve(train, options: DatasetOptions, name: str):
    """`(rest, carved)`: `validation_fraction` of `train` by `seed`; whole groups when `group_column_name` is set."""
    rng = np.random.default_rng([options.seed, ("test", "validation").index(name)])
    if options.group_column_name:
        if options.group_column_name not in train.column_names:
            raise ValueError(
                f"--group_column_name {options.group_column_name!r} is not a column; the columns are "
                f"{train.column_names}."
            )
        groups = np.asarray([str(group) for group in train[options.group_column_name]])
        unique = rng.permutation(np.unique(groups))
        count = max(1, round(len(unique) * options.validation_fraction))
        if count >= len(unique):
            raise ValueError(
                f"{len(unique)} groups in {options.group_column_name!r}: too few to carve a {name} split by group."
            )
        chosen = np.isin(groups, unique[:count])
    else:
        chosen = np.zeros(len(train), bool)
        chosen[rng.permutation(len(train))[: max(1, round(len(train) * options.validation_fraction))]] = True
    if chosen.all():
        raise ValueError(f"The train split has {len(train)} examples: too few to carve a {name} split.")
    return train.select(np.flatnonzero(~chosen)), train.select(np.flatnonzero(chosen))


def check_columns(train, options: DatasetOptions) -> None:
    """Every column the options name exists (else the dataset's columns are listed)."""
    named = {
        "--audio_column_name": [options.audio_column_name],
        "--label_column_name": options.label_columns,
        "--visual_column_name": [options.visual_column_name] if options.visual_column_name else [],
        "--text_column_name": [options.text_column_name] if options.text_column_name else [],
    }
    for flag, columns in named.items():
        missing = [column for column in columns if column not in train.column_names]
        if missing:
            raise ValueError(f"{flag} {missing[0]!r} is not a column; the dataset's columns are {train.column_names}.")


def label_kind(feature, values: Sequence) -> str:
    """The problem a label column poses, from its `datasets` feature and its values."""
    if isinstance(feature, datasets.ClassLabel):
        return "single_label_classification"
    if isinstance(feature, (datasets.Sequence, datasets.List)) or (values and isinstance(values[0], (list, tuple))):
        return "multi_label_classification"
    kinds = {type(value).__name__ for value in values if value is not None}
    if kinds <= {"str"} or kinds <= {"int", "bool"}:  # class names, or class ids
        return "single_label_classification"
    if kinds <= {"float", "int"}:
        return "regression"
    raise ValueError(f"The label column mixes value types {sorted(kinds)}; give one kind of label per column.")


def label_spec(splits: dict, options: DatasetOptions) -> LabelSpec:
    """The `LabelSpec` of the label column(s), checked across the splits (no label unseen in train)."""
    columns, train = options.label_columns, splits["train"]
    kinds = {column: label_kind(train.features[column], train[column]) for column in columns}
    problem = options.problem_type or ("regression" if len(columns) > 1 else kinds[columns[0]])
    if problem not in PROBLEM_TYPES:
        raise ValueError(f"--problem_type must be one of {PROBLEM_TYPES}, got {problem!r}.")
    if problem == "regression":
        for name, split in splits.items():
            for column in columns:
                values = np.asarray(split[column], dtype=object)
                if any(not isinstance(value, (int, float)) or isinstance(value, bool) for value in values):
                    raise ValueError(f"Regression column {column!r} of the {name} split holds non-numbers.")
                if not np.isfinite(values.astype(np.float64)).all():
                    raise ValueError(f"Regression column {column!r} of the {name} split holds NaN or inf.")
        return LabelSpec(problem, tuple(columns))
    if len(columns) > 1:
        raise ValueError(f"Several label columns {columns} make a regression; --problem_type is {problem!r}.")
    column = columns[0]
    occurrences = {name: classes_of(split, column, problem) for name, split in splits.items()}
    names = class_names(train, column, problem, occurrences["train"])
    for name, seen in occurrences.items():
        unknown = sorted(set(seen) - set(names))
        if unknown:
            raise ValueError(f"The {name} split has labels {unknown[:5]} that the train split never has.")
    counts = Counter(occurrences["train"])
    empty = [label for label in names if counts[label] == 0]
    if empty:
        raise ValueError(f"Classes {empty} have no training example; drop them from the label set or add examples.")
    if len(names) < 2:
        raise ValueError(f"The label column {column!r} has {len(names)} class; classification needs at least 2.")
    return LabelSpec(problem, tuple(names))


def class_names(train, column: str, problem: str, occurrences: list) -> list:
    """
    The classes: a `ClassLabel`'s names, else `label_0...` for multi-hot vectors, else the sorted distinct labels
    of train (its label `occurrences`, `classes_of`).
    """
    names = class_label_names(train.features[column])
    if names is not None:
        return names
    values = train[column]
    if problem == "multi_label_classification" and values and is_multi_hot(values[0]):
        return [f"label_{index}" for index in range(len(values[0]))]
    return sorted(set(occurrences))


def is_multi_hot(value) -> bool:
    return isinstance(value, (list, tuple)) and len(value) > 0 and all(item in (0, 1) for item in value)


def classes_of(split, column: str, problem: str) -> list:
    """Each label occurrence of `split` as a class name (ClassLabel ids as names; multi-hot as `label_i`)."""
    id_names, values = class_label_names(split.features[column]), split[column]
    name_of = (lambda item: id_names[item]) if id_names is not None else str  # noqa: E731
    if problem == "single_label_classification":
        return [name_of(value) for value in values]
    occurrences = []
    for row in values:
        if id_names is None and is_multi_hot(row):
            occurrences += [f"label_{index}" for index, present in enumerate(row) if present]
        else:
            occurrences += [name_of(item) for item in row]
    return occurrences


def featurise(split, name, options, labels, featurize: InputFeaturizer, base, width, cache_dir, num_proc):
    """`split` with the training columns (cached by `datasets` under a fingerprint of the inputs and options)."""
    if isinstance(split.features.get(options.audio_column_name), datasets.Audio):
        split = split.cast_column(options.audio_column_name, datasets.Audio(decode=False))
    extractor_config = feature_extractor_config(featurize.extractor)
    fingerprint = Hasher.hash(
        (split._fingerprint, name, asdict(options), asdict(labels), extractor_config, featurize.text_tokenizer)
    )
    return split.map(
        training_columns,
        with_indices=True,
        fn_kwargs={
            "split_name": name,
            "options": options,
            "labels": labels,
            "featurize": featurize,
            "base": None if base is None else str(base),
            "class_ids": {label: index for index, label in enumerate(labels.names)},
            "id_names": class_label_names(split.features[options.label_columns[0]]),
            "width": width,
        },
        remove_columns=split.column_names,
        features=training_features(options, labels, extractor_config, width),
        new_fingerprint=fingerprint,
        cache_file_name=None if cache_dir is None else str(Path(cache_dir) / f"labelled-{fingerprint}.arrow"),
        num_proc=num_proc,
        desc=f"featurising {name}",
    )


def training_features(options: DatasetOptions, labels: LabelSpec, extractor_config: dict, width) -> datasets.Features:
    features = {"id": datasets.Value("string"), **audio_feature(extractor_config, "float16")}
    if options.visual_column_name:
        features["visual_features"] = datasets.Array2D((None, width), "float32")
    if options.text_column_name:
        features["text_input_ids"] = datasets.List(datasets.Value("int64"))
    if labels.problem_type == "single_label_classification":
        features["label"] = datasets.ClassLabel(names=list(labels.names))
    elif labels.problem_type == "multi_label_classification":
        features["multi_labels"] = datasets.List(datasets.Value("float32"))
    else:
        features["targets"] = datasets.List(datasets.Value("float32"))
    return datasets.Features(features)


def class_label_names(feature) -> list[str] | None:
    """The names of a `ClassLabel` column (or of a list of `ClassLabel`s), whose cells hold class ids; else None."""
    for candidate in (feature, getattr(feature, "feature", None)):
        if isinstance(candidate, datasets.ClassLabel):
            return list(candidate.names)
    return None


def training_columns(example, index, split_name, options, labels, featurize, base, class_ids, id_names, width):
    where = f"{split_name} row {index}"
    samples, rate = read_audio(example[options.audio_column_name], base, options.max_length_seconds, where)
    columns = {
        "id": str(example.get("id", f"{split_name}-{index}")),
        featurize.audio_column: featurize.audio(samples, rate, name=where).astype(np.float16),
    }
    if options.visual_column_name:
        frames = read_visual(example[options.visual_column_name], base, where)
        if frames.shape[1] != width:
            raise ValueError(f"{where}: {frames.shape[1]} visual features per frame; the first row has {width}.")
        columns["visual_features"] = frames
    if options.text_column_name:
        transcript = example[options.text_column_name]
        if not isinstance(transcript, str):
            raise ValueError(f"{where}: the transcript ({options.text_column_name!r}) is not text.")
        columns["text_input_ids"] = featurize.text_ids(transcript)
    value = example[options.label_columns[0]]
    name_of = (lambda item: id_names[item]) if id_names is not None else str  # noqa: E731
    if labels.problem_type == "single_label_classification":
        columns["label"] = class_ids[name_of(value)]
    elif labels.problem_type == "multi_label_classification":
        hot = np.zeros(len(labels.names), np.float32)
        if id_names is None and is_multi_hot(value):
            present = [f"label_{position}" for position, item in enumerate(value) if item]
        else:
            present = [name_of(item) for item in value]
        hot[[class_ids[item] for item in present]] = 1
        columns["multi_labels"] = hot
    else:
        columns["targets"] = [float(example[column]) for column in options.label_columns]
    return columns


def read_audio(value, base: str | None, max_seconds: float, where: str) -> tuple[np.ndarray, int]:
    """Mono float samples and their rate from what a `datasets` audio cell holds (undecoded, decoded, or a path)."""
    from modeling_mmembed.audio_mmembed import check_duration_limit, check_sampling_rate, to_mono_float

    if isinstance(value, dict) and value.get("array") is not None:
        rate = check_sampling_rate(value.get("sampling_rate"), f"{where}: sampling_rate")
        samples = to_mono_float(np.asarray(value["array"]), name=where)
        check_duration_limit(where, len(samples), int(max_seconds * rate), max_seconds)
        return samples, rate
    if isinstance(value, dict) and value.get("bytes"):
        name = f"{where} ({value.get('path') or 'audio bytes'})"
        source = io.BytesIO(value["bytes"])
        source.name = name
        return checked_audio(source, max_seconds, name)
    path = value.get("path") if isinstance(value, dict) else value
    if not isinstance(path, str) or not path:
        raise ValueError(f"{where}: no audio (the audio cell is {type(value).__name__}).")
    return checked_audio(inside(path, base, where), max_seconds, f"{where} ({path})")


def checked_audio(source, max_seconds: float, name: str) -> tuple[np.ndarray, int]:
    """`load_audio_file` within `max_seconds`, refusing audio shorter than one 25 ms frame."""
    from modeling_mmembed.audio_mmembed import load_audio_file

    samples, rate = load_audio_file(source, max_seconds=max_seconds, name=name)
    if len(samples) < 0.025 * rate:
        raise ValueError(f"{name}: the audio is empty or shorter than one 25 ms frame.")
    return samples, rate


def inside(path: str, base: str | None, where: str) -> str:
    """
    `path` resolved against the dataset's folder `base`, refused when it leaves it (a dataset names its own files,
    never others on the machine); a dataset without a folder (a Hub id) must carry its audio, not paths.
    """
    if base is None:
        raise ValueError(f"{where}: {path} is a path, but this dataset has no folder to read it from; give the audio.")
    resolved = (Path(base) / path).resolve()
    if not resolved.is_relative_to(Path(base).resolve()):
        raise ValueError(f"{where}: {path} is outside the dataset's folder {base}.")
    return os.fspath(resolved)


def read_visual(value, base: str | None, where: str) -> np.ndarray:
    """Visual frames `(frames, size)` from an array cell, or a `.npy` / OpenFace 2 CSV path inside the dataset."""
    from modeling_mmembed import read_openface_csv

    if isinstance(value, str):
        path = inside(value, base, where)
        if not os.path.isfile(path):
            raise ValueError(f"{where}: visual file {value} does not exist.")
        frames = np.load(path, allow_pickle=False) if path.endswith(".npy") else read_openface_csv(path, "all")
    else:
        frames = np.asarray(value, dtype=np.float32)
    frames = np.asarray(frames, dtype=np.float32)
    if frames.ndim != 2 or len(frames) == 0 or not np.isfinite(frames).all():
        raise ValueError(f"{where}: visual frames must be a finite 2-D (frames, features) array; got {frames.shape}.")
    return frames


__all__ = ["DatasetOptions", "LabelSpec", "load_labelled_dataset"]
