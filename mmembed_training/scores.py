# Copyright 2026 The mmembed authors. Licensed under the Apache License, Version 2.0.
"""
Evaluation metrics of mmembed, computed with scikit-learn and jiwer (the `train` extra):

- emotion (6 multi-label emotions), both protocols of the literature, from the same decisions:
  - per emotion (Zadeh et al. 2018): weighted accuracy (= balanced accuracy), weighted F1, AUC, and their means;
  - set-based (TAILOR, CARAT, UniVA since 2021): accuracy as the per-sample Jaccard index of predicted and true
    emotion sets (an empty union counts 0, as TAILOR's `get_accuracy`), Hamming loss, micro-F1 and macro-F1;
  at the given thresholds (tuned on a validation split) and, suffixed `_untuned`, at a fixed 0.5 (as MulT-style
  code decides).
- sentiment (as MMSA reports it): MAE, Pearson r, 7- and 5-class accuracy (clip to [-3, 3] / [-2, 2], round),
  binary accuracy and weighted F1 as negative/non-negative and as negative/positive with zeros excluded.
- ASR: character and word error rates.
- person identification: top-1 accuracy.
"""

import math

import numpy as np

from modeling_mmembed.configuration_mmembed import EMOTIONS


def weighted_accuracy(labels: np.ndarray, predictions: np.ndarray) -> float:
    """
    `(TP * N / P + TN) / (2N)` on binary labels, which is balanced accuracy. When one class is absent from `labels`
    it is the accuracy on the class that is present (so the score stays defined).
    """
    labels, predictions = np.asarray(labels).astype(bool), np.asarray(predictions).astype(bool)
    positives, negatives = labels.sum(), (~labels).sum()
    recalls = []
    if positives:
        recalls.append((predictions & labels).sum() / positives)
    if negatives:
        recalls.append((~predictions & ~labels).sum() / negatives)
    return float(np.mean(recalls)) if recalls else float("nan")


def emotion_scores(
    probabilities: np.ndarray,
    labels: np.ndarray,
    thresholds,
    names=EMOTIONS,
) -> dict:
    """
    Per-emotion and mean weighted accuracy, weighted F1 (scikit-learn `average="weighted"`) and AUC of
    `probabilities` `(N, 6)` thresholded per emotion against binary `labels` `(N, 6)`. An emotion without both classes
    in `labels` has AUC None (left out of the mean AUC); its accuracy and F1 stay defined.
    """
    from sklearn.metrics import f1_score, roc_auc_score

    probabilities, labels = np.asarray(probabilities, dtype=np.float64), np.asarray(labels).astype(int)
    predictions = probabilities >= np.asarray(thresholds)[None, :]
    scores = {}
    for index, name in enumerate(names):
        truth, guess = labels[:, index], predictions[:, index]
        scores[f"{name}_weighted_accuracy"] = weighted_accuracy(truth, guess)
        scores[f"{name}_f1"] = float(f1_score(truth, guess, average="weighted", zero_division=0))
        both_classes = 0 < truth.sum() < len(truth)
        scores[f"{name}_auc"] = float(roc_auc_score(truth, probabilities[:, index])) if both_classes else None
    for metric in ("weighted_accuracy", "f1", "auc"):
        values = [scores[f"{name}_{metric}"] for name in names if scores[f"{name}_{metric}"] is not None]
        scores[f"mean_{metric}"] = float(np.mean(values)) if values else None
    scores.update(multilabel_scores(labels, predictions))
    untuned = multilabel_scores(labels, probabilities >= UNTUNED_THRESHOLD)
    scores.update({f"{name}_untuned": value for name, value in untuned.items()})
    return scores


UNTUNED_THRESHOLD = 0.5


def multilabel_scores(labels: np.ndarray, decisions: np.ndarray) -> dict:
    """
    The set-based multi-label figures of binary `labels` and `decisions` `(N, num_labels)`: `jaccard_accuracy`
    (mean per-sample |true & predicted| / |true | predicted|, 0 when both sets are empty), `hamming_loss`,
    `micro_f1`, `macro_f1` (scikit-learn).
    """
    from sklearn.metrics import f1_score, hamming_loss, jaccard_score

    labels, decisions = np.asarray(labels).astype(int), np.asarray(decisions).astype(int)
    return {
        "jaccard_accuracy": float(jaccard_score(labels, decisions, average="samples", zero_division=0)),
        "hamming_loss": float(hamming_loss(labels, decisions)),
        "micro_f1": float(f1_score(labels, decisions, average="micro", zero_division=0)),
        "macro_f1": float(f1_score(labels, decisions, average="macro", zero_division=0)),
    }


