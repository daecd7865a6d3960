"""
The model card rendered from `model_card.md` with a run's results, and the upload of the output folder to the Hub.
"""

import logging
from pathlib import Path

from huggingface_hub import HfApi
from transformers import (
    TrainingArguments,
)
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

from modeling_mmembed import MMEmbedConfig, MMEmbedFeatureExtractor

from . import RESOURCES
from .arguments import RunArguments
from .corpora import CORPORA
from .stages import ALL_STAGES
from .trainer import OutputFolder

logger = logging.getLogger(__name__)


MODEL_CARD_TEMPLATE = Path(str(RESOURCES / "model_card.md"))


def write_model_card(
    output_dir: Path,
    results: dict,
    run: RunArguments,
    training: TrainingArguments,
    config: MMEmbedConfig,
    feature_extractor: MMEmbedFeatureExtractor | None = None,
) -> Path:
    """`README.md` of the output folder, rendered from `model_card.md` with the run's results and model `config`."""
    from huggingface_hub import EvalResult, ModelCard, ModelCardData

    stage, corpus = ALL_STAGES[results["stage"]], CORPORA[run.corpus]
    audio_features = getattr(feature_extractor, "audio_features", None)
    pipeline_tag, task_name, metrics = stage.pipeline_tag, stage.task_name, stage.card_metrics
    split = "test" if isinstance(results.get("test"), dict) else "validation"
    scores = results[split]
    dataset, real_data = corpus.dataset_name(run), not corpus.generated
    hub_datasets = corpus.hub_dataset_ids(run)
    card_data = ModelCardData(
        model_name=training.hub_model_id or Path(training.output_dir).name,  # not the folder it is written into
        language=corpus.language,
        library_name="transformers",
        pipeline_tag=pipeline_tag,
        license="other" if real_data else "apache-2.0",
        license_name="research-data-terms" if real_data else None,
        tags=["mmembed", "multimodal", "audio", "custom_code", stage.name],
        datasets=hub_datasets or None,
        metrics=list(metrics),
        # the Hub links a model-index dataset by its id: results are declared there only for a Hub dataset
        eval_results=[
            EvalResult(
                task_type=pipeline_tag,
                task_name=task_name,
                dataset_type=hub_datasets[0],
                dataset_name=dataset,
                dataset_split=split,
                metric_type=metric,
                metric_name=metric,
                metric_value=scores[metric],
            )
            for metric in metrics
            if scores.get(metric) is not None
        ]
        if hub_datasets
        else None,
    )
    base_model = hub_base_model(run.model_name_or_path)
    encoders = pretrained_encoders(config)
    hub_models = [base_model] if base_model else []
    hub_models += [name for name in encoders.values() if is_hub_id(name)]
    card_data.base_model = hub_models[0] if len(hub_models) == 1 else hub_models or None
    card = ModelCard.from_template(
        card_data,
        template_path=str(MODEL_CARD_TEMPLATE),
        model_name=card_data.model_name,
        stage=stage.name,
        provenance=provenance(run.model_name_or_path, base_model, encoders),
        summary=stage.card_summary.format(dataset=dataset),
        usage=usage_example(training.hub_model_id or str(training.output_dir), config, audio_features),
        audio_input=(
            f"pre-extracted {audio_features} audio features, {config.audio_feature_size} per frame (not audio: the "
            "included feature extractor takes them as they are)"
            if audio_features
            else f"16 kHz audio (the raw waveform, read by the speech encoder {encoder_link(encoders['audio'])} "
            "after its own feature extractor, included)"
            if "audio" in encoders
            else "16 kHz audio (80-bin Kaldi filterbanks are computed by the included feature extractor)"
        ),
        visual_input="FACET 4.2 / OpenFace 2 action units, 35 per frame by default",
        text_input=f"text, read by the text encoder {encoder_link(encoders['text'])} after its tokenizer (included)"
        if "text" in encoders
        else "word vectors or characters, as the config says",
        method=method_description(config),
        intended_use=(
            "Research on multimodal affect recognition and on the transfer of multi-task speech embeddings; "
            "aggregate analysis of expressed emotion in recordings whose speakers agreed to such analysis. Not for "
            "decisions about individuals (hiring, policing, health, credit) or for inferring what a person feels."
        ),
        training_data_short=dataset,
        synthetic_data=corpus.generated,
        training_data=f"{dataset}; splits and preparation as in mmembed's `data_scripts` "
        f"(corpus `{run.corpus}`, modalities {', '.join(run.modalities or ['all available'])}).",
        data_terms=corpus.data_terms.format(dataset=dataset),
        labels=labels_section(stage, corpus, config, dataset),
        metric_definitions=metric_definitions(metrics),
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
        size_and_compute=size_and_compute(results),
    )
    path = output_dir / "README.md"
    card.save(str(path))
    return path


