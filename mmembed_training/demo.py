"""
The default run (`python train.py`, `mmembed-train demo`): the whole method on the built-in demo corpora, and the
small models the demo app trains on the spot.
"""

import itertools
import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from accelerate import PartialState
from transformers import (
    TrainingArguments,
    set_seed,
)

from .arguments import RunArguments
from .models import load_checkpoint
from .run import train_stage
from .trainer import OutputFolder

logger = logging.getLogger(__name__)


@dataclass
class DemoArguments:
    """`python train.py` with no arguments (or `python train.py demo ...`): the whole method on the demo corpora."""

    size: str = field(
        default="full",
        metadata={
            "help": "full (the benchmark), long (full with twice the emotion epochs), quick (the app's model) or "
            "smoke (tiny budgets, for CI)."
        },
    )
    output_dir: str = field(
        default="outputs/demo", metadata={"help": "Where every run's model folder and results.json are written."}
    )
    seeds: list[int] = field(
        default_factory=lambda: [0, 1, 2], metadata={"help": "Training seeds of the emotion runs."}
    )
    demo_root: str | None = field(
        default=None, metadata={"help": "Where the demo corpora are generated (None: ~/.cache/mmembed)."}
    )
    keep_checkpoints: bool = field(
        default=False, metadata={"help": "Keep each run's checkpoint-N folder (else the final model only)."}
    )


FULL_BUDGET = {  # model preset; per stage training epochs (or max steps); pre-training evaluations (None: each epoch)
    "preset": "small",
    "bf16": "auto",  # bf16 autocast where it is fast (`bf16_is_fast`); True / False to force
    "pretrain_epochs": 40,
    "pretrain_evaluations": 5,
    "emotion_epochs": 12,
    "mosei_epochs": 6,
    "max_steps": -1,
}

DEMO_BUDGETS = {
    "full": FULL_BUDGET,
    # twice the emotion epochs (about 22 min on 2 cores): long enough for the text cues
    "long": {**FULL_BUDGET, "emotion_epochs": 24},
    "quick": {**FULL_BUDGET, "pretrain_epochs": 3, "pretrain_evaluations": None, "emotion_epochs": 6},
    "smoke": {
        "preset": "tiny",
        "bf16": False,
        "pretrain_epochs": 1,
        "pretrain_evaluations": None,
        "emotion_epochs": 1,
        "mosei_epochs": 1,
        "max_steps": 3,
    },
}

DEMO_LEARNING_RATES = {"pretrain": 3e-3, "emotion": 1e-3}

ABLATIONS = {"audio": ["audio"], "audio+visual": ["audio", "visual"], "audio+text": ["audio", "text"]}

JUDGED_SIZES = ("full", "long")
"""The sizes the targets are set for; smaller budgets run the same code path and report, without judging."""

VARIANT_WORDS = {  # the parts of a variant's name, as the log announces it
    "raw": "raw corpus",
    "mosei-format": "CMU-MOSEI-format corpus",
    "pretrained": "pre-trained",
    "scratch": "from scratch",
    "shuffled-labels": "pre-trained, shuffled labels",
    "all": "all modalities",
}


def bf16_is_fast() -> bool:
    """
    Whether bf16 autocast speeds training up here: a CUDA device with bf16, or a CPU with native bf16 matrix
    instructions (AVX-512 BF16 or AMX). Elsewhere bf16 is emulated and slower than fp32.
    """
    if torch.cuda.is_available():
        return torch.cuda.is_bf16_supported()
    if torch.accelerator.is_available():
        return False
    return any(
        getattr(torch.cpu, check, lambda: False)() for check in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    )


def uses_bf16(budget: dict) -> bool:
    """The budget's `bf16`, with `"auto"` resolved by [`bf16_is_fast`]."""
    return bf16_is_fast() if budget["bf16"] == "auto" else bool(budget["bf16"])


def demo_training(output_dir: Path, seed: int, epochs: int, budget: dict, task: str) -> TrainingArguments:
    """
    The demo's training arguments for `task` (`pretrain` or `emotion`, which sets the learning rate) under a
    `DEMO_BUDGETS` budget: evaluated and checkpointed every epoch, or `pretrain_evaluations` times evenly spread over
    pre-training (whose scoring runs beam search), or at `max_steps` when that is set; the best checkpoint is kept.
    Checkpoints hold the model only.
    """
    max_steps = budget["max_steps"]
    evaluations = budget["pretrain_evaluations"] if task == "pretrain" else None
    if max_steps > 0:
        strategy, interval = "steps", max_steps
    elif evaluations:
        if evaluations < 2:  # `Trainer` reads an `eval_steps` of 1 or more as a number of steps, not a fraction
            raise ValueError(f"pretrain_evaluations must be 2 or more (None: every epoch), got {evaluations}.")
        strategy, interval = "steps", 1 / evaluations  # a fraction of the training steps
    else:
        strategy, interval = "epoch", 1
    return TrainingArguments(
        output_dir=str(output_dir),
        bf16=uses_bf16(budget),
        use_cpu=not torch.accelerator.is_available(),
        seed=seed,
        num_train_epochs=epochs,
        max_steps=max_steps,
        learning_rate=DEMO_LEARNING_RATES[task],
        warmup_steps=0.1,
        lr_scheduler_type="cosine",
        weight_decay=0.01,
        per_device_train_batch_size=16,
        per_device_eval_batch_size=32,
        eval_strategy=strategy,
        eval_steps=interval,
        save_strategy=strategy,
        save_steps=interval,
        save_total_limit=1,
        save_only_model=True,
        load_best_model_at_end=True,
        logging_steps=10,
        report_to="tensorboard",
        train_sampling_strategy="group_by_length",
    )


