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

from modeling_mmembed.metrics_mmembed import paired_bootstrap

from .arguments import RunArguments
from .baselines import pooled_baselines
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
        default_factory=lambda: [0, 1, 2],
        metadata={"help": "Seeds: each draws its own corpora and split (corpus_seed + seed), pre-training and runs."},
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


FULL_BUDGET = {  # model preset; per stage training epochs (or max steps); pre-training evaluations (None: each epoch)
    "corpus_size": "full",  # data_scripts.demo_corpus.CORPUS_SIZES
    "preset": "small",
    "bf16": "auto",  # bf16 autocast where it is fast (`bf16_is_fast`); True / False to force
    "pretrain_epochs": 40,
    "pretrain_evaluations": 3,
    "emotion_epochs": 8,
    "mosei_epochs": 6,
    "ablation_seeds": 1,  # seeds that also run the ablations, the shuffled control and the CMU-MOSEI-format set
    "max_steps": -1,
}

DEMO_BUDGETS = {
    "full": FULL_BUDGET,
    "long": {**FULL_BUDGET, "emotion_epochs": 16, "ablation_seeds": 3},
    "quick": {**FULL_BUDGET, "corpus_size": "small", "pretrain_epochs": 3, "pretrain_evaluations": None},
    "smoke": {
        "corpus_size": "small",
        "preset": "tiny",
        "bf16": False,
        "pretrain_epochs": 1,
        "pretrain_evaluations": None,
        "emotion_epochs": 1,
        "mosei_epochs": 1,
        "ablation_seeds": 1,
        "max_steps": 3,
    },
}

DEMO_LEARNING_RATES = {"pretrain": 5e-3, "emotion": 1e-3}
"""Pre-training at 5e-3: at 3e-3 two of four corpus seeds stalled near validation CER 0.45 (seed 2: 0.43, seed 100:
0.47); at 5e-3 they reach 0.15 and 0.17 in the same 40 epochs (chosen on validation CER)."""

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
    from data_scripts.demo_corpus import generate_demo_corpora

    budget, output = DEMO_BUDGETS[size], Path(output_dir)
    report = progress or (lambda fraction, desc: logger.info("%s", desc))
    report(0.0, desc="Generating the demo corpora")
    corpora = generate_demo_corpora(demo_root, seed=seed, size=budget["corpus_size"])
    root = str(Path(corpora["speech"]["path"]).parent.parent)
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


def seed_variants(root: str, preset: str, pretrained: str, with_ablations: bool) -> dict[str, RunArguments]:
    """
    The emotion runs of one seed, by name (`corpus/start/modalities`): the model from its pre-training and from
    scratch, and with `with_ablations` the modality ablations, the shuffled-label control and the CMU-MOSEI-format set.
    """
    emotion = {"stage": "emotion", "corpus": "demo", "demo_root": root}
    variants = {
        "raw/pretrained/all": RunArguments(**emotion, model_name_or_path=pretrained),
        "raw/scratch/all": RunArguments(**emotion, preset=preset),
    }
    if with_ablations:
        variants.update(
            {
                f"raw/pretrained/{name}": RunArguments(**emotion, model_name_or_path=pretrained, modalities=modalities)
                for name, modalities in ABLATIONS.items()
            }
        )
        variants["raw/shuffled-labels"] = RunArguments(**emotion, model_name_or_path=pretrained, shuffled_labels=True)
        variants["mosei-format/scratch/all"] = RunArguments(
            stage="emotion", corpus="demo-mosei", demo_root=root, preset=preset
        )
    return variants


def describe(variant: str) -> str:
    """`raw/pretrained/audio+visual` -> `raw corpus, pre-trained, audio+visual`."""
    return ", ".join(VARIANT_WORDS.get(part, part) for part in variant.split("/"))


