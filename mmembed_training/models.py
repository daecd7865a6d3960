"""The model a run trains: a preset from scratch, or a checkpoint whose input layers are checked against the corpus."""

import logging

from modeling_mmembed import MMEmbedConfig, MMEmbedProcessor, MMEmbedTokenizer
from modeling_mmembed.configuration_mmembed import check_input_layers, input_layer_mismatches
from modeling_mmembed.encoders_mmembed import load_pretrained

from .arguments import RunArguments
from .data import corpus_input_sizes
from .stages import Stage

logger = logging.getLogger(__name__)


DROPOUT_FIELDS = ("hidden_dropout", "attention_dropout", "activation_dropout", "classifier_dropout")


def build_model(run: RunArguments, stage: Stage, corpus):
    """
    The `stage`'s model to train: from `--model_name_or_path` (input layers checked against the corpus) or a preset,
    with the config fields the run, the corpus (a `PreparedCorpus` or its splits) and the stage set.
    """
    sizes = corpus_input_sizes(corpus["train"].features)
    modalities = run.modalities or sizes["modalities"]
    missing = sorted(set(modalities) - set(sizes["modalities"]))
    if missing:
        raise ValueError(f"--modalities asks for {missing}, which this corpus does not have ({sizes['modalities']}).")
    # config fields set by the run, its corpus and its stage (beyond the input sizes); the overrides last
    run_fields = {"modalities": modalities, "freeze_encoder": run.freeze_encoder}
    if run.dropout is not None:
        run_fields.update({name: run.dropout for name in DROPOUT_FIELDS})
    if run.align_to_words:
        run_fields["audio_subsampling"] = 1  # one row per word: nothing to subsample
    run_fields.update(stage.run_fields(run, corpus))
    run_fields.update(encoder_fields(run))
    run_fields.update(config_overrides(run.config_overrides))
    model_class = stage.model_class
    inputs = {key: value for key, value in sizes.items() if key != "modalities"}
    saved = None if run.model_name_or_path is None else mmembed_checkpoint_config(run.model_name_or_path)
    if run.text_encoder or (saved is not None and saved.text_encoder is not None):
        # the text encoder's states are the stream's vectors, sized by it (the corpus holds its token ids)
        inputs = {key: value for key, value in inputs.items() if key not in ("text_feature_size", "text_vocab_size")}
    if saved is None:
        return model_class(MMEmbedConfig.from_preset(run.preset, **inputs, **run_fields))
    if not run.reinit_input_layers:
        check_input_layers(run.model_name_or_path, saved, inputs)  # the corpus's sizes are what is requested
    relabelled = "id2label" in run_fields and len(run_fields["id2label"]) != saved.num_labels
    if relabelled:
        logger.info("Re-heading %s to %d labels", run.model_name_or_path, len(run_fields["id2label"]))
    differing = bool(input_layer_mismatches(saved, inputs)) or relabelled
    return load_checkpoint(
        model_class, run.model_name_or_path, **inputs, **run_fields, ignore_mismatched_sizes=differing
    )