def mean_weighted_accuracy_of_rows(labels: np.ndarray, decisions: np.ndarray) -> np.ndarray:
    """
    Mean weighted accuracy over the labels of each row of `(resamples, examples, labels)` boolean `labels` and
    `decisions` -> `(resamples,)`, with `weighted_accuracy`'s convention where a label has one class only.
    """
    positives, negatives = labels.sum(1), (~labels).sum(1)
    true_positive_rate = (decisions & labels).sum(1) / np.maximum(positives, 1)
    true_negative_rate = (~decisions & ~labels).sum(1) / np.maximum(negatives, 1)
    both = (true_positive_rate + true_negative_rate) / 2
    accuracy = np.where(positives == 0, true_negative_rate, np.where(negatives == 0, true_positive_rate, both))
    return accuracy.mean(-1)


def paired_bootstrap(
    labels, first, second, groups=None, resamples: int = 2000, seed: int = 0, confidence: float = 0.95
) -> dict:
    """
    The difference in mean weighted accuracy between two systems' binary `first` and `second` decisions on the same
    examples (`(examples, labels)` each, against binary `labels`), with a paired bootstrap interval: examples are
    resampled with replacement, the same draw for both systems. With `groups` (one id per example, e.g. the corpus
    seed each came from) the resampling stays within each group and the figure is the mean over groups.
    Returns `difference`, `low`, `high` and `resamples`.
    """
    labels, first, second = (np.asarray(array).astype(bool) for array in (labels, first, second))
    groups = np.zeros(len(labels), dtype=int) if groups is None else np.asarray(groups)
    generator = np.random.default_rng(seed)
    observed, draws = [], []
    for group in np.unique(groups):
        members = np.flatnonzero(groups == group)
        picks = members[generator.integers(len(members), size=(resamples, len(members)))]
        observed.append(
            mean_weighted_accuracy_of_rows(labels[members][None], first[members][None])[0]
            - mean_weighted_accuracy_of_rows(labels[members][None], second[members][None])[0]
        )
        draws.append(
            mean_weighted_accuracy_of_rows(labels[picks], first[picks])
            - mean_weighted_accuracy_of_rows(labels[picks], second[picks])
        )
    differences = np.mean(draws, axis=0)
    tail = (1 - confidence) / 2 * 100
    return {
        "difference": float(np.mean(observed)),
        "low": float(np.percentile(differences, tail)),
        "high": float(np.percentile(differences, 100 - tail)),
        "resamples": resamples,
    }


def tune_thresholds(probabilities: np.ndarray, labels: np.ndarray, candidates: int = 101) -> list[float]:
    """
    Per emotion, the threshold with the best weighted accuracy on these (validation) predictions, searched over
    `candidates` quantiles of the predicted probabilities (so a model whose scores sit in a narrow band still gets
    a separating threshold); 0.5 for an emotion whose labels have a single class.
    """
    probabilities, labels = np.asarray(probabilities, dtype=np.float64), np.asarray(labels).astype(bool)
    thresholds = []
    for index in range(labels.shape[1]):
        scores_of = probabilities[:, index]
        if labels[:, index].all() or not labels[:, index].any():
            thresholds.append(0.5)
            continue
        grid = np.unique(np.quantile(scores_of, np.linspace(0.0, 1.0, candidates)))
        accuracies = [weighted_accuracy(labels[:, index], scores_of >= value) for value in grid]
        thresholds.append(float(np.clip(grid[int(np.argmax(accuracies))], 1e-6, 1 - 1e-6)))
    return thresholds


