"""
The simplest baselines, under the model's own protocol: logistic regression and gradient-boosted trees on pooled
per-example features (each stream's mean and standard deviation; word presence for token-id text), early fusion of
each modality set, one classifier per emotion, fitted on train, decision thresholds tuned on validation, the best
baseline chosen on validation, and test scored once with it.
"""

import itertools

import numpy as np

from data_scripts.pooled_features import pooled_features

from .scores import emotion_scores, tune_thresholds

MODALITIES = ("audio", "visual", "text")
CLASSIFIERS = ("logistic regression", "boosted trees")


def modality_sets(modalities=MODALITIES) -> list[tuple[str, ...]]:
    """Every non-empty set of the modalities, singles first."""
    return [subset for size in range(1, len(modalities) + 1) for subset in itertools.combinations(modalities, size)]


def make_classifier(name: str, seed: int):
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if name == "logistic regression":
        return make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=3000))
    return HistGradientBoostingClassifier(max_iter=200, random_state=seed)


def emotion_probabilities(name: str, train: np.ndarray, labels: np.ndarray, others: list[np.ndarray], seed: int):
    """Per split in `others` the `(examples, 6)` probabilities of one classifier per emotion fitted on `train`."""
    outputs = [np.full((len(matrix), labels.shape[1]), 0.5) for matrix in others]
    for index in range(labels.shape[1]):
        if len(np.unique(labels[:, index])) < 2:
            continue  # one class in training: 0.5 everywhere
        classifier = make_classifier(name, seed).fit(train, labels[:, index])
        for output, matrix in zip(outputs, others, strict=True):
            output[:, index] = classifier.predict_proba(matrix)[:, 1]
    return outputs


def pooled_baselines(corpus, seed: int = 0, modalities=MODALITIES) -> dict:
    """
    Every baseline's validation and test scores (`{"logistic regression, audio+visual": {...}}`, thresholds tuned on
    validation), the best one by validation mean weighted accuracy (`best`), and its test decisions (`best_test`,
    `(examples, 6)` booleans in the test split's order), for paired comparisons with a model.
    """
    train = pooled_features(corpus["train"])
    vocabulary = train.pop("vocabulary", None)
    splits = {split: pooled_features(corpus[split], vocabulary) for split in ("validation", "test")}
    labels = {split: np.asarray(corpus[split]["emotion_labels"]) for split in ("train", "validation", "test")}
    results, decisions = {}, {}
    for name, subset in itertools.product(CLASSIFIERS, modality_sets(modalities)):
        stacked = [np.concatenate([features[modality] for modality in subset], axis=1)
                   for features in (train, splits["validation"], splits["test"])]  # fmt: skip
        validation, test = emotion_probabilities(name, stacked[0], labels["train"], stacked[1:], seed)
        thresholds = tune_thresholds(validation, labels["validation"])
        key = f"{name}, {'+'.join(subset)}"
        results[key] = {
            "validation": emotion_scores(validation, labels["validation"], thresholds),
            "test": emotion_scores(test, labels["test"], thresholds),
        }
        decisions[key] = test >= np.asarray(thresholds)[None, :]
    best = max(results, key=lambda key: results[key]["validation"]["mean_weighted_accuracy"])
    return {"baselines": results, "best": best, "best_test": decisions[best]}


__all__ = ["modality_sets", "pooled_baselines"]
