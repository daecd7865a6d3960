"""
Which modality carries which emotion: probes and baselines on pooled per-example features.

    python -m data_scripts.modality_probe [--root DEMO_ROOT]      # the cue rules and probe tables of the demo corpora

Pooled features (`pooled_features`): each stream's mean and standard deviation over frames (audio, visual, text
word vectors), and for text given as token ids the presence of each word seen in at least 5 training examples.
`probe_table` gives, for each emotion and each modality set, the weighted accuracy (balanced accuracy, the MOSEI
convention) of a probe on those features by 5-fold cross-validation: logistic regression for single modalities,
gradient-boosted trees for a pair (which can represent an XOR of two cues). The demo corpora are built so that
these stay at chance: their cues are in order, timing, context and co-occurrence (`demo_cues`).
"""

import argparse
from pathlib import Path

import numpy as np

from modeling_mmembed.configuration_mmembed import EMOTIONS

from .pooled_features import pooled_features


def probe_weighted_accuracy(features: np.ndarray, labels: np.ndarray, nonlinear: bool, seed: int = 0) -> float:
    """5-fold cross-validated balanced accuracy of a probe predicting binary `labels` from `features`."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import balanced_accuracy_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if nonlinear:
        probe = HistGradientBoostingClassifier(max_iter=200, random_state=seed)
    elif set(np.unique(features)) <= {0.0, 1.0}:  # word presence: kept as is
        probe = LogisticRegression(C=1.0, max_iter=3000)
    else:
        probe = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=3000))
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=seed)
    predictions = cross_val_predict(probe, features, labels, cv=folds)
    return float(balanced_accuracy_score(labels, predictions))


def probe_table(dataset, seed: int = 0) -> dict[str, dict[str, float]]:
    """`{emotion: {modality: weighted accuracy}}` for audio, visual, text and the text+visual pair."""
    features = pooled_features(dataset)
    features.pop("vocabulary", None)
    features["text+visual"] = np.concatenate([features["text"], features["visual"]], axis=1)
    labels = np.asarray(dataset["emotion_labels"])
    return {
        emotion: {
            modality: probe_weighted_accuracy(matrix, labels[:, index], nonlinear=modality == "text+visual", seed=seed)
            for modality, matrix in features.items()
        }
        for index, emotion in enumerate(EMOTIONS)
    }


def cue_rule_table(directory) -> dict[str, float]:
    """
    Per emotion the weighted accuracy of the rule `demo_cues` documents, applied to the raw emotion corpus's files
    in `directory` (its WAVs, visual frames, transcripts and part times): the cues are where the documentation says,
    in an order, a timing, a context or a co-occurrence that pooled features do not see.
    """
    import soundfile

    from .demo_corpus import VISUAL_RATE
    from .demo_cues import NEGATION, NEUTRAL_WORDS, VISUAL_CUE_DIMS
    from .pretraining_corpus import read_manifest

    rows = read_manifest(Path(directory) / "labels.jsonl")
    decided = {emotion: [] for emotion in EMOTIONS}
    for row in rows:
        samples, rate = soundfile.read(row["audio"], dtype="float32")
        frames, parts = np.load(row["visual"]), row["parts"]
        pitch = [part_pitch(samples[int(part["start"] * rate) : int(part["end"] * rate)], rate) for part in parts]
        speed = [len(part["text"]) / (part["end"] - part["start"]) for part in parts]
        ends = [part["end"] for part in parts]
        loudest = part_index(ends, np.argmax(np.convolve(samples**2, np.ones(rate // 10), "same")) / rate)
        peak = {
            name: part_index(ends, np.argmax(smoothed(frames[:, dims].mean(1))) / VISUAL_RATE)
            for name, dims in VISUAL_CUE_DIMS.items()
        }
        tail = next(index for index, part in enumerate(parts) if part["text"].startswith("and it was"))
        decided["happy"].append(pitch[-1] > pitch[0])
        decided["surprise"].append(speed[-1] > speed[0])
        decided["sad"].append(any(f"{NEGATION} {word}" in parts[tail]["text"] for word in NEUTRAL_WORDS))
        decided["anger"].append(peak["anger"] == loudest)
        decided["fear"].append(builds_up(frames[:, VISUAL_CUE_DIMS["fear"]].mean(1)))
        decided["disgust"].append(peak["disgust"] == tail)
    from sklearn.metrics import balanced_accuracy_score

    labels = np.asarray([row["emotion_intensities"] for row in rows]) > 0
    return {
        emotion: float(balanced_accuracy_score(labels[:, index], np.asarray(decided[emotion], dtype=bool)))
        for index, emotion in enumerate(EMOTIONS)
    }


def smoothed(values: np.ndarray, width: int = 5) -> np.ndarray:
    return np.convolve(values, np.ones(width) / width, "same")


def builds_up(values: np.ndarray) -> bool:
    """Whether the strongest event in a noisy track builds up (its peak after its middle) rather than fades."""
    track = smoothed(values)
    peak, half = int(np.argmax(track)), 0.5 * track.max()
    start, stop = peak, peak
    while start > 0 and track[start - 1] > half:
        start -= 1
    while stop < len(track) - 1 and track[stop + 1] > half:
        stop += 1
    return peak > (start + stop) / 2


def part_index(ends: list[float], seconds: float) -> int:
    """The part (0-2) that a time falls in, from the parts' end times."""
    return min(int(np.searchsorted(ends, seconds)), len(ends) - 1)


