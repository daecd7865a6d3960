"""The corpus a stage trains on (a `PreparedCorpus`), cut to a label fraction, and the checks of its splits."""

import logging
from typing import TYPE_CHECKING

import numpy as np

from data_scripts.prepared_corpus import PreparedCorpus
from modeling_mmembed import MMEmbedTokenizer
from modeling_mmembed.configuration_mmembed import MODALITY_INPUTS

from .corpora import CORPORA

if TYPE_CHECKING:
    from .arguments import RunArguments

logger = logging.getLogger(__name__)


def load_corpus(run: "RunArguments", stage: str, model_inputs: dict | None = None) -> PreparedCorpus:
    """The corpus `--corpus` names, as `stage` reads it, made by `model_inputs` where given (`CorpusSpec.load`)."""
    return CORPORA[run.corpus].load(run, stage, model_inputs)


def corpus_stream(corpus):
    """The `PretrainingStream` of a corpus whose training split is streamed, else None (as for a plain mapping)."""
    return getattr(corpus, "stream", None)


def train_fraction_indices(count: int, fraction: float) -> np.ndarray:
    """
    The indices (sorted) of `fraction` of `count` training items: the first ones of a fixed permutation, so that the
    items of a smaller fraction are among those of every larger one.
    """
    if not 0 < fraction <= 1:
        raise ValueError(f"A training fraction must be in (0, 1], got {fraction}.")
    return np.sort(np.random.default_rng(0).permutation(count)[: max(1, round(count * fraction))])


def with_train_fraction(corpus: PreparedCorpus, fraction: float) -> PreparedCorpus:
    """`corpus` with its `train` split cut to `fraction` of its items (`train_fraction_indices`)."""
    if fraction >= 1:
        return corpus
    if corpus_stream(corpus) is not None:
        raise ValueError("--train_fraction cuts a cached corpus; a streamed one is read whole.")
    train = corpus["train"]
    chosen = train_fraction_indices(len(train), fraction)
    logger.info("--train_fraction %g: training on %d of %d items", fraction, len(chosen), len(train))
    return corpus.with_splits(train=train.select(chosen))


def corpus_input_sizes(features) -> dict:
    """Model input sizes a corpus implies (config field -> value), and the modalities it has (the modality table)."""
    sizes = {"modalities": []}
    for modality, entry in MODALITY_INPUTS.items():
        if entry.values_name in features:
            sizes[entry.size_field] = features[entry.values_name].shape[1]
        elif entry.sequence_name in features and modality == "audio":
            pass  # the waveform: a speech encoder's states are the stream's frames, sized by the encoder
        elif entry.sequence_name in features:
            sizes[entry.size_field] = None
            sizes["text_vocab_size"] = MMEmbedTokenizer().vocab_size
        else:
            continue
        sizes["modalities"].append(modality)
        if entry.sequence_name and entry.values_name in features:
            sizes["text_vocab_size"] = None
    return sizes


def check_splits(corpus, names: list[str]) -> None:
    stream = corpus_stream(corpus)
    for name in names:
        if name == "train" and stream is not None:
            if stream.num_rows == 0:
                raise ValueError(f"The streamed training split of {stream.folder} has no rows.")
        elif name not in corpus or len(corpus[name]) == 0:
            raise ValueError(
                f"The {name!r} split is empty or missing (splits: {list(corpus)}); nothing to train or score."
            )


def with_lengths(dataset):
    """
    Add the `length` column (audio frames, or waveform samples) that length-grouped sampling reads, from the Arrow
    list lengths (no feature is decoded), and return the dataset in numpy format: the collator gets arrays, not
    nested lists.
    """
    import pyarrow.compute

    audio = "input_values" if "input_values" in dataset.column_names else "input_features"
    chunks = dataset.with_format("arrow")[audio].chunks  # memory-mapped: nothing is copied
    lengths = [pyarrow.compute.list_value_length(getattr(chunk, "storage", chunk)).to_numpy() for chunk in chunks]
    return dataset.add_column("length", np.concatenate(lengths)).with_format("numpy")
