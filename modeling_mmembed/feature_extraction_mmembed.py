# Copyright 2026 The mmembed authors. Licensed under the Apache License, Version 2.0.
"""
MMEmbed feature extractor: waveforms (arrays or audio files) -> Kaldi log-mel filterbanks `[B, T, 80]` at 100 frames
per second, with an attention mask, optional per-utterance normalisation and optional SpecAugment masking.
"""

import os

import numpy as np
from transformers import SequenceFeatureExtractor
from transformers.audio_utils import mel_filter_bank, spectrogram, window_function
from transformers.feature_extraction_utils import BatchFeature

try:  # reading audio files (.wav, .flac, .ogg): the `audio` extra
    import soundfile
except ImportError:
    soundfile = None

try:  # resampling: the `audio` extra; scipy is the fallback
    import soxr
except ImportError:
    soxr = None

try:
    from scipy.signal import resample_poly
except ImportError:
    resample_poly = None

try:  # .m4a / .mp4 (VoxCeleb2) decoding: the `video` extra
    import av
except ImportError:
    av = None

try:  # Kaldi fbank in torchaudio; PyPI's torchaudio wheels often fail to import beside a CPU torch
    import torch
    import torchaudio.compliance.kaldi as torchaudio_kaldi
except Exception:  # noqa: BLE001 - any import failure (missing, ABI mismatch, CUDA libraries) disables the back-end
    torchaudio_kaldi = None

KALDI_INT16_SCALE = 32768.0
"""Kaldi computes filterbanks on 16-bit integer sample values."""

KALDI_LOG_FLOOR = float(np.finfo(np.float32).eps)
"""Kaldi's floor on mel energies before the log."""

FILES_READ_BY_SOUNDFILE = (".wav", ".flac", ".ogg", ".oga")
FILES_READ_BY_PYAV = (".m4a", ".mp4", ".aac", ".mkv", ".webm")

BACKEND_SPEED_ORDER = ("numpy", "torchaudio")
"""
Correct back-ends in order of preference for `backend="auto"`: measured speed first (`benchmarks/fbank_speed.py`).
torchaudio's speed has not been measured (its PyPI wheels fail to import beside the CPU torch of the reference
machine), so it is used only when asked for.
"""


def available_backends() -> list[str]:
    """The filterbank back-ends that import on this machine, in `BACKEND_SPEED_ORDER`."""
    return [name for name in BACKEND_SPEED_ORDER if name == "numpy" or torchaudio_kaldi is not None]


