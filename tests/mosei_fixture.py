"""
A small CMU-MOSEI folder with every quirk of the real files, and the answers a correct loader must give.

Videos (ids from the standard folds, numeric and dash-leading ones included):
- train `hh04W3xXa5s`: 3 label rows, unsorted and one with a negative start; COVAREP holds 3 NaN and 2 -inf.
- train `81406`: 2 label rows; no visual (missing from FACET).
- train `-iRBcNs9oI8`: 2 label rows, one too short to be a segment (end == start).
- validation `188343`: 1 label row.
- test `7l3BNtSE0xc`: 2 label rows, the first out of range (sentiment 3.2, happy -0.1 -> clipped to 3 and 0).
- `notInAnyFold1`: labelled and featurised, but in no fold.

Every video lasts 8 s: COVAREP rows every 10 ms, FACET every 1/30 s, words (and GloVe rows) every 0.5 s with every
third word `sp`. Segment boundaries sit on whole 10 ms and 1/30 s frames, so the frame counts are exact:
a segment [a, b] has 100 (b - a) COVAREP rows, 30 (b - a) FACET rows and 2 (b - a) words.
"""

from pathlib import Path

import h5py
import numpy as np

from data_scripts.csd import regular_intervals, write_csd

DURATION = 8.0
EMOTIONS = ("happy", "sad", "anger", "surprise", "disgust", "fear")
VIDEOS = {
    "hh04W3xXa5s": [  # (start, end, sentiment, happy, sad, anger, surprise, disgust, fear)
        (1.0, 2.0, 1.0, 2.0, 0.0, 0.0, 1 / 3, 0.0, 0.0),
        (-0.5, 1.0, -1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0),
        (4.0, 6.0, 0.0, 0.0, 0.0, 2 / 3, 0.0, 0.0, 1.0),
    ],
    "81406": [
        (0.0, 3.0, 2.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0),
        (3.0, 4.0, 0.5, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0),
    ],
    "-iRBcNs9oI8": [
        (2.0, 3.0, -2.0, 0.0, 3.0, 0.0, 0.0, 0.0, 0.0),
        (5.0, 5.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0),
    ],
    "188343": [(0.5, 2.5, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0)],
    "7l3BNtSE0xc": [
        (6.0, 7.0, 3.2, -0.1, 0.0, 0.0, 2.0, 0.0, 0.0),
        (0.0, 1.0, -0.5, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0),
    ],
    "notInAnyFold1": [(0.0, 2.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0)],
}
NO_VISUAL = "81406"
WITH_NONFINITE = "hh04W3xXa5s"
SPLIT_OF = {
    "hh04W3xXa5s": "train",
    "81406": "train",
    "-iRBcNs9oI8": "train",
    "188343": "validation",
    "7l3BNtSE0xc": "test",
}


def _frames(video_id: str, count: int, width: int, salt: int) -> np.ndarray:
    seed = (sum(map(ord, video_id)) * 131 + salt) % 2**32
    return np.random.default_rng(seed).standard_normal((count, width)).astype(np.float32)


def words_of(video_id: str) -> list[str]:
    return ["sp" if index % 3 == 2 else f"w{index}{video_id[:2].lower()}" for index in range(int(DURATION * 2))]


def covarep(video_id: str) -> np.ndarray:
    frames = _frames(video_id, int(DURATION * 100), 74, 1)
    if video_id == WITH_NONFINITE:
        frames[150, :3] = np.nan
        frames[420, 5:7] = -np.inf
    return frames


def facet(video_id: str) -> np.ndarray:
    return _frames(video_id, int(DURATION * 30), 35, 2)


def glove(video_id: str) -> np.ndarray:
    return _frames(video_id, int(DURATION * 2), 300, 3)


def write_fixture(directory: Path, *, plain_metadata_file: str = "CMU_MOSEI_VisualFacet42.csd") -> Path:
    """Write the six `.csd` files (COVAREP gzip, the rest plain) into `directory`; returns it."""
    directory.mkdir(parents=True, exist_ok=True)
    labels = {
        video_id: (
            np.array([row[2:] for row in rows], dtype=np.float64),
            np.array([row[:2] for row in rows], dtype=np.float64),
        )
        for video_id, rows in VIDEOS.items()
    }
    write_csd(
        directory / "CMU_MOSEI_Labels.csd",
        "All Labels",
        labels,
        {"dimension names": ["sentiment", *EMOTIONS]},
        compression=None,
    )
    words = {
        video_id: (np.array([[word.encode()] for word in words_of(video_id)], dtype="S12"), regular_intervals(16, 0.5))
        for video_id in VIDEOS
    }
    write_csd(directory / "CMU_MOSEI_TimestampedWords.csd", "words", words, compression=None)
    write_csd(
        directory / "CMU_MOSEI_COVAREP.csd",
        "COVAREP",
        {video_id: (covarep(video_id), regular_intervals(800, 0.01)) for video_id in VIDEOS},
        compression="gzip",
    )
    write_csd(
        directory / "CMU_MOSEI_VisualFacet42.csd",
        "FACET 4.2",
        {video_id: (facet(video_id), regular_intervals(240, 1 / 30)) for video_id in VIDEOS if video_id != NO_VISUAL},
        compression=None,
    )
    write_csd(
        directory / "CMU_MOSEI_VisualOpenFace2.csd",
        "OpenFace_2",
        {video_id: (_frames(video_id, 240, 713, 4), regular_intervals(240, 1 / 30)) for video_id in VIDEOS},
        compression="gzip",
    )
    write_csd(
        directory / "CMU_MOSEI_TimestampedWordVectors.csd",
        "glove_vectors",
        {video_id: (glove(video_id), regular_intervals(16, 0.5)) for video_id in VIDEOS},
        compression=None,
    )
    with h5py.File(directory / plain_metadata_file, "a") as handle:  # plain-string metadata, as some real files have
        metadata = handle[next(iter(handle))]["metadata"]
        del metadata["root name"]
        metadata.create_dataset("creator", data=["Plain text creator"], dtype=h5py.string_dtype())
        metadata.create_dataset("md5", data=["None"], dtype=h5py.string_dtype())
    return directory


def write_wavs(directory: Path, skip: tuple[str, ...] = ()) -> dict[str, np.ndarray]:
    """`<video_id>.wav` (8 s of 16 kHz noise) for every video but `skip`; returns the waveforms."""
    import soundfile

    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    waves = {}
    for video_id in VIDEOS:
        wave = (0.1 * rng.standard_normal(int(DURATION * 16000))).astype(np.float32)
        if video_id not in skip:
            waves[video_id] = wave
            soundfile.write(directory / f"{video_id}.wav", wave, 16000, subtype="FLOAT")
    return waves
