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
    classification_split,
    emotion_evaluation,
    emotion_scorer,
    emotion_split_scores,
    pretraining_evaluation,
    pretraining_scorer,
    pretraining_split_scores,
    regression_split,
    scored_by,
    sentiment_split,
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
        run_fields: `(run, corpus)` -> config fields the stage sets on a new or loaded model.
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


def class_id_check(column: str, count_field: str):
    """`check_labels` of a column of class ids: each in [0, the config's `count_field`)."""

    def check(dataset, config: MMEmbedConfig) -> None:
        values, count = np.asarray(dataset[column]), getattr(config, count_field)
        if values.min() < 0 or values.max() >= count:
            raise ValueError(f"{column} must lie in [0, {count}); found [{values.min()}, {values.max()}].")

    return check


def presence_check(column: str):
    """`check_labels` of a multi-label column: 0/1 presence only."""

    def check(dataset, config: MMEmbedConfig) -> None:
        values = np.unique(np.asarray(dataset[column]))
        if not set(values.tolist()) <= {0, 1}:
            raise ValueError(f"{column} must be 0/1 presence; found values {values.tolist()}.")

    return check


def check_sentiment_labels(dataset, config: MMEmbedConfig) -> None:
    values = np.asarray(dataset["sentiment"], dtype=np.float64)
    if not np.isfinite(values).all() or np.abs(values).max() > 3:
        raise ValueError(f"sentiment must be finite and within [-3, 3]; found range [{values.min()}, {values.max()}].")


def check_targets(dataset, config: MMEmbedConfig) -> None:
    values = np.asarray(dataset["targets"], dtype=np.float64)
    if values.ndim != 2 or values.shape[1] != config.num_labels or not np.isfinite(values).all():
        raise ValueError(f"targets must be finite, {config.num_labels} per example; found shape {values.shape}.")


def pretraining_targets(examples: list[dict]) -> dict:
    """The transcript tokens padded with -100 (ignored by the loss) and the speaker classes."""
    transcripts = [np.asarray(example["labels"], dtype=np.int64) for example in examples]
    return {
        "labels": torch.from_numpy(pad_sequences(transcripts, pad_value=-100)[0]),
        "speaker_labels": torch.tensor([int(example["speaker_labels"]) for example in examples]),
    }


def float_targets(column: str):
    """`targets` of a column of floats per example (presence labels, a score, regression targets)."""

    def targets(examples: list[dict]) -> dict:
        return {"labels": torch.tensor(np.array([example[column] for example in examples]), dtype=torch.float)}

    return targets


def class_targets(examples: list[dict]) -> dict:
    """Class ids of a single-label column."""
    return {"labels": torch.tensor([int(example["label"]) for example in examples], dtype=torch.long)}


def pretraining_fields(run, corpus) -> dict:
    fields = {"num_speakers": corpus["train"].features["speaker_labels"].num_classes}
    return fields | ({"ctc_loss_weight": run.ctc_loss_weight} if run.ctc_loss_weight is not None else {})


def emotion_fields(run, corpus) -> dict:
    """With `--pos_weight_from_train`, each emotion's BCE `pos_weight` from the training labels."""
    if not run.pos_weight_from_train:
        return {}
    return {"pos_weight": positive_weights(np.asarray(corpus["train"]["emotion_labels"]))}


def named_outputs(names) -> dict:
    """`id2label` and `label2id` of a head whose outputs are `names`, in order."""
    return {"id2label": dict(enumerate(names)), "label2id": {name: index for index, name in enumerate(names)}}


def sentiment_fields(run, corpus) -> dict:
    """One regression output named `sentiment` (in [-3, 3])."""
    return {**named_outputs(["sentiment"]), "problem_type": "regression", "thresholds": None}


def dataset_label_fields(run, corpus) -> dict:
    """
    A head for the dataset's own labels (`corpus.labels`): its names as `id2label`, its problem type; thresholds at
    0.5 and `pos_weight` from the training labels (with `--pos_weight_from_train`) for multi-label, none otherwise.
    """
    names, problem_type = list(corpus.labels.names), corpus.labels.problem_type
    fields = {**named_outputs(names), "problem_type": problem_type, "thresholds": None, "pos_weight": None}
    if problem_type == "multi_label_classification":
        fields["thresholds"] = [0.5] * len(names)
        if run.pos_weight_from_train:
            fields["pos_weight"] = positive_weights(np.asarray(corpus["train"]["multi_labels"]))
    return fields


