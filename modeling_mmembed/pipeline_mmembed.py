# Copyright 2026 The mmembed authors. Licensed under the Apache License, Version 2.0.
"""
MMEmbed pipelines:

- `automatic-speech-recognition`: [`MMEmbedSpeechRecognitionPipeline`], the transformers ASR pipeline made to decode
  with `generate()` for MMEmbed pre-training models, with chunking of long audio.
- `multimodal-emotion-recognition`: [`MMEmbedEmotionPipeline`], emotions from audio plus optional visual features and
  transcript, with per-class scores and present/absent decisions.

Both are written into every saved config's `custom_pipelines`, so `transformers.pipeline(task, model=directory,
trust_remote_code=True)` builds them from the checkpoint's own code. (Emotion from audio alone needs no custom code:
the standard `audio-classification` pipeline runs the saved emotion model. Importing the package makes that pipeline
[`MMEmbedAudioClassificationPipeline`] where torchaudio cannot load, so that it still resamples.)

Every one of them refuses a model whose weights were partly initialised at random by `from_pretrained`
([`check_loaded_weights`]): a pre-training checkpoint in the emotion pipeline would otherwise answer random scores.
"""

import io
import os
from dataclasses import dataclass

import torch
from transformers import AudioClassificationPipeline, AutomaticSpeechRecognitionPipeline, Pipeline

from .audio_mmembed import check_sampling_rate, load_audio_file, resample, to_mono_float
from .configuration_mmembed import MODALITY_INPUTS
from .openface_mmembed import read_openface_csv


@dataclass(frozen=True)
class InputLimits:
    """
    Bounds on one request's inputs, checked from lengths and file headers before anything is decoded or allocated.
    The model itself takes any length (sinusoidal positions), so the bounds follow from the longest audio served:
    video at 60 frames per second and text at 30 characters or 10 words per second lie above any real recording.
    """

    max_audio_seconds: float = 60.0
    max_audio_channels: int = 8
    max_visual_frames: int = 60 * 60
    max_transcript_characters: int = 60 * 30
    max_text_words: int = 60 * 10
    max_visual_csv_characters: int = 60 * 60 * 8192
    """OpenFace CSV text sent in a request: every frame's row with all 709 columns takes about 5,000 characters."""


SERVING_LIMITS = InputLimits()
"""The limits of the demo app and the Inference Endpoint handler (`serving_limits=True` in the emotion pipeline)."""


TASK_OF_ARCHITECTURE = {
    "MMEmbedForPreTraining": "automatic-speech-recognition",
    "MMEmbedForEmotionRecognition": "multimodal-emotion-recognition",
}
"""The pipeline task that runs each saved head (the emotion head also runs in `audio-classification`)."""


def check_loaded_weights(model) -> None:
    """
    Refuse a model some of whose weights `from_pretrained` did not find in its checkpoint and initialised at random
    (`newly_initialized_weights`): its answers would be random. The error names those weights, the class that saved
    the checkpoint, and what to do instead.
    """
    new_weights = getattr(model, "newly_initialized_weights", ())
    if not new_weights:
        return
    saved_by = (getattr(model.config, "architectures", None) or ["another class"])[0]
    shown = ", ".join(new_weights[:4]) + (f" and {len(new_weights) - 4} more" if len(new_weights) > 4 else "")
    other_task = TASK_OF_ARCHITECTURE.get(saved_by) if saved_by != type(model).__name__ else None
    steps = ["Tune it first (python train.py --stage emotion --model_name_or_path <this checkpoint> ...)."]
    if other_task:
        steps.insert(0, f"Use it in the '{other_task}' pipeline, which runs the head it was trained with.")
    raise ValueError(
        f"This {type(model).__name__} was loaded from a checkpoint saved by {saved_by} that lacks {shown}: "
        f"those weights were initialised at random, so its answers would be random. {' Or: '.join(steps)}"
    )


