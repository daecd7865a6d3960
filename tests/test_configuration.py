"""MMEmbedConfig: defaults that make the emotion head work bare, presets, validation and serialisation."""

import json

import pytest
from huggingface_hub.errors import StrictDataclassClassValidationError
from transformers import AutoConfig

from modeling_mmembed import EMOTIONS, MMEmbedConfig


def test_bare_config_is_six_emotion_multi_label():
    config = MMEmbedConfig()
    assert config.num_labels == 6
    assert [config.id2label[i] for i in range(6)] == ["happy", "sad", "anger", "surprise", "disgust", "fear"]
    assert config.label2id == {label: i for i, label in enumerate(EMOTIONS)}
    assert config.problem_type == "multi_label_classification"
    assert config.thresholds == [0.5] * 6
    assert config.modality_weights == {"audio": 0.4, "visual": 0.4, "text": 0.2}
    assert config.modalities == ["audio", "visual", "text"]
    assert config.text_feature_size == 300 and config.text_vocab_size is None


def test_one_label_is_regression_and_has_no_thresholds():
    config = MMEmbedConfig(num_labels=1)
    assert config.problem_type == "regression"
    assert config.thresholds is None


@pytest.mark.parametrize(
    ("preset", "encoder_parameters", "frame_sizes"),
    [("tiny", 56_224, (80, 35, 300)), ("small", 1_280_512, (80, 35, 300)), ("base", 8_247_040, (80, 35, 300)),
     ("mosei_sdk", 8_242_432, (74, 35, 300))],
)  # fmt: skip
def test_presets_build_the_encoders_the_docs_state(preset, encoder_parameters, frame_sizes):
    """The parameter counts of docs/benchmarks.md, and the input sizes each preset is made for."""
    from modeling_mmembed import MMEmbedModel

    config = MMEmbedConfig.from_preset(preset)
    assert sum(parameter.numel() for parameter in MMEmbedModel(config).parameters()) == encoder_parameters
    assert (config.audio_feature_size, config.visual_feature_size, config.text_feature_size) == frame_sizes


def test_preset_overrides_and_unknown_preset():
    assert MMEmbedConfig.from_preset("tiny", num_audio_layers=3).num_audio_layers == 3
    with pytest.raises(ValueError, match="Unknown MMEmbed preset 'huge'"):
        MMEmbedConfig.from_preset("huge")


def test_token_id_text_stream():
    config = MMEmbedConfig(text_vocab_size=100)
    assert config.text_uses_token_ids and config.text_feature_size is None


def test_modalities_are_put_in_canonical_order():
    assert MMEmbedConfig(modalities=["text", "audio"]).modalities == ["audio", "text"]
    assert MMEmbedConfig(modalities=["text", "audio"]).source_modalities == ["text"]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"hidden_size": 30, "num_attention_heads": 4}, "num_attention_heads: must divide hidden_size"),
        ({"hidden_size": 0}, "hidden_size: must be a positive integer"),
        ({"num_audio_layers": 0}, "num_audio_layers: must be a positive integer"),
        ({"audio_subsampling": 3}, "audio_subsampling: must be a power of two"),
        ({"source_kernel_size": 4}, "source_kernel_size: must be a positive odd integer, got 4"),
        ({"hidden_dropout": 1.0}, r"hidden_dropout: must be in \[0, 1\)"),
        ({"modalities": ["visual", "text"]}, "modalities: must include 'audio'"),
        ({"modalities": ["audio", "smell"]}, r"modalities: unknown modalities \['smell'\]"),
        ({"modalities": ["audio", "audio"]}, "modalities: has duplicates"),
        ({"modality_weights": {"audio": 0.4, "visual": 0.0, "text": 0.2}}, "'visual' has 0.0"),
        ({"modality_weights": {"audio": 1.0}}, "'visual' has None"),
        ({"text_vocab_size": 100, "text_feature_size": 300}, "text_vocab_size: the text stream takes either"),
        ({"thresholds": [0.5, 0.5]}, r"thresholds: needs one threshold per label \(6\), got 2"),
        ({"thresholds": [0.5] * 5 + [1.5]}, "thresholds: are probabilities"),
        ({"pos_weight": [1.0] * 5}, r"pos_weight: needs one weight per label \(6\), got 5"),
        ({"pos_weight": [1.0] * 5 + [-2.0]}, "pos_weight: must be finite and positive"),
        ({"num_labels": 1, "pos_weight": [2.0]}, "pos_weight: only applies to multi-label"),
        ({"hidden_act": "swishy"}, r"hidden_act: unknown activation 'swishy'; choose one of .*gelu"),
        ({"modality_dropout": 1.0}, r"modality_dropout: must be a probability in \[0, 1\), got 1.0"),
        ({"branch_loss_weight": float("nan")}, "branch_loss_weight: must be a finite non-negative number, got nan"),
    ],
)
def test_invalid_values_are_refused_by_the_strict_validators_naming_the_field(fields, message):
    """transformers' `@strict` validation: construction, `validate()` and `save_pretrained` all run it."""
    with pytest.raises(StrictDataclassClassValidationError, match=message):
        MMEmbedConfig(**fields)