def part_pitch(samples: np.ndarray, rate: int) -> float:
    """The median fundamental frequency (Hz) of a stretch of speech, from the autocorrelation of 40 ms frames."""
    size, lags = int(0.04 * rate), np.arange(int(rate / 400), int(rate / 60))
    estimates = []
    for start in range(0, len(samples) - size, size):
        frame = samples[start : start + size] - samples[start : start + size].mean()
        if np.sqrt(np.mean(frame**2)) < 0.02:  # silence
            continue
        correlation = np.correlate(frame, frame, "full")[size - 1 :]
        estimates.append(rate / lags[np.argmax(correlation[lags])])
    return float(np.median(estimates)) if estimates else 0.0


def format_table(table: dict[str, dict[str, float]]) -> str:
    modalities = list(next(iter(table.values())))
    lines = [f"{'emotion':<9}" + "".join(f"{modality:>13}" for modality in modalities)]
    for emotion, row in table.items():
        lines.append(f"{emotion:<9}" + "".join(f"{row[modality]:>13.2f}" for modality in modalities))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", default=None, help="demo corpora folder (generated when missing)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    from .demo_corpus import DemoCorpora
    from .mosei import load_mosei

    corpora = DemoCorpora.prepare(args.root, seed=args.seed)
    raw = corpora.load_emotion()
    mosei = load_mosei(corpora.mosei_dir)
    rules = cue_rule_table(str(corpora.emotion_dir))
    print("raw emotion corpus: weighted accuracy of each documented cue rule, read from the files")
    print("  ".join(f"{emotion} {value:.2f}" for emotion, value in rules.items()))
    for name, corpus in (("raw emotion corpus", raw), ("CMU-MOSEI-format demo", mosei)):
        data = __import__("datasets").concatenate_datasets([corpus[split] for split in corpus])
        print(f"{name} ({len(data)} examples): weighted accuracy of per-modality probes")
        print(format_table(probe_table(data, seed=args.seed)))
    shuffled = corpora.load_emotion(shuffled_labels=True)
    data = __import__("datasets").concatenate_datasets([shuffled[split] for split in shuffled])
    print("raw emotion corpus, shuffled-label control")
    print(format_table(probe_table(data, seed=args.seed)))


if __name__ == "__main__":
    main()