def positive_weights(labels: np.ndarray) -> list[float]:
    """Per label negatives / positives of the training labels (1 where a label has no positive example)."""
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
    check_labels=class_id_check("speaker_labels", "num_speakers"),
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
    targets=float_targets("emotion_labels"),
    check_labels=presence_check("emotion_labels"),
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
    targets=float_targets("sentiment"),
    best_metric="mae",
    check_labels=check_sentiment_labels,
    greater_is_better=False,
    run_fields=sentiment_fields,
    task_name="Multimodal Sentiment Regression",
    **scored_by(sentiment_split),
    card_summary="Multimodal Sentiment Regression from audio, visual features and text, trained on {dataset}.",
)
MULTILABEL = replace(  # your own dataset's label set: the emotion stage's protocol (thresholds tuned on validation)
    EMOTION,
    name="multilabel",
    targets=float_targets("multi_labels"),
    check_labels=presence_check("multi_labels"),
    run_fields=dataset_label_fields,
    task_name="Multimodal Multi-label Classification",
    card_metrics=("mean_weighted_accuracy", "mean_f1", "mean_auc", *SET_BASED),
    card_summary="Multi-label classification from audio, visual features and text, trained on {dataset}.",
)
CLASSIFICATION = replace(
    MULTILABEL,
    name="classification",
    targets=class_targets,
    check_labels=class_id_check("label", "num_labels"),
    best_metric="unweighted_accuracy",  # balanced accuracy: the speech-emotion convention for uneven classes
    **scored_by(classification_split),
    task_name="Multimodal Audio Classification",
    card_metrics=("unweighted_accuracy", "accuracy", "macro_f1"),
    card_summary="Single-label classification from audio, visual features and text, trained on {dataset}.",
)
REGRESSION = replace(
    MULTILABEL,
    name="regression",
    targets=float_targets("targets"),
    check_labels=check_targets,
    best_metric="mean_ccc",  # the concordance correlation: the convention of dimensional emotion work
    **scored_by(regression_split),
    task_name="Multimodal Regression",
    card_metrics=("mean_ccc", "mean_mae", "mean_pearson_r"),
    card_summary="Regression of {dataset}'s targets from audio, visual features and text.",
)

STAGES = {stage.name: stage for stage in (PRETRAIN, EMOTION, SENTIMENT)}
"""The training stages a `--stage` names."""

DATASET_STAGES = {
    "single_label_classification": CLASSIFICATION,
    "multi_label_classification": MULTILABEL,
    "regression": REGRESSION,
}
"""The stages of a dataset of your own, by the problem its labels pose (`PreparedCorpus.labels`)."""


ALL_STAGES = {stage.name: stage for stage in (*STAGES.values(), *DATASET_STAGES.values())}
"""Every stage by name (what the collator and a results file name)."""


def stage_of_checkpoint(config: MMEmbedConfig) -> Stage:
    """The stage a saved model was trained in: pre-training by its architecture, else sentiment by regression."""
    if "MMEmbedForPreTraining" in (config.architectures or []):
        return PRETRAIN
    return SENTIMENT if config.problem_type == "regression" else EMOTION


def stage_of_corpus(corpus, named: Stage) -> Stage:
    """The stage that trains on `corpus`: its own labels' (a dataset of your own), else the one `--stage` named."""
    return named if corpus.labels is None else DATASET_STAGES[corpus.labels.problem_type]


__all__ = [
    "ALL_STAGES",
    "CLASSIFICATION",
    "DATASET_STAGES",
    "EMOTION",
    "MULTILABEL",
    "PRETRAIN",
    "REGRESSION",
    "SENTIMENT",
    "STAGES",
    "Stage",
    "stage_of_checkpoint",
    "stage_of_corpus",
]
