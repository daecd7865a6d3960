"""
CMU-MOSEI as a `datasets.DatasetDict`, from the CMU Multimodal SDK `.csd` files (and optionally the raw WAVs).

    from data_scripts.mosei import load_mosei
    mosei = load_mosei("/data/CMU-MOSEI")              # train / validation / test from the standard folds
    mosei.report                                        # what was replaced, clipped, dropped (also logged at INFO)
    mosei["train"].with_format("torch")[0]["input_features"]   # (frames, 74) COVAREP

One example per labelled segment (a row of `CMU_MOSEI_Labels.csd`) of every video in a fold. A feature row belongs to
a segment when it overlaps it by more than the SDK's epsilon: `min(end_row, end_seg) - max(start_row, start_seg) >
1e-5`. Results are cached as Arrow (memory-mapped) under `cache_dir`; the cache is keyed on the options and on the
size, modification and inode-change time of every file used (`cache_fingerprint`), so changing a file rebuilds it.
"""

import hashlib
import json
import logging
from collections import Counter
from importlib import resources
from pathlib import Path

import datasets
import numpy as np

from .cache_fingerprint import files_fingerprint, precomputed_features_config
from .csd import CsdError, read_csd
from .model_inputs import feature_extractor_config
from .mosei_pickle import load_mosei_pickle
from .mosei_segments import (
    EPSILON,
    LABEL_WIDTH,
    ROLE_COLUMNS,
    SPLITS,
    clean_stream,
    overlapping_rows,
    segment_fbank,
    segment_features,
    segment_labels,
    segment_rows,
)
from .prepared_corpus import PreparedCorpus

logger = logging.getLogger(__name__)

MOSEI_FILES = {
    "labels": "CMU_MOSEI_Labels.csd",
    "words": "CMU_MOSEI_TimestampedWords.csd",
    "covarep": "CMU_MOSEI_COVAREP.csd",
    "facet42": "CMU_MOSEI_VisualFacet42.csd",
    "openface2": "CMU_MOSEI_VisualOpenFace2.csd",
    "glove": "CMU_MOSEI_TimestampedWordVectors.csd",
}
OLDER_MOSEI_FILES = {"labels": "CMU_MOSEI_All_Labels.csd", "glove": "CMU_MOSEI_TimestampedGloveVectors.csd"}
"""The names of older CMU SDK releases and its forks, read the same as the current ones."""
DEFAULT_OPTIONS = {"audio": "covarep", "visual": "facet42", "text": "glove"}
"""The features `load_mosei` reads unless told otherwise: the CMU SDK's COVAREP, FACET 4.2 and GloVe files."""
AUDIO_CHOICES = ("covarep", "wav")
VISUAL_CHOICES = ("facet42", "openface2", None)
TEXT_CHOICES = ("glove", "words", "tokens", None)


def standard_folds() -> dict[str, list[str]]:
    """The CMU SDK's standard CMU-MOSEI folds (train 2249, validation 300, test 678 video ids), shipped as data."""
    folds = json.loads(resources.files(__package__).joinpath("cmu_mosei_standard_folds.json").read_text())
    return {split: folds[key] for split, key in SPLITS.items()}


def required_files(data_dir, audio: str, visual: str | None, text: str | None, audio_dir=None) -> dict[str, Path]:
    """
    The files the options need, by role (labels, words, audio, visual, text). Raises one `FileNotFoundError` naming
    every missing file by its expected name; files for options not requested are never required.
    """
    if audio not in AUDIO_CHOICES:
        raise ValueError(f"audio must be one of {AUDIO_CHOICES}, got {audio!r}.")
    if visual not in VISUAL_CHOICES:
        raise ValueError(f"visual must be one of {VISUAL_CHOICES}, got {visual!r}.")
    if text not in TEXT_CHOICES:
        raise ValueError(f"text must be one of {TEXT_CHOICES}, got {text!r}.")
    data_dir = Path(data_dir)
    keys = {"labels": "labels", "words": "words", "audio": "covarep" if audio == "covarep" else None}
    keys.update(visual=visual, text="glove" if text == "glove" else None)
    files, missing = {}, []
    for role, key in keys.items():
        if key is None:
            continue
        files[role] = sdk_file(data_dir, key)
        if not files[role].is_file():
            older = f" (or its older name {OLDER_MOSEI_FILES[key]})" if key in OLDER_MOSEI_FILES else ""
            missing.append(f"{files[role]}{older}")
    if audio == "wav" and (audio_dir is None or not Path(audio_dir).is_dir()):
        missing.append(f"{audio_dir or '<audio_dir>'} (the folder of CMU-MOSEI WAV_16000/<video_id>.wav files)")
    if missing:
        raise FileNotFoundError("CMU-MOSEI files missing for the requested options: " + "; ".join(missing))
    return files


