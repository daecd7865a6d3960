# Copyright 2026 The mmembed authors. Licensed under the Apache License, Version 2.0.
"""
MMEmbed feature extractor: waveforms (arrays or audio files) -> Kaldi log-mel filterbanks `(batch_size, length, 80)` at
100 frames per second, with an attention mask and optional per-utterance normalisation. (SpecAugment is the model's, in
training mode: `MMEmbedConfig.apply_spec_augment`.)
"""

import os

import numpy as np
from transformers import SequenceFeatureExtractor
from transformers.audio_utils import mel_filter_bank, spectrogram, window_function
from transformers.feature_extraction_utils import BatchFeature
from transformers.utils import logging

from .array_checks_mmembed import check_finite, check_max_length
from .audio_mmembed import check_sampling_rate, load_audio_file, resample, to_mono_float

try:  # Kaldi fbank in torchaudio, when it imports (no torchaudio release loads beside torch 2.13: see docs/usage.md)
    import torch
    import torchaudio.compliance.kaldi as torchaudio_kaldi
except Exception:  # noqa: BLE001 - any import failure (missing, ABI mismatch, CUDA libraries) disables the back-end
    torchaudio_kaldi = None

logger = logging.get_logger(__name__)

KALDI_INT16_SCALE = 32768.0
"""Kaldi computes filterbanks on 16-bit integer sample values."""

KALDI_LOG_FLOOR = float(np.finfo(np.float32).eps)
"""Kaldi's floor on mel energies before the log."""

BACKEND_SPEED_ORDER = ("numpy", "torchaudio")
"""
Correct back-ends in order of preference for `backend="auto"`: measured speed first (`benchmarks/fbank_speed.py`).
torchaudio's speed has not been measured (its PyPI wheels fail to import beside the CPU torch of the reference
machine), so it is used only when asked for.
"""


def available_backends() -> list[str]:
    """The filterbank back-ends that import on this machine, in `BACKEND_SPEED_ORDER`."""
    return [name for name in BACKEND_SPEED_ORDER if name == "numpy" or torchaudio_kaldi is not None]


MAX_MEL_BINS = 512
"""Mel bins an extractor may have: a 25 ms window has 201 to 601 FFT bins at 16 to 48 kHz (a saved config asking for
millions would allocate gigabytes of filters)."""


