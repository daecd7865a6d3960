"""
Why an emotion is or is not learned, per cue of the demo corpora (`data_scripts.demo_cues`):

    python -m mmembed_training.diagnose [--corpus demo-mosei | demo] [--epochs 24] [--config_overrides ...]

1. **Learning curves**: the emotion model (`--preset`, `--config_overrides`) trained from scratch (or from
   `--model_name_or_path`) for `--epochs`,
   scored after every epoch on validation and on `--fit_examples` training examples: per-emotion AUC and weighted
   accuracy. A cue at chance on validation *and* on train is not fitted at all (the model cannot carry it, or
   optimisation never finds it); one fitted on train only is a matter of data size.
2. **Cue probes**: for each emotion, the simplest model that should learn it from its cue's own stream(s) (one or two
   self-attention layers over those streams on a shared time axis, attention pooling, one logit), trained on that
   emotion alone. A probe that learns a cue the model misses says the information is there and the fusion loses it.

Writes `diagnosis.json` (every figure) and `diagnosis.png` (a panel per emotion: the model's validation and
training AUC against epochs, the probe's validation AUC as a line; with `--epochs 0`, the cue probes alone, their
curves) into `--output_dir`. Validation only: the test
split is never read here.
"""

import json
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn
from transformers import HfArgumentParser, TrainerCallback, TrainingArguments, set_seed

from data_scripts.demo_cues import EMOTION_CUES
from modeling_mmembed import EMOTIONS
from modeling_mmembed.modeling_mmembed import aligned_positions, sinusoidal_embedding

from .arguments import RunArguments
from .collator import MMEmbedDataCollator
from .data import load_corpus
from .demo_budgets import DEMO_LEARNING_RATES, bf16_is_fast
from .models import build_model
from .plots import plot_diagnosis
from .stages import EMOTION
from .trainer import stage_trainer

logger = logging.getLogger(__name__)

CUE_STREAMS = {
    "demo": dict(EMOTION_CUES),
    # no speech in the COVAREP-like audio: negation and the tail's timing are in the text stream only
    "demo-mosei": {**EMOTION_CUES, "sad": ("text",), "disgust": ("text", "visual")},
}
"""The streams each emotion's cue is in, per demo corpus."""
STREAM_COLUMNS = {
    "audio": ("input_features",),
    "visual": ("visual_features",),
    "text": ("text_features", "text_input_ids"),
}
"""Each stream's column: frames or word vectors (float rows), or token ids (the raw corpus's transcript)."""


@dataclass
class DiagnoseArguments:
    """What to diagnose: which corpus, which model, how long."""

    corpus: str = field(default="demo-mosei", metadata={"help": "demo-mosei (feature streams) or demo (raw audio)."})
    demo_root: str | None = field(default=None, metadata={"help": "Where the demo corpora are (None: the cache)."})
    preset: str = field(default="small", metadata={"help": "Model preset (trained from scratch)."})
    model_name_or_path: str | None = field(
        default=None,
        metadata={"help": "Start from this checkpoint (e.g. a default run's pretrain-seed0) instead of from scratch."},
    )
    config_overrides: str | None = field(default=None, metadata={"help": "As train.py's --config_overrides."})
    epochs: int = field(
        default=24, metadata={"help": "Epochs of the learning curves (4x the default run's); 0: cue probes only."}
    )
    learning_rate: float | None = field(
        default=None, metadata={"help": "None: the default run's for the corpus (`DEMO_LEARNING_RATES`)."}
    )
    fit_examples: int = field(default=160, metadata={"help": "Training examples scored for the training-set fit."})
    probe_epochs: int = field(default=20, metadata={"help": "Epochs of each cue probe."})
    output_dir: str = field(default="outputs/diagnose", metadata={"help": "Where diagnosis.json/.png are written."})
    seed: int = field(default=0)


class ScoreTrainingFit(TrainerCallback):
    """After each evaluation, the same scores on a fixed subset of the training split (the training-set fit)."""

    def __init__(self, score, examples):
        self.score, self.examples, self.history = score, examples, []

    def on_evaluate(self, args, state, control, model=None, **kwargs):
        was_training = model.training
        model.eval()
        self.history.append({"epoch": round(state.epoch), **self.score(model, self.examples)})
        model.train(was_training)


