# Copyright 2026 The mmembed authors. Licensed under the Apache License, Version 2.0.
"""
Pretrained encoders inside MMEmbed: a self-supervised speech model (WavLM, HuBERT, wav2vec 2.0) in front of the audio
stream and a text model (BERT, RoBERTa, ...) for the text stream, built with `AutoModel` from the config's
`audio_encoder` / `text_encoder`.

Either field is a transformers model id or local folder (its pretrained weights are loaded when the MMEmbed model is
built, never with remote code) or a config dict (`PretrainedConfig.to_dict()`, with its `model_type`: the encoder is
built from it with random weights, as `from_pretrained` of a saved MMEmbed checkpoint does before loading the
checkpoint's weights). Building resolves the field to the encoder's config dict, so a saved checkpoint holds the
encoder's config and weights and loads without the original id and without a download.

Each encoder's hidden layers are mixed by a learned softmax-weighted sum (SUPERB's recipe; `encoder_layers="last"`
reads the last layer only): the speech encoder's 50 Hz frames become the audio stream's input frames (the
`audio_subsampling` convolutions then apply to them: 2 gives the fbank stream's 25 Hz), the text encoder's token
states the text stream's vectors.
"""

import torch
from torch import nn

from .configuration_mmembed import MMEmbedConfig

ENCODER_FIELDS = {"audio": "audio_encoder", "text": "text_encoder"}


def encoder_config(spec, field: str):
    """The `PretrainedConfig` of an encoder field's config dict (its `model_type` names the architecture)."""
    from transformers import AutoConfig

    settings = dict(spec)
    model_type = settings.pop("model_type", None)
    if model_type is None:
        raise ValueError(f"MMEmbedConfig.{field}: a config dict needs its model_type (PretrainedConfig.to_dict()).")
    return AutoConfig.for_model(model_type, **settings)


def build_encoder(config: MMEmbedConfig, modality: str) -> nn.Module | None:
    """
    The `AutoModel` of `config.<modality>_encoder` (None when unset): pretrained for a model id or folder, from its
    config for a dict. The field becomes the encoder's config dict and `<field>_name_or_path` keeps the id.
    """
    from transformers import AutoModel

    field = ENCODER_FIELDS[modality]
    spec = getattr(config, field)
    if spec is None:
        return None
    if isinstance(spec, str):
        model = load_pretrained(AutoModel, spec, f"MMEmbedConfig.{field}")
        setattr(config, f"{field}_name_or_path", spec)
    else:
        model = AutoModel.from_config(encoder_config(spec, field))
    setattr(config, field, model.config.to_dict())
    return model


def load_pretrained(auto_class, name_or_path: str, what: str):
    """
    `auto_class.from_pretrained(name_or_path)` of an encoder (its model, feature extractor or tokenizer), never with
    remote code; one that cannot be fetched (offline, a wrong id) is refused naming `what` and the fix.
    """
    try:
        return auto_class.from_pretrained(name_or_path, trust_remote_code=False)
    except OSError as error:
        raise ValueError(
            f"{what}={name_or_path!r} could not be loaded ({error}). A model id is fetched from the Hub once and "
            f"cached: run once with network access, or download it (hf download {name_or_path}) and give its local "
            "folder, or give the encoder's config dict (random weights)."
        ) from None


def hidden_state_count(encoder_config) -> int:
    """Hidden states an encoder returns with `output_hidden_states=True`: its embeddings and each layer's output."""
    return encoder_config.num_hidden_layers + 1


class MMEmbedLayerWeighting(nn.Module):
    """
    `num_states` hidden states `(batch_size, length, size)` -> their softmax-weighted sum `(batch_size, length, size)`
    (weights learned, equal at first: SUPERB), or the last one alone (`weighted=False`).
    """

    def __init__(self, num_states: int, weighted: bool):
        super().__init__()
        self.layer_logits = nn.Parameter(torch.zeros(num_states)) if weighted else None

    def forward(self, hidden_states: tuple[torch.Tensor, ...]) -> torch.Tensor:
        if self.layer_logits is None:
            return hidden_states[-1]
        weights = self.layer_logits.softmax(dim=0).to(hidden_states[0].dtype)
        return sum(weight * states for weight, states in zip(weights, hidden_states, strict=True))


class MMEmbedSpeechEncoder(nn.Module):
    """
    A wav2vec 2.0-family model over the raw 16 kHz waveform `(batch_size, samples)` and its sample mask -> frames
    `(batch_size, frames, encoder_hidden_size)` (50 Hz) and their mask `(batch_size, frames)` (bool).
    `config.freeze_audio_encoder`: `"feature_encoder"` freezes its convolutional feature encoder, `"all"` all of it.
    With the weighted sum of its layers, its LayerDrop is turned off (a dropped layer returns no state).
    """

    def __init__(self, config: MMEmbedConfig, model: nn.Module):
        super().__init__()
        self.model = model
        self.layers = MMEmbedLayerWeighting(hidden_state_count(model.config), config.encoder_layers == "weighted")
        if config.encoder_layers == "weighted" and getattr(model.config, "layerdrop", 0.0):
            # a layer dropped in training returns no state, and the weighted sum needs every layer's
            model.config.layerdrop = config.audio_encoder["layerdrop"] = 0.0
        if config.freeze_audio_encoder == "all":
            self.model.requires_grad_(False)
        elif config.freeze_audio_encoder == "feature_encoder":
            self.model.freeze_feature_encoder()

    def forward(self, input_values: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        output = self.model(input_values, attention_mask=attention_mask.long(), output_hidden_states=True)
        frames = self.layers(output.hidden_states)
        frame_mask = self.model._get_feature_vector_attention_mask(frames.shape[1], attention_mask.long())
        return frames * frame_mask[..., None].to(frames.dtype), frame_mask.bool()


class MMEmbedTextEncoder(nn.Module):
    """
    A text model over token ids `(batch_size, tokens)` of its own tokenizer and their mask -> token states
    `(batch_size, tokens, encoder_hidden_size)`, zero where the mask is (a sample without text, a zero mask row, then
    has none: the model treats its text as absent). `config.freeze_text_encoder` freezes it.
    """

    def __init__(self, config: MMEmbedConfig, model: nn.Module):
        super().__init__()
        self.model = model
        self.layers = MMEmbedLayerWeighting(hidden_state_count(model.config), config.encoder_layers == "weighted")
        if config.freeze_text_encoder:
            self.model.requires_grad_(False)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        output = self.model(input_ids=input_ids, attention_mask=attention_mask.long(), output_hidden_states=True)
        states = self.layers(output.hidden_states)
        return states * attention_mask[..., None].to(states.dtype)


__all__ = ["MMEmbedLayerWeighting", "MMEmbedSpeechEncoder", "MMEmbedTextEncoder", "build_encoder", "load_pretrained"]