class MMEmbedFeatureExtractor(SequenceFeatureExtractor):
    r"""
    Kaldi-compatible log-mel filterbank features for MMEmbed: 25 ms Povey windows every 10 ms, pre-emphasis 0.97, DC
    removal, 512-point FFT, mel bins from 20 Hz to Nyquist, natural log, no dither by default.

    Args:
        feature_size (`int`, defaults to 80):
            Number of mel bins.
        sampling_rate (`int`, defaults to 16000):
            Rate the features are computed at; other rates are resampled (soxr, else scipy).
        padding_value (`float`, defaults to 0.0):
            Value of padded frames.
        dither (`float`, defaults to 0.0):
            Kaldi dither (Gaussian noise with this standard deviation on the 16-bit scale); 0 for deterministic output.
        do_normalize (`bool`, defaults to `False`):
            Per-utterance mean and variance normalisation of each mel bin (over real frames only). It removes the
            overall loudness of an utterance, which can be an emotion cue.
        global_mean (`float`, defaults to 14.0), global_std (`float`, defaults to 9.0):
            Without `do_normalize`, every value becomes `(fbank - global_mean) / global_std` (as in the Audio
            Spectrogram Transformer): Kaldi log-mel energies of 16-bit-scaled speech sit around 14 +- 9, a scale that
            slows training from scratch; a fixed affine map keeps loudness. `0.0` and `1.0` give raw Kaldi values.
        backend (`str`, defaults to `"auto"`):
            `"numpy"` (transformers' audio utilities), `"torchaudio"` (Kaldi compliance module, when it imports), or
            `"auto"`: the first available in `BACKEND_SPEED_ORDER` (numpy).
        audio_features (`str`, *optional*):
            The name of the pre-extracted audio features a model reads instead of audio (e.g. `"COVAREP"` for a model
            trained on the CMU SDK files): the extractor then takes `(frames, feature_size)` arrays of those features
            as they are and refuses audio, saying what to give. `None` (the default): it computes fbank from audio.
    """

    model_input_names = ["input_features", "attention_mask"]

    def __init__(
        self,
        feature_size: int = 80,
        sampling_rate: int = 16000,
        padding_value: float = 0.0,
        dither: float = 0.0,
        do_normalize: bool = False,
        global_mean: float = 14.0,
        global_std: float = 9.0,
        backend: str = "auto",
        audio_features: str | None = None,
        **kwargs,
    ):
        if type(feature_size) is not int or not 1 <= feature_size <= MAX_MEL_BINS:
            raise ValueError(f"feature_size (mel bins) is an integer in [1, {MAX_MEL_BINS}]; got {feature_size!r}.")
        super().__init__(feature_size=feature_size, sampling_rate=sampling_rate, padding_value=padding_value, **kwargs)
        sampling_rate = check_sampling_rate(sampling_rate)
        if backend not in ("auto", *BACKEND_SPEED_ORDER):
            raise ValueError(
                f"Unknown fbank backend {backend!r}; choose 'auto' or one of {list(BACKEND_SPEED_ORDER)}."
            )
        if backend != "auto" and backend not in available_backends():
            raise ValueError(
                f"The fbank backend {backend!r} is not available here (it failed to import); available: "
                f"{available_backends()}."
            )
        self.dither = dither
        if global_std <= 0:
            raise ValueError(f"global_std must be positive, got {global_std}.")
        self.do_normalize = do_normalize
        self.global_mean = float(global_mean)
        self.global_std = float(global_std)
        self.backend = backend
        self.audio_features = audio_features
        self.return_attention_mask = True
        self.frame_length = int(round(0.025 * sampling_rate))
        self.hop_length = int(round(0.010 * sampling_rate))
        self.fft_length = int(2 ** np.ceil(np.log2(self.frame_length)))
        self.window = window_function(self.frame_length, "povey", periodic=False)
        self.mel_filters = mel_filter_bank(
            num_frequency_bins=self.fft_length // 2 + 1,
            num_mel_filters=feature_size,
            min_frequency=20.0,
            max_frequency=sampling_rate / 2,
            sampling_rate=sampling_rate,
            norm=None,
            mel_scale="kaldi",
            triangularize_in_mel_space=True,
        )

    @property
    def resolved_backend(self) -> str:
        """The back-end in use: the configured one, or for `"auto"` the first available in `BACKEND_SPEED_ORDER`."""
        return available_backends()[0] if self.backend == "auto" else self.backend

    def to_dict(self) -> dict:
        """The saved configuration, without the derived window and mel matrix."""
        output = super().to_dict()
        for derived in ("window", "mel_filters", "frame_length", "hop_length", "fft_length"):
            output.pop(derived, None)
        return output

    def __call__(
        self,
        raw_speech,
        sampling_rate: int | None = None,
        padding: bool | str = True,
        max_length: int | None = None,
        truncation: bool = False,
        pad_to_multiple_of: int | None = None,
        return_tensors: str | None = None,
        return_attention_mask: bool = True,
        **kwargs,
    ) -> BatchFeature:
        """
        Featurise one waveform or a batch (a list or tuple of waveforms). A waveform is a 1-D array (numpy, list or
        torch), a 2-D channels-last array (mixed to mono) or the path of an audio file (read at its own rate).

        Args:
            raw_speech: the waveform(s) or file path(s).
            sampling_rate (`int`, *optional*): rate of array input; resampled to `self.sampling_rate` when different.
                When omitted, arrays are taken to be at `self.sampling_rate`, with a warning (as transformers' own
                extractors do). A non-integer or implausible rate (outside `PLAUSIBLE_SAMPLING_RATES`) is refused.
            padding, max_length, truncation, pad_to_multiple_of: as in [`~SequenceFeatureExtractor.pad`], in frames.
                Nothing is cut unless `truncation=True`.
            return_tensors (`str`, *optional*): `"pt"` or `"np"`; lists of arrays otherwise.

        Returns:
            [`BatchFeature`] with `input_features` `(batch, frames, feature_size)` and `attention_mask`
            `(batch, frames)`.
        """
        features = self.featurize_batch(raw_speech, sampling_rate)
        if not truncation:
            check_max_length("audio", [len(frames) for frames in features], max_length)
        padded = self.pad(
            BatchFeature({"input_features": features}),
            padding=padding,
            max_length=max_length,
            truncation=truncation,
            pad_to_multiple_of=pad_to_multiple_of,
            return_attention_mask=return_attention_mask,
            return_tensors=return_tensors,
        )
        return padded

    def featurize_batch(self, raw_speech, sampling_rate: int | None = None) -> list[np.ndarray]:
        """
        One waveform or a list of them (arrays or file paths) -> a list of `(frames, feature_size)` arrays, unpadded
        (what `__call__` pads, and what the processor pads with the other modalities). Checks `sampling_rate`, and
        warns when array audio comes without one.
        """
        batch = list(raw_speech) if is_sample_list(raw_speech) else [raw_speech]
        if self.audio_features is not None:
            return [self.precomputed(item, name=f"audio[{index}]") for index, item in enumerate(batch)]
        if sampling_rate is not None:
            sampling_rate = check_sampling_rate(sampling_rate)
        elif not all(isinstance(item, (str, os.PathLike)) for item in batch):
            logger.warning(
                f"No sampling_rate was given with array audio: it is taken to be {self.sampling_rate} Hz, the rate "
                f"{self.__class__.__name__} computes features at. Pass `sampling_rate` to avoid silent errors."
            )
        return [self.featurize(item, sampling_rate, name=f"audio[{index}]") for index, item in enumerate(batch)]

    def precomputed(self, frames, name: str = "audio") -> np.ndarray:
        """
        One sample of pre-extracted audio features (`audio_features`): a `(frames, feature_size)` array, checked and
        returned as float32; audio (a waveform or a file) is refused, naming what the model reads.
        """
        array = frames if isinstance(frames, (str, os.PathLike)) else np.asarray(frames, dtype=np.float32)
        if isinstance(array, (str, os.PathLike)) or array.ndim != 2 or array.shape[1] != self.feature_size:
            given = "an audio file" if isinstance(array, (str, os.PathLike)) else f"an array of shape {array.shape}"
            raise ValueError(
                f"{name}: this model reads pre-extracted {self.audio_features} audio features, {self.feature_size} "
                f"per frame, not audio; got {given}. Give a (frames, {self.feature_size}) array of those features "
                "(a model trained on waveforms takes audio)."
            )
        check_finite(array, name)
        return array

    def featurize(self, waveform, sampling_rate: int | None = None, name: str = "audio") -> np.ndarray:
        """One waveform (array or file path) -> `(frames, feature_size)` float32 normalised log-mel filterbank."""
        if self.audio_features is not None:
            return self.precomputed(waveform, name)
        if isinstance(waveform, (str, os.PathLike)):
            name = os.fspath(waveform)
            waveform, sampling_rate = load_audio_file(waveform)
        samples = resample(to_mono_float(waveform, name), sampling_rate or self.sampling_rate, self.sampling_rate)
        if samples.size < self.frame_length:
            raise ValueError(
                f"{name} has {samples.size} samples at {self.sampling_rate} Hz, shorter than one "
                f"{self.frame_length}-sample (25 ms) frame."
            )
        frames = self.kaldi_fbank(samples)
        if self.do_normalize:
            frames = (frames - frames.mean(axis=0)) / np.sqrt(frames.var(axis=0) + 1e-7)
        else:
            frames = (frames - self.global_mean) / self.global_std
        return frames.astype(np.float32)

    def kaldi_fbank(self, samples: np.ndarray) -> np.ndarray:
        """Kaldi log-mel filterbank `(frames, feature_size)` of float samples in [-1, 1] at `self.sampling_rate`."""
        if self.resolved_backend == "torchaudio":
            waveform = torch.from_numpy(samples * KALDI_INT16_SCALE).unsqueeze(0)
            return torchaudio_kaldi.fbank(
                waveform,
                num_mel_bins=self.feature_size,
                sample_frequency=self.sampling_rate,
                dither=self.dither,
                low_freq=20.0,
            ).numpy()
        return spectrogram(
            samples * KALDI_INT16_SCALE,
            self.window,
            frame_length=self.frame_length,
            hop_length=self.hop_length,
            fft_length=self.fft_length,
            power=2.0,
            center=False,
            dither=self.dither,
            preemphasis=0.97,
            mel_filters=self.mel_filters,
            log_mel="log",
            mel_floor=KALDI_LOG_FLOOR,
            remove_dc_offset=True,
        ).T