def demo_pretraining(root: str, preset: str) -> RunArguments:
    """The demo's pre-training stage: ASR (with a CTC share) + person id on the demo speech corpus."""
    return RunArguments(stage="pretrain", corpus="demo", demo_root=root, preset=preset, ctc_loss_weight=0.3)


def train_quick_models(output_dir, size: str = "quick", demo_root=None, seed: int = 0, progress=None) -> dict:
    """
    One pre-trained and one emotion model on the demo corpora with the `size` budget, saved under `output_dir`
    (`pretrain/`, `emotion/`): the model the demo app trains on the spot when the default run has not been made.
    `progress` (a callable taking a fraction and `desc`, e.g. Gradio's) is told when each stage starts.
    """
    from data_scripts.demo_corpus import generate_demo_corpora

    budget, output = DEMO_BUDGETS[size], Path(output_dir)
    report = progress or (lambda fraction, desc: logger.info("%s", desc))
    report(0.0, desc="Generating the demo corpora")
    root = str(Path(generate_demo_corpora(demo_root)["speech"]["path"]).parent.parent)
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
        training = demo_training(output / name, seed, epochs, budget, name)
        results[name] = train_stage(run, training)
    return results


def run_demo(demo: DemoArguments) -> dict:
    """
    Generate the demo corpora; pre-train (ASR + person id); tune emotion on the raw corpus from the pre-trained
    checkpoint and from scratch, the modality ablations, a shuffled-label control and the CMU-MOSEI-format set, over
    the seeds; reload and run a pipeline; save `results.json` with every figure and whether each target is met.
    """
    from data_scripts.demo_corpus import generate_demo_corpora

    if demo.size not in DEMO_BUDGETS:
        raise ValueError(f"--size must be one of {sorted(DEMO_BUDGETS)}, got {demo.size!r}.")
    budget, output = DEMO_BUDGETS[demo.size], Path(demo.output_dir)
    started = time.perf_counter()
    timings = {}
    corpora = generate_demo_corpora(demo.demo_root)
    timings["corpora"] = time.perf_counter() - started
    root = str(Path(corpora["speech"]["path"]).parent.parent)

    preset, pretrained = budget["preset"], str(output / "pretrain")
    variants = emotion_variants(root, preset, pretrained)
    total, position = 1 + len(demo.seeds) * len(variants), itertools.count(1)

    def stage(name: str, description: str, run: RunArguments, seed: int, epochs: int) -> dict:
        logger.info("[%d/%d] %s", next(position), total, description)
        begin = time.perf_counter()
        set_seed(seed)
        training = demo_training(output / name, seed, epochs, budget, run.stage)
        results = train_stage(run, training)
        if not demo.keep_checkpoints:
            OutputFolder(output / name).remove_checkpoints()
        timings[name] = time.perf_counter() - begin
        return results

    pretraining = demo_pretraining(root, preset)
    pretrain = stage(
        "pretrain", "pre-training (ASR + person id)", pretraining, demo.seeds[0], budget["pretrain_epochs"]
    )
    runs: dict[str, list[dict]] = {}
    for seed in demo.seeds:
        for name, run in variants.items():
            folder = f"{name.replace('/', '-')}-seed{seed}"
            epochs = budget["mosei_epochs" if run.corpus == "demo-mosei" else "emotion_epochs"]
            runs.setdefault(name, []).append(stage(folder, f"{describe(name)}, seed {seed}", run, seed, epochs))
    summary = demo_summary(pretrain, runs, demo.seeds)
    summary["targets_judged"] = demo.size in JUDGED_SIZES
    summary["checks"] = reload_and_pipeline(output / f"raw-pretrained-all-seed{demo.seeds[0]}", corpora)
    summary["seconds"] = {name: round(value, 1) for name, value in timings.items()}
    summary["seconds"]["total"] = round(time.perf_counter() - started, 1)
    summary["size"], summary["machine"] = demo.size, machine_description()
    summary["precision"] = "bf16 autocast" if uses_bf16(budget) else "fp32"
    if PartialState().is_main_process:
        output.mkdir(parents=True, exist_ok=True)
        (output / "results.json").write_text(json.dumps(summary, indent=1))
        print(demo_table(summary))
    return summary


