"""
A common-test suite in the manner of transformers' `ModelTesterMixin`, run over the three MMEmbed model classes:
save/load, loading without a checkpoint, every weight initialised when none is given, mismatched shapes, the
encoder-decoder flag, the deprecated cache name, and re-heading a checkpoint.
"""

import logging

import pytest
import torch
from huggingface_hub.errors import StrictDataclassClassValidationError
from transformers import AutoModelForAudioClassification

from modeling_mmembed import MMEmbedConfig, MMEmbedForEmotionRecognition, MMEmbedForPreTraining, MMEmbedModel

from .conftest import padded_batch, perturb_, tiny_config

LENGTHS = {"audio": [21, 14], "visual": [9, 5], "text": [6, 2]}
MODEL_CLASSES = (MMEmbedModel, MMEmbedForEmotionRecognition, MMEmbedForPreTraining)
MAIN_OUTPUT = {MMEmbedModel: "pooler_output", MMEmbedForEmotionRecognition: "logits", MMEmbedForPreTraining: "logits"}


def model_inputs(model_class) -> dict:
    batch = padded_batch(LENGTHS)
    if model_class is MMEmbedForPreTraining:
        batch["labels"] = torch.tensor([[5, 6, 7, 2], [8, 2, -100, -100]])
    return batch


def new_model(model_class, **overrides):
    torch.manual_seed(0)
    return perturb_(model_class(tiny_config(num_speakers=3, **overrides)))


def main_output(model, model_class, batch):
    with torch.no_grad():
        return getattr(model(**batch), MAIN_OUTPUT[model_class])


@pytest.mark.parametrize("model_class", MODEL_CLASSES)
def test_save_load(model_class, tmp_path):
    model = new_model(model_class)
    batch = model_inputs(model_class)
    model.save_pretrained(tmp_path)
    reloaded = model_class.from_pretrained(tmp_path).eval()
    torch.testing.assert_close(main_output(reloaded, model_class, batch), main_output(model, model_class, batch))


@pytest.mark.parametrize("model_class", MODEL_CLASSES)
def test_from_pretrained_no_checkpoint(model_class):
    """As `BertModel`: `from_pretrained(None, config=..., state_dict=...)` builds the model offline."""
    model = new_model(model_class)
    loaded = model_class.from_pretrained(None, config=model.config, state_dict=model.state_dict()).eval()
    batch = model_inputs(model_class)
    torch.testing.assert_close(main_output(loaded, model_class, batch), main_output(model, model_class, batch))


@pytest.mark.parametrize("model_class", MODEL_CLASSES)
def test_can_init_all_missing_weights(model_class):
    """With no weights given every parameter is initialised (finite, and not all zero where it should not be)."""
    config = tiny_config(num_speakers=3)
    model = model_class.from_pretrained(None, config=config, state_dict={})
    for name, parameter in model.named_parameters():
        assert torch.isfinite(parameter).all(), name
        if name.endswith("weight") and parameter.dim() > 1:
            assert parameter.std() > 0, name


@pytest.mark.parametrize("model_class", MODEL_CLASSES)
def test_only_the_pretraining_model_is_an_encoder_decoder(model_class, tmp_path):
    model = new_model(model_class)
    assert model.config.is_encoder_decoder is (model_class is MMEmbedForPreTraining)
    MMEmbedForPreTraining(tiny_config(num_speakers=3)).save_pretrained(tmp_path)
    reloaded = model_class.from_pretrained(tmp_path)
    assert reloaded.config.is_encoder_decoder is (model_class is MMEmbedForPreTraining)


def test_bc_cache_name_forward():
    """`past_key_values=` is the deprecated name of `cache=`: same logits, with transformers' deprecation warning."""
    model = new_model(MMEmbedForPreTraining)
    batch = padded_batch(LENGTHS)
    with torch.no_grad():
        first = model(**batch, decoder_input_ids=torch.tensor([[1, 5], [1, 8]]), use_cache=True)
        step = torch.tensor([[6], [9]])
        new_name = model(**batch, decoder_input_ids=step, cache=first.cache, use_cache=True).logits
        first = model(**batch, decoder_input_ids=torch.tensor([[1, 5], [1, 8]]), use_cache=True)
        with pytest.warns(FutureWarning, match="past_key_values"):
            old_name = model(**batch, decoder_input_ids=step, past_key_values=first.cache, use_cache=True).logits
        without_cache = model(**batch, decoder_input_ids=torch.tensor([[1, 5, 6], [1, 8, 9]])).logits[:, -1:]
    torch.testing.assert_close(old_name, new_name)
    torch.testing.assert_close(new_name, without_cache, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(("num_labels", "problem_type"), [(3, "multi_label_classification"), (1, "regression")])
def test_load_with_mismatched_shapes_re_heads_the_checkpoint(tmp_path, caplog, num_labels, problem_type):
    """A six-emotion checkpoint re-headed: thresholds and pos_weight follow num_labels; 1 label is regression."""
    model = new_model(MMEmbedForEmotionRecognition, pos_weight=[2.0] * 6)
    model.config.thresholds = [0.3] * 6
    model.save_pretrained(tmp_path / "six")
    with pytest.raises(RuntimeError, match="ignore_mismatched_sizes"):  # transformers names the way out
        MMEmbedForEmotionRecognition.from_pretrained(tmp_path / "six", num_labels=num_labels)
    with caplog.at_level(logging.WARNING):
        reheaded = MMEmbedForEmotionRecognition.from_pretrained(
            tmp_path / "six", num_labels=num_labels, ignore_mismatched_sizes=True
        )
    assert "thresholds of the old head reset" in caplog.text
    config = reheaded.config
    assert config.num_labels == num_labels and config.problem_type == problem_type and config.pos_weight is None
    assert config.thresholds == ([0.5] * num_labels if num_labels > 1 else None)
    assert reheaded.classifier.out_proj.out_features == num_labels
    kept = "audio_layers.0.feed_forward.fc1.weight"
    torch.testing.assert_close(reheaded.mmembed.state_dict()[kept], model.mmembed.state_dict()[kept])
    batch = padded_batch(LENGTHS)
    labels = torch.zeros(2, num_labels) if num_labels > 1 else torch.tensor([0.5, -1.0])
    assert torch.isfinite(reheaded(**batch, labels=labels).loss)
    reheaded.save_pretrained(tmp_path / "re-headed")
    assert AutoModelForAudioClassification.from_pretrained(tmp_path / "re-headed").config.num_labels == num_labels


def test_setting_num_labels_on_a_config_re_heads_it_for_save_and_reload(tmp_path):
    config = MMEmbedConfig.from_preset("tiny", pos_weight=[2.0] * 6)
    config.num_labels = 3
    config.save_pretrained(tmp_path)
    reloaded = MMEmbedConfig.from_pretrained(tmp_path)
    assert reloaded.num_labels == 3 and reloaded.thresholds == [0.5] * 3 and reloaded.pos_weight is None
    with pytest.raises(StrictDataclassClassValidationError, match=r"needs one threshold per label \(3\), got 6"):
        MMEmbedConfig.from_preset("tiny", num_labels=3, thresholds=[0.5] * 6)  # a config contradicting itself fails
