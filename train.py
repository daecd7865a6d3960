"""
Training and evaluation of mmembed: `accelerate launch train.py ...` (or `python train.py ...`).

Stages (`--stage`):
- `pretrain`: ASR + person identification on a pre-training corpus (`--corpus demo` or `--corpus manifest
  --data_dir manifest.jsonl`); best checkpoint by validation CER on held-out sentences.
- `emotion`: the 6 CMU-MOSEI emotions (multi-label) on `--corpus demo` (the raw demo emotion corpus), `demo-mosei`
  (the CMU-MOSEI-format demo set) or `mosei` (`--data_dir` with the CMU SDK files), from `--model_name_or_path` (a
  pre-trained checkpoint) or from scratch (`--preset`); `--freeze_encoder` trains the head only. Best checkpoint by
  validation mean weighted accuracy; decision thresholds are tuned on validation and stored in the saved config.
- `sentiment`: MOSEI sentiment regression on the same corpora; best by validation MAE.
- `evaluate`: a saved model (`--model_name_or_path`) on `--eval_split`.

Arguments are `RunArguments` below plus `transformers.TrainingArguments`, from the command line or a YAML/JSON file
given first (`python train.py configs/demo.yaml --num_train_epochs 3`: later flags override the file). Results go to
`--output_dir`: the best model with its processor, `results.json`, and TensorBoard logs.
"""

import json
import logging
import os
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field, fields
from functools import partial
from pathlib import Path

import numpy as np
import torch
from accelerate import PartialState
from accelerate.utils import gather_object
from huggingface_hub import HfApi
from torch.utils.data import DataLoader
from transformers import (
    EarlyStoppingCallback,
    HfArgumentParser,
    Trainer,
    TrainerState,
    TrainingArguments,
    set_seed,
)
from transformers.trainer_callback import ExportableState
from transformers.trainer_pt_utils import LengthGroupedSampler
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR, get_last_checkpoint, rotate_checkpoints

from modeling_mmembed import (
    MMEmbedConfig,
    MMEmbedFeatureExtractor,
    MMEmbedForEmotionRecognition,
    MMEmbedForPreTraining,
    MMEmbedProcessor,
    MMEmbedTokenizer,
)
from modeling_mmembed.feature_extraction_mmembed import resample
from modeling_mmembed.metrics_mmembed import accuracy, asr_scores, emotion_scores, sentiment_scores, tune_thresholds
from modeling_mmembed.modeling_mmembed import input_layer_mismatches
from modeling_mmembed.processing_mmembed import MMEmbedDataCollator

logger = logging.getLogger("train")

STAGES = ("pretrain", "emotion", "sentiment", "evaluate")
DROPOUT_FIELDS = ("hidden_dropout", "attention_dropout", "activation_dropout", "classifier_dropout")
STAGING_PREFIX = "tmp-"
CORPORA = ("demo", "demo-mosei", "mosei", "manifest")
BEST_METRIC = {  # stage -> (metric, greater is better)
    "pretrain": ("cer", False),
    "emotion": ("mean_weighted_accuracy", True),
    "sentiment": ("mae", False),
}


@dataclass
class RunArguments:
    """What to train or evaluate, on which data (the optimisation settings are `TrainingArguments`)."""

    stage: str = field(default="emotion", metadata={"help": f"One of {STAGES}."})
    corpus: str = field(default="demo", metadata={"help": f"One of {CORPORA}."})
    data_dir: str | None = field(default=None, metadata={"help": "CMU-MOSEI folder, or the manifest of `manifest`."})
    audio_dir: str | None = field(default=None, metadata={"help": "CMU-MOSEI WAV_16000 folder (mosei_audio=wav)."})
    mosei_audio: str = field(default="covarep", metadata={"help": "covarep | wav"})
    mosei_visual: str | None = field(default="facet42", metadata={"help": "facet42 | openface2 | none"})
    mosei_text: str | None = field(default="glove", metadata={"help": "glove | tokens | words | none"})
    align_to_words: bool = field(default=False, metadata={"help": "Average audio/visual rows within words."})
    demo_root: str | None = field(default=None, metadata={"help": "Where the demo corpora are generated."})
    model_name_or_path: str | None = field(default=None, metadata={"help": "Checkpoint to start from (or evaluate)."})
    preset: str = field(default="tiny", metadata={"help": "Model preset when training from scratch."})
    modalities: list[str] | None = field(default=None, metadata={"help": "Subset used (ablations); default: all."})
    freeze_encoder: bool = field(default=False, metadata={"help": "Train the emotion/sentiment head only."})
    dropout: float | None = field(default=None, metadata={"help": "Set every dropout of a new or loaded model."})
    ctc_loss_weight: float | None = field(default=None, metadata={"help": "Share of the ASR loss given to CTC."})
    num_beams: int = field(
        default=4, metadata={"help": "Beams of the ASR scoring generate() (joint CTC/attention decoding with CTC)."}
    )
    resume: bool = field(default=False, metadata={"help": "Resume from the newest complete checkpoint in output_dir."})
    reinit_input_layers: bool = field(
        default=False, metadata={"help": "Re-initialise checkpoint input layers that do not fit the corpus."}
    )
    pos_weight_from_train: bool = field(default=True, metadata={"help": "Emotion BCE pos_weight from train counts."})
    tune_thresholds: bool = field(default=True, metadata={"help": "Tune emotion thresholds on validation."})
    early_stopping_patience: int | None = field(default=None, metadata={"help": "Evaluations without improvement."})
    eval_split: str = field(default="test", metadata={"help": "Split scored by the evaluate stage."})
    shuffled_labels: bool = field(default=False, metadata={"help": "Demo emotion corpus with permuted labels."})
    num_proc: int | None = field(default=None, metadata={"help": "Processes for dataset preparation."})
    dataset_cache_dir: str | None = field(default=None, metadata={"help": "Arrow cache of prepared datasets."})

    def __post_init__(self):
        if self.stage not in STAGES:
            raise ValueError(f"--stage must be one of {STAGES}, got {self.stage!r}.")
        if self.corpus not in CORPORA:
            raise ValueError(f"--corpus must be one of {CORPORA}, got {self.corpus!r}.")
        for name in ("mosei_visual", "mosei_text"):
            if getattr(self, name) in ("none", "None", ""):
                setattr(self, name, None)


