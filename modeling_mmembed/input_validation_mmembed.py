# Copyright 2026 The mmembed authors. Licensed under the Apache License, Version 2.0.
"""
Checks on what users feed the MMEmbed models. Every failure is a `ValueError` that names the modality (or label
field), what was expected and what was given, before anything reaches a layer or a loss.

Shape and dtype checks always run. Checks that read values (NaN/inf, mask values, id ranges) need the host to read
the tensor: they run on CPU tensors and, on an accelerator, outside gradient-tracking steps (inference, evaluation);
inside a training step on an accelerator they are skipped so the step has no host-device synchronisation, and
`MMEmbedDataCollator` plus `train.py`'s dataset-wide label checks test the same values on the host instead. Inside
a `torch.compile` graph they are skipped too (a host read would break the graph); the collator's checks still apply.

One verb across the package: a `check_*` function raises that `ValueError` on bad input (and returns the input, made
canonical, where the caller needs it); the config's `validate_*` methods are transformers' `@strict` class
validators.
"""

from dataclasses import dataclass

import torch

from .configuration_mmembed import MODALITIES, MODALITY_INPUTS, MMEmbedConfig


@dataclass
class ModalityInput:
    """
    One modality's validated input: `values` `(batch_size, length, feature_size)` (token ids: `(batch_size, length)`)
    and a bool mask `(batch_size, length)`.
    """

    values: torch.Tensor
    attention_mask: torch.Tensor


def reads_values(tensor: torch.Tensor) -> bool:
    """
    Whether the value checks on `tensor` run (see the module docstring): eager CPU, or no gradient tracking; never in
    a `torch.compile` graph, which a host read would break.
    """
    if torch.compiler.is_compiling():
        return False
    return tensor.device.type == "cpu" or not torch.is_grad_enabled()


def check_encoder_inputs(
    config: MMEmbedConfig, inputs: dict[str, torch.Tensor | None], dtype: torch.dtype | None = None
) -> dict[str, ModalityInput]:
    """
    Validate the encoder's inputs (`inputs`: the model inputs of the modality table by name); returns the given
    modalities, audio first, as [`ModalityInput`]s. Floating features are cast to `dtype` (the model's), as
    transformers' pipelines do. Every mask must be right-padded (real frames first); a visual or text mask row may be
    all zero (that sample lacks the modality), an audio row may not.
    """
    if inputs.get("input_features") is None:
        raise ValueError("input_features (audio) is required: the audio stream is the query of every branch.")
    audio = _check_features("audio", "input_features", inputs["input_features"], config.audio_feature_size, dtype)
    batch_size = audio.shape[0]
    if batch_size == 0:
        raise ValueError(f"input_features (audio) has batch size 0 (shape {tuple(audio.shape)}); give one sample.")
    audio_mask = _check_mask("audio", inputs.get("attention_mask"), audio, batch_size)
    validated = {"audio": ModalityInput(audio, audio_mask)}
    for modality in MODALITIES[1:]:
        values = _check_source(config, modality, inputs, dtype)
        if values is not None:
            mask = inputs.get(MODALITY_INPUTS[modality].mask_name)
            validated[modality] = ModalityInput(values, _check_mask(modality, mask, values, batch_size))
    return validated