def featurize_audio_batch(extractor, raw_speech, sampling_rate: int | None = None) -> list[np.ndarray]:
    """
    One waveform or a list of them (arrays or file paths) -> per sample, the model's audio input unpadded: fbank
    `(frames, feature_size)` of an [`MMEmbedFeatureExtractor`] (`featurize_batch`), or the waveform `(samples,)` as a
    pretrained speech encoder's own extractor (`Wav2Vec2FeatureExtractor`: normalised when its `do_normalize` says)
    makes it.
    """
    if computes_fbank(extractor):
        return extractor.featurize_batch(raw_speech, sampling_rate)
    batch = list(raw_speech) if is_sample_list(raw_speech) else [raw_speech]
    if sampling_rate is not None:
        sampling_rate = check_sampling_rate(sampling_rate)
    return [featurize_waveform(extractor, item, sampling_rate, f"audio[{index}]") for index, item in enumerate(batch)]


def featurize_audio(extractor, waveform, sampling_rate: int | None = None, name: str = "audio") -> np.ndarray:
    """One sample of `featurize_audio_batch`, named `name` in errors (a file by its path)."""
    if computes_fbank(extractor):
        return extractor.featurize(waveform, sampling_rate, name=name)
    return featurize_waveform(extractor, waveform, sampling_rate, name)


