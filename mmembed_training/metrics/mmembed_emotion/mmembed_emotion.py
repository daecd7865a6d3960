"""
CMU-MOSEI 6-emotion metric for `evaluate`, both protocols of the literature: per-emotion weighted accuracy (balanced
accuracy), weighted F1 and AUC, and their means (Zadeh et al. 2018), and the set-based multi-label figures (TAILOR,
CARAT): per-sample Jaccard accuracy (an empty union counts 0), Hamming loss, micro-F1 and macro-F1, at the given
per-emotion decision thresholds and, suffixed `_untuned`, at 0.5.

    import evaluate
    from mmembed_training import EMOTION_METRIC_PATH         # this folder, wherever mmembed is installed
    metric = evaluate.load(EMOTION_METRIC_PATH)              # a local path: works offline
    metric.compute(predictions=probabilities, references=labels, thresholds=[0.5] * 6)

`predictions` are per-example lists of 6 probabilities (happy, sad, anger, surprise, disgust, fear), `references`
per-example lists of 6 binary labels. Self-contained (numpy and scikit-learn only), so it loads without mmembed
installed, from this folder or from the Hub; `tests/test_metrics.py` checks it equals mmembed's own
`mmembed_training.scores.emotion_scores`, which training uses.
"""

import warnings

import datasets
import evaluate
import numpy as np
from sklearn.metrics import balanced_accuracy_score, f1_score, hamming_loss, jaccard_score, roc_auc_score

EMOTIONS = ("happy", "sad", "anger", "surprise", "disgust", "fear")  # mmembed's EMOTIONS: this file stands alone
_CITATION = ""
_DESCRIPTION = __doc__
_KWARGS_DESCRIPTION = """
Args:
    predictions: list of lists of 6 floats, the sigmoid probability of each emotion.
    references: list of lists of 6 ints (0/1), whether each emotion is present.
    thresholds: list of 6 floats, the per-emotion decision thresholds (default 0.5 each).
Returns:
    `{emotion}_weighted_accuracy`, `{emotion}_f1`, `{emotion}_auc` (None when the emotion has one class only),
    `mean_weighted_accuracy`, `mean_f1`, `mean_auc`, and `jaccard_accuracy`, `hamming_loss`, `micro_f1`,
    `macro_f1`, each also with the suffix `_untuned` (decisions at 0.5).
"""


def set_scores(labels: np.ndarray, decisions: np.ndarray) -> dict:
    """Jaccard accuracy per sample (empty union: 0), Hamming loss, micro-F1, macro-F1."""
    return {
        "jaccard_accuracy": float(jaccard_score(labels, decisions, average="samples", zero_division=0)),
        "hamming_loss": float(hamming_loss(labels, decisions)),
        "micro_f1": float(f1_score(labels, decisions, average="micro", zero_division=0)),
        "macro_f1": float(f1_score(labels, decisions, average="macro", zero_division=0)),
    }


def balanced_accuracy(truth: np.ndarray, decided: np.ndarray) -> float:
    """Weighted accuracy; with one class in `truth`, scikit-learn's mean recall is the accuracy on that class."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "y_pred contains classes not in y_true"
        return float(balanced_accuracy_score(truth, decided))


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class MmembedEmotion(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {
                    "predictions": datasets.Sequence(datasets.Value("float32")),
                    "references": datasets.Sequence(datasets.Value("int32")),
                }
            ),
        )

    def _compute(self, predictions, references, thresholds=None):
        probabilities, labels = np.asarray(predictions, dtype=np.float64), np.asarray(references).astype(int)
        decisions = probabilities >= np.asarray(thresholds if thresholds is not None else [0.5] * len(EMOTIONS))
        scores = {}
        for index, name in enumerate(EMOTIONS):
            truth = labels[:, index]
            scores[f"{name}_weighted_accuracy"] = balanced_accuracy(truth, decisions[:, index])
            scores[f"{name}_f1"] = float(f1_score(truth, decisions[:, index], average="weighted", zero_division=0))
            two_classes = 0 < truth.sum() < len(truth)
            scores[f"{name}_auc"] = float(roc_auc_score(truth, probabilities[:, index])) if two_classes else None
        for metric in ("weighted_accuracy", "f1", "auc"):
            values = [scores[f"{name}_{metric}"] for name in EMOTIONS if scores[f"{name}_{metric}"] is not None]
            scores[f"mean_{metric}"] = float(np.mean(values)) if values else None
        scores.update(set_scores(labels, decisions.astype(int)))
        untuned = set_scores(labels, (probabilities >= 0.5).astype(int))
        scores.update({f"{name}_untuned": value for name, value in untuned.items()})
        return scores
