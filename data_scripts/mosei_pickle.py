"""
CMU-MOSEI from the processed feature pickles most papers train on, with the same columns as `load_mosei`.

    from data_scripts.mosei_pickle import load_mosei_pickle
    mosei = load_mosei_pickle("MOSEI/Processed/unaligned_50.pkl")     # or load_mosei("....pkl")
    mosei["train"][0]["input_features"]                                 # (frames, 74) COVAREP, padding removed

Two families, recognised from their keys (each as its toolkit's own loader reads it):

- **MMSA** (thuiar/MMSA) `aligned_50.pkl` / `unaligned_50.pkl`: top level `train` / `valid` / `test` (an MMSA-FET
  export adds `config`); per split `audio` (N, T, 74), `vision` (N, T, 35), `text` (N, 50, 768) BERT features,
  `text_bert` (N, 3, 50: ids, mask, segment ids), `raw_text`, `id` (`"video$_$clip"`), `regression_labels` (N,)
  sentiment; unaligned files add `audio_lengths` / `vision_lengths` (real frames, padding after them). Audio and
  visual are cut to those lengths (aligned files keep their 50 steps, as MMSA feeds them), text to the `text_bert`
  mask.
- **MulT** (yaohungt/Multimodal-Transformer) `mosei_senti_data.pkl` (aligned, 50 steps) /
  `mosei_senti_data_noalign.pkl` (text 50, audio and visual 500): `train` / `valid` / `test` -> `vision`, `audio`,
  `text` (GloVe 300), `labels` (N, 1, 1) sentiment, `id` (N, 3: video id, start, end; bytes in some files). Padding
  is at the front: leading all-zero frames are cut.

Neither family has emotion labels, so the datasets have sentiment only (no `emotion_*` columns). NaN and +-inf
become 0 and are counted (as `load_mosei` does for the `.csd` files; MMSA and MulT zero `-inf` audio themselves);
sentiment is clipped to [-3, 3] (counted). Times the file does not hold are NaN (`start`/`end` of MMSA segments);
`segment_index` is the clip number of an MMSA id, -1 where the file has none.

The files come from file-sharing links, so they are unpickled with `safe_pickle.RestrictedUnpickler`: numpy arrays
only, nothing in the file runs. Unpickling needs the whole file in memory (as the toolkits' loaders do); the result
is cached as Arrow under `cache_dir`, keyed on the file's size, modification and inode-change time, so later loads
neither unpickle nor hold it in memory.
"""

import functools
import hashlib
import json
import logging
import math
import warnings
from collections import Counter
from pathlib import Path

import datasets
import numpy as np

from .cache_fingerprint import generator_fingerprint, precomputed_features_config
from .mosei_segments import ROLE_COLUMNS, SPLITS, clean_stream, segment_features
from .prepared_corpus import PreparedCorpus
from .safe_pickle import load_numpy_pickle

logger = logging.getLogger(__name__)

MMSA_SHA256 = {
    "unaligned_50.pkl": "ad8b23d50557045e7d47959ce6c5b955d8d983f2979c7d9b7b9226f6dd6fec1f",
    "aligned_50.pkl": "45eccfb748a87c80ecab9bfac29582e7b1466bf6605ff29d3b338a75120bf791",
}
"""SHA-256 of MMSA's published CMU-MOSEI files (its README's "Dataset" section)."""
STREAM_KEYS = {"audio": "audio", "visual": "vision", "text": "text"}
"""Our modality -> the pickles' key."""
LABEL_KEYS = {"mmsa": "regression_labels", "mult": "labels"}
"""The sentiment key of each layout, which is also how the layout is recognised."""
MMSA_ID_SEPARATOR = "$_$"


class MoseiPickleError(ValueError):
    """A feature pickle whose layout or arrays are not what its toolkit writes; the message names file and key."""


def pickle_layout(data, path) -> str:
    """`"mmsa"` or `"mult"`, from the splits and their sentiment key; anything else is a `MoseiPickleError`."""
    if not isinstance(data, dict) or not all(isinstance(data.get(key), dict) for key in SPLITS.values()):
        found = sorted(map(str, data)) if isinstance(data, dict) else type(data).__name__
        raise MoseiPickleError(
            f"{path}: a CMU-MOSEI feature pickle holds a dict with the splits {list(SPLITS.values())} (MMSA, MulT); "
            f"found {found}."
        )
    split = data[SPLITS["train"]]
    for layout, key in LABEL_KEYS.items():
        if key in split:
            return layout
    raise MoseiPickleError(
        f"{path}: the train split has no sentiment labels ('regression_labels' in MMSA files, 'labels' in MulT "
        f"files); its keys are {sorted(map(str, split))}."
    )