# -- arguments ---------------------------------------------------------------------------------------------------


def parse_arguments(argv: list[str]) -> tuple[RunArguments, TrainingArguments]:
    """
    Dataclasses from a YAML/JSON file given first (optional) and command-line flags, which override it. The file is
    read as `HfArgumentParser.parse_yaml_file` reads it (typed values: mappings such as `lr_scheduler_kwargs: {min_lr:
    1.0e-5}` and lists stay what they are); its values become the parser's defaults, so any flag given wins.
    """
    parser = HfArgumentParser((RunArguments, TrainingArguments))
    if argv and argv[0].endswith((".yaml", ".yml", ".json")):
        parser.set_defaults(**config_file_values(Path(argv[0]), parser))
        argv = argv[1:]
    run, training = parser.parse_args_into_dataclasses(args=list(argv))
    return run, training


def config_file_values(path: Path, parser: HfArgumentParser) -> dict:
    """The mapping of argument names to values in a YAML or JSON file; names no dataclass has are refused."""
    if path.suffix == ".json":
        values = json.loads(path.read_text())
    else:
        import yaml

        values = yaml.safe_load(path.read_text()) or {}
    if not isinstance(values, dict):
        raise ValueError(f"{path} must hold a mapping of argument names to values.")
    known = {field.name for dtype in parser.dataclass_types for field in fields(dtype) if field.init}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"{path} has keys that are no argument of train.py: {unknown}.")
    return values


# -- data --------------------------------------------------------------------------------------------------------


def load_corpus(run: RunArguments, stage: str):
    """The `DatasetDict` a stage trains and evaluates on."""
    from data_scripts.demo_corpus import generate_demo_corpora, load_demo_emotion
    from data_scripts.mosei import load_mosei
    from data_scripts.pretraining_corpus import build_pretraining_corpus

    cache = run.dataset_cache_dir
    if stage == "pretrain":
        if run.corpus == "demo":
            manifest = generate_demo_corpora(run.demo_root)["speech"]["path"]
        elif run.corpus == "manifest" and run.data_dir:
            manifest = run.data_dir
        else:
            raise ValueError("--stage pretrain needs --corpus demo, or --corpus manifest with --data_dir MANIFEST.")
        return build_pretraining_corpus(manifest, cache_dir=cache, num_proc=run.num_proc)
    if run.corpus == "demo":
        folder = Path(generate_demo_corpora(run.demo_root)["emotion"]["path"]).parent
        return load_demo_emotion(folder, cache_dir=cache, shuffled_labels=run.shuffled_labels)
    if run.corpus == "demo-mosei":
        return load_mosei(generate_demo_corpora(run.demo_root)["mosei"]["path"], cache_dir=cache)
    if run.corpus == "mosei" and run.data_dir:
        return load_mosei(
            run.data_dir,
            audio=run.mosei_audio,
            visual=run.mosei_visual,
            text=run.mosei_text,
            align_to_words=run.align_to_words,
            audio_dir=run.audio_dir,
            cache_dir=cache,
            num_proc=run.num_proc,
        )
    raise ValueError(f"--stage {stage} needs --corpus demo, demo-mosei, or mosei with --data_dir.")


def corpus_input_sizes(features) -> dict:
    """Model input sizes a corpus implies (config field -> value), and the modalities it has."""
    sizes = {"audio_feature_size": features["input_features"].shape[1], "modalities": ["audio"]}
    if "visual_features" in features:
        sizes["visual_feature_size"] = features["visual_features"].shape[1]
        sizes["modalities"].append("visual")
    if "text_features" in features:
        sizes.update(text_feature_size=features["text_features"].shape[1], text_vocab_size=None)
        sizes["modalities"].append("text")
    elif "text_input_ids" in features:
        sizes.update(text_feature_size=None, text_vocab_size=MMEmbedTokenizer().vocab_size)
        sizes["modalities"].append("text")
    return sizes


def check_splits(corpus, names: list[str]) -> None:
    for name in names:
        if name not in corpus or len(corpus[name]) == 0:
            raise ValueError(
                f"The {name!r} split is empty or missing (splits: {list(corpus)}); nothing to train or score."
            )


def check_labels(dataset, task: str, num_speakers: int | None = None) -> None:
    """Labels out of range stop the run before any training step."""
    if task == "emotion":
        values = np.unique(np.asarray(dataset["emotion_labels"]))
        if not set(values.tolist()) <= {0, 1}:
            raise ValueError(f"emotion_labels must be 0/1 presence; found values {values.tolist()}.")
    elif task == "sentiment":
        values = np.asarray(dataset["sentiment"], dtype=np.float64)
        if not np.isfinite(values).all() or np.abs(values).max() > 3:
            raise ValueError(
                f"sentiment must be finite and within [-3, 3]; found range [{values.min()}, {values.max()}]."
            )
    elif task == "pretrain":
        speakers = np.asarray(dataset["speaker_labels"])
        if speakers.min() < 0 or speakers.max() >= num_speakers:
            raise ValueError(
                f"speaker_labels must lie in [0, {num_speakers}); found [{speakers.min()}, {speakers.max()}]."
            )


