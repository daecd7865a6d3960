"""Deterministic test signals at 16 kHz: speech-like, chirp plus noise, white noise, a short clip."""

import numpy as np
from scipy.signal import lfilter

RATE = 16000


def speech_like(seconds: float = 2.0, seed: int = 0) -> np.ndarray:
    """A voiced source with a wandering pitch (120-180 Hz), three formant resonances and a 4 Hz syllable envelope."""
    rng = np.random.default_rng(seed)
    time = np.arange(int(RATE * seconds)) / RATE
    phase = 2 * np.pi * np.cumsum(150 + 30 * np.sin(2 * np.pi * 0.7 * time)) / RATE
    voiced = sum(np.sin(harmonic * phase) / harmonic for harmonic in range(1, 30))
    for centre, bandwidth in ((700, 130), (1220, 70), (2600, 160)):
        radius = np.exp(-np.pi * bandwidth / RATE)
        angle = 2 * np.pi * centre / RATE
        voiced = lfilter([1 - radius], [1, -2 * radius * np.cos(angle), radius**2], voiced)
    envelope = (0.5 * (1 + np.sin(2 * np.pi * 4 * time))) ** 2
    noise = 0.003 * rng.standard_normal(time.size)
    return (0.2 * voiced / np.abs(voiced).max() * envelope + noise).astype(np.float32)


def chirp_with_noise(seconds: float = 2.0, seed: int = 1) -> np.ndarray:
    """A 100 Hz to 3.9 kHz linear chirp plus white noise."""
    rng = np.random.default_rng(seed)
    time = np.arange(int(RATE * seconds)) / RATE
    return (0.3 * np.sin(2 * np.pi * (100 + 1900 * time) * time) + 0.02 * rng.standard_normal(time.size)).astype(
        np.float32
    )


def white_noise(seconds: float = 2.0, seed: int = 2) -> np.ndarray:
    return (0.1 * np.random.default_rng(seed).standard_normal(int(RATE * seconds))).astype(np.float32)


def tone(frequency: float, seconds: float, rate: int = RATE, amplitude: float = 0.3) -> np.ndarray:
    return (amplitude * np.sin(2 * np.pi * frequency * np.arange(int(rate * seconds)) / rate)).astype(np.float32)


SIGNALS = {
    "speech_like": speech_like,
    "chirp_with_noise": chirp_with_noise,
    "white_noise": white_noise,
    "clip_0.25s": lambda: speech_like(seconds=0.25, seed=3),
}
