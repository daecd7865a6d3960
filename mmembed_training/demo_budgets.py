"""
How long and how each stage of the default run trains: the budgets per `--size`, the learning rates, the extensions
the emotion runs use, and the `TrainingArguments` a stage gets (bf16 autocast where the machine is fast at it).
"""

import math
from pathlib import Path

import torch
from transformers import TrainingArguments

from .arguments import RunArguments

FULL_BUDGET = {  # seeds, model preset, per stage training epochs (or max steps), evaluations, label fractions
    "corpus_size": "full",  # data_scripts.demo_corpus.CORPUS_SIZES
    "seeds": (0,),
    "preset": "small",
    "bf16": "auto",  # bf16 autocast where it is fast (`bf16_is_fast`); True / False to force
    "pretrain_epochs": 8,
    "emotion_epochs": 8,
    "mosei_epochs": 8,
    # evaluations during training per corpus (None: every epoch; 0: none, the final model of a fixed schedule). Beam
    # search over 240 held-out utterances and 330-utterance validation passes cost more than the small-fraction runs
    # themselves; the CMU-MOSEI-format runs are cheap and draw the learning curves.
    "evaluations": {"pretrain": 0, "demo": 0, "demo-mosei": None},
    "label_fractions": (0.1, 0.25, 0.5, 1.0),
    "max_steps": -1,
}

DEMO_BUDGETS = {
    "full": FULL_BUDGET,
    "long": {**FULL_BUDGET, "seeds": (0, 1, 2)},
    "quick": {
        **FULL_BUDGET,
        "corpus_size": "small",
        "pretrain_epochs": 3,
        "evaluations": {"pretrain": None, "demo": None, "demo-mosei": None},
    },
    "smoke": {
        "corpus_size": "small",
        "seeds": (0,),
        "preset": "tiny",
        "bf16": False,
        "pretrain_epochs": 1,
        "emotion_epochs": 1,
        "mosei_epochs": 1,
        "evaluations": {"pretrain": None, "demo": None, "demo-mosei": None},
        "label_fractions": (0.25, 1.0),
        "max_steps": 3,
    },
}
"""`full` is the default run (one seed, every variant, under 20 minutes on 2 CPU cores); `long` the same on three
seeds, which the targets are judged on."""

DEMO_LEARNING_RATES = {"pretrain": 5e-3, "demo": 1e-3, "demo-mosei": 2e-3}
"""Per schedule (`schedule_of`). Pre-training at 5e-3: at 3e-3 two of four corpus seeds stalled near validation CER
0.45 (seed 2: 0.43, seed 100: 0.47); at 5e-3 they reach 0.15 and 0.17 in the same 40 epochs (chosen on validation
CER). The CMU-MOSEI-format runs at 2e-3: best validation mean WA after 8 epochs with `DEMO_EXTENSIONS` on corpus seeds
0 and 1, 0.785 and 0.843 (1e-3: 0.769, 0.830; 3e-3: 0.782, 0.775)."""

DEMO_EXTENSIONS = "initializer_range=0.1,source_positions=aligned,cross_modal_locality=0.5,pooling=attention"
"""The method's extensions the demo's emotion runs use (`--config_overrides`), chosen on validation by `python -m
mmembed_training.diagnose` (docs/results.md, "Diagnosis"): branches initialised at 0.1 so that the visual and text
branches are fitted at all, source frames placed on the audio's time axis with a distance bias in cross-modal
attention (cues that co-occur in time), attention pooling (time-local cues). The `published` variants run the method
as published."""

JUDGED_SIZES = ("full", "long")
"""The sizes the targets are set for; smaller budgets run the same code path and report, without judging."""

TIME_LIMIT_MINUTES = 20
"""The default run's time target on 2 CPU cores (judged at size full)."""


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


def demo_training(
    output_dir: Path, seed: int, epochs: int, budget: dict, schedule: str, evaluations: int | None = None
) -> TrainingArguments:
    """
    The demo's training arguments for a `schedule` (`schedule_of`: `pretrain`, `demo` or `demo-mosei`, which sets
    the learning rate) under a `DEMO_BUDGETS` budget. `evaluations`: None evaluates and checkpoints every epoch,
    n >= 2 n times evenly spread, 0 not at all (a fixed schedule: the final model is kept); with `max_steps` set, once
    at the end. The best checkpoint of those evaluated is kept. Checkpoints hold the model only.
    """
    max_steps = budget["max_steps"]
    if max_steps > 0:
        strategy, interval = "steps", max_steps
    elif evaluations == 0:
        strategy, interval = "no", None
    elif evaluations:
        if evaluations < 2:  # `Trainer` reads an `eval_steps` of 1 or more as a number of steps, not a fraction
            raise ValueError(f"evaluations must be 0, 2 or more (None: every epoch), got {evaluations}.")
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
        learning_rate=DEMO_LEARNING_RATES[schedule],
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
        load_best_model_at_end=strategy != "no",
        logging_steps=10,
        report_to="tensorboard",
        train_sampling_strategy="group_by_length",
    )


def stage_training(run: RunArguments, output_dir: Path, seed: int, epochs: int, budget: dict) -> TrainingArguments:
    """`demo_training` for a stage: its schedule (`schedule_of`) and how often the budget evaluates that schedule."""
    schedule = schedule_of(run)
    return demo_training(output_dir, seed, epochs, budget, schedule, budget["evaluations"][schedule])


def schedule_of(run: RunArguments) -> str:
    """
    Which of the budget's schedules (`evaluations`, `DEMO_LEARNING_RATES`) a stage follows: `pretrain` for
    pre-training, else its corpus (`demo` raw, `demo-mosei` feature streams).
    """
    return "pretrain" if run.stage == "pretrain" else run.corpus


def fraction_epochs(epochs: int, fraction: float) -> int:
    """
    Epochs of an emotion run on `fraction` of the training labels: `epochs`, or more below a quarter, so that every
    run takes at least the optimisation steps of the 25% run (a 10% run is not judged after a few dozen updates).
    """
    return math.ceil(epochs * max(1.0, 0.25 / fraction))
