"""
What the default run reports: test mean weighted accuracy per variant and seed, paired bootstrap intervals of every
claim, the targets, and the printed table.
"""

import os

import numpy as np
import torch

from modeling_mmembed import EMOTIONS

from .demo_budgets import JUDGED_SIZES
from .demo_grid import ABLATIONS, fraction_name, labelled
from .scores import paired_bootstrap


def decisions_of(results: dict) -> tuple[np.ndarray, np.ndarray]:
    """A run's test decisions (its probabilities at its tuned thresholds) and the test labels."""
    predictions = results["test_predictions"]
    probabilities = np.asarray(predictions["probabilities"])
    return probabilities >= np.asarray(results["thresholds"])[None, :], np.asarray(predictions["labels"]).astype(bool)


def of_run(name: str):
    """A side of a `comparison`: the test decisions and labels of the run `name` in a seed's record."""
    return lambda record: decisions_of(record["runs"][name])


def of_best_baseline(record: dict) -> tuple[np.ndarray, np.ndarray]:
    """A side of a `comparison`: the test decisions of the seed's best pooled baseline (chosen on validation)."""
    return record["baselines"]["best_test"], decisions_of(record["runs"]["raw/pretrained/all"])[1]


def comparison(per_seed: dict, first, second) -> dict:
    """
    Paired bootstrap interval of `first` minus `second` test mean weighted accuracy over the test items of every seed
    (resampled within each seed); `first`/`second` map a seed's record to its `(decisions, labels)`.
    """
    labels, one, other, groups = [], [], [], []
    for seed, record in per_seed.items():
        (decided_first, truth), (decided_second, _) = first(record), second(record)
        labels.append(truth)
        one.append(decided_first)
        other.append(decided_second)
        groups += [seed] * len(truth)
    result = paired_bootstrap(np.concatenate(labels), np.concatenate(one), np.concatenate(other), groups, seed=0)
    return {**result, "seeds": sorted(set(groups))}


def variant_scores(values: list[float], seeds: list) -> dict:
    return {
        "per_seed": dict(zip(map(str, seeds), values, strict=True)),
        "mean": float(np.mean(values)),
        "sd": float(np.std(values, ddof=1)) if len(values) > 1 else None,
    }


def of_frozen(start: str, fraction: float):
    """A side of a `comparison`: the test decisions of a seed's linear probe on a frozen encoder, and the labels."""
    return lambda record: (
        record["frozen"][start][fraction]["test_decisions"],
        decisions_of(record["runs"]["raw/pretrained/all"])[1],
    )


def demo_summary(per_seed: dict, fractions=(1.0,)) -> dict:
    """
    Per variant, frozen probe and baseline the test mean weighted accuracy per seed, mean and sd; the model's test
    weighted accuracy per emotion; the intervals; the targets.
    """
    emotion = {
        name: variant_scores(
            [record["runs"][name]["test"]["mean_weighted_accuracy"] for record in per_seed.values()], list(per_seed)
        )
        for name in next(iter(per_seed.values()))["runs"]
    }
    mosei = [record["runs"]["mosei-format/scratch/all"]["baselines"] for record in per_seed.values()]
    scores = [result["baselines"][result["best"]]["test"]["mean_weighted_accuracy"] for result in mosei]
    emotion["mosei-format, best pooled baseline"] = variant_scores(scores, list(per_seed))
    frozen = {
        f"frozen/{start}/{fraction_name(fraction)}": variant_scores(
            [record["frozen"][start][fraction]["test"]["mean_weighted_accuracy"] for record in per_seed.values()],
            list(per_seed),
        )
        for start in ("pretrained", "scratch")
        for fraction in fractions
    }
    per_emotion = {
        name: {
            label: float(
                np.mean([record["runs"][name]["test"][f"{label}_weighted_accuracy"] for record in per_seed.values()])
            )  # fmt: skip
            for label in EMOTIONS
        }
        for name in (
            "raw/pretrained/all",
            "raw/scratch/all",
            "mosei-format/scratch/all",
            "mosei-format/scratch/all/published",
        )  # fmt: skip
    }
    best = [record["baselines"]["baselines"][record["baselines"]["best"]]["test"] for record in per_seed.values()]
    baseline = variant_scores([scores["mean_weighted_accuracy"] for scores in best], list(per_seed))
    baseline["chosen_on_validation"] = {str(seed): record["baselines"]["best"] for seed, record in per_seed.items()}
    model = of_run("raw/pretrained/all")
    intervals = {
        "model_minus_best_baseline": comparison(per_seed, model, of_best_baseline),
        **{
            f"pretrained_minus_scratch_{fraction_name(fraction)}": comparison(
                per_seed, of_run(labelled("pretrained", fraction)), of_run(labelled("scratch", fraction))
            )
            for fraction in fractions
        },
        **{
            f"mosei_format_all_minus_{name}": comparison(
                per_seed, of_run("mosei-format/scratch/all"), of_run(f"mosei-format/scratch/{name}")
            )
            for name in ABLATIONS
        },
        "mosei_format_extended_minus_published": comparison(
            per_seed, of_run("mosei-format/scratch/all"), of_run("mosei-format/scratch/all/published")
        ),
        **{
            f"frozen_pretrained_minus_frozen_scratch_{fraction_name(fraction)}": comparison(
                per_seed, of_frozen("pretrained", fraction), of_frozen("scratch", fraction)
            )
            for fraction in fractions
        },
    }
    pretraining = {
        split: {
            name: float(np.mean([record["pretraining"][split][name] for record in per_seed.values()]))
            for name, value in next(iter(per_seed.values()))["pretraining"][split].items()
            if isinstance(value, float)
        }
        for split in ("validation", "test")
    }
    pretraining["per_seed"] = {str(seed): record["pretraining"]["test"] for seed, record in per_seed.items()}
    probes = [record["visual_speaker_probe"] for record in per_seed.values()]
    control = emotion["mosei-format/scratch/all/shuffled-labels"]["mean"]
    low_fractions = [fraction for fraction in fractions if fraction <= 0.25]
    targets = {
        "every_emotion_at_least_0.75": all(
            value >= 0.75
            for name in ("raw/pretrained/all", "mosei-format/scratch/all")
            for value in per_emotion[name].values()
        ),  # fmt: skip
        "all_beats_each_subset": all(intervals[f"mosei_format_all_minus_{name}"]["low"] > 0 for name in ABLATIONS),
        "pretrained_beats_scratch_at_10%_and_25%": bool(low_fractions)
        and all(
            intervals[f"pretrained_minus_scratch_{fraction_name(fraction)}"]["low"] > 0 for fraction in low_fractions
        ),
        "frozen_pretrained_beats_frozen_scratch": intervals[
            f"frozen_pretrained_minus_frozen_scratch_{fraction_name(max(fractions))}"
        ]["low"]
        > 0,
        "model_beats_best_baseline": intervals["model_minus_best_baseline"]["low"] > 0,
        "best_pooled_baseline_at_most_0.70": baseline["mean"] <= 0.70,
        "shuffled_control_within_0.45_0.55": 0.45 <= control <= 0.55,
        "pretraining_test_cer_at_most_0.35": pretraining["test"]["cer"] <= 0.35,
        "visual_only_speaker_probe_at_most_0.5": max(probes) <= 0.5,
    }
    return {
        "pretraining": pretraining,
        "visual_speaker_probe": dict(zip(map(str, per_seed), probes, strict=True)),
        "emotion": emotion,
        "per_emotion": per_emotion,
        "frozen": frozen,
        "label_fractions": list(fractions),
        "best_pooled_baseline": baseline,
        "baselines": {str(seed): record["baselines"]["baselines"] for seed, record in per_seed.items()},
        "intervals": intervals,
        "corpus_seeds": {str(seed): record["corpus_seed"] for seed, record in per_seed.items()},
        "targets": targets,
    }


