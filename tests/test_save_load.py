"""Saving and loading: round trips, the auto classes, Hub remote code and the input-layer transfer rule."""

import json
import os

import pytest
import torch
from transformers import AutoModel, AutoModelForAudioClassification

from modeling_mmembed import MMEmbedForEmotionRecognition, MMEmbedModel

from .conftest import padded_batch, perturb_, tiny_config
from .remote_code import load_with_remote_code

LENGTHS = {"audio": [21, 14], "visual": [9, 5], "text": [6, 2]}
CODE_FILES = {"configuration_mmembed.py", "modeling_mmembed.py", "input_validation_mmembed.py"}
EXPECTED_AUTO_MAP = {
    "AutoConfig": "configuration_mmembed.MMEmbedConfig",
    "AutoModel": "modeling_mmembed.MMEmbedModel",
    "AutoModelForAudioClassification": "modeling_mmembed.MMEmbedForEmotionRecognition",
    "AutoModelForPreTraining": "modeling_mmembed.MMEmbedForPreTraining",
}


@pytest.fixture
def saved_emotion_model(tmp_path):
    """A perturbed emotion model saved to disk, with a batch and the logits and embeddings it gives."""
    torch.manual_seed(0)
    model = perturb_(MMEmbedForEmotionRecognition(tiny_config()))
    batch = padded_batch(LENGTHS)
    with torch.no_grad():
        output = model(**batch)
    model.save_pretrained(tmp_path / "model")
    return tmp_path / "model", batch, output


def test_save_writes_safetensors_code_and_complete_auto_map(saved_emotion_model):
    directory, _, _ = saved_emotion_model
    files = set(os.listdir(directory))
    assert "model.safetensors" in files
    assert not any(name.endswith((".bin", ".pt", ".pth")) for name in files)
    assert CODE_FILES <= files
    config = json.loads((directory / "config.json").read_text())
    assert config["auto_map"] == EXPECTED_AUTO_MAP
    assert config["architectures"] == ["MMEmbedForEmotionRecognition"]


def test_round_trip_gives_identical_outputs(saved_emotion_model):
    directory, batch, expected = saved_emotion_model
    reloaded = MMEmbedForEmotionRecognition.from_pretrained(directory).eval()
    with torch.no_grad():
        output = reloaded(**batch)
    torch.testing.assert_close(output.logits, expected.logits, atol=0, rtol=0)
    torch.testing.assert_close(output.pooler_output, expected.pooler_output, atol=0, rtol=0)


def test_auto_classes_load_the_registered_package(saved_emotion_model):
    directory, batch, expected = saved_emotion_model
    encoder = AutoModel.from_pretrained(directory).eval()
    head = AutoModelForAudioClassification.from_pretrained(directory).eval()
    assert type(encoder) is MMEmbedModel and type(head) is MMEmbedForEmotionRecognition
    with torch.no_grad():
        torch.testing.assert_close(encoder(**batch).pooler_output, expected.pooler_output, atol=0, rtol=0)
        torch.testing.assert_close(head(**batch).logits, expected.logits, atol=0, rtol=0)


@pytest.mark.parametrize(
    ("auto_class", "output_name", "class_name"),
    [
        ("AutoModel", "pooler_output", "MMEmbedModel"),
        ("AutoModelForAudioClassification", "logits", "MMEmbedForEmotionRecognition"),
    ],
)
def test_remote_code_loads_without_the_installed_package(
    saved_emotion_model, tmp_path, auto_class, output_name, class_name
):
    directory, batch, expected = saved_emotion_model
    loaded_class, remote_output = load_with_remote_code(directory, batch, auto_class, output_name, tmp_path)
    assert loaded_class == class_name
    torch.testing.assert_close(remote_output, getattr(expected, output_name), atol=0, rtol=0)


def test_encoder_checkpoint_loads_into_emotion_head(tmp_path):
    encoder = perturb_(MMEmbedModel(tiny_config()))
    encoder.save_pretrained(tmp_path)
    head = MMEmbedForEmotionRecognition.from_pretrained(tmp_path)
    for name, parameter in encoder.state_dict().items():
        torch.testing.assert_close(head.mmembed.state_dict()[name], parameter, atol=0, rtol=0)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"audio_feature_size": 74}, "audio_feature_size: checkpoint 13, requested 74"),
        ({"audio_subsampling": 2}, "audio_subsampling: checkpoint 4, requested 2"),
        ({"visual_feature_size": 35}, "visual_feature_size: checkpoint 7, requested 35"),
        ({"text_feature_size": None, "text_vocab_size": 30}, "text_feature_size: checkpoint 11, requested None"),
    ],
)
def test_transfer_refuses_different_input_layers(saved_emotion_model, override, message):
    directory, _, _ = saved_emotion_model
    with pytest.raises(ValueError, match=message):
        MMEmbedForEmotionRecognition.from_pretrained(directory, **override)
    config = tiny_config(**override)
    with pytest.raises(ValueError, match=message):
        AutoModelForAudioClassification.from_pretrained(directory, config=config)
    model = MMEmbedForEmotionRecognition.from_pretrained(directory, config=config, ignore_mismatched_sizes=True)
    assert model.config.audio_subsampling == config.audio_subsampling


def test_transfer_with_ignore_mismatched_sizes_keeps_matching_layers(saved_emotion_model):
    directory, _, _ = saved_emotion_model
    original = MMEmbedForEmotionRecognition.from_pretrained(directory)
    model = MMEmbedForEmotionRecognition.from_pretrained(
        directory, audio_feature_size=74, ignore_mismatched_sizes=True
    )
    assert model.mmembed.audio_embedding.subsampler.convs[0].in_channels == 74
    torch.testing.assert_close(
        model.mmembed.audio_layers[0].self_attn.q_proj.weight,
        original.mmembed.audio_layers[0].self_attn.q_proj.weight,
        atol=0,
        rtol=0,
    )