def sdk_file(data_dir: Path, key: str) -> Path:
    """
    The file of `MOSEI_FILES[key]` in `data_dir`: the current name, or the older SDK name where only that one
    exists. A folder holding both is refused, naming both: which one the run reads would be a guess.
    """
    current = data_dir / MOSEI_FILES[key]
    older = data_dir / OLDER_MOSEI_FILES[key] if key in OLDER_MOSEI_FILES else None
    if older is None or not older.is_file():
        return current
    if current.is_file():
        raise ValueError(
            f"{data_dir} holds the {key} file under both its names, {current.name} and {older.name}; keep one."
        )
    return older


def source_files(files: dict[str, Path], audio_dir=None) -> list[Path]:
    """Every file a preparation reads: the `.csd` files of the options and each WAV of `audio_dir`."""
    return [*files.values(), *(sorted(Path(audio_dir).glob("*.wav")) if audio_dir is not None else [])]


class PreparationSummary:
    """
    The hygiene counts of a preparation (NaN/inf replaced, labels clipped, segments dropped, videos in no fold):
    each generator shard writes its counts to a part file (shards may run in other processes), and the merged
    summary is stored beside the cache, so a cached dataset comes back with the summary of its preparation.
    """

    def __init__(self, parts_dir: Path, summary_path: Path):
        self.parts_dir, self.path = Path(parts_dir), Path(summary_path)

    def write_part(self, name: str, counts: dict) -> None:
        self.parts_dir.mkdir(parents=True, exist_ok=True)
        (self.parts_dir / f"{name}.json").write_text(json.dumps(counts))

    def clear_parts(self) -> None:
        for stale in self.parts_dir.glob("*.json") if self.parts_dir.is_dir() else []:
            stale.unlink()

    def merge(self) -> dict:
        """The parts added up (per-split segment counts under `segments`), stored, and returned."""
        total = Counter()
        for part in sorted(self.parts_dir.glob("*.json")):
            total.update(json.loads(part.read_text()))
        summary = dict(total)
        summary["segments"] = {split: summary.pop(f"segments_{split}", 0) for split in SPLITS}
        self.path.write_text(json.dumps(summary, indent=1, sort_keys=True))
        return summary

    def load(self) -> dict:
        return json.loads(self.path.read_text())


