"""
The training stages, one record each: the model a stage trains, its labels (check and batch targets), the config
fields it sets, the splits and metric that choose its checkpoint, its final scores, and what its model card says.
A new stage (a label kind, an objective) is a new `Stage`, not new branches in the training code.
"""

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import torch

from modeling_mmembed import MMEmbedConfig, MMEmbedForEmotionRecognition, MMEmbedForPreTraining
from modeling_mmembed.processing_mmembed import pad_sequences

from .evaluation import (
    emotion_evaluation,
    emotion_scorer,
    emotion_split_scores,
    pretraining_evaluation,
    pretraining_scorer,
    pretraining_split_scores,
    sentiment_evaluation,
    sentiment_scorer,
    sentiment_split_scores,
)


@dataclass(frozen=True)
class Stage:
    """
    One training stage.

    Attributes:
        name: its `--stage` value.
        model_class: the model it trains and saves.
        label_names: the batch keys that hold targets (`TrainingArguments.label_names`).
        targets: examples -> those batch keys' tensors (the collator's targets).
        check_labels: `(split, config)` -> raises naming what is out of range, before any training step.
        run_fields: `(run, train_split)` -> config fields the stage sets on a new or loaded model.
        evaluation_splits: the splits it needs beyond `train`; the first is scored at each evaluation.
        best_metric, greater_is_better: the score that chooses the checkpoint.
        scorer: `(corpus, collator, batch_size, num_beams)` -> `score(model, dataset) -> dict`.
        final_scores: `(model, corpus, collator, batch_size, run)` -> the validation and test scores at the end.
        split_scores: `(model, corpus, split, collator, batch_size, run)` -> a saved model's scores on one split.
        pipeline_tag, task_name, card_metrics, card_summary: what its model card declares (the summary sentence
            with `{dataset}` for the corpus's name).
    """

    name: str
    model_class: type
    label_names: tuple[str, ...]
    targets: Callable[[list[dict]], dict]
    check_labels: Callable
    run_fields: Callable[..., dict]
    evaluation_splits: tuple[str, ...]
    best_metric: str
    greater_is_better: bool
    scorer: Callable
    final_scores: Callable[..., dict]
    split_scores: Callable[..., dict]
    pipeline_tag: str
    task_name: str
    card_metrics: tuple[str, ...]
    card_summary: str


def check_speaker_labels(dataset, config: MMEmbedConfig) -> None:
    speakers = np.asarray(dataset["speaker_labels"])
    if speakers.min() < 0 or speakers.max() >= config.num_speakers:
        raise ValueError(
            f"speaker_labels must lie in [0, {config.num_speakers}); found [{speakers.min()}, {speakers.max()}]."
        )


def check_emotion_labels(dataset, config: MMEmbedConfig) -> None:
    values = np.unique(np.asarray(dataset["emotion_labels"]))
    if not set(values.tolist()) <= {0, 1}:
        raise ValueError(f"emotion_labels must be 0/1 presence; found values {values.tolist()}.")


def check_sentiment_labels(dataset, config: MMEmbedConfig) -> None:
    values = np.asarray(dataset["sentiment"], dtype=np.float64)
    if not np.isfinite(values).all() or np.abs(values).max() > 3:
        raise ValueError(f"sentiment must be finite and within [-3, 3]; found range [{values.min()}, {values.max()}].")


def pretraining_targets(examples: list[dict]) -> dict:
    """The transcript tokens padded with -100 (ignored by the loss) and the speaker classes."""
    transcripts = [np.asarray(example["labels"], dtype=np.int64) for example in examples]
    return {
        "labels": torch.from_numpy(pad_sequences(transcripts, pad_value=-100)[0]),
        "speaker_labels": torch.tensor([int(example["speaker_labels"]) for example in examples]),
    }


def emotion_targets(examples: list[dict]) -> dict:
    """The six presence labels as float multi-label targets."""
    return {"labels": torch.tensor(np.array([example["emotion_labels"] for example in examples]), dtype=torch.float)}


def sentiment_targets(examples: list[dict]) -> dict:
    return {"labels": torch.tensor([float(example["sentiment"]) for example in examples])}


