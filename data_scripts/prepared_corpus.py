"""
A prepared corpus: what every loader of `data_scripts` returns and every training stage reads.

    corpus = load_mosei("CMU_MOSEI/")
    corpus["train"], corpus["validation"]     # its splits (`datasets.Dataset`), read like a `DatasetDict`
    corpus.feature_extractor_config           # the extractor that featurised its audio (or takes its given features)
    corpus.report                             # what preparation replaced, clipped, dropped or skipped
"""

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace


@dataclass(frozen=True)
class LabelSpec:
    """The problem a dataset's labels pose: `problem_type`, and the label names (classes, or regression targets)."""

    problem_type: str
    names: tuple[str, ...]


@dataclass(frozen=True)
class PreparedCorpus(Mapping):
    """
    The splits of a corpus ready for training (name -> `datasets.Dataset`, or `IterableDataset` when streamed), the
    settings of the feature extractor that turned its audio into `input_features` (a model trained on it is saved
    with that extractor; for a corpus that came with its audio features, e.g. COVAREP, an extractor that takes them
    as they are: `audio_features`), and the preparation
    report (counts of what was replaced, clipped, dropped or kept; `skipped`: the `(row id, reason)` of bad rows), and
    for a dataset of your own its `labels` (a `LabelSpec`: they decide the training stage; None for the corpora
    whose stage is named, CMU-MOSEI's emotions and sentiment, pre-training), and for a streamed training split its
    `stream` (`data_scripts.pretraining_stream.PretrainingStream`).
    Read like a `DatasetDict` (`corpus["train"]`, `list(corpus)`, `"test" in corpus`); `with_splits` returns a copy
    with some splits replaced.
    """

    splits: Mapping
    feature_extractor_config: dict | None = None
    report: dict = field(default_factory=dict)
    labels: LabelSpec | None = None
    stream: object | None = None
    """A streamed `train` split's `PretrainingStream` (its resumable order), else None."""

    def __getitem__(self, name: str):
        return self.splits[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.splits)

    def __len__(self) -> int:
        return len(self.splits)

    def with_splits(self, **splits) -> "PreparedCorpus":
        """A copy with the named splits replaced (or added); the extractor settings and the report stay."""
        return replace(self, splits={**self.splits, **splits})


__all__ = ["LabelSpec", "PreparedCorpus"]
