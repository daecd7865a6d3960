# Copyright 2026 The mmembed authors. Licensed under the Apache License, Version 2.0.
"""
MMEmbed processor: audio (waveforms or files), visual frames (arrays or OpenFace CSVs), text (strings or word vectors)
and transcripts -> every model input, padded per modality. A model with pretrained encoders gets its speech encoder's
feature extractor (the raw waveform, `input_values`) and its text encoder's tokenizer (`text_tokenizer`).
"""

import copy
import os

import numpy as np
from transformers import ProcessorMixin
from transformers.feature_extraction_utils import BatchFeature

from .array_checks_mmembed import check_finite, check_max_length
from .configuration_mmembed import MODALITY_INPUTS
from .feature_extraction_mmembed import computes_fbank, featurize_audio_batch
from .openface_mmembed import read_openface_csv
from .tokenization_mmembed import MMEmbedTokenizer


class MMEmbedProcessor(ProcessorMixin):
    r"""
    Wraps a feature extractor and tokenizers into one callable that prepares a batch for any MMEmbed model. Modalities
    not given are left out of the output; within a batch a sample may lack video or text (`None`), which becomes an
    all-zero mask row for that sample.

    Args:
        feature_extractor ([`MMEmbedFeatureExtractor`] or a speech encoder's extractor): audio front-end: fbank
            `input_features`, or for a model with a pretrained speech encoder (`config.audio_encoder`) that
            encoder's own extractor (e.g. `Wav2Vec2FeatureExtractor`), which makes the waveform `input_values`.
        tokenizer ([`MMEmbedTokenizer`]): the characters of transcripts (the ASR decoder's labels and output).
        text_tokenizer (*optional*): tokenizes text given as strings (`text_input_ids`): a pretrained text
            encoder's own tokenizer (`config.text_encoder`; with its special tokens), or by default `tokenizer`
            (characters). Saved in the `text_tokenizer/` folder of a checkpoint.
    """

    def __init__(self, feature_extractor, tokenizer, text_tokenizer=None):
        # by default a copy: transformers saves (and marks for remote code) each attribute on its own
        super().__init__(
            feature_extractor, tokenizer, copy.deepcopy(tokenizer) if text_tokenizer is None else text_tokenizer
        )

    def __call__(
        self,
        audio=None,
        sampling_rate: int | None = None,
        visual=None,
        text=None,
        transcript=None,
        visual_columns: str | list[str] = "action_units",
        truncation: bool = False,
        max_audio_frames: int | None = None,
        max_visual_frames: int | None = None,
        max_text_length: int | None = None,
        return_tensors: str | None = None,
    ) -> BatchFeature:
        """
        Args:
            audio: a waveform (1-D array, or 2-D channels-last), an audio file path, or a list of them.
            sampling_rate (`int`, *optional*): rate of array audio (resampled to the feature extractor's rate).
            visual: per sample, a `(frames, features)` array or an OpenFace 2 CSV path; `None` for a sample without
                video.
            text: per sample, a string (-> `text_input_ids` of `text_tokenizer`: characters, or a text encoder's
                tokens) or a `(words, features)` array of word vectors (-> `text_features`); `None` for a sample
                without text. A string with no token ("", or with characters "!!!" and emoji only) is a sample
                without text, too.
            transcript: per sample, the spoken text (-> `labels`: characters + eos, padded with -100).
            visual_columns: OpenFace columns to read from CSV files (a group name or a list).
            truncation (`bool`): each modality is padded to its longest sample; nothing is cut unless
                `truncation=True`, and a sample longer than its `max_*` limit raises `ValueError` otherwise.
            max_audio_frames, max_visual_frames, max_text_length (`int`, *optional*): per-modality length limits
                (for the waveform of a speech encoder, `max_audio_frames` counts samples).
            return_tensors (`str`, *optional*): `"pt"` or `"np"`.

        Returns:
            [`BatchFeature`] with `input_features` (or `input_values`), `attention_mask`, and as given:
            `visual_features`, `visual_attention_mask`, `text_input_ids` or `text_features`, `text_attention_mask`,
            `labels`.
        """
        if audio is None:
            raise ValueError("audio is required: every MMEmbed input needs the audio stream.")
        frames = featurize_audio_batch(self.feature_extractor, audio, sampling_rate)
        batch_size = len(frames)
        data = pad_modality("audio", frames, max_audio_frames, truncation)
        if visual is not None:
            frames = [
                None if item is None else _visual_frames(item, visual_columns, f"visual[{index}]")
                for index, item in enumerate(_per_sample(visual, batch_size, "visual"))
            ]
            data.update(pad_modality("visual", frames, max_visual_frames, truncation))
        if text is not None:
            data.update(self._text_inputs(_per_sample(text, batch_size, "text"), max_text_length, truncation))
        if transcript is not None:
            data["labels"] = self._labels(_per_sample(transcript, batch_size, "transcript"))
        return BatchFeature(data, tensor_type=return_tensors)

    def _text_inputs(self, items: list, max_length: int | None, truncation: bool) -> dict[str, np.ndarray]:
        """`text_input_ids` from strings or `text_features` from word-vector arrays, with `text_attention_mask`."""
        kinds = {isinstance(item, str) for item in items if item is not None}
        if len(kinds) > 1:
            raise ValueError("text mixes strings and word-vector arrays in one batch; give one kind.")
        if kinds == {True}:
            ids = [None if item is None else self._token_ids(item) for item in items]
            return pad_modality("text", ids, max_length, truncation, pad_value=self.tokenizer.pad_token_id)
        vectors = [None if item is None else _float_frames(item, "text") for item in items]
        return pad_modality("text", vectors, max_length, truncation)

    def _token_ids(self, text: str) -> np.ndarray | None:
        """`text` as int64 ids of `text_tokenizer` (`text_token_ids`); None (no text) when it has no token."""
        ids = text_token_ids(self.text_tokenizer, text)
        return np.array(ids, dtype=np.int64) if ids else None

    def _labels(self, transcripts: list) -> np.ndarray:
        """Transcript characters followed by eos, padded with -100 (ignored by the loss)."""
        if any(item is None for item in transcripts):
            missing = [index for index, item in enumerate(transcripts) if item is None]
            raise ValueError(f"transcript is missing for samples {missing}; give one per sample or none at all.")
        ids = [np.array(self.tokenizer(item)["input_ids"], dtype=np.int64) for item in transcripts]
        return pad_sequences(ids, pad_value=-100)[0]

    def batch_decode(self, *args, **kwargs) -> list[str]:
        """Transcripts of generated ids (see [`MMEmbedTokenizer.batch_decode`])."""
        return self.tokenizer.batch_decode(*args, **kwargs)

    def decode(self, *args, **kwargs) -> str:
        """Transcript of one generated sequence (see [`MMEmbedTokenizer.decode`])."""
        return self.tokenizer.decode(*args, **kwargs)

    @property
    def model_input_names(self) -> list[str]:
        return [*MODEL_INPUT_COLUMNS, *(entry.mask_name for entry in MODALITY_INPUTS.values())]

    @property
    def reads_waveforms(self) -> bool:
        """Whether audio becomes the raw waveform `input_values` (a speech encoder's extractor), not fbank."""
        return not computes_fbank(self.feature_extractor)


