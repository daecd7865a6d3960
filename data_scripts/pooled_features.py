"""
Pooled per-example features of a MOSEI-style dataset split, the input of the pooled baselines
(`mmembed_training.baselines`) and of the modality probes (`modality_probe`): each stream's mean and standard
deviation over its frames, and for text given as token ids the presence of each word.
"""

import numpy as np


def stream_statistics(values) -> np.ndarray:
    """`(examples, 2 * features)`: each example's per-feature mean and standard deviation over its frames."""
    return np.stack(
        [np.concatenate([x.mean(0), x.std(0)]) if len(x) else np.zeros(2 * x.shape[1]) for x in values]
    ).astype(np.float32)


def pooled_features(dataset, vocabulary=None) -> dict[str, np.ndarray]:
    """
    Per modality an `(examples, features)` matrix of pooled features of a MOSEI-style dataset split. For text given
    as token ids, the words are counted with `vocabulary` (a fitted `CountVectorizer`; by default one fitted here):
    fit it on the training split and pass it for the others.
    """
    from sklearn.feature_extraction.text import CountVectorizer

    examples = dataset.with_format("numpy")
    features = {
        "audio": stream_statistics(examples["input_features"]),
        "visual": stream_statistics(examples["visual_features"]),
    }
    if "text_features" in dataset.column_names:
        features["text"] = stream_statistics(examples["text_features"])
    else:
        documents = [" ".join(words) for words in dataset["words"]]
        vocabulary = vocabulary or CountVectorizer(binary=True, min_df=5).fit(documents)
        features["text"] = vocabulary.transform(documents).toarray().astype(np.float32)
        features["vocabulary"] = vocabulary
    return features