MAX_FEATURE_WIDTH = 4096
"""Features per frame a stream may have (BERT-large and OpenFace's 709 columns lie well below)."""


def _array(part: dict, key: str, where: str, ndim: int | None = None) -> np.ndarray:
    if key not in part:
        raise MoseiPickleError(f"{where} has no {key!r} (keys: {sorted(map(str, part))}).")
    value = part[key]
    if isinstance(value, list | tuple) and any(isinstance(item, list | tuple | np.ndarray) for item in value):
        lengths = {len(item) if hasattr(item, "__len__") else None for item in value}
        if len(lengths) > 1:  # numpy would say "inhomogeneous shape" without naming the key
            raise MoseiPickleError(
                f"{where}[{key!r}] is ragged: its entries have lengths {sorted(map(str, lengths))}."
            )
    try:
        value = np.asarray(value)
    except (ValueError, TypeError) as error:
        raise MoseiPickleError(f"{where}[{key!r}] is not an array ({error}).") from None
    if value.ndim == 0 or (ndim is not None and value.ndim != ndim):
        raise MoseiPickleError(
            f"{where}[{key!r}] must have {ndim or 'at least 1'} dimensions; got shape {value.shape}."
        )
    return value


def split_arrays(part: dict, layout: str, where: str) -> dict:
    """
    The checked arrays of one split: `streams` (modality -> (N, T, D) numbers), `sentiment` (N,), `ids` (N,
    strings), and per layout `lengths` (modality -> (N,) real frames; MMSA), `raw_text`, `times` ((N, 2); MulT).
    Errors name the file, the split, the key, the modality and the shape.
    """
    streams = {}
    for modality, key in STREAM_KEYS.items():
        values = _array(part, key, where, ndim=3)
        if values.dtype.kind not in "fiu":
            raise MoseiPickleError(f"{where}[{key!r}] ({modality}) must hold numbers; got dtype {values.dtype}.")
        if not 1 <= values.shape[2] <= MAX_FEATURE_WIDTH:
            raise MoseiPickleError(
                f"{where}[{key!r}] ({modality}) has {values.shape[2]} features per frame; expected 1 to "
                f"{MAX_FEATURE_WIDTH}."
            )
        streams[modality] = values
    labels = _array(part, LABEL_KEYS[layout], where)
    count = len(labels)
    if labels.size != count or labels.dtype.kind not in "fiu":
        raise MoseiPickleError(
            f"{where}[{LABEL_KEYS[layout]!r}] must hold one sentiment score per segment, shape (N,), (N, 1) or "
            f"(N, 1, 1); got shape {labels.shape}, dtype {labels.dtype}."
        )
    for modality, values in streams.items():
        if len(values) != count:
            raise MoseiPickleError(
                f"{where}: {STREAM_KEYS[modality]!r} ({modality}) has {len(values)} segments, the labels {count}."
            )
    arrays = {"streams": streams, "sentiment": labels.reshape(count).astype(np.float64)}
    ids = _array(part, "id", where)
    if len(ids) != count:
        raise MoseiPickleError(f"{where}['id'] has {len(ids)} entries for {count} segments.")
    if layout == "mult":
        if ids.ndim != 2 or ids.shape[1] != 3:
            raise MoseiPickleError(f"{where}['id'] must be (N, 3): video id, start, end; got shape {ids.shape}.")
        arrays["ids"] = [_text(value) for value in ids[:, 0]]
        arrays["times"] = [(_seconds(start), _seconds(end)) for start, end in ids[:, 1:]]
        return arrays
    if ids.size != count:
        raise MoseiPickleError(f"{where}['id'] must hold one id per segment, shape ({count},); got {ids.shape}.")
    arrays["ids"] = [_text(value) for value in ids.reshape(count)]
    raw_text = _array(part, "raw_text", where)
    if raw_text.size != count:
        raise MoseiPickleError(f"{where}['raw_text'] has {raw_text.size} transcripts for {count} segments.")
    arrays["raw_text"] = [_text(value) for value in raw_text.reshape(count)]
    lengths = {}
    for modality, key in (("audio", "audio_lengths"), ("visual", "vision_lengths")):
        if key in part:  # unaligned files
            lengths[modality] = _array(part, key, where, ndim=1).astype(np.int64)
    if "text_bert" in part:
        text_bert = _array(part, "text_bert", where, ndim=3)
        lengths["text"] = (text_bert[:, 1] > 0).sum(axis=1).astype(np.int64)  # row 1: the attention mask
    for modality, values in lengths.items():
        frames = streams[modality].shape[1]
        beyond = np.flatnonzero((values < 0) | (values > frames))
        if len(values) != count or len(beyond):
            which = arrays["ids"][beyond[0]] if len(beyond) else None
            raise MoseiPickleError(
                f"{where}: the {modality} lengths must be one per segment within [0, {frames}]; "
                f"segment {which!r} has {values[beyond[0]] if len(beyond) else '?'} ({len(values)} lengths)."
            )
    arrays["lengths"] = lengths
    return arrays


