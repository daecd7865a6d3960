# Copyright 2026 The mmembed authors. Licensed under the Apache License, Version 2.0.
"""MMEmbed: a multimodal (audio, visual, text) embedding encoder and its emotion-recognition head."""

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn
from transformers import GenerationMixin, LogitsProcessorList, PreTrainedModel
from transformers import initialization as init
from transformers.activations import ACT2FN
from transformers.cache_utils import DynamicCache, EncoderDecoderCache
from transformers.masking_utils import create_bidirectional_mask, create_causal_mask
from transformers.modeling_layers import GradientCheckpointingLayer
from transformers.modeling_outputs import BaseModelOutputWithPastAndCrossAttentions
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS
from transformers.models.wav2vec2.modeling_wav2vec2 import _compute_mask_indices
from transformers.processing_utils import Unpack
from transformers.utils import ModelOutput, TransformersKwargs, auto_docstring, logging
from transformers.utils.deprecation import deprecate_kwarg
from transformers.utils.generic import can_return_tuple
from transformers.utils.output_capturing import OutputRecorder, capture_outputs

from .checkpoint_files_mmembed import MMEmbedCheckpointMixin
from .configuration_mmembed import MODALITY_INPUTS, MMEmbedConfig
from .ctc_decoding_mmembed import MMEmbedCTCPrefixScorer
from .encoders_mmembed import MMEmbedSpeechEncoder, MMEmbedTextEncoder, build_encoder
from .input_validation_mmembed import (
    ModalityInput,
    check_asr_labels,
    check_ctc_lengths,
    check_emotion_labels,
    check_encoder_inputs,
    check_speaker_labels,
    check_token_ids,
    check_waveform_input,
)

logger = logging.get_logger(__name__)


@dataclass
@auto_docstring(custom_intro="Output of [`MMEmbedModel`].")
class MMEmbedModelOutput(ModelOutput):
    r"""
    last_hidden_state (`torch.FloatTensor` of shape `(batch_size, audio_length, hidden_size)`):
        The fused sequence on the subsampled audio time axis: the per-sample weighted sum of the branches. Zero at
        padded audio frames.
    pooler_output (`torch.FloatTensor` of shape `(batch_size, hidden_size)`):
        The embedding: mean of `last_hidden_state` over real audio frames.
    audio_hidden_state (`torch.FloatTensor` of shape `(batch_size, audio_length, hidden_size)`):
        The audio branch (audio self-attention stack).
    visual_hidden_state (`torch.FloatTensor` of shape `(batch_size, audio_length, hidden_size)`, *optional*):
        The visual-fused branch (audio queries attending to the visual stream); `None` when the visual modality is
        absent for the whole batch.
    text_hidden_state (`torch.FloatTensor` of shape `(batch_size, audio_length, hidden_size)`, *optional*):
        The text-fused branch; `None` when the text modality is absent for the whole batch.
    attention_mask (`torch.BoolTensor` of shape `(batch_size, audio_length)`):
        The audio mask after subsampling (True = real frame).
    modality_weights (`torch.FloatTensor` of shape `(batch_size, len(config.modalities))`):
        The weight each branch received for each sample, after renormalising over the modalities it has (in
        training, those `config.modality_dropout` kept).
    cross_attentions (`tuple(torch.FloatTensor)`, *optional*):
        Cross-modal attention weights, one `(batch_size, num_heads, audio_length, source_length)` tensor per layer
        (eager attention only).
    """

    last_hidden_state: torch.FloatTensor | None = None
    pooler_output: torch.FloatTensor | None = None
    audio_hidden_state: torch.FloatTensor | None = None
    visual_hidden_state: torch.FloatTensor | None = None
    text_hidden_state: torch.FloatTensor | None = None
    attention_mask: torch.BoolTensor | None = None
    modality_weights: torch.FloatTensor | None = None
    hidden_states: tuple[torch.FloatTensor, ...] | None = None
    attentions: tuple[torch.FloatTensor, ...] | None = None
    cross_attentions: tuple[torch.FloatTensor, ...] | None = None


@dataclass
@auto_docstring(custom_intro="Output of [`MMEmbedForEmotionRecognition`].")
class MMEmbedEmotionOutput(ModelOutput):
    r"""
    loss (`torch.FloatTensor` of shape `()`, *optional*):
        Classification (BCE for multi-label, cross-entropy for single-label) or regression (MSE) loss.
    logits (`torch.FloatTensor` of shape `(batch_size, num_labels)`):
        Scores before sigmoid/softmax.
    pooler_output (`torch.FloatTensor` of shape `(batch_size, hidden_size)`):
        The embedding the head classified.
    """

    loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    pooler_output: torch.FloatTensor | None = None
    hidden_states: tuple[torch.FloatTensor, ...] | None = None
    attentions: tuple[torch.FloatTensor, ...] | None = None
    cross_attentions: tuple[torch.FloatTensor, ...] | None = None


@dataclass
@auto_docstring(custom_intro="The ASR decoder's memory, as [`MMEmbedForPreTraining.get_encoder`] produces it.")
class MMEmbedASRMemoryOutput(ModelOutput):
    r"""
    last_hidden_state (`torch.FloatTensor` of shape `(batch_size, audio_length, hidden_size)`):
        The memory: the audio branch, fused per sample with the visual branch when `config.asr_memory` says so.
    attention_mask (`torch.BoolTensor` of shape `(batch_size, audio_length)`):
        The subsampled audio mask (True = real frame).
    """

    last_hidden_state: torch.FloatTensor | None = None
    attention_mask: torch.BoolTensor | None = None
    hidden_states: tuple[torch.FloatTensor, ...] | None = None
    attentions: tuple[torch.FloatTensor, ...] | None = None


@dataclass
@auto_docstring(custom_intro="Output of [`MMEmbedForPreTraining`].")
class MMEmbedPreTrainingOutput(ModelOutput):
    r"""
    loss (`torch.FloatTensor` of shape `()`, *optional*):
        `asr_loss_weight * ((1 - ctc_loss_weight) * asr_loss + ctc_loss_weight * ctc_loss) + speaker_loss_weight *
        speaker_loss`, over the components whose labels were given.
    asr_loss (`torch.FloatTensor` of shape `()`, *optional*):
        Token-level cross-entropy of the decoder (normalised by `num_items_in_batch` when given).
    ctc_loss (`torch.FloatTensor` of shape `()`, *optional*):
        CTC loss of the memory's CTC head, per target token (only with `ctc_loss_weight > 0`).
    speaker_loss (`torch.FloatTensor` of shape `()`, *optional*):
        Person-identification cross-entropy.
    logits (`torch.FloatTensor` of shape `(batch_size, target_length, vocab_size)`, *optional*):
        Decoder scores for each next character.
    speaker_logits (`torch.FloatTensor` of shape `(batch_size, num_speakers)`, *optional*):
        Person-identification scores (not computed when `encoder_outputs` are given).
    cache (`EncoderDecoderCache`, *optional*):
        The decoder's key/value cache, for generation.
    pooler_output (`torch.FloatTensor` of shape `(batch_size, hidden_size)`, *optional*):
        The fused embedding the person-id head classified.
    encoder_last_hidden_state (`torch.FloatTensor` of shape `(batch_size, audio_length, hidden_size)`, *optional*):
        The decoder's memory.
    encoder_attention_mask (`torch.BoolTensor` of shape `(batch_size, audio_length)`, *optional*):
        The memory's mask.
    decoder_hidden_states (`tuple(torch.FloatTensor)`, *optional*):
        Decoder states, one per layer plus the embeddings.
    decoder_attentions (`tuple(torch.FloatTensor)`, *optional*):
        Decoder self-attention weights (eager attention).
    cross_attentions (`tuple(torch.FloatTensor)`, *optional*):
        Decoder-to-memory attention weights (eager attention).
    encoder_hidden_states (`tuple(torch.FloatTensor)`, *optional*):
        Audio-layer states of the encoder.
    encoder_attentions (`tuple(torch.FloatTensor)`, *optional*):
        Audio self-attention weights of the encoder (eager attention).
    """

    loss: torch.FloatTensor | None = None
    asr_loss: torch.FloatTensor | None = None
    ctc_loss: torch.FloatTensor | None = None
    speaker_loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    speaker_logits: torch.FloatTensor | None = None
    cache: EncoderDecoderCache | None = None
    pooler_output: torch.FloatTensor | None = None
    encoder_last_hidden_state: torch.FloatTensor | None = None
    encoder_attention_mask: torch.BoolTensor | None = None
    decoder_hidden_states: tuple[torch.FloatTensor, ...] | None = None
    decoder_attentions: tuple[torch.FloatTensor, ...] | None = None
    cross_attentions: tuple[torch.FloatTensor, ...] | None = None
    encoder_hidden_states: tuple[torch.FloatTensor, ...] | None = None
    encoder_attentions: tuple[torch.FloatTensor, ...] | None = None


