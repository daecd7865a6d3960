"""The shuffled-label control: every split's labels permuted across its examples, so that nothing is learnable."""

import numpy as np

from .prepared_corpus import PreparedCorpus

LABEL_COLUMNS = ("emotion_labels", "emotion_intensities", "sentiment")
"""The columns that are labels; an example's labels move together, to another example of the same split."""


def with_shuffled_labels(corpus: PreparedCorpus, seed: int = 0) -> PreparedCorpus:
    """`corpus` with the label columns of each split permuted by a permutation drawn from `seed`."""
    import datasets

    shuffled = {}
    for name, split in corpus.items():
        columns = [column for column in LABEL_COLUMNS if column in split.column_names]
        order = np.random.default_rng(seed).permutation(len(split))
        labels = split.select_columns(columns).select(order).flatten_indices()
        shuffled[name] = datasets.concatenate_datasets([split.remove_columns(columns), labels], axis=1)
    return corpus.with_splits(**shuffled)