def _text(value) -> str:
    """Text of an id or transcript entry; bytes decoded, characters UTF-8 cannot hold (lone surrogates) replaced."""
    if isinstance(value, bytes | np.bytes_):
        return value.decode("utf-8", errors="replace")
    return str(value).encode("utf-8", errors="replace").decode("utf-8")


def _seconds(value) -> float:
    try:
        return float(_text(value))
    except ValueError:
        return math.nan


def leading_padding(values: np.ndarray) -> int:
    """How many frames at the front of `values` (T, D) are all exactly 0 (MulT pads at the front)."""
    padded = ~np.any(values != 0, axis=1)  # NaN != 0, so a frame holding NaN is data, not padding
    return len(padded) if padded.all() else int(np.argmin(padded))


def check_published_hash(path: Path) -> None:
    """Warn when a file named like MMSA's CMU-MOSEI pickles is not the published one (a re-export, or MOSI's)."""
    expected = MMSA_SHA256.get(path.name)
    if expected is None:
        return
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 24), b""):
            digest.update(block)
    if digest.hexdigest() != expected:
        warnings.warn(
            f"{path} is not MMSA's published CMU-MOSEI {path.name} (sha256 {digest.hexdigest()}, published "
            f"{expected}): a re-export, another dataset's file, or a damaged copy. Loading it all the same.",
            stacklevel=4,
        )


@functools.lru_cache(maxsize=1)
def read_mosei_pickle(path: str, signature: str) -> tuple[str, dict]:
    """
    `(layout, {split: split_arrays})` of a feature pickle, unpickled safely once per file version (`signature`
    changes with the file; the builder clears this cache when the splits are written).
    """
    path = Path(path)
    check_published_hash(path)
    data = load_numpy_pickle(path)
    layout = pickle_layout(data, path)
    splits = {split: split_arrays(data[key], layout, f"{path} [{key!r}]") for split, key in SPLITS.items()}
    check_split_widths(splits, layout, path)
    return layout, splits


def check_split_widths(splits: dict, layout: str, path) -> None:
    """Every split's streams have the train split's widths, and every split has a segment with a finite label."""
    for split, arrays in splits.items():
        for modality, values in arrays["streams"].items():
            expected = splits["train"]["streams"][modality].shape[2]
            if values.shape[2] != expected:
                raise MoseiPickleError(
                    f"{path} [{SPLITS[split]!r}][{STREAM_KEYS[modality]!r}] ({modality}) has {values.shape[2]} "
                    f"features per frame, the train split {expected}: the splits come from different extractions."
                )
        if len(arrays["sentiment"]) and not np.isfinite(arrays["sentiment"]).any():
            raise MoseiPickleError(
                f"{path} [{SPLITS[split]!r}][{LABEL_KEYS[layout]!r}] holds no finite sentiment label: every "
                "segment would be dropped."
            )


def segment_streams(arrays: dict, index: int, layout: str) -> dict:
    """Each modality's real frames of segment `index`: cut to its length (MMSA) or after its front padding (MulT)."""
    rows = {}
    for modality, values in arrays["streams"].items():
        frames = values[index]
        if layout == "mult":
            frames = frames[leading_padding(frames) :]
        elif modality in arrays["lengths"]:
            frames = frames[: arrays["lengths"][modality][index]]
        rows[modality] = frames
    return rows


def segment_identity(arrays: dict, index: int, layout: str) -> dict:
    """`id`, `video_id`, `segment_index`, `start`, `end` and `words` of segment `index`."""
    if layout == "mult":
        video_id, (start, end) = arrays["ids"][index], arrays["times"][index]
        return {
            "id": f"{video_id}[{start:g}-{end:g}]",
            "video_id": video_id,
            "segment_index": -1,
            "start": start,
            "end": end,
            "words": [],
        }
    segment_id = arrays["ids"][index]
    video_id, _, clip = segment_id.rpartition(MMSA_ID_SEPARATOR)
    return {
        "id": segment_id,
        "video_id": video_id or segment_id,
        "segment_index": int(clip) if clip.isdigit() else -1,
        "start": math.nan,
        "end": math.nan,
        "words": arrays["raw_text"][index].split(),
    }


