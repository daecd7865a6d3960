# Copyright 2026 The mmembed authors. Licensed under the Apache License, Version 2.0.
"""
MMEmbed feature extractor: waveforms (arrays or audio files) -> Kaldi log-mel filterbanks `(batch_size, length, 80)` at
100 frames per second, with an attention mask and optional per-utterance normalisation. (SpecAugment is the model's, in
training mode: `MMEmbedConfig.apply_spec_augment`.)
"""

import os
import struct

import numpy as np
from transformers import SequenceFeatureExtractor
from transformers.audio_utils import mel_filter_bank, spectrogram, window_function
from transformers.feature_extraction_utils import BatchFeature
from transformers.utils import logging

# soundfile and soxr are dependencies of mmembed, optional here only for this file run as a checkpoint's remote code
try:  # reading audio files (.wav, .flac, .ogg)
    import soundfile
except ImportError:
    soundfile = None

try:  # resampling; scipy is the fallback
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

try:  # Kaldi fbank in torchaudio, when it imports (no torchaudio release matches torch 2.13: see the README)
    import torch
    import torchaudio.compliance.kaldi as torchaudio_kaldi
except Exception:  # noqa: BLE001 - any import failure (missing, ABI mismatch, CUDA libraries) disables the back-end
    torchaudio_kaldi = None

logger = logging.get_logger(__name__)

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


PLAUSIBLE_SAMPLING_RATES = (4000, 192000)
"""Sampling rates (Hz) accepted for audio: from telephone speech (8 kHz) to studio recordings (192 kHz)."""

DECODE_BLOCK_SAMPLES = 1 << 20
MAX_MEL_BINS = 512
"""Mel bins an extractor may have: a 25 ms window has 201 to 601 FFT bins at 16 to 48 kHz (a saved config asking for
millions would allocate gigabytes of filters)."""
"""Samples (frames x channels) decoded at a time: files are mixed to mono block by block, never decoded whole."""


def check_sampling_rate(rate, name: str = "sampling_rate") -> int:
    """`rate` as an `int`; a non-integer or implausible rate (outside `PLAUSIBLE_SAMPLING_RATES`) is refused."""
    low, high = PLAUSIBLE_SAMPLING_RATES
    if isinstance(rate, bool) or not isinstance(rate, (int, float, np.integer, np.floating)):
        raise ValueError(f"{name} must be an integer number of Hz; got {type(rate).__name__} {rate!r}.")
    if not float(rate).is_integer() or not low <= rate <= high:
        raise ValueError(f"{name} must be an integer number of Hz in [{low}, {high}]; got {rate}.")
    return int(rate)


def load_audio_file(
    source, max_seconds: float | None = None, max_channels: int | None = None, name: str | None = None
) -> tuple[np.ndarray, int]:
    """
    Read an audio file as float32 mono samples in [-1, 1] and its sampling rate. `source` is a path or a binary
    file object (e.g. `io.BytesIO`; `name` names it in errors). `.wav`, `.flac` and `.ogg` are read with soundfile,
    `.m4a`/`.mp4` (VoxCeleb2) decoded with PyAV (the `video` extra).

    For untrusted files give `max_seconds` (and `max_channels`): duration and channels are checked from the header
    before anything is decoded, and decoding stops past the limit whatever the header claimed, so memory stays
    bounded by the limit (files are mixed to mono block by block). A WAV file whose header declares more audio than
    it holds (a cut-off file) is refused rather than read partially.
    """
    is_path = isinstance(source, (str, os.PathLike))
    name = name or (os.fspath(source) if is_path else getattr(source, "name", "audio"))
    if is_path and not os.path.isfile(source):
        raise ValueError(f"Audio file {name} does not exist.")
    if is_path and os.path.splitext(name)[1].lower() in FILES_READ_BY_PYAV:
        return _decode_with_pyav(os.fspath(source), max_seconds, max_channels)
    if soundfile is None:
        raise ImportError(f"Reading {name} needs soundfile: pip install soundfile.")
    _refuse_cut_off_wav(source, name)
    try:
        handle = soundfile.SoundFile(source)
    except Exception as error:  # noqa: BLE001 - soundfile raises several types for unreadable files
        readable = ", ".join(FILES_READ_BY_SOUNDFILE + FILES_READ_BY_PYAV)
        raise ValueError(f"Cannot read audio file {name} ({error}); readable formats: {readable}.") from error
    with handle:
        rate = check_sampling_rate(handle.samplerate, f"the sampling rate of {name}")
        limit = decoding_limit(name, handle.frames / rate, rate, handle.channels, max_seconds, max_channels)
        samples = _decode_blocks(handle, name, handle.frames if limit is None else min(handle.frames, limit + 1))
    refuse_over_limit(name, len(samples), limit, max_seconds)
    if len(samples) < handle.frames:
        raise ValueError(
            f"{name} is cut off or damaged: its header declares {handle.frames} frames but it decodes to "
            f"{len(samples)}; give the complete file."
        )
    return samples, rate


