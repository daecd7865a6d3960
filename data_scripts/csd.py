"""
Reading and writing CMU Multimodal SDK "computational sequence" (`.csd`) files: HDF5 with one root group holding
`data/<video id>/{features, intervals}` and `metadata/<key>`.

    with read_csd("CMU_MOSEI_COVAREP.csd") as covarep:
        covarep.name, covarep.metadata, covarep.video_ids()
        features, intervals = covarep["-iRBcNs9oI8"]     # only this video is read

A multi-gigabyte file is never read whole: `seq[video_id]` reads that video's two datasets.
"""

import contextlib
import json
import os
from collections.abc import Iterator, Mapping

import h5py
import numpy as np

MAX_DATASET_BYTES = 2**31
"""One video's features or intervals (a 10-minute video's 709 OpenFace columns at 30 fps take 51 MB)."""
MAX_COMPRESSION_RATIO = 1100
"""deflate expands at most about 1032:1: a dataset declaring more than this over its stored bytes is forged."""


class CsdError(ValueError):
    """A `.csd` file that does not follow the computational-sequence layout; the message names file and video."""


def decode_metadata_value(value) -> object:
    """A metadata entry as text or its JSON value: real files store both JSON text and plain strings."""
    if isinstance(value, np.ndarray):
        value = value.reshape(-1)[0] if value.size else ""
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    if not isinstance(value, str):
        return value.item() if isinstance(value, np.generic) else value
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        return value


class ComputationalSequence(Mapping):
    """An open `.csd` file: `name`, `metadata`, `video_ids()`, and `seq[video_id] -> (features, intervals)`."""

    def __init__(self, path: str | os.PathLike):
        self.path = os.fspath(path)
        try:
            self._file = h5py.File(self.path, "r")
        except OSError as error:
            raise CsdError(f"{self.path} is not a readable HDF5 .csd file ({error}).") from error
        try:
            self._open_root()
        except BaseException:
            self._file.close()
            raise

    def _open_root(self) -> None:
        with self._damaged("its root group"):
            roots = list(self._file.keys())
        if len(roots) != 1:
            raise CsdError(f"{self.path} must have exactly one root group; found {len(roots)}: {roots[:5]}.")
        self.name = roots[0]
        with self._damaged("its root group"):
            root = self._file[self.name]
            if not isinstance(root, h5py.Group) or "data" not in root or not isinstance(root["data"], h5py.Group):
                raise CsdError(f"{self.path} has no 'data' group under its root group {self.name!r}.")
            self._data = root["data"]
        with self._damaged("its metadata"):
            metadata = root.get("metadata")
            self.metadata = {key: decode_metadata_value(metadata[key][()]) for key in metadata} if metadata else {}

    @contextlib.contextmanager
    def _damaged(self, part: str, video_id: str | None = None):
        """HDF5 errors of a damaged file (h5py raises OSError, RuntimeError, KeyError...) as a `CsdError` naming it."""
        try:
            yield
        except CsdError:
            raise
        except (OSError, RuntimeError, KeyError, ValueError, TypeError, AttributeError) as error:
            where = f"video {video_id!r}" if video_id is not None else part
            raise CsdError(f"{self.path}: {where} cannot be read; the file is damaged ({error}).") from None

    def video_ids(self) -> list[str]:
        """Every video id in the file, in the file's order."""
        with self._damaged("its video list"):
            return list(self._data.keys())

    def __getitem__(self, video_id: str) -> tuple[np.ndarray, np.ndarray]:
        """`(features (T, D), intervals (T, 2) float64)` of one video, checked for shape agreement."""
        if video_id not in self:
            raise KeyError(f"{self.path} has no video {video_id!r}.")
        with self._damaged("", video_id):  # a corrupted (e.g. gzip) chunk: h5py's message names neither file nor video
            group = self._data[video_id]
            for name in ("features", "intervals"):
                if not isinstance(group, h5py.Group) or not isinstance(group.get(name), h5py.Dataset):
                    raise CsdError(f"{self.path}: video {video_id!r} has no {name!r} dataset.")
            for name in ("features", "intervals"):
                self._check_declared_size(video_id, name, group[name])
            features, intervals = group["features"][()], group["intervals"][()]
        if features.dtype.kind not in "biufSUO" or intervals.dtype.kind not in "biuf":
            raise CsdError(
                f"{self.path}: video {video_id!r} holds features of dtype {features.dtype} and intervals of dtype "
                f"{intervals.dtype}; expected numbers (or text for words) and numbers."
            )
        if intervals.ndim != 2 or intervals.shape[1] != 2:
            raise CsdError(f"{self.path}: video {video_id!r} has intervals of shape {intervals.shape}, not (T, 2).")
        if features.ndim not in (1, 2):
            raise CsdError(
                f"{self.path}: video {video_id!r} has features of shape {features.shape}; a computational sequence "
                "holds one row per interval, (T, D)."
            )
        if features.ndim == 1:
            features = features[:, None]
        if features.shape[0] != intervals.shape[0]:
            raise CsdError(
                f"{self.path}: video {video_id!r} has {features.shape[0]} feature rows but {intervals.shape[0]} "
                "intervals."
            )
        return features, intervals.astype(np.float64, copy=False)

    def _check_declared_size(self, video_id: str, name: str, dataset) -> None:
        """
        Refuse, before reading, a dataset whose declared size the file cannot hold: more than `MAX_DATASET_BYTES`, or
        more than gzip's best ratio over the bytes it has stored (unwritten chunks read as fill values).
        """
        declared = dataset.size * dataset.dtype.itemsize
        stored = dataset.id.get_storage_size()
        if declared > MAX_DATASET_BYTES or declared > MAX_COMPRESSION_RATIO * stored + 65536:
            raise CsdError(
                f"{self.path}: video {video_id!r} declares {name} of shape {dataset.shape} ({declared} bytes) but "
                f"stores {stored} bytes; at most {MAX_DATASET_BYTES} bytes and {MAX_COMPRESSION_RATIO}x compression "
                "are read."
            )

    def feature_size(self) -> int:
        """Width D of the feature rows (read from the first video's dataset shape, without reading data)."""
        for video_id in self.video_ids():
            with self._damaged("", video_id):
                shape = self._data[video_id]["features"].shape
            return shape[1] if len(shape) > 1 else 1
        raise CsdError(f"{self.path} has no videos.")

    def __iter__(self) -> Iterator[str]:
        return iter(self.video_ids())

    def __len__(self) -> int:
        with self._damaged("its video list"):
            return len(self._data)

    def __contains__(self, video_id) -> bool:
        with self._damaged("its video list"):
            return video_id in self._data

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> "ComputationalSequence":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def regular_intervals(count: int, step: float) -> np.ndarray:
    """`(count, 2)` back-to-back intervals `[i * step, (i + 1) * step]`: the rows of a fixed-rate stream."""
    starts = np.arange(count) * step
    return np.stack([starts, starts + step], axis=1)