def text_token_ids(text_tokenizer, text: str) -> list[int]:
    """
    The ids of `text` as the text stream reads them: characters without special tokens ([`MMEmbedTokenizer`]), or a
    text encoder's tokens with its own ([CLS] ... [SEP]); none for a text without a token (empty, or for characters
    nothing left after normalisation: "!!!", emoji).
    """
    if not text.strip():
        return []
    characters = type(text_tokenizer).__name__ == MMEmbedTokenizer.__name__  # by name, as `computes_fbank`
    return list(text_tokenizer(text, add_special_tokens=not characters)["input_ids"])


def _per_sample(items, batch_size: int, name: str) -> list:
    """`items` as one entry per sample: a list/tuple must have one entry per sample; a single entry means batch 1."""
    if not isinstance(items, (list, tuple)):
        if batch_size != 1:
            raise ValueError(f"{name} must be a list with one entry (or None) per sample for a batch of {batch_size}.")
        return [items]
    if len(items) != batch_size:
        raise ValueError(f"{name} has {len(items)} entries but audio has {batch_size}; give one per sample (or None).")
    return list(items)


def _visual_frames(item, columns, name: str) -> np.ndarray:
    """`(frames, features)` float32 from an array or an OpenFace CSV path."""
    if isinstance(item, (str, os.PathLike)):
        return read_openface_csv(item, columns)
    return _float_frames(item, name)