def resampled_audio_dict(inputs: dict, target_rate: int, name: str = "audio") -> dict:
    """
    `{"array" (or "raw"), "sampling_rate"}` (the `datasets` Audio form; a "path" beside them is ignored) as
    `{"array", "sampling_rate": target_rate}`: mono float32, resampled with the package's resampler (soxr).
    """
    if "sampling_rate" not in inputs or not ("array" in inputs or "raw" in inputs):
        raise ValueError(
            f'{name} given as a dict must have "array" (or "raw") and "sampling_rate"; got keys {sorted(inputs)}.'
        )
    samples = inputs["array"] if "array" in inputs else inputs["raw"]
    rate = check_sampling_rate(inputs["sampling_rate"], name=f"{name} sampling_rate")
    return {"array": resample(to_mono_float(samples, name=name), rate, target_rate), "sampling_rate": target_rate}


def merge_chunk_transcripts(texts: list[str]) -> str:
    """
    Join the transcripts of consecutive, possibly overlapping audio windows: where the end of the text so far and the
    start of the next window's text share words (the overlap was heard twice), those words are kept once.
    """
    words: list[str] = []
    for text in texts:
        new_words = text.split()
        overlap = max(
            (size for size in range(min(len(words), len(new_words)), 0, -1) if words[-size:] == new_words[:size]),
            default=0,
        )
        words.extend(new_words[overlap:])
    return " ".join(words)


