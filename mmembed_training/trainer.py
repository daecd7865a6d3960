"""`Trainer` for mmembed: the stage's own scores at evaluation, resumable length grouping, and complete checkpoints."""

import logging
import os
import shutil
from dataclasses import replace
from pathlib import Path

import torch
from transformers import (
    ProgressCallback,
    Trainer,
    TrainerState,
    TrainingArguments,
)
from transformers.trainer_pt_utils import LengthGroupedSampler
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

from .data import corpus_stream, with_lengths
from .stages import Stage
from .streaming import BATCH_KEY, StreamLoader, StreamPositionCallback

logger = logging.getLogger(__name__)


class MMEmbedTrainer(Trainer):
    """`Trainer` whose evaluation computes the stage's own metrics (generation CER, tuned weighted accuracy, MAE)."""

    def __init__(self, *args, score=None, stream=None, encoder_learning_rate=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.score, self.stream, self.stream_loader = score, stream, None
        if encoder_learning_rate is not None and not pretrained_encoder_parameters(self.model):
            raise ValueError(
                "--encoder_learning_rate is set, but the model has no pretrained encoder (--audio_encoder)."
            )
        self.encoder_learning_rate = encoder_learning_rate
        self.step_examples = None  # speaker-labelled examples of the current optimizer step (`get_batch_samples`)
        if self.pop_callback(ProgressCallback) is not None:
            self.add_callback(ProgressWithoutEvaluationTime)

    def create_optimizer(self, model=None):
        """
        Transformers' optimizer, with the pretrained encoders' own weights (`pretrained_encoder_parameters`) in groups
        of their own at `encoder_learning_rate` (when set; the schedule scales every group alike).
        """
        optimizer = super().create_optimizer(model)
        if self.encoder_learning_rate is None:
            return optimizer
        encoders = {id(value) for value in pretrained_encoder_parameters(self.model if model is None else model)}
        groups = []
        for group in optimizer.param_groups:
            for inside in (False, True):
                params = [value for value in group["params"] if (id(value) in encoders) == inside]
                if params:
                    groups.append({**group, "params": params} | ({"lr": self.encoder_learning_rate} if inside else {}))
        optimizer.param_groups.clear()  # nothing is stepped yet: the groups are re-made, the optimizer kept
        for group in groups:
            optimizer.add_param_group(group)
        return optimizer

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

    def get_train_dataloader(self):
        """A streamed corpus: its `StreamLoader` (each process reads its own shards, from the saved position)."""
        if self.stream is None:
            return super().get_train_dataloader()
        self.stream_loader = StreamLoader(
            self.stream,
            self.data_collator,
            self._train_batch_size,
            self.args.dataloader_num_workers,
            self.args.process_index,
            self.args.world_size,
            pin_memory=self.args.dataloader_pin_memory,
            prefetch_factor=self.args.dataloader_prefetch_factor,
        )
        return self.stream_loader

    def get_resumed_dataloader(self, dataloader, num_batches: int):
        """A stream resumes at its saved position (`StreamPositionCallback`), not by reading the batches again."""
        return (
            dataloader
            if isinstance(dataloader, StreamLoader)
            else super().get_resumed_dataloader(dataloader, num_batches)
        )

    def get_batch_samples(self, epoch_iterator, num_batches: int, device):
        """
        transformers' batches of one optimizer step, and the number of their speaker-labelled examples on every
        process (`step_examples`), which the person-id loss is a mean over (`compute_loss`).
        """
        batches, num_items_in_batch = super().get_batch_samples(epoch_iterator, num_batches, device)
        self.step_examples = None
        if num_items_in_batch is not None and any("speaker_labels" in batch for batch in batches):
            count = torch.tensor(sum(len(batch["speaker_labels"]) for batch in batches), device=device)
            if self.args.average_tokens_across_devices and self.args.world_size > 1:
                count = self.accelerator.gather(count).sum()
            self.step_examples = int(count)
        return batches, num_items_in_batch

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        """
        transformers' loss, with the person-id term made the mean over the step's examples on every process: the
        model's token losses are normalised by the step's token count (`num_items_in_batch`), but its person-id loss
        is the mean of one batch, which `Trainer` would add up over accumulated batches and processes (counting it
        `gradient_accumulation_steps x processes` times over the paper's 0.8 / 0.2 weighting).
        """
        loss, outputs = super().compute_loss(model, inputs, return_outputs=True, num_items_in_batch=num_items_in_batch)
        speaker_loss = outputs.get("speaker_loss") if isinstance(outputs, dict) else None
        if num_items_in_batch is not None and speaker_loss is not None and self.step_examples:
            scale = self.accelerator.num_processes if self.args.average_tokens_across_devices else 1
            weight = self.accelerator.unwrap_model(model).config.speaker_loss_weight
            share = len(inputs["speaker_labels"]) / self.step_examples
            loss = loss + scale * weight * speaker_loss * (share - 1)
        return (loss, outputs) if return_outputs else loss

    def training_step(self, model, inputs, *args, **kwargs):
        if BATCH_KEY in inputs:
            inputs = self.stream_loader.consume(inputs)
        return super().training_step(model, inputs, *args, **kwargs)

    def _get_train_sampler(self, train_dataset=None):
        sampler = super()._get_train_sampler(train_dataset)
        if isinstance(sampler, LengthGroupedSampler):
            seed = self.args.data_seed if self.args.data_seed is not None else self.args.seed
            return EpochSeededLengthGroupedSampler(sampler.batch_size, sampler.lengths, seed)
        return sampler


class ProgressWithoutEvaluationTime(ProgressCallback):
    """
    transformers' training progress bar, with the time spent in an evaluation kept out of its rate: pre-training is
    scored by beam search (about a minute), after which the bar would otherwise show an ETA of hours.
    """

    def on_evaluate(self, args, state, control, **kwargs):
        super().on_evaluate(args, state, control, **kwargs)
        if self.training_bar is not None:
            self.training_bar.unpause()


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


class OutputFolder:
    """
    A run's output folder: `checkpoint-N` folders written by `Trainer`, and the final model folder at its root.

    `Trainer` writes a checkpoint's `trainer_state.json` last, so a checkpoint holds one exactly when it is complete;
    this class keeps that rule in one place instead of overriding `Trainer`'s private `_save_checkpoint`: a resumed run
    starts from the newest complete checkpoint and first removes incomplete ones (a run killed while saving). The final
    folder is written atomically (`publish_final`).
    """

    STATE_FILE = "trainer_state.json"
    FINAL_MARKER = "config.json"  # what `from_pretrained`, the pipelines and the app take for a model folder
    STAGING = "tmp-final"

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    def checkpoints(self) -> list[Path]:
        """Every `checkpoint-N` folder, by step."""
        found = [path for path in self.path.glob(f"{PREFIX_CHECKPOINT_DIR}-*") if path.name.split("-")[-1].isdigit()]
        return sorted(found, key=lambda path: int(path.name.split("-")[-1]))

    def newest_complete_checkpoint(self) -> str | None:
        complete = [path for path in self.checkpoints() if (path / self.STATE_FILE).is_file()]
        return str(complete[-1]) if complete else None

    def remove_checkpoints(self) -> None:
        """Delete every `checkpoint-N` folder once the final model is saved (runs that keep the final model only)."""
        for path in self.checkpoints():
            shutil.rmtree(path)

    def remove_incomplete(self) -> list[str]:
        """Delete what a killed run left half-written (checkpoints without their state, `tmp-final`); their names."""
        incomplete = [path for path in self.checkpoints() if not (path / self.STATE_FILE).is_file()]
        incomplete += [self.path / self.STAGING] if (self.path / self.STAGING).is_dir() else []
        for path in incomplete:
            shutil.rmtree(path)
        return [path.name for path in incomplete]

    def finished_state(self, checkpoint: str | None) -> TrainerState | None:
        """
        The state of `checkpoint` when it is the last step of its training (a run killed while saving its final
        folder), else None: `Trainer.train` resumed from such a checkpoint takes one step more and saves a checkpoint
        beyond `max_steps`.
        """
        if checkpoint is None:
            return None
        state = TrainerState.load_from_json(str(Path(checkpoint) / self.STATE_FILE))
        return state if state.max_steps and state.global_step >= state.max_steps else None

    def publish_final(self, write_files) -> None:
        """
        `write_files(staging)` fills `tmp-final`, whose files then replace those of the output folder (which also
        holds checkpoints and logs, so it cannot be renamed whole), `config.json` removed first and moved in last: a
        run killed meanwhile leaves no `config.json`, so nothing takes the half-written folder for a model.
        """
        staging = self.path / self.STAGING
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        write_files(staging)
        (self.path / self.FINAL_MARKER).unlink(missing_ok=True)
        for path in sorted(staging.iterdir(), key=lambda path: path.name == self.FINAL_MARKER):
            os.replace(path, self.path / path.name)
        staging.rmdir()


def pretrained_encoder_parameters(model) -> list:
    """The weights of a model's pretrained speech and text encoders (not the weights of their layer mix)."""
    base = getattr(model, "mmembed", model)
    encoders = [getattr(base, name, None) for name in ("audio_encoder", "text_encoder")]
    return [value for encoder in encoders if encoder is not None for value in encoder.model.parameters()]


def stage_trainer(
    stage: Stage, model, training: TrainingArguments, corpus, collator, score, callbacks=(), encoder_learning_rate=None
):
    """
    The `MMEmbedTrainer` of `stage`: `training` configured for it (`configure_training`), `corpus["train"]` with its
    lengths for length grouping (or, streamed, read by a `StreamLoader` whose position checkpoints keep), evaluated by
    `score` on the stage's first evaluation split; the pretrained encoders' weights at `encoder_learning_rate`.
    """
    stream = corpus_stream(corpus)
    seed = training.data_seed if training.data_seed is not None else training.seed
    return MMEmbedTrainer(
        model=model,
        args=configure_training(training, stage),
        train_dataset=corpus["train"] if stream else with_lengths(corpus["train"]),
        eval_dataset=corpus[stage.evaluation_splits[0]],
        data_collator=collator,
        callbacks=[*callbacks, *([StreamPositionCallback()] if stream else [])],
        score=score,
        stream=replace(stream, seed=seed) if stream else None,
        encoder_learning_rate=encoder_learning_rate,
    )


def configure_training(training: TrainingArguments, stage: Stage) -> TrainingArguments:
    """`training` as `stage` needs it: its label keys, the metric that chooses its checkpoint, length grouping."""
    training.push_to_hub = False  # the final folder is pushed once, with its model card (`push_output`)
    training.remove_unused_columns = False
    training.label_names = list(stage.label_names)
    training.metric_for_best_model = f"eval_{stage.best_metric}"
    training.greater_is_better = stage.greater_is_better
    training.length_column_name = "length"
    training.dataloader_pin_memory = training.dataloader_pin_memory and torch.cuda.is_available()
    return training
