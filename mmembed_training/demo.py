"""
The default run (`python train.py`, `mmembed-train demo`): the whole method on the built-in demo corpora, and the
small models the demo app trains on the spot.
"""

import itertools
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from accelerate import PartialState
from transformers import (
    set_seed,
)

from .arguments import RunArguments
from .baselines import pooled_baselines
from .collator import MMEmbedDataCollator
from .demo_budgets import (
    DEMO_BUDGETS,
    DEMO_EXTENSIONS,
    JUDGED_SIZES,
    TIME_LIMIT_MINUTES,
    stage_training,
    uses_bf16,
)
from .demo_grid import (
    default_run_models,
    describe,
    emotion_epochs,
    pretraining_folder,
    run_folder,
    seed_variants,
    starting_points,
)
from .demo_report import demo_summary, demo_table, machine_description
from .models import load_checkpoint
from .run import train_stage
from .stages import EMOTION
from .trainer import OutputFolder

if TYPE_CHECKING:
    from data_scripts.demo_corpus import DemoCorpora

logger = logging.getLogger(__name__)


@dataclass
class DemoArguments:
    """`python train.py` with no arguments (or `python train.py demo ...`): the whole method on the demo corpora."""

    size: str = field(
        default="full",
        metadata={
            "help": "full (the benchmark, one seed), long (full on three seeds: the targets are judged on it), quick "
            "(the app's model) or smoke (tiny budgets, for CI)."
        },
    )
    output_dir: str = field(
        default="outputs/demo", metadata={"help": "Where every run's model folder and results.json are written."}
    )
    seeds: list[int] | None = field(
        default=None,
        metadata={
            "help": "Seeds: each draws its own corpora and split (corpus_seed + seed), pre-training and runs (None: "
            "the size's, 0 for full, 0 1 2 for long)."
        },
    )
    corpus_seed: int = field(
        default=0, metadata={"help": "Base seed of the generated corpora (another one: corpora never developed on)."}
    )
    demo_root: str | None = field(
        default=None, metadata={"help": "Where the demo corpora are generated, a folder per seed (None: the cache)."}
    )
    keep_checkpoints: bool = field(
        default=False, metadata={"help": "Keep each run's checkpoint-N folder (else the final model only)."}
    )


def demo_pretraining(root: str, preset: str) -> RunArguments:
    """
    The demo's pre-training stage: ASR (with a CTC share) + person id on the demo speech corpus, from its audio. The
    corpus's visual frames are noise by design (no speaker identity in them), and attending to a stream that carries
    nothing costs the audio stream dearly (seed 0, 40 epochs at 3e-3: validation CER 0.48 with the noise frames, 0.13
    without); the emotion runs then start their visual and text branches fresh. On audio-visual speech with real
    faces (VoxCeleb2, LRS3), pre-train on every modality.
    """
    return RunArguments(
        stage="pretrain", corpus="demo", demo_root=root, preset=preset, ctc_loss_weight=0.3, modalities=["audio"]
    )


def train_quick_models(output_dir, size: str = "quick", demo_root=None, seed: int = 0, progress=None) -> dict:
    """
    One pre-trained and one emotion model on the demo corpora with the `size` budget, saved under `output_dir`
    (`pretrain/`, `emotion/`): the model the demo app trains on the spot when the default run has not been made.
    `progress` (a callable taking a fraction and `desc`, e.g. Gradio's) is told when each stage starts.
    """
    from data_scripts.demo_corpus import DemoCorpora

    budget, output = DEMO_BUDGETS[size], Path(output_dir)
    report = progress or (lambda fraction, desc: logger.info("%s", desc))
    report(0.0, desc="Generating the demo corpora")
    root = str(DemoCorpora.prepare(demo_root, seed=seed, size=budget["corpus_size"]).root)
    stages = {
        "pretrain": (demo_pretraining(root, budget["preset"]), budget["pretrain_epochs"]),
        "emotion": (
            RunArguments(stage="emotion", corpus="demo", demo_root=root, model_name_or_path=str(output / "pretrain")),
            budget["emotion_epochs"],
        ),
    }
    results = {}
    for index, (name, (run, epochs)) in enumerate(stages.items()):
        report(0.1 + 0.45 * index, desc=f"Training a demo model: {name} ({epochs} epochs)")
        set_seed(seed)
        training = stage_training(run, output / name, seed, epochs, budget)
        results[name] = train_stage(run, training)
    return results


