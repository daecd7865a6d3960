"""The training script: arguments -> corpus -> model -> `Trainer` -> evaluation with tuned thresholds -> save, card,
push (`train_stage`); `evaluate_stage` scores a saved model; `main` is what `train.py` and `mmembed-train` run."""

import logging
from pathlib import Path

from transformers import (
    EarlyStoppingCallback,
    TrainingArguments,
)

from modeling_mmembed import MMEmbedProcessor, MMEmbedTokenizer
from modeling_mmembed.feature_extraction_mmembed import feature_extractor_from_settings

from .arguments import RunArguments
from .collator import MMEmbedDataCollator
from .data import check_splits, load_corpus, with_train_fraction
from .evaluation import write_results
from .hub import push_output, training_compute, write_model_card
from .models import build_model, encoder_processor, mmembed_checkpoint_config, processor_inputs
from .stages import STAGES, stage_of_checkpoint, stage_of_corpus
from .streaming import skipped_rows_report
from .trainer import OutputFolder, stage_trainer

logger = logging.getLogger(__name__)


def train_stage(run: RunArguments, training: TrainingArguments) -> dict:
    """Train the `--stage` model, keep the best checkpoint, score validation (and test) and save everything."""
    stage = STAGES[run.stage]
    if training.push_to_hub and not training.hub_model_id:
        raise ValueError("--push_to_hub needs --hub_model_id (e.g. your-name/mmembed-emotion).")
    push = training.push_to_hub
    if run.model_name_or_path is not None:
        mmembed_checkpoint_config(run.model_name_or_path)  # a wrong path fails now, not after corpus preparation

    # 1. The corpus (made by the encoders' processor, for a model with pretrained encoders), the model, and the
    # checks that stop a run before its first step
    processor = encoder_processor(run)
    corpus = with_train_fraction(load_corpus(run, stage.name, processor_inputs(processor)), run.train_fraction)
    stage = stage_of_corpus(corpus, stage)  # a dataset of your own: its labels decide
    splits = ["train", *stage.evaluation_splits]
    check_splits(corpus, splits)
    model = build_model(run, stage, corpus)
    for split in splits[1:] if corpus.stream else splits:  # a stream's speakers are its index's classes
        stage.check_labels(corpus[split], model.config)
    collator = MMEmbedDataCollator(stage, model.config.modalities)
    if processor is None:  # saved with the model: the extractor that featurised the corpus, or takes its features
        processor = MMEmbedProcessor(
            feature_extractor_from_settings(corpus.feature_extractor_config), MMEmbedTokenizer()
        )

    # 2. Trainer: the stage's own scores at each evaluation, the best checkpoint kept
    score = stage.scorer(corpus, collator, training.per_device_eval_batch_size, run.num_beams)
    callbacks = [EarlyStoppingCallback(run.early_stopping_patience)] if run.early_stopping_patience else []
    trainer = stage_trainer(stage, model, training, corpus, collator, score, callbacks, run.encoder_learning_rate)
    output = OutputFolder(training.output_dir)
    resume = resume_checkpoint(run, training, output, trainer)
    model.eval()
    initial = score(model, trainer.eval_dataset)  # not logged: trackers start with training
    model.train()
    finished = output.finished_state(resume)
    train_seconds = None
    if finished is None:
        train_seconds = trainer.train(resume_from_checkpoint=resume).metrics["train_runtime"]
        model = trainer.accelerator.unwrap_model(trainer.model).eval()
    else:  # killed while saving the final folder: training itself is complete, only the saving is left
        best = finished.best_model_checkpoint if training.load_best_model_at_end else None
        logger.info("--resume: training had finished at step %d; saving %s", finished.global_step, best or resume)
        model = type(model).from_pretrained(best or resume).eval()

    # 3. Final scores: thresholds tuned on validation, then the test split scored once with them
    results = {"stage": stage.name, "initial_validation": initial}
    results.update(stage.final_scores(model, corpus, collator, training.per_device_eval_batch_size, run))
    results["training_compute"] = training_compute(model, trainer, train_seconds)
    results["skipped_rows"] = skipped_rows_report(trainer.stream_loader, corpus.report.get("skipped", []))

    # 4. Save (atomically), card, push
    if trainer.is_world_process_zero():

        def write_final_files(folder: Path) -> None:
            model.save_pretrained(str(folder))
            processor.save_pretrained(str(folder))
            trainer.state.save_to_json(str(folder / "trainer_state.json"))  # the loss history, as `save_state()`
            write_results(folder, results, run, training)
            write_model_card(folder, results, run, training, model.config, processor.feature_extractor)

        output.publish_final(write_final_files)
        if push:
            results["pushed"] = push_output(
                output.path, training.hub_model_id, training.hub_token, training.hub_private_repo
            )
    return results


def resume_checkpoint(run: RunArguments, training: TrainingArguments, output: OutputFolder, trainer) -> str | None:
    """`--resume_from_checkpoint`, or with `--resume` the newest complete checkpoint after removing incomplete ones."""
    if not run.resume or training.resume_from_checkpoint is not None:
        return training.resume_from_checkpoint
    if trainer.is_world_process_zero():
        removed = output.remove_incomplete()
        if removed:
            logger.warning("Removed what a killed run left half-written: %s", removed)
    trainer.accelerator.wait_for_everyone()
    resume = output.newest_complete_checkpoint()
    logger.info("--resume: %s", f"continuing from {resume}" if resume else "no complete checkpoint, starting anew")
    return resume


def evaluate_stage(run: RunArguments, training: TrainingArguments) -> dict:
    """Score a saved model on `--eval_split` (with its stored thresholds), in the stage it was trained in."""
    if run.model_name_or_path is None:
        raise ValueError("--stage evaluate needs --model_name_or_path.")
    stage = stage_of_checkpoint(mmembed_checkpoint_config(run.model_name_or_path))
    corpus = load_corpus(run, stage.name, processor_inputs(encoder_processor(run)))
    stage = stage_of_corpus(corpus, stage)
    model = stage.model_class.from_pretrained(run.model_name_or_path).eval()
    collator = MMEmbedDataCollator(stage, model.config.modalities)
    batch_size = training.per_device_eval_batch_size
    scores = stage.split_scores(model, corpus, run.eval_split, collator, batch_size, run)
    results = {"stage": "evaluate", "model": run.model_name_or_path, run.eval_split: scores}
    write_results(Path(training.output_dir), results, run, training)
    return results
