# Copyright 2026 The mmembed authors. Licensed under the Apache License, Version 2.0.
"""
mmembed: multimodal (audio, visual, text) embeddings learned by multi-task training, and emotion recognition on them.

Importing the package registers the `mmembed` model type with the transformers auto classes, so that
`AutoConfig`, `AutoModel`, `AutoModelForAudioClassification` (emotion recognition), `AutoModelForPreTraining`
(ASR + person identification), `AutoFeatureExtractor`, `AutoTokenizer` and `AutoProcessor` load saved MMEmbed
checkpoints without remote code. Where torchaudio cannot load, it also makes transformers' `audio-classification`
pipeline resample `{"array", "sampling_rate"}` inputs with soxr ([`MMEmbedAudioClassificationPipeline`]).
"""

from transformers import (
    AutoConfig,
    AutoFeatureExtractor,
    AutoModel,
    AutoModelForAudioClassification,
    AutoModelForPreTraining,
    AutoProcessor,
    AutoTokenizer,
)
from transformers.pipelines import PIPELINE_REGISTRY

from .audio_mmembed import load_audio_file
from .configuration_mmembed import EMOTIONS, MODALITIES, MMEmbedConfig
from .ctc_decoding_mmembed import MMEmbedCTCPrefixScorer
from .feature_extraction_mmembed import MMEmbedFeatureExtractor
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
from .openface_mmembed import read_openface_csv
from .pipeline_mmembed import MMEmbedAudioClassificationPipeline, torchaudio_loads
from .processing_mmembed import MMEmbedProcessor
from .tokenization_mmembed import MMEmbedTokenizer, normalize_transcript

AutoConfig.register(MMEmbedConfig.model_type, MMEmbedConfig, exist_ok=True)
AutoModel.register(MMEmbedConfig, MMEmbedModel, exist_ok=True)
AutoModelForAudioClassification.register(MMEmbedConfig, MMEmbedForEmotionRecognition, exist_ok=True)
AutoModelForPreTraining.register(MMEmbedConfig, MMEmbedForPreTraining, exist_ok=True)
AutoFeatureExtractor.register(MMEmbedConfig, MMEmbedFeatureExtractor, exist_ok=True)
AutoTokenizer.register(MMEmbedConfig, slow_tokenizer_class=MMEmbedTokenizer, exist_ok=True)
AutoProcessor.register(MMEmbedConfig, MMEmbedProcessor, exist_ok=True)

if not torchaudio_loads():
    # The standard pipeline resamples with torchaudio; the same entry with a subclass that resamples with soxr (set
    # in place: `PIPELINE_REGISTRY.register_pipeline` would warn of the overwrite at every import).
    _task = PIPELINE_REGISTRY.supported_tasks["audio-classification"]
    PIPELINE_REGISTRY.supported_tasks["audio-classification"] = {**_task, "impl": MMEmbedAudioClassificationPipeline}

__version__ = "0.1.0"

__all__ = [
    "EMOTIONS",
    "MODALITIES",
    "MMEmbedASRMemoryOutput",
    "MMEmbedAudioClassificationPipeline",
    "MMEmbedCTCPrefixScorer",
    "MMEmbedConfig",
    "MMEmbedEmotionOutput",
    "MMEmbedFeatureExtractor",
    "MMEmbedForEmotionRecognition",
    "MMEmbedForPreTraining",
    "MMEmbedModel",
    "MMEmbedModelOutput",
    "MMEmbedPreTrainedModel",
    "MMEmbedPreTrainingOutput",
    "MMEmbedProcessor",
    "MMEmbedTokenizer",
    "load_audio_file",
    "normalize_transcript",
    "read_openface_csv",
]