def encoder_fields(run: RunArguments) -> dict:
    """
    The config fields of `--audio_encoder` / `--text_encoder`: the encoders, and for a speech encoder (50 Hz frames,
    half the fbank rate) half the preset's `audio_subsampling`, so that the audio stream keeps its rate.
    """
    fields = {}
    if run.audio_encoder:
        fields["audio_encoder"] = run.audio_encoder
        fields["audio_subsampling"] = max(1, MMEmbedConfig.from_preset(run.preset).audio_subsampling // 2)
    if run.text_encoder:
        fields["text_encoder"] = run.text_encoder
    return fields


def encoder_processor(run: RunArguments) -> MMEmbedProcessor | None:
    """
    The processor of a model with pretrained encoders, which makes its corpus (`CorpusSpec.load`) and is saved with
    it: the speech encoder's own feature extractor and the text encoder's own tokenizer (`--audio_encoder`,
    `--text_encoder`; never with remote code), or a checkpoint's saved processor. None for a model without encoders
    (its processor follows the corpus's features).
    """
    if run.model_name_or_path is not None:
        saved = mmembed_checkpoint_config(run.model_name_or_path)
        if saved.audio_encoder is None and saved.text_encoder is None:
            return None
        return MMEmbedProcessor.from_pretrained(run.model_name_or_path)
    if not (run.audio_encoder or run.text_encoder):
        return None
    from transformers import AutoFeatureExtractor, AutoTokenizer

    from modeling_mmembed import MMEmbedFeatureExtractor

    extractor = MMEmbedFeatureExtractor()
    if run.audio_encoder:
        extractor = load_pretrained(AutoFeatureExtractor, run.audio_encoder, "--audio_encoder")
    text_tokenizer = load_pretrained(AutoTokenizer, run.text_encoder, "--text_encoder") if run.text_encoder else None
    return MMEmbedProcessor(extractor, MMEmbedTokenizer(), text_tokenizer)


def processor_inputs(processor: MMEmbedProcessor | None) -> dict:
    """What a corpus is made with for `processor` (`CorpusSpec.load`): its encoders' extractor and tokenizer."""
    if processor is None:
        return {}
    inputs = {"feature_extractor": processor.feature_extractor}
    if type(processor.text_tokenizer) is not MMEmbedTokenizer:
        inputs["text_tokenizer"] = processor.text_tokenizer
    return inputs


def config_overrides(overrides: str | None) -> dict:
    """
    `--config_overrides` (`"num_source_layers=1,pooling=attention"`) as typed config fields, read the way
    transformers' `PreTrainedConfig.update_from_string` reads them; an unknown field is refused by name.
    """
    if not overrides:
        return {}
    typed = MMEmbedConfig()
    try:
        typed.update_from_string(overrides)
    except (ValueError, TypeError) as error:
        raise ValueError(f"--config_overrides {overrides!r}: {error}") from None
    return {name.split("=")[0].strip(): getattr(typed, name.split("=")[0].strip()) for name in overrides.split(",")}


def load_checkpoint(model_class, path: str, **kwargs):
    """
    `model_class.from_pretrained(path, **kwargs)` with transformers' load report (a table row per tensor: 80 rows
    when an emotion model starts from a pre-training checkpoint) logged as one line of what it means: which parts
    are newly initialised, re-initialised for another shape, or left unused.
    """
    report_logger = logging.getLogger("transformers.modeling_utils")
    report_logger.addFilter(without_load_report)
    try:
        model, info = model_class.from_pretrained(path, output_loading_info=True, **kwargs)
    finally:
        report_logger.removeFilter(without_load_report)
    groups = {
        "newly initialised": info["missing_keys"],
        "re-initialised for another shape": [key for key, *_ in info["mismatched_keys"]],
        "in the checkpoint but not used": info["unexpected_keys"],
    }
    parts = [f"{what}: {tensor_groups(keys)}" for what, keys in groups.items() if keys]
    logger.info("Loaded %s from %s%s", model_class.__name__, path, "; " + "; ".join(parts) if parts else "")
    return model


def without_load_report(record: logging.LogRecord) -> bool:
    """A logging filter that drops transformers' per-tensor load report (`... LOAD REPORT from: ...`)."""
    return "LOAD REPORT" not in record.getMessage()


def tensor_groups(keys) -> str:
    """`text branch 25 tensors, classifier 4, ...`: state-dict keys counted by model part (a branch per modality)."""
    counts = {}
    for key in sorted(keys):
        names = key.split(".")
        part = f"{names[2]} branch" if names[0] == "mmembed" and len(names) > 3 else names[0]
        counts[part] = counts.get(part, 0) + 1
    return ", ".join(f"{part} {count} tensor{'s' * (count != 1)}" for part, count in counts.items())


def mmembed_checkpoint_config(path: str) -> MMEmbedConfig:
    """The saved config of an mmembed checkpoint; a missing one, or one of another model type, is refused."""
    try:
        values, _ = MMEmbedConfig.get_config_dict(path)
    except OSError as error:
        raise ValueError(f"--model_name_or_path {path}: no mmembed checkpoint there ({error}).") from None
    if values.get("model_type") != "mmembed":
        raise ValueError(f"{path} holds a {values.get('model_type')!r} model, not an mmembed checkpoint.")
    return MMEmbedConfig.from_pretrained(path)