def sentiment_scores(predictions: np.ndarray, targets: np.ndarray) -> dict:
    """MOSEI sentiment metrics of predicted and true scores in [-3, 3]."""
    from sklearn.metrics import accuracy_score, f1_score

    predictions, targets = np.asarray(predictions, dtype=np.float64), np.asarray(targets, dtype=np.float64)
    correlation = float(np.corrcoef(predictions, targets)[0, 1]) if len(targets) > 1 else float("nan")
    non_zero = targets != 0
    scores = {
        "mae": float(np.abs(predictions - targets).mean()),
        "pearson_r": correlation if math.isfinite(correlation) else None,
        "acc7": float(accuracy_score(np.round(np.clip(targets, -3, 3)), np.round(np.clip(predictions, -3, 3)))),
        "acc5": float(accuracy_score(np.round(np.clip(targets, -2, 2)), np.round(np.clip(predictions, -2, 2)))),
        "acc2_negative_nonnegative": float(accuracy_score(targets >= 0, predictions >= 0)),
        "f1_negative_nonnegative": float(
            f1_score(targets >= 0, predictions >= 0, average="weighted", zero_division=0)
        ),
    }
    if non_zero.any():
        truth, guess = targets[non_zero] > 0, predictions[non_zero] > 0
        scores["acc2_negative_positive"] = float(accuracy_score(truth, guess))
        scores["f1_negative_positive"] = float(f1_score(truth, guess, average="weighted", zero_division=0))
    else:
        scores["acc2_negative_positive"] = scores["f1_negative_positive"] = None
    return scores


def classification_scores(probabilities: np.ndarray, labels: np.ndarray) -> dict:
    """
    Single-label figures of class `probabilities` `(N, classes)` against class ids `labels` `(N,)`: `accuracy`,
    `unweighted_accuracy` (mean per-class recall, scikit-learn's balanced accuracy: the speech-emotion convention,
    UA beside WA) and `macro_f1`.
    """
    from sklearn.metrics import balanced_accuracy_score, f1_score

    predictions, labels = np.asarray(probabilities).argmax(axis=1), np.asarray(labels).astype(int)
    return {
        "accuracy": accuracy(labels, predictions),
        "unweighted_accuracy": float(balanced_accuracy_score(labels, predictions)),
        "macro_f1": float(f1_score(labels, predictions, average="macro", zero_division=0)),
    }


def concordance_correlation(predictions: np.ndarray, targets: np.ndarray) -> float | None:
    """Lin's concordance correlation coefficient (the dimensional-emotion convention); None without variance."""
    predictions, targets = np.asarray(predictions, np.float64), np.asarray(targets, np.float64)
    denominator = predictions.var() + targets.var() + (predictions.mean() - targets.mean()) ** 2
    if len(targets) < 2 or denominator == 0:
        return None
    return float(2 * np.mean((predictions - predictions.mean()) * (targets - targets.mean())) / denominator)


def regression_scores(predictions: np.ndarray, targets: np.ndarray, names) -> dict:
    """
    Per target (`names`, one column of `predictions`/`targets` `(N, len(names))` each) the concordance correlation
    coefficient, MAE and Pearson r, and their means over the targets (`mean_ccc`, `mean_mae`, `mean_pearson_r`).
    """
    predictions = np.asarray(predictions, np.float64).reshape(len(predictions), -1)
    targets = np.asarray(targets, np.float64).reshape(len(targets), -1)
    scores = {}
    for index, name in enumerate(names):
        guess, truth = predictions[:, index], targets[:, index]
        correlation = float(np.corrcoef(guess, truth)[0, 1]) if len(truth) > 1 else float("nan")
        scores[f"{name}_ccc"] = concordance_correlation(guess, truth)
        scores[f"{name}_mae"] = float(np.abs(guess - truth).mean())
        scores[f"{name}_pearson_r"] = correlation if math.isfinite(correlation) else None
    for metric in ("ccc", "mae", "pearson_r"):
        values = [scores[f"{name}_{metric}"] for name in names if scores[f"{name}_{metric}"] is not None]
        scores[f"mean_{metric}"] = float(np.mean(values)) if values else None
    return scores


def asr_scores(references: list[str], hypotheses: list[str]) -> dict:
    """Character and word error rates (jiwer) of hypotheses against references."""
    import jiwer

    if not references:
        raise ValueError("ASR scores need at least one reference transcript.")
    references = [reference if reference.strip() else "<empty>" for reference in references]
    return {"cer": float(jiwer.cer(references, hypotheses)), "wer": float(jiwer.wer(references, hypotheses))}


def accuracy(labels, predictions) -> float:
    """Top-1 accuracy."""
    labels, predictions = np.asarray(labels), np.asarray(predictions)
    return float((labels == predictions).mean())


__all__ = [
    "accuracy",
    "asr_scores",
    "classification_scores",
    "concordance_correlation",
    "regression_scores",
    "emotion_scores",
    "multilabel_scores",
    "paired_bootstrap",
    "sentiment_scores",
    "tune_thresholds",
    "weighted_accuracy",
]