def learning_curves(diagnose: DiagnoseArguments, corpus) -> dict:
    """Per-epoch validation and training-fit scores of the emotion model (from scratch or `model_name_or_path`)."""
    run = RunArguments(
        stage="emotion",
        corpus=diagnose.corpus,
        preset=diagnose.preset,
        config_overrides=diagnose.config_overrides,
        model_name_or_path=diagnose.model_name_or_path,
    )
    set_seed(diagnose.seed)
    model = build_model(run, EMOTION, corpus)
    collator = MMEmbedDataCollator("emotion", model.config.modalities)
    score = EMOTION.scorer(corpus, collator, 32, 1)
    fit = ScoreTrainingFit(score, corpus["train"].select(range(min(diagnose.fit_examples, len(corpus["train"])))))
    training = TrainingArguments(
        output_dir=str(Path(diagnose.output_dir) / "model"),
        num_train_epochs=diagnose.epochs,
        learning_rate=diagnose.learning_rate or DEMO_LEARNING_RATES[diagnose.corpus],
        warmup_steps=0.1,
        lr_scheduler_type="cosine",
        weight_decay=0.01,
        per_device_train_batch_size=16,
        eval_strategy="epoch",
        save_strategy="no",
        logging_steps=10,
        report_to=[],
        seed=diagnose.seed,
        use_cpu=not torch.accelerator.is_available(),
        bf16=bf16_is_fast(),  # as the default run trains
        train_sampling_strategy="group_by_length",
        disable_tqdm=True,
    )
    trainer = stage_trainer(EMOTION, model, training, corpus, collator, score, [fit])
    began = time.perf_counter()
    trainer.train()
    evaluations = [entry for entry in trainer.state.log_history if "eval_mean_weighted_accuracy" in entry]
    curves = {"epochs": [round(entry["epoch"]) for entry in evaluations], "seconds": time.perf_counter() - began}
    for emotion in EMOTIONS:
        for metric in ("auc", "weighted_accuracy"):
            curves[f"{emotion}_{metric}"] = {
                "validation": [entry[f"eval_{emotion}_{metric}"] for entry in evaluations],
                "train": [entry[f"{emotion}_{metric}"] for entry in fit.history],
            }
    curves["config"] = {
        name: getattr(model.config, name)
        for name in ("hidden_size", "num_source_layers", "source_positions", "num_fusion_layers", "pooling")
    } | {"learn_modality_weights": model.config.learn_modality_weights}
    return curves


