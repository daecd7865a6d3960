# Copyright 2026 The mmembed authors. Licensed under the Apache License, Version 2.0.
"""MMEmbed configuration: the multimodal encoder, its emotion head and the named presets."""

import copy
import math
from dataclasses import dataclass

from huggingface_hub.dataclasses import strict
from transformers import PreTrainedConfig
from transformers.activations import ACT2FN
from transformers.utils import logging

logger = logging.get_logger(__name__)


@dataclass(frozen=True)
class Modality:
    """
    One input stream of the encoder: its model inputs and the config field of its frame size.

    Absence has one meaning everywhere: a sample lacks a modality when its row of `mask_name` is all zero (a
    batch-wide absence may leave the inputs out instead, which means the same). Audio, the query stream, is never
    absent.
    """

    name: str
    values_name: str
    mask_name: str
    size_field: str
    sequence_name: str | None = None
    """
    The input name when the stream is given as one value per step instead of frame vectors: text token ids
    (`text_vocab_size`, or a pretrained text encoder's tokens), the raw audio waveform (a pretrained speech encoder's).
    """


MODALITY_INPUTS = {
    "audio": Modality("audio", "input_features", "attention_mask", "audio_feature_size", "input_values"),
    "visual": Modality("visual", "visual_features", "visual_attention_mask", "visual_feature_size"),
    "text": Modality("text", "text_features", "text_attention_mask", "text_feature_size", "text_input_ids"),
}
"""The modality table: every modality the encoder knows, in canonical order, with its inputs."""

MODALITIES = tuple(MODALITY_INPUTS)
"""The modality names in canonical order. Audio is the query stream and always present."""

DEFAULT_MODALITY_WEIGHTS = {"audio": 0.4, "visual": 0.4, "text": 0.2}
SOURCE_POSITIONS = ("index", "aligned")
POOLINGS = ("mean", "attention")
AUDIO_ENCODER_FREEZING = ("none", "feature_encoder", "all")
ENCODER_LAYERS = ("weighted", "last")

EMOTIONS = ("happy", "sad", "anger", "surprise", "disgust", "fear")
"""The six CMU-MOSEI emotions in the CMU Multimodal SDK's label-column order."""

DEFAULT_TEXT_FEATURE_SIZE = 300

ASR_MEMORY_CHOICES = ("audio+visual", "audio")
"""What the ASR decoder attends to. Never the text branch: in pre-training the text can be the transcript itself."""

INPUT_LAYER_FIELDS = {
    "audio_feature_size": "audio",
    "visual_feature_size": "visual",
    "text_feature_size": "text",
    "text_vocab_size": "text",
    "audio_subsampling": "audio",
}
"""
Config fields that shape the input layers, with the modality whose layers they shape: a checkpoint only transfers
when they agree for the modalities it has (a modality it lacks gets new layers whatever its size).
"""


def _same_code(loaded, own) -> bool:
    """Whether a loaded `auto_map`/`custom_pipelines` value names the package's own code (Hub remote code prefixes
    `repo--` to module paths)."""
    if isinstance(own, dict):
        return isinstance(loaded, dict) and _same_code(loaded.get("impl"), own["impl"])
    return isinstance(loaded, str) and loaded.split("--")[-1] == own


AUTO_MAP = {
    "AutoConfig": "configuration_mmembed.MMEmbedConfig",
    "AutoModel": "modeling_mmembed.MMEmbedModel",
    "AutoModelForAudioClassification": "modeling_mmembed.MMEmbedForEmotionRecognition",
    "AutoModelForPreTraining": "modeling_mmembed.MMEmbedForPreTraining",
}
"""Every auto class of the package, written into each saved config so that Hub remote code finds all of them."""

CUSTOM_PIPELINES = {
    "automatic-speech-recognition": {
        "impl": "pipeline_mmembed.MMEmbedSpeechRecognitionPipeline",
        "pt": ["AutoModelForPreTraining"],
        "tf": [],
        "type": "audio",
    },
    "multimodal-emotion-recognition": {
        "impl": "pipeline_mmembed.MMEmbedEmotionPipeline",
        "pt": ["AutoModelForAudioClassification"],
        "tf": [],
        "type": "multimodal",
    },
}
"""Pipelines built from a checkpoint's own code by `transformers.pipeline(task, model=..., trust_remote_code=True)`."""

