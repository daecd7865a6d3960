"""The metrics against hand-computed values, and the `evaluate` module."""

from pathlib import Path

import numpy as np
import pytest

from mmembed_training import EMOTION_METRIC_PATH
from mmembed_training.scores import (
    asr_scores,
    emotion_scores,
    sentiment_scores,
    tune_thresholds,
    weighted_accuracy,
)

METRIC_MODULE = Path(EMOTION_METRIC_PATH)


def test_weighted_accuracy_by_hand():
    labels = np.array([1, 1, 0, 0, 0, 0, 0, 0])
    predictions = np.array([1, 0, 0, 0, 0, 0, 1, 1])
    # TP=1, P=2, TN=4, N=6: (1 * 6 / 2 + 4) / (2 * 6) = 7 / 12
    assert weighted_accuracy(labels, predictions) == pytest.approx(7 / 12)


def test_emotion_scores_by_hand_including_an_emotion_without_positives():
    labels = np.zeros((6, 6), dtype=int)
    labels[:3, 0] = 1  # happy: 3 positives, 3 negatives
    probabilities = np.full((6, 6), 0.1)
    probabilities[:, 0] = [0.9, 0.8, 0.2, 0.7, 0.1, 0.3]  # happy: TP 2, FN 1, FP 1, TN 2
    scores = emotion_scores(probabilities, labels, [0.5] * 6)
    assert scores["happy_weighted_accuracy"] == pytest.approx((2 / 3 + 2 / 3) / 2)
    # weighted F1: class 1 F1 = 2/3, class 0 F1 = 2/3 -> 2/3
    assert scores["happy_f1"] == pytest.approx(2 / 3)
    # AUC: positive scores .9 .8 .2 vs negatives .7 .1 .3 -> pairs won 3+3+1 = 7 of 9
    assert scores["happy_auc"] == pytest.approx(7 / 9)
    # sad has no positive example: accuracy on the negatives, F1 of the one class, no AUC
    assert scores["sad_weighted_accuracy"] == 1.0 and scores["sad_f1"] == 1.0 and scores["sad_auc"] is None
    assert scores["mean_auc"] == pytest.approx(7 / 9)
    assert scores["mean_weighted_accuracy"] == pytest.approx((2 / 3 + 5) / 6)


def test_set_based_multilabel_scores_by_hand_tuned_and_at_one_half():
    labels = np.array([[1, 1, 0, 0, 0, 0], [0, 0, 1, 0, 0, 0], [0, 0, 0, 0, 0, 0], [1, 0, 0, 0, 0, 1]])
    probabilities = np.full((4, 6), 0.1)
    probabilities[0, :3] = [0.9, 0.45, 0.45]  # tuned (0.4): {happy, sad, anger} vs {happy, sad}; at 0.5: {happy}
    probabilities[3, [0, 5]] = 0.45  # tuned: both right; at 0.5: none
    scores = emotion_scores(probabilities, labels, [0.4] * 6)
    # Jaccard per sample: 2/3, 0/1 (anger missed), empty union counts 0 (TAILOR's convention), 2/2
    assert scores["jaccard_accuracy"] == pytest.approx((2 / 3 + 0 + 0 + 1) / 4)
    assert scores["hamming_loss"] == pytest.approx(2 / 24)  # anger wrong twice (sample 0 extra, sample 1 missed)
    # micro: TP 4 (happy, sad, happy, fear), FP 1, FN 1 -> F1 = 8 / 10
    assert scores["micro_f1"] == pytest.approx(0.8)
    # macro over 6 emotions: happy 1, sad 1, anger 0 (TP 0), surprise 0 and disgust 0 (no positives), fear 1
    assert scores["macro_f1"] == pytest.approx(3 / 6)
    assert scores["jaccard_accuracy_untuned"] == pytest.approx((1 / 2 + 0 + 0 + 0) / 4)
    assert scores["hamming_loss_untuned"] == pytest.approx(4 / 24)
    assert scores["micro_f1_untuned"] == pytest.approx(2 * 1 / (2 * 1 + 0 + 4))


def test_threshold_tuning_separates_narrow_scores():
    probabilities = np.array([[0.30], [0.31], [0.32], [0.33]])
    labels = np.array([[0], [0], [1], [1]])
    (threshold,) = tune_thresholds(probabilities, labels)
    assert 0.31 < threshold <= 0.32
    assert tune_thresholds(np.array([[0.2], [0.9]]), np.array([[0], [0]])) == [0.5]