def machine_description() -> str:
    import platform

    threads = torch.get_num_threads()
    return f"{platform.machine()}, {os.cpu_count()} CPU cores, torch {torch.__version__}, {threads} threads"


def demo_table(summary: dict) -> str:
    asr, seeds = summary["pretraining"]["test"], ", ".join(map(str, summary["corpus_seeds"].values()))
    lines = [
        f"default run ({summary['size']}, corpus seeds {seeds}, {summary['machine']}, {summary['precision']}, "
        f"{summary['seconds']['total']:.0f} s)",
        f"pre-training, test split (mean over seeds): CER {asr['cer']:.3f}, WER {asr['wer']:.3f} (decoder alone: CER "
        f"{asr.get('cer_decoder_only', asr['cer']):.3f}), person id {asr['speaker_accuracy']:.3f} (audio only "
        f"{asr['speaker_accuracy_audio_only']:.3f}); visual-only speaker probe "
        + ", ".join(f"{value:.3f}" for value in summary["visual_speaker_probe"].values()),
        "emotion, test mean weighted accuracy (mean ± sd over seeds):",
    ]
    rows = {**summary["emotion"], **summary["frozen"], "best pooled baseline": summary["best_pooled_baseline"]}
    for name, scores in rows.items():
        per_seed = ", ".join(f"{seed}: {value:.3f}" for seed, value in scores["per_seed"].items())
        spread = f" ± {scores['sd']:.3f}" if scores["sd"] is not None else "        "
        lines.append(f"  {name:<36} {scores['mean']:.3f}{spread}   per seed {per_seed}")
    lines.append("test weighted accuracy per emotion (mean over seeds):")
    for name, scores in summary["per_emotion"].items():
        lines.append(f"  {name:<36} " + " ".join(f"{label} {value:.2f}" for label, value in scores.items()))
    lines.append("paired bootstrap 95% intervals of the difference in test mean WA (test items of every seed):")
    for name, interval in summary["intervals"].items():
        lines.append(
            f"  {name:<44} {interval['difference']:+.3f} [{interval['low']:+.3f}, {interval['high']:+.3f}]"
            f"  seeds {interval['seeds']}"
        )
    if summary["targets_judged"]:
        verdicts = (f"{name} {'met' if ok else 'NOT met'}" for name, ok in summary["targets"].items())
        lines.append("targets: " + ", ".join(verdicts))
    else:
        judged = " and ".join(JUDGED_SIZES)
        lines.append(f"targets: not judged at size {summary['size']} (they are set for sizes {judged})")
    return "\n".join(lines)
