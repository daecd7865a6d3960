"""
What an embedding carries by itself: a linear probe on a frozen encoder's pooled embedding (`pooler_output`), the
way self-supervised speech encoders are compared (SUPERB's frozen-upstream protocol). One logistic regression per
emotion is fitted on the training embeddings (or a fraction of them), its decision thresholds are tuned on
validation, and the test split is scored once.
"""

import numpy as np
import torch

from .baselines import emotion_probabilities
from .data import train_fraction_indices
from .evaluation import batches
from .scores import emotion_scores, tune_thresholds


@torch.no_grad()
def pooled_embeddings(encoder, dataset, collator, batch_size: int = 32) -> np.ndarray:
    """`(items, hidden_size)` float32: the encoder's pooled embedding of every item of `dataset`, in order."""
    encoder.eval()
    rows = []
    for batch in batches(dataset, collator, batch_size, encoder.device):
        batch.pop("labels", None)
        rows.append(encoder(**batch).pooler_output.float().cpu().numpy())
    return np.concatenate(rows)


def frozen_probe(encoder, corpus, collator, fractions=(1.0,), seed: int = 0) -> dict:
    """
    Per training fraction (`train_fraction_indices`, the items the fine-tuned runs of that fraction train on) the
    validation and test scores of the linear probe on `encoder`'s frozen embeddings, and its test decisions
    (`(examples, 6)` booleans, for paired comparisons).
    """
    splits = ("train", "validation", "test")
    embedded = {split: pooled_embeddings(encoder, corpus[split], collator) for split in splits}
    labels = {split: np.asarray(corpus[split]["emotion_labels"]) for split in embedded}
    results = {}
    for fraction in fractions:
        chosen = train_fraction_indices(len(labels["train"]), fraction)
        validation, test = emotion_probabilities(
            "logistic regression",
            embedded["train"][chosen],
            labels["train"][chosen],
            [embedded["validation"], embedded["test"]],
            seed,
        )
        thresholds = tune_thresholds(validation, labels["validation"])
        results[fraction] = {
            "validation": emotion_scores(validation, labels["validation"], thresholds),
            "test": emotion_scores(test, labels["test"], thresholds),
            "test_decisions": test >= np.asarray(thresholds)[None, :],
        }
    return results
