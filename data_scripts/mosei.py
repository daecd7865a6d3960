"""
CMU-MOSEI as a `datasets.DatasetDict`, from the CMU Multimodal SDK `.csd` files (and optionally the raw WAVs).

    from data_scripts.mosei import load_mosei
    mosei = load_mosei("/data/CMU-MOSEI")              # train / validation / test from the standard folds
    mosei.summary                                       # what was replaced, clipped, dropped (also logged at INFO)
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

from .cache_fingerprint import files_fingerprint
from .csd import CsdError, read_csd

logger = logging.getLogger(__name__)

EPSILON = 1e-5
"""The CMU SDK's overlap epsilon (written `10e-6` in its code)."""

EMOTIONS = ("happy", "sad", "anger", "surprise", "disgust", "fear")
SPLITS = {"train": "train", "validation": "valid", "test": "test"}
"""Our split names -> the keys of the standard folds file."""

MOSEI_FILES = {
    "labels": "CMU_MOSEI_Labels.csd",
    "words": "CMU_MOSEI_TimestampedWords.csd",
    "covarep": "CMU_MOSEI_COVAREP.csd",
    "facet42": "CMU_MOSEI_VisualFacet42.csd",
    "openface2": "CMU_MOSEI_VisualOpenFace2.csd",
    "glove": "CMU_MOSEI_TimestampedWordVectors.csd",
}
LABEL_WIDTH = 7
"""An `All Labels` row: sentiment, then the six emotions."""
ROLE_COLUMNS = {"audio": "input_features", "visual": "visual_features", "text": "text_features"}
AUDIO_CHOICES = ("covarep", "wav")
VISUAL_CHOICES = ("facet42", "openface2", None)
TEXT_CHOICES = ("glove", "words", "tokens", None)
WAV_RATE = 16000
FBANK_HOP_SECONDS, FBANK_WINDOW_SECONDS = 0.010, 0.025


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
    files = {"labels": data_dir / MOSEI_FILES["labels"], "words": data_dir / MOSEI_FILES["words"]}
    if audio == "covarep":
        files["audio"] = data_dir / MOSEI_FILES["covarep"]
    if visual is not None:
        files["visual"] = data_dir / MOSEI_FILES[visual]
    if text == "glove":
        files["text"] = data_dir / MOSEI_FILES["glove"]
    missing = [str(path) for path in files.values() if not path.is_file()]
    if audio == "wav" and (audio_dir is None or not Path(audio_dir).is_dir()):
        missing.append(f"{audio_dir or '<audio_dir>'} (the folder of CMU-MOSEI WAV_16000/<video_id>.wav files)")
    if missing:
        raise FileNotFoundError("CMU-MOSEI files missing for the requested options: " + "; ".join(missing))
    return files


def source_files(files: dict[str, Path], audio_dir=None) -> list[Path]:
    """Every file a preparation reads: the `.csd` files of the options and each WAV of `audio_dir`."""
    return [*files.values(), *(sorted(Path(audio_dir).glob("*.wav")) if audio_dir is not None else [])]


def overlapping_rows(intervals: np.ndarray, start: float, end: float) -> np.ndarray:
    """Bool mask of the rows of `intervals` `(T, 2)` that overlap `[start, end]` by more than the SDK's epsilon."""
    return np.minimum(intervals[:, 1], end) - np.maximum(intervals[:, 0], start) > EPSILON


def average_within(features: np.ndarray, intervals: np.ndarray, references: np.ndarray) -> tuple[np.ndarray, int]:
    """
    Mean of the feature rows overlapping each reference interval `(W, 2)` (the SDK's word alignment) -> `(W, D)`;
    references with no overlapping row get zeros. Also returns how many references were empty.
    """
    aligned = np.zeros((len(references), features.shape[1]), dtype=np.float32)
    empty = 0
    for index, (start, end) in enumerate(references):
        rows = overlapping_rows(intervals, start, end)
        if rows.any():
            aligned[index] = features[rows].mean(axis=0)
        else:
            empty += 1
    return aligned, empty


def fbank_intervals(num_frames: int, start: float) -> np.ndarray:
    """`[start, end]` of each 25 ms fbank frame (10 ms hop) of a cut that begins at `start` seconds."""
    starts = start + FBANK_HOP_SECONDS * np.arange(num_frames)
    return np.stack([starts, starts + FBANK_WINDOW_SECONDS], axis=1)