class MMEmbedSpeechRecognitionPipeline(AutomaticSpeechRecognitionPipeline):
    """
    Transcribes audio with an [`MMEmbedForPreTraining`] model through `generate()` (greedy or beam search, as the
    generation config or call says). `chunk_length_s` splits long audio into windows (with `stride_length_s` of
    overlap on each side, default `chunk_length_s / 6`); the windows' transcripts are joined, words heard twice in an
    overlap kept once. Input: a 16 kHz array, `{"array", "sampling_rate"}`, or an audio file path (read with
    soundfile, so no ffmpeg is needed for `.wav`/`.flac`/`.ogg`).
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        check_loaded_weights(self.model)
        self.type = "seq2seq"

    def _sanitize_parameters(self, **kwargs):
        kwargs.setdefault("ignore_warning", True)  # windows are joined by text here, not by the base class's merge
        return super()._sanitize_parameters(**kwargs)

    def preprocess(self, inputs, chunk_length_s=0, stride_length_s=None):
        if isinstance(inputs, (str, os.PathLike)):
            samples, rate = load_audio_file(inputs)
            inputs = {"array": samples, "sampling_rate": rate}
        if isinstance(inputs, dict) and inputs.get("sampling_rate") != self.feature_extractor.sampling_rate:
            # the feature extractor's resampler (soxr), not torchaudio as the base pipeline would use
            inputs = resampled_audio_dict(inputs, self.feature_extractor.sampling_rate)
        yield from super().preprocess(inputs, chunk_length_s=chunk_length_s, stride_length_s=stride_length_s)

    def _forward(self, model_inputs, **kwargs):
        model_inputs.pop("stride", None)  # windows are joined by text in `postprocess`
        return super()._forward(model_inputs, **kwargs)

    def postprocess(self, model_outputs, decoder_kwargs=None, return_timestamps=None, return_language=None):
        texts = [self.tokenizer.decode(output["tokens"][0], skip_special_tokens=True) for output in model_outputs]
        return {"text": merge_chunk_transcripts(texts)}


class MMEmbedEmotionPipeline(Pipeline):
    """
    Emotion recognition from audio, optional visual features and optional transcript with an
    [`MMEmbedForEmotionRecognition`] model.

    Each input is an audio array (at `sampling_rate`, default 16 kHz), `{"array", "sampling_rate"}` (the `datasets`
    form), an audio file path, or a dict with `audio` (any of those), optional `sampling_rate`, optional `visual` (a
    `(frames, features)` array or an OpenFace 2 CSV path) and optional `transcript` (a string, for models whose text
    stream reads token ids; or a `(words, features)` word-vector array for models reading word vectors). Returns,
    per input, one dict per label in `id2label` order: `label`, `score` (sigmoid probability for multi-label heads,
    softmax for single-label, the value for regression) and, for multi-label heads, `present` (score >= the config's
    per-class threshold). `batch_size`, `device` and `dtype` work as in every pipeline. Audio may also be the bytes
    of a file. `serving_limits=True` (or an [`InputLimits`]) bounds every input for untrusted requests
    ([`SERVING_LIMITS`]): audio length and channels from the file header before decoding, visual frames and
    transcript length before they are converted; and, since a request must never name a file on the server, audio is
    then bytes or samples (never a path) and a `visual` string is the text of an OpenFace CSV (never a path).
    `torch_compile=True` (or a backend name) runs the model through `torch.compile` (opt-in: the first call of each
    new input shape compiles). `onnx_model="model.onnx"` runs the model's ONNX export (`onnx_mmembed.export_onnx`,
    the `onnx` extra) in ONNX Runtime instead of PyTorch; `onnx_threads` sets its threads.
    """

    _load_processor = True
    _load_feature_extractor = None
    _load_tokenizer = None

    compiled_model = None
    """`torch.compile(model)` when the pipeline was made with `torch_compile=True` (or a backend name)."""

    onnx_session = None
    """The `MMEmbedOnnxModel` of `onnx_model=`, which then computes the logits."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        check_loaded_weights(self.model)

    def _sanitize_parameters(
        self,
        sampling_rate=None,
        visual_columns=None,
        serving_limits=None,
        torch_compile=None,
        onnx_model=None,
        onnx_threads=None,
        **kwargs,
    ):
        if torch_compile:
            backend = torch_compile if isinstance(torch_compile, str) else "inductor"
            self.compiled_model = torch.compile(self.model, backend=backend)
        if onnx_model is not None:
            from .onnx_mmembed import MMEmbedOnnxModel

            self.onnx_session = MMEmbedOnnxModel(onnx_model, self.model.config, threads=onnx_threads)
        preprocess_params = {}
        if sampling_rate is not None:
            preprocess_params["sampling_rate"] = sampling_rate
        if visual_columns is not None:
            preprocess_params["visual_columns"] = visual_columns
        if serving_limits is not None:
            preprocess_params["limits"] = SERVING_LIMITS if serving_limits is True else (serving_limits or None)
        return preprocess_params, {}, {}

    def preprocess(self, inputs, sampling_rate=None, visual_columns="action_units", limits: InputLimits | None = None):
        if not isinstance(inputs, dict) or "array" in inputs or "raw" in inputs:
            inputs = {"audio": inputs}
        unknown = set(inputs) - {"audio", "sampling_rate", "visual", "transcript"}
        if unknown or "audio" not in inputs:
            raise ValueError(
                f"An emotion input is audio or a dict with 'audio' and optional 'sampling_rate', 'visual', "
                f"'transcript'; got keys {sorted(inputs)}."
            )
        self._check_inputs_are_used(inputs)
        audio, rate = self._audio_input(inputs["audio"], inputs.get("sampling_rate", sampling_rate), limits)
        visual, transcript = inputs.get("visual"), self._text_input(inputs.get("transcript"))
        if limits is not None:
            visual = _bounded_visual(visual, visual_columns, limits)
            _check_transcript_length(transcript, limits)
        batch = self.processor(
            audio=[audio],
            sampling_rate=rate,
            visual=[visual] if "visual" in self.model.config.modalities else None,
            text=[transcript] if "text" in self.model.config.modalities else None,
            visual_columns=visual_columns,
            return_tensors="pt",
        )
        batch = dict(batch)
        for modality in self.model.config.source_modalities:
            if MODALITY_INPUTS[modality].mask_name not in batch:  # pipeline batches need the same inputs throughout
                batch.update(absent_inputs(self.model.config, modality))
        return {
            name: value.to(self.model.dtype) if value.is_floating_point() else value for name, value in batch.items()
        }

    def _audio_input(self, audio, rate, limits: InputLimits | None):
        """
        Samples and rate of the audio input: a file path or the bytes of a file (read within `limits`; a given rate
        must match the file's header), or an array at `rate` (at most `limits.max_audio_seconds` long).
        """
        if rate is not None:
            rate = check_sampling_rate(rate)
        if isinstance(audio, dict):
            if rate is not None and audio.get("sampling_rate") != rate:
                raise ValueError(f"sampling_rate is {rate} but the audio dict says {audio.get('sampling_rate')}.")
            if limits is not None:
                _check_audio_length(audio.get("array", audio.get("raw")), audio.get("sampling_rate"), limits)
            audio = resampled_audio_dict(audio, self.processor.feature_extractor.sampling_rate)
            return audio["array"], audio["sampling_rate"]
        if limits is not None and isinstance(audio, (str, os.PathLike)):
            raise ValueError("audio must be the bytes of an audio file or its samples; a request names no files.")
        if isinstance(audio, (str, os.PathLike, bytes, bytearray)):
            source = io.BytesIO(audio) if isinstance(audio, (bytes, bytearray)) else audio
            max_seconds = None if limits is None else limits.max_audio_seconds
            max_channels = None if limits is None else limits.max_audio_channels
            samples, file_rate = load_audio_file(source, max_seconds, max_channels, name="audio")
            if rate is not None and rate != file_rate:
                raise ValueError(f"sampling_rate is {rate} but the audio file's header says {file_rate} Hz.")
            return samples, file_rate
        if limits is not None:
            _check_audio_length(
                audio, rate if rate is not None else self.processor.feature_extractor.sampling_rate, limits
            )
        return audio, rate

    def _text_input(self, transcript):
        """The transcript in the form the model's text stream reads, or None."""
        if transcript is None:
            return None
        if not isinstance(transcript, str) and not (
            hasattr(transcript, "__len__") and hasattr(transcript, "__getitem__")
        ):
            raise ValueError(
                f"transcript must be text or (words, features) word vectors; got {type(transcript).__name__}."
            )
        if isinstance(transcript, str) and self.model.config.input_name("text") != "text_input_ids":
            raise ValueError(
                "transcript was given as a string, but this model reads text as word vectors "
                f"(text_feature_size={self.model.config.text_feature_size}); pass a (words, features) array."
            )
        return transcript

    def _check_inputs_are_used(self, inputs: dict) -> None:
        """A modality the model does not use must not be dropped silently."""
        for key, modality in (("visual", "visual"), ("transcript", "text")):
            if inputs.get(key) is not None and modality not in self.model.config.modalities:
                raise ValueError(
                    f"'{key}' was given, but this model uses only {self.model.config.modalities}; drop it or use a "
                    "model with that modality."
                )

    def get_inference_context(self):
        return torch.inference_mode  # no autograd state at all (the base class uses `no_grad`)

    def _forward(self, model_inputs):
        if self.onnx_session is not None:
            return {"logits": torch.from_numpy(self.onnx_session(**model_inputs))}
        model = self.model if self.compiled_model is None else self.compiled_model
        return {"logits": model(**model_inputs).logits}

    def postprocess(self, model_outputs):
        config = self.model.config
        logits = model_outputs["logits"][0].float()
        if config.problem_type == "regression":
            return [{"label": config.id2label[index], "score": value} for index, value in enumerate(logits.tolist())]
        if config.problem_type == "single_label_classification":
            scores = logits.softmax(-1).tolist()
            return [{"label": config.id2label[index], "score": score} for index, score in enumerate(scores)]
        scores = logits.sigmoid().tolist()
        return [
            {"label": config.id2label[index], "score": score, "present": score >= config.thresholds[index]}
            for index, score in enumerate(scores)
        ]


