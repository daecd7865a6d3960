# Copyright 2026 The mmembed authors. Licensed under the Apache License, Version 2.0.
"""
mmembed: multimodal (audio, visual, text) embeddings learned by multi-task training, and emotion recognition on them.

Importing the package registers the `mmembed` model type with the transformers auto classes, so that
`AutoConfig`, `AutoModel`, `AutoModelForAudioClassification` (emotion recognition) and `AutoModelForPreTraining`
(ASR + person identification) load saved MMEmbed models without remote code.
"""

from transformers import AutoConfig, AutoModel, AutoModelForAudioClassification, AutoModelForPreTraining

from .configuration_mmembed import EMOTIONS, MODALITIES, MMEmbedConfig
from .modeling_mmembed import (
    MMEmbedASRMemoryOutput,
    MMEmbedEmotionOutput,
    MMEmbedForEmotionRecognition,
    MMEmbedForPreTraining,
    MMEmbedModel,
    MMEmbedModelOutput,
    MMEmbedPreTrainedModel,
    MMEmbedPreTrainingOutput,
)

AutoConfig.register(MMEmbedConfig.model_type, MMEmbedConfig, exist_ok=True)
AutoModel.register(MMEmbedConfig, MMEmbedModel, exist_ok=True)
AutoModelForAudioClassification.register(MMEmbedConfig, MMEmbedForEmotionRecognition, exist_ok=True)
AutoModelForPreTraining.register(MMEmbedConfig, MMEmbedForPreTraining, exist_ok=True)

__version__ = "0.1.0"

__all__ = [
    "EMOTIONS",
    "MODALITIES",
    "MMEmbedASRMemoryOutput",
    "MMEmbedConfig",
    "MMEmbedEmotionOutput",
    "MMEmbedForEmotionRecognition",
    "MMEmbedForPreTraining",
    "MMEmbedModel",
    "MMEmbedModelOutput",
    "MMEmbedPreTrainedModel",
    "MMEmbedPreTrainingOutput",
]