METRIC_DEFINITIONS = {
    "cer": "character error rate of the greedy or beam-search transcripts (character edits / reference characters, "
    "jiwer); lower is better",
    "wer": "word error rate of the same transcripts (jiwer); lower is better",
    "speaker_accuracy": "share of held-out sentences of training speakers whose speaker the person-identification "
    "head names",
    "mean_weighted_accuracy": "mean over the emotions of the weighted accuracy, (TP x N / P + TN) / 2N for P positive "
    "and N negative segments (balanced accuracy), at the per-emotion thresholds tuned on validation",
    "mean_f1": "mean over the emotions of the weighted F1 of the present/absent decisions (scikit-learn, "
    "average='weighted')",
    "mean_auc": "mean over the emotions of the ROC AUC of the scores (no threshold)",
    "jaccard_accuracy": "per segment, |predicted and true emotions| / |predicted or true emotions| (an empty union "
    "counts 0), averaged",
    "hamming_loss": "share of (segment, emotion) decisions that are wrong; lower is better",
    "micro_f1": "F1 of all (segment, label) decisions pooled",
    "macro_f1": "mean over the labels of each label's F1",
    "mae": "mean absolute error of the predicted sentiment; lower is better",
    "pearson_r": "Pearson correlation of predicted and annotated sentiment",
    "acc7": "7-class accuracy: predicted and annotated sentiment clipped to [-3, 3] and rounded",
    "acc5": "5-class accuracy: clipped to [-2, 2] and rounded",
    "acc2_negative_nonnegative": "binary accuracy of negative (< 0) against non-negative (>= 0) sentiment",
    "acc2_negative_positive": "binary accuracy of negative against positive sentiment, segments annotated 0 left out",
    "unweighted_accuracy": "mean over the classes of each class's recall (balanced accuracy; 'UA' in speech-emotion "
    "papers)",
    "accuracy": "share of samples whose class is predicted ('WA' in speech-emotion papers)",
    "mean_ccc": "mean over the targets of the concordance correlation coefficient",
    "mean_mae": "mean over the targets of the mean absolute error; lower is better",
    "mean_pearson_r": "mean over the targets of the Pearson correlation",
}
"""What each metric a card declares measures (the `card_metrics` of every stage)."""


def metric_definitions(metrics) -> str:
    """The card's list of what each declared metric measures (an `_untuned` one: the same at a 0.5 threshold)."""
    lines = [f"- `{metric}`: {METRIC_DEFINITIONS[metric]}." for metric in metrics if metric in METRIC_DEFINITIONS]
    if any(metric.endswith("_untuned") for metric in metrics):
        lines.append(
            "- `..._untuned`: the same figure with every decision at a fixed 0.5 instead of the tuned thresholds."
        )
    return "\n".join(lines)


def labels_section(stage, corpus, config: MMEmbedConfig, dataset: str) -> str:
    """The card's list of what the model outputs: each label with what it means, or the pre-training heads."""
    if stage.name not in corpus.label_meaning:  # pre-training: no label set of its own
        return (
            f"A character-level ASR decoder ({config.vocab_size} tokens) and a person-identification classifier over "
            f"the {config.num_speakers} training speakers; the encoder's embedding is what later stages tune."
        )
    meaning = corpus.label_meaning[stage.name]
    names = [config.id2label[index] for index in range(config.num_labels)]
    return "\n".join(f"- `{name}`: {meaning.format(label=name, dataset=dataset)}." for name in names)


def size_and_compute(results: dict) -> str:
    """The card's sentence on the model's size and the training it took, from the run's `training_compute`."""
    compute = results.get("training_compute")
    if not compute:
        return "not recorded."
    size = f"{compute['parameters'] / 1e6:.2f} M parameters"
    if compute["train_seconds"] is None:
        return f"{size}; training time not recorded (the run was resumed after training had finished)."
    processes = compute["processes"]
    seconds = compute["train_seconds"]
    duration = f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} minutes"
    return (
        f"{size}; trained for {duration} on {compute['hardware']} "
        f"({processes} process{'es' if processes > 1 else ''}; {compute['total_flos']:.3g} floating-point operations "
        "as the Trainer counts them)."
    )


def training_compute(model, trainer, train_seconds: float | None) -> dict:
    """The record of what training took, kept in `results.json` and shown on the card."""
    import torch

    from .demo_report import machine_description

    device = trainer.args.device
    hardware = torch.cuda.get_device_name(device) if device.type == "cuda" else machine_description()
    return {
        "parameters": model.num_parameters(),
        "train_seconds": train_seconds,
        "hardware": hardware,
        "processes": trainer.args.world_size,
        "total_flos": float(trainer.state.total_flos),
    }


def method_description(config: MMEmbedConfig) -> str:
    """The card's sentence on the method: as published, or which extensions (config fields) this checkpoint uses."""
    extensions = config.method_extensions
    if not extensions:
        return "The method as published (the `paper` preset's fusion, pooling and fixed branch weights)."
    listed = ", ".join(f"`{name}={value}`" for name, value in extensions.items())
    return f"The published method with these extensions (config fields; the `paper` preset has none): {listed}."


AUDIO_EXAMPLE = 'audio = {"array": np.zeros(3 * 16000, dtype=np.float32), "sampling_rate": 16000}  # yours: 16 kHz'