BASE_PRESET = {
    "hidden_size": 256,
    "num_attention_heads": 4,
    "intermediate_size": 1024,
    "num_audio_layers": 6,
    "num_cross_modal_layers": 2,
    "audio_subsampling": 4,
    "decoder_layers": 4,
}

PUBLISHED_METHOD = {
    "num_source_layers": 0,
    "cross_modal_residual": True,
    "source_positions": "index",
    "cross_modal_locality": 0.0,
    "num_fusion_layers": 0,
    "pooling": "mean",
    "learn_modality_weights": False,
    "modality_dropout": 0.0,
    "branch_loss_weight": 0.0,
}
"""The method as published: the audio stream attends to the visual and text streams as they come (no self-attention
over them, frame-index positions), each branch is the audio stream plus what it attended to, fixed 0.4/0.4/0.2
weights, the embedding the mean over time. Every other value of these fields is an extension
(`MMEmbedConfig.method_extensions`)."""

PRESETS = {
    "paper": {**BASE_PRESET, **PUBLISHED_METHOD, "modality_weights": {"audio": 0.4, "visual": 0.4, "text": 0.2}},
    "base": BASE_PRESET,
    "tiny": {
        "hidden_size": 32,
        "num_attention_heads": 2,
        "intermediate_size": 64,
        "num_audio_layers": 2,
        "num_cross_modal_layers": 1,
        "audio_subsampling": 4,
        "decoder_layers": 1,
    },
    "small": {
        "hidden_size": 128,
        "num_attention_heads": 4,
        "intermediate_size": 512,
        "num_audio_layers": 3,
        "num_cross_modal_layers": 1,
        "audio_subsampling": 4,
        "decoder_layers": 2,
        "source_kernel_size": 5,
    },
    "mosei_sdk": {**BASE_PRESET, "audio_feature_size": 74, "visual_feature_size": 35, "text_feature_size": 300},
}
"""Named configurations. `paper`: the method as published, every field that an extension changes stated explicitly.
`mosei_sdk` matches the CMU SDK features: COVAREP (74, 100 Hz), FACET 4.2 (35), GloVe 300."""


