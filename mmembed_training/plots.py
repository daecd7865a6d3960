"""The figures of the default run (label efficiency, learning curves) and of the diagnosis, as PNG files."""

from pathlib import Path

import numpy as np

from modeling_mmembed import EMOTIONS

from .demo_grid import fraction_name, labelled


def pyplot():
    """matplotlib's pyplot on the file-only Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_label_efficiency(summary: dict, path: Path) -> None:
    """
    Test mean weighted accuracy against the fraction of emotion training labels: fine-tuned from pre-training and
    from scratch, linear probes on the frozen pre-trained and random encoders, the best pooled baseline (all labels).
    Points are means over seeds; bars span the seeds' lowest and highest figures.
    """
    plt = pyplot()
    fractions = summary["label_fractions"]
    series = {
        "fine-tuned, pre-trained": [summary["emotion"][labelled("pretrained", f)] for f in fractions],
        "fine-tuned, from scratch": [summary["emotion"][labelled("scratch", f)] for f in fractions],
        "frozen pre-trained encoder, linear probe": [
            summary["frozen"][f"frozen/pretrained/{fraction_name(f)}"] for f in fractions
        ],  # fmt: skip
        "frozen random encoder, linear probe": [
            summary["frozen"][f"frozen/scratch/{fraction_name(f)}"] for f in fractions
        ],  # fmt: skip
    }
    figure, axis = plt.subplots(figsize=(7, 4.5))
    for (label, scores), style in zip(series.items(), ("o-", "s-", "o--", "s--"), strict=True):
        means = np.array([score["mean"] for score in scores])
        spans = np.array([[score["mean"] - min(score["per_seed"].values()),
                           max(score["per_seed"].values()) - score["mean"]] for score in scores]).T  # fmt: skip
        axis.errorbar(fractions, means, yerr=spans, fmt=style, capsize=3, label=label)
    axis.axhline(summary["best_pooled_baseline"]["mean"], color="grey", linestyle=":", label="best pooled baseline")
    axis.axhline(0.5, color="black", linewidth=0.6)
    axis.set_xscale("log")
    axis.set_xticks(fractions, [fraction_name(f) for f in fractions])
    axis.minorticks_off()
    axis.set_xlabel("emotion training labels used")
    axis.set_ylabel("test mean weighted accuracy")
    axis.set_title(f"Label efficiency, corpus seed(s) {', '.join(map(str, summary['corpus_seeds'].values()))}")
    axis.legend(fontsize=8, loc="upper left")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


LEARNING_CURVE_RUNS = {
    "mosei-format/scratch/all": "all modalities",
    "mosei-format/scratch/audio": "audio",
    "mosei-format/scratch/audio+visual": "audio + visual",
    "mosei-format/scratch/audio+text": "audio + text",
    "mosei-format/scratch/all/published": "all, the method as published",
}
"""The runs whose validation scores after each epoch are drawn: the CMU-MOSEI-format set's (the raw corpus's runs
follow a fixed schedule and are scored at the end only)."""


def emotion_panels(plt):
    """A figure with a 2 x 3 grid of panels sharing their axes, one per emotion, and the panels in `EMOTIONS` order."""
    figure, axes = plt.subplots(2, 3, figsize=(12, 6.5), sharex=True, sharey=True)
    return figure, axes


def save_emotion_panels(plt, figure, axes, ylabel: str, title: str, path: Path) -> None:
    """Label the grid of `emotion_panels` (epoch on x, `ylabel` on y, a chance line), title it and write `path`."""
    for axis in axes.flat:
        axis.axhline(0.5, color="grey", linewidth=0.8)
        axis.set_ylim(0.3, 1.02)
    for axis in axes[-1]:
        axis.set_xlabel("epoch")
    for axis in axes[:, 0]:
        axis.set_ylabel(ylabel)
    axes.flat[0].legend(loc="lower right", fontsize=8)
    figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def plot_learning_curves(per_seed: dict, path: Path) -> None:
    """A panel per emotion: validation weighted accuracy after each epoch of the CMU-MOSEI-format runs (first seed)."""
    plt = pyplot()
    seed, record = next(iter(per_seed.items()))
    figure, axes = emotion_panels(plt)
    for axis, emotion in zip(axes.flat, EMOTIONS, strict=True):
        for name, label in LEARNING_CURVE_RUNS.items():
            key = f"eval_{emotion}_weighted_accuracy"
            history = [entry for entry in record["runs"][name]["log_history"] if key in entry]
            epochs, scores = [entry["epoch"] for entry in history], [entry[key] for entry in history]
            axis.plot(epochs, scores, marker="o", label=label)
        axis.set_title(emotion)
    title = f"CMU-MOSEI-format demo set, corpus seed {record['corpus_seed']} (run seed {seed}), from scratch"
    save_emotion_panels(plt, figure, axes, "validation WA", title, path)


def plot_diagnosis(report: dict, path: Path) -> None:
    """
    A panel per emotion: the model's validation and training AUC against epochs and the probe's best validation AUC,
    or without learning curves the probe's validation and training AUC against its epochs.
    """
    plt = pyplot()
    curves, probes = report.get("learning_curves"), report["cue_probes"]
    figure, axes = emotion_panels(plt)
    for axis, emotion in zip(axes.flat, EMOTIONS, strict=True):
        probe = probes[emotion]
        if curves is None:  # the cue probes alone: their curves
            epochs = range(1, len(probe["validation"]) + 1)
            axis.plot(epochs, probe["validation"], color="green", marker="o", label="cue probe, validation")
            axis.plot(epochs, probe["train"], color="green", linestyle="--", label="cue probe, training fit")
        else:
            auc = curves[f"{emotion}_auc"]
            axis.plot(curves["epochs"], auc["validation"], marker="o", label="model, validation")
            axis.plot(curves["epochs"], auc["train"], linestyle="--", label="model, training fit")
            axis.axhline(max(probe["validation"]), color="green", linestyle=":", label="cue probe, validation")
        axis.set_title(f"{emotion} ({' + '.join(probes[emotion]['streams'])})")
    save_emotion_panels(plt, figure, axes, "AUC", f"{report['corpus']}: {report['model']}", path)
