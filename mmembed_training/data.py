"""The corpus a stage trains on, as a `DatasetDict`, with the checks that stop a run before its first step."""

import logging
from pathlib import Path

import numpy as np

from modeling_mmembed import (
    MMEmbedTokenizer,
)
from modeling_mmembed.configuration_mmembed import MODALITY_INPUTS

from .arguments import RunArguments

logger = logging.getLogger(__name__)


def load_corpus(run: RunArguments, stage: str):
    """The `DatasetDict` a stage trains and evaluates on."""
    from data_scripts.demo_corpus import generate_demo_corpora, load_demo_emotion
    from data_scripts.label_control import with_shuffled_labels
    from data_scripts.mosei import load_mosei
    from data_scripts.mosei_pickle import load_mosei_pickle
    from data_scripts.pretraining_corpus import build_pretraining_corpus

    cache = run.dataset_cache_dir
    if stage == "pretrain":
        if run.corpus == "demo":
            manifest = generate_demo_corpora(run.demo_root)["speech"]["path"]
        elif run.corpus == "manifest" and run.data_dir:
            manifest = run.data_dir
        else:
            raise ValueError("--stage pretrain needs --corpus demo, or --corpus manifest with --data_dir MANIFEST.")
        return build_pretraining_corpus(manifest, cache_dir=cache, num_proc=run.num_proc)
    if run.corpus == "demo":
        folder = Path(generate_demo_corpora(run.demo_root)["emotion"]["path"]).parent
        return load_demo_emotion(folder, cache_dir=cache, shuffled_labels=run.shuffled_labels)
    if run.corpus == "demo-mosei":
        mosei = load_mosei(generate_demo_corpora(run.demo_root)["mosei"]["path"], cache_dir=cache)
        return with_shuffled_labels(mosei) if run.shuffled_labels else mosei
    if run.corpus == "mosei" and run.data_dir:
        return load_mosei(
            run.data_dir,
            audio=run.mosei_audio,
            visual=run.mosei_visual,
            text=run.mosei_text,
            align_to_words=run.align_to_words,
            audio_dir=run.audio_dir,
            cache_dir=cache,
            num_proc=run.num_proc,
        )
    if run.corpus == "mosei_pickle" and run.data_dir:
        if stage == "emotion":
            raise ValueError(
                f"{run.data_dir} has no emotion labels (MMSA and MulT pickles publish sentiment only): train --stage "
                "sentiment on it, or emotions on the CMU SDK .csd files (--corpus mosei)."
            )
        return load_mosei_pickle(run.data_dir, cache_dir=cache)
    raise ValueError(
        f"--stage {stage} needs --corpus demo, demo-mosei, or mosei / mosei_pickle with --data_dir (a folder of .csd "
        "files / a .pkl file)."
    )


def train_fraction_indices(count: int, fraction: float) -> np.ndarray:
    """
    The indices (sorted) of `fraction` of `count` training items: the first ones of a fixed permutation, so that the
    items of a smaller fraction are among those of every larger one.
    """
    if not 0 < fraction <= 1:
        raise ValueError(f"A training fraction must be in (0, 1], got {fraction}.")
    return np.sort(np.random.default_rng(0).permutation(count)[: max(1, round(count * fraction))])


def with_train_fraction(corpus, fraction: float):
    """`corpus` with its `train` split cut to `fraction` of its items (`train_fraction_indices`)."""
    if fraction >= 1:
        return corpus
    train = corpus["train"]
    chosen = train_fraction_indices(len(train), fraction)
    logger.info("--train_fraction %g: training on %d of %d items", fraction, len(chosen), len(train))
    corpus["train"] = train.select(chosen)
    return corpus


def corpus_input_sizes(features) -> dict:
    """Model input sizes a corpus implies (config field -> value), and the modalities it has (the modality table)."""
    sizes = {"modalities": []}
    for modality, entry in MODALITY_INPUTS.items():
        if entry.values_name in features:
            sizes[entry.size_field] = features[entry.values_name].shape[1]
        elif entry.token_ids_name in features:
            sizes[entry.size_field] = None
            sizes["text_vocab_size"] = MMEmbedTokenizer().vocab_size
        else:
            continue
        sizes["modalities"].append(modality)
        if entry.token_ids_name and entry.values_name in features:
            sizes["text_vocab_size"] = None
    return sizes


def check_splits(corpus, names: list[str]) -> None:
    for name in names:
        if name not in corpus or len(corpus[name]) == 0:
            raise ValueError(
                f"The {name!r} split is empty or missing (splits: {list(corpus)}); nothing to train or score."
            )


def check_labels(dataset, task: str, num_speakers: int | None = None) -> None:
    """Labels out of range stop the run before any training step."""
    if task == "emotion":
        values = np.unique(np.asarray(dataset["emotion_labels"]))
        if not set(values.tolist()) <= {0, 1}:
            raise ValueError(f"emotion_labels must be 0/1 presence; found values {values.tolist()}.")
    elif task == "sentiment":
        values = np.asarray(dataset["sentiment"], dtype=np.float64)
        if not np.isfinite(values).all() or np.abs(values).max() > 3:
            raise ValueError(
                f"sentiment must be finite and within [-3, 3]; found range [{values.min()}, {values.max()}]."
            )
    elif task == "pretrain":
        speakers = np.asarray(dataset["speaker_labels"])
        if speakers.min() < 0 or speakers.max() >= num_speakers:
            raise ValueError(
                f"speaker_labels must lie in [0, {num_speakers}); found [{speakers.min()}, {speakers.max()}]."
            )


def with_lengths(dataset):
    """
    Add the `length` column (audio frames) that length-grouped sampling reads, from the Arrow list lengths (no
    feature is decoded), and return the dataset in numpy format: the collator gets arrays, not nested lists.
    """
    import pyarrow.compute

    chunks = dataset.with_format("arrow")["input_features"].chunks  # memory-mapped: nothing is copied
    lengths = [pyarrow.compute.list_value_length(getattr(chunk, "storage", chunk)).to_numpy() for chunk in chunks]
    return dataset.add_column("length", np.concatenate(lengths)).with_format("numpy")