def frozen_encoder_probes(corpus, root: str, preset: str, pretrained: str, seed: int, fractions) -> dict:
    """
    Linear probes on frozen encoders (`frozen_probe`) of the raw emotion `corpus` at every label fraction: the
    pre-trained encoder (with the demo's extensions, its fresh branches initialised) and one of the same architecture
    left at its random initialisation (`scratch`), which shows what the embedding owes to pre-training rather than to
    the architecture.
    """
    from .frozen_probe import frozen_probe
    from .models import build_model

    raw = {"stage": "emotion", "corpus": "demo", "demo_root": root, "config_overrides": DEMO_EXTENSIONS}
    probes = {}
    for start, origin in starting_points(preset, pretrained).items():
        set_seed(seed)
        model = build_model(RunArguments(**raw, **origin), EMOTION, corpus).to(PartialState().device)
        collator = MMEmbedDataCollator("emotion", model.config.modalities)
        probes[start] = frozen_probe(model.mmembed, corpus, collator, fractions, seed)
    return probes


def run_demo(demo: DemoArguments) -> dict:
    """
    For each seed: generate its corpora (`corpus_seed + seed`: voices, utterances and the voice split all change),
    pre-train on its speech corpus (ASR + person id), tune emotion from that checkpoint and from scratch on every
    fraction of the training labels, the modality ablations, the method as published, the shuffled-label control and
    the CMU-MOSEI-format set; fit the pooled-feature baselines and the linear probes on frozen encoders. Then paired
    bootstrap intervals over the test items, the targets, the plots, a reload and a pipeline call; `results.json`
    holds every figure.
    """
    from data_scripts.demo_corpus import DemoCorpora
    from data_scripts.mosei import load_mosei

    from .plots import plot_label_efficiency, plot_learning_curves

    if demo.size not in DEMO_BUDGETS:
        raise ValueError(f"--size must be one of {sorted(DEMO_BUDGETS)}, got {demo.size!r}.")
    budget, output = DEMO_BUDGETS[demo.size], Path(demo.output_dir)
    seeds = list(demo.seeds if demo.seeds is not None else budget["seeds"])
    fractions = budget["label_fractions"]
    started, timings = time.perf_counter(), {}
    corpora_of, variants_of = {}, {}  # the whole grid, known before the first run
    for seed in seeds:
        begin = time.perf_counter()
        root_of_seed = None if demo.demo_root is None else Path(demo.demo_root) / f"seed{demo.corpus_seed + seed}"
        corpora_of[seed] = DemoCorpora.prepare(root_of_seed, seed=demo.corpus_seed + seed, size=budget["corpus_size"])
        pretrained = str(output / pretraining_folder(seed))
        variants_of[seed] = seed_variants(str(corpora_of[seed].root), budget["preset"], pretrained, fractions)
        timings[f"corpora-seed{seed}"] = time.perf_counter() - begin
    total = sum(1 + len(variants) for variants in variants_of.values())
    position = itertools.count(1)

    def train_variant(name: str, description: str, run: RunArguments, seed: int, epochs: int) -> dict:
        logger.info("[%d/%d] %s", next(position), total, description)
        begin = time.perf_counter()
        set_seed(seed)
        training = stage_training(run, output / name, seed, epochs, budget)
        results = train_stage(run, training)
        results["log_history"] = json.loads((output / name / "trainer_state.json").read_text())["log_history"]
        if not demo.keep_checkpoints:
            OutputFolder(output / name).remove_checkpoints()
        timings[name] = time.perf_counter() - begin
        return results

    per_seed = {}
    for seed in seeds:
        corpora, begin = corpora_of[seed], time.perf_counter()
        emotion_corpus = corpora.load_emotion()
        baselines = pooled_baselines(emotion_corpus, seed=seed)
        timings[f"baselines-seed{seed}"] = time.perf_counter() - begin
        pretraining = demo_pretraining(str(corpora.root), budget["preset"])
        description = f"pre-training (ASR + person id), seed {seed}"
        pretrained = pretraining_folder(seed)
        pretrain = train_variant(pretrained, description, pretraining, seed, budget["pretrain_epochs"])
        runs = {}
        for name, run in variants_of[seed].items():
            description = f"{describe(name)}, seed {seed}"
            runs[name] = train_variant(run_folder(name, seed), description, run, seed, emotion_epochs(run, budget))
        runs["mosei-format/scratch/all"]["baselines"] = pooled_baselines(load_mosei(corpora.mosei_dir))
        begin = time.perf_counter()
        frozen = frozen_encoder_probes(
            emotion_corpus, str(corpora.root), budget["preset"], str(output / pretrained), seed, fractions
        )
        timings[f"frozen-probes-seed{seed}"] = time.perf_counter() - begin
        per_seed[seed] = {
            "corpus_seed": corpora.seed,
            "pretraining": pretrain,
            "runs": runs,
            "baselines": baselines,
            "frozen": frozen,
            "visual_speaker_probe": visual_speaker_probe(corpora, seed),
        }
    summary = demo_summary(per_seed, fractions)
    summary["targets_judged"] = demo.size in JUDGED_SIZES
    summary["checks"] = reload_and_pipeline(default_run_models(output, seeds[0])[0], corpora_of[seeds[0]])
    summary["seconds"] = {name: round(value, 1) for name, value in timings.items()}
    summary["seconds"]["total"] = round(time.perf_counter() - started, 1)
    if demo.size == "full":
        summary["targets"][f"whole_run_at_most_{TIME_LIMIT_MINUTES}_min"] = (
            summary["seconds"]["total"] <= TIME_LIMIT_MINUTES * 60
        )
    summary["size"], summary["machine"] = demo.size, machine_description()
    summary["precision"] = "bf16 autocast" if uses_bf16(budget) else "fp32"
    summary["corpus_seed"], summary["seeds"] = demo.corpus_seed, seeds
    if PartialState().is_main_process:
        output.mkdir(parents=True, exist_ok=True)
        (output / "results.json").write_text(json.dumps(summary, indent=1))
        plot_label_efficiency(summary, output / "label_efficiency.png")
        plot_learning_curves(per_seed, output / "learning_curves.png")
        print(demo_table(summary))
    return summary