def _float_frames(item, name: str) -> np.ndarray:
    """A finite float32 `(frames, features)` array with at least one frame."""
    if hasattr(item, "detach"):
        item = item.detach().cpu().numpy()
    if not isinstance(item, (np.ndarray, list, tuple)):
        raise ValueError(f"{name} must be a (frames, features) array or nested list; got {type(item).__name__}.")
    try:
        array = np.asarray(item, dtype=np.float32)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name} must be a (frames, features) array of numbers ({error}).") from None
    if array.ndim != 2 or array.shape[0] == 0:
        raise ValueError(
            f"{name} must be a (frames, features) array with at least one frame; got shape {array.shape}."
        )
    check_finite(array, name)
    return array


MODEL_INPUT_COLUMNS = {
    name: entry.name
    for entry in MODALITY_INPUTS.values()
    for name in (entry.values_name, entry.sequence_name)
    if name is not None
}
"""Per-example columns (as the dataset builders store them, named as the model inputs) -> their modality."""


def pad_sequences(items: list, pad_value: float = 0.0, width: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """
    The one padding of mmembed (processor and collator alike): arrays `(length, ...)`, `None` for a missing one,
    right-padded with `pad_value` into `(batch, width, ...)` (`width`: the longest) with an int64 mask `(batch, width)`
    (1 = real). Longer items are cut to `width`.
    """
    present = [item for item in items if item is not None]
    width = max(len(item) for item in present) if width is None else width
    values = np.full((len(items), width, *present[0].shape[1:]), pad_value, dtype=present[0].dtype)
    mask = np.zeros((len(items), width), dtype=np.int64)
    for index, item in enumerate(items):
        if item is not None:
            kept = min(len(item), width)
            values[index, :kept] = item[:kept]
            mask[index, :kept] = 1
    return values, mask


def pad_modality(
    modality: str, items: list, max_length: int | None = None, truncation: bool = False, pad_value: float = 0.0
) -> dict[str, np.ndarray]:
    """
    `modality`'s per-sample arrays (`None` = the sample lacks it) as its padded model input and mask (names from the
    modality table; one value per step is the `sequence_name`: text token ids `text_input_ids`, the audio waveform
    `input_values`); nothing when no sample has the modality. A sample longer than `max_length` raises unless
    `truncation=True`.
    """
    present = [item for item in items if item is not None]
    if not present:
        return {}
    trailing = {item.shape[1:] for item in present}
    if len(trailing) > 1:
        raise ValueError(f"{modality} samples have different feature sizes: {sorted(trailing)}.")
    lengths = [0 if item is None else len(item) for item in items]
    if not truncation:
        check_max_length(modality, lengths, max_length)
    entry = MODALITY_INPUTS[modality]
    sequence = present[0].ndim == 1 and entry.sequence_name is not None
    width = max(lengths) if max_length is None else min(max(lengths), max_length)
    values, mask = pad_sequences(items, pad_value, width)
    return {entry.sequence_name if sequence else entry.values_name: values, entry.mask_name: mask}


def pad_examples(examples: list[dict], return_tensors: str | None = "pt") -> BatchFeature:
    """
    Batch dataset examples holding per-example modality arrays (`input_features` `(frames, 80)` or the waveform
    `input_values` `(samples,)`, `visual_features`, `text_features` or `text_input_ids`): each modality padded on the
    right with its mask. An example whose array
    for a modality is empty (or None) has that modality absent (an all-zero mask row). Other columns are dropped.
    """
    batch = {}
    for values_name, modality in MODEL_INPUT_COLUMNS.items():
        if values_name not in examples[0]:
            continue
        items = [example[values_name] for example in examples]
        items = [None if item is None or len(item) == 0 else np.asarray(item) for item in items]
        batch.update(pad_modality(modality, items))
    if "attention_mask" not in batch:
        raise ValueError(
            "Examples need input_features or input_values (audio): the audio stream is the query of every branch."
        )
    return BatchFeature(batch, tensor_type=return_tensors)


MMEmbedProcessor.register_for_auto_class("AutoProcessor")

__all__ = [
    "MODEL_INPUT_COLUMNS",
    "MMEmbedProcessor",
    "pad_examples",
    "pad_modality",
    "pad_sequences",
    "text_token_ids",
]