def with_lengths(dataset):
    """
    Add the `length` column (audio frames) that length-grouped sampling reads, from the Arrow list lengths (no
    feature is decoded), and return the dataset in numpy format: the collator gets arrays, not nested lists.
    """
    import pyarrow.compute

    chunks = dataset.with_format("arrow")["input_features"].chunks  # memory-mapped: nothing is copied
    lengths = [pyarrow.compute.list_value_length(getattr(chunk, "storage", chunk)).to_numpy() for chunk in chunks]
    return dataset.add_column("length", np.concatenate(lengths)).with_format("numpy")


# -- model -------------------------------------------------------------------------------------------------------


def build_model(run: RunArguments, task: str, train_split):
    """The model to train: from `--model_name_or_path` (input layers checked against the corpus) or a preset."""
    sizes = corpus_input_sizes(train_split.features)
    modalities = run.modalities or sizes["modalities"]
    missing = sorted(set(modalities) - set(sizes["modalities"]))
    if missing:
        raise ValueError(f"--modalities asks for {missing}, which this corpus does not have ({sizes['modalities']}).")
    head = {"modalities": modalities, "freeze_encoder": run.freeze_encoder}
    if run.dropout is not None:
        head.update({name: run.dropout for name in DROPOUT_FIELDS})
    if run.ctc_loss_weight is not None and task == "pretrain":
        head["ctc_loss_weight"] = run.ctc_loss_weight
    if task == "emotion" and run.pos_weight_from_train:
        head["pos_weight"] = positive_weights(np.asarray(train_split["emotion_labels"]))
    if task == "sentiment":
        head.update(num_labels=1, problem_type="regression", thresholds=None)
    if task == "pretrain":
        head["num_speakers"] = train_split.features["speaker_labels"].num_classes
    if run.align_to_words:
        head["audio_subsampling"] = 1  # one row per word: nothing to subsample
    model_class = MMEmbedForPreTraining if task == "pretrain" else MMEmbedForEmotionRecognition
    inputs = {key: value for key, value in sizes.items() if key != "modalities"}
    if run.model_name_or_path is None:
        return model_class(MMEmbedConfig.from_preset(run.preset, **inputs, **head))
    differing = input_layer_mismatches(mmembed_checkpoint_config(run.model_name_or_path), inputs)
    if differing and not run.reinit_input_layers:
        details = "; ".join(f"{key}: checkpoint {old}, corpus {new}" for key, (old, new) in differing.items())
        raise ValueError(
            f"The corpus does not fit the checkpoint's input layers ({details}); pass --reinit_input_layers to "
            "re-initialise them."
        )
    return model_class.from_pretrained(
        run.model_name_or_path, **inputs, **head, ignore_mismatched_sizes=bool(differing)
    )


def mmembed_checkpoint_config(path: str) -> MMEmbedConfig:
    """The saved config of an mmembed checkpoint; a missing one, or one of another model type, is refused."""
    try:
        values, _ = MMEmbedConfig.get_config_dict(path)
    except OSError as error:
        raise ValueError(f"--model_name_or_path {path}: no mmembed checkpoint there ({error}).") from None
    if values.get("model_type") != "mmembed":
        raise ValueError(f"{path} holds a {values.get('model_type')!r} model, not an mmembed checkpoint.")
    return MMEmbedConfig.from_pretrained(path)


def positive_weights(labels: np.ndarray) -> list[float]:
    """Per emotion negatives / positives of the training labels (1 where an emotion has no positive example)."""
    positives = labels.sum(axis=0)
    negatives = len(labels) - positives
    return [
        float(negative / positive) if positive else 1.0
        for positive, negative in zip(positives, negatives, strict=True)
    ]


# -- evaluation --------------------------------------------------------------------------------------------------


def batches(dataset, collator, batch_size: int, device):
    loader = DataLoader(dataset.with_format("numpy"), batch_size=batch_size, collate_fn=collator, shuffle=False)
    for batch in loader:
        yield {name: value.to(device) for name, value in batch.items()}


def gathered(predict, dataset) -> tuple:
    """
    `predict(shard)` on this process's contiguous shard of `dataset`, gathered from every process in order: each
    example of the evaluation set is predicted exactly once. `predict` returns a tuple of per-example arrays.
    """
    state = PartialState()
    shard = dataset.shard(num_shards=state.num_processes, index=state.process_index, contiguous=True)
    parts = gather_object([predict(shard)]) if state.num_processes > 1 else [predict(shard)]
    return tuple(np.concatenate([part[index] for part in parts]) for index in range(len(parts[0])))


