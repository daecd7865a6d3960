# Copyright 2026 The mmembed authors. Licensed under the Apache License, Version 2.0.
"""
Audio files and waveforms -> float32 mono samples at a sampling rate (as openai/whisper's `audio.py`): decoding with
soundfile (`.wav`, `.flac`, `.ogg`) or PyAV (`.m4a`, `.mp4`: VoxCeleb2), size checks from the header and the file's
own length before anything is decoded, mixing to mono block by block, resampling. The feature extractor turns the
samples into filterbanks.
"""

import os
import struct

import numpy as np

from .array_checks_mmembed import check_finite

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

FILES_READ_BY_SOUNDFILE = (".wav", ".flac", ".ogg", ".oga")
FILES_READ_BY_PYAV = (".m4a", ".mp4", ".aac", ".mkv", ".webm")

PLAUSIBLE_SAMPLING_RATES = (4000, 192000)
"""Sampling rates (Hz) accepted for audio: from telephone speech (8 kHz) to studio recordings (192 kHz)."""

DECODE_BLOCK_SAMPLES = 1 << 20
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
    if os.path.splitext(name)[1].lower() in FILES_READ_BY_PYAV:
        return _decode_with_pyav(os.fspath(source) if is_path else source, max_seconds, max_channels, name)
    if soundfile is None:
        raise ImportError(f"Reading {name} needs soundfile: pip install soundfile.")
    _check_wav_not_cut_off(source, name)
    try:
        handle = soundfile.SoundFile(source)
    except Exception as error:  # noqa: BLE001 - soundfile raises several types for unreadable files
        readable = ", ".join(FILES_READ_BY_SOUNDFILE + FILES_READ_BY_PYAV)
        raise ValueError(f"Cannot read audio file {name} ({error}); readable formats: {readable}.") from error
    with handle:
        rate = check_sampling_rate(handle.samplerate, f"the sampling rate of {name}")
        limit = decoding_limit(name, handle.frames / rate, rate, handle.channels, max_seconds, max_channels)
        samples = _decode_blocks(handle, name, handle.frames if limit is None else min(handle.frames, limit + 1))
    check_duration_limit(name, len(samples), limit, max_seconds)
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


def check_duration_limit(name: str, frames: int, limit: int | None, max_seconds) -> None:
    """Refuse audio that decoded to more than `limit` frames (its header said less)."""
    if limit is not None and frames > limit:
        raise ValueError(f"{name} decodes to more than {max_seconds:g} s; at most {max_seconds:g} s are accepted.")


def _concatenate(chunks: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(chunks).astype(np.float32, copy=False) if chunks else np.zeros(0, dtype=np.float32)


def _check_wav_not_cut_off(source, name: str) -> None:
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


def _decode_with_pyav(source, max_seconds: float | None = None, max_channels: int | None = None, name=None):
    """
    Decode the first audio stream of a container file (a path or a binary file object) to float32 mono samples with
    PyAV, within the limits.
    """
    path = name or source
    if av is None:
        raise ImportError(
            f"Reading {path} needs PyAV to decode .m4a/.mp4 audio: install the video extra, "
            "pip install 'mmembed[video]'."
        )
    with av.open(source) as container:
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
            check_duration_limit(path, decoded_frames, limit, max_seconds)
        chunks += [frame.to_ndarray()[0] for frame in resampler.resample(None)]
    if not chunks:
        raise ValueError(f"{path} has an empty audio stream.")
    samples = _concatenate(chunks)
    check_duration_limit(path, len(samples), limit, max_seconds)
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
    check_finite(array, name, "samples")
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


__all__ = [
    "FILES_READ_BY_PYAV",
    "FILES_READ_BY_SOUNDFILE",
    "PLAUSIBLE_SAMPLING_RATES",
    "check_sampling_rate",
    "load_audio_file",
    "resample",
    "to_mono_float",
]