@strict
class MMEmbedConfig(PreTrainedConfig):
    r"""
    Configuration of [`MMEmbedModel`] and its heads: a transformer encoder whose audio stream attends to itself and,
    through cross-modal attention, to the visual and text streams. The embedding is a weighted sum of the audio,
    visual-fused and text-fused branches.

    Args:
        audio_feature_size (`int`, defaults to 80):
            Size of one audio frame (80 log-mel filterbank bins; 74 for CMU COVAREP).
        visual_feature_size (`int`, defaults to 35):
            Size of one visual frame (35 for CMU FACET 4.2).
        text_feature_size (`int`, *optional*):
            Size of one word vector (300 for GloVe). Defaults to 300 unless `text_vocab_size` is set.
        text_vocab_size (`int`, *optional*):
            Vocabulary size when the text stream is given as token ids instead of word vectors.
        hidden_size (`int`, defaults to 256):
            Width of every stream inside the encoder.
        num_attention_heads (`int`, defaults to 4):
            Attention heads in every attention layer; must divide `hidden_size`.
        intermediate_size (`int`, defaults to 1024):
            Width of the feed-forward blocks.
        num_audio_layers (`int`, defaults to 6):
            Audio self-attention layers.
        num_cross_modal_layers (`int`, defaults to 2):
            Cross-modal (audio queries, other-modality keys/values) layers for each of visual and text.
        hidden_act (`str`, defaults to `"gelu"`):
            Activation of the feed-forward blocks and the audio subsampler.
        hidden_dropout (`float`, defaults to 0.1):
            Dropout on embeddings and on every residual branch.
        attention_dropout (`float`, defaults to 0.0):
            Dropout on attention probabilities (0, as Whisper, Speech2Text and Moonshine: above 0 it keeps SDPA off its
            fused kernels on CPU, so backward holds every attention matrix, and costs a quarter of a CPU step).
        activation_dropout (`float`, defaults to 0.0):
            Dropout inside the feed-forward blocks.
        classifier_dropout (`float`, defaults to 0.1):
            Dropout in the classification head.
        layer_norm_eps (`float`, defaults to 1e-5):
            Epsilon of the layer norms.
        initializer_range (`float`, defaults to 0.02):
            Standard deviation of the weight initialisation.
        audio_subsampling (`int`, defaults to 4):
            Time-reduction factor of the strided convolution front-end (a power of two; 4 for 100 Hz features).
        source_kernel_size (`int`, defaults to 1):
            Width of a temporal convolution over each projected visual and text stream before cross-modal attention
            (an odd number; 1 = no convolution). Above 1 the audio stream can attend to n-grams: character-level
            text then exposes words rather than single characters.
        num_source_layers (`int`, defaults to 0):
            Self-attention layers over each visual and text stream (its own frames only) before the audio stream
            attends to it, as MulT's; 0 in the published method. Lets a source stream's order and context (a facial
            action's time course, a negation) reach the fusion.
        cross_modal_residual (`bool`, defaults to `True`):
            Whether the first cross-modal layer adds what the audio queries attended to onto the audio states (the
            published method), or a branch starts from the attended source alone (`False`): the visual and text
            streams projected into the audio time axis, not a small correction to a copy of the audio branch.
        source_positions (`str`, defaults to `"index"`):
            Positions of the visual and text frames: `"index"` (frame index, the published method) or `"aligned"`
            (spread over the sample's audio frames: frame `j` of `S` real frames sits at audio position `(j + 0.5) *
            A / S - 0.5` for `A` real audio frames), so that streams at other rates line up in time with the audio
            queries.
        cross_modal_locality (`float`, defaults to 0.0):
            A bias of `-cross_modal_locality` per audio frame of distance between an audio query and a source frame in
            cross-modal attention (ALiBi-like; 0 in the published method): each audio frame attends mostly to the
            source frames at its own time, so that cues in two streams at once (a burst with a facial action) meet.
            Meant with `source_positions="aligned"`.
        num_fusion_layers (`int`, defaults to 0):
            Self-attention layers over the fused sequence after the weighted sum (0 in the published method); lets
            the branches interact frame by frame (a cue that needs two streams at once).
        pooling (`str`, defaults to `"mean"`):
            How the fused sequence becomes the embedding: `"mean"` over the real frames (published), or `"attention"`
            (each of `num_attention_heads` heads weights the frames for its share of the hidden size), for cues that
            last a fraction of an utterance.
        learn_modality_weights (`bool`, defaults to `False`):
            Learn the branch weights (a softmax over logits initialised at `modality_weights`) instead of keeping
            them fixed.
        modality_dropout (`float`, defaults to 0.0):
            In training, the probability that a sample's visual (and, independently, its text) branch is left out of
            the weighted sum, as if that sample lacked the modality (the other weights renormalised); 0 in the
            published method. Against modality competition: the model cannot rely on one branch for every sample.
        branch_loss_weight (`float`, defaults to 0.0):
            Emotion models only: adds `branch_loss_weight` times the mean, over the visual and text branches, of the
            emotion loss of each branch's own pooled states (the same head; samples lacking that modality left out)
            to the loss, so that those branches get a gradient of their own and the audio branch, which learns first,
            does not starve them. 0 in the published method; no effect on inference.
        modalities (`list[str]`, *optional*):
            The modalities this model uses: audio plus any of visual and text. Defaults to all three. Use a subset for
            ablations.
        modality_weights (`dict[str, float]`, *optional*):
            Weight of each branch in the embedding; defaults to audio 0.4, visual 0.4, text 0.2. Weights are
            renormalised per sample over the modalities that sample has.
        thresholds (`list[float]`, *optional*):
            Per-class decision thresholds of a multi-label head, applied to sigmoid probabilities. Defaults to 0.5.
        pos_weight (`list[float]`, *optional*):
            Per-class positive weights of the multi-label BCE loss (for rare emotions).
        apply_spec_augment (`bool`, defaults to `False`):
            SpecAugment on the audio features in training mode (as Whisper): time masks and, with
            `mask_feature_prob > 0`, feature-bin masks, set to 0 within the real frames only (never in eval mode).
        mask_time_prob (`float`, defaults to 0.05), mask_time_length (`int`, defaults to 10),
        mask_time_min_masks (`int`, defaults to 2):
            Share of the audio frames covered by time masks of `mask_time_length` frames (at least
            `mask_time_min_masks` masks per sample), as in transformers' `_compute_mask_indices`.
        mask_feature_prob (`float`, defaults to 0.0), mask_feature_length (`int`, defaults to 10),
        mask_feature_min_masks (`int`, defaults to 0):
            The same over the feature bins (the whole time axis of the masked bins is set to 0).
        freeze_encoder (`bool`, defaults to `False`):
            Train only the head: the encoder's parameters get `requires_grad=False`.
        audio_encoder (`dict` or `str`, *optional*):
            A pretrained speech encoder in front of the audio stream (WavLM, HuBERT, wav2vec 2.0): a transformers model
            id or folder (its weights are loaded when the model is built) or its config dict (with `model_type`).
            The model then takes the raw 16 kHz waveform (`input_values`); building sets this field to the encoder's
            config dict and `audio_feature_size` to its hidden size (`encoders_mmembed.py`).
        audio_encoder_name_or_path (`str`, *optional*):
            The model id the audio encoder was loaded from (set when it is built; for the record).
        text_encoder (`dict` or `str`, *optional*):
            A pretrained text encoder (BERT, RoBERTa, ...) for the text stream, as `audio_encoder`: `text_input_ids`
            are then its tokenizer's ids, and `text_feature_size` its hidden size.
        text_encoder_name_or_path (`str`, *optional*):
            The model id the text encoder was loaded from.
        freeze_audio_encoder (`str`, defaults to `"none"`):
            `"feature_encoder"` freezes the speech encoder's convolutional feature encoder, `"all"` the whole encoder.
        freeze_text_encoder (`bool`, defaults to `False`):
            Freeze the text encoder.
        encoder_layers (`str`, defaults to `"weighted"`):
            What the stream reads of a pretrained encoder: a learned softmax-weighted sum of its hidden layers
            (`"weighted"`, SUPERB) or its last layer (`"last"`).
        vocab_size (`int`, defaults to 42):
            Size of the character vocabulary of the ASR decoder (4 specials, space, apostrophe, a-z, 0-9).
        decoder_layers (`int`, defaults to 4):
            Layers of the character-level ASR decoder (read by the generation cache as `num_hidden_layers`).
        max_target_positions (`int`, defaults to 256):
            Longest transcript, in tokens, the decoder accepts or generates.
        asr_memory (`str`, defaults to `"audio+visual"`):
            What the decoder attends to: the audio branch fused with the visual branch (per-sample weights, as in
            the embedding; audio alone where a sample or the model has no video), or `"audio"` alone. Never text.
        num_speakers (`int`, *optional*):
            Classes of the person-identification head; required by [`MMEmbedForPreTraining`].
        asr_loss_weight (`float`, defaults to 0.8):
            Weight of the ASR loss in the pre-training objective.
        speaker_loss_weight (`float`, defaults to 0.2):
            Weight of the person-identification loss.
        ctc_loss_weight (`float`, defaults to 0.0):
            Share of the ASR loss given to a CTC head on the decoder memory (0 disables the CTC head).
        label_smoothing (`float`, defaults to 0.0):
            Label smoothing of the decoder's cross-entropy.
        pad_token_id (`int`, defaults to 0), bos_token_id (`int`, defaults to 1), eos_token_id (`int`, defaults to 2),
        decoder_start_token_id (`int`, defaults to 1):
            Special tokens of the character vocabulary; `pad_token_id` is also the CTC blank.

    Without `num_labels`/`id2label` the classification head predicts the six CMU-MOSEI emotions (CMU SDK order) as a
    multi-label problem; `num_labels=1` gives a regression head (MOSEI sentiment).

    Example:

    ```python
    >>> from modeling_mmembed import MMEmbedConfig, MMEmbedModel

    >>> config = MMEmbedConfig.from_preset("tiny")
    >>> model = MMEmbedModel(config)
    ```"""

    model_type = "mmembed"

    audio_feature_size: int = 80
    visual_feature_size: int = 35
    text_feature_size: int | None = None
    text_vocab_size: int | None = None
    hidden_size: int = 256
    num_attention_heads: int = 4
    intermediate_size: int = 1024
    num_audio_layers: int = 6
    num_cross_modal_layers: int = 2
    hidden_act: str = "gelu"
    hidden_dropout: float | int = 0.1
    attention_dropout: float | int = 0.0
    activation_dropout: float | int = 0.0
    classifier_dropout: float | int = 0.1
    layer_norm_eps: float = 1e-5
    initializer_range: float = 0.02
    audio_subsampling: int = 4
    source_kernel_size: int = 1
    num_source_layers: int = 0
    cross_modal_residual: bool = True
    source_positions: str = "index"
    cross_modal_locality: float | int = 0.0
    num_fusion_layers: int = 0
    pooling: str = "mean"
    learn_modality_weights: bool = False
    modality_dropout: float | int = 0.0
    branch_loss_weight: float | int = 0.0
    modalities: list[str] | None = None
    modality_weights: dict[str, float | int] | None = None
    thresholds: list[float | int] | None = None
    pos_weight: list[float | int] | None = None
    apply_spec_augment: bool = False
    mask_time_prob: float | int = 0.05
    mask_time_length: int = 10
    mask_time_min_masks: int = 2
    mask_feature_prob: float | int = 0.0
    mask_feature_length: int = 10
    mask_feature_min_masks: int = 0
    freeze_encoder: bool = False
    audio_encoder: dict | str | None = None
    audio_encoder_name_or_path: str | None = None
    text_encoder: dict | str | None = None
    text_encoder_name_or_path: str | None = None
    freeze_audio_encoder: str = "none"
    freeze_text_encoder: bool = False
    encoder_layers: str = "weighted"
    vocab_size: int = 42
    decoder_layers: int = 4
    max_target_positions: int = 256
    asr_memory: str = "audio+visual"
    num_speakers: int | None = None
    asr_loss_weight: float | int = 0.8
    speaker_loss_weight: float | int = 0.2
    ctc_loss_weight: float | int = 0.0
    label_smoothing: float | int = 0.0
    pad_token_id: int | None = 0
    bos_token_id: int | None = 1
    eos_token_id: int | list[int] | None = 2
    decoder_start_token_id: int | None = 1
    is_encoder_decoder: bool = False  # set by each model: True for the seq2seq pre-training model only
    tie_word_embeddings: bool = True
    use_cache: bool = True

    def __post_init__(self, **kwargs):
        if self.id2label is None and kwargs.get("num_labels") is None:
            self.id2label = dict(enumerate(EMOTIONS))
            self.label2id = {label: index for index, label in self.id2label.items()}
        super().__post_init__(**kwargs)
        self._fill_defaults()
        self.auto_map = self._own_entries("auto_map", AUTO_MAP)
        self.custom_pipelines = self._own_entries("custom_pipelines", CUSTOM_PIPELINES)

    def _own_entries(self, name: str, own: dict) -> dict:
        """
        The package's own `auto_map` / `custom_pipelines`, whatever a loaded config said: an entry naming other code
        (another repository's module, an extra class) is dropped with a warning, so re-saving never carries it on.
        """
        loaded = getattr(self, name, None) or {}
        foreign = sorted(key for key, value in loaded.items() if key not in own or not _same_code(value, own[key]))
        if foreign:
            logger.warning("MMEmbedConfig: %s entries %s name code outside this package; dropped.", name, foreign)
        return copy.deepcopy(own)

    @classmethod
    def from_dict(cls, config_dict: dict, **kwargs) -> "MMEmbedConfig":
        """As `PreTrainedConfig.from_dict`, refusing another model type's config (transformers only warns)."""
        model_type = config_dict.get("model_type", cls.model_type)
        if model_type != cls.model_type:
            raise ValueError(
                f"This config has model_type {model_type!r}, not {cls.model_type!r}: it is another architecture's "
                "config and cannot build an MMEmbed model."
            )
        return super().from_dict(config_dict, **kwargs)

    @property
    def num_labels(self) -> int | None:
        """Classes of the emotion head (`len(id2label)`); setting it re-heads the config (see the setter)."""
        return len(self.id2label) if self.id2label is not None else None  # as transformers' getter, traceable

    @num_labels.setter
    def num_labels(self, num_labels: int) -> None:
        """
        As transformers' setter (new `id2label` when the count changes); when it changes an existing head (e.g.
        `from_pretrained(six_label_checkpoint, num_labels=3)`), `thresholds` and `pos_weight` of the old head are
        reset with a warning, and a multi-label head re-headed to 1 label becomes a regression head.
        """
        previous = len(self.id2label) if self.id2label is not None else None
        PreTrainedConfig.num_labels.fset(self, num_labels)
        if previous is not None and previous != num_labels:
            self._follow_new_head(previous)

    def _follow_new_head(self, previous: int) -> None:
        """Make the head-specific fields fit `num_labels` after a re-heading from `previous` labels."""
        if self.num_labels == 1 and self.problem_type == "multi_label_classification":
            logger.warning("MMEmbedConfig: re-headed from %d labels to 1: a regression head (MSE).", previous)
            self.problem_type = "regression"
        if self.thresholds is not None:
            multi_label = self.problem_type in (None, "multi_label_classification")
            self.thresholds = [0.5] * self.num_labels if multi_label else None
            logger.warning("MMEmbedConfig: %d thresholds of the old head reset to %s.", previous, self.thresholds)
        if self.pos_weight is not None:
            logger.warning("MMEmbedConfig: pos_weight of the old %d-label head dropped.", previous)
            self.pos_weight = None

    @classmethod
    def from_preset(cls, name: str, **overrides) -> "MMEmbedConfig":
        """Build a named configuration (`base`, `small`, `tiny`, `mosei_sdk`); keyword arguments override fields."""
        if name not in PRESETS:
            raise ValueError(f"Unknown MMEmbed preset {name!r}; choose one of {sorted(PRESETS)}.")
        return cls(**{**PRESETS[name], **overrides})

    @property
    def method_extensions(self) -> dict:
        """The fields where this config departs from the published method (`PUBLISHED_METHOD`), with their values."""
        return {name: getattr(self, name) for name, value in PUBLISHED_METHOD.items() if getattr(self, name) != value}

    @property
    def source_modalities(self) -> list[str]:
        """The modalities fused into the audio stream by cross-modal attention (all used ones except audio)."""
        return [modality for modality in self.modalities if modality != "audio"]

    @property
    def text_uses_token_ids(self) -> bool:
        """Whether the text stream takes token ids (`text_vocab_size`) rather than word vectors."""
        return self.text_vocab_size is not None

    def values_name(self, modality: str) -> str:
        """The input of `modality`'s stream: for text, `text_input_ids` when the stream takes token ids."""
        entry = MODALITY_INPUTS[modality]
        return entry.sequence_name if modality == "text" and self.text_uses_token_ids else entry.values_name

    def input_name(self, modality: str) -> str:
        """
        The model input a caller gives `modality` in: `values_name`, but the raw waveform `input_values` with a
        pretrained speech encoder and `text_input_ids` with a pretrained text encoder (which make the stream's input).
        """
        encoder = {"audio": self.audio_encoder, "text": self.text_encoder}.get(modality)
        return MODALITY_INPUTS[modality].sequence_name if encoder is not None else self.values_name(modality)

    def frame_shape(self, modality: str) -> tuple[int, ...]:
        """The shape of one frame of `modality` as the model takes it: `(size,)`, or `()` for token ids."""
        if self.values_name(modality) == MODALITY_INPUTS[modality].sequence_name:
            return ()
        return (getattr(self, MODALITY_INPUTS[modality].size_field),)

    def _fill_defaults(self) -> None:
        if self.modalities is None:
            self.modalities = list(MODALITIES)
        known = [modality for modality in MODALITIES if modality in self.modalities]
        if len(known) == len(self.modalities):  # canonical order; anything else is left for validation to name
            self.modalities = known
        if self.modality_weights is None:
            self.modality_weights = dict(DEFAULT_MODALITY_WEIGHTS)
        if self.text_feature_size is None and self.text_vocab_size is None:
            self.text_feature_size = DEFAULT_TEXT_FEATURE_SIZE
        if self.problem_type is None:
            self.problem_type = "regression" if self.num_labels == 1 else "multi_label_classification"
        if self.thresholds is None and self.problem_type == "multi_label_classification":
            self.thresholds = [0.5] * self.num_labels

    def validate_sizes(self) -> None:
        """Part of `@strict`-powered validation (also run by `save_pretrained`): sizes, dropouts, masks."""
        for name in (
            "audio_feature_size",
            "visual_feature_size",
            "hidden_size",
            "num_attention_heads",
            "intermediate_size",
            "num_audio_layers",
            "num_cross_modal_layers",
            "audio_subsampling",
        ):
            _require(getattr(self, name) >= 1, name, f"must be a positive integer, got {getattr(self, name)}")
        _require(
            self.hidden_act in ACT2FN,
            "hidden_act",
            f"unknown activation {self.hidden_act!r}; choose one of {', '.join(sorted(ACT2FN))}",
        )
        for name in ("num_source_layers", "num_fusion_layers"):
            _require(getattr(self, name) >= 0, name, f"must be a non-negative integer, got {getattr(self, name)}")
        _require(
            self.source_positions in SOURCE_POSITIONS,
            "source_positions",
            f"must be one of {SOURCE_POSITIONS}, got {self.source_positions!r}",
        )
        _require(self.pooling in POOLINGS, "pooling", f"must be one of {POOLINGS}, got {self.pooling!r}")
        _require(
            self.freeze_audio_encoder in AUDIO_ENCODER_FREEZING,
            "freeze_audio_encoder",
            f"must be one of {AUDIO_ENCODER_FREEZING}, got {self.freeze_audio_encoder!r}",
        )
        _require(
            self.encoder_layers in ENCODER_LAYERS,
            "encoder_layers",
            f"must be one of {ENCODER_LAYERS}, got {self.encoder_layers!r}",
        )
        _require(
            math.isfinite(self.cross_modal_locality) and self.cross_modal_locality >= 0,
            "cross_modal_locality",
            f"must be a finite non-negative number, got {self.cross_modal_locality}",
        )
        _require(
            0 <= self.modality_dropout < 1,
            "modality_dropout",
            f"must be a probability in [0, 1), got {self.modality_dropout}",
        )
        _require(
            math.isfinite(self.branch_loss_weight) and self.branch_loss_weight >= 0,
            "branch_loss_weight",
            f"must be a finite non-negative number, got {self.branch_loss_weight}",
        )
        _require(
            self.source_kernel_size >= 1 and self.source_kernel_size % 2 == 1,
            "source_kernel_size",
            f"must be a positive odd integer, got {self.source_kernel_size}",
        )
        for name in ("text_feature_size", "text_vocab_size"):
            value = getattr(self, name)
            _require(value is None or value >= 1, name, f"must be a positive integer or None, got {value}")
        _require(
            self.text_feature_size is None or self.text_vocab_size is None,
            "text_vocab_size",
            f"the text stream takes either word vectors (text_feature_size={self.text_feature_size}) or token ids "
            f"(text_vocab_size={self.text_vocab_size}), not both; set the other to None",
        )
        _require(
            self.hidden_size % self.num_attention_heads == 0,
            "num_attention_heads",
            f"must divide hidden_size ({self.hidden_size}), got {self.num_attention_heads}",
        )
        _require(
            self.hidden_size % 2 == 0, "hidden_size", f"must be even (sinusoidal positions), got {self.hidden_size}"
        )
        _require(
            math.log2(self.audio_subsampling).is_integer(),
            "audio_subsampling",
            f"must be a power of two (1, 2, 4, 8, ...), got {self.audio_subsampling}",
        )
        for name in (
            "hidden_dropout",
            "attention_dropout",
            "activation_dropout",
            "classifier_dropout",
            "mask_time_prob",
            "mask_feature_prob",
        ):
            value = getattr(self, name)
            _require(0.0 <= value < 1.0, name, f"must be in [0, 1), got {value}")
        for name in ("mask_time_length", "mask_feature_length"):
            _require(getattr(self, name) >= 1, name, f"must be a positive integer, got {getattr(self, name)}")
        for name in ("mask_time_min_masks", "mask_feature_min_masks"):
            _require(getattr(self, name) >= 0, name, f"must be a non-negative integer, got {getattr(self, name)}")

    def validate_modalities(self) -> None:
        """Part of `@strict`-powered validation: known modalities, audio among them, a weight for each."""
        unknown = sorted(set(self.modalities) - set(MODALITIES))
        _require(not unknown, "modalities", f"unknown modalities {unknown}; known: {list(MODALITIES)}")
        _require(
            "audio" in self.modalities, "modalities", f"must include 'audio' (the query stream), got {self.modalities}"
        )
        _require(len(set(self.modalities)) == len(self.modalities), "modalities", f"has duplicates: {self.modalities}")
        unknown = sorted(set(self.modality_weights) - set(MODALITIES))
        _require(not unknown, "modality_weights", f"unknown modalities {unknown}; known: {list(MODALITIES)}")
        for modality in self.modalities:
            weight = self.modality_weights.get(modality)
            _require(
                weight is not None and math.isfinite(weight) and weight > 0,
                "modality_weights",
                f"needs a finite positive weight for every used modality; {modality!r} has {weight}",
            )

    def validate_classification(self) -> None:
        """Part of `@strict`-powered validation: thresholds and `pos_weight` of the head."""
        _require(self.num_labels >= 1, "num_labels", f"must be at least 1, got {self.num_labels}")
        if self.thresholds is not None:
            _require(
                len(self.thresholds) == self.num_labels,
                "thresholds",
                f"needs one threshold per label ({self.num_labels}), got {len(self.thresholds)}",
            )
            _require(
                all(0.0 < value < 1.0 for value in self.thresholds),
                "thresholds",
                f"are probabilities and must lie in (0, 1), got {self.thresholds}",
            )
        if self.pos_weight is not None:
            _require(
                self.problem_type == "multi_label_classification",
                "pos_weight",
                f"only applies to multi-label classification, problem_type is {self.problem_type!r}",
            )
            _require(
                len(self.pos_weight) == self.num_labels,
                "pos_weight",
                f"needs one weight per label ({self.num_labels}), got {len(self.pos_weight)}",
            )
            _require(
                all(math.isfinite(value) and value > 0 for value in self.pos_weight),
                "pos_weight",
                f"must be finite and positive, got {self.pos_weight}",
            )

    def validate_pretraining(self) -> None:
        """Part of `@strict`-powered validation: decoder, speaker head, loss weights, special tokens."""
        for name in ("decoder_layers", "max_target_positions"):
            _require(getattr(self, name) >= 1, name, f"must be a positive integer, got {getattr(self, name)}")
        _require(
            self.num_speakers is None or self.num_speakers >= 1,
            "num_speakers",
            f"must be a positive integer or None, got {self.num_speakers}",
        )
        _require(
            self.asr_memory in ASR_MEMORY_CHOICES,
            "asr_memory",
            f"must be one of {list(ASR_MEMORY_CHOICES)} (never text), got {self.asr_memory!r}",
        )
        for name in ("asr_loss_weight", "speaker_loss_weight"):
            value = getattr(self, name)
            _require(math.isfinite(value) and value >= 0, name, f"must be finite and non-negative, got {value}")
        for name in ("ctc_loss_weight", "label_smoothing"):
            value = getattr(self, name)
            _require(0.0 <= value < 1.0, name, f"must be in [0, 1), got {value}")
        special = {
            "pad_token_id": self.pad_token_id,
            "bos_token_id": self.bos_token_id,
            "eos_token_id": self.eos_token_id,
            "decoder_start_token_id": self.decoder_start_token_id,
        }
        for name, value in special.items():
            _require(
                isinstance(value, int) and 0 <= value < self.vocab_size,
                name,
                f"must be a token id in [0, vocab_size={self.vocab_size}), got {value}",
            )