def pickle_segments(path: str, signature: str, split: str, drop_incomplete: bool, counts: Counter):
    """The examples of one split (the generator behind `datasets.Dataset.from_generator`)."""
    layout, splits = read_mosei_pickle(path, signature)
    arrays = splits[split]
    for index in range(len(arrays["sentiment"])):
        identity = segment_identity(arrays, index, layout)
        sentiment = arrays["sentiment"][index]
        if not math.isfinite(sentiment):
            counts["segments_dropped_nonfinite_labels"] += 1
            continue
        rows = segment_streams(arrays, index, layout)
        empty = [modality for modality, values in rows.items() if len(values) == 0]
        for modality in empty:
            counts[f"segments_{'dropped' if drop_incomplete else 'kept'}_without_{modality}"] += 1
        if empty and drop_incomplete:
            continue
        clipped = float(np.clip(sentiment, -3.0, 3.0))
        counts["labels_clipped"] += int(clipped != sentiment)
        counts[f"segments_{split}"] += 1
        example = {**identity, "sentiment": clipped}
        for modality, values in rows.items():
            width = arrays["streams"][modality].shape[2]
            where = f"{path} [{split}]"
            example[ROLE_COLUMNS[modality]] = clean_stream(where, identity["id"], modality, values, width, counts)
        yield example


def load_mosei_pickle(path, *, drop_incomplete: bool = True, cache_dir=None) -> PreparedCorpus:
    """
    CMU-MOSEI from an MMSA or MulT feature pickle as a `PreparedCorpus` (`train`, `validation`, `test`) with the
    columns of `load_mosei` but no emotion columns (the files have sentiment only).

    Args:
        path: the `.pkl` file.
        drop_incomplete: drop segments with no frames in a modality (counted); with False they are kept with that
            modality empty (the model treats it as absent).
        cache_dir: where the Arrow cache lives (the `datasets` cache by default).

    Returns:
        A `PreparedCorpus` whose `report` counts what was replaced (NaN/inf -> 0), clipped, dropped or kept empty, with
        the segments per split; the same summary is logged at INFO and stored with the cache.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No CMU-MOSEI feature pickle at {path}.")
    options = {"drop_incomplete": drop_incomplete}
    key = generator_fingerprint(pickle_segments, options, [path])
    root = Path(cache_dir if cache_dir is not None else datasets.config.HF_DATASETS_CACHE) / "mosei_pickle"
    record_path = root / f"{key}.json"
    record = json.loads(record_path.read_text()) if record_path.is_file() else None
    if record is None:
        layout, splits = read_mosei_pickle(str(path), key)
        widths = {modality: values.shape[2] for modality, values in splits["train"]["streams"].items()}
        record = {"layout": layout, "widths": widths}
    widths = record["widths"]
    features = segment_features(widths["audio"], widths["visual"], widths["text"], emotions=False)
    counts = Counter()
    mosei = datasets.DatasetDict()
    for split in SPLITS:
        try:
            mosei[split] = datasets.Dataset.from_generator(
                pickle_segments,
                features=features,
                gen_kwargs={"path": str(path), "signature": key, "split": split, **options, "counts": counts},
                cache_dir=None if cache_dir is None else str(cache_dir),
                split=datasets.NamedSplit(split),
                fingerprint=f"{key}-{split}",
            )
        except datasets.exceptions.DatasetGenerationError as error:  # nothing of a failed split is cached
            if isinstance(error.__cause__, ValueError):
                raise error.__cause__ from None
            raise MoseiPickleError(f"{path} [{split}]: its segments cannot be stored ({error.__cause__}).") from error
    read_mosei_pickle.cache_clear()  # the unpickled arrays: the Arrow files hold everything now
    if "summary" not in record:
        summary = dict(counts)
        summary["segments"] = {split: summary.pop(f"segments_{split}", 0) for split in SPLITS}
        record["summary"] = summary
        root.mkdir(parents=True, exist_ok=True)
        record_path.write_text(json.dumps(record, indent=1, sort_keys=True))
    logger.info("CMU-MOSEI pickle %s (%s): %s", path, record["layout"], json.dumps(record["summary"], sort_keys=True))
    extractor = precomputed_features_config(f"{record['layout'].upper()} pickle", widths["audio"])  # its own features
    return PreparedCorpus(mosei, extractor, record["summary"])


__all__ = ["MoseiPickleError", "load_mosei_pickle", "pickle_layout", "read_mosei_pickle"]