def visual_speaker_probe(corpora: "DemoCorpora", seed: int) -> float:
    """
    Cross-validated accuracy of a logistic probe identifying the speaker from the mean visual frame of each
    pre-training utterance: person identification must need the audio, so this stays near chance.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_score

    from data_scripts.pretraining_corpus import read_manifest

    rows = read_manifest(corpora.speech_manifest)
    means = np.stack([np.load(row["visual"]).mean(0) for row in rows])
    speakers = [row["speaker"] for row in rows]
    return float(cross_val_score(LogisticRegression(max_iter=2000), means, speakers, cv=5).mean())


def reload_and_pipeline(model_dir: Path, corpora: "DemoCorpora") -> dict:
    """Reload the saved emotion model with `AutoModel` and run the audio-classification pipeline on one demo WAV."""
    import soundfile
    from transformers import AutoModel, pipeline

    encoder = load_checkpoint(AutoModel, str(model_dir))  # the encoder alone: the emotion head is left unused
    wav = sorted((corpora.emotion_dir / "wav").glob("*.wav"))[0]
    samples, rate = soundfile.read(wav, dtype="float32")  # the demo WAVs are 16 kHz, the rate the model expects
    classifier = pipeline("audio-classification", model=str(model_dir), top_k=None, device="cpu")
    scores = classifier({"array": samples, "sampling_rate": rate})
    return {"reloaded_class": type(encoder).__name__, "pipeline_wav": wav.name, "pipeline_scores": scores}
