# Copyright 2026 The mmembed authors. Licensed under the Apache License, Version 2.0.
"""MMEmbed: a multimodal (audio, visual, text) embedding encoder and its emotion-recognition head."""

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn
from transformers import PreTrainedModel
from transformers.activations import ACT2FN
from transformers.masking_utils import create_bidirectional_mask
from transformers.modeling_layers import GradientCheckpointingLayer
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS
from transformers.processing_utils import Unpack
from transformers.utils import ModelOutput, TransformersKwargs, auto_docstring
from transformers.utils.generic import can_return_tuple
from transformers.utils.output_capturing import OutputRecorder, capture_outputs

from .configuration_mmembed import INPUT_LAYER_FIELDS, MMEmbedConfig
from .input_validation_mmembed import ModalityInput, validate_emotion_labels, validate_encoder_inputs


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
        The weight each branch received for each sample, after renormalising over the modalities it has.
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
        Token ids when the config sets `text_vocab_size`.
    text_attention_mask (`torch.Tensor` of shape `(batch_size, text_length)`, *optional*):
        1 for real words; an all-zero row marks a sample without text.
"""

EMOTION_LABELS_DOCSTRING = r"""
    labels (`torch.Tensor`, *optional*):
        Multi-label: `(batch_size, num_labels)` presence in {0, 1} (or soft targets in [0, 1]). Single-label:
        `(batch_size,)` class indices. Regression: `(batch_size,)` or `(batch_size, 1)` values.
"""


def sinusoidal_positions(length: int, hidden_size: int, device: torch.device) -> torch.Tensor:
    """Fixed sinusoidal position table `[length, hidden_size]` (sines then cosines), valid for any length."""
    half = hidden_size // 2
    inverse_frequency = torch.exp(-math.log(10000.0) * torch.arange(half, device=device, dtype=torch.float32) / half)
    angles = torch.arange(length, device=device, dtype=torch.float32)[:, None] * inverse_frequency[None, :]
    return torch.cat([angles.sin(), angles.cos()], dim=-1)


class MMEmbedPositionalDropout(nn.Module):
    """Adds sinusoidal positions to `[batch, time, hidden]` states and applies dropout."""

    def __init__(self, config: MMEmbedConfig):
        super().__init__()
        self.dropout = nn.Dropout(config.hidden_dropout)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        positions = sinusoidal_positions(hidden_states.shape[1], hidden_states.shape[2], hidden_states.device)
        return self.dropout(hidden_states + positions.to(hidden_states.dtype))


class MMEmbedAudioSubsampler(nn.Module):
    """
    Strided 1-D convolutions (kernel 3, stride 2, one per factor of two) from `[batch, time, audio_feature_size]` to
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
        """`input_features` `[B, T, D]`, `attention_mask` `[B, T]` bool -> states `[B, T', H]`, mask `[B, T']`."""
        hidden_states = input_features.transpose(1, 2)
        for conv in self.convs:
            hidden_states = hidden_states * attention_mask[:, None, :].to(hidden_states.dtype)
            hidden_states = self.activation(conv(hidden_states))
            attention_mask = attention_mask[:, :: conv.stride[0]]
        hidden_states = hidden_states * attention_mask[:, None, :].to(hidden_states.dtype)
        return hidden_states.transpose(1, 2), attention_mask


