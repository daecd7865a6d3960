"""
CMU-MOSEI 6-emotion metric for `evaluate`: per-emotion weighted accuracy (balanced accuracy), weighted F1 and AUC,
and their means, with per-emotion decision thresholds.

    import evaluate
    metric = evaluate.load("metrics/mmembed_emotion")        # a local path: works offline
    metric.compute(predictions=probabilities, references=labels, thresholds=[0.5] * 6)

`predictions` are per-example lists of 6 probabilities (happy, sad, anger, surprise, disgust, fear), `references`
per-example lists of 6 binary labels. Computed with scikit-learn by `modeling_mmembed.metrics_mmembed`.
"""

import datasets
import evaluate

from modeling_mmembed.metrics_mmembed import emotion_scores

_CITATION = ""
_DESCRIPTION = __doc__
_KWARGS_DESCRIPTION = """
Args:
    predictions: list of lists of 6 floats, the sigmoid probability of each emotion.
    references: list of lists of 6 ints (0/1), whether each emotion is present.
    thresholds: list of 6 floats, the per-emotion decision thresholds (default 0.5 each).
Returns:
    `{emotion}_weighted_accuracy`, `{emotion}_f1`, `{emotion}_auc` (None when the emotion has one class only), and
    `mean_weighted_accuracy`, `mean_f1`, `mean_auc`.
"""


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
        return emotion_scores(predictions, references, thresholds if thresholds is not None else [0.5] * 6)