def check_waveform_input(
    input_values: torch.Tensor, attention_mask: torch.Tensor | None, dtype: torch.dtype | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """
    The raw waveform of a model with a speech encoder: a finite float `(batch_size, samples)` tensor (cast to `dtype`)
    and its right-padded sample mask (all true when None), checked as `input_features` and their mask are.
    """
    if torch.is_tensor(input_values) and input_values.dim() != 2:
        raise ValueError(
            f"input_values (audio) must have shape (batch, samples): a 16 kHz mono waveform per sample; got "
            f"{tuple(input_values.shape)}."
        )
    frames = _check_features("audio", "input_values", input_values[..., None] if torch.is_tensor(input_values)
                             else input_values, 1, dtype)  # fmt: skip
    if frames.shape[0] == 0:
        raise ValueError("input_values (audio) has batch size 0; give one sample.")
    return frames[..., 0], _check_mask("audio", attention_mask, frames, frames.shape[0])


def _check_source(
    config: MMEmbedConfig, modality: str, inputs: dict, dtype: torch.dtype | None
) -> torch.Tensor | None:
    """
    A visual or text stream, in the one form the config expects (text: vectors or token ids), checked; None when it
    is not given.
    """
    entry = MODALITY_INPUTS[modality]
    given = [name for name in (entry.values_name, entry.sequence_name) if name and inputs.get(name) is not None]
    if not given:
        if inputs.get(entry.mask_name) is not None:
            raise ValueError(f"{entry.mask_name} ({modality}) was given without {entry.values_name}.")
        return None
    if len(given) > 1:
        raise ValueError(f"{modality} was given both as {given[0]} and as {given[1]}; give exactly one.")
    name, expected = given[0], config.values_name(modality)
    if modality not in config.modalities:
        raise ValueError(
            f"{name} ({modality}) was given, but this model uses only {config.modalities}; drop the {modality} "
            "inputs or use a model configured with that modality."
        )
    if name != expected:
        kind = "token ids" if expected == entry.sequence_name else "vectors"
        raise ValueError(
            f"{name} ({modality}) were given, but this model reads {modality} as {kind} "
            f"({entry.size_field}={getattr(config, entry.size_field)}, text_vocab_size={config.text_vocab_size}); "
            f"pass {expected}."
        )
    if name == entry.sequence_name:
        return _check_token_stream(name, modality, inputs[name], config.text_vocab_size)
    return _check_features(modality, name, inputs[name], getattr(config, entry.size_field), dtype)


def _check_token_stream(name: str, modality: str, token_ids: torch.Tensor, vocab_size: int) -> torch.Tensor:
    check_token_ids(f"{name} ({modality})", token_ids, vocab_size)
    if token_ids.shape[1] == 0:
        raise ValueError(
            f"{name} ({modality}) has no tokens (shape {tuple(token_ids.shape)}); leave {modality} out for a batch "
            f"without it, or give a {MODALITY_INPUTS[modality].mask_name} row of zeros for a sample without it."
        )
    return token_ids


def check_token_ids(name: str, token_ids, vocab_size: int, batch_size: int | None = None) -> None:
    """
    Token ids: an int64/int32 tensor `(batch_size, length)` (the types embeddings take), each id in
    `[0, vocab_size)`.
    """
    _check_tensor(name, token_ids)
    if token_ids.dim() != 2 or (batch_size is not None and token_ids.shape[0] != batch_size):
        batch = "batch" if batch_size is None else batch_size
        raise ValueError(f"{name} must have shape ({batch}, length); got {tuple(token_ids.shape)}.")
    if token_ids.dtype not in (torch.int64, torch.int32):
        raise ValueError(f"{name} must be int64 (or int32) token ids; got dtype {token_ids.dtype}.")
    out_of_range = (token_ids < 0) | (token_ids >= vocab_size)
    if reads_values(token_ids) and out_of_range.any():
        raise ValueError(
            f"{name} must lie in [0, {vocab_size}); got values {token_ids[out_of_range].unique()[:5].tolist()}."
        )


MAX_FEATURE_MAGNITUDE = 1e6
"""Input feature values beyond this are refused: real features (fbank, COVAREP, OpenFace, GloVe, BERT) lie far below,
and squares of values near 1e19 overflow float32 in the first layer norm."""


def _check_tensor(name: str, value) -> None:
    if not torch.is_tensor(value):
        raise ValueError(f"{name} must be a torch.Tensor; got {type(value).__name__} (wrap it in torch.tensor).")


def _check_features(
    modality: str, name: str, values: torch.Tensor, feature_size: int, dtype: torch.dtype | None = None
) -> torch.Tensor:
    """A float `(batch_size, length, feature_size)` tensor (cast to `dtype` when given) with only finite values."""
    if not torch.is_tensor(values) or not values.dtype.is_floating_point:
        kind = values.dtype if torch.is_tensor(values) else type(values).__name__
        raise ValueError(f"{name} ({modality}) must be a floating-point tensor; got {kind}.")
    cast = dtype is not None and values.dtype != dtype
    if cast:
        values = values.to(dtype)
    if values.dim() != 3:
        raise ValueError(
            f"{name} ({modality}) must have shape (batch, time, {feature_size}); got {tuple(values.shape)} "
            f"({values.dim()} dimensions)."
        )
    if values.shape[-1] != feature_size:
        raise ValueError(
            f"{name} ({modality}) has {values.shape[-1]} features per frame; the model expects {feature_size} "
            f"(got shape {tuple(values.shape)})."
        )
    if values.shape[1] == 0:
        raise ValueError(f"{name} ({modality}) has no frames (shape {tuple(values.shape)}).")
    if not reads_values(values):
        return values
    finite = torch.isfinite(values)
    if not finite.all():
        bad = ~finite
        samples = bad.flatten(1).any(dim=1).nonzero().flatten().tolist()
        raise ValueError(
            f"{name} ({modality}) holds {int(bad.sum())} non-finite values (NaN/inf) in samples {samples}"
            + (f" once cast to the model's {dtype}" if cast else "")
            + "; replace them (CMU COVAREP uses NaN/-inf; 0 is the convention) before calling the model."
        )
    largest = values.abs().amax() if values.numel() else 0.0
    if largest > MAX_FEATURE_MAGNITUDE:
        samples = (values.abs() > MAX_FEATURE_MAGNITUDE).flatten(1).any(dim=1).nonzero().flatten().tolist()
        raise ValueError(
            f"{name} ({modality}) holds values up to {float(largest):.3g} in samples {samples}; at most "
            f"{MAX_FEATURE_MAGNITUDE:g} in magnitude are accepted (larger ones overflow the first normalisation into "
            "NaN): standardise the features."
        )
    return values


def _check_mask(modality: str, mask: torch.Tensor | None, values: torch.Tensor, batch_size: int) -> torch.Tensor:
    """A bool `(batch_size, length)` mask matching `values` (all true when `mask` is None)."""
    name = MODALITY_INPUTS[modality].mask_name
    expected = (batch_size, values.shape[1])
    if values.shape[0] != batch_size:
        raise ValueError(f"{modality} inputs have batch size {values.shape[0]}, but the audio input has {batch_size}.")
    if mask is None:
        return torch.ones(expected, dtype=torch.bool, device=values.device)
    _check_tensor(f"{name} ({modality})", mask)
    if tuple(mask.shape) != expected:
        raise ValueError(
            f"{name} ({modality}) must have shape {expected} to match its features; got {tuple(mask.shape)}."
        )
    if reads_values(mask) and not ((mask == 0) | (mask == 1)).all():
        raise ValueError(f"{name} ({modality}) must hold only 0 (padding) and 1 (real frame).")
    mask = mask.to(device=values.device, dtype=torch.bool)
    _check_right_padding(modality, name, mask)
    return mask


def _check_right_padding(modality: str, name: str, mask: torch.Tensor) -> None:
    """
    One rule for every modality: real frames first, then padding (right padding; positions count from the first
    frame). An all-zero row means "this sample lacks the modality", which audio, the query stream, cannot be.
    """
    if not reads_values(mask):
        return
    if modality == "audio":
        empty = (~mask.any(dim=-1)).nonzero().flatten().tolist()
        if empty:
            raise ValueError(
                f"{name} (audio) is all zero for samples {empty}; every sample needs audio (the query stream). "
                "Drop those samples."
            )
    prefix = torch.arange(mask.shape[1], device=mask.device)[None, :] < mask.sum(dim=-1, keepdim=True)
    not_right_padded = (prefix != mask).any(dim=-1).nonzero().flatten().tolist()
    if not_right_padded:
        raise ValueError(
            f"{name} ({modality}) must be right-padded (real frames first, then padding); samples "
            f"{not_right_padded} are not."
        )


def check_emotion_labels(config: MMEmbedConfig, labels: torch.Tensor, batch_size: int) -> torch.Tensor:
    """Check `labels` against the head's `problem_type` and `num_labels`; returns them unchanged."""
    _check_tensor("labels", labels)
    shape = tuple(labels.shape)
    if config.problem_type == "multi_label_classification":
        if shape != (batch_size, config.num_labels):
            raise ValueError(
                f"labels for multi-label classification must have shape ({batch_size}, {config.num_labels}); "
                f"got {shape}."
            )
        values = labels.float()
        if reads_values(values) and (not torch.isfinite(values).all() or (values < 0).any() or (values > 1).any()):
            raise ValueError(
                "labels for multi-label classification must be presence values in [0, 1]; got values in "
                f"[{values.min().item()}, {values.max().item()}]. Binarise CMU-MOSEI intensities (present <=> > 0)."
            )
        return labels
    if config.problem_type == "single_label_classification":
        if shape != (batch_size,) or labels.dtype.is_floating_point:
            raise ValueError(
                f"labels for single-label classification must be integer class ids of shape ({batch_size},); got "
                f"{labels.dtype} {shape}."
            )
        if reads_values(labels) and ((labels < 0).any() or (labels >= config.num_labels).any()):
            raise ValueError(
                f"labels for single-label classification must lie in [0, {config.num_labels}); got "
                f"{labels.unique()[:5].tolist()}."
            )
        return labels
    if (
        shape not in ((batch_size,), (batch_size, 1))
        if config.num_labels == 1
        else shape != (batch_size, config.num_labels)
    ):
        wanted = (
            f"({batch_size},) or ({batch_size}, 1)"
            if config.num_labels == 1
            else f"({batch_size}, {config.num_labels})"
        )
        raise ValueError(f"labels for regression must have shape {wanted}; got {shape}.")
    if reads_values(labels) and not torch.isfinite(labels.float()).all():
        raise ValueError("labels for regression hold NaN or inf.")
    return labels


def check_asr_labels(config: MMEmbedConfig, labels: torch.Tensor, batch_size: int) -> None:
    """
    Transcript labels: integer `(batch_size, target_length)`, each id in the vocabulary or -100, `target_length <=
    max_target_positions`.
    """
    _check_tensor("labels (ASR)", labels)
    if labels.dim() != 2 or labels.shape[0] != batch_size or labels.dtype.is_floating_point:
        raise ValueError(
            f"labels (ASR) must be integer character ids of shape ({batch_size}, target_length); got "
            f"{labels.dtype} {tuple(labels.shape)}."
        )
    if labels.shape[1] > config.max_target_positions:
        raise ValueError(
            f"labels (ASR) are {labels.shape[1]} tokens long; the decoder's maximum is max_target_positions="
            f"{config.max_target_positions}. Shorten or split the transcripts, or raise max_target_positions."
        )
    outside = (labels != -100) & ((labels < 0) | (labels >= config.vocab_size))
    if reads_values(labels) and outside.any():
        samples = outside.any(dim=-1).nonzero().flatten().tolist()
        raise ValueError(
            f"labels (ASR) hold ids outside the vocabulary [0, {config.vocab_size}) (and not -100): "
            f"{labels[outside].unique()[:5].tolist()} in samples {samples}."
        )


def check_speaker_labels(config: MMEmbedConfig, speaker_labels: torch.Tensor, batch_size: int) -> None:
    """Speaker labels: integer `(batch_size,)`, each in `[0, num_speakers)`."""
    _check_tensor("speaker_labels", speaker_labels)
    if tuple(speaker_labels.shape) != (batch_size,) or speaker_labels.dtype.is_floating_point:
        raise ValueError(
            f"speaker_labels must be integer speaker indices of shape ({batch_size},); got "
            f"{speaker_labels.dtype} {tuple(speaker_labels.shape)}."
        )
    outside = (speaker_labels < 0) | (speaker_labels >= config.num_speakers)
    if reads_values(speaker_labels) and outside.any():
        raise ValueError(
            f"speaker_labels must lie in [0, num_speakers={config.num_speakers}); got "
            f"{speaker_labels[outside].unique()[:5].tolist()} in samples {outside.nonzero().flatten().tolist()}."
        )


def check_ctc_lengths(labels: torch.Tensor, is_target: torch.Tensor, input_lengths: torch.Tensor) -> None:
    """
    CTC needs, per sample, at least one memory frame per target character plus one per repeated neighbour (a
    blank must separate them); otherwise its loss is infinite. Raise naming the samples instead. `labels` and
    `is_target` are `(batch_size, target_length)`, `input_lengths` `(batch_size,)`.
    """
    if not reads_values(labels):
        return
    sample = is_target.nonzero()[:, 0]
    targets = labels[is_target]
    repeated = (targets[1:] == targets[:-1]) & (sample[1:] == sample[:-1])
    repeats = torch.zeros_like(input_lengths).index_add_(0, sample[1:], repeated.to(input_lengths.dtype))
    needed = is_target.sum(dim=-1) + repeats
    short = (needed > input_lengths).nonzero().flatten().tolist()
    if short:
        index = short[0]
        raise ValueError(
            f"CTC: samples {short} have too few memory frames for their target characters (sample {index}: "
            f"{int(input_lengths[index])} frames for {int(is_target[index].sum())} characters, needs "
            f"{int(needed[index])}); lower audio_subsampling, shorten the transcript, or set ctc_loss_weight=0."
        )