def input_layer_mismatches(saved: MMEmbedConfig, wanted: dict) -> dict[str, tuple]:
    """
    `{field: (saved value, wanted value)}` for each input-layer field of `wanted` that differs from the saved config,
    for the modalities the saved model has (a modality it lacks gets new layers whatever its size).
    """
    return {
        field: (getattr(saved, field), value)
        for field, value in wanted.items()
        if INPUT_LAYER_FIELDS[field] in saved.modalities and getattr(saved, field) != value
    }


def check_input_layers(checkpoint, saved: MMEmbedConfig, wanted: dict) -> None:
    """
    The one compatibility check of a checkpoint against what is asked of it (`from_pretrained` and `train.py`): a
    `ValueError` naming each input-layer field that differs, and both ways to re-initialise those layers instead.
    """
    mismatches = input_layer_mismatches(saved, wanted)
    if mismatches:
        details = "; ".join(f"{field}: checkpoint {old}, requested {new}" for field, (old, new) in mismatches.items())
        raise ValueError(
            f"The checkpoint {checkpoint} has other input layers than requested ({details}): they cannot be "
            "transferred. Re-initialise them with from_pretrained(..., ignore_mismatched_sizes=True), or with "
            "train.py's --reinit_input_layers."
        )


def _require(condition: bool, field: str, reason: str) -> None:
    """Raise a `ValueError` naming the config field and the reason when `condition` is false."""
    if not condition:
        raise ValueError(f"MMEmbedConfig.{field}: {reason}.")


__all__ = ["EMOTIONS", "MODALITIES", "MODALITY_INPUTS", "MMEmbedConfig", "Modality"]