class MMEmbedAudioClassificationPipeline(AudioClassificationPipeline):
    """
    transformers' `audio-classification` pipeline, unchanged but for two things: `{"array", "sampling_rate"}` at
    another rate is resampled with the package's resampler (soxr) where torchaudio, which the base class uses, cannot
    load (no torchaudio release loads beside torch 2.13); and an MMEmbed model whose head `from_pretrained` initialised
    at random is refused ([`check_loaded_weights`]). Importing the package registers it for the task in that case only.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        check_loaded_weights(self.model)

    def get_inference_context(self):
        return torch.inference_mode

    def preprocess(self, inputs):
        if isinstance(inputs, dict) and inputs.get("sampling_rate") != self.feature_extractor.sampling_rate:
            inputs = resampled_audio_dict(inputs, self.feature_extractor.sampling_rate)
        return super().preprocess(inputs)


def torchaudio_loads() -> bool:
    """Whether `torchaudio.functional` imports here (it is absent, or built for another torch, in many setups)."""
    try:
        import torchaudio.functional  # noqa: F401
    except (ImportError, OSError):
        return False
    return True


def absent_inputs(config, modality: str, batch_size: int = 1) -> dict[str, torch.Tensor]:
    """
    `modality`'s inputs for samples that lack it, in the one way absence is said (the modality table): a mask row of
    zeros, here one frame wide, beside one zero frame.
    """
    name = config.input_name(modality)
    frame_shape = () if name == MODALITY_INPUTS[modality].sequence_name else config.frame_shape(modality)
    return {
        name: torch.zeros((batch_size, 1, *frame_shape), dtype=torch.float32 if frame_shape else torch.long),
        MODALITY_INPUTS[modality].mask_name: torch.zeros((batch_size, 1), dtype=torch.long),
    }


def _bounded_visual(visual, columns, limits: InputLimits):
    """
    The visual input of a request, refused when it has more frames than `limits` allow: frames of numbers, or the
    text of an OpenFace CSV (parsed that far). A request never names a file, so a string is never opened as a path.
    """
    if visual is None:
        return None
    if isinstance(visual, str):
        if len(visual) > limits.max_visual_csv_characters:
            raise ValueError(
                f"visual CSV text has {len(visual)} characters; at most {limits.max_visual_csv_characters} are "
                "accepted."
            )
        return read_openface_csv(io.StringIO(visual), columns, max_frames=limits.max_visual_frames)
    if not hasattr(visual, "__len__") or isinstance(visual, (bytes, bytearray, dict, os.PathLike)):
        raise ValueError(
            f"visual must be (frames, features) numbers or OpenFace CSV text; got {type(visual).__name__}."
        )
    if len(visual) > limits.max_visual_frames:
        raise ValueError(f"visual has {len(visual)} frames; at most {limits.max_visual_frames} are accepted.")
    return visual


def _check_audio_length(audio, rate, limits: InputLimits) -> None:
    """Samples at `rate` lasting longer than `limits` allow are refused before they are converted."""
    if not hasattr(audio, "__len__"):
        raise ValueError(f"audio must be file bytes or an array of samples; got {type(audio).__name__}.")
    rate = check_sampling_rate(rate)
    if len(audio) > limits.max_audio_seconds * rate:
        raise ValueError(
            f"audio lasts {len(audio) / rate:.1f} s; at most {limits.max_audio_seconds:g} s are accepted."
        )


def _check_transcript_length(transcript, limits: InputLimits) -> None:
    """A transcript (string or word vectors) longer than `limits` allow is refused before it is tokenised."""
    if isinstance(transcript, str) and len(transcript) > limits.max_transcript_characters:
        raise ValueError(
            f"transcript has {len(transcript)} characters; at most {limits.max_transcript_characters} are accepted."
        )
    if transcript is not None and not isinstance(transcript, str) and len(transcript) > limits.max_text_words:
        raise ValueError(
            f"transcript has {len(transcript)} word vectors; at most {limits.max_text_words} are accepted."
        )


__all__ = [
    "SERVING_LIMITS",
    "InputLimits",
    "MMEmbedAudioClassificationPipeline",
    "MMEmbedEmotionPipeline",
    "MMEmbedSpeechRecognitionPipeline",
    "check_loaded_weights",
    "merge_chunk_transcripts",
]