@torch.no_grad()
def predict_emotions(model, dataset, collator, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Sigmoid probabilities `(N, 6)` and binary labels `(N, 6)` of a split (every process, gathered)."""

    def predict(shard):
        probabilities, labels = [np.zeros((0, model.config.num_labels))], [np.zeros((0, model.config.num_labels))]
        for batch in batches(shard, collator, batch_size, model.device):
            labels.append(batch.pop("labels").cpu().numpy())
            probabilities.append(torch.sigmoid(model(**batch).logits.float()).cpu().numpy())
        return np.concatenate(probabilities), np.concatenate(labels)

    probabilities, labels = gathered(predict, dataset)
    return probabilities, labels.astype(int)


@torch.no_grad()
def predict_sentiment(model, dataset, collator, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    def predict(shard):
        predictions, targets = [np.zeros(0)], [np.zeros(0)]
        for batch in batches(shard, collator, batch_size, model.device):
            targets.append(batch.pop("labels").cpu().numpy())
            predictions.append(model(**batch).logits.float().view(-1).cpu().numpy())
        return np.concatenate(predictions), np.concatenate(targets)

    return gathered(predict, dataset)


@torch.no_grad()
def pretraining_scores(model, splits: dict, collator, batch_size: int, tokenizer, num_beams: int) -> dict:
    """
    CER/WER of `generate()` (`num_beams`; joint CTC/attention decoding with the model's `generation_config.ctc_weight`)
    on held-out sentences, and with the decoder alone (`cer_decoder_only`, `wer_decoder_only`) when that weight is not
    0; person-id accuracy with all modalities and with audio only.
    """

    def transcribe(shard, ctc_weight: float | None = None):
        hypotheses = []
        for batch in batches(shard, collator, batch_size, model.device):
            labels = batch.pop("labels")
            batch.pop("speaker_labels")
            longest = int((labels != -100).sum(-1).max())
            tokens = model.generate(**batch, max_new_tokens=longest + 10, num_beams=num_beams, ctc_weight=ctc_weight)
            hypotheses += tokenizer.batch_decode(tokens, skip_special_tokens=True)
        return np.array(shard["transcript"], dtype=object), np.array(hypotheses, dtype=object)

    def identify(shard):
        truth, predictions = (
            [np.zeros(0, dtype=int)],
            {"all": [np.zeros(0, dtype=int)], "audio": [np.zeros(0, dtype=int)]},
        )
        for batch in batches(shard, collator, batch_size, model.device):
            truth.append(batch.pop("speaker_labels").cpu().numpy())
            batch.pop("labels")
            audio_only = {key: batch[key] for key in ("input_features", "attention_mask")}
            predictions["all"].append(model(**batch).speaker_logits.argmax(-1).cpu().numpy())
            predictions["audio"].append(model(**audio_only).speaker_logits.argmax(-1).cpu().numpy())
        return np.concatenate(truth), np.concatenate(predictions["all"]), np.concatenate(predictions["audio"])

    references, hypotheses = gathered(transcribe, splits["validation_sentence"])
    scores = asr_scores(list(references), list(hypotheses))
    if getattr(model.generation_config, "ctc_weight", 0.0):
        references, hypotheses = gathered(partial(transcribe, ctc_weight=0.0), splits["validation_sentence"])
        decoder_only = asr_scores(list(references), list(hypotheses))
        scores.update({f"{name}_decoder_only": value for name, value in decoder_only.items()})
    truth, with_all, audio_only = gathered(identify, splits["validation_speaker"])
    scores["speaker_accuracy"] = accuracy(truth, with_all)
    scores["speaker_accuracy_audio_only"] = accuracy(truth, audio_only)
    scores["samples"] = float(len(references) + len(truth))
    return scores


class MMEmbedTrainer(Trainer):
    """`Trainer` whose evaluation computes the stage's own metrics (generation CER, tuned weighted accuracy, MAE)."""

    def __init__(self, *args, score=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.score = score

    def evaluate(self, eval_dataset=None, ignore_keys=None, metric_key_prefix: str = "eval") -> dict:
        model = self.accelerator.unwrap_model(self.model)
        was_training = model.training
        model.eval()
        scores = self.score(model, eval_dataset if eval_dataset is not None else self.eval_dataset)
        model.train(was_training)
        metrics = {f"{metric_key_prefix}_{name}": value for name, value in scores.items() if value is not None}
        self.log(metrics)
        self.control = self.callback_handler.on_evaluate(self.args, self.state, self.control, metrics)
        return metrics

    def log(self, logs: dict, *args, **kwargs) -> None:
        if "loss" in logs:
            logs["padding_fraction"] = round(self.data_collator.padding_fraction, 4)
        super().log(logs, *args, **kwargs)

    def _get_train_sampler(self, train_dataset=None):
        sampler = super()._get_train_sampler(train_dataset)
        if isinstance(sampler, LengthGroupedSampler):
            seed = self.args.data_seed if self.args.data_seed is not None else self.args.seed
            return EpochSeededLengthGroupedSampler(sampler.batch_size, sampler.lengths, seed)
        return sampler

    def _save_checkpoint(self, model, trial) -> None:
        """
        Write the checkpoint into `tmp-checkpoint-N` and rename it to `checkpoint-N` once complete, so a run killed
        while saving never leaves a checkpoint that loads half-written (resume only sees complete ones).
        """
        run_dir = Path(self._get_output_dir(trial=trial))
        final = run_dir / f"{PREFIX_CHECKPOINT_DIR}-{self.state.global_step}"
        staging = run_dir / f"{STAGING_PREFIX}{final.name}"
        if self.args.should_save and staging.exists():
            shutil.rmtree(staging)
        self.accelerator.wait_for_everyone()
        self.store_flos()
        self.save_model(str(staging), _internal_call=True)
        if self.state.best_global_step:
            best = run_dir / f"{PREFIX_CHECKPOINT_DIR}-{self.state.best_global_step}"
            if best == final or best.exists():
                self.state.best_model_checkpoint = str(best)
        if not self.args.save_only_model:
            self._save_optimizer_and_scheduler(str(staging))
            self._save_scaler(str(staging))
            self._save_rng_state(str(staging))
        if self.args.should_save:
            for callback in self.callback_handler.callbacks + [self.control]:
                if isinstance(callback, ExportableState):
                    name = callback.__class__.__name__
                    if isinstance(self.state.stateful_callbacks[name], list):
                        self.state.stateful_callbacks[name].append(callback.state())
                    else:
                        self.state.stateful_callbacks[name] = callback.state()
            self.state.save_to_json(str(staging / "trainer_state.json"))
        self.accelerator.wait_for_everyone()
        if self.args.should_save:
            if final.exists():
                shutil.rmtree(final)
            os.replace(staging, final)
            rotate_checkpoints(
                output_dir=str(run_dir),
                save_total_limit=self.args.save_total_limit,
                best_model_checkpoint=self.state.best_model_checkpoint,
                use_mtime=False,
            )
        self.accelerator.wait_for_everyone()


class EpochSeededLengthGroupedSampler(LengthGroupedSampler):
    """
    transformers' length-grouped order, drawn from a generator seeded by `(seed, epoch)` instead of the global RNG:
    the same order on every process and after a resume in the middle of an epoch.
    """

    def __init__(self, batch_size: int, lengths: list[int], seed: int):
        super().__init__(batch_size, lengths=lengths)
        self.seed, self.epoch = seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):
        self.generator = torch.Generator().manual_seed(self.seed + self.epoch)
        return super().__iter__()


def remove_incomplete_checkpoints(output_dir: Path) -> list[str]:
    """Delete what a killed run left half-written (`tmp-checkpoint-N`, `tmp-final`); returns their names."""
    removed = []
    for staging in sorted(output_dir.glob(f"{STAGING_PREFIX}*")):
        shutil.rmtree(staging)
        removed.append(staging.name)
    return removed


def finished_training_state(checkpoint: str | None) -> TrainerState | None:
    """
    The state of `checkpoint` when it is the last step of its training (a run killed while saving its final folder),
    else None. `Trainer.train` resumed from such a checkpoint would take one step more and save a checkpoint beyond
    `max_steps`.
    """
    if checkpoint is None:
        return None
    state = TrainerState.load_from_json(str(Path(checkpoint) / "trainer_state.json"))
    return state if state.max_steps and state.global_step >= state.max_steps else None


FINAL_MARKER = "config.json"
"""The file that marks a complete model folder: what `from_pretrained`, the pipelines and the app look for."""


def publish_final_folder(output_dir: Path, write_files) -> None:
    """
    Write the final model folder atomically: `write_files(staging)` fills `tmp-final`, whose files then replace
    those of `output_dir` (which also holds the checkpoints and logs, so it cannot be renamed whole) with
    `config.json` removed first and moved in last. A run killed meanwhile leaves no `config.json`, so nothing takes
    the half-written folder for a model; `--resume` removes `tmp-final` and writes it again.
    """
    staging = output_dir / f"{STAGING_PREFIX}final"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    write_files(staging)
    (output_dir / FINAL_MARKER).unlink(missing_ok=True)
    for path in sorted(staging.iterdir(), key=lambda path: path.name == FINAL_MARKER):
        os.replace(path, output_dir / path.name)
    staging.rmdir()


def emotion_evaluation(model, splits: dict, collator, batch_size: int, tune: bool) -> dict:
    """Thresholds tuned on validation only and stored in the config; then validation and test scored with them."""
    validation = predict_emotions(model, splits["validation"], collator, batch_size)
    if tune:
        model.config.thresholds = tune_thresholds(*validation)
    results = {"thresholds": list(model.config.thresholds)}
    results["validation"] = emotion_scores(*validation, model.config.thresholds)
    results["test"] = emotion_scores(
        *predict_emotions(model, splits["test"], collator, batch_size), model.config.thresholds
    )
    return results


# -- stages ------------------------------------------------------------------------------------------------------


def configure_training(training: TrainingArguments, stage: str, task: str) -> TrainingArguments:
    metric, greater = BEST_METRIC[stage]
    training.push_to_hub = False  # the final folder is pushed once, with its model card (`push_output`)
    training.remove_unused_columns = False
    training.label_names = ["labels", "speaker_labels"] if task == "pretrain" else ["labels"]
    training.metric_for_best_model = f"eval_{metric}"
    training.greater_is_better = greater
    training.length_column_name = "length"
    training.dataloader_pin_memory = training.dataloader_pin_memory and torch.cuda.is_available()
    return training


def train_stage(run: RunArguments, training: TrainingArguments) -> dict:
    """Train the `--stage` model, keep the best checkpoint, score validation (and test) and save everything."""
    task = "pretrain" if run.stage == "pretrain" else run.stage
    push = training.push_to_hub
    if push and not training.hub_model_id:
        raise ValueError("--push_to_hub needs --hub_model_id (e.g. your-name/mmembed-emotion).")
    if run.model_name_or_path is not None:
        mmembed_checkpoint_config(run.model_name_or_path)  # a wrong path fails now, not after corpus preparation
    corpus = load_corpus(run, run.stage)
    evaluation_splits = ["validation_sentence", "validation_speaker"] if task == "pretrain" else ["validation", "test"]
    check_splits(corpus, ["train", *evaluation_splits])
    model = build_model(run, task, corpus["train"])
    for split in ["train", *evaluation_splits]:
        check_labels(corpus[split], task, getattr(model.config, "num_speakers", None))
    collator = MMEmbedDataCollator(task, model.config.modalities)
    processor = MMEmbedProcessor(MMEmbedFeatureExtractor(), MMEmbedTokenizer())
    batch_size = training.per_device_eval_batch_size

    if task == "pretrain":
        eval_dataset = corpus["validation_sentence"]

        def score(model, _dataset):
            return pretraining_scores(model, corpus, collator, batch_size, processor.tokenizer, run.num_beams)
    elif task == "emotion":
        eval_dataset = corpus["validation"]

        def score(model, dataset):
            probabilities, labels = predict_emotions(model, dataset, collator, batch_size)
            scores = emotion_scores(probabilities, labels, tune_thresholds(probabilities, labels))
            return {**scores, "samples": float(len(labels))}
    else:
        eval_dataset = corpus["validation"]

        def score(model, dataset):
            predictions, targets = predict_sentiment(model, dataset, collator, batch_size)
            return {**sentiment_scores(predictions, targets), "samples": float(len(targets))}

    callbacks = []
    if run.early_stopping_patience:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=run.early_stopping_patience))
    trainer = MMEmbedTrainer(
        model=model,
        args=configure_training(training, run.stage, task),
        train_dataset=with_lengths(corpus["train"]),
        eval_dataset=eval_dataset,
        data_collator=collator,
        callbacks=callbacks,
        score=score,
    )
    resume = training.resume_from_checkpoint
    if run.resume and resume is None:
        resume = get_last_checkpoint(training.output_dir) if Path(training.output_dir).is_dir() else None
        logger.info("--resume: %s", f"continuing from {resume}" if resume else "no complete checkpoint, starting anew")
    if run.resume and trainer.is_world_process_zero():
        removed = remove_incomplete_checkpoints(Path(training.output_dir))
        if removed:
            logger.warning("Removed what a killed run left half-written: %s", removed)
    trainer.accelerator.wait_for_everyone()
    model.eval()
    initial = score(model, eval_dataset)  # not logged: trackers start with training
    model.train()
    finished = finished_training_state(resume)
    if finished is None:
        trainer.train(resume_from_checkpoint=resume)
        model = trainer.accelerator.unwrap_model(trainer.model).eval()
    else:  # killed while saving the final folder: training itself is complete, only the saving is left
        best = finished.best_model_checkpoint if training.load_best_model_at_end else None
        logger.info(
            "--resume: training had finished at step %d; saving the model of %s", finished.global_step, best or resume
        )
        model = type(model).from_pretrained(best or resume).eval()
    results = {"stage": run.stage, "initial_validation": initial}
    if task == "emotion":
        results.update(emotion_evaluation(model, corpus, collator, batch_size, run.tune_thresholds))
    elif task == "sentiment":
        results["validation"] = score(model, corpus["validation"])
        results["test"] = score(model, corpus["test"])
    else:
        results["validation"] = score(model, None)
    if trainer.is_world_process_zero():
        output_dir = Path(training.output_dir)

        def write_final_files(folder: Path) -> None:
            model.save_pretrained(str(folder))
            processor.save_pretrained(str(folder))
            write_results(folder, results, run, training)
            write_model_card(folder, results, run, training)

        publish_final_folder(output_dir, write_final_files)
        if push:
            results["pushed"] = push_output(
                output_dir, training.hub_model_id, training.hub_token, training.hub_private_repo
            )
    return results


