# Copyright 2026 The mmembed authors. Licensed under the Apache License, Version 2.0.
"""
Hugging Face Inference Endpoints custom handler for MMEmbed emotion checkpoints (the Hub's hosted inference does not
run custom code). Every saved MMEmbed checkpoint carries this file at its root.

Request (JSON):

    {"inputs": {"audio": "<base64 of a WAV/FLAC/OGG file>",
                "sampling_rate": 16000,                 # optional: must match the file's header
                "visual": [[...35 floats...], ...],     # optional: (frames, visual_feature_size), or the
                                                        #   text of an OpenFace 2 CSV (never a path)
                "transcript": "words spoken"}}          # optional: text (or (words, text_feature_size) vectors)

`inputs` may also be the base64 string alone. Response: a list of `{"label", "score", "present"}`, one per emotion;
or, for a malformed request, `{"error": "<what is wrong>", "status": 400}`.

Every input is bounded before it is decoded or converted (the pipeline's `SERVING_LIMITS`: 60 s of audio with at
most 8 channels, read from the file header first; 3,600 visual frames; 1,800 transcript characters or 600 word
vectors; OpenFace CSV text of at most `max_visual_csv_characters`), and the base64 text itself by
`MAX_AUDIO_BASE64_CHARACTERS`. A request never names a file on the server: audio is file bytes, and a `visual`
string is parsed as CSV text, never opened; errors name fields, rows and columns, never echo values.

Trust: an endpoint runs this file and the checkpoint's own code files (`trust_remote_code=True` below loads them from
this folder), so it trusts the checkpoint's owner, who wrote both.
"""

import base64
import binascii

from transformers import pipeline

MAX_AUDIO_BASE64_CHARACTERS = 40_000_000  # about 30 MB of audio file
INPUT_FIELDS = ("audio", "sampling_rate", "visual", "transcript")


class RequestError(ValueError):
    """A malformed request; its message is returned to the caller."""


class EndpointHandler:
    """The Inference Endpoints contract: `EndpointHandler(path)` once, then `handler(data)` per request."""

    def __init__(self, path: str = ""):
        self.pipeline = pipeline(
            "multimodal-emotion-recognition", model=path or ".", trust_remote_code=True, serving_limits=True
        )

    def __call__(self, data: dict) -> list[dict] | dict:
        try:
            return self.pipeline(self.parse(data))
        except ValueError as error:  # RequestError, and every input the pipeline refuses
            return {"error": str(error), "status": 400}

    def parse(self, data) -> dict:
        """The pipeline input for a request (audio as the decoded file bytes), or `RequestError` naming the problem."""
        if not isinstance(data, dict) or "inputs" not in data:
            raise RequestError("The request must be a JSON object with an 'inputs' field.")
        inputs = data["inputs"]
        if isinstance(inputs, str):
            inputs = {"audio": inputs}
        if not isinstance(inputs, dict) or not isinstance(inputs.get("audio"), str):
            raise RequestError("'inputs' must be a base64 audio string or an object with a base64 'audio' string.")
        unknown = set(inputs) - set(INPUT_FIELDS)
        if unknown:
            raise RequestError(f"Unknown input fields {sorted(unknown)}; allowed: {', '.join(INPUT_FIELDS)}.")
        request = {name: inputs[name] for name in INPUT_FIELDS if inputs.get(name) is not None}
        request["audio"] = self.decode_base64(inputs["audio"])
        return request

    @staticmethod
    def decode_base64(encoded: str) -> bytes:
        """The audio file's bytes, refused above `MAX_AUDIO_BASE64_CHARACTERS` before decoding."""
        if len(encoded) > MAX_AUDIO_BASE64_CHARACTERS:
            raise RequestError(
                f"audio is too large: {len(encoded)} base64 characters, at most {MAX_AUDIO_BASE64_CHARACTERS}."
            )
        try:
            return base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError) as error:
            raise RequestError(f"audio is not valid base64 ({error}).") from error