def load_audio_file(path: str | os.PathLike) -> tuple[np.ndarray, int]:
    """
    Read an audio file as float32 mono samples in [-1, 1] and its sampling rate. `.wav`, `.flac` and `.ogg` are read
    with soundfile; `.m4a`/`.mp4` (VoxCeleb2) are decoded with PyAV (the `video` extra).
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ValueError(f"Audio file {path} does not exist.")
    extension = os.path.splitext(path)[1].lower()
    if extension in FILES_READ_BY_PYAV:
        return _decode_with_pyav(path)
    if soundfile is None:
        raise ImportError(f"Reading {path} needs soundfile: pip install 'mmembed[audio]'.")
    try:
        samples, sampling_rate = soundfile.read(path, dtype="float32", always_2d=True)
    except Exception as error:  # noqa: BLE001 - soundfile raises several types for unreadable files
        readable = ", ".join(FILES_READ_BY_SOUNDFILE + FILES_READ_BY_PYAV)
        raise ValueError(f"Cannot read audio file {path} ({error}); readable formats: {readable}.") from error
    return samples.mean(axis=1), int(sampling_rate)


def _decode_with_pyav(path: str) -> tuple[np.ndarray, int]:
    """Decode the first audio stream of a container file to float32 mono samples with PyAV."""
    if av is None:
        raise ImportError(
            f"Reading {path} needs PyAV to decode .m4a/.mp4 audio: install the video extra, "
            "pip install 'mmembed[video]'."
        )
    with av.open(path) as container:
        if not container.streams.audio:
            raise ValueError(f"{path} has no audio stream.")
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="fltp", layout="mono", rate=stream.rate)
        chunks = [
            frame.to_ndarray()[0] for decoded in container.decode(stream) for frame in resampler.resample(decoded)
        ]
        chunks += [frame.to_ndarray()[0] for frame in resampler.resample(None)]
    if not chunks:
        raise ValueError(f"{path} has an empty audio stream.")
    return np.concatenate(chunks).astype(np.float32), int(stream.rate)


def to_mono_float(waveform, name: str = "audio") -> np.ndarray:
    """
    A 1-D float32 waveform from a 1-D array or a 2-D channels-last array `(samples, channels)` (mixed to mono).
    Integer PCM is scaled to [-1, 1]. Raises `ValueError` for other shapes, empty input or NaN/inf samples.
    """
    if hasattr(waveform, "detach"):  # torch.Tensor
        waveform = waveform.detach().cpu().numpy()
    array = np.asarray(waveform)
    if array.dtype.kind not in "iuf":
        raise ValueError(f"{name} must hold numbers; got dtype {array.dtype}.")
    if array.dtype.kind in "iu":
        array = _scale_integer_pcm(array)
    if array.ndim == 2:
        if array.shape[1] > array.shape[0]:
            raise ValueError(
                f"{name} is 2-D with shape {array.shape}; stereo input must be channels-last (samples, channels), "
                "this looks channels-first: transpose it."
            )
        array = array.mean(axis=1)
    if array.ndim != 1:
        raise ValueError(f"{name} must be 1-D (samples) or 2-D channels-last; got shape {array.shape}.")
    if array.size == 0:
        raise ValueError(f"{name} is empty.")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} holds {int((~np.isfinite(array)).sum())} NaN/inf samples.")
    return array.astype(np.float32, copy=False)


def _scale_integer_pcm(array: np.ndarray) -> np.ndarray:
    """Integer PCM (int16, int32, uint8, ...) to float in [-1, 1)."""
    info = np.iinfo(array.dtype)
    if info.min == 0:  # unsigned PCM is offset by half its range
        half = (info.max + 1) / 2
        return (array.astype(np.float64) - half) / half
    return array.astype(np.float64) / -float(info.min)


def resample(waveform: np.ndarray, orig_rate: int, target_rate: int) -> np.ndarray:
    """Resample with soxr (high quality), else scipy's polyphase filter."""
    if orig_rate == target_rate:
        return waveform
    if soxr is not None:
        return soxr.resample(waveform, orig_rate, target_rate).astype(np.float32)
    if resample_poly is not None:
        divisor = np.gcd(orig_rate, target_rate)
        return resample_poly(waveform, target_rate // divisor, orig_rate // divisor).astype(np.float32)
    raise ImportError(f"Resampling {orig_rate} Hz audio to {target_rate} Hz needs soxr: pip install 'mmembed[audio]'.")


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
        spec_augment_time_masks (`int`, defaults to 2), spec_augment_time_width (`int`, defaults to 20),
        spec_augment_freq_masks (`int`, defaults to 2), spec_augment_freq_width (`int`, defaults to 10):
            SpecAugment-style masking applied when called with `apply_spec_augment=True` (training only): that many
            time masks of up to `time_width` frames and frequency masks of up to `freq_width` bins, set to 0 (after
            normalisation).
        backend (`str`, defaults to `"auto"`):
            `"numpy"` (transformers' audio utilities), `"torchaudio"` (Kaldi compliance module, when it imports), or
            `"auto"`: the first available in `BACKEND_SPEED_ORDER` (numpy).
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
        spec_augment_time_masks: int = 2,
        spec_augment_time_width: int = 20,
        spec_augment_freq_masks: int = 2,
        spec_augment_freq_width: int = 10,
        backend: str = "auto",
        **kwargs,
    ):
        super().__init__(feature_size=feature_size, sampling_rate=sampling_rate, padding_value=padding_value, **kwargs)
        if sampling_rate <= 0:
            raise ValueError(f"sampling_rate must be positive, got {sampling_rate}.")
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
        self.spec_augment_time_masks = spec_augment_time_masks
        self.spec_augment_time_width = spec_augment_time_width
        self.spec_augment_freq_masks = spec_augment_freq_masks
        self.spec_augment_freq_width = spec_augment_freq_width
        self.backend = backend
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
        apply_spec_augment: bool = False,
        seed: int | None = None,
        **kwargs,
    ) -> BatchFeature:
        """
        Featurise one waveform or a batch (a list or tuple of waveforms). A waveform is a 1-D array (numpy, list or
        torch), a 2-D channels-last array (mixed to mono) or the path of an audio file (read at its own rate).

        Args:
            raw_speech: the waveform(s) or file path(s).
            sampling_rate (`int`, *optional*): rate of array input; resampled to `self.sampling_rate` when different.
                When omitted, arrays are assumed to be at `self.sampling_rate`.
            padding, max_length, truncation, pad_to_multiple_of: as in [`~SequenceFeatureExtractor.pad`], in frames.
                Nothing is cut unless `truncation=True`.
            return_tensors (`str`, *optional*): `"pt"` or `"np"`; lists of arrays otherwise.
            apply_spec_augment (`bool`): mask random time and frequency bands (training only).
            seed (`int`, *optional*): seed of the SpecAugment masks.

        Returns:
            [`BatchFeature`] with `input_features` `(batch, frames, feature_size)` and `attention_mask`
            `(batch, frames)`.
        """
        if sampling_rate is not None and sampling_rate <= 0:
            raise ValueError(f"sampling_rate must be positive, got {sampling_rate}.")
        batch = list(raw_speech) if is_sample_list(raw_speech) else [raw_speech]
        features = [self.featurize(item, sampling_rate, name=f"audio[{index}]") for index, item in enumerate(batch)]
        if apply_spec_augment:
            generator = np.random.default_rng(seed)
            features = [self.spec_augment(frames, generator) for frames in features]
        if not truncation:
            refuse_longer_than("audio", [len(frames) for frames in features], max_length)
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

    def featurize(self, waveform, sampling_rate: int | None = None, name: str = "audio") -> np.ndarray:
        """One waveform (array or file path) -> `(frames, feature_size)` float32 normalised log-mel filterbank."""
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

    def spec_augment(self, frames: np.ndarray, generator: np.random.Generator) -> np.ndarray:
        """A copy of `(frames, bins)` features with random time and frequency bands set to 0."""
        masked = frames.copy()
        for _ in range(self.spec_augment_time_masks):
            width = int(generator.integers(0, min(self.spec_augment_time_width, len(masked)) + 1))
            start = int(generator.integers(0, len(masked) - width + 1))
            masked[start : start + width] = 0.0
        for _ in range(self.spec_augment_freq_masks):
            width = int(generator.integers(0, min(self.spec_augment_freq_width, masked.shape[1]) + 1))
            start = int(generator.integers(0, masked.shape[1] - width + 1))
            masked[:, start : start + width] = 0.0
        return masked


def refuse_longer_than(modality: str, lengths: list[int], max_length: int | None) -> None:
    """Raise `ValueError` naming the samples of `modality` longer than `max_length` (nothing is cut silently)."""
    too_long = [index for index, length in enumerate(lengths) if max_length is not None and length > max_length]
    if too_long:
        raise ValueError(
            f"{modality} samples {too_long} are longer than max_length={max_length} "
            f"({[lengths[index] for index in too_long]}); pass truncation=True to cut them."
        )


def is_sample_list(items) -> bool:
    """Whether `items` is a list/tuple of samples (waveforms, paths) rather than one waveform given as numbers."""
    return isinstance(items, (list, tuple)) and len(items) > 0 and not isinstance(items[0], (int, float, np.number))


MMEmbedFeatureExtractor.register_for_auto_class("AutoFeatureExtractor")

__all__ = [
    "MMEmbedFeatureExtractor",
    "available_backends",
    "is_sample_list",
    "refuse_longer_than",
    "load_audio_file",
    "resample",
    "to_mono_float",
]