def evaluate_stage(run: RunArguments, training: TrainingArguments) -> dict:
    """Score a saved model on `--eval_split` with its stored thresholds."""
    if run.model_name_or_path is None:
        raise ValueError("--stage evaluate needs --model_name_or_path.")
    config = mmembed_checkpoint_config(run.model_name_or_path)
    pretraining = "MMEmbedForPreTraining" in (config.architectures or [])
    task = "pretrain" if pretraining else ("sentiment" if config.problem_type == "regression" else "emotion")
    corpus = load_corpus(run, task)
    model_class = MMEmbedForPreTraining if pretraining else MMEmbedForEmotionRecognition
    model = model_class.from_pretrained(run.model_name_or_path).eval()
    collator = MMEmbedDataCollator(task, model.config.modalities)
    batch_size = training.per_device_eval_batch_size
    if task == "pretrain":
        check_splits(corpus, ["validation_sentence", "validation_speaker"])
        scores = pretraining_scores(model, corpus, collator, batch_size, MMEmbedTokenizer(), run.num_beams)
    else:
        check_splits(corpus, [run.eval_split])
        split = corpus[run.eval_split]
        if task == "emotion":
            scores = emotion_scores(*predict_emotions(model, split, collator, batch_size), model.config.thresholds)
        else:
            scores = sentiment_scores(*predict_sentiment(model, split, collator, batch_size))
    results = {"stage": "evaluate", "model": run.model_name_or_path, run.eval_split: scores}
    write_results(Path(training.output_dir), results, run, training)
    return results


