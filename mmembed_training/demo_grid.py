"""The default run's grid: which emotion runs each seed makes, their names, and how the log announces them."""

from pathlib import Path

from .arguments import RunArguments
from .demo_budgets import DEMO_EXTENSIONS, fraction_epochs

ABLATIONS = {"audio": ["audio"], "audio+visual": ["audio", "visual"], "audio+text": ["audio", "text"]}

VARIANT_WORDS = {  # the parts of a variant's name, as the log announces it
    "raw": "raw corpus",
    "mosei-format": "CMU-MOSEI-format corpus",
    "pretrained": "pre-trained",
    "scratch": "from scratch",
    "shuffled-labels": "shuffled labels",
    "all": "all modalities",
    "published": "the method as published",
}


def fraction_name(fraction: float) -> str:
    """`0.25` -> `25%`."""
    return f"{fraction * 100:g}%"


def labelled(start: str, fraction: float) -> str:
    """The name of the all-modality raw-corpus variant from `start` on `fraction` of the labels."""
    return f"raw/{start}/all" + ("" if fraction == 1 else f"/{fraction_name(fraction)}")


def default_run_models(output_dir: Path, seed: int = 0) -> tuple[Path, Path]:
    """
    The default run's main emotion model of `seed` (raw corpus, pre-trained, all modalities, all labels) and the
    pre-training model it was tuned from, as saved under `output_dir`: what the demo app and the README's example load.
    """
    return Path(output_dir) / run_folder(labelled("pretrained", 1.0), seed), Path(output_dir) / pretraining_folder(
        seed
    )


def pretraining_folder(seed: int) -> str:
    """The output folder of `seed`'s pre-training run."""
    return f"pretrain-seed{seed}"


def run_folder(name: str, seed: int) -> str:
    """The output folder of variant `name` of `seed`: `raw/pretrained/all/25%` -> `raw-pretrained-all-25pct-seed0`."""
    return f"{name.replace('/', '-').replace('%', 'pct')}-seed{seed}"


def starting_points(preset: str, pretrained: str) -> dict[str, dict]:
    """Where an emotion model starts: its seed's pre-training checkpoint, or the preset's random initialisation."""
    return {"pretrained": {"model_name_or_path": pretrained}, "scratch": {"preset": preset}}


def seed_variants(root: str, preset: str, pretrained: str, fractions=(1.0,)) -> dict[str, RunArguments]:
    """
    The emotion runs of one seed, by name (`corpus/start/modalities[/variant]`). On the raw corpus: the model
    (`DEMO_EXTENSIONS`) from its pre-training and from scratch on every fraction of the training labels. On the
    CMU-MOSEI-format set (feature streams, about a tenth of a raw run's cost): the model, the method as published,
    the modality ablations and the shuffled-label control, from scratch.
    """
    raw = {"stage": "emotion", "corpus": "demo", "demo_root": root, "config_overrides": DEMO_EXTENSIONS}
    variants = {}
    for fraction in sorted(fractions, reverse=True):
        for start, origin in starting_points(preset, pretrained).items():
            variants[labelled(start, fraction)] = RunArguments(**raw, **origin, train_fraction=fraction)
    mosei = {"stage": "emotion", "corpus": "demo-mosei", "demo_root": root, "preset": preset}
    extended = {**mosei, "config_overrides": DEMO_EXTENSIONS}
    variants["mosei-format/scratch/all"] = RunArguments(**extended)
    variants["mosei-format/scratch/all/published"] = RunArguments(**mosei)
    for name, modalities in ABLATIONS.items():
        variants[f"mosei-format/scratch/{name}"] = RunArguments(**extended, modalities=modalities)
    variants["mosei-format/scratch/all/shuffled-labels"] = RunArguments(**extended, shuffled_labels=True)
    return variants


def describe(variant: str) -> str:
    """`raw/pretrained/audio+visual` -> `raw corpus, pre-trained, audio+visual`; `.../25%`: `..., 25% of the labels`"""
    words = [VARIANT_WORDS.get(part, part) for part in variant.split("/")]
    return ", ".join(f"{word} of the labels" if word.endswith("%") else word for word in words)


def emotion_epochs(run: RunArguments, budget: dict) -> int:
    """A variant's epochs: the budget's for its corpus, more for a small fraction of the labels (`fraction_epochs`)."""
    epochs = budget["mosei_epochs" if run.corpus == "demo-mosei" else "emotion_epochs"]
    return fraction_epochs(epochs, run.train_fraction)