def test_sentiment_scores_by_hand():
    targets = np.array([2.0, -1.0, 0.0, -2.6])
    predictions = np.array([1.6, 0.5, -0.4, -2.0])
    scores = sentiment_scores(predictions, targets)
    assert scores["mae"] == pytest.approx((0.4 + 1.5 + 0.4 + 0.6) / 4)
    assert scores["acc7"] == pytest.approx(2 / 4)  # rounded: 2 vs 2, -1 vs 0 (0.5 rounds to 0), 0 vs -0, -3 vs -2
    assert scores["acc5"] == pytest.approx(3 / 4)  # clipped to [-2, 2] first: -2.6 -> -2 vs -2.0 is now right
    assert scores["acc2_negative_nonnegative"] == pytest.approx(2 / 4)  # 2>=0 ok, -1 vs .5 no, 0 vs -.4 no, ok
    assert scores["acc2_negative_positive"] == pytest.approx(2 / 3)  # zero target excluded
    assert scores["pearson_r"] == pytest.approx(np.corrcoef(predictions, targets)[0, 1])


def test_asr_scores_by_hand():
    scores = asr_scores(["abc def", "ghi"], ["abd def", "ghi"])
    assert scores["cer"] == pytest.approx(1 / 10)  # one substitution in 7 + 3 characters
    assert scores["wer"] == pytest.approx(1 / 3)


def test_evaluate_module_loads_offline_from_any_folder_and_matches(monkeypatch, tmp_path):
    import evaluate

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.chdir(tmp_path)  # the packaged path, not one relative to the repository's root
    metric = evaluate.load(EMOTION_METRIC_PATH)
    rng = np.random.default_rng(0)
    probabilities = rng.random((30, 6))
    labels = (rng.random((30, 6)) > 0.6).astype(int)
    labels[:, 4] = 0
    thresholds = [0.4, 0.5, 0.6, 0.5, 0.5, 0.3]
    result = metric.compute(predictions=probabilities.tolist(), references=labels.tolist(), thresholds=thresholds)
    expected = emotion_scores(probabilities, labels, thresholds)
    assert result.keys() == expected.keys()
    for name, value in expected.items():
        assert result[name] == pytest.approx(value) if value is not None else result[name] is None


METRIC_WITHOUT_THE_PACKAGE = """
import evaluate
metric = evaluate.load(sys.argv[1])
print(metric.compute(predictions=[[0.9] * 6, [0.1] * 6], references=[[1] * 6, [0] * 6])["mean_weighted_accuracy"])
"""


def test_evaluate_module_is_self_contained(tmp_path):
    """It loads where `modeling_mmembed` cannot be imported (as from the Hub), without asking to install it."""
    from .remote_code import run_without_installed_package

    assert run_without_installed_package(METRIC_WITHOUT_THE_PACKAGE, [METRIC_MODULE], tmp_path) == "1.0"


def test_row_wise_weighted_accuracy_matches_emotion_scores_including_one_class_labels():
    from mmembed_training.scores import mean_weighted_accuracy_of_rows

    rng = np.random.default_rng(1)
    labels = rng.random((40, 6)) < 0.4
    labels[:, 4] = False  # one class only
    decisions = rng.random((40, 6)) < 0.5
    expected = emotion_scores(decisions.astype(float), labels, [0.5] * 6)["mean_weighted_accuracy"]
    assert mean_weighted_accuracy_of_rows(labels[None], decisions[None])[0] == pytest.approx(expected)


def test_paired_bootstrap_interval_is_paired_and_separates_a_better_system():
    from mmembed_training.scores import paired_bootstrap

    rng = np.random.default_rng(0)
    labels = rng.random((300, 6)) < 0.4
    good = np.where(rng.random((300, 6)) < 0.85, labels, ~labels)
    worse = np.where(rng.random((300, 6)) < 0.65, labels, ~labels)
    same = paired_bootstrap(labels, good, good)
    assert same["difference"] == same["low"] == same["high"] == 0.0  # paired: the same draw for both systems
    better = paired_bootstrap(labels, good, worse, resamples=500)
    full = emotion_scores(good.astype(float), labels, [0.5] * 6)["mean_weighted_accuracy"]
    full -= emotion_scores(worse.astype(float), labels, [0.5] * 6)["mean_weighted_accuracy"]
    assert better["difference"] == pytest.approx(full) and 0 < better["low"] < full < better["high"]
    noise = paired_bootstrap(labels, worse, np.where(rng.random((300, 6)) < 0.65, labels, ~labels), resamples=500)
    assert noise["low"] < 0 < noise["high"]  # two systems of the same skill: the interval holds 0
    groups = np.repeat([0, 1, 2], 100)  # per seed: resampled within each, the figure the mean over seeds
    grouped = paired_bootstrap(labels, good, worse, groups=groups, resamples=500)
    per_seed = [
        paired_bootstrap(labels[groups == g], good[groups == g], worse[groups == g], resamples=10)["difference"]
        for g in range(3)
    ]
    assert grouped["difference"] == pytest.approx(np.mean(per_seed)) and grouped["low"] > 0