MODEL_CARD_TEMPLATE = Path(__file__).resolve().parent / "model_card.md"
TASKS = {  # stage -> (pipeline_tag, task name for model-index, metrics of the card)
    "pretrain": ("automatic-speech-recognition", "Automatic Speech Recognition", ("cer", "wer", "speaker_accuracy")),
    "emotion": (
        "audio-classification",
        "Multimodal Emotion Recognition",
        ("mean_weighted_accuracy", "mean_f1", "mean_auc"),
    ),
    "sentiment": ("audio-classification", "Multimodal Sentiment Regression", ("mae", "pearson_r", "acc7")),
}
DATASET_NAMES = {
    "demo": "mmembed demo corpora (synthetic)",
    "demo-mosei": "mmembed CMU-MOSEI-format demo (synthetic)",
    "mosei": "CMU-MOSEI",
    "manifest": "audio-visual speech (VoxCeleb2/LRS3 style)",
}


def write_model_card(output_dir: Path, results: dict, run: RunArguments, training: TrainingArguments) -> Path:
    """`README.md` of the output folder, rendered from `model_card.md` with the run's actual results."""
    from huggingface_hub import EvalResult, ModelCard, ModelCardData

    pipeline_tag, task_name, metrics = TASKS[run.stage]
    split = "test" if isinstance(results.get("test"), dict) else "validation"
    scores = results[split]
    dataset = DATASET_NAMES[run.corpus]
    real_data = run.corpus in ("mosei", "manifest")
    card_data = ModelCardData(
        model_name=training.hub_model_id or output_dir.name,
        library_name="transformers",
        pipeline_tag=pipeline_tag,
        license="other" if real_data else "apache-2.0",
        license_name="research-data-terms" if real_data else None,
        tags=["mmembed", "multimodal", "audio", "custom_code", run.stage],
        datasets=["CMU-MOSEI"] if run.corpus == "mosei" else None,
        metrics=list(metrics),
        eval_results=[
            EvalResult(
                task_type=pipeline_tag,
                task_name=task_name,
                dataset_type=run.corpus,
                dataset_name=dataset,
                dataset_split=split,
                metric_type=metric,
                metric_name=metric,
                metric_value=scores[metric],
            )
            for metric in metrics
            if scores.get(metric) is not None
        ],
    )
    base_model = hub_base_model(run.model_name_or_path)
    card_data.base_model = base_model
    emotion_like = run.stage != "pretrain"
    card = ModelCard.from_template(
        card_data,
        template_path=str(MODEL_CARD_TEMPLATE),
        model_name=card_data.model_name,
        stage=run.stage,
        provenance=provenance(run.model_name_or_path, base_model),
        summary=(
            f"{task_name} from audio, visual features and text, trained on {dataset}."
            if emotion_like
            else f"Multi-task pre-training (ASR + person identification) on {dataset}."
        ),
        usage=(
            'emotion = pipeline("multimodal-emotion-recognition", model="MODEL", trust_remote_code=True)\n'
            'emotion({"audio": "clip.wav", "visual": frames, "transcript": "words spoken"})'
            if emotion_like
            else 'asr = pipeline("automatic-speech-recognition", model="MODEL", trust_remote_code=True)\n'
            'asr("clip.wav")["text"]'
        ).replace("MODEL", card_data.model_name),
        visual_input="FACET 4.2 / OpenFace 2 action units, 35 per frame by default",
        text_input="word vectors or characters, as the config says",
        intended_use=(
            "Research on multimodal affect recognition and on the transfer of multi-task speech embeddings; "
            "aggregate analysis of expressed emotion in recordings whose speakers agreed to such analysis. Not for "
            "decisions about individuals (hiring, policing, health, credit) or for inferring what a person feels."
        ),
        training_data_short=dataset,
        training_data=f"{dataset}; splits and preparation as in mmembed's `data_scripts` "
        f"(corpus `{run.corpus}`, modalities {', '.join(run.modalities or ['all available'])}).",
        privacy_note=(
            "The pre-training objective includes person identification: the encoder's embeddings carry speaker "
            "identity, and a pre-training checkpoint contains a speaker classifier for the training speakers. Speaker "
            "identity is biometric data in many jurisdictions (e.g. GDPR article 9): do not use these embeddings to "
            "identify or track people without a lawful basis and their informed consent, and do not publish "
            "embeddings of identifiable people."
        ),
        results_table=results_markdown(results),
        training_summary=f"seed {training.seed}, learning rate {training.learning_rate}, "
        f"{training.num_train_epochs:g} epochs (max steps {training.max_steps}), "
        f"batch {training.per_device_train_batch_size} per device",
    )
    path = output_dir / "README.md"
    card.save(str(path))
    return path


