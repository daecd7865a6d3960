"""
Small CMU-MOSEI feature pickles in the layouts MMSA and MulT publish, written with the quirks of the real files:
MMSA unaligned (per-sample lengths, padding after them, `-inf` audio, `video$_$clip` ids, `text_bert` masks), MMSA
aligned (no lengths, protocol 5), MulT (front padding, NaN and +-inf, (N, 1, 1) labels, bytes ids, protocol 2).
"""

import pickle
from pathlib import Path

import numpy as np

AUDIO, VISUAL, TEXT_BERT, GLOVE = 74, 35, 768, 300
SPLIT_SIZES = {"train": 6, "valid": 3, "test": 3}


def mmsa_split(rng, count: int, offset: int, aligned: bool) -> dict:
    frames, text_steps = (50, 50) if aligned else (40, 50)
    audio = np.zeros((count, frames, AUDIO), np.float32)
    vision = np.zeros((count, frames, VISUAL), np.float32)
    text = np.zeros((count, text_steps, TEXT_BERT), np.float32)
    text_bert = np.zeros((count, 3, text_steps), np.float32)
    audio_lengths, vision_lengths = rng.integers(5, frames, count), rng.integers(3, frames, count)
    raw_text, ids = [], []
    for index in range(count):
        audio[index, : audio_lengths[index]] = rng.standard_normal((audio_lengths[index], AUDIO))
        vision[index, : vision_lengths[index]] = rng.standard_normal((vision_lengths[index], VISUAL))
        words = ["word"] * int(rng.integers(2, 8))
        tokens = len(words) + 2  # [CLS] ... [SEP]
        text[index, :tokens] = rng.standard_normal((tokens, TEXT_BERT))
        text_bert[index, 0, :tokens] = rng.integers(100, 3000, tokens)
        text_bert[index, 1, :tokens] = 1
        raw_text.append(" ".join(words))
        ids.append(f"-vid{(offset + index) // 2}$_${(offset + index) % 2}")
    audio[0, 1, 3] = -np.inf  # COVAREP's -inf, inside the real frames
    part = {
        "raw_text": np.array(raw_text),
        "audio": audio,
        "vision": vision,
        "text": text,
        "text_bert": text_bert,
        "id": np.array(ids),
        "annotations": np.array(["Positive"] * count),
        "classification_labels": np.zeros(count, np.float32),
        "regression_labels": rng.uniform(-3, 3, count).astype(np.float32),
    }
    if not aligned:
        part["audio_lengths"], part["vision_lengths"] = list(audio_lengths), list(vision_lengths)
    return part


def mult_split(rng, count: int, offset: int) -> dict:
    text_steps, frames = 50, 60
    vision = np.zeros((count, frames, VISUAL), np.float32)
    audio = np.zeros((count, frames, AUDIO), np.float32)
    text = np.zeros((count, text_steps, GLOVE), np.float32)
    ids = []
    for index in range(count):
        for values, low in ((vision, 3), (audio, 5), (text, 2)):
            length = int(rng.integers(low, values.shape[1]))
            values[index, -length:] = rng.standard_normal((length, values.shape[2]))  # padding at the front
        start = 1.5 * (offset + index)
        ids.append([f"vid{offset + index}".encode(), str(start).encode(), str(start + 1.25).encode()])
    audio[0, -1, 0] = np.nan
    audio[1, -2, 2] = np.inf
    vision[1, -1, 4] = -np.inf
    labels = rng.uniform(-3, 3, (count, 1, 1)).astype(np.float32)
    return {"vision": vision, "audio": audio, "text": text, "labels": labels, "id": np.array(ids)}


def write_mmsa(path, aligned: bool = False, seed: int = 0, protocol: int = 4) -> Path:
    """An MMSA pickle: unaligned (`audio_lengths`/`vision_lengths`) or aligned (50 steps, no lengths)."""
    rng, data, offset = np.random.default_rng(seed), {}, 0
    for split, count in SPLIT_SIZES.items():
        data[split] = mmsa_split(rng, count, offset, aligned)
        offset += count
    return _dump(path, data, protocol)


def write_mult(path, seed: int = 0, protocol: int = 2) -> Path:
    """A MulT `mosei_senti_data*.pkl`: front padding, NaN/+-inf, (N, 1, 1) labels, bytes (N, 3) ids."""
    rng, data, offset = np.random.default_rng(seed), {}, 0
    for split, count in SPLIT_SIZES.items():
        data[split] = mult_split(rng, count, offset)
        offset += count
    return _dump(path, data, protocol)


def _dump(path, data: dict, protocol: int) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as file:
        pickle.dump(data, file, protocol=protocol)
    return path