MODALITY_INPUTS_DOCSTRING = r"""
    input_features (`torch.FloatTensor` of shape `(batch_size, audio_length, audio_feature_size)`):
        Audio frames (log-mel filterbanks or COVAREP), padded on the right.
    attention_mask (`torch.Tensor` of shape `(batch_size, audio_length)`, *optional*):
        1 for real audio frames, 0 for padding; every sample needs at least one real frame.
    visual_features (`torch.FloatTensor` of shape `(batch_size, visual_length, visual_feature_size)`, *optional*):
        Visual frames. `None` when the whole batch has no video.
    visual_attention_mask (`torch.Tensor` of shape `(batch_size, visual_length)`, *optional*):
        1 for real visual frames; an all-zero row marks a sample without video.
    text_features (`torch.FloatTensor` of shape `(batch_size, text_length, text_feature_size)`, *optional*):
        Word vectors (e.g. GloVe). Give either these or `text_input_ids`, as the config says.
    text_input_ids (`torch.LongTensor` of shape `(batch_size, text_length)`, *optional*):
        Token ids when the config sets `text_vocab_size`, or ids of the text encoder's tokenizer with a
        `config.text_encoder`.
    text_attention_mask (`torch.Tensor` of shape `(batch_size, text_length)`, *optional*):
        1 for real words; an all-zero row marks a sample without text.
    input_values (`torch.FloatTensor` of shape `(batch_size, samples)`, *optional*):
        The raw 16 kHz waveform, for a model with a pretrained speech encoder (`config.audio_encoder`), which reads it
        instead of `input_features`; `attention_mask` `(batch_size, samples)` then marks its real samples.
"""


EMOTION_LABELS_DOCSTRING = r"""
    labels (`torch.Tensor`, *optional*):
        Multi-label: `(batch_size, num_labels)` presence in {0, 1} (or soft targets in [0, 1]). Single-label:
        `(batch_size,)` class indices. Regression: `(batch_size,)` or `(batch_size, 1)` values.
"""


PRETRAINING_INPUTS_DOCSTRING = r"""
    decoder_input_ids (`torch.LongTensor` of shape `(batch_size, target_length)`, *optional*):
        Decoder input characters; built from `labels` (shifted right) when not given.
    decoder_attention_mask (`torch.Tensor` of shape `(batch_size, target_length)`, *optional*):
        1 for real decoder inputs.
    encoder_outputs (`MMEmbedASRMemoryOutput`, *optional*):
        A precomputed memory (what `get_encoder()` returns); the encoder is then skipped and no person-id logits
        are computed. `generate()` passes it.
    labels (`torch.LongTensor` of shape `(batch_size, target_length)`, *optional*):
        Transcript character ids ending with `eos_token_id`, padded with -100.
    speaker_labels (`torch.LongTensor` of shape `(batch_size,)`, *optional*):
        Speaker indices in `[0, num_speakers)`.

"""


def shift_tokens_right(labels: torch.Tensor, pad_token_id: int, decoder_start_token_id: int) -> torch.Tensor:
    """
    Decoder inputs `(batch_size, target_length)` for teacher forcing: `decoder_start_token_id` then `labels[:, :-1]`,
    -100 -> pad.
    """
    shifted = labels.new_full(labels.shape, pad_token_id)
    shifted[:, 1:] = labels[:, :-1]
    shifted[:, 0] = decoder_start_token_id
    return shifted.masked_fill(shifted == -100, pad_token_id)


def sinusoidal_positions(length: int, hidden_size: int, device: torch.device, offset: int = 0) -> torch.Tensor:
    """Fixed sinusoidal table `(length, hidden_size)` (sines, cosines) for positions `offset` to `offset+length-1`."""
    positions = torch.arange(offset, offset + length, device=device, dtype=torch.float32)
    return sinusoidal_embedding(positions, hidden_size)


def sinusoidal_embedding(positions: torch.Tensor, hidden_size: int) -> torch.Tensor:
    """Sines and cosines of (possibly fractional) `positions` `(...,)` -> `(..., hidden_size)`."""
    half = hidden_size // 2
    steps = torch.arange(half, device=positions.device, dtype=torch.float32)
    angles = positions.float()[..., None] * torch.exp(-math.log(10000.0) * steps / half)
    return torch.cat([angles.sin(), angles.cos()], dim=-1)


def aligned_positions(source_mask: torch.Tensor, audio_mask: torch.Tensor) -> torch.Tensor:
    """
    Positions `(batch_size, source_length)` that spread each sample's real source frames (`source_mask`) evenly over
    its real audio frames (`audio_mask`): frame `j` of `S` sits at `(j + 0.5) * A / S - 0.5`, so that a stream at
    another rate lines up in time with the audio queries.
    """
    audio_frames = audio_mask.sum(dim=-1, keepdim=True).to(torch.float32)
    source_frames = source_mask.sum(dim=-1, keepdim=True).to(torch.float32).clamp(min=1.0)
    index = torch.arange(source_mask.shape[-1], device=source_mask.device, dtype=torch.float32)
    return (index[None, :] + 0.5) * audio_frames / source_frames - 0.5


