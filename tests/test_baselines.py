"""The pooled-feature baselines of the default run: protocol (fit on train, thresholds and choice on validation)."""

import datasets
import numpy as np

from mmembed_training.baselines import modality_sets, pooled_baselines


def corpus_with(cue, seed: int = 0, sizes=(120, 60, 60)):
    """A MOSEI-style corpus whose labels are carried as `cue(audio, visual, labels)` decides (returns both)."""
    rng = np.random.default_rng(seed)
    splits = {}
    for name, count in zip(("train", "validation", "test"), sizes, strict=True):
        labels = (rng.random((count, 6)) < 0.4).astype(np.int8)
        audio = [rng.standard_normal((int(rng.integers(20, 40)), 8)).astype(np.float32) for _ in range(count)]
        visual = [rng.standard_normal((int(rng.integers(10, 20)), 5)).astype(np.float32) for _ in range(count)]
        cue(audio, visual, labels)
        words = [["the", "quick", "fox"] for _ in range(count)]
        splits[name] = datasets.Dataset.from_dict(
            {"input_features": audio, "visual_features": visual, "words": words, "emotion_labels": labels.tolist()}
        )
    return datasets.DatasetDict(splits)


def mean_shift(audio, visual, labels):
    for frames, present in zip(visual, labels[:, 2], strict=True):
        frames[:, 0] += 2.0 * present  # anger as a mean shift of one visual feature: what pooled features see


def reversed_in_time(audio, visual, labels):
    for frames, present in zip(audio, labels[:, 0], strict=True):
        ramp = np.linspace(0, 3, len(frames))
        frames[:, 0] += ramp if present else ramp[::-1]  # happy as a contour: same values, other order


def test_every_modality_set_with_both_classifiers():
    assert modality_sets() == [("audio",), ("visual",), ("text",), ("audio", "visual"), ("audio", "text"),
                               ("visual", "text"), ("audio", "visual", "text")]  # fmt: skip
    result = pooled_baselines(corpus_with(mean_shift))
    assert len(result["baselines"]) == 2 * 7
    assert result["best_test"].shape == (60, 6) and result["best_test"].dtype == bool


def test_a_pooled_cue_is_found_and_chosen_on_validation_an_ordered_one_is_not():
    found = pooled_baselines(corpus_with(mean_shift), modalities=("audio", "visual"))
    scores = found["baselines"]
    best = max(scores, key=lambda key: scores[key]["validation"]["mean_weighted_accuracy"])
    assert found["best"] == best and "visual" in best  # the choice is made on validation, never on test
    assert scores[best]["test"]["anger_weighted_accuracy"] > 0.9
    contour = pooled_baselines(corpus_with(reversed_in_time), modalities=("audio", "visual"))["baselines"]
    assert max(result["test"]["happy_weighted_accuracy"] for result in contour.values()) < 0.7
