"""The training script: arguments -> corpus -> model -> `Trainer` -> evaluation with tuned thresholds -> save, card,
push (`train_stage`); `evaluate_stage` scores a saved model; `main` is what `train.py` and `mmembed-train` run."""

import logging
from pathlib import Path

from transformers import (
    EarlyStoppingCallback,
    TrainingArguments,
)

from modeling_mmembed import (
    MMEmbedFeatureExtractor,
    MMEmbedForEmotionRecognition,
    MMEmbedForPreTraining,
    MMEmbedProcessor,
    MMEmbedTokenizer,
)

from .arguments import RunArguments
from .collator import MMEmbedDataCollator
from .data import check_labels, check_splits, load_corpus, with_lengths, with_train_fraction
from .evaluation import (
    EVALUATION_SPLITS,
    counted_emotion_scores,
    emotion_evaluation,
    predict_emotions,
    predict_sentiment,
    pretraining_scores,
    stage_scorer,
    write_results,
)
from .hub import push_output, write_model_card
from .models import build_model, mmembed_checkpoint_config
from .scores import sentiment_scores
from .trainer import MMEmbedTrainer, OutputFolder, configure_training

logger = logging.getLogger(__name__)


def train_stage(run: RunArguments, training: TrainingArguments) -> dict:
    """Train the `--stage` model, keep the best checkpoint, score validation (and test) and save everything."""
    task = "pretrain" if run.stage == "pretrain" else run.stage
    if training.push_to_hub and not training.hub_model_id:
        raise ValueError("--push_to_hub needs --hub_model_id (e.g. your-name/mmembed-emotion).")
    push = training.push_to_hub
    if run.model_name_or_path is not None:
        mmembed_checkpoint_config(run.model_name_or_path)  # a wrong path fails now, not after corpus preparation

    # 1. The corpus, the model, and the checks that stop a run before its first step
    corpus = with_train_fraction(load_corpus(run, run.stage), run.train_fraction)
    splits = ["train", *EVALUATION_SPLITS[task]]
    check_splits(corpus, splits)
    model = build_model(run, task, corpus["train"])
    for split in splits:
        check_labels(corpus[split], task, getattr(model.config, "num_speakers", None))
    collator = MMEmbedDataCollator(task, model.config.modalities)
    # saved with the model: the feature extractor that featurised the corpus (CMU SDK features: the default one)
    extractor_settings = getattr(corpus, "feature_extractor_config", {})
    processor = MMEmbedProcessor(MMEmbedFeatureExtractor(**extractor_settings), MMEmbedTokenizer())

    # 2. Trainer: the stage's own scores at each evaluation, the best checkpoint kept
    eval_dataset, score = stage_scorer(task, corpus, collator, training.per_device_eval_batch_size, run.num_beams)
    callbacks = [EarlyStoppingCallback(run.early_stopping_patience)] if run.early_stopping_patience else []
    trainer = MMEmbedTrainer(
        model=model,
        args=configure_training(training, run.stage, task),
        train_dataset=with_lengths(corpus["train"]),
        eval_dataset=eval_dataset,
        data_collator=collator,
        callbacks=callbacks,
        score=score,
    )
    output = OutputFolder(training.output_dir)
    resume = resume_checkpoint(run, training, output, trainer)
    model.eval()
    initial = score(model, eval_dataset)  # not logged: trackers start with training
    model.train()
    finished = output.finished_state(resume)
    if finished is None:
        trainer.train(resume_from_checkpoint=resume)
        model = trainer.accelerator.unwrap_model(trainer.model).eval()
    else:  # killed while saving the final folder: training itself is complete, only the saving is left
        best = finished.best_model_checkpoint if training.load_best_model_at_end else None
        logger.info("--resume: training had finished at step %d; saving %s", finished.global_step, best or resume)
        model = type(model).from_pretrained(best or resume).eval()

    # 3. Final scores: thresholds tuned on validation, then the test split scored once with them
    results = {"stage": run.stage, "initial_validation": initial}
    batch_size = training.per_device_eval_batch_size
    if task == "emotion":
        results.update(emotion_evaluation(model, corpus, collator, batch_size, run.tune_thresholds))
    elif task == "sentiment":
        results.update(validation=score(model, corpus["validation"]), test=score(model, corpus["test"]))
    else:  # held-out sentences and utterances: the validation splits chose the checkpoint, the test splits score it
        results["validation"] = score(model, None)
        results["test"] = pretraining_scores(
            model, corpus, collator, batch_size, MMEmbedTokenizer(), run.num_beams, split="test"
        )

    # 4. Save (atomically), card, push
    if trainer.is_world_process_zero():

        def write_final_files(folder: Path) -> None:
            model.save_pretrained(str(folder))
            processor.save_pretrained(str(folder))
            trainer.state.save_to_json(str(folder / "trainer_state.json"))  # the loss history, as `save_state()`
            write_results(folder, results, run, training)
            write_model_card(folder, results, run, training, model.config)

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
        split = "test" if run.eval_split == "test" else "validation"
        check_splits(corpus, [f"{split}_sentence", f"{split}_speaker"])
        scores = pretraining_scores(model, corpus, collator, batch_size, MMEmbedTokenizer(), run.num_beams, split)
    else:
        check_splits(corpus, [run.eval_split])
        split = corpus[run.eval_split]
        if task == "emotion":
            scores = counted_emotion_scores(
                *predict_emotions(model, split, collator, batch_size), model.config.thresholds
            )
        else:
            scores = sentiment_scores(*predict_sentiment(model, split, collator, batch_size))
    results = {"stage": "evaluate", "model": run.model_name_or_path, run.eval_split: scores}
    write_results(Path(training.output_dir), results, run, training)
    return results