class CmuMoseiConfig(datasets.BuilderConfig):
    """Options of [`CmuMosei`]; see [`load_mosei`]."""

    def __init__(
        self,
        audio: str = "covarep",
        visual: str | None = "facet42",
        text: str | None = "glove",
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
    `datasets` 4). Construct with `data_dir` and the options of [`load_mosei`]; after `download_and_prepare()` its
    `summary` holds the hygiene counts.
    """

    BUILDER_CONFIG_CLASS = CmuMoseiConfig
    VERSION = datasets.Version("1.0.0")
    DEFAULT_WRITER_BATCH_SIZE = 64

    def __init__(self, *args, data_dir=None, audio_dir=None, **kwargs):
        if data_dir is None:
            raise ValueError("CmuMosei needs data_dir: the folder holding the CMU-MOSEI .csd files.")
        options = {key: kwargs[key] for key in ("audio", "visual", "text") if key in kwargs}
        defaults = {"audio": "covarep", "visual": "facet42", "text": "glove"}
        files = required_files(data_dir, **{**defaults, **options}, audio_dir=audio_dir)
        kwargs["files_fingerprint"] = files_fingerprint(source_files(files, audio_dir))
        audio_dir = None if audio_dir is None else str(Path(audio_dir).resolve())
        super().__init__(*args, data_dir=str(Path(data_dir).resolve()), audio_dir=audio_dir, **kwargs)
        self.summary: dict | None = None

    @property
    def files(self) -> dict[str, Path]:
        config = self.config
        return required_files(config.data_dir, config.audio, config.visual, config.text, config.audio_dir)

    def _info(self) -> datasets.DatasetInfo:
        config, files = self.config, self.files
        sizes = {role: self._feature_size(path) for role, path in files.items() if role in ("audio", "visual", "text")}
        if config.audio == "wav":
            sizes["audio"] = 80
        features = {
            "id": datasets.Value("string"),
            "video_id": datasets.Value("string"),
            "segment_index": datasets.Value("int32"),
            "start": datasets.Value("float64"),
            "end": datasets.Value("float64"),
            "input_features": datasets.Array2D(shape=(None, sizes["audio"]), dtype="float32"),
        }
        if config.visual is not None:
            features["visual_features"] = datasets.Array2D(shape=(None, sizes["visual"]), dtype="float32")
        if config.text == "glove":
            features["text_features"] = datasets.Array2D(shape=(None, sizes["text"]), dtype="float32")
        if config.text == "tokens":
            features["text_input_ids"] = datasets.List(datasets.Value("int32"))
        features.update(
            {
                "words": datasets.List(datasets.Value("string")),
                "emotion_intensities": datasets.List(datasets.Value("float32"), length=6),
                "emotion_labels": datasets.List(datasets.Value("int8"), length=6),
                "sentiment": datasets.Value("float32"),
            }
        )
        return datasets.DatasetInfo(
            description="CMU-MOSEI segments: audio, visual and text features with 6 emotions and sentiment.",
            features=datasets.Features(features),
        )

    @staticmethod
    def _feature_size(path: Path) -> int:
        with read_csd(path) as sequence:
            return sequence.feature_size()

    def _split_generators(self, dl_manager) -> list[datasets.SplitGenerator]:
        folds = standard_folds()
        with read_csd(self.files["labels"]) as labels:
            labelled = set(labels.video_ids())
        in_folds = {video_id for ids in folds.values() for video_id in ids}
        parts = self._summary_parts_dir()
        self._write_summary_part(
            "folds",
            {
                "videos_in_no_fold": len(labelled - in_folds),
                "fold_videos_without_labels": len(in_folds - labelled),
            },
        )
        return [
            datasets.SplitGenerator(
                name=split,
                gen_kwargs={
                    "video_ids": [video_id for video_id in ids if video_id in labelled],
                    "split": split,
                    "summary_dir": str(parts),
                },
            )
            for split, ids in folds.items()
        ]

    def _generate_examples(self, video_ids: list[str], split: str, summary_dir: str):
        counts = Counter()
        tokenizer = self._tokenizer() if self.config.text == "tokens" else None
        extractor = self._feature_extractor() if self.config.audio == "wav" else None
        sources = {role: read_csd(path) for role, path in self.files.items()}
        try:
            for video_id in video_ids:
                yield from self._video_examples(video_id, split, sources, counts, tokenizer, extractor)
        finally:
            for source in sources.values():
                source.close()
            shard = hashlib.sha256("\n".join(video_ids).encode()).hexdigest()[:16]
            self._write_summary_part(f"{split}-{shard}", dict(counts), Path(summary_dir))

    def _video_examples(self, video_id, split, sources, counts: Counter, tokenizer, extractor):
        """Examples of one video: each of its label rows, in file order."""
        label_values, label_intervals = sources["labels"][video_id]
        if label_values.shape[1] != LABEL_WIDTH:
            raise CsdError(
                f"{sources['labels'].path}: video {video_id!r} has label rows of {label_values.shape[1]} values; "
                f"CMU-MOSEI labels have {LABEL_WIDTH} (sentiment and the six emotions)."
            )
        streams = self._video_streams(video_id, sources, counts)
        words = streams.pop("words")
        waveform = self._video_waveform(video_id, counts) if extractor is not None else None
        for row, (values, (start, end)) in enumerate(zip(label_values, label_intervals, strict=True)):
            if end - start <= EPSILON:
                counts["segments_too_short"] += 1
                continue
            if not np.isfinite(values).all():
                counts["segments_dropped_nonfinite_labels"] += 1
                continue
            segment_words_mask = overlapping_rows(words[1], start, end) if words is not None else None
            segment_words = [] if words is None else [word for word in words[0][segment_words_mask]]
            references = None
            if self.config.align_to_words and words is not None:
                references = np.clip(words[1][segment_words_mask], start, end)
            example_features = {}
            if extractor is not None:
                streams["audio"] = self._segment_fbank(waveform, start, end, extractor)
            for role, stream in streams.items():
                example_features[role] = self._segment_rows(stream, start, end, references, role, counts)
            empty = [role for role, rows in example_features.items() if rows is not None and len(rows) == 0]
            if not segment_words:
                empty.append("words")
            if empty:
                for role in empty:
                    counts[f"segments_{'dropped' if self.config.drop_incomplete else 'kept'}_without_{role}"] += 1
                if self.config.drop_incomplete:
                    continue
            yield (
                f"{video_id}[{row}]",
                self._example(
                    video_id, row, start, end, values, segment_words, example_features, tokenizer, counts, split
                ),
            )

    def _video_streams(self, video_id, sources, counts: Counter) -> dict:
        """Per modality the video's `(features, intervals)` with non-finite values replaced by 0, or None if absent."""
        streams = {}
        for role in ("audio", "visual", "text", "words"):
            if role not in sources:
                continue
            if video_id not in sources[role]:
                counts[f"videos_missing_{role}"] += 1
                streams[role] = None
                continue
            features, intervals = sources[role][video_id]
            if role != "words":
                self._require_width(sources[role].path, video_id, role, features.shape[1])
            if role == "words":
                decoded = [value.decode("utf-8", errors="replace") for value in features[:, 0]]
                features = np.array(decoded, dtype=object)
            else:
                features = features.astype(np.float32, copy=False)
                finite = np.isfinite(features)
                if not finite.all():
                    counts[f"nonfinite_replaced_{role}"] += int((~finite).sum())
                    features = np.where(finite, features, np.float32(0.0))
            streams[role] = (features, intervals)
        return streams

    def _require_width(self, path: str, video_id: str, role: str, width: int) -> None:
        """Every video of a feature file must have the width of its first (which sets the dataset's column)."""
        expected = self.info.features[ROLE_COLUMNS[role]].shape[1]
        if width != expected:
            raise CsdError(
                f"{path}: video {video_id!r} has {width} features per row, but the file's first video has {expected}."
            )

    def _segment_rows(self, stream, start, end, references, role, counts: Counter) -> np.ndarray | None:
        """The rows of `stream` in the segment (aligned to `references` when given); empty when the video lacks it."""
        if stream is None:
            return np.zeros((0, 0), dtype=np.float32)
        features, intervals = stream
        if references is not None:
            aligned, empty = average_within(features, intervals, references)
            counts[f"aligned_words_without_{role}"] += empty
            return aligned
        return features[overlapping_rows(intervals, start, end)]

    def _video_waveform(self, video_id: str, counts: Counter):
        """The video's 16 kHz waveform from `<audio_dir>/<video_id>.wav`, or None when the file is missing."""
        from modeling_mmembed.feature_extraction_mmembed import load_audio_file, resample

        path = Path(self.config.audio_dir) / f"{video_id}.wav"
        if not path.is_file():
            counts["videos_missing_audio"] += 1
            return None
        samples, rate = load_audio_file(path)
        return resample(samples, rate, WAV_RATE)

    @staticmethod
    def _segment_fbank(waveform, start: float, end: float, extractor):
        """`(fbank frames, their intervals)` of the segment cut from the video's waveform; None without a WAV."""
        if waveform is None:
            return None
        first = max(0.0, start)
        cut = waveform[int(round(first * WAV_RATE)) : int(round(end * WAV_RATE))]
        if len(cut) < extractor.frame_length:
            return np.zeros((0, extractor.feature_size), dtype=np.float32), np.zeros((0, 2))
        frames = extractor.featurize(cut)
        return frames, fbank_intervals(len(frames), first)

    def _example(self, video_id, row, start, end, values, words, example_features, tokenizer, counts, split) -> dict:
        sentiment, intensities = float(values[0]), np.asarray(values[1:7], dtype=np.float32)
        clipped_sentiment = float(np.clip(sentiment, -3.0, 3.0))
        clipped_intensities = np.clip(intensities, 0.0, 3.0)
        clipped = int(clipped_sentiment != sentiment) + int((clipped_intensities != intensities).sum())
        counts["labels_clipped"] += clipped
        counts[f"segments_{split}"] += 1
        sizes = self.info.features
        example = {
            "id": f"{video_id}[{row}]",
            "video_id": video_id,
            "segment_index": row,
            "start": float(start),
            "end": float(end),
            "words": list(words),
            "emotion_intensities": clipped_intensities.tolist(),
            "emotion_labels": (clipped_intensities > 0).astype(np.int8).tolist(),
            "sentiment": clipped_sentiment,
        }
        for role, column in ROLE_COLUMNS.items():
            if role in example_features:
                rows = example_features[role]
                width = sizes[column].shape[1]
                example[column] = rows if rows.size else np.zeros((0, width), dtype=np.float32)
        if tokenizer is not None:
            spoken = " ".join(word for word in words if word != "sp")
            example["text_input_ids"] = tokenizer(spoken, add_special_tokens=False)["input_ids"]
        return example

    @staticmethod
    def _tokenizer():
        from modeling_mmembed import MMEmbedTokenizer

        return MMEmbedTokenizer()

    @staticmethod
    def _feature_extractor():
        from modeling_mmembed import MMEmbedFeatureExtractor

        return MMEmbedFeatureExtractor()

    # -- summary ---------------------------------------------------------------------------------------------------

    def _summary_parts_dir(self) -> Path:
        return Path(self._cache_dir_root) / "mosei_summary_parts" / self.config_id

    def _summary_path(self) -> Path:
        return Path(self.cache_dir) / "mosei_summary.json"

    def _write_summary_part(self, name: str, counts: dict, directory: Path | None = None) -> None:
        directory = directory or self._summary_parts_dir()
        directory.mkdir(parents=True, exist_ok=True)
        (directory / f"{name}.json").write_text(json.dumps(counts))

    def download_and_prepare(self, *args, **kwargs):
        """As `datasets`' method; then merges, stores and logs the hygiene summary (`self.summary`)."""
        cached = Path(self.cache_dir, datasets.config.DATASET_INFO_FILENAME).is_file()
        if cached and not self._summary_path().is_file():
            kwargs["download_mode"] = datasets.DownloadMode.FORCE_REDOWNLOAD
        if not self._summary_path().is_file():
            parts = self._summary_parts_dir()
            for stale in parts.glob("*.json") if parts.is_dir() else []:
                stale.unlink()
        try:
            super().download_and_prepare(*args, **kwargs)
        except datasets.exceptions.DatasetGenerationError as error:
            if isinstance(error.__cause__, (CsdError, OSError)):  # a bad input file: name it, not the generator
                raise error.__cause__ from error
            raise
        if not self._summary_path().is_file():
            self._summary_path().write_text(json.dumps(self._merged_summary_parts(), indent=1, sort_keys=True))
        self.summary = json.loads(self._summary_path().read_text())
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

    def _merged_summary_parts(self) -> dict:
        total = Counter()
        for part in sorted(self._summary_parts_dir().glob("*.json")):
            total.update(json.loads(part.read_text()))
        summary = dict(total)
        summary["segments"] = {split: summary.pop(f"segments_{split}", 0) for split in SPLITS}
        return summary


def load_mosei(
    data_dir,
    *,
    audio: str = "covarep",
    visual: str | None = "facet42",
    text: str | None = "glove",
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
            `CMU_MOSEI_TimestampedWordVectors.csd`).
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
        A `DatasetDict` whose `summary` attribute counts what was replaced (NaN/inf -> 0), clipped (labels out of
        range), dropped or kept empty, and ignored (videos in no fold); the same summary is logged at INFO.
    """
    builder = CmuMosei(
        data_dir=data_dir,
        audio=audio,
        visual=visual,
        text=text,
        align_to_words=align_to_words,
        drop_incomplete=drop_incomplete,
        audio_dir=audio_dir,
        cache_dir=None if cache_dir is None else str(cache_dir),
    )
    builder.download_and_prepare(num_proc=num_proc)
    mosei = builder.as_dataset_dict()
    mosei.summary = builder.summary
    return mosei


__all__ = ["CmuMosei", "CmuMoseiConfig", "EMOTIONS", "load_mosei", "overlapping_rows", "standard_folds"]
