"""
Figure 6: the training data loader over a cached Arrow dataset: samples/s with 0 and 2 workers, and padding.

    python -m benchmarks.data_loader [--smoke] [--segments 800] [--batch-size 32]

Builds a CMU-MOSEI-like Arrow dataset (the columns `load_mosei` produces for the CMU SDK features: COVAREP 74-d at
100 Hz, FACET 35-d at 30 Hz, GloVe 300-d at 2.5 words/s; segments 2-30 s) in a temporary cache, then iterates one
epoch of exactly the loader training uses (`MMEmbedTrainer.get_train_dataloader`: length-grouped sampler, the
emotion `MMEmbedDataCollator`, `dataloader_num_workers` 0 and 2). Padding fraction: padded audio frames over all
audio frames of the epoch, with `group_by_length` and with random batches; also for the lengths of a training set
of CMU-MOSEI's size (16,326 segments) through the same sampler (transformers' length grouping sorts megabatches of
min(50, N / 4 / batch) batches, so a small set is grouped coarsely). Targets: loader rate >= 5 x the `mosei_sdk`
training-step rate of figure 1 (checked by `python -m benchmarks`), padding <= 10% with grouping at CMU-MOSEI size.
"""

import tempfile
import time

import datasets
import numpy as np
from transformers import TrainingArguments

from benchmarks.common import (
    AUDIO_RATE,
    VISUAL_RATE,
    WORDS_PER_SECOND,
    arguments,
    emit,
    peak_memory_mb,
    segment_seconds,
)
from mmembed_training.collator import MMEmbedDataCollator
from modeling_mmembed import MMEmbedConfig, MMEmbedForEmotionRecognition

SIZES = {"input_features": 74, "visual_features": 35, "text_features": 300}


def mosei_like_examples(seconds: list[float], seed: int):
    generator = np.random.default_rng(seed)
    for index, duration in enumerate(seconds):
        frames = {
            "input_features": int(duration * AUDIO_RATE),
            "visual_features": int(duration * VISUAL_RATE),
            "text_features": max(1, int(duration * WORDS_PER_SECOND)),
        }
        example = {
            name: generator.standard_normal((count, SIZES[name]), dtype=np.float32) for name, count in frames.items()
        }
        labels = (generator.random(6) > 0.7).astype(np.int8)
        yield {
            "id": f"video{index // 7}[{index % 7}]",
            **example,
            "emotion_labels": labels,
            "sentiment": float(generator.uniform(-3, 3)),
        }


def mosei_like_dataset(count: int, cache_dir: str, max_seconds: float) -> datasets.Dataset:
    features = datasets.Features(
        {
            "id": datasets.Value("string"),
            **{name: datasets.Array2D(shape=(None, size), dtype="float32") for name, size in SIZES.items()},
            "emotion_labels": datasets.List(datasets.Value("int8"), length=6),
            "sentiment": datasets.Value("float32"),
        }
    )
    seconds = segment_seconds(count, seed=0, high=max_seconds).tolist()
    return datasets.Dataset.from_generator(
        mosei_like_examples, features=features, gen_kwargs={"seconds": seconds, "seed": 0}, cache_dir=cache_dir
    )


def one_epoch(dataset, batch_size: int, workers: int, grouped: bool, work: str) -> dict:
    """Samples/s and padding fraction of one epoch of the trainer's train loader."""
    from mmembed_training.data import with_lengths
    from mmembed_training.trainer import MMEmbedTrainer

    config = MMEmbedConfig.from_preset("tiny", audio_feature_size=74, text_feature_size=300)
    arguments = TrainingArguments(
        output_dir=work,
        per_device_train_batch_size=batch_size,
        dataloader_num_workers=workers,
        train_sampling_strategy="group_by_length" if grouped else "random",
        length_column_name="length",
        remove_unused_columns=False,
        report_to="none",
        use_cpu=True,
    )
    trainer = MMEmbedTrainer(
        model=MMEmbedForEmotionRecognition(config),
        args=arguments,
        train_dataset=with_lengths(dataset),
        data_collator=MMEmbedDataCollator("emotion", config.modalities),
        score=None,
    )
    loader = trainer.get_train_dataloader()
    for _ in loader:  # warm-up epoch: workers start, the Arrow file enters the page cache
        pass
    start, samples, real, total = time.perf_counter(), 0, 0, 0
    for batch in loader:
        samples += len(batch["labels"])
        real += int(batch["attention_mask"].sum())
        total += batch["attention_mask"].numel()
    elapsed = time.perf_counter() - start
    return {"samples_per_s": samples / elapsed, "samples": samples, "padding_fraction": 1 - real / total}


MOSEI_TRAIN_SEGMENTS = 16326


def sampler_padding(lengths: np.ndarray, batch_size: int, grouped: bool) -> float:
    """Padding fraction of one epoch of the training sampler's batches over `lengths` (no data is loaded)."""
    from mmembed_training.trainer import EpochSeededLengthGroupedSampler

    if grouped:
        order = np.fromiter(EpochSeededLengthGroupedSampler(batch_size, lengths.tolist(), seed=0), dtype=int)
    else:
        order = np.random.default_rng(0).permutation(len(lengths))
    batches = [lengths[order[start : start + batch_size]] for start in range(0, len(order), batch_size)]
    return float(1 - sum(batch.sum() for batch in batches) / sum(batch.max() * len(batch) for batch in batches))


def main() -> dict:
    args = arguments(__doc__, segments=(int, 800, "segments in the dataset"), batch_size=(int, 32, "batch size"))
    count, max_seconds = (64, 6.0) if args.smoke else (args.segments, 30.0)
    with tempfile.TemporaryDirectory() as work:
        dataset = mosei_like_dataset(count, work, max_seconds)
        results = {}
        for workers in (0, 2):
            results[f"grouped, {workers} workers"] = one_epoch(dataset, args.batch_size, workers, True, work)
        results["random batches, 0 workers"] = one_epoch(dataset, args.batch_size, 0, False, work)
    mosei_lengths = (segment_seconds(MOSEI_TRAIN_SEGMENTS, seed=1) * AUDIO_RATE).astype(int)
    mosei_padding = {
        grouping: sampler_padding(mosei_lengths, args.batch_size, grouping == "grouped")
        for grouping in ("grouped", "random")
    }
    rows = [[name, f"{r['samples_per_s']:.0f}", f"{r['padding_fraction']:.3f}"] for name, r in results.items()]
    rows += [[f"{name}, {MOSEI_TRAIN_SEGMENTS} lengths", "-", f"{value:.3f}"] for name, value in mosei_padding.items()]
    record = {
        "segments": count,
        "batch_size": args.batch_size,
        "results": results,
        "loader_samples_per_s": min(r["samples_per_s"] for name, r in results.items() if name.startswith("grouped")),
        "mosei_size_padding_fraction": mosei_padding,
        "targets": {"padding_with_grouping_at_most_0.10": mosei_padding["grouped"] <= 0.10},
        **peak_memory_mb("cpu"),
    }
    return emit("figure 6: training data loader", record, rows, ["loader", "samples/s", "padding"], args)


if __name__ == "__main__":
    main()