def pretraining_fields(run, train_split) -> dict:
    fields = {"num_speakers": train_split.features["speaker_labels"].num_classes}
    return fields | ({"ctc_loss_weight": run.ctc_loss_weight} if run.ctc_loss_weight is not None else {})


def emotion_fields(run, train_split) -> dict:
    """With `--pos_weight_from_train`, each emotion's BCE `pos_weight` from the training labels."""
    if not run.pos_weight_from_train:
        return {}
    return {"pos_weight": positive_weights(np.asarray(train_split["emotion_labels"]))}


def sentiment_fields(run, train_split) -> dict:
    return {"num_labels": 1, "problem_type": "regression", "thresholds": None}


def positive_weights(labels: np.ndarray) -> list[float]:
    """Per emotion negatives / positives of the training labels (1 where an emotion has no positive example)."""
    positives = labels.sum(axis=0)
    negatives = len(labels) - positives
    return [
        float(negative / positive) if positive else 1.0
        for positive, negative in zip(positives, negatives, strict=True)
    ]


SET_BASED = ("jaccard_accuracy", "hamming_loss", "micro_f1", "macro_f1")

PRETRAIN = Stage(
    name="pretrain",
    model_class=MMEmbedForPreTraining,
    label_names=("labels", "speaker_labels"),
    targets=pretraining_targets,
    check_labels=check_speaker_labels,
    run_fields=pretraining_fields,
    evaluation_splits=("validation_sentence", "validation_speaker", "test_sentence", "test_speaker"),
    best_metric="cer",
    greater_is_better=False,
    scorer=pretraining_scorer,
    final_scores=pretraining_evaluation,
    split_scores=pretraining_split_scores,
    pipeline_tag="automatic-speech-recognition",
    task_name="Automatic Speech Recognition",
    card_metrics=("cer", "wer", "speaker_accuracy"),
    card_summary="Multi-task pre-training (ASR + person identification) on {dataset}.",
)
EMOTION = Stage(
    name="emotion",
    model_class=MMEmbedForEmotionRecognition,
    label_names=("labels",),
    targets=emotion_targets,
    check_labels=check_emotion_labels,
    run_fields=emotion_fields,
    evaluation_splits=("validation", "test"),
    best_metric="mean_weighted_accuracy",
    greater_is_better=True,
    scorer=emotion_scorer,
    final_scores=emotion_evaluation,
    split_scores=emotion_split_scores,
    pipeline_tag="audio-classification",
    task_name="Multimodal Emotion Recognition",
    card_metrics=(
        *("mean_weighted_accuracy", "mean_f1", "mean_auc"),  # per emotion (Zadeh et al. 2018)
        *(f"{name}{suffix}" for suffix in ("", "_untuned") for name in SET_BASED),  # TAILOR / CARAT
    ),
    card_summary="Multimodal Emotion Recognition from audio, visual features and text, trained on {dataset}.",
)
SENTIMENT = replace(  # the emotion model with one regression output, on the same splits
    EMOTION,
    name="sentiment",
    card_metrics=("mae", "pearson_r", "acc7", "acc5", "acc2_negative_nonnegative", "acc2_negative_positive"),
    targets=sentiment_targets,
    best_metric="mae",
    check_labels=check_sentiment_labels,
    greater_is_better=False,
    run_fields=sentiment_fields,
    task_name="Multimodal Sentiment Regression",
    scorer=sentiment_scorer,
    card_summary="Multimodal Sentiment Regression from audio, visual features and text, trained on {dataset}.",
    final_scores=sentiment_evaluation,
    split_scores=sentiment_split_scores,
)
STAGES = {stage.name: stage for stage in (PRETRAIN, EMOTION, SENTIMENT)}
"""The training stages by `--stage` name."""


def stage_of_checkpoint(config: MMEmbedConfig) -> Stage:
    """The stage a saved model was trained in: pre-training by its architecture, else sentiment by regression."""
    if "MMEmbedForPreTraining" in (config.architectures or []):
        return PRETRAIN
    return SENTIMENT if config.problem_type == "regression" else EMOTION


__all__ = ["EMOTION", "PRETRAIN", "SENTIMENT", "STAGES", "Stage", "stage_of_checkpoint"]