def computes_fbank(extractor) -> bool:
    """
    Whether `extractor` is an [`MMEmbedFeatureExtractor`] (fbank), not a speech encoder's. By class name: remote code
    may load the checkpoint's copy of this file as another module than the one the processor imports.
    """
    return type(extractor).__name__ == MMEmbedFeatureExtractor.__name__


def featurize_waveform(extractor, waveform, sampling_rate: int | None = None, name: str = "audio") -> np.ndarray:
    """
    One waveform (array or file path) -> the float32 `input_values` `(samples,)` of a speech encoder's feature
    extractor: mono, resampled to its rate, then its own processing. Shorter than one 25 ms frame is refused (the
    encoder's first convolution reads 400 samples at 16 kHz).
    """
    if isinstance(waveform, (str, os.PathLike)):
        name = os.fspath(waveform)
        waveform, sampling_rate = load_audio_file(waveform)
    rate = extractor.sampling_rate
    samples = resample(to_mono_float(waveform, name), sampling_rate or rate, rate)
    if samples.size < round(0.025 * rate):
        raise ValueError(f"{name} has {samples.size} samples at {rate} Hz, shorter than one 25 ms frame.")
    values = extractor(samples, sampling_rate=rate, return_tensors="np")["input_values"][0]
    return np.asarray(values, dtype=np.float32)


def feature_extractor_from_settings(settings: dict | None):
    """
    The feature extractor of saved settings (`to_dict()`): an [`MMEmbedFeatureExtractor`], or the transformers class
    `feature_extractor_type` names for a speech encoder's (`Wav2Vec2FeatureExtractor`; never code from elsewhere).
    """
    settings = dict(settings or {})
    kind = settings.pop("feature_extractor_type", MMEmbedFeatureExtractor.__name__)
    settings.pop("processor_class", None)
    if kind == MMEmbedFeatureExtractor.__name__:
        return MMEmbedFeatureExtractor(**settings)
    import transformers

    extractor_class = getattr(transformers, kind, None)
    if not (isinstance(extractor_class, type) and issubclass(extractor_class, SequenceFeatureExtractor)):
        raise ValueError(f"feature_extractor_type {kind!r} is no audio feature extractor of transformers.")
    return extractor_class(**settings)


def is_sample_list(items) -> bool:
    """Whether `items` is a list/tuple of samples (waveforms, paths) rather than one waveform given as numbers."""
    return isinstance(items, (list, tuple)) and len(items) > 0 and not isinstance(items[0], (int, float, np.number))


MMEmbedFeatureExtractor.register_for_auto_class("AutoFeatureExtractor")

__all__ = [
    "MMEmbedFeatureExtractor",
    "available_backends",
    "computes_fbank",
    "feature_extractor_from_settings",
    "featurize_audio",
    "featurize_audio_batch",
    "featurize_waveform",
    "is_sample_list",
]