def usage_example(model_id: str, config: MMEmbedConfig, audio_features: str | None = None) -> str:
    """
    The card's code block, runnable as written (from where training ran, or anywhere once pushed): stand-in inputs
    of the model's own sizes, the standard pipeline of the card's `pipeline_tag`, then the multimodal one. A model
    that reads pre-extracted audio features (`audio_features`) is fed such frames, through the multimodal pipeline.
    """
    if audio_features is not None:
        audio = f"np.zeros((500, {config.audio_feature_size}), dtype=np.float32),  # {audio_features} frames"
        lines = ["import numpy as np", "from transformers import pipeline", ""]
    else:
        audio = 'audio["array"],'
        lines = ["import numpy as np", "from transformers import pipeline", "", AUDIO_EXAMPLE]
    if "MMEmbedForPreTraining" in (config.architectures or []):
        lines.append(f'asr = pipeline("automatic-speech-recognition", model="{model_id}", trust_remote_code=True)')
        lines.append('print(asr(audio, generate_kwargs={"max_new_tokens": 20})["text"])')
        return "\n".join(lines)
    inputs = [f'    "audio": {audio}']
    if "visual" in config.modalities:
        inputs.append(f'    "visual": np.zeros((90, {config.visual_feature_size}), dtype=np.float32),  # frames')
    if "text" in config.modalities and config.input_name("text") == "text_input_ids":
        inputs.append('    "transcript": "what a day",')
    elif "text" in config.modalities:
        inputs.append(
            f'    "transcript": np.zeros((8, {config.text_feature_size}), dtype=np.float32),  # word vectors'
        )
    names = ", ".join(config.id2label[index] for index in range(config.num_labels))
    if config.problem_type == "regression":
        lines.append(f"# The regression's values ({names}) from every modality")
    elif audio_features is None:
        scores = (
            "one softmax score per class"
            if config.problem_type == "single_label_classification"
            else ("one sigmoid score per label")
        )
        lines.append(f"# From audio alone: the standard pipeline, {scores} ({names})")
        lines.append(
            f'classifier = pipeline("audio-classification", model="{model_id}", trust_remote_code=True, top_k=None)'
        )
        lines.append("print(classifier(audio))")
        lines.append("# From every modality, with the decisions of the thresholds tuned on validation")
    lines.append(f'model = pipeline("multimodal-emotion-recognition", model="{model_id}", trust_remote_code=True)')
    return "\n".join([*lines, "inputs = {", *inputs, "}", "print(model(inputs))"])


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


def pretrained_encoders(config) -> dict[str, str]:
    """Modality -> the model id (or folder name) a model's pretrained speech / text encoder was loaded from."""
    encoders = {}
    for modality in ("audio", "text"):
        spec = getattr(config, f"{modality}_encoder")
        if spec is not None:
            name = getattr(config, f"{modality}_encoder_name_or_path")
            encoders[modality] = name or f"a {spec.get('model_type', 'pretrained')} model with random weights"
    return encoders


def is_hub_id(name: str) -> bool:
    """Whether an encoder's name is a Hub model id (`owner/name`), not a local folder."""
    return name.count("/") == 1 and not Path(name).exists() and not Path(name).is_absolute()


def encoder_link(name: str) -> str:
    """An encoder's name on the card: a link for a Hub id, else the folder's name."""
    return f"[`{name}`](https://huggingface.co/{name})" if is_hub_id(name) else f"`{Path(name).name}`"


def provenance(model_name_or_path: str | None, base_model: str | None, encoders: dict[str, str]) -> str:
    """The card's sentences on where the weights started: a checkpoint, or scratch; and the pretrained encoders."""
    if model_name_or_path is None:
        start = "Trained from scratch (no pre-training checkpoint)."
        if encoders:
            start = "Trained without a pre-training checkpoint: the fusion layers and heads from scratch."
    elif base_model is not None:
        start = f"Tuned from the pre-training checkpoint [`{base_model}`](https://huggingface.co/{base_model})."
    else:
        start = f"Tuned from the local pre-training checkpoint `{Path(model_name_or_path).name}` (not on the Hub)."
    role = {"audio": "speech encoder", "text": "text encoder"}
    return " ".join(
        [start]
        + [
            f"Its {role[modality]} started from {encoder_link(name)} (its weights are in this checkpoint)."
            for modality, name in encoders.items()
        ]
    )


def results_markdown(results: dict) -> str:
    splits = [split for split in ("initial_validation", "validation", "test") if isinstance(results.get(split), dict)]
    names = sorted({name for split in splits for name, value in results[split].items() if isinstance(value, float)})
    lines = ["| metric | " + " | ".join(splits) + " |", "|---|" + "---:|" * len(splits)]
    for name in names:
        cells = [results[split].get(name) for split in splits]
        lines.append(f"| {name} | " + " | ".join("" if cell is None else f"{cell:.4f}" for cell in cells) + " |")
    return "\n".join(lines)


UPLOAD_IGNORED = [f"{PREFIX_CHECKPOINT_DIR}-*", OutputFolder.STAGING, "training_args.bin"]
"""
Left out of the Hub upload: checkpoints, the staging folder and `training_args.bin` (a pickle, which the Hub flags; the
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
