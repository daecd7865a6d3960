"""Scores of a split: emotion probabilities and tuned thresholds, sentiment, ASR by `generate()` and person id; every
example once across processes; the printed table and `results.json`."""

import json
import logging
from dataclasses import asdict
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from accelerate import PartialState
from accelerate.utils import gather_object
from torch.utils.data import DataLoader
from tqdm.auto import tqdm
from transformers import (
    TrainingArguments,
)
from transformers.utils import logging as hf_logging

from modeling_mmembed import EMOTIONS, MMEmbedTokenizer

from .data import check_splits
from .scores import (
    accuracy,
    asr_scores,
    classification_scores,
    emotion_scores,
    regression_scores,
    sentiment_scores,
    tune_thresholds,
)

if TYPE_CHECKING:
    from .arguments import RunArguments

logger = logging.getLogger(__name__)


def batches(dataset, collator, batch_size: int, device, description: str | None = None):
    """The collated batches of `dataset` on `device`; with a `description`, under a progress bar that then goes."""
    loader = DataLoader(dataset.with_format("numpy"), batch_size=batch_size, collate_fn=collator, shuffle=False)
    shown = description is not None and hf_logging.is_progress_bar_enabled()
    for batch in tqdm(loader, desc=description, leave=False, disable=not shown):
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
def predict_logits(model, dataset, collator, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    """The head's float outputs `(N, num_labels)` and the batches' `labels` of a split (every process, gathered)."""

    def predict(shard):
        logits, labels = [], []
        for batch in batches(shard, collator, batch_size, model.device):
            labels.append(batch.pop("labels").cpu().numpy())
            logits.append(model(**batch).logits.float().cpu().numpy())
        empty = np.zeros((0, model.config.num_labels))
        return (np.concatenate(logits) if logits else empty), (np.concatenate(labels) if labels else empty)

    return gathered(predict, dataset)


def predict_emotions(model, dataset, collator, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Sigmoid probabilities `(N, num_labels)` and binary labels `(N, num_labels)` of a multi-label split."""
    logits, labels = predict_logits(model, dataset, collator, batch_size)
    return torch.sigmoid(torch.from_numpy(logits)).numpy(), labels.astype(int)


def predict_sentiment(model, dataset, collator, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Predicted and true sentiment `(N,)` of a split."""
    predictions, targets = predict_logits(model, dataset, collator, batch_size)
    return predictions.reshape(-1), targets.reshape(-1)


def label_names(config) -> list[str]:
    """The head's label names in output order (`id2label`)."""
    return [config.id2label[index] for index in range(config.num_labels)]


def sentiment_split(model, dataset, collator, batch_size: int) -> dict:
    """MAE, Pearson r and the binary/7-class accuracies of the sentiment regression on `dataset`."""
    predictions, targets = predict_sentiment(model, dataset, collator, batch_size)
    return {**sentiment_scores(predictions, targets), "samples": float(len(targets))}


def classification_split(model, dataset, collator, batch_size: int) -> dict:
    """Accuracy, unweighted accuracy and macro-F1 of a single-label head on `dataset`."""
    logits, labels = predict_logits(model, dataset, collator, batch_size)
    probabilities = torch.softmax(torch.from_numpy(logits), dim=-1).numpy()
    return {**classification_scores(probabilities, labels.reshape(-1)), "samples": float(len(labels))}


def regression_split(model, dataset, collator, batch_size: int) -> dict:
    """Per target and mean CCC, MAE and Pearson r of a regression head on `dataset`."""
    predictions, targets = predict_logits(model, dataset, collator, batch_size)
    return {**regression_scores(predictions, targets, label_names(model.config)), "samples": float(len(targets))}


def scored_by(split_scores) -> dict:
    """
    The scoring fields of a stage whose scores need no tuning (`Stage.scorer`, `final_scores`, `split_scores`), all
    from `split_scores(model, dataset, collator, batch_size)`.
    """
    return {
        "scorer": untuned_scorer(split_scores),
        "final_scores": validation_and_test(split_scores),
        "split_scores": one_split(split_scores),
    }


def untuned_scorer(split_scores):
    """A stage `scorer` that scores a split with `split_scores(model, dataset, collator, batch_size)` as it is."""

    def scorer(corpus, collator, batch_size: int, num_beams: int):
        return lambda model, dataset: split_scores(model, dataset, collator, batch_size)

    return scorer


def validation_and_test(split_scores):
    """A stage's `final_scores`: `split_scores` of validation, then of test."""

    def final_scores(model, corpus, collator, batch_size: int, run: "RunArguments") -> dict:
        return {name: split_scores(model, corpus[name], collator, batch_size) for name in ("validation", "test")}

    return final_scores


def one_split(split_scores):
    """A stage's `split_scores` for a saved model: `split_scores` of the named split, which must be there."""

    def scores(model, corpus, split: str, collator, batch_size: int, run: "RunArguments") -> dict:
        check_splits(corpus, [split])
        return split_scores(model, corpus[split], collator, batch_size)

    return scores


@torch.no_grad()
def pretraining_scores(
    model, splits: dict, collator, batch_size: int, tokenizer, num_beams: int, split: str = "validation"
) -> dict:
    """
    CER/WER of `generate()` (`num_beams`; joint CTC/attention decoding with the model's `generation_config.ctc_weight`)
    on the held-out sentences of `split` (`validation` or `test`: `{split}_sentence`), and with the decoder alone
    (`cer_decoder_only`, `wer_decoder_only`) when that weight is not 0; person-id accuracy with all modalities and with
    audio only on the held-out utterances of seen speakers (`{split}_speaker`).
    """

    def transcribe(shard, ctc_weight: float | None = None):
        hypotheses = []
        description = "scoring transcripts" + (" (decoder alone)" if ctc_weight == 0 else "")
        for batch in batches(shard, collator, batch_size, model.device, description):
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
            audio_only = {
                key: batch[key] for key in ("input_features", "input_values", "attention_mask") if key in batch
            }
            predictions["all"].append(model(**batch).speaker_logits.argmax(-1).cpu().numpy())
            predictions["audio"].append(model(**audio_only).speaker_logits.argmax(-1).cpu().numpy())
        return np.concatenate(truth), np.concatenate(predictions["all"]), np.concatenate(predictions["audio"])

    references, hypotheses = gathered(transcribe, splits[f"{split}_sentence"])
    scores = asr_scores(list(references), list(hypotheses))
    if getattr(model.generation_config, "ctc_weight", 0.0):
        references, hypotheses = gathered(partial(transcribe, ctc_weight=0.0), splits[f"{split}_sentence"])
        decoder_only = asr_scores(list(references), list(hypotheses))
        scores.update({f"{name}_decoder_only": value for name, value in decoder_only.items()})
    truth, with_all, audio_only = gathered(identify, splits[f"{split}_speaker"])
    scores["speaker_accuracy"] = accuracy(truth, with_all)
    scores["speaker_accuracy_audio_only"] = accuracy(truth, audio_only)
    scores["samples"] = float(len(references) + len(truth))
    return scores


def pretraining_scorer(corpus, collator, batch_size: int, num_beams: int):
    """`score(model, _)`: CER/WER and person id on the two validation splits of `corpus`, whatever split is given."""
    tokenizer = MMEmbedTokenizer()

    def score(model, _dataset):
        return pretraining_scores(model, corpus, collator, batch_size, tokenizer, num_beams)

    return score


def emotion_scorer(corpus, collator, batch_size: int, num_beams: int):
    """`score(model, dataset)`: mean weighted accuracy and the rest at thresholds tuned on `dataset` itself."""

    def score(model, dataset):
        probabilities, labels = predict_emotions(model, dataset, collator, batch_size)
        thresholds = tune_thresholds(probabilities, labels)
        return counted_emotion_scores(probabilities, labels, thresholds, label_names(model.config))

    return score


def pretraining_evaluation(model, corpus, collator, batch_size: int, run: "RunArguments") -> dict:
    """The validation splits (they chose the checkpoint) and the test splits (held-out sentences and utterances)."""
    return {
        "validation": pretraining_scorer(corpus, collator, batch_size, run.num_beams)(model, None),
        "test": pretraining_split_scores(model, corpus, "test", collator, batch_size, run),
    }


def emotion_evaluation(model, corpus, collator, batch_size: int, run: "RunArguments") -> dict:
    """
    Thresholds tuned on validation only (with `--tune_thresholds`) and stored in the config; then validation and
    test scored with them, and the test probabilities kept for paired comparisons.
    """
    validation = predict_emotions(model, corpus["validation"], collator, batch_size)
    if run.tune_thresholds:
        model.config.thresholds = tune_thresholds(*validation)
    results = {"thresholds": list(model.config.thresholds)}
    names = label_names(model.config)
    results["validation"] = counted_emotion_scores(*validation, model.config.thresholds, names)
    probabilities, labels = predict_emotions(model, corpus["test"], collator, batch_size)
    results["test"] = counted_emotion_scores(probabilities, labels, model.config.thresholds, names)
    results["test_predictions"] = {  # for paired comparisons of systems on the same test examples
        "ids": list(corpus["test"]["id"]),
        "probabilities": np.round(probabilities, 6).tolist(),
        "labels": labels.tolist(),
    }
    return results


def pretraining_split_scores(model, corpus, split: str, collator, batch_size: int, run: "RunArguments") -> dict:
    """A saved pre-training model on the held-out sentences and utterances of `split` (`validation` or `test`)."""
    split = "test" if split == "test" else "validation"
    check_splits(corpus, [f"{split}_sentence", f"{split}_speaker"])
    return pretraining_scores(model, corpus, collator, batch_size, MMEmbedTokenizer(), run.num_beams, split)


def emotion_split_scores(model, corpus, split: str, collator, batch_size: int, run: "RunArguments") -> dict:
    """A saved emotion model on `split`, at the thresholds its config stores."""
    check_splits(corpus, [split])
    probabilities, labels = predict_emotions(model, corpus[split], collator, batch_size)
    return counted_emotion_scores(probabilities, labels, model.config.thresholds, label_names(model.config))


def counted_emotion_scores(probabilities: np.ndarray, labels: np.ndarray, thresholds, names=EMOTIONS) -> dict:
    """`emotion_scores` (per label of `names`) with the number of examples scored (`samples`)."""
    return {**emotion_scores(probabilities, labels, thresholds, names), "samples": float(len(labels))}


def write_results(output_dir: Path, results: dict, run: "RunArguments", training: TrainingArguments) -> None:
    """Print the final table and save `results.json` (with the run arguments)."""
    output_dir.mkdir(parents=True, exist_ok=True)
    record = {**results, "run_arguments": asdict(run), "seed": training.seed}
    (output_dir / "results.json").write_text(json.dumps(record, indent=1, default=str))
    print(results_table(results, Path(training.output_dir).name))


def results_table(results: dict, run_name: str) -> str:
    lines = [f"results of stage {results['stage']} ({run_name})"]
    for split in ("initial_validation", "validation", "test"):
        if isinstance(results.get(split), dict):
            shown = {name: value for name, value in results[split].items() if isinstance(value, float)}
            lines.append(f"  {split}: " + ", ".join(f"{name} {value:.4f}" for name, value in sorted(shown.items())))
    return "\n".join(lines)
