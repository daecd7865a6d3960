"""
A CMU-MOSEI-format folder whose emotions a tiny model learns in seconds: each present emotion raises the mean of one
COVAREP dim of its segment (and sentiment follows the emotions). The tests of the training loop use it to check that a
stage learns; whether the method learns the harder cues of the demo corpora is the default run's question.
"""

from pathlib import Path

import numpy as np

from data_scripts.csd import regular_intervals, write_csd
from data_scripts.mosei import standard_folds

SEGMENT_SECONDS, SEGMENTS = 2.0, 4


def write_learnable_corpus(directory, videos=(40, 12, 12), seed: int = 0) -> Path:
    """`videos` (train, validation, test) videos of `SEGMENTS` labelled segments each; returns the folder."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    generator = np.random.default_rng(seed)
    folds = standard_folds()
    streams = {name: {} for name in ("labels", "words", "covarep", "facet", "glove")}
    for video_id in [video for split, count in zip(folds, videos, strict=True) for video in folds[split][:count]]:
        seconds = SEGMENTS * SEGMENT_SECONDS
        audio = generator.standard_normal((int(seconds * 100), 74)).astype(np.float32)
        present = generator.random((SEGMENTS, 6)) < 0.4
        for segment, flags in enumerate(present):
            rows = slice(int(segment * SEGMENT_SECONDS * 100), int((segment + 1) * SEGMENT_SECONDS * 100))
            audio[rows, :6] += 2.0 * flags
        intensities = present * generator.integers(1, 10, present.shape) / 3
        sentiment = intensities[:, 0] - intensities[:, 1] - intensities[:, 2]
        bounds = np.array([(index * SEGMENT_SECONDS, (index + 1) * SEGMENT_SECONDS) for index in range(SEGMENTS)])
        streams["labels"][video_id] = (np.column_stack([np.clip(sentiment, -3, 3), intensities]), bounds)
        word_intervals = regular_intervals(int(seconds * 2), 0.5)
        streams["words"][video_id] = (np.array([[b"word"]] * len(word_intervals), dtype="S8"), word_intervals)
        streams["glove"][video_id] = (generator.standard_normal((len(word_intervals), 300)), word_intervals)
        streams["covarep"][video_id] = (audio, regular_intervals(len(audio), 0.01))
        visual = generator.standard_normal((int(seconds * 30), 35)).astype(np.float32)
        streams["facet"][video_id] = (visual, regular_intervals(len(visual), 1 / 30))
    for name, (file, root) in {
        "labels": ("CMU_MOSEI_Labels.csd", "All Labels"),
        "words": ("CMU_MOSEI_TimestampedWords.csd", "words"),
        "covarep": ("CMU_MOSEI_COVAREP.csd", "COVAREP"),
        "facet": ("CMU_MOSEI_VisualFacet42.csd", "FACET 4.2"),
        "glove": ("CMU_MOSEI_TimestampedWordVectors.csd", "glove_vectors"),
    }.items():
        write_csd(directory / file, root, streams[name], compression=None)
    return directory