class CueProbe(nn.Module):
    """
    The simplest model for one cue: each stream projected (or, token ids, embedded) and normalised, placed on a
    shared time axis (sinusoidal positions spread over 100 steps, plus a learned stream embedding), `layers`
    self-attention layers over all frames of all its streams, attention pooling and one logit. `sizes`: each stream's
    row size, or for a token stream its vocabulary size (`tokens` names those).
    """

    def __init__(self, sizes: dict[str, int], tokens: set[str], hidden_size: int = 64, layers: int = 2):
        super().__init__()
        self.inputs = nn.ModuleDict(
            {
                name: nn.Sequential(
                    nn.Embedding(size, hidden_size) if name in tokens else nn.Linear(size, hidden_size),
                    nn.LayerNorm(hidden_size),
                )
                for name, size in sizes.items()
            }
        )
        self.streams = nn.ParameterDict({name: nn.Parameter(torch.zeros(hidden_size)) for name in sizes})
        layer = nn.TransformerEncoderLayer(hidden_size, 4, 2 * hidden_size, 0.1, batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.score, self.out = nn.Linear(hidden_size, 1), nn.Linear(hidden_size, 1)

    def forward(self, streams: dict[str, tuple[torch.Tensor, torch.Tensor]]) -> torch.Tensor:
        states, masks = [], []
        for name, (values, mask) in streams.items():
            timeline = torch.ones(mask.shape[0], 100, dtype=torch.bool, device=mask.device)
            positions = sinusoidal_embedding(aligned_positions(mask, timeline), self.streams[name].shape[0])
            states.append(self.inputs[name](values) + positions + self.streams[name])
            masks.append(mask)
        hidden, mask = torch.cat(states, dim=1), torch.cat(masks, dim=1)
        hidden = self.encoder(hidden, src_key_padding_mask=~mask)
        weights = self.score(hidden).squeeze(-1).masked_fill(~mask, torch.finfo(hidden.dtype).min).softmax(dim=-1)
        return self.out((weights[..., None] * hidden).sum(dim=1)).squeeze(-1)


def padded_streams(dataset, streams: tuple[str, ...], stride: dict[str, int]) -> dict:
    """
    Each stream of `dataset`, every `stride`-th frame, zero-padded with its mask: `(N, frames, size)` floats, or
    `(N, tokens)` ids for a token stream.
    """
    padded = {}
    for name in streams:
        column = next(column for column in STREAM_COLUMNS[name] if column in dataset.column_names)
        rows = [np.asarray(values)[:: stride.get(name, 1)] for values in dataset[column]]
        tokens = rows[0].ndim == 1
        length = max(len(row) for row in rows)
        shape, dtype = (
            ((len(rows), length), np.int64) if tokens else ((len(rows), length, rows[0].shape[1]), np.float32)
        )
        values, mask = np.zeros(shape, dtype), np.zeros((len(rows), length), bool)
        for index, row in enumerate(rows):
            values[index, : len(row)], mask[index, : len(row)] = row, True
        padded[name] = (torch.from_numpy(values), torch.from_numpy(mask))
    return padded


def examples_of(streams: dict, indices: torch.Tensor) -> dict:
    """The `indices` examples of each padded stream (`padded_streams`) and of its mask."""
    return {name: (values[indices], mask[indices]) for name, (values, mask) in streams.items()}


def cue_probe(corpus, emotion: str, streams: tuple[str, ...], epochs: int, seed: int) -> dict:
    """Validation (and training) AUC after each epoch of a `CueProbe` trained on `emotion` alone."""
    from sklearn.metrics import roc_auc_score

    torch.manual_seed(seed)
    index = EMOTIONS.index(emotion)
    stride = {"audio": 4}  # 100 Hz audio rows: 25 per second, the visual rate
    train = padded_streams(corpus["train"], streams, stride)
    validation = padded_streams(corpus["validation"], streams, stride)
    labels = {
        split: torch.tensor(np.asarray(corpus[split]["emotion_labels"])[:, index], dtype=torch.float32)
        for split in ("train", "validation")
    }
    tokens = {name for name, (values, _) in train.items() if values.dtype == torch.int64}
    sizes = {
        name: int(max(values.max(), validation[name][0].max())) + 1 if name in tokens else values.shape[-1]
        for name, (values, _) in train.items()
    }
    probe = CueProbe(sizes, tokens)
    optimizer = torch.optim.AdamW(probe.parameters(), lr=1e-3, weight_decay=0.01)
    count, history = len(labels["train"]), {"validation": [], "train": []}
    for _ in range(epochs):
        probe.train()
        for batch in torch.randperm(count).split(16):
            loss = nn.functional.binary_cross_entropy_with_logits(
                probe(examples_of(train, batch)), labels["train"][batch]
            )
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        probe.eval()
        with torch.no_grad():
            for split, streams_of_split in (("validation", validation), ("train", train)):
                batches = torch.arange(len(labels[split])).split(64)  # a whole split at once needs GBs of attention
                scores = torch.cat([probe(examples_of(streams_of_split, batch)) for batch in batches])
                history[split].append(float(roc_auc_score(labels[split].numpy(), scores.numpy())))
    return {"streams": list(streams), **history}


def main(argv: list[str] | None = None) -> dict:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    (diagnose,) = HfArgumentParser(DiagnoseArguments, description=__doc__).parse_args_into_dataclasses(args=argv)
    if diagnose.corpus not in CUE_STREAMS:
        raise ValueError(f"--corpus must be one of {sorted(CUE_STREAMS)}, got {diagnose.corpus!r}.")
    output = Path(diagnose.output_dir)
    output.mkdir(parents=True, exist_ok=True)
    corpus = load_corpus(
        RunArguments(stage="emotion", corpus=diagnose.corpus, demo_root=diagnose.demo_root), "emotion"
    )
    corpus = {split: corpus[split].with_format("numpy") for split in ("train", "validation")}
    model = f"{diagnose.preset}" + (f", {diagnose.config_overrides}" if diagnose.config_overrides else "")
    model = model if diagnose.epochs else "cue probes only"
    report = {"corpus": diagnose.corpus, "model": model, "arguments": asdict(diagnose)}
    if diagnose.epochs:
        report["learning_curves"] = curves = learning_curves(diagnose, corpus)
        (output / "diagnosis.json").write_text(json.dumps(report, indent=1))  # kept should a probe fail
    report["cue_probes"] = probes = {
        emotion: cue_probe(corpus, emotion, streams, diagnose.probe_epochs, diagnose.seed)
        for emotion, streams in CUE_STREAMS[diagnose.corpus].items()
    }
    report["summary"] = {
        emotion: {
            "probe_best_validation_auc": max(probes[emotion]["validation"]),
            "probe_final_training_auc": probes[emotion]["train"][-1],
        }
        | (
            {
                "model_best_validation_auc": max(curves[f"{emotion}_auc"]["validation"]),
                "model_final_training_auc": curves[f"{emotion}_auc"]["train"][-1],
            }
            if diagnose.epochs
            else {}
        )
        for emotion in EMOTIONS
    }
    (output / "diagnosis.json").write_text(json.dumps(report, indent=1))
    plot_diagnosis(report, output / "diagnosis.png")
    for emotion, figures in report["summary"].items():
        print(f"{emotion:<9} " + ", ".join(f"{name} {value:.2f}" for name, value in figures.items()))
    return report


if __name__ == "__main__":
    main()