def read_csd(path: str | os.PathLike) -> ComputationalSequence:
    """Open a `.csd` file lazily (use as a context manager or call `close()`)."""
    return ComputationalSequence(path)


def write_csd(
    path: str | os.PathLike,
    name: str,
    data: Mapping[str, tuple[np.ndarray, np.ndarray]],
    metadata: Mapping[str, object] | None = None,
    compression: str | None = "gzip",
) -> None:
    """
    Write a `.csd` file: `data` maps video ids to `(features (T, D), intervals (T, 2))`; metadata values are stored
    as JSON text (as the SDK does); `compression="gzip"` (level 9, as the SDK) or None.
    """
    options = {"compression": "gzip", "compression_opts": 9} if compression == "gzip" else {}
    text = h5py.string_dtype(encoding="utf-8")
    with h5py.File(path, "w") as handle:
        root = handle.create_group(name)
        group = root.create_group("data")
        for video_id, (features, intervals) in data.items():
            features, intervals = np.asarray(features), np.asarray(intervals, dtype=np.float64)
            if intervals.ndim != 2 or intervals.shape[1] != 2 or len(features) != len(intervals):
                raise CsdError(
                    f"{path}: video {video_id!r} needs intervals (T, 2) matching its {len(features)} feature rows; "
                    f"got {intervals.shape}."
                )
            video = group.create_group(video_id)
            video.create_dataset("features", data=features, **options)
            video.create_dataset("intervals", data=intervals, **options)
        meta = root.create_group("metadata")
        for key, value in {"root name": name, **(metadata or {})}.items():
            meta.create_dataset(key, data=[json.dumps(value)], dtype=text)


__all__ = ["ComputationalSequence", "CsdError", "decode_metadata_value", "read_csd", "regular_intervals", "write_csd"]
