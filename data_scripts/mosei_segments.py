"""
One CMU-MOSEI segment, as the `.csd` builder (`mosei`), the feature-pickle reader (`mosei_pickle`) and the raw demo
corpus build it: the dataset columns, the labels of an `All Labels` row, a video's cleaned feature stream and the
rows of it that overlap a segment (by more than the CMU SDK's epsilon), optionally averaged within words.
"""

from collections import Counter

import datasets
import numpy as np

from modeling_mmembed.configuration_mmembed import EMOTIONS, MODALITY_INPUTS

from .csd import CsdError

EPSILON = 1e-5
"""The CMU SDK's overlap epsilon (written `10e-6` in its code)."""

SPLITS = {"train": "train", "validation": "valid", "test": "test"}
"""Our split names -> the keys of the standard folds file."""

LABEL_WIDTH = 7
"""An `All Labels` row: sentiment, then the six emotions."""
ROLE_COLUMNS = {modality: MODALITY_INPUTS[modality].values_name for modality in ("audio", "visual", "text")}
"""The model-input column of each feature stream (the modality table's names)."""
FBANK_HOP_SECONDS, FBANK_WINDOW_SECONDS = 0.010, 0.025


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


def segment_features(
    audio_size: int | None,
    visual_size: int | None = None,
    text_size: int | None = None,
    text_tokens: bool = False,
    emotions: bool = True,
    audio: dict | None = None,
) -> datasets.Features:
    """
    The columns of a CMU-MOSEI-style segment dataset (`load_mosei`, `load_mosei_pickle`, the raw demo emotion
    corpus): ids and bounds, `input_features` `(frames, audio_size)`, optional `visual_features`, `text_features` or
    `text_input_ids`, the words, and the labels (six emotion intensities and presences unless `emotions=False`,
    sentiment). `audio` replaces the audio column (`model_inputs.audio_feature`: a speech encoder's waveform).
    """
    features = {
        "id": datasets.Value("string"),
        "video_id": datasets.Value("string"),
        "segment_index": datasets.Value("int32"),
        "start": datasets.Value("float64"),
        "end": datasets.Value("float64"),
        **(audio or {"input_features": datasets.Array2D(shape=(None, audio_size), dtype="float32")}),
    }
    if visual_size is not None:
        features["visual_features"] = datasets.Array2D(shape=(None, visual_size), dtype="float32")
    if text_size is not None:
        features["text_features"] = datasets.Array2D(shape=(None, text_size), dtype="float32")
    if text_tokens:
        features["text_input_ids"] = datasets.List(datasets.Value("int32"))
    features["words"] = datasets.List(datasets.Value("string"))
    if emotions:
        features["emotion_intensities"] = datasets.List(datasets.Value("float32"), length=len(EMOTIONS))
        features["emotion_labels"] = datasets.List(datasets.Value("int8"), length=len(EMOTIONS))
    features["sentiment"] = datasets.Value("float32")
    return datasets.Features(features)


def segment_labels(values: np.ndarray) -> tuple[dict, int]:
    """
    The label columns of one `All Labels` row `[sentiment, happy, sad, anger, surprise, disgust, fear]`: sentiment
    clipped to [-3, 3], intensities to [0, 3], presence = intensity > 0; and how many values were clipped.
    """
    sentiment, intensities = float(values[0]), np.asarray(values[1:LABEL_WIDTH], dtype=np.float32)
    clipped_sentiment = float(np.clip(sentiment, -3.0, 3.0))
    clipped_intensities = np.clip(intensities, 0.0, 3.0)
    clipped = int(clipped_sentiment != sentiment) + int((clipped_intensities != intensities).sum())
    labels = {
        "emotion_intensities": clipped_intensities.tolist(),
        "emotion_labels": (clipped_intensities > 0).astype(np.int8).tolist(),
        "sentiment": clipped_sentiment,
    }
    return labels, clipped


def clean_stream(path: str, video_id: str, role: str, features: np.ndarray, width: int, counts: Counter):
    """
    A video's feature rows as float32 with NaN/inf replaced by 0 (counted), or its words decoded; a feature width
    other than the column's `width` (the file's first video) is a `CsdError` naming file and video.
    """
    if role == "words":
        words = features[:, 0]
        if words.dtype.kind not in "SUO" or not all(isinstance(word, bytes | str) for word in words):
            raise CsdError(
                f"{path}: video {video_id!r} stores its words as {words.dtype}, not text; is this the words file?"
            )
        text = [word.decode("utf-8", errors="replace") if isinstance(word, bytes) else word for word in words]
        return np.array(text, dtype=object)
    if features.shape[1] != width:
        raise CsdError(
            f"{path}: video {video_id!r} has {features.shape[1]} features per row, but the file's first video has "
            f"{width}."
        )
    features = features.astype(np.float32, copy=False)
    finite = np.isfinite(features)
    if not finite.all():
        counts[f"nonfinite_replaced_{role}"] += int((~finite).sum())
        features = np.where(finite, features, np.float32(0.0))
    return features


def segment_rows(stream, start: float, end: float, references, role: str, counts: Counter) -> np.ndarray:
    """The rows of a `(features, intervals)` stream in `[start, end]`, or averaged within each of `references`."""
    if stream is None:
        return np.zeros((0, 0), dtype=np.float32)
    features, intervals = stream
    if references is not None:
        aligned, empty = average_within(features, intervals, references)
        counts[f"aligned_words_without_{role}"] += empty
        return aligned
    return features[overlapping_rows(intervals, start, end)]


def segment_fbank(waveform, start: float, end: float, extractor):
    """`(fbank frames, their intervals)` of a segment cut from a video's waveform; None without a waveform."""
    if waveform is None:
        return None
    first = max(0.0, start)
    rate = extractor.sampling_rate
    cut = waveform[int(round(first * rate)) : int(round(end * rate))]
    if len(cut) < extractor.frame_length:
        return np.zeros((0, extractor.feature_size), dtype=np.float32), np.zeros((0, 2))
    frames = extractor.featurize(cut)
    return frames, fbank_intervals(len(frames), first)


__all__ = [
    "EPSILON",
    "ROLE_COLUMNS",
    "SPLITS",
    "clean_stream",
    "overlapping_rows",
    "segment_features",
    "segment_labels",
    "segment_rows",
]