def hub_base_model(model_name_or_path: str | None) -> str | None:
    """
    The Hub id of the checkpoint a run started from, for the card's `base_model`: the id itself, or, for a local
    folder, the Hub name its own model card records (a folder never pushed has none: `base_model` must be a Hub id).
    """
    from huggingface_hub import ModelCard

    if model_name_or_path is None:
        return None
    card = Path(model_name_or_path, "README.md")
    if not Path(model_name_or_path).exists():
        return model_name_or_path
    name = ModelCard.load(card).data.model_name if card.is_file() else None
    return name if name and "/" in name else None


def provenance(model_name_or_path: str | None, base_model: str | None) -> str:
    """The card's sentence on where the weights started."""
    if model_name_or_path is None:
        return "Trained from scratch (no pre-training checkpoint)."
    if base_model is not None:
        return f"Tuned from the pre-training checkpoint [`{base_model}`](https://huggingface.co/{base_model})."
    return f"Tuned from the local pre-training checkpoint `{Path(model_name_or_path).name}` (not on the Hub)."


def results_markdown(results: dict) -> str:
    splits = [split for split in ("initial_validation", "validation", "test") if isinstance(results.get(split), dict)]
    names = sorted({name for split in splits for name, value in results[split].items() if isinstance(value, float)})
    lines = ["| metric | " + " | ".join(splits) + " |", "|---|" + "---:|" * len(splits)]
    for name in names:
        cells = [results[split].get(name) for split in splits]
        lines.append(f"| {name} | " + " | ".join("" if cell is None else f"{cell:.4f}" for cell in cells) + " |")
    return "\n".join(lines)


UPLOAD_IGNORED = [f"{PREFIX_CHECKPOINT_DIR}-*", f"{STAGING_PREFIX}*", "training_args.bin"]
"""
Left out of the Hub upload: checkpoints, staging folders and `training_args.bin` (a pickle, which the Hub flags; the
final folder no longer gets one, but a folder written by an older version may hold it).
"""


def push_output(output_dir: Path, repo_id: str, token: str | None, private: bool | None) -> bool:
    """
    Upload the output folder (weights, configs, code, processor, `handler.py`, TensorBoard logs, `README.md`; not the
    checkpoints nor the pickled `training_args.bin`). A failure keeps the local files and says how to retry.
    """
    try:
        api = HfApi(token=token)
        api.create_repo(repo_id, exist_ok=True, private=private)
        api.upload_folder(
            repo_id=repo_id,
            folder_path=str(output_dir),
            ignore_patterns=UPLOAD_IGNORED,
            commit_message="Upload mmembed model",
        )
    except Exception as error:  # noqa: BLE001 - offline, no token, no permission...: report, keep the local save
        logger.error(
            "Pushing to the Hub failed (%s: %s). The model is saved in %s. To retry: "
            "hf upload %s %s . --exclude %s (after `hf auth login`).",
            type(error).__name__,
            error,
            output_dir,
            repo_id,
            output_dir,
            " ".join(f"'{pattern}'" for pattern in UPLOAD_IGNORED),
        )
        return False
    logger.info("Pushed %s to the Hub as %s", output_dir, repo_id)
    return True


def write_results(output_dir: Path, results: dict, run: RunArguments, training: TrainingArguments) -> None:
    """Print the final table and save `results.json` (with the run arguments)."""
    output_dir.mkdir(parents=True, exist_ok=True)
    record = {**results, "run_arguments": asdict(run), "seed": training.seed}
    (output_dir / "results.json").write_text(json.dumps(record, indent=1, default=str))
    print(results_table(results))