def test_validate_and_save_refuse_values_set_after_construction(tmp_path):
    config = MMEmbedConfig()
    config.thresholds = [2.0] * 6
    with pytest.raises(StrictDataclassClassValidationError, match="thresholds: are probabilities"):
        config.validate()
    with pytest.raises(StrictDataclassClassValidationError, match="thresholds: are probabilities"):
        config.save_pretrained(tmp_path)


def test_save_and_reload_round_trip(tmp_path):
    config = MMEmbedConfig.from_preset("mosei_sdk", modalities=["audio", "text"], pos_weight=[1, 2, 3, 4, 5, 6])
    config.save_pretrained(tmp_path)
    reloaded = AutoConfig.from_pretrained(tmp_path)
    assert isinstance(reloaded, MMEmbedConfig)
    reloaded_fields = {key: value for key, value in reloaded.to_dict().items() if key != "_name_or_path"}
    assert reloaded_fields == {key: value for key, value in config.to_dict().items() if key != "_name_or_path"}
    assert reloaded.id2label[5] == "fear"


def test_a_foreign_auto_map_entry_is_dropped_and_not_saved_again(tmp_path, caplog):
    config = MMEmbedConfig.from_preset("tiny")
    config.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text())
    saved["auto_map"]["AutoModelForCausalLM"] = "someone_else--evil.Model"
    saved["custom_pipelines"]["text-generation"] = {"impl": "evil.Pipeline", "pt": [], "tf": [], "type": "text"}
    (tmp_path / "config.json").write_text(json.dumps(saved))
    with caplog.at_level("WARNING"):
        reloaded = MMEmbedConfig.from_pretrained(tmp_path)
    assert "AutoModelForCausalLM" not in reloaded.auto_map and "text-generation" not in reloaded.custom_pipelines
    assert "name code outside this package; dropped" in caplog.text
    reloaded.save_pretrained(tmp_path / "again")
    assert json.loads((tmp_path / "again" / "config.json").read_text())["auto_map"] == config.auto_map


def test_another_architecture_s_config_is_refused(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert", "hidden_size": 768}))
    with pytest.raises(ValueError, match="model_type 'bert', not 'mmembed'"):
        MMEmbedConfig.from_pretrained(tmp_path)


def test_the_paper_preset_is_the_published_method_and_extensions_are_named():
    from modeling_mmembed.configuration_mmembed import PUBLISHED_METHOD

    paper = MMEmbedConfig.from_preset("paper")
    assert paper.method_extensions == {} and MMEmbedConfig().method_extensions == {}
    assert {name: getattr(paper, name) for name in PUBLISHED_METHOD} == PUBLISHED_METHOD
    assert paper.modality_weights == {"audio": 0.4, "visual": 0.4, "text": 0.2}
    assert (paper.asr_loss_weight, paper.speaker_loss_weight) == (0.8, 0.2)
    extended = MMEmbedConfig.from_preset("paper", num_source_layers=1, source_positions="aligned")
    assert extended.method_extensions == {"num_source_layers": 1, "source_positions": "aligned"}
