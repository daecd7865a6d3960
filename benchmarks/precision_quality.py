"""
Figure 12: does bf16 autocast training keep the quality of fp32 training? The default run's CMU-MOSEI-format model
(`mosei-format/scratch/all`: the `small` preset with the demo's extensions, its budget of the `long` size) trained
in fp32 and in bf16 autocast on the corpora of each seed, test split scored once by each with its own validation-tuned
thresholds; bf16 minus fp32 mean weighted accuracy with a paired bootstrap interval over the test segments (grouped by
seed), and each precision's training time.

    python -m benchmarks.precision_quality [--smoke] [--seeds 0 1 2] [--corpus-seed 500] [--output-dir DIR]

bf16 counts as keeping the quality where that interval contains 0 (or lies above it). Takes about 3 minutes per seed
and precision on 2 CPU cores (`--smoke`: the `smoke` size, seconds, for the test suite).
"""

import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from benchmarks.common import arguments, emit, peak_memory_mb

VARIANT = "mosei-format/scratch/all"


def trained_decisions(run, output_dir: Path, seed: int, budget: dict) -> tuple[np.ndarray, np.ndarray, float]:
    """Train `run` under `budget`; its test labels, test decisions at its tuned thresholds, and training seconds."""
    from transformers import set_seed

    from mmembed_training.collator import MMEmbedDataCollator
    from mmembed_training.data import load_corpus
    from mmembed_training.demo_budgets import stage_training
    from mmembed_training.demo_grid import emotion_epochs
    from mmembed_training.evaluation import predict_emotions
    from mmembed_training.run import train_stage
    from mmembed_training.stages import EMOTION
    from modeling_mmembed import MMEmbedForEmotionRecognition

    set_seed(seed)
    training = stage_training(run, output_dir, seed, emotion_epochs(run, budget), budget)
    start = time.perf_counter()
    train_stage(run, training)
    seconds = time.perf_counter() - start
    model = MMEmbedForEmotionRecognition.from_pretrained(output_dir).eval()
    collator = MMEmbedDataCollator(EMOTION, model.config.modalities)
    probabilities, labels = predict_emotions(model, load_corpus(run, "emotion")["test"], collator, 32)
    return labels, probabilities >= np.asarray(model.config.thresholds), seconds


def main() -> dict:
    from data_scripts.demo_corpus import DemoCorpora
    from mmembed_training.demo_budgets import DEMO_BUDGETS
    from mmembed_training.demo_grid import seed_variants
    from mmembed_training.scores import mean_weighted_accuracy_of_rows, paired_bootstrap

    args = arguments(
        __doc__,
        seeds=(str, "0 1 2", "run seeds (corpus seed = --corpus-seed + seed)"),
        corpus_seed=(int, 500, "the first corpus seed (500: the seeds never developed on)"),
        output_dir=(Path, None, "where the runs go (default: a temporary folder)"),
    )
    size = "smoke" if args.smoke else "long"
    seeds = [0] if args.smoke else [int(seed) for seed in args.seeds.split()]
    budget = DEMO_BUDGETS[size]
    work = args.output_dir or Path(tempfile.mkdtemp())
    labels, decisions, seconds, groups = [], {"fp32": [], "bf16": []}, {"fp32": [], "bf16": []}, []
    for seed in seeds:
        corpora = DemoCorpora.prepare(None, seed=args.corpus_seed + seed, size=budget["corpus_size"])
        run = seed_variants(str(corpora.root), budget["preset"], "")[VARIANT]
        for precision in ("fp32", "bf16"):
            folder = work / f"{precision}-seed{seed}"
            seed_labels, seed_decisions, took = trained_decisions(
                run, folder, seed, {**budget, "bf16": precision == "bf16"}
            )
            decisions[precision].append(seed_decisions)
            seconds[precision].append(took)
        labels.append(seed_labels)
        groups.append(np.full(len(seed_labels), seed))
    labels, groups = np.concatenate(labels), np.concatenate(groups)
    decisions = {precision: np.concatenate(values) for precision, values in decisions.items()}
    scores = {
        precision: float(mean_weighted_accuracy_of_rows(labels[None].astype(bool), values[None])[0])
        for precision, values in decisions.items()
    }
    difference = paired_bootstrap(labels, decisions["bf16"], decisions["fp32"], groups=groups)
    record = {
        "variant": VARIANT,
        "size": size,
        "seeds": seeds,
        "corpus_seed": args.corpus_seed,
        "test_segments": int(len(labels)),
        "mean_weighted_accuracy": scores,
        "bf16_minus_fp32": difference,
        "training_seconds": {precision: float(np.sum(values)) for precision, values in seconds.items()},
        "bf16_keeps_quality": difference["high"] >= 0,
        "torch_threads": torch.get_num_threads(),
        **peak_memory_mb("cpu"),
    }
    rows = [
        [precision, f"{scores[precision]:.4f}", f"{record['training_seconds'][precision]:.0f}"]
        for precision in ("fp32", "bf16")
    ]
    rows.append([
        "bf16 - fp32",
        f"{difference['difference']:+.4f} [{difference['low']:+.4f}, {difference['high']:+.4f}]",
        f"{record['training_seconds']['fp32'] / record['training_seconds']['bf16']:.2f}x faster",
    ])  # fmt: skip
    return emit("12 bf16 training quality", record, rows, ["precision", "test mean WA", "training s"], args)


if __name__ == "__main__":
    main()
