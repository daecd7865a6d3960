"""
Which modality carries which emotion: cross-validated probes on pooled per-example features.

    python -m data_scripts.modality_probe [--root DEMO_ROOT]      # the table for both demo emotion corpora

For each emotion and each modality (and for the text+visual pair), the weighted accuracy (balanced accuracy, the
MOSEI convention) of a probe trained on that modality's pooled features, by 5-fold cross-validation: logistic
regression for single modalities, gradient-boosted trees for the pair (which can represent an XOR of two cues).
Pooled features: audio mean and standard deviation over frames, visual mean, text mean word vector or, for token
ids, word presence (words in at least 5 examples).
"""

import argparse

import numpy as np

from modeling_mmembed.configuration_mmembed import EMOTIONS


def pooled_features(dataset) -> dict[str, np.ndarray]:
    """Per modality an `(examples, features)` matrix of pooled features of a MOSEI-style dataset split."""
    from sklearn.feature_extraction.text import CountVectorizer

    examples = dataset.with_format("numpy")
    audio = np.stack([np.concatenate([x.mean(0), x.std(0)]) for x in examples["input_features"]])
    visual = np.stack([x.mean(0) for x in examples["visual_features"]])
    if "text_features" in dataset.column_names:
        text = np.stack([x.mean(0) for x in examples["text_features"]])
    else:
        documents = [" ".join(words) for words in dataset["words"]]
        text = CountVectorizer(binary=True, min_df=5).fit_transform(documents).toarray().astype(np.float32)
    return {"audio": audio, "visual": visual, "text": text, "text+visual": np.concatenate([text, visual], axis=1)}


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
    labels = np.asarray(dataset["emotion_labels"])
    return {
        emotion: {
            modality: probe_weighted_accuracy(matrix, labels[:, index], nonlinear=modality == "text+visual", seed=seed)
            for modality, matrix in features.items()
        }
        for index, emotion in enumerate(EMOTIONS)
    }


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
    from .demo_corpus import generate_demo_corpora, load_demo_emotion
    from .mosei import load_mosei

    report = generate_demo_corpora(args.root, seed=args.seed)
    raw = load_demo_emotion(report["emotion"]["path"].rsplit("/", 1)[0], seed=args.seed)
    mosei = load_mosei(report["mosei"]["path"])
    for name, corpus in (("raw emotion corpus", raw), ("CMU-MOSEI-format demo", mosei)):
        data = __import__("datasets").concatenate_datasets([corpus[split] for split in corpus])
        print(f"{name} ({len(data)} examples): weighted accuracy of per-modality probes")
        print(format_table(probe_table(data, seed=args.seed)))
    shuffled = load_demo_emotion(report["emotion"]["path"].rsplit("/", 1)[0], shuffled_labels=True, seed=args.seed)
    data = __import__("datasets").concatenate_datasets([shuffled[split] for split in shuffled])
    print("raw emotion corpus, shuffled-label control")
    print(format_table(probe_table(data, seed=args.seed)))


if __name__ == "__main__":
    main()