def emotion_variants(root: str, preset: str, pretrained: str) -> dict[str, RunArguments]:
    """The emotion runs of each seed, by name (`corpus/start/modalities`)."""
    emotion = {"stage": "emotion", "corpus": "demo", "demo_root": root}
    return {
        "raw/pretrained/all": RunArguments(**emotion, model_name_or_path=pretrained),
        "raw/scratch/all": RunArguments(**emotion, preset=preset),
        "raw/shuffled-labels": RunArguments(**emotion, model_name_or_path=pretrained, shuffled_labels=True),
        "mosei-format/scratch/all": RunArguments(stage="emotion", corpus="demo-mosei", demo_root=root, preset=preset),
        **{
            f"raw/pretrained/{name}": RunArguments(**emotion, model_name_or_path=pretrained, modalities=modalities)
            for name, modalities in ABLATIONS.items()
        },
    }


def describe(variant: str) -> str:
    """`raw/pretrained/audio+visual` -> `raw corpus, pre-trained, audio+visual`."""
    return ", ".join(VARIANT_WORDS.get(part, part) for part in variant.split("/"))


def demo_summary(pretrain: dict, runs: dict[str, list[dict]], seeds: list[int]) -> dict:
    """Per variant the test mean weighted accuracy per seed with mean and sd; the targets and whether they hold."""
    variants = {}
    for name, results in runs.items():
        scores = [result["test"]["mean_weighted_accuracy"] for result in results]
        variants[name] = {
            "per_seed": dict(zip(map(str, seeds), scores, strict=True)),
            "mean": float(np.mean(scores)),
            "sd": float(np.std(scores)),
        }
    asr = pretrain["validation"]
    everything = variants["raw/pretrained/all"]
    subsets = [variants[f"raw/pretrained/{name}"] for name in ABLATIONS]
    scratch, control = variants["raw/scratch/all"], variants["raw/shuffled-labels"]
    targets = {
        "cer_at_most_0.35": asr["cer"] <= 0.35,
        "speaker_accuracy_at_least_0.9": asr["speaker_accuracy"] >= 0.9,
        "raw_emotion_mean_wa_at_least_0.80": everything["mean"] >= 0.80,
        "mosei_format_emotion_mean_wa_at_least_0.80": variants["mosei-format/scratch/all"]["mean"] >= 0.80,
        "fusion_beats_every_subset_by_0.03": all(
            everything["mean"] - everything["sd"] >= subset["mean"] + subset["sd"] + 0.03 for subset in subsets
        ),
        "pretraining_beats_scratch_by_0.02": everything["mean"] - scratch["mean"] >= 0.02,
        "shuffled_control_within_0.45_0.55": 0.45 <= control["mean"] <= 0.55,
    }
    return {"pretraining": asr, "emotion": variants, "targets": targets}


def reload_and_pipeline(model_dir: Path, corpora: dict) -> dict:
    """Reload the saved emotion model with `AutoModel` and run the audio-classification pipeline on one demo WAV."""
    import soundfile
    from transformers import AutoModel, pipeline

    encoder = load_checkpoint(AutoModel, str(model_dir))  # the encoder alone: the emotion head is left unused
    wav = sorted((Path(corpora["emotion"]["path"]).parent / "wav").glob("*.wav"))[0]
    samples, rate = soundfile.read(wav, dtype="float32")  # the demo WAVs are 16 kHz, the rate the model expects
    classifier = pipeline("audio-classification", model=str(model_dir), top_k=None, device="cpu")
    scores = classifier({"array": samples, "sampling_rate": rate})
    return {"reloaded_class": type(encoder).__name__, "pipeline_wav": wav.name, "pipeline_scores": scores}


def machine_description() -> str:
    import platform

    threads = torch.get_num_threads()
    return f"{platform.machine()}, {os.cpu_count()} CPU cores, torch {torch.__version__}, {threads} threads"


def demo_table(summary: dict) -> str:
    asr = summary["pretraining"]
    lines = [
        f"default run ({summary['size']}, {summary['machine']}, {summary['precision']}, "
        f"{summary['seconds']['total']:.0f} s)",
        f"pre-training: CER {asr['cer']:.3f}, WER {asr['wer']:.3f} (decoder alone: CER "
        f"{asr.get('cer_decoder_only', asr['cer']):.3f}), person id {asr['speaker_accuracy']:.3f} "
        f"(audio only {asr['speaker_accuracy_audio_only']:.3f})",
        "emotion, test mean weighted accuracy (mean ± sd over seeds):",
    ]
    for name, scores in summary["emotion"].items():
        per_seed = ", ".join(f"{seed}: {value:.3f}" for seed, value in scores["per_seed"].items())
        lines.append(f"  {name:<28} {scores['mean']:.3f} ± {scores['sd']:.3f}   per seed {per_seed}")
    if summary["targets_judged"]:
        verdicts = (f"{name} {'met' if ok else 'NOT met'}" for name, ok in summary["targets"].items())
        lines.append("targets: " + ", ".join(verdicts))
    else:
        lines.append(f"targets: not judged at size {summary['size']} (they are set for the full size)")
    return "\n".join(lines)