def run_demo(demo: DemoArguments) -> dict:
    """
    For each seed: generate its corpora (`corpus_seed + seed`: voices, utterances and the voice split all change),
    pre-train on its speech corpus (ASR + person id), tune emotion from that checkpoint and from scratch, fit the
    pooled-feature baselines; for the first `ablation_seeds` seeds also the modality ablations, the shuffled-label
    control and the CMU-MOSEI-format set. Then paired bootstrap intervals over the test items, the targets, a reload
    and a pipeline call; `results.json` holds every figure.
    """
    from data_scripts.demo_corpus import generate_demo_corpora, load_demo_emotion
    from data_scripts.mosei import load_mosei

    if demo.size not in DEMO_BUDGETS:
        raise ValueError(f"--size must be one of {sorted(DEMO_BUDGETS)}, got {demo.size!r}.")
    budget, output = DEMO_BUDGETS[demo.size], Path(demo.output_dir)
    started, timings = time.perf_counter(), {}
    ablation_seeds = demo.seeds[: budget["ablation_seeds"]]
    total = sum(1 + len(seed_variants("", "", "", seed in ablation_seeds)) for seed in demo.seeds)
    position = itertools.count(1)

    def stage(name: str, description: str, run: RunArguments, seed: int, epochs: int) -> dict:
        logger.info("[%d/%d] %s", next(position), total, description)
        begin = time.perf_counter()
        set_seed(seed)
        results = train_stage(run, demo_training(output / name, seed, epochs, budget, run.stage))
        if not demo.keep_checkpoints:
            OutputFolder(output / name).remove_checkpoints()
        timings[name] = time.perf_counter() - begin
        return results

    per_seed = {}
    for seed in demo.seeds:
        corpus_seed = demo.corpus_seed + seed
        begin = time.perf_counter()
        root_of_seed = None if demo.demo_root is None else Path(demo.demo_root) / f"seed{corpus_seed}"
        corpora = generate_demo_corpora(root_of_seed, seed=corpus_seed, size=budget["corpus_size"])
        root = str(Path(corpora["speech"]["path"]).parent.parent)
        emotion_corpus = load_demo_emotion(Path(corpora["emotion"]["path"]).parent)
        baselines = pooled_baselines(emotion_corpus, seed=seed)
        timings[f"corpora-and-baselines-seed{seed}"] = time.perf_counter() - begin
        pretrain_name = f"pretrain-seed{seed}"
        pretraining = demo_pretraining(root, budget["preset"])
        description = f"pre-training (ASR + person id), seed {seed}"
        pretrain = stage(pretrain_name, description, pretraining, seed, budget["pretrain_epochs"])
        runs = {}
        for name, run in seed_variants(
            root, budget["preset"], str(output / pretrain_name), seed in ablation_seeds
        ).items():
            epochs = budget["mosei_epochs" if run.corpus == "demo-mosei" else "emotion_epochs"]
            folder = f"{name.replace('/', '-')}-seed{seed}"
            runs[name] = stage(folder, f"{describe(name)}, seed {seed}", run, seed, epochs)
        if seed in ablation_seeds:  # the CMU-MOSEI-format set's own pooled baselines, beside its model
            runs["mosei-format/scratch/all"]["baselines"] = pooled_baselines(load_mosei(corpora["mosei"]["path"]))
        per_seed[seed] = {
            "corpus_seed": corpus_seed,
            "pretraining": pretrain,
            "runs": runs,
            "baselines": baselines,
            "visual_speaker_probe": visual_speaker_probe(corpora, seed),
        }
    summary = demo_summary(per_seed)
    summary["targets_judged"] = demo.size in JUDGED_SIZES
    summary["checks"] = reload_and_pipeline(output / f"raw-pretrained-all-seed{demo.seeds[0]}", corpora)
    summary["seconds"] = {name: round(value, 1) for name, value in timings.items()}
    summary["seconds"]["total"] = round(time.perf_counter() - started, 1)
    summary["targets"]["whole_run_at_most_15_min"] = summary["seconds"]["total"] <= 15 * 60
    summary["size"], summary["machine"] = demo.size, machine_description()
    summary["precision"] = "bf16 autocast" if uses_bf16(budget) else "fp32"
    summary["corpus_seed"], summary["seeds"] = demo.corpus_seed, list(demo.seeds)
    if PartialState().is_main_process:
        output.mkdir(parents=True, exist_ok=True)
        (output / "results.json").write_text(json.dumps(summary, indent=1))
        print(demo_table(summary))
    return summary


def visual_speaker_probe(corpora: dict, seed: int) -> float:
    """
    Cross-validated accuracy of a logistic probe identifying the speaker from the mean visual frame of each
    pre-training utterance: person identification must need the audio, so this stays near chance.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_score

    from data_scripts.pretraining_corpus import read_manifest

    rows = read_manifest(corpora["speech"]["path"])
    means = np.stack([np.load(row["visual"]).mean(0) for row in rows])
    speakers = [row["speaker"] for row in rows]
    return float(cross_val_score(LogisticRegression(max_iter=2000), means, speakers, cv=5).mean())


def decisions_of(run: dict) -> tuple[np.ndarray, np.ndarray]:
    """A run's test decisions (its probabilities at its tuned thresholds) and the test labels."""
    predictions = run["test_predictions"]
    probabilities = np.asarray(predictions["probabilities"])
    return probabilities >= np.asarray(run["thresholds"])[None, :], np.asarray(predictions["labels"]).astype(bool)


def of_run(name: str):
    """A side of a `comparison`: the test decisions and labels of the run `name` in a seed's record."""
    return lambda record: decisions_of(record["runs"][name])