class MMEmbedAudioEmbedding(nn.Module):
    """Audio frames `[B, T, audio_feature_size]` -> subsampled, position-aware states `[B, T', hidden_size]`."""

    def __init__(self, config: MMEmbedConfig):
        super().__init__()
        self.subsampler = MMEmbedAudioSubsampler(config)
        self.positions = MMEmbedPositionalDropout(config)

    def forward(self, input_features: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        hidden_states, attention_mask = self.subsampler(input_features, attention_mask)
        return self.positions(hidden_states), attention_mask


class MMEmbedSourceEmbedding(nn.Module):
    """
    A visual or text stream `[B, T, feature_size]` (or text token ids `[B, T]`) -> `[B, T, hidden_size]`: a linear
    projection (or token embedding) plus sinusoidal positions.
    """

    def __init__(self, config: MMEmbedConfig, modality: str):
        super().__init__()
        if modality == "text" and config.text_uses_token_ids:
            self.input_layer = nn.Embedding(config.text_vocab_size, config.hidden_size)
        else:
            feature_size = config.visual_feature_size if modality == "visual" else config.text_feature_size
            self.input_layer = nn.Linear(feature_size, config.hidden_size)
        self.positions = MMEmbedPositionalDropout(config)

    def forward(self, values: torch.Tensor) -> torch.Tensor:
        return self.positions(self.input_layer(values))


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
    """Softmax attention: `query` `[B, heads, Tq, d]`, `key`/`value` `[B, heads, Tk, d]` -> `[B, Tq, heads, d]`."""
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
    """

    def __init__(self, config: MMEmbedConfig):
        super().__init__()
        self.config = config
        self.head_dim = config.hidden_size // config.num_attention_heads
        self.scaling = self.head_dim**-0.5
        self.attention_dropout = config.attention_dropout
        self.is_causal = False
        self.q_proj = nn.Linear(config.hidden_size, config.hidden_size)
        self.k_proj = nn.Linear(config.hidden_size, config.hidden_size)
        self.v_proj = nn.Linear(config.hidden_size, config.hidden_size)
        self.o_proj = nn.Linear(config.hidden_size, config.hidden_size)

    def forward(
        self,
        hidden_states: torch.Tensor,
        key_value_states: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        **kwargs: Unpack[TransformersKwargs],
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """`hidden_states` `[B, Tq, H]`, `key_value_states` `[B, Tk, H]` -> output `[B, Tq, H]` and weights."""
        key_value_states = hidden_states if key_value_states is None else key_value_states
        query_states = self._split_heads(self.q_proj(hidden_states))
        key_states = self._split_heads(self.k_proj(key_value_states))
        value_states = self._split_heads(self.v_proj(key_value_states))

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

    def _split_heads(self, states: torch.Tensor) -> torch.Tensor:
        """`[B, T, H]` -> `[B, heads, T, head_dim]`."""
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
    """Pre-norm audio self-attention layer: `[B, T, H]` -> `[B, T, H]`."""

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
    Pre-norm cross-modal layer: the audio stream `[B, Ta, H]` queries a source modality `[B, Ts, H]` (its keys and
    values) and is updated residually; returns `[B, Ta, H]`.
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
        **kwargs: Unpack[TransformersKwargs],
    ) -> torch.Tensor:
        attended, _ = self.cross_attn(
            self.query_layer_norm(hidden_states),
            key_value_states=self.source_layer_norm(source_states),
            attention_mask=source_attention_mask,
            **kwargs,
        )
        return self.feed_forward(hidden_states + self.dropout(attended))


class MMEmbedCrossModalEncoder(nn.Module):
    """Fuses one source modality into the audio stream: `[B, Ta, H]` x `[B, Ts, H]` -> `[B, Ta, H]`."""

    def __init__(self, config: MMEmbedConfig):
        super().__init__()
        self.layers = nn.ModuleList(MMEmbedCrossModalLayer(config) for _ in range(config.num_cross_modal_layers))
        self.layer_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(
        self,
        audio_states: torch.Tensor,
        source_states: torch.Tensor,
        source_attention_mask: torch.Tensor | None,
        **kwargs: Unpack[TransformersKwargs],
    ) -> torch.Tensor:
        hidden_states = audio_states
        for layer in self.layers:
            hidden_states = layer(hidden_states, source_states, source_attention_mask, **kwargs)
        return self.layer_norm(hidden_states)


@auto_docstring
class MMEmbedPreTrainedModel(PreTrainedModel):
    config: MMEmbedConfig
    base_model_prefix = "mmembed"
    main_input_name = "input_features"
    input_modalities = ("audio", "video", "text")
    supports_gradient_checkpointing = True
    _no_split_modules = ["MMEmbedEncoderLayer", "MMEmbedCrossModalLayer"]
    _supports_sdpa = True
    _supports_flash_attn = True
    _supports_attention_backend = True
    _can_record_outputs = {
        "hidden_states": OutputRecorder(MMEmbedEncoderLayer, num_hidden_layers_key="num_audio_layers"),
        "attentions": OutputRecorder(MMEmbedAttention, index=1, layer_name="audio_layers"),
        "cross_attentions": OutputRecorder(MMEmbedAttention, index=1, layer_name="cross_modal_encoders"),
    }

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *model_args, **kwargs):
        """
        As [`~transformers.PreTrainedModel.from_pretrained`], refusing a checkpoint whose input layers (feature sizes,
        audio subsampling, text kind) differ from the requested config unless `ignore_mismatched_sizes=True`.
        """
        if not kwargs.get("ignore_mismatched_sizes", False):
            check_input_layers_match(pretrained_model_name_or_path, kwargs)
        return super().from_pretrained(pretrained_model_name_or_path, *model_args, **kwargs)


HUB_KWARGS = ("cache_dir", "force_download", "local_files_only", "token", "revision", "subfolder")


def check_input_layers_match(pretrained_model_name_or_path, from_pretrained_kwargs: dict) -> None:
    """
    Raise a `ValueError` naming each input-layer field whose saved value differs from the one requested (through
    `config=` or a config keyword argument). A changed `audio_subsampling` changes the convolution stack, which would
    otherwise load silently with missing and unexpected keys.
    """
    hub_kwargs = {key: from_pretrained_kwargs[key] for key in HUB_KWARGS if key in from_pretrained_kwargs}
    saved = MMEmbedConfig.from_pretrained(pretrained_model_name_or_path, **hub_kwargs)
    requested = from_pretrained_kwargs.get("config")
    if not isinstance(requested, MMEmbedConfig):
        requested = None
    mismatches = []
    for field in INPUT_LAYER_FIELDS:
        saved_value = getattr(saved, field)
        wanted = getattr(requested, field) if requested is not None else from_pretrained_kwargs.get(field, saved_value)
        if wanted != saved_value:
            mismatches.append(f"{field}: checkpoint has {saved_value}, requested {wanted}")
    if mismatches:
        raise ValueError(
            f"The checkpoint {pretrained_model_name_or_path} has different input layers than the requested config ("
            + "; ".join(mismatches)
            + "). Its input layers cannot be transferred; pass ignore_mismatched_sizes=True to re-initialise them."
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
        self.audio_embedding = MMEmbedAudioEmbedding(config)
        self.audio_layers = nn.ModuleList(MMEmbedEncoderLayer(config) for _ in range(config.num_audio_layers))
        self.audio_layer_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.source_embeddings = nn.ModuleDict(
            {modality: MMEmbedSourceEmbedding(config, modality) for modality in config.source_modalities}
        )
        self.cross_modal_encoders = nn.ModuleDict(
            {modality: MMEmbedCrossModalEncoder(config) for modality in config.source_modalities}
        )
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
        **kwargs: Unpack[TransformersKwargs],
    ) -> MMEmbedModelOutput:
        inputs = validate_encoder_inputs(
            self.config,
            input_features=input_features,
            attention_mask=attention_mask,
            visual_features=visual_features,
            visual_attention_mask=visual_attention_mask,
            text_features=text_features,
            text_input_ids=text_input_ids,
            text_attention_mask=text_attention_mask,
        )
        audio = inputs.pop("audio")
        audio_states, audio_mask = self.encode_audio(audio, **kwargs)

        branches = {"audio": audio_states}
        presence = {"audio": torch.ones_like(audio_mask[:, 0])}
        for modality, source in inputs.items():
            branches[modality], presence[modality] = self.fuse_source(modality, audio_states, source, **kwargs)

        weights = self.branch_weights(presence)
        fused = sum(weights[:, index, None, None] * branches[m] for index, m in enumerate(branches))
        fused = fused * audio_mask[..., None].to(fused.dtype)
        return MMEmbedModelOutput(
            last_hidden_state=fused,
            pooler_output=masked_mean(fused, audio_mask),
            audio_hidden_state=audio_states,
            visual_hidden_state=branches.get("visual"),
            text_hidden_state=branches.get("text"),
            attention_mask=audio_mask,
            modality_weights=self.expand_to_all_modalities(weights, list(branches)),
        )

    def encode_audio(
        self, audio: ModalityInput, **kwargs: Unpack[TransformersKwargs]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Audio frames -> subsampled self-attended states `[B, T', H]` and their mask `[B, T']`."""
        hidden_states, audio_mask = self.audio_embedding(audio.values, audio.attention_mask)
        self_attention_mask = create_bidirectional_mask(
            config=self.config, inputs_embeds=hidden_states, attention_mask=audio_mask
        )
        for layer in self.audio_layers:
            hidden_states = layer(hidden_states, self_attention_mask, **kwargs)
        return self.audio_layer_norm(hidden_states), audio_mask

    def fuse_source(
        self, modality: str, audio_states: torch.Tensor, source: ModalityInput, **kwargs: Unpack[TransformersKwargs]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """
        The `modality`-fused branch `[B, T', H]` and which samples have that modality `[B]` (bool). Samples without
        it attend to all their (ignored) frames so that no attention row is empty; their branch gets weight 0.
        """
        present = source.attention_mask.any(dim=-1)
        attendable = source.attention_mask | ~present[:, None]
        source_states = self.source_embeddings[modality](source.values)
        cross_attention_mask = create_bidirectional_mask(
            config=self.config,
            inputs_embeds=audio_states,
            attention_mask=attendable,
            encoder_hidden_states=source_states,
        )
        branch = self.cross_modal_encoders[modality](audio_states, source_states, cross_attention_mask, **kwargs)
        return branch, present

    def branch_weights(self, presence: dict[str, torch.Tensor]) -> torch.Tensor:
        """Per-sample branch weights `[B, len(presence)]`: the configured weights of present branches, summing to 1."""
        configured = torch.tensor(
            [self.config.modality_weights[modality] for modality in presence],
            device=presence["audio"].device,
            dtype=self.dtype,
        )
        weights = configured * torch.stack(list(presence.values()), dim=-1).to(configured.dtype)
        return weights / weights.sum(dim=-1, keepdim=True)

    def expand_to_all_modalities(self, weights: torch.Tensor, present: list[str]) -> torch.Tensor:
        """Scatter `[B, len(present)]` weights into `[B, len(config.modalities)]`, zero for absent modalities."""
        expanded = weights.new_zeros(weights.shape[0], len(self.config.modalities))
        for index, modality in enumerate(present):
            expanded[:, self.config.modalities.index(modality)] = weights[:, index]
        return expanded


def masked_mean(hidden_states: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Mean of `[B, T, H]` states over the frames where `attention_mask` `[B, T]` is true -> `[B, H]`."""
    mask = attention_mask[..., None].to(hidden_states.dtype)
    return (hidden_states * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)


class MMEmbedClassificationHead(nn.Module):
    """Embedding `[B, H]` -> logits `[B, num_labels]` through one hidden layer."""

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
            **kwargs,
        )
        logits = self.classifier(outputs.pooler_output)
        loss = self.emotion_loss(logits, labels) if labels is not None else None
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
        labels = validate_emotion_labels(self.config, labels, batch_size=logits.shape[0]).to(logits.device)
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

    def apply_thresholds(self, logits: torch.Tensor) -> torch.Tensor:
        """Multi-label decisions `[B, num_labels]` (bool): sigmoid probability >= the config's per-class threshold."""
        if self.config.problem_type != "multi_label_classification":
            raise ValueError(f"Thresholds apply to multi-label heads; this head is {self.config.problem_type!r}.")
        thresholds = torch.tensor(self.config.thresholds, device=logits.device, dtype=torch.float32)
        return torch.sigmoid(logits.float()) >= thresholds


MMEmbedModel.register_for_auto_class("AutoModel")
MMEmbedForEmotionRecognition.register_for_auto_class("AutoModelForAudioClassification")

__all__ = [
    "MMEmbedEmotionOutput",
    "MMEmbedForEmotionRecognition",
    "MMEmbedModel",
    "MMEmbedModelOutput",
    "MMEmbedPreTrainedModel",
]