def _decode_blocks(handle, name: str, frames: int) -> np.ndarray:
    """
    Up to `frames` frames of an open soundfile, mixed to mono block by block. Reading stops where decoding does
    (`SoundFile.blocks` would go on to the header's length, repeating its buffer); a decoder error names the file.
    """
    chunks, decoded = [], 0
    blocksize = max(1, DECODE_BLOCK_SAMPLES // handle.channels)
    try:
        while decoded < frames:
            block = handle.read(min(blocksize, frames - decoded), dtype="float32", always_2d=True)
            if not len(block):
                break
            chunks.append(block.mean(axis=1))
            decoded += len(block)
    except RuntimeError as error:  # soundfile.LibsndfileError: a damaged stream
        raise ValueError(f"Cannot decode audio file {name}: it is damaged or cut off ({error}).") from None
    return _concatenate(chunks)


def decoding_limit(name, seconds, rate, channels, max_seconds, max_channels) -> int | None:
    """The most frames to decode (None: no limit); refuses a file whose header already exceeds a limit."""
    if max_channels is not None and channels > max_channels:
        raise ValueError(f"{name} has {channels} audio channels; at most {max_channels} are accepted.")
    if max_seconds is None:
        return None
    if seconds > max_seconds:
        raise ValueError(f"{name} lasts {seconds:.1f} s (says its header); at most {max_seconds:g} s are accepted.")
    return int(max_seconds * rate)


def refuse_over_limit(name: str, frames: int, limit: int | None, max_seconds) -> None:
    """Refuse audio that decoded to more than `limit` frames (its header said less)."""
    if limit is not None and frames > limit:
        raise ValueError(f"{name} decodes to more than {max_seconds:g} s; at most {max_seconds:g} s are accepted.")


def _concatenate(chunks: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(chunks).astype(np.float32, copy=False) if chunks else np.zeros(0, dtype=np.float32)


def _refuse_cut_off_wav(source, name: str) -> None:
    """
    Refuse a RIFF/WAVE file whose `data` chunk declares more bytes than the file holds: libsndfile reads such a file
    up to its end without a word. The chunk header is read with `struct` (Python's `wave` module reads PCM only).
    """
    stream = open(source, "rb") if isinstance(source, (str, os.PathLike)) else source  # noqa: SIM115
    start = stream.tell()
    try:
        declared, available = _wav_data_sizes(stream)
    finally:
        if stream is source:
            stream.seek(start)
        else:
            stream.close()
    if declared is not None and declared > available:
        raise ValueError(
            f"{name} is cut off: its WAV header declares {declared} bytes of audio but the file holds {available}; "
            "give the complete file."
        )


def _wav_data_sizes(stream) -> tuple[int | None, int]:
    """
    (declared size of the `data` chunk or None, bytes after its header) of a RIFF/WAVE or RF64 stream (whose `ds64`
    chunk holds the 64-bit size); (None, 0) for other files.
    """
    header = stream.read(12)
    if len(header) < 12 or header[:4] not in (b"RIFF", b"RF64") or header[8:12] != b"WAVE":
        return None, 0
    size64 = None
    while len(chunk := stream.read(8)) == 8:
        size = struct.unpack("<I", chunk[4:])[0]
        if chunk[:4] == b"ds64" and size >= 16:
            size64 = struct.unpack("<QQ", stream.read(16))[1]  # riffSize, dataSize
            size -= 16
        if chunk[:4] == b"data":
            data_start = stream.tell()
            available = stream.seek(0, os.SEEK_END) - data_start
            if size == 0xFFFFFFFF and size64 is not None:
                return size64, available
            return (None if size in (0, 0xFFFFFFFF) else size), available  # 0 / 0xFFFFFFFF: streamed, unknown
        stream.seek(size + (size & 1), os.SEEK_CUR)
    return None, 0


def _decode_with_pyav(path: str, max_seconds: float | None = None, max_channels: int | None = None):
    """Decode the first audio stream of a container file to float32 mono samples with PyAV, within the limits."""
    if av is None:
        raise ImportError(
            f"Reading {path} needs PyAV to decode .m4a/.mp4 audio: install the video extra, "
            "pip install 'mmembed[video]'."
        )
    with av.open(path) as container:
        if not container.streams.audio:
            raise ValueError(f"{path} has no audio stream.")
        stream = container.streams.audio[0]
        seconds = container.duration / av.time_base if container.duration else 0.0
        codec = stream.codec_context
        rate = check_sampling_rate(codec.sample_rate, f"the sampling rate of {path}")
        limit = decoding_limit(path, seconds, rate, codec.channels, max_seconds, max_channels)
        resampler = av.AudioResampler(format="fltp", layout="mono", rate=rate)
        chunks, decoded_frames = [], 0
        for decoded in container.decode(stream):
            for frame in resampler.resample(decoded):
                chunks.append(frame.to_ndarray()[0])
                decoded_frames += len(chunks[-1])
            refuse_over_limit(path, decoded_frames, limit, max_seconds)
        chunks += [frame.to_ndarray()[0] for frame in resampler.resample(None)]
    if not chunks:
        raise ValueError(f"{path} has an empty audio stream.")
    samples = _concatenate(chunks)
    refuse_over_limit(path, len(samples), limit, max_seconds)
    return samples, rate


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
    """Resample with soxr (high quality), else scipy's polyphase filter; an implausible `orig_rate` is refused."""
    orig_rate = check_sampling_rate(orig_rate)
    if orig_rate == target_rate:
        return waveform
    if soxr is not None:
        return soxr.resample(waveform, orig_rate, target_rate).astype(np.float32)
    if resample_poly is not None:
        divisor = np.gcd(orig_rate, target_rate)
        return resample_poly(waveform, target_rate // divisor, orig_rate // divisor).astype(np.float32)
    raise ImportError(f"Resampling {orig_rate} Hz audio to {target_rate} Hz needs soxr (or scipy): pip install soxr.")


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

    def featurize_batch(self, raw_speech, sampling_rate: int | None = None) -> list[np.ndarray]:
        """
        One waveform or a list of them (arrays or file paths) -> a list of `(frames, feature_size)` arrays, unpadded
        (what `__call__` pads, and what the processor pads with the other modalities). Checks `sampling_rate`, and
        warns when array audio comes without one.
        """
        batch = list(raw_speech) if is_sample_list(raw_speech) else [raw_speech]
        if sampling_rate is not None:
            sampling_rate = check_sampling_rate(sampling_rate)
        elif not all(isinstance(item, (str, os.PathLike)) for item in batch):
            logger.warning(
                f"No sampling_rate was given with array audio: it is taken to be {self.sampling_rate} Hz, the rate "
                f"{self.__class__.__name__} computes features at. Pass `sampling_rate` to avoid silent errors."
            )
        return [self.featurize(item, sampling_rate, name=f"audio[{index}]") for index, item in enumerate(batch)]

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
    "PLAUSIBLE_SAMPLING_RATES",
    "available_backends",
    "check_sampling_rate",
    "is_sample_list",
    "refuse_longer_than",
    "load_audio_file",
    "resample",
    "to_mono_float",
]