def masked_mean(hidden_states: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """
    Mean of `(batch_size, length, hidden_size)` states over the frames where `attention_mask` `(batch_size, length)` is
    true -> `(batch_size, hidden_size)`.
    """
    mask = attention_mask[..., None].to(hidden_states.dtype)
    return (hidden_states * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)


def token_cross_entropy(
    logits: torch.Tensor, labels: torch.Tensor, label_smoothing: float, num_items_in_batch: int | torch.Tensor | None
) -> torch.Tensor:
    """
    Cross-entropy summed over the tokens of `labels` `(batch_size, target_length)` (-100 ignored) and divided by
    `num_items_in_batch` (the global token count, so the result does not depend on how a batch is split) or by the
    local count.
    """
    total = nn.functional.cross_entropy(
        logits.flatten(0, 1).float(),
        labels.flatten(),
        ignore_index=-100,
        reduction="sum",
        label_smoothing=label_smoothing,
    )
    return total / token_count(labels, num_items_in_batch, total.device)


def token_count(labels: torch.Tensor, num_items_in_batch, device: torch.device) -> torch.Tensor:
    """`num_items_in_batch` as a tensor, or the number of non-ignored tokens in `labels` (at least 1)."""
    count = num_items_in_batch if num_items_in_batch is not None else (labels != -100).sum()
    return torch.as_tensor(count, device=device, dtype=torch.float32).clamp(min=1.0)


def locality_bias(
    source_positions: torch.Tensor | None, attendable: torch.Tensor, audio_states: torch.Tensor, slope: float
) -> torch.Tensor:
    """
    An additive cross-attention mask `(batch_size, 1, audio_length, source_length)`: `-slope` times the distance, in
    audio frames, between each audio frame and each source frame (at `source_positions` `(batch_size,
    source_length)`, or at its index), and the dtype's minimum where a source frame is not `attendable`.
    """
    batch_size, audio_length = audio_states.shape[:2]
    if source_positions is None:
        source_positions = torch.arange(attendable.shape[-1], device=attendable.device, dtype=torch.float32)
        source_positions = source_positions.expand(batch_size, -1)
    audio_positions = torch.arange(audio_length, device=attendable.device, dtype=torch.float32)
    bias = -slope * (audio_positions[None, :, None] - source_positions[:, None, :]).abs()
    bias = bias.masked_fill(~attendable[:, None, :], torch.finfo(torch.float32).min)
    return bias[:, None].to(audio_states.dtype)


class MMEmbedPositionalDropout(nn.Module):
    """
    Adds sinusoidal positions to `(batch, time, hidden)` states and applies dropout: frame indices starting at
    `offset`, or the given `positions` `(batch, time)`.
    """

    def __init__(self, config: MMEmbedConfig):
        super().__init__()
        self.dropout = nn.Dropout(config.hidden_dropout)

    def forward(self, hidden_states: torch.Tensor, offset: int = 0, positions: torch.Tensor | None = None):
        if positions is None:
            table = sinusoidal_positions(hidden_states.shape[1], hidden_states.shape[2], hidden_states.device, offset)
        else:
            table = sinusoidal_embedding(positions, hidden_states.shape[2])
        return self.dropout(hidden_states + table.to(hidden_states.dtype))


class MMEmbedAudioSubsampler(nn.Module):
    """
    Strided 1-D convolutions (kernel 3, stride 2, one per factor of two) from `(batch, time, audio_feature_size)` to
    `[batch, ceil(time / audio_subsampling), hidden_size]`. The mask is subsampled with the same stride and re-applied
    before and after every convolution, so padded frames never reach a real one.
    """

    def __init__(self, config: MMEmbedConfig):
        super().__init__()
        num_strided = int(math.log2(config.audio_subsampling))
        strides = [2] * num_strided if num_strided > 0 else [1]
        in_sizes = [config.audio_feature_size] + [config.hidden_size] * (len(strides) - 1)
        self.convs = nn.ModuleList(
            nn.Conv1d(in_size, config.hidden_size, kernel_size=3, stride=stride, padding=1)
            for in_size, stride in zip(in_sizes, strides, strict=True)
        )
        self.activation = ACT2FN[config.hidden_act]

    def forward(self, input_features: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """
        `input_features` `(batch_size, length, feature_size)`, `attention_mask` `(batch_size, length)` bool -> states
        `(batch_size, audio_length, hidden_size)`, mask `(batch_size, audio_length)`.
        """
        hidden_states = input_features.transpose(1, 2)
        for conv in self.convs:
            hidden_states = hidden_states * attention_mask[:, None, :].to(hidden_states.dtype)
            hidden_states = self.activation(conv(hidden_states))
            attention_mask = attention_mask[:, :: conv.stride[0]]
        hidden_states = hidden_states * attention_mask[:, None, :].to(hidden_states.dtype)
        return hidden_states.transpose(1, 2), attention_mask


class MMEmbedAudioEmbedding(nn.Module):
    """
    Audio frames `(batch_size, length, audio_feature_size)` -> subsampled, position-aware states `(batch_size,
    audio_length, hidden_size)`.
    """

    def __init__(self, config: MMEmbedConfig):
        super().__init__()
        self.subsampler = MMEmbedAudioSubsampler(config)
        self.positions = MMEmbedPositionalDropout(config)

    def forward(self, input_features: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        hidden_states, attention_mask = self.subsampler(input_features, attention_mask)
        return self.positions(hidden_states), attention_mask


class MMEmbedSourceEmbedding(nn.Module):
    """
    A visual or text stream `(batch_size, length, feature_size)` (or text token ids `(batch_size, length)`) with its
    mask `(batch_size, length)` -> `(batch_size, length, hidden_size)`: a linear projection (or token embedding), a
    layer norm (so the content is on the scale of the sinusoidal positions added next, instead of drowned by them), a
    temporal convolution over the real frames when `config.source_kernel_size > 1` (padded frames enter it as zeros),
    plus sinusoidal positions (frame indices, or `positions` `(batch_size, length)` when given).
    """

    def __init__(self, config: MMEmbedConfig, modality: str):
        super().__init__()
        frame_shape = config.frame_shape(modality)
        if frame_shape:
            self.input_layer = nn.Linear(frame_shape[0], config.hidden_size)
        else:  # token ids
            self.input_layer = nn.Embedding(config.text_vocab_size, config.hidden_size)
        self.layer_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.temporal_conv = None
        if config.source_kernel_size > 1:
            kernel = config.source_kernel_size
            self.temporal_conv = nn.Conv1d(config.hidden_size, config.hidden_size, kernel, padding=kernel // 2)
        self.positions = MMEmbedPositionalDropout(config)

    def forward(
        self, values: torch.Tensor, attention_mask: torch.Tensor, positions: torch.Tensor | None = None
    ) -> torch.Tensor:
        hidden_states = self.layer_norm(self.input_layer(values))
        if self.temporal_conv is not None:
            hidden_states = hidden_states * attention_mask[..., None].to(hidden_states.dtype)
            hidden_states = self.temporal_conv(hidden_states.transpose(1, 2)).transpose(1, 2)
        return self.positions(hidden_states, positions=positions)


def eager_attention_forward(
    module: nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    scaling: float,
    dropout: float = 0.0,
    **kwargs: Unpack[TransformersKwargs],
) -> tuple[torch.Tensor, torch.Tensor]:
    """
    Softmax attention: `query` `(batch_size, num_heads, query_length, head_dim)`, `key`/`value` `(batch_size,
    num_heads, key_length, head_dim)` -> `(batch_size, query_length, num_heads, head_dim)`.
    """
    attn_weights = torch.matmul(query, key.transpose(2, 3)) * scaling
    if attention_mask is not None:
        if attention_mask.dtype == torch.bool:
            attn_weights = attn_weights.masked_fill(~attention_mask, torch.finfo(attn_weights.dtype).min)
        else:
            attn_weights = attn_weights + attention_mask
    attn_weights = nn.functional.softmax(attn_weights, dim=-1, dtype=torch.float32).to(query.dtype)
    attn_weights = nn.functional.dropout(attn_weights, p=dropout, training=module.training)
    attn_output = torch.matmul(attn_weights, value).transpose(1, 2).contiguous()
    return attn_output, attn_weights


class MMEmbedAttention(nn.Module):
    """
    Multi-head attention through the transformers attention interface (SDPA by default, eager, flash-attention).
    Self-attention when `key_value_states` is None, else cross-attention from `hidden_states` to `key_value_states`.
    In the ASR decoder (`layer_idx` set) it reads and extends an `EncoderDecoderCache`: the self-attention cache grows
    by one step per generated token, the cross-attention keys/values of the memory are computed once.
    """

    def __init__(self, config: MMEmbedConfig, layer_idx: int | None = None, is_causal: bool = False):
        super().__init__()
        self.config = config
        self.layer_idx = layer_idx
        self.head_dim = config.hidden_size // config.num_attention_heads
        self.scaling = self.head_dim**-0.5
        self.attention_dropout = config.attention_dropout
        self.is_causal = is_causal
        self.q_proj = nn.Linear(config.hidden_size, config.hidden_size)
        self.k_proj = nn.Linear(config.hidden_size, config.hidden_size)
        self.v_proj = nn.Linear(config.hidden_size, config.hidden_size)
        self.o_proj = nn.Linear(config.hidden_size, config.hidden_size)

    def forward(
        self,
        hidden_states: torch.Tensor,
        key_value_states: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        cache: EncoderDecoderCache | None = None,
        **kwargs: Unpack[TransformersKwargs],
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """
        `hidden_states` `(batch_size, query_length, hidden_size)`, `key_value_states` `(batch_size, key_length,
        hidden_size)` -> output `(batch_size, query_length, hidden_size)` and weights.
        """
        query_states = self._split_heads(self.q_proj(hidden_states))
        key_states, value_states = self._keys_and_values(hidden_states, key_value_states, cache)

        attention_interface: Callable = ALL_ATTENTION_FUNCTIONS.get_interface(
            self.config._attn_implementation, eager_attention_forward
        )
        attn_output, attn_weights = attention_interface(
            self,
            query_states,
            key_states,
            value_states,
            attention_mask,
            dropout=self.attention_dropout if self.training else 0.0,
            scaling=self.scaling,
            **kwargs,
        )
        attn_output = attn_output.reshape(*hidden_states.shape[:-1], -1).contiguous()
        return self.o_proj(attn_output), attn_weights

    def _keys_and_values(
        self,
        hidden_states: torch.Tensor,
        key_value_states: torch.Tensor | None,
        cache: EncoderDecoderCache | None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """
        Keys and values `(batch_size, num_heads, key_length, head_dim)`, from the cache where it already holds them.
        """
        is_cross_attention = key_value_states is not None
        source = key_value_states if is_cross_attention else hidden_states
        if cache is None:
            return self._split_heads(self.k_proj(source)), self._split_heads(self.v_proj(source))
        if is_cross_attention:
            layer_cache = cache.cross_attention_cache
            if cache.is_updated.get(self.layer_idx, False):
                layer = layer_cache.layers[self.layer_idx]
                return layer.keys, layer.values
            cache.is_updated[self.layer_idx] = True
        else:
            layer_cache = cache.self_attention_cache
        key_states, value_states = self._split_heads(self.k_proj(source)), self._split_heads(self.v_proj(source))
        return layer_cache.update(key_states, value_states, self.layer_idx)

    def _split_heads(self, states: torch.Tensor) -> torch.Tensor:
        """`(batch_size, length, hidden_size)` -> `(batch_size, num_heads, length, head_dim)`."""
        return states.view(*states.shape[:-1], -1, self.head_dim).transpose(1, 2)


class MMEmbedFeedForward(nn.Module):
    """Pre-norm residual feed-forward block: `x + dropout(fc2(act(fc1(norm(x)))))`, shape-preserving."""

    def __init__(self, config: MMEmbedConfig):
        super().__init__()
        self.layer_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.fc1 = nn.Linear(config.hidden_size, config.intermediate_size)
        self.activation = ACT2FN[config.hidden_act]
        self.activation_dropout = nn.Dropout(config.activation_dropout)
        self.fc2 = nn.Linear(config.intermediate_size, config.hidden_size)
        self.dropout = nn.Dropout(config.hidden_dropout)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        update = self.activation_dropout(self.activation(self.fc1(self.layer_norm(hidden_states))))
        return hidden_states + self.dropout(self.fc2(update))


class MMEmbedEncoderLayer(GradientCheckpointingLayer):
    """
    Pre-norm audio self-attention layer: `(batch_size, length, hidden_size)` -> `(batch_size, length, hidden_size)`.
    """

    def __init__(self, config: MMEmbedConfig):
        super().__init__()
        self.self_attn_layer_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.self_attn = MMEmbedAttention(config)
        self.dropout = nn.Dropout(config.hidden_dropout)
        self.feed_forward = MMEmbedFeedForward(config)

    def forward(
        self,
        hidden_states: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        **kwargs: Unpack[TransformersKwargs],
    ) -> torch.Tensor:
        attended, _ = self.self_attn(self.self_attn_layer_norm(hidden_states), attention_mask=attention_mask, **kwargs)
        return self.feed_forward(hidden_states + self.dropout(attended))


class MMEmbedCrossModalLayer(GradientCheckpointingLayer):
    """
    Pre-norm cross-modal layer: the audio stream `(batch_size, audio_length, hidden_size)` queries a source modality
    `(batch_size, source_length, hidden_size)` (its keys and values) and is updated residually; returns `(batch_size,
    audio_length, hidden_size)`.
    """

    def __init__(self, config: MMEmbedConfig):
        super().__init__()
        self.query_layer_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.source_layer_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.cross_attn = MMEmbedAttention(config)
        self.dropout = nn.Dropout(config.hidden_dropout)
        self.feed_forward = MMEmbedFeedForward(config)

    def forward(
        self,
        hidden_states: torch.Tensor,
        source_states: torch.Tensor,
        source_attention_mask: torch.Tensor | None = None,
        add_to_queries: bool = True,
        **kwargs: Unpack[TransformersKwargs],
    ) -> torch.Tensor:
        attended, _ = self.cross_attn(
            self.query_layer_norm(hidden_states),
            key_value_states=self.source_layer_norm(source_states),
            attention_mask=source_attention_mask,
            **kwargs,
        )
        attended = self.dropout(attended)
        return self.feed_forward(hidden_states + attended if add_to_queries else attended)


class MMEmbedDecoderLayer(GradientCheckpointingLayer):
    """
    Pre-norm decoder layer: causal self-attention, cross-attention to the memory, feed-forward; `(batch_size,
    target_length, hidden_size)`.
    """

    def __init__(self, config: MMEmbedConfig, layer_idx: int):
        super().__init__()
        self.self_attn_layer_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.self_attn = MMEmbedAttention(config, layer_idx=layer_idx, is_causal=True)
        self.cross_attn_layer_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.cross_attn = MMEmbedAttention(config, layer_idx=layer_idx)
        self.dropout = nn.Dropout(config.hidden_dropout)
        self.feed_forward = MMEmbedFeedForward(config)

    def forward(
        self,
        hidden_states: torch.Tensor,
        attention_mask: torch.Tensor | None,
        memory: torch.Tensor,
        memory_attention_mask: torch.Tensor | None = None,
        cache: EncoderDecoderCache | None = None,
        **kwargs: Unpack[TransformersKwargs],
    ) -> torch.Tensor:
        attended, _ = self.self_attn(
            self.self_attn_layer_norm(hidden_states), attention_mask=attention_mask, cache=cache, **kwargs
        )
        hidden_states = hidden_states + self.dropout(attended)
        attended, _ = self.cross_attn(
            self.cross_attn_layer_norm(hidden_states),
            key_value_states=memory,
            attention_mask=memory_attention_mask,
            cache=cache,
            **kwargs,
        )
        return self.feed_forward(hidden_states + self.dropout(attended))


@auto_docstring
class MMEmbedPreTrainedModel(MMEmbedCheckpointMixin, PreTrainedModel):
    config: MMEmbedConfig
    base_model_prefix = "mmembed"
    main_input_name = "input_features"
    input_modalities = ("audio", "video", "text")
    supports_gradient_checkpointing = True
    _no_split_modules = ["MMEmbedEncoderLayer", "MMEmbedCrossModalLayer", "MMEmbedDecoderLayer"]
    _supports_sdpa = True
    _supports_flash_attn = True
    _supports_attention_backend = True
    _can_record_outputs = {
        "hidden_states": OutputRecorder(
            MMEmbedEncoderLayer, layer_name="audio_layers", num_hidden_layers_key="num_audio_layers"
        ),
        "attentions": OutputRecorder(MMEmbedAttention, index=1, layer_name="audio_layers"),
        "cross_attentions": OutputRecorder(MMEmbedAttention, index=1, layer_name="cross_modal_encoders"),
    }
    is_encoder_decoder_model = False
    """Written into `config.is_encoder_decoder` by `post_init`: only the seq2seq pre-training model is one."""

    def _init_weights(self, module):
        super()._init_weights(module)
        if (
            isinstance(module, MMEmbedModel) and module.modality_logits is not None
        ):  # the configured weights, as logits
            weights = [module.config.modality_weights[modality] for modality in module.config.modalities]
            init.copy_(module.modality_logits, torch.tensor(weights).log())

    def post_init(self):
        # a head's own post_init runs after those of its sub-models (which share the config), so it has the last word
        self.config.is_encoder_decoder = self.is_encoder_decoder_model
        if self.config.audio_encoder is not None and self.main_input_name == "input_features":
            self.main_input_name = "input_values"  # the raw waveform its speech encoder reads (`generate()` too)
        super().post_init()

    def get_embeddings(self, **inputs) -> "MMEmbedModelOutput":
        """
        The encoder's output for modality inputs as in `forward` (on the encoder and on every head model):
        `pooler_output` `(batch_size, hidden_size)` is the embedding, `last_hidden_state` the fused sequence and
        `attention_mask` its real frames. Gradients flow unless called under `torch.no_grad()`.
        """
        return self.base_model(**inputs)


class MMEmbedAttentionPooling(nn.Module):
    """
    `(batch_size, length, hidden_size)` states and their mask `(batch_size, length)` -> `(batch_size, hidden_size)`:
    each of `num_attention_heads` heads scores the frames and averages its share of the hidden size with the softmax
    of its scores over the real frames.
    """

    def __init__(self, config: MMEmbedConfig):
        super().__init__()
        self.num_heads = config.num_attention_heads
        self.score = nn.Linear(config.hidden_size, self.num_heads)

    def forward(self, hidden_states: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        batch_size, length, hidden_size = hidden_states.shape
        scores = (
            self.score(hidden_states).float().masked_fill(~attention_mask[..., None], torch.finfo(torch.float32).min)
        )
        weights = scores.softmax(dim=1).to(hidden_states.dtype)  # (batch_size, length, heads)
        heads = hidden_states.view(batch_size, length, self.num_heads, hidden_size // self.num_heads)
        return torch.einsum("blh,blhd->bhd", weights, heads).reshape(batch_size, hidden_size)


class MMEmbedSelfAttentionStack(nn.Module):
    """
    `num_layers` pre-norm self-attention layers and a final layer norm over one sequence `(batch_size, length,
    hidden_size)` with its mask `(batch_size, length)`: a source stream's own context, or the fused sequence.
    """

    def __init__(self, config: MMEmbedConfig, num_layers: int):
        super().__init__()
        self.config = config
        self.layers = nn.ModuleList(MMEmbedEncoderLayer(config) for _ in range(num_layers))
        self.layer_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, hidden_states: torch.Tensor, attention_mask: torch.Tensor, **kwargs) -> torch.Tensor:
        mask = create_bidirectional_mask(
            config=self.config, inputs_embeds=hidden_states, attention_mask=attention_mask
        )
        for layer in self.layers:
            hidden_states = layer(hidden_states, mask, **kwargs)
        return self.layer_norm(hidden_states)


class MMEmbedCrossModalEncoder(nn.Module):
    """
    Fuses one source modality into the audio stream: `(batch_size, audio_length, hidden_size)` x `(batch_size,
    source_length, hidden_size)` -> `(batch_size, audio_length, hidden_size)`.
    """

    def __init__(self, config: MMEmbedConfig):
        super().__init__()
        self.layers = nn.ModuleList(MMEmbedCrossModalLayer(config) for _ in range(config.num_cross_modal_layers))
        self.layer_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.cross_modal_residual = config.cross_modal_residual

    def forward(
        self,
        audio_states: torch.Tensor,
        source_states: torch.Tensor,
        source_attention_mask: torch.Tensor | None,
        **kwargs: Unpack[TransformersKwargs],
    ) -> torch.Tensor:
        hidden_states = audio_states
        for index, layer in enumerate(self.layers):
            add_to_queries = self.cross_modal_residual or index > 0  # else the branch starts from the source alone
            hidden_states = layer(hidden_states, source_states, source_attention_mask, add_to_queries, **kwargs)
        return self.layer_norm(hidden_states)


@auto_docstring(custom_intro="The character-level transformer decoder of the ASR head.")
class MMEmbedDecoder(MMEmbedPreTrainedModel):
    main_input_name = "input_ids"
    _can_record_outputs = {
        "hidden_states": OutputRecorder(MMEmbedDecoderLayer, num_hidden_layers_key="decoder_layers"),
        "attentions": OutputRecorder(MMEmbedAttention, index=1, layer_name="self_attn"),
        "cross_attentions": OutputRecorder(MMEmbedAttention, index=1, layer_name="cross_attn"),
    }

    def __init__(self, config: MMEmbedConfig):
        super().__init__(config)
        self.embed_tokens = nn.Embedding(config.vocab_size, config.hidden_size, padding_idx=config.pad_token_id)
        self.embed_scale = math.sqrt(config.hidden_size)
        self.positions = MMEmbedPositionalDropout(config)
        self.layers = nn.ModuleList(MMEmbedDecoderLayer(config, index) for index in range(config.decoder_layers))
        self.layer_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.post_init()

    def get_input_embeddings(self) -> nn.Embedding:
        return self.embed_tokens

    def set_input_embeddings(self, value: nn.Embedding) -> None:
        self.embed_tokens = value

    @deprecate_kwarg("past_key_values", "5.40.0", new_name="cache")
    @capture_outputs
    @auto_docstring
    def forward(
        self,
        input_ids: torch.LongTensor,
        memory: torch.Tensor,
        memory_attention_mask: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        cache: EncoderDecoderCache | None = None,
        use_cache: bool | None = None,
        **kwargs: Unpack[TransformersKwargs],
    ) -> BaseModelOutputWithPastAndCrossAttentions:
        r"""
        input_ids (`torch.LongTensor` of shape `(batch_size, target_length)`):
            Character ids of the decoder input (the labels shifted right behind `decoder_start_token_id`).
        memory (`torch.FloatTensor` of shape `(batch_size, audio_length, hidden_size)`):
            The encoder memory the decoder attends to.
        memory_attention_mask (`torch.Tensor` of shape `(batch_size, audio_length)`, *optional*):
            1 for real memory frames.
        """
        if use_cache and cache is None:
            cache = EncoderDecoderCache(DynamicCache(config=self.config), DynamicCache(config=self.config))
        past_length = cache.get_seq_length() if cache is not None else 0
        if past_length + input_ids.shape[1] > self.config.max_target_positions:
            raise ValueError(
                f"The decoder accepts at most max_target_positions={self.config.max_target_positions} tokens; got "
                f"{past_length + input_ids.shape[1]}. Shorten the transcript or raise max_target_positions."
            )
        hidden_states = self.positions(self.embed_tokens(input_ids) * self.embed_scale, offset=past_length)
        position_ids = torch.arange(past_length, past_length + input_ids.shape[1], device=input_ids.device)[None, :]
        causal_mask = create_causal_mask(
            config=self.config,
            inputs_embeds=hidden_states,
            attention_mask=attention_mask,
            cache=cache,
            position_ids=position_ids,
        )
        memory_mask = create_bidirectional_mask(
            config=self.config,
            inputs_embeds=hidden_states,
            attention_mask=memory_attention_mask,
            encoder_hidden_states=memory,
        )
        for layer in self.layers:
            hidden_states = layer(hidden_states, causal_mask, memory, memory_mask, cache=cache, **kwargs)
        return BaseModelOutputWithPastAndCrossAttentions(
            last_hidden_state=self.layer_norm(hidden_states), cache=cache if use_cache else None
        )


@auto_docstring(
    custom_intro="""
    The MMEmbed encoder: audio self-attention, visual->audio and text->audio cross-modal attention, and a per-sample
    weighted sum of the three branches. `pooler_output` is the embedding.
    """
)
class MMEmbedModel(MMEmbedPreTrainedModel):
    def __init__(self, config: MMEmbedConfig):
        super().__init__(config)
        self.audio_encoder = self.text_encoder = None
        speech_model, text_model = build_encoder(config, "audio"), build_encoder(config, "text")
        if speech_model is not None:  # its frames are the audio stream's input frames
            config.audio_feature_size = speech_model.config.hidden_size
            self.audio_encoder = MMEmbedSpeechEncoder(config, speech_model)
        if text_model is not None:  # its token states are the text stream's vectors
            config.text_feature_size, config.text_vocab_size = text_model.config.hidden_size, None
            self.text_encoder = MMEmbedTextEncoder(config, text_model)
        self.audio_embedding = MMEmbedAudioEmbedding(config)
        self.audio_layers = nn.ModuleList(MMEmbedEncoderLayer(config) for _ in range(config.num_audio_layers))
        self.audio_layer_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.source_embeddings = nn.ModuleDict(
            {modality: MMEmbedSourceEmbedding(config, modality) for modality in config.source_modalities}
        )
        self.cross_modal_encoders = nn.ModuleDict(
            {modality: MMEmbedCrossModalEncoder(config) for modality in config.source_modalities}
        )
        self.source_encoders = None
        if config.num_source_layers:
            self.source_encoders = nn.ModuleDict(
                {
                    modality: MMEmbedSelfAttentionStack(config, config.num_source_layers)
                    for modality in config.source_modalities
                }
            )
        self.fusion_encoder = (
            MMEmbedSelfAttentionStack(config, config.num_fusion_layers) if config.num_fusion_layers else None
        )
        self.pooler = MMEmbedAttentionPooling(config) if config.pooling == "attention" else None
        self.modality_logits = None
        if config.learn_modality_weights:
            self.modality_logits = nn.Parameter(torch.zeros(len(config.modalities)))
        self.post_init()

    @capture_outputs(tie_last_hidden_states=False)
    @auto_docstring(custom_args=MODALITY_INPUTS_DOCSTRING)
    def forward(
        self,
        input_features: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        visual_features: torch.Tensor | None = None,
        visual_attention_mask: torch.Tensor | None = None,
        text_features: torch.Tensor | None = None,
        text_input_ids: torch.Tensor | None = None,
        text_attention_mask: torch.Tensor | None = None,
        input_values: torch.Tensor | None = None,
        **kwargs: Unpack[TransformersKwargs],
    ) -> MMEmbedModelOutput:
        input_features, attention_mask = self.audio_frames(input_features, input_values, attention_mask)
        text_features, text_input_ids = self.text_vectors(text_features, text_input_ids, text_attention_mask)
        given = {
            "input_features": input_features,
            "attention_mask": attention_mask,
            "visual_features": visual_features,
            "visual_attention_mask": visual_attention_mask,
            "text_features": text_features,
            "text_input_ids": text_input_ids,
            "text_attention_mask": text_attention_mask,
        }
        inputs = check_encoder_inputs(self.config, given, dtype=self.dtype)
        audio = inputs.pop("audio")
        audio.values = self.mask_input_features(audio.values, audio.attention_mask)
        audio_states, audio_mask = self.encode_audio(audio, **kwargs)

        branches = {"audio": audio_states}
        presence = {"audio": torch.ones_like(audio_mask[:, 0])}
        for modality, source in inputs.items():
            branches[modality], presence[modality] = self.fuse_source(
                modality, audio_states, audio_mask, source, **kwargs
            )
            if self.training and self.config.modality_dropout > 0:
                kept = torch.rand(presence[modality].shape, device=audio_mask.device) >= self.config.modality_dropout
                presence[modality] = presence[modality] & kept

        fused, weights = self.weighted_sum(branches, presence, audio_mask)
        if self.fusion_encoder is not None:
            fused = self.fusion_encoder(fused, audio_mask, **kwargs) * audio_mask[..., None].to(fused.dtype)
        pooled = self.pool(fused, audio_mask)
        return MMEmbedModelOutput(
            last_hidden_state=fused,
            pooler_output=pooled,
            audio_hidden_state=audio_states,
            visual_hidden_state=branches.get("visual"),
            text_hidden_state=branches.get("text"),
            attention_mask=audio_mask,
            modality_weights=self.expand_to_all_modalities(weights, list(branches)),
        )

    def audio_frames(
        self,
        input_features: torch.Tensor | None,
        input_values: torch.Tensor | None,
        attention_mask: torch.Tensor | None,
    ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """
        The audio stream's input frames and their mask: `input_features` as given, or with a pretrained speech encoder
        its 50 Hz frames `(batch_size, frames, encoder_hidden_size)` of `input_values` `(batch_size, samples)`.
        """
        if self.audio_encoder is None:
            if input_values is not None:
                raise ValueError(
                    "input_values (a raw waveform) are read by a model with a pretrained speech encoder "
                    "(config.audio_encoder); this one reads fbank input_features (its feature extractor makes them)."
                )
            return input_features, attention_mask
        if input_features is not None or input_values is None:
            raise ValueError(
                "This model reads the raw 16 kHz waveform through its speech encoder (config.audio_encoder="
                f"{self.config.audio_encoder_name_or_path or self.config.audio_encoder.get('model_type')!r}): pass "
                "input_values (batch_size, samples) and their attention_mask, not input_features."
            )
        samples, mask = check_waveform_input(input_values, attention_mask, dtype=self.dtype)
        return self.audio_encoder(samples, mask)

    def text_vectors(
        self, text_features: torch.Tensor | None, text_input_ids: torch.Tensor | None, text_attention_mask
    ) -> tuple[torch.Tensor | None, None]:
        """
        With a pretrained text encoder, its states `(batch_size, tokens, encoder_hidden_size)` of `text_input_ids`
        (ids of its tokenizer) as the text stream's vectors; the text inputs as given otherwise.
        """
        if self.text_encoder is None:
            return text_features, text_input_ids
        if text_features is not None:
            raise ValueError(
                "This model reads text through its text encoder (config.text_encoder): pass text_input_ids of its "
                "tokenizer and text_attention_mask, not text_features."
            )
        if text_input_ids is None:
            return None, None
        check_token_ids("text_input_ids (text)", text_input_ids, self.text_encoder.model.config.vocab_size)
        mask = text_attention_mask if text_attention_mask is not None else torch.ones_like(text_input_ids)
        return self.text_encoder(text_input_ids, mask), None

    def pool(self, hidden_states: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """
        `(batch_size, audio_length, hidden_size)` states -> `(batch_size, hidden_size)` embedding over the real frames
        of `attention_mask` `(batch_size, audio_length)`, as `config.pooling` says.
        """
        return (
            masked_mean(hidden_states, attention_mask)
            if self.pooler is None
            else self.pooler(hidden_states, attention_mask)
        )

    def mask_input_features(self, input_features: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """
        SpecAugment of the audio frames `(batch_size, length, feature_size)` in training mode when
        `config.apply_spec_augment` (as Whisper): time masks placed within each sample's real frames (`attention_mask`
        `(batch_size, length)`, whose lengths are read on the host, as transformers' `_compute_mask_indices` does) and
        feature-bin masks, set to 0. Unchanged otherwise.
        """
        config = self.config
        if not (config.apply_spec_augment and self.training):
            return input_features
        batch_size, length, feature_size = input_features.shape
        if config.mask_time_prob > 0:
            time_mask = _compute_mask_indices(
                (batch_size, length),
                mask_prob=config.mask_time_prob,
                mask_length=config.mask_time_length,
                attention_mask=attention_mask,
                min_masks=config.mask_time_min_masks,
            )
            time_mask = torch.from_numpy(time_mask).to(input_features.device)
            input_features = input_features.masked_fill(time_mask[:, :, None], 0.0)
        if config.mask_feature_prob > 0:
            feature_mask = _compute_mask_indices(
                (batch_size, feature_size),
                mask_prob=config.mask_feature_prob,
                mask_length=config.mask_feature_length,
                min_masks=config.mask_feature_min_masks,
            )
            feature_mask = torch.from_numpy(feature_mask).to(input_features.device)
            input_features = input_features.masked_fill(feature_mask[:, None, :], 0.0)
        return input_features

    def encode_audio(
        self, audio: ModalityInput, **kwargs: Unpack[TransformersKwargs]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """
        Audio frames -> subsampled self-attended states `(batch_size, audio_length, hidden_size)` and their mask
        `(batch_size, audio_length)`.
        """
        hidden_states, audio_mask = self.audio_embedding(audio.values, audio.attention_mask)
        self_attention_mask = create_bidirectional_mask(
            config=self.config, inputs_embeds=hidden_states, attention_mask=audio_mask
        )
        for layer in self.audio_layers:
            hidden_states = layer(hidden_states, self_attention_mask, **kwargs)
        return self.audio_layer_norm(hidden_states), audio_mask

    def fuse_source(
        self,
        modality: str,
        audio_states: torch.Tensor,
        audio_mask: torch.Tensor,
        source: ModalityInput,
        **kwargs: Unpack[TransformersKwargs],
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """
        The `modality`-fused branch `(batch_size, audio_length, hidden_size)` and which samples have that modality
        `(batch_size,)` (bool); `audio_mask` `(batch_size, audio_length)` places the source frames in time when
        `config.source_positions` is `"aligned"`. Samples without it attend to all their (ignored) frames so that no
        attention row is empty; their branch gets weight 0.
        """
        present = source.attention_mask.any(dim=-1)
        attendable = source.attention_mask | ~present[:, None]
        positions = None
        if self.config.source_positions == "aligned":
            positions = aligned_positions(source.attention_mask, audio_mask)
        source_states = self.source_embeddings[modality](source.values, source.attention_mask, positions)
        if self.source_encoders is not None:
            source_states = self.source_encoders[modality](source_states, attendable, **kwargs)
        if self.config.cross_modal_locality > 0:
            cross_attention_mask = locality_bias(positions, attendable, audio_states, self.config.cross_modal_locality)
        else:
            cross_attention_mask = create_bidirectional_mask(
                config=self.config,
                inputs_embeds=audio_states,
                attention_mask=attendable,
                encoder_hidden_states=source_states,
            )
        branch = self.cross_modal_encoders[modality](audio_states, source_states, cross_attention_mask, **kwargs)
        return branch, present

    def weighted_sum(
        self, branches: dict[str, torch.Tensor], presence: dict[str, torch.Tensor], audio_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """
        Per-sample weighted sum of `(batch_size, audio_length, hidden_size)` branches -> (`(batch_size, audio_length,
        hidden_size)`, zero at padded audio frames; weights `(batch_size, len(branches))`): each branch gets its
        configured weight where the sample has that modality (`presence`, `(batch_size,)` bool), renormalised to sum to
        1.
        """
        if self.modality_logits is None:
            configured = torch.tensor(
                [self.config.modality_weights[modality] for modality in branches],
                device=audio_mask.device,
                dtype=self.dtype,
            )
        else:  # learned: exp of the logits, renormalised below (a softmax over the sample's modalities)
            indices = [self.config.modalities.index(modality) for modality in branches]
            configured = self.modality_logits[indices].exp().to(self.dtype)
        weights = configured * torch.stack([presence[modality] for modality in branches], dim=-1).to(configured.dtype)
        weights = weights / weights.sum(dim=-1, keepdim=True)
        fused = sum(weights[:, index, None, None] * branch for index, branch in enumerate(branches.values()))
        return fused * audio_mask[..., None].to(fused.dtype), weights

    def expand_to_all_modalities(self, weights: torch.Tensor, present: list[str]) -> torch.Tensor:
        """
        Scatter `(batch_size, len(present))` weights into `(batch_size, len(config.modalities))`, zero for absent
        modalities.
        """
        expanded = weights.new_zeros(weights.shape[0], len(self.config.modalities))
        for index, modality in enumerate(present):
            expanded[:, self.config.modalities.index(modality)] = weights[:, index]
        return expanded


def asr_memory(encoder: MMEmbedModel, encoder_output: MMEmbedModelOutput) -> tuple[torch.Tensor, torch.Tensor]:
    """
    The ASR decoder's memory `(batch_size, audio_length, hidden_size)` and mask `(batch_size, audio_length)` from an
    encoder output: the audio branch, fused with the visual branch (configured weights, renormalised per sample) when
    `config.asr_memory` is `"audio+visual"` and the sample has video. The text branch never enters: in pre-training the
    text can be the very transcript to predict.
    """
    audio_mask = encoder_output.attention_mask
    branches = {"audio": encoder_output.audio_hidden_state}
    presence = {"audio": torch.ones_like(audio_mask[:, 0])}
    if encoder.config.asr_memory == "audio+visual" and encoder_output.visual_hidden_state is not None:
        branches["visual"] = encoder_output.visual_hidden_state
        presence["visual"] = encoder_output.modality_weights[:, encoder.config.modalities.index("visual")] > 0
    memory, _ = encoder.weighted_sum(branches, presence, audio_mask)
    return memory, audio_mask


ENCODER_GENERATE_INPUTS = tuple(
    name
    for modality in ("audio", "visual")
    for name in (MODALITY_INPUTS[modality].values_name, MODALITY_INPUTS[modality].mask_name)
)
"""The inputs of the ASR memory (audio and video, never text), which `generate()` hands to `get_encoder()`."""


class MMEmbedASREncoder(nn.Module):
    """
    What [`MMEmbedForPreTraining.get_encoder`] returns: the shared encoder run on audio (and video), producing exactly
    the decoder's memory. `generate()` calls it once per input; it takes no text.
    """

    def __init__(self, encoder: MMEmbedModel):
        super().__init__()
        self.encoder = encoder

    def forward(
        self,
        input_features: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        visual_features: torch.Tensor | None = None,
        visual_attention_mask: torch.Tensor | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool = True,
        input_values: torch.Tensor | None = None,
    ) -> MMEmbedASRMemoryOutput:
        if self.encoder.config.asr_memory == "audio":
            visual_features = visual_attention_mask = None
        encoder_output = self.encoder(
            input_features,
            attention_mask=attention_mask,
            visual_features=visual_features,
            visual_attention_mask=visual_attention_mask,
            input_values=input_values,
            output_attentions=output_attentions,
            output_hidden_states=output_hidden_states,
        )
        memory, memory_mask = asr_memory(self.encoder, encoder_output)
        return MMEmbedASRMemoryOutput(
            last_hidden_state=memory,
            attention_mask=memory_mask,
            hidden_states=encoder_output.hidden_states,
            attentions=encoder_output.attentions,
        )


class MMEmbedClassificationHead(nn.Module):
    """Embedding `(batch_size, hidden_size)` -> logits `(batch_size, num_labels)` through one hidden layer."""

    def __init__(self, config: MMEmbedConfig):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.activation = ACT2FN[config.hidden_act]
        self.dropout = nn.Dropout(config.classifier_dropout)
        self.out_proj = nn.Linear(config.hidden_size, config.num_labels)

    def forward(self, embeddings: torch.Tensor) -> torch.Tensor:
        hidden = self.dropout(self.activation(self.dense(self.dropout(embeddings))))
        return self.out_proj(hidden)


@auto_docstring(
    custom_intro="""
    MMEmbed with an emotion-recognition head over the pooled embedding. By default six CMU-MOSEI emotions as a
    multi-label problem (BCE with logits, optional per-class `pos_weight`); `num_labels=1` gives sentiment regression
    and `problem_type="single_label_classification"` a softmax classifier.
    """
)
class MMEmbedForEmotionRecognition(MMEmbedPreTrainedModel):
    accepts_loss_kwargs = False  # per-example losses: `Trainer` must not pass `num_items_in_batch`

    def __init__(self, config: MMEmbedConfig):
        super().__init__(config)
        self.mmembed = MMEmbedModel(config)
        self.classifier = MMEmbedClassificationHead(config)
        self.post_init()
        if config.freeze_encoder:
            self.mmembed.requires_grad_(False)

    @can_return_tuple
    @auto_docstring(custom_args=MODALITY_INPUTS_DOCSTRING + EMOTION_LABELS_DOCSTRING)
    def forward(
        self,
        input_features: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        visual_features: torch.Tensor | None = None,
        visual_attention_mask: torch.Tensor | None = None,
        text_features: torch.Tensor | None = None,
        text_input_ids: torch.Tensor | None = None,
        text_attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        input_values: torch.Tensor | None = None,
        **kwargs: Unpack[TransformersKwargs],
    ) -> MMEmbedEmotionOutput:
        outputs = self.mmembed(
            input_features,
            attention_mask=attention_mask,
            visual_features=visual_features,
            visual_attention_mask=visual_attention_mask,
            text_features=text_features,
            text_input_ids=text_input_ids,
            text_attention_mask=text_attention_mask,
            input_values=input_values,
            **kwargs,
        )
        logits = self.classifier(outputs.pooler_output)
        loss = None
        if labels is not None:
            loss = self.emotion_loss(logits, labels)
            if self.training and self.config.branch_loss_weight > 0:
                loss = loss + self.config.branch_loss_weight * self.branch_loss(outputs, labels)
        return MMEmbedEmotionOutput(
            loss=loss,
            logits=logits,
            pooler_output=outputs.pooler_output,
            hidden_states=outputs.hidden_states,
            attentions=outputs.attentions,
            cross_attentions=outputs.cross_attentions,
        )

    def emotion_loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """The loss the config's `problem_type` asks for; `labels` are validated first."""
        labels = check_emotion_labels(self.config, labels, batch_size=logits.shape[0]).to(logits.device)
        if self.config.problem_type == "multi_label_classification":
            pos_weight = None
            if self.config.pos_weight is not None:
                pos_weight = torch.tensor(self.config.pos_weight, device=logits.device, dtype=logits.dtype)
            return nn.functional.binary_cross_entropy_with_logits(
                logits, labels.to(logits.dtype), pos_weight=pos_weight
            )
        if self.config.problem_type == "single_label_classification":
            return nn.functional.cross_entropy(logits, labels)
        return nn.functional.mse_loss(logits.view(-1), labels.view(-1).to(logits.dtype))

    def branch_loss(self, outputs: MMEmbedModelOutput, labels: torch.Tensor) -> torch.Tensor:
        """
        The mean over the source branches (visual, text) of the emotion loss of each branch's pooled states
        `(batch_size, audio_length, hidden_size)` through the same head, over the samples that have that modality
        (`config.branch_loss_weight`).
        """
        losses = []
        for modality in self.config.source_modalities:
            states = getattr(outputs, f"{modality}_hidden_state")
            if states is None:
                continue
            present = outputs.modality_weights[:, self.config.modalities.index(modality)] > 0
            if present.any():
                pooled = self.mmembed.pool(states[present], outputs.attention_mask[present])
                losses.append(self.emotion_loss(self.classifier(pooled), labels[present]))
        return torch.stack(losses).mean() if losses else outputs.pooler_output.new_zeros(())

    def apply_thresholds(self, logits: torch.Tensor) -> torch.Tensor:
        """
        Multi-label decisions `(batch_size, num_labels)` (bool): sigmoid probability >= the config's per-class
        threshold.
        """
        if self.config.problem_type != "multi_label_classification":
            raise ValueError(f"Thresholds apply to multi-label heads; this head is {self.config.problem_type!r}.")
        thresholds = torch.tensor(self.config.thresholds, device=logits.device, dtype=torch.float32)
        return torch.sigmoid(logits.float()) >= thresholds


@auto_docstring(
    custom_intro="""
    MMEmbed pre-training: the encoder trained on automatic speech recognition (a character-level transformer decoder
    over the audio(+visual) memory, optionally with a CTC head) and person identification (a linear layer over the
    pooled embedding) at once. Supports `generate()` (greedy and beam search with a key/value cache).
    """
)
class MMEmbedForPreTraining(MMEmbedPreTrainedModel, GenerationMixin):
    accepts_loss_kwargs = True  # token-level losses take `num_items_in_batch` from `Trainer`
    is_encoder_decoder_model = True
    _tied_weights_keys = {"lm_head.weight": "decoder.embed_tokens.weight"}

    def __init__(self, config: MMEmbedConfig):
        if config.num_speakers is None:
            raise ValueError(
                "MMEmbedConfig.num_speakers: the person-identification head needs the number of training speakers; "
                "set num_speakers."
            )
        super().__init__(config)
        self.mmembed = MMEmbedModel(config)
        self.decoder = MMEmbedDecoder(config)
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        self.speaker_classifier = nn.Linear(config.hidden_size, config.num_speakers)
        self.ctc_head = nn.Linear(config.hidden_size, config.vocab_size) if config.ctc_loss_weight > 0 else None
        self.post_init()
        # the decoder holds max_target_positions tokens, the start token included
        self.generation_config.max_new_tokens = config.max_target_positions - 1
        # joint CTC/attention decoding by default, with the CTC share of training (`generate(ctc_weight=0)`: off)
        self.generation_config.ctc_weight = config.ctc_loss_weight if self.ctc_head is not None else 0.0
        self.generation_config._from_model_config = False  # else loading drops `ctc_weight`, a field of our own

    def get_encoder(self, modality: str | None = None) -> MMEmbedASREncoder:
        """The module that produces the decoder's memory (audio, optionally fused with video; never text)."""
        return MMEmbedASREncoder(self.mmembed)

    def get_input_embeddings(self) -> nn.Embedding:
        return self.decoder.embed_tokens

    def set_input_embeddings(self, value: nn.Embedding) -> None:
        self.decoder.embed_tokens = value

    def get_output_embeddings(self) -> nn.Linear:
        return self.lm_head

    def set_output_embeddings(self, value: nn.Linear) -> None:
        self.lm_head = value

    @deprecate_kwarg("past_key_values", "5.40.0", new_name="cache")
    @can_return_tuple
    @auto_docstring(custom_args=MODALITY_INPUTS_DOCSTRING + PRETRAINING_INPUTS_DOCSTRING)
    def forward(
        self,
        input_features: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        visual_features: torch.Tensor | None = None,
        visual_attention_mask: torch.Tensor | None = None,
        text_features: torch.Tensor | None = None,
        text_input_ids: torch.Tensor | None = None,
        text_attention_mask: torch.Tensor | None = None,
        decoder_input_ids: torch.LongTensor | None = None,
        decoder_attention_mask: torch.Tensor | None = None,
        encoder_outputs: MMEmbedASRMemoryOutput | None = None,
        cache: EncoderDecoderCache | None = None,
        use_cache: bool | None = None,
        labels: torch.LongTensor | None = None,
        speaker_labels: torch.LongTensor | None = None,
        input_values: torch.Tensor | None = None,
        **kwargs: Unpack[TransformersKwargs],
    ) -> MMEmbedPreTrainingOutput:
        num_items_in_batch = kwargs.pop("num_items_in_batch", None)
        batch_size = self._batch_size(input_values if input_features is None else input_features, encoder_outputs)
        if labels is not None:
            check_asr_labels(self.config, labels, batch_size)
            if decoder_input_ids is None:
                decoder_input_ids = shift_tokens_right(
                    labels, self.config.pad_token_id, self.config.decoder_start_token_id
                )
        if speaker_labels is not None:
            check_speaker_labels(self.config, speaker_labels, batch_size)
        if decoder_input_ids is not None:
            check_token_ids("decoder_input_ids", decoder_input_ids, self.config.vocab_size, batch_size)

        encoder_output = None
        if encoder_outputs is None:
            encoder_output = self.mmembed(
                input_features,
                attention_mask=attention_mask,
                visual_features=visual_features,
                visual_attention_mask=visual_attention_mask,
                text_features=text_features,
                text_input_ids=text_input_ids,
                text_attention_mask=text_attention_mask,
                input_values=input_values,
                **kwargs,
            )
            memory, memory_mask = asr_memory(self.mmembed, encoder_output)
        else:
            memory, memory_mask = encoder_outputs.last_hidden_state, encoder_outputs.attention_mask

        decoder_output = None
        if decoder_input_ids is not None:
            decoder_output = self.decoder(
                decoder_input_ids,
                memory,
                memory_attention_mask=memory_mask,
                attention_mask=decoder_attention_mask,
                cache=cache,
                use_cache=use_cache,
                **kwargs,
            )
        logits = self.lm_head(decoder_output.last_hidden_state) if decoder_output is not None else None
        speaker_logits = self.speaker_classifier(encoder_output.pooler_output) if encoder_output is not None else None

        losses = self.pretraining_losses(
            logits, labels, memory, memory_mask, speaker_logits, speaker_labels, num_items_in_batch
        )
        return MMEmbedPreTrainingOutput(
            **losses,
            logits=logits,
            speaker_logits=speaker_logits,
            cache=decoder_output.cache if decoder_output is not None else None,
            pooler_output=encoder_output.pooler_output if encoder_output is not None else None,
            encoder_last_hidden_state=memory,
            encoder_attention_mask=memory_mask,
            decoder_hidden_states=decoder_output.hidden_states if decoder_output is not None else None,
            decoder_attentions=decoder_output.attentions if decoder_output is not None else None,
            cross_attentions=decoder_output.cross_attentions if decoder_output is not None else None,
            encoder_hidden_states=encoder_output.hidden_states if encoder_output is not None else None,
            encoder_attentions=encoder_output.attentions if encoder_output is not None else None,
        )

    @torch.no_grad()
    def generate(
        self,
        inputs: torch.Tensor | None = None,
        generation_config=None,
        logits_processor: LogitsProcessorList | None = None,
        ctc_weight: float | None = None,
        **kwargs,
    ):
        r"""
        [`GenerationMixin.generate`] with joint CTC/attention decoding: with `ctc_weight > 0` (default:
        `generation_config.ctc_weight`, the CTC share of training) each step adds the CTC head's prefix score
        ([`MMEmbedCTCPrefixScorer`]) to the decoder's; `ctc_weight=0` decodes with the attention decoder alone.
        Takes the inputs of [`MMEmbedASREncoder`] (`input_features` `(batch_size, length, feature_size)`,
        `attention_mask`, video) or `encoder_outputs`.
        """
        settings = generation_config or self.generation_config
        if ctc_weight is None:
            ctc_weight = getattr(settings, "ctc_weight", 0.0) or 0.0
        if not 0.0 <= ctc_weight <= 1.0:
            raise ValueError(
                f"ctc_weight is the CTC share of the joint score and must lie in [0, 1]; got {ctc_weight}."
            )
        if ctc_weight > 0:
            if self.ctc_head is None:
                raise ValueError(
                    f"ctc_weight={ctc_weight} needs a CTC head; this model was built with ctc_loss_weight=0."
                )
            if kwargs.get("encoder_outputs") is None:
                encoder_inputs = {name: kwargs.pop(name, None) for name in ENCODER_GENERATE_INPUTS}
                if inputs is not None:
                    encoder_inputs["input_features"] = inputs
                kwargs["encoder_outputs"], inputs = self.get_encoder()(**encoder_inputs), None
            memory = kwargs["encoder_outputs"]
            scorer = MMEmbedCTCPrefixScorer(
                self.ctc_head(memory.last_hidden_state).float().log_softmax(dim=-1),
                memory.attention_mask.bool(),
                ctc_weight,
                blank_token_id=self.config.pad_token_id,
                eos_token_id=kwargs.get("eos_token_id", settings.eos_token_id),
                never_emitted=[self.config.pad_token_id, self.config.bos_token_id],
            )
            logits_processor = LogitsProcessorList([*(logits_processor or []), scorer])
        return super().generate(inputs, generation_config, logits_processor, **kwargs)

    def _batch_size(self, audio: torch.Tensor | None, encoder_outputs: MMEmbedASRMemoryOutput | None) -> int:
        """The batch size of the audio given (`input_features`, or `input_values` with a speech encoder)."""
        if encoder_outputs is not None:
            return encoder_outputs.last_hidden_state.shape[0]
        if audio is None:
            raise ValueError(
                f"{self.config.input_name('audio')} (audio) is required: the audio stream is the query of every "
                "branch."
            )
        return audio.shape[0]

    def pretraining_losses(
        self,
        logits: torch.Tensor | None,
        labels: torch.Tensor | None,
        memory: torch.Tensor,
        memory_mask: torch.Tensor,
        speaker_logits: torch.Tensor | None,
        speaker_labels: torch.Tensor | None,
        num_items_in_batch: int | torch.Tensor | None,
    ) -> dict[str, torch.Tensor | None]:
        """Each loss component whose labels are given, and their weighted total (`loss`)."""
        config = self.config
        losses = {"loss": None, "asr_loss": None, "ctc_loss": None, "speaker_loss": None}
        weighted = []
        if labels is not None:
            losses["asr_loss"] = token_cross_entropy(logits, labels, config.label_smoothing, num_items_in_batch)
            asr = losses["asr_loss"]
            if self.ctc_head is not None:
                losses["ctc_loss"] = self.ctc_loss(memory, memory_mask, labels, num_items_in_batch)
                asr = (1 - config.ctc_loss_weight) * asr + config.ctc_loss_weight * losses["ctc_loss"]
            weighted.append(config.asr_loss_weight * asr)
        if speaker_labels is not None:
            if speaker_logits is None:
                raise ValueError("speaker_labels need the encoder to run: do not pass encoder_outputs with them.")
            losses["speaker_loss"] = nn.functional.cross_entropy(speaker_logits.float(), speaker_labels)
            weighted.append(config.speaker_loss_weight * losses["speaker_loss"])
        if weighted:
            losses["loss"] = sum(weighted)
        return losses

    def ctc_loss(
        self,
        memory: torch.Tensor,
        memory_mask: torch.Tensor,
        labels: torch.Tensor,
        num_items_in_batch: int | torch.Tensor | None,
    ) -> torch.Tensor:
        """
        CTC of the memory `(batch_size, audio_length, hidden_size)` against the transcript's characters (no specials;
        blank = pad), per token.
        """
        special = torch.tensor(
            [self.config.pad_token_id, self.config.bos_token_id, self.config.eos_token_id], device=labels.device
        )
        is_target = (labels != -100) & ~torch.isin(labels, special)
        input_lengths = memory_mask.sum(dim=-1)
        target_lengths = is_target.sum(dim=-1)
        check_ctc_lengths(labels, is_target, input_lengths)
        log_probs = self.ctc_head(memory).float().log_softmax(dim=-1).transpose(0, 1)
        total = nn.functional.ctc_loss(
            log_probs,
            labels[is_target],
            input_lengths,
            target_lengths,
            blank=self.config.pad_token_id,
            reduction="sum",
            zero_infinity=False,
        )
        return total / token_count(labels, num_items_in_batch, total.device)


MMEmbedModel.register_for_auto_class("AutoModel")
MMEmbedForEmotionRecognition.register_for_auto_class("AutoModelForAudioClassification")
MMEmbedForPreTraining.register_for_auto_class("AutoModelForPreTraining")


__all__ = [
    "MMEmbedASRMemoryOutput",
    "MMEmbedForPreTraining",
    "MMEmbedPreTrainingOutput",
    "MMEmbedEmotionOutput",
    "MMEmbedForEmotionRecognition",
    "MMEmbedModel",
    "MMEmbedModelOutput",
    "MMEmbedPreTrainedModel",
]
