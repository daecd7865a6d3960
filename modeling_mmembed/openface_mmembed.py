# Copyright 2026 The mmembed authors. Licensed under the Apache License, Version 2.0.
"""Per-frame visual features from OpenFace 2 `FeatureExtraction` CSV files."""

import csv
import os
import warnings

import numpy as np

OPENFACE_METADATA_COLUMNS = ("frame", "face_id", "timestamp", "confidence", "success")
AU_INTENSITIES = tuple(f"AU{number:02d}_r" for number in (1, 2, 4, 5, 6, 7, 9, 10, 12, 14, 15, 17, 20, 23, 25, 26, 45))
AU_PRESENCES = tuple(
    f"AU{number:02d}_c" for number in (1, 2, 4, 5, 6, 7, 9, 10, 12, 14, 15, 17, 20, 23, 25, 26, 28, 45)
)
OPENFACE_COLUMN_GROUPS = {
    "action_units": AU_INTENSITIES + AU_PRESENCES,
    "au_intensities": AU_INTENSITIES,
    "gaze": ("gaze_0_x", "gaze_0_y", "gaze_0_z", "gaze_1_x", "gaze_1_y", "gaze_1_z", "gaze_angle_x", "gaze_angle_y"),
    "pose": ("pose_Tx", "pose_Ty", "pose_Tz", "pose_Rx", "pose_Ry", "pose_Rz"),
}
"""Named column selections. `action_units` (17 intensities + 18 presences = 35) is the default visual input."""


def openface_columns(header: list[str], columns: str | list[str]) -> list[str]:
    """Resolve `columns` (a group name, `"all"` for every feature column, or explicit names) against a header."""
    if isinstance(columns, str):
        if columns == "all":
            return [name for name in header if name not in OPENFACE_METADATA_COLUMNS]
        if columns not in OPENFACE_COLUMN_GROUPS:
            raise ValueError(
                f"Unknown OpenFace column group {columns!r}; choose 'all', one of {sorted(OPENFACE_COLUMN_GROUPS)}, "
                "or pass a list of column names."
            )
        return list(OPENFACE_COLUMN_GROUPS[columns])
    return list(columns)


def read_openface_header(path: str | os.PathLike) -> list[str]:
    """The column names of an OpenFace 2 CSV; `ValueError` naming the file when it is not one."""
    path = os.fspath(path)
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            header = [name.strip() for name in next(csv.reader(handle), [])]
    except (UnicodeDecodeError, csv.Error) as error:
        raise ValueError(f"{path} is not an OpenFace 2 CSV: it is not UTF-8 text ({error}).") from None
    if not header or header[0] != "frame":
        raise ValueError(
            f"{path} is not an OpenFace 2 video CSV: its header starts {header[:3]}, expected 'frame, face_id, ...'."
        )
    return header


def read_openface_csv(
    path: str | os.PathLike, columns: str | list[str] = "action_units", max_frames: int | None = None
) -> np.ndarray:
    """
    Read the per-frame features of an OpenFace 2 CSV (header `frame, face_id, timestamp, confidence, success, ...`,
    comma-and-space separated) as a float32 array `(frames, len(columns))`. Frames where tracking failed keep their
    row (OpenFace writes zeros), so the array stays aligned with the video's frame rate. With `max_frames`, at most
    that many rows are read, and a file with more is refused.
    """
    path = os.fspath(path)
    header = read_openface_header(path)
    wanted = openface_columns(header, columns)
    missing = [name for name in wanted if name not in header]
    if missing:
        raise ValueError(f"{path} lacks the OpenFace columns {missing[:8]}{' ...' if len(missing) > 8 else ''}.")
    try:
        with warnings.catch_warnings():  # an empty table is reported below, with the file's name
            warnings.simplefilter("ignore", UserWarning)
            values = np.loadtxt(
                path,
                delimiter=",",
                skiprows=1,
                usecols=[header.index(name) for name in wanted],
                dtype=np.float32,
                ndmin=2,
                max_rows=None if max_frames is None else max_frames + 1,
                encoding="utf-8",
            )
    except ValueError as error:
        raise ValueError(f"{path} holds a value that is not a number: {error}") from None
    if values.shape[0] == 0:
        raise ValueError(f"{path} has a header but no frames.")
    if max_frames is not None and values.shape[0] > max_frames:
        raise ValueError(f"{path} has more than {max_frames} frames; at most {max_frames} are accepted.")
    if not np.isfinite(values).all():
        raise ValueError(f"{path} holds {int((~np.isfinite(values)).sum())} NaN/inf values in {wanted}.")
    return values


__all__ = ["OPENFACE_COLUMN_GROUPS", "openface_columns", "read_openface_csv", "read_openface_header"]