def of_best_baseline(record: dict) -> tuple[np.ndarray, np.ndarray]:
    """A side of a `comparison`: the test decisions of the seed's best pooled baseline (chosen on validation)."""
    return record["baselines"]["best_test"], decisions_of(record["runs"]["raw/pretrained/all"])[1]


def comparison(per_seed: dict, first, second) -> dict:
    """
    Paired bootstrap interval of `first` minus `second` test mean weighted accuracy over the test items of every seed
    where both ran (resampled within each seed); `first`/`second` map a seed's record to its `(decisions, labels)`.
    """
    labels, one, other, groups = [], [], [], []
    for seed, record in per_seed.items():
        try:
            (decided_first, truth), (decided_second, _) = first(record), second(record)
        except KeyError:
            continue
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


def demo_summary(per_seed: dict) -> dict:
    """Per variant and baseline the test mean weighted accuracy per seed, mean and sd; the intervals; the targets."""
    names = list(dict.fromkeys(name for record in per_seed.values() for name in record["runs"]))
    emotion = {}
    for name in names:
        seeds = [seed for seed, record in per_seed.items() if name in record["runs"]]
        values = [per_seed[seed]["runs"][name]["test"]["mean_weighted_accuracy"] for seed in seeds]
        emotion[name] = variant_scores(values, seeds)
    mosei = [record["runs"]["mosei-format/scratch/all"]["baselines"] for record in per_seed.values()
             if "mosei-format/scratch/all" in record["runs"]]  # fmt: skip
    if mosei:
        scores = [result["baselines"][result["best"]]["test"]["mean_weighted_accuracy"] for result in mosei]
        emotion["mosei-format, best pooled baseline"] = variant_scores(scores, list(per_seed)[: len(mosei)])
    best = [record["baselines"]["baselines"][record["baselines"]["best"]]["test"] for record in per_seed.values()]
    baseline = variant_scores([scores["mean_weighted_accuracy"] for scores in best], list(per_seed))
    baseline["chosen_on_validation"] = {str(seed): record["baselines"]["best"] for seed, record in per_seed.items()}
    model = of_run("raw/pretrained/all")
    intervals = {
        "model_minus_best_baseline": comparison(per_seed, model, of_best_baseline),
        "pretrained_minus_scratch": comparison(per_seed, model, of_run("raw/scratch/all")),
        **{f"all_minus_{name}": comparison(per_seed, model, of_run(f"raw/pretrained/{name}")) for name in ABLATIONS},
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
    control = emotion["raw/shuffled-labels"]["mean"]
    targets = {
        "best_pooled_baseline_at_most_0.70": baseline["mean"] <= 0.70,
        "model_beats_best_baseline": intervals["model_minus_best_baseline"]["low"] > 0,
        "pretrained_beats_scratch": intervals["pretrained_minus_scratch"]["low"] > 0,
        "all_beats_each_subset": all(intervals[f"all_minus_{name}"]["low"] > 0 for name in ABLATIONS),
        "shuffled_control_within_0.45_0.55": 0.45 <= control <= 0.55,
        "pretraining_test_cer_at_most_0.35": pretraining["test"]["cer"] <= 0.35,
        "visual_only_speaker_probe_at_most_0.5": max(probes) <= 0.5,
    }
    return {
        "pretraining": pretraining,
        "visual_speaker_probe": dict(zip(map(str, per_seed), probes, strict=True)),
        "emotion": emotion,
        "best_pooled_baseline": baseline,
        "baselines": {str(seed): record["baselines"]["baselines"] for seed, record in per_seed.items()},
        "intervals": intervals,
        "corpus_seeds": {str(seed): record["corpus_seed"] for seed, record in per_seed.items()},
        "targets": targets,
    }


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
    rows = {**summary["emotion"], "best pooled baseline": summary["best_pooled_baseline"]}
    for name, scores in rows.items():
        per_seed = ", ".join(f"{seed}: {value:.3f}" for seed, value in scores["per_seed"].items())
        spread = f" ± {scores['sd']:.3f}" if scores["sd"] is not None else "        "
        lines.append(f"  {name:<36} {scores['mean']:.3f}{spread}   per seed {per_seed}")
    lines.append("paired bootstrap 95% intervals of the difference in test mean WA (test items of every seed):")
    for name, interval in summary["intervals"].items():
        lines.append(
            f"  {name:<34} {interval['difference']:+.3f} [{interval['low']:+.3f}, {interval['high']:+.3f}]"
            f"  seeds {interval['seeds']}"
        )
    if summary["targets_judged"]:
        verdicts = (f"{name} {'met' if ok else 'NOT met'}" for name, ok in summary["targets"].items())
        lines.append("targets: " + ", ".join(verdicts))
    else:
        lines.append(f"targets: not judged at size {summary['size']} (they are set for the full size)")
    return "\n".join(lines)
