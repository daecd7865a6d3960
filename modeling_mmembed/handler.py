# Copyright 2026 The mmembed authors. Licensed under the Apache License, Version 2.0.
"""
Hugging Face Inference Endpoints custom handler for MMEmbed emotion checkpoints (the Hub's hosted inference does not
run custom code). Every saved MMEmbed checkpoint carries this file at its root.

Request (JSON):

    {"inputs": {"audio": "<base64 of a WAV/FLAC/OGG file>",
                "sampling_rate": 16000,                 # optional: must match the file's header
                "visual": [[...35 floats...], ...],     # optional: (frames, visual_feature_size)
                "transcript": "words spoken"}}          # optional: text (or (words, text_feature_size) vectors)

`inputs` may also be the base64 string alone. Response: a list of `{"label", "score", "present"}`, one per emotion;
or, for a malformed request, `{"error": "<what is wrong>", "status": 400}`.
"""

import base64
import binascii
import io

import numpy as np
import soundfile
from transformers import pipeline

MAX_AUDIO_BASE64_CHARACTERS = 40_000_000  # about 30 MB of audio file
MAX_AUDIO_SECONDS = 120.0
SUPPORTED_RATES = (8000, 96000)


class RequestError(ValueError):
    """A malformed request; its message is returned to the caller."""


class EndpointHandler:
    """The Inference Endpoints contract: `EndpointHandler(path)` once, then `handler(data)` per request."""

    def __init__(self, path: str = ""):
        self.pipeline = pipeline("multimodal-emotion-recognition", model=path or ".", trust_remote_code=True)
        self.config = self.pipeline.model.config

    def __call__(self, data: dict) -> list[dict] | dict:
        try:
            request = self.parse(data)
            return self.pipeline(request)
        except (RequestError, ValueError) as error:
            return {"error": str(error), "status": 400}

    def parse(self, data) -> dict:
        """The pipeline input for a request, or `RequestError` naming what is wrong."""
        if not isinstance(data, dict) or "inputs" not in data:
            raise RequestError("The request must be a JSON object with an 'inputs' field.")
        inputs = data["inputs"]
        if isinstance(inputs, str):
            inputs = {"audio": inputs}
        if not isinstance(inputs, dict) or not isinstance(inputs.get("audio"), str):
            raise RequestError("'inputs' must be a base64 audio string or an object with a base64 'audio' string.")
        unknown = set(inputs) - {"audio", "sampling_rate", "visual", "transcript"}
        if unknown:
            allowed = "audio, sampling_rate, visual, transcript"
            raise RequestError(f"Unknown input fields {sorted(unknown)}; allowed: {allowed}.")
        samples, rate = self.decode_audio(inputs["audio"], inputs.get("sampling_rate"))
        request = {"audio": samples, "sampling_rate": rate}
        if inputs.get("visual") is not None:
            request["visual"] = self.feature_matrix(inputs["visual"], "visual", self.config.visual_feature_size)
        transcript = inputs.get("transcript")
        if transcript is not None:
            if not isinstance(transcript, str):
                transcript = self.feature_matrix(transcript, "transcript", self.config.text_feature_size)
            request["transcript"] = transcript
        return request

    @staticmethod
    def decode_audio(encoded: str, declared_rate) -> tuple[np.ndarray, int]:
        """Samples and rate of a base64 audio file, checked for size, format and rate."""
        if len(encoded) > MAX_AUDIO_BASE64_CHARACTERS:
            raise RequestError(
                f"audio is too large: {len(encoded)} base64 characters, at most {MAX_AUDIO_BASE64_CHARACTERS}."
            )
        try:
            raw = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError) as error:
            raise RequestError(f"audio is not valid base64 ({error}).") from error
        try:
            samples, rate = soundfile.read(io.BytesIO(raw), dtype="float32", always_2d=True)
        except Exception as error:  # noqa: BLE001 - soundfile raises several types for unreadable data
            raise RequestError(f"audio is not a readable WAV/FLAC/OGG file ({error}).") from error
        if declared_rate is not None and declared_rate != rate:
            raise RequestError(f"sampling_rate is {declared_rate} but the audio file's header says {rate} Hz.")
        if not SUPPORTED_RATES[0] <= rate <= SUPPORTED_RATES[1]:
            low, high = SUPPORTED_RATES
            raise RequestError(f"audio sampling rate {rate} Hz is outside {low}-{high} Hz.")
        if len(samples) / rate > MAX_AUDIO_SECONDS:
            seconds = len(samples) / rate
            raise RequestError(f"audio lasts {seconds:.1f} s; at most {MAX_AUDIO_SECONDS:g} s per request.")
        return samples.mean(axis=1), int(rate)

    @staticmethod
    def feature_matrix(values, name: str, width: int | None) -> np.ndarray:
        """A `(frames, width)` float array from nested lists, or `RequestError`."""
        try:
            matrix = np.asarray(values, dtype=np.float32)
        except (TypeError, ValueError) as error:
            raise RequestError(f"{name} must be a list of equal-length lists of numbers ({error}).") from error
        if matrix.ndim != 2 or matrix.shape[0] == 0 or (width is not None and matrix.shape[1] != width):
            raise RequestError(
                f"{name} must have shape (frames, {width}) with at least one frame; got {list(matrix.shape)}."
            )
        return matrix