def results_table(results: dict) -> str:
    lines = [f"results of stage {results['stage']}"]
    for split in ("initial_validation", "validation", "test"):
        if isinstance(results.get(split), dict):
            shown = {name: value for name, value in results[split].items() if isinstance(value, float)}
            lines.append(f"  {split}: " + ", ".join(f"{name} {value:.4f}" for name, value in sorted(shown.items())))
    return "\n".join(lines)


# -- the default run: the whole method on the demo corpora ------------------------------------------------------


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
    output_dir: str = field(default="outputs/demo")
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    demo_root: str | None = field(default=None, metadata={"help": "Where the demo corpora are generated."})


FULL_BUDGET = {  # model preset; per stage training epochs (or max steps); pre-training evaluations (None: each epoch)
    "preset": "small",
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
        "pretrain_epochs": 1,
        "pretrain_evaluations": None,
        "emotion_epochs": 1,
        "mosei_epochs": 1,
        "max_steps": 3,
    },
}
DEMO_LEARNING_RATES = {"pretrain": 3e-3, "emotion": 1e-3}
ABLATIONS = {"audio": ["audio"], "audio+visual": ["audio", "visual"], "audio+text": ["audio", "text"]}


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

    def stage(name: str, run: RunArguments, seed: int, epochs: int) -> dict:
        begin = time.perf_counter()
        set_seed(seed)
        training = demo_training(output / name, seed, epochs, budget, run.stage)
        results = train_stage(run, training)
        timings[name] = time.perf_counter() - begin
        return results

    preset = budget["preset"]
    pretrain = stage("pretrain", demo_pretraining(root, preset), demo.seeds[0], budget["pretrain_epochs"])
    pretrained = str(output / "pretrain")
    runs: dict[str, list[dict]] = {}
    for seed in demo.seeds:
        emotion = {"stage": "emotion", "corpus": "demo", "demo_root": root}
        variants = {
            "raw/pretrained/all": RunArguments(**emotion, model_name_or_path=pretrained),
            "raw/scratch/all": RunArguments(**emotion, preset=preset),
            "raw/shuffled-labels": RunArguments(**emotion, model_name_or_path=pretrained, shuffled_labels=True),
            "mosei-format/scratch/all": RunArguments(
                stage="emotion", corpus="demo-mosei", demo_root=root, preset=preset
            ),
            **{
                f"raw/pretrained/{name}": RunArguments(**emotion, model_name_or_path=pretrained, modalities=modalities)
                for name, modalities in ABLATIONS.items()
            },
        }
        for name, run in variants.items():
            folder = f"{name.replace('/', '-')}-seed{seed}"
            epochs = budget["mosei_epochs" if run.corpus == "demo-mosei" else "emotion_epochs"]
            runs.setdefault(name, []).append(stage(folder, run, seed, epochs))
    summary = demo_summary(pretrain, runs, demo.seeds)
    summary["checks"] = reload_and_pipeline(output / f"raw-pretrained-all-seed{demo.seeds[0]}", corpora)
    summary["seconds"] = {name: round(value, 1) for name, value in timings.items()}
    summary["seconds"]["total"] = round(time.perf_counter() - started, 1)
    summary["size"], summary["machine"] = demo.size, machine_description()
    if PartialState().is_main_process:
        output.mkdir(parents=True, exist_ok=True)
        (output / "results.json").write_text(json.dumps(summary, indent=1))
        print(demo_table(summary))
    return summary


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

    encoder = AutoModel.from_pretrained(model_dir)
    wav = sorted((Path(corpora["emotion"]["path"]).parent / "wav").glob("*.wav"))[0]
    samples, rate = soundfile.read(wav, dtype="float32")
    samples = resample(
        samples, rate, 16000
    )  # espeak-ng writes 22.05 kHz; the built-in pipeline resamples only with torchaudio
    classifier = pipeline("audio-classification", model=str(model_dir), top_k=None, device="cpu")
    scores = classifier({"array": samples, "sampling_rate": 16000})
    return {"reloaded_class": type(encoder).__name__, "pipeline_wav": wav.name, "pipeline_scores": scores}


def machine_description() -> str:
    import platform

    threads = torch.get_num_threads()
    return f"{platform.machine()}, {os.cpu_count()} CPU cores, torch {torch.__version__}, {threads} threads"


def demo_table(summary: dict) -> str:
    asr = summary["pretraining"]
    lines = [
        f"default run ({summary['size']}, {summary['machine']}, {summary['seconds']['total']:.0f} s)",
        f"pre-training: CER {asr['cer']:.3f}, WER {asr['wer']:.3f} (decoder alone: CER "
        f"{asr.get('cer_decoder_only', asr['cer']):.3f}), person id {asr['speaker_accuracy']:.3f} "
        f"(audio only {asr['speaker_accuracy_audio_only']:.3f})",
        "emotion, test mean weighted accuracy (mean ± sd over seeds):",
    ]
    for name, scores in summary["emotion"].items():
        lines.append(f"  {name:<28} {scores['mean']:.3f} ± {scores['sd']:.3f}   per seed {scores['per_seed']}")
    lines.append(
        "targets: " + ", ".join(f"{name} {'met' if ok else 'NOT met'}" for name, ok in summary["targets"].items())
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    argv = sys.argv[1:] if argv is None else argv
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    if not argv or argv[0] == "demo":
        (demo,) = HfArgumentParser(DemoArguments).parse_args_into_dataclasses(args=argv[1:])
        return run_demo(demo)
    run, training = parse_arguments(argv)
    set_seed(training.seed)
    if run.stage == "evaluate":
        return evaluate_stage(run, training)
    return train_stage(run, training)


if __name__ == "__main__":
    main()