class CmuMoseiConfig(datasets.BuilderConfig):
    """Options of [`CmuMosei`]; see [`load_mosei`]."""

    def __init__(
        self,
        audio: str = DEFAULT_OPTIONS["audio"],
        visual: str | None = DEFAULT_OPTIONS["visual"],
        text: str | None = DEFAULT_OPTIONS["text"],
        align_to_words: bool = False,
        drop_incomplete: bool = True,
        audio_dir: str | None = None,
        files_fingerprint: str | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.audio, self.visual, self.text = audio, visual, text
        self.align_to_words, self.drop_incomplete = align_to_words, drop_incomplete
        self.audio_dir, self.files_fingerprint = audio_dir, files_fingerprint


class CmuMosei(datasets.GeneratorBasedBuilder):
    """
    The CMU-MOSEI builder (`datasets.GeneratorBasedBuilder`, used directly: dataset scripts are gone since
    `datasets` 4): the glue between the `.csd` files and the per-segment functions above. Construct with `data_dir`
    and the options of [`load_mosei`]; after `download_and_prepare()` its `summary` holds the hygiene counts.
    """

    BUILDER_CONFIG_CLASS = CmuMoseiConfig
    VERSION = datasets.Version("1.0.0")
    DEFAULT_WRITER_BATCH_SIZE = 64

    def __init__(self, *args, data_dir=None, audio_dir=None, **kwargs):
        if data_dir is None:
            raise ValueError("CmuMosei needs data_dir: the folder holding the CMU-MOSEI .csd files.")
        options = {**DEFAULT_OPTIONS, **{key: kwargs[key] for key in DEFAULT_OPTIONS if key in kwargs}}
        files = required_files(data_dir, **options, audio_dir=audio_dir)
        kwargs["files_fingerprint"] = files_fingerprint(source_files(files, audio_dir))
        audio_dir = None if audio_dir is None else str(Path(audio_dir).resolve())
        super().__init__(*args, data_dir=str(Path(data_dir).resolve()), audio_dir=audio_dir, **kwargs)
        self.summary: dict | None = None
        self.preparation = PreparationSummary(
            Path(self._cache_dir_root) / "mosei_summary_parts" / self.config_id,
            Path(self.cache_dir) / "mosei_summary.json",
        )

    @property
    def files(self) -> dict[str, Path]:
        config = self.config
        return required_files(config.data_dir, config.audio, config.visual, config.text, config.audio_dir)

    def _info(self) -> datasets.DatasetInfo:
        config, files = self.config, self.files
        sizes = {role: _feature_size(path) for role, path in files.items() if role in ROLE_COLUMNS}
        if config.audio == "wav":
            sizes["audio"] = self._feature_extractor().feature_size
        return datasets.DatasetInfo(
            description="CMU-MOSEI segments: audio, visual and text features with 6 emotions and sentiment.",
            features=segment_features(sizes["audio"], sizes.get("visual"), sizes.get("text"), config.text == "tokens"),
        )

    def _split_generators(self, dl_manager) -> list[datasets.SplitGenerator]:
        folds = standard_folds()
        with read_csd(self.files["labels"]) as labels:
            labelled = set(labels.video_ids())
        in_folds = {video_id for ids in folds.values() for video_id in ids}
        self.preparation.write_part(
            "folds",
            {"videos_in_no_fold": len(labelled - in_folds), "fold_videos_without_labels": len(in_folds - labelled)},
        )
        return [
            datasets.SplitGenerator(
                name=split,
                gen_kwargs={"video_ids": [video_id for video_id in ids if video_id in labelled], "split": split},
            )
            for split, ids in folds.items()
        ]

    def _generate_examples(self, video_ids: list[str], split: str):
        counts = Counter()
        sources = {role: read_csd(path) for role, path in self.files.items()}
        try:
            for video_id in video_ids:
                yield from self._video_examples(video_id, split, sources, counts)
        finally:
            for source in sources.values():
                source.close()
            shard = hashlib.sha256("\n".join(video_ids).encode()).hexdigest()[:16]
            self.preparation.write_part(f"{split}-{shard}", dict(counts))

    def _video_examples(self, video_id: str, split: str, sources: dict, counts: Counter):
        """Examples of one video: each of its label rows, in file order."""
        label_values, label_intervals = sources["labels"][video_id]
        if label_values.shape[1] != LABEL_WIDTH:
            raise CsdError(
                f"{sources['labels'].path}: video {video_id!r} has label rows of {label_values.shape[1]} values; "
                f"CMU-MOSEI labels have {LABEL_WIDTH} (sentiment and the six emotions)."
            )
        streams = self._video_streams(video_id, sources, counts)
        words = streams.pop("words")
        extractor = self._feature_extractor() if self.config.audio == "wav" else None
        waveform = self._video_waveform(video_id, extractor, counts) if extractor is not None else None
        tokenizer = self._tokenizer() if self.config.text == "tokens" else None
        for row, (values, (start, end)) in enumerate(zip(label_values, label_intervals, strict=True)):
            if end - start <= EPSILON:
                counts["segments_too_short"] += 1
                continue
            if not np.isfinite(values).all():
                counts["segments_dropped_nonfinite_labels"] += 1
                continue
            in_segment = overlapping_rows(words[1], start, end) if words is not None else None
            segment_words = [] if words is None else list(words[0][in_segment])
            references = np.clip(words[1][in_segment], start, end) if self.config.align_to_words and words else None
            if extractor is not None:
                streams["audio"] = segment_fbank(waveform, start, end, extractor)
            rows = {
                role: segment_rows(stream, start, end, references, role, counts) for role, stream in streams.items()
            }
            empty = [role for role, values_of in rows.items() if len(values_of) == 0] + (
                [] if segment_words else ["words"]
            )
            for role in empty:
                counts[f"segments_{'dropped' if self.config.drop_incomplete else 'kept'}_without_{role}"] += 1
            if empty and self.config.drop_incomplete:
                continue
            labels, clipped = segment_labels(values)
            counts["labels_clipped"] += clipped
            counts[f"segments_{split}"] += 1
            example = {
                "id": f"{video_id}[{row}]",
                "video_id": video_id,
                "segment_index": row,
                "start": float(start),
                "end": float(end),
                "words": segment_words,
                **labels,
            }
            for role, values_of in rows.items():
                width = self.info.features[ROLE_COLUMNS[role]].shape[1]
                example[ROLE_COLUMNS[role]] = values_of if values_of.size else np.zeros((0, width), np.float32)
            if tokenizer is not None:
                spoken = " ".join(word for word in segment_words if word != "sp")
                example["text_input_ids"] = tokenizer(spoken, add_special_tokens=False)["input_ids"]
            yield example["id"], example

    def _video_streams(self, video_id: str, sources: dict, counts: Counter) -> dict:
        """Per role the video's cleaned `(features, intervals)`, or None when the video is missing from that file."""
        streams = {}
        for role in ("audio", "visual", "text", "words"):
            if role not in sources:
                continue
            if video_id not in sources[role]:
                counts[f"videos_missing_{role}"] += 1
                streams[role] = None
                continue
            features, intervals = sources[role][video_id]
            width = self.info.features[ROLE_COLUMNS[role]].shape[1] if role != "words" else None
            streams[role] = (clean_stream(sources[role].path, video_id, role, features, width, counts), intervals)
        return streams

    def _video_waveform(self, video_id: str, extractor, counts: Counter):
        """The video's waveform at the extractor's rate from `<audio_dir>/<video_id>.wav`, None when missing."""
        from modeling_mmembed.audio_mmembed import load_audio_file, resample

        path = Path(self.config.audio_dir) / f"{video_id}.wav"
        if not path.is_file():
            counts["videos_missing_audio"] += 1
            return None
        samples, rate = load_audio_file(path)
        return resample(samples, rate, extractor.sampling_rate)

    @staticmethod
    def _tokenizer():
        from modeling_mmembed import MMEmbedTokenizer

        return MMEmbedTokenizer()

    @staticmethod
    def _feature_extractor():
        from modeling_mmembed import MMEmbedFeatureExtractor

        return MMEmbedFeatureExtractor()

    def download_and_prepare(self, *args, **kwargs):
        """As `datasets`' method; then merges, stores and logs the hygiene summary (`self.summary`)."""
        cached = Path(self.cache_dir, datasets.config.DATASET_INFO_FILENAME).is_file()
        if cached and not self.preparation.path.is_file():
            kwargs["download_mode"] = datasets.DownloadMode.FORCE_REDOWNLOAD
        if not self.preparation.path.is_file():
            self.preparation.clear_parts()
        try:
            super().download_and_prepare(*args, **kwargs)
        except datasets.exceptions.DatasetGenerationError as error:
            if isinstance(error.__cause__, (CsdError, OSError)):  # a bad input file: name it, not the generator
                raise error.__cause__ from error
            raise
        self.summary = self.preparation.load() if self.preparation.path.is_file() else self.preparation.merge()
        logger.info("CMU-MOSEI preparation summary: %s", json.dumps(self.summary, sort_keys=True))

    def as_dataset_dict(self) -> datasets.DatasetDict:
        """The prepared splits; a split left without segments is an empty dataset with the same columns."""
        splits = {}
        for split in SPLITS:
            if self.info.splits[split].num_examples > 0:
                splits[split] = self.as_dataset(split=split)
            else:
                splits[split] = datasets.Dataset.from_dict(
                    {name: [] for name in self.info.features}, features=self.info.features
                )
        return datasets.DatasetDict(splits)


def _feature_size(path: Path) -> int:
    with read_csd(path) as sequence:
        return sequence.feature_size()


def load_mosei(
    data_dir,
    *,
    audio: str = DEFAULT_OPTIONS["audio"],
    visual: str | None = DEFAULT_OPTIONS["visual"],
    text: str | None = DEFAULT_OPTIONS["text"],
    align_to_words: bool = False,
    drop_incomplete: bool = True,
    cache_dir=None,
    num_proc: int | None = None,
    audio_dir=None,
) -> datasets.DatasetDict:
    """
    CMU-MOSEI as a `DatasetDict` with splits `train`, `validation`, `test` (the SDK's standard folds).

    Args:
        data_dir: folder with `CMU_MOSEI_Labels.csd`, `CMU_MOSEI_TimestampedWords.csd` and one file per requested
            modality (`CMU_MOSEI_COVAREP.csd`, `CMU_MOSEI_VisualFacet42.csd` / `CMU_MOSEI_VisualOpenFace2.csd`,
            `CMU_MOSEI_TimestampedWordVectors.csd`); the older SDK names `CMU_MOSEI_All_Labels.csd` and
            `CMU_MOSEI_TimestampedGloveVectors.csd` are read the same. Or an MMSA / MulT feature pickle (`.pkl`):
            then `load_mosei_pickle(data_dir, drop_incomplete=..., cache_dir=...)` (see `mosei_pickle`), and the
            feature options must keep their defaults (the pickle decides the features).
        audio: `"covarep"` (74-d at 100 Hz) or `"wav"`: segments cut from `audio_dir/<video_id>.wav` by their label
            interval and turned into the project's 80-bin fbank (so a model pre-trained on fbank transfers).
        visual: `"facet42"` (35-d), `"openface2"`, or None.
        text: `"glove"` (300-d word vectors -> `text_features`), `"tokens"` (the words through the project tokenizer
            -> `text_input_ids`), `"words"` (word strings only, in `words`), or None.
        align_to_words: average audio and visual rows (and word vectors) within each word interval, so every
            modality has one row per word (the SDK's classic recipe).
        drop_incomplete: drop segments with no rows in a requested modality (and so videos missing from a
            modality); with False they are kept with that modality empty (the model treats it as absent).
        cache_dir: where the Arrow cache lives (the `datasets` cache by default).
        num_proc: processes for preparation.

    Returns:
        A `PreparedCorpus` (its splits read like a `DatasetDict`) whose `report` counts what was replaced (NaN/inf
        -> 0), clipped (labels out of range), dropped or kept empty, and ignored (videos in no fold), as logged at
        INFO; its `feature_extractor_config` is the fbank extractor's with `audio="wav"`, else one that takes
        COVAREP frames as they are (`precomputed_features_config`).
    """
    options = {"audio": audio, "visual": visual, "text": text}
    if Path(data_dir).suffix == ".pkl":
        chosen = {**options, "align_to_words": align_to_words, "audio_dir": audio_dir}
        defaults = {**DEFAULT_OPTIONS, "align_to_words": False, "audio_dir": None}
        changed = sorted(key for key, value in chosen.items() if value != defaults[key])
        if changed:
            raise ValueError(
                f"{data_dir} is a feature pickle: its file decides the features, so {changed} do not apply."
            )
        return load_mosei_pickle(data_dir, drop_incomplete=drop_incomplete, cache_dir=cache_dir)
    options.update(align_to_words=align_to_words, drop_incomplete=drop_incomplete, audio_dir=audio_dir)
    builder = CmuMosei(data_dir=data_dir, cache_dir=None if cache_dir is None else str(cache_dir), **options)
    builder.download_and_prepare(num_proc=num_proc)
    # what a model trained on these segments is saved with: the default fbank extractor (audio="wav"), or one that
    # takes the COVAREP frames as they are
    splits = builder.as_dataset_dict()
    if audio == "wav":
        extractor = feature_extractor_config(builder._feature_extractor())
    else:
        extractor = precomputed_features_config("COVAREP", splits["train"].features["input_features"].shape[1])
    return PreparedCorpus(splits, extractor, builder.summary)


__all__ = [
    "DEFAULT_OPTIONS",
    "CmuMosei",
    "CmuMoseiConfig",
    "load_mosei",
    "standard_folds",
]
