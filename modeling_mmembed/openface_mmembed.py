# Copyright 2026 The mmembed authors. Licensed under the Apache License, Version 2.0.
"""Per-frame visual features from OpenFace 2 `FeatureExtraction` CSV files."""

import contextlib
import csv
import os
import re
import warnings
from collections import Counter

import numpy as np

from .array_checks_mmembed import check_finite

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


def _open_text(source, name: str | None = None):
    """`(name for errors, text stream)` of a path or an already open text stream (e.g. `io.StringIO` of a request)."""
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        return name or path, open(path, newline="", encoding="utf-8")  # noqa: SIM115 - closed by the caller's `with`
    return name or getattr(source, "name", "the visual CSV"), contextlib.nullcontext(source)


def read_openface_header(source) -> list[str]:
    """
    The column names of an OpenFace 2 CSV (a path or a text stream, left after the header line); `ValueError` naming
    the file when it is not one, or when a column name appears twice.
    """
    name, stream = _open_text(source)
    with stream as handle:
        return _header(handle, name)


def _header(handle, name: str) -> list[str]:
    try:
        header = [column.strip() for column in next(csv.reader([handle.readline()]), [])]
    except (UnicodeDecodeError, csv.Error) as error:
        raise ValueError(f"{name} is not an OpenFace 2 CSV: it is not UTF-8 text ({error}).") from None
    if not header or header[0] != "frame":
        raise ValueError(f"{name} is not an OpenFace 2 video CSV: its header does not start 'frame, face_id, ...'.")
    repeated = sorted(column for column, count in Counter(header).items() if count > 1)
    if repeated:
        raise ValueError(f"{name} names the columns {repeated[:8]} more than once: which one to read is ambiguous.")
    return header


def read_openface_csv(
    source, columns: str | list[str] = "action_units", max_frames: int | None = None, name: str | None = None
) -> np.ndarray:
    """
    Read the per-frame features of an OpenFace 2 CSV (header `frame, face_id, timestamp, confidence, success, ...`,
    comma-and-space separated) as a float32 array `(frames, len(columns))`. `source` is a path or a text stream
    (`io.StringIO(csv_text)` for CSV text received in a request). Frames where tracking failed keep their row
    (OpenFace writes zeros), so the array stays aligned with the video's frame rate. With `max_frames`, at most that
    many rows are read, and a file with more is refused. Errors name the file (or `name`), row and column, never a
    value.
    """
    name, stream = _open_text(source, name)
    with stream as handle:
        header = _header(handle, name)
        wanted = openface_columns(header, columns)
        missing = [column for column in wanted if column not in header]
        if missing:
            raise ValueError(f"{name} lacks the OpenFace columns {missing[:8]}{' ...' if len(missing) > 8 else ''}.")
        try:
            with warnings.catch_warnings():  # an empty table is reported below, with the file's name
                warnings.simplefilter("ignore", UserWarning)
                values = np.loadtxt(
                    handle,
                    delimiter=",",
                    usecols=[header.index(column) for column in wanted],
                    dtype=np.float32,
                    ndmin=2,
                    max_rows=None if max_frames is None else max_frames + 1,
                )
        except (ValueError, UnicodeDecodeError) as error:
            place = re.search(r"row (\d+), column (\d+)", str(error))
            where = f" (data row {int(place[1]) + 1}, column {header[int(place[2]) - 1]!r})" if place else ""
            raise ValueError(f"{name} holds a value that is not a number{where}.") from None
    if values.shape[0] == 0:
        raise ValueError(f"{name} has a header but no frames.")
    if max_frames is not None and values.shape[0] > max_frames:
        raise ValueError(f"{name} has more than {max_frames} frames; at most {max_frames} are accepted.")
    check_finite(values, name, f"values in {wanted}")
    return values


__all__ = ["OPENFACE_COLUMN_GROUPS", "openface_columns", "read_openface_csv", "read_openface_header"]
