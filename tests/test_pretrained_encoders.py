"""Pretrained speech and text encoders inside MMEmbed (`config.audio_encoder` / `text_encoder`), with tiny random
configs of WavLM, HuBERT, wav2vec 2.0, BERT and RoBERTa built here (no download)."""

import pytest
import torch
from transformers import BertConfig, HubertConfig, RobertaConfig, Wav2Vec2Config, WavLMConfig, WavLMModel

from modeling_mmembed import MMEmbedConfig, MMEmbedForEmotionRecognition, MMEmbedForPreTraining
from modeling_mmembed.onnx_mmembed import export_onnx

from .remote_code import load_with_remote_code

SPEECH = {"num_hidden_layers": 2, "hidden_size": 32, "num_attention_heads": 2, "intermediate_size": 64,
          "conv_dim": (16, 16), "conv_stride": (5, 4), "conv_kernel": (10, 8), "num_conv_pos_embeddings": 16,
          "num_conv_pos_embedding_groups": 2, "feat_extract_norm": "layer"}  # fmt: skip
TEXT = {"num_hidden_layers": 2, "hidden_size": 32, "num_attention_heads": 2, "intermediate_size": 64, "vocab_size": 99}
SPEECH_CONFIGS = {
    "wavlm": lambda: WavLMConfig(**SPEECH, num_buckets=32, max_bucket_distance=64),
    "hubert": lambda: HubertConfig(**SPEECH),
    "wav2vec2": lambda: Wav2Vec2Config(**SPEECH),
}
TEXT_CONFIGS = {"bert": lambda: BertConfig(**TEXT), "roberta": lambda: RobertaConfig(**TEXT, pad_token_id=1)}


def encoder_config(speech: str = "wavlm", text: str = "bert", **overrides) -> MMEmbedConfig:
    return MMEmbedConfig.from_preset(
        "tiny",
        audio_encoder=SPEECH_CONFIGS[speech]().to_dict(),
        text_encoder=TEXT_CONFIGS[text]().to_dict(),
        audio_subsampling=2,  # the speech encoder's 50 Hz -> 25 Hz, the fbank stream's rate
        **overrides,
    )


def batch(seed: int = 0) -> dict:
    """Two samples: the second one's audio (0.75 s of 1 s) and text (4 of 7 tokens) padded."""
    generator = torch.Generator().manual_seed(seed)
    audio_mask = torch.ones(2, 16000, dtype=torch.long)
    audio_mask[1, 12000:] = 0
    text_mask = torch.ones(2, 7, dtype=torch.long)
    text_mask[1, 4:] = 0
    return {
        "input_values": torch.randn(2, 16000, generator=generator) * audio_mask,
        "attention_mask": audio_mask,
        "text_input_ids": torch.randint(5, 99, (2, 7), generator=generator),
        "text_attention_mask": text_mask,
        "visual_features": torch.randn(2, 30, 35, generator=generator),
    }


def second_sample_alone(inputs: dict) -> dict:
    return {
        "input_values": inputs["input_values"][1:, :12000],
        "text_input_ids": inputs["text_input_ids"][1:, :4],
        "visual_features": inputs["visual_features"][1:],
    }


@pytest.mark.parametrize("speech", list(SPEECH_CONFIGS))
@pytest.mark.parametrize("text", list(TEXT_CONFIGS))
def test_a_padded_sample_scores_as_it_does_alone(speech, text):
    torch.manual_seed(0)
    config = encoder_config(speech, text)
    model = MMEmbedForEmotionRecognition(config).eval()
    assert config.audio_feature_size == 32 and config.text_feature_size == 32 and config.text_vocab_size is None
    assert isinstance(config.audio_encoder, dict) and config.audio_encoder["model_type"] == speech
    inputs = batch()
    with torch.no_grad():  # the encoder's states: a random head's logits are too small to show a difference
        together = model.get_embeddings(**inputs)
        alone = model.get_embeddings(**second_sample_alone(inputs))
    torch.testing.assert_close(together.pooler_output[1:], alone.pooler_output, atol=1e-5, rtol=1e-5)
    frames = alone.attention_mask.shape[1]
    for name in ("audio_hidden_state", "text_hidden_state", "last_hidden_state"):
        torch.testing.assert_close(getattr(together, name)[1:, :frames], getattr(alone, name), atol=1e-5, rtol=1e-5)


def test_a_sample_without_text_scores_as_the_sample_given_no_text():
    torch.manual_seed(0)
    model = MMEmbedForEmotionRecognition(encoder_config()).eval()
    inputs = batch()
    inputs["text_attention_mask"][1] = 0  # the second sample has no text
    with torch.no_grad():
        together = model.get_embeddings(**inputs).pooler_output
        alone = model.get_embeddings(**{**second_sample_alone(inputs), "text_input_ids": None}).pooler_output
    torch.testing.assert_close(together[1:], alone, atol=2e-5, rtol=1e-4)


def test_save_and_load_hold_the_encoders_and_never_download(tmp_path, monkeypatch):
    torch.manual_seed(0)
    model = MMEmbedForEmotionRecognition(encoder_config()).eval()
    model.save_pretrained(tmp_path / "model")
    import huggingface_hub

    def no_download(*args, **kwargs):
        raise AssertionError(f"a download was attempted: {args}")

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", no_download)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", no_download)
    loaded = MMEmbedForEmotionRecognition.from_pretrained(tmp_path / "model").eval()
    assert not loaded.newly_initialized_weights
    with torch.no_grad():
        torch.testing.assert_close(loaded(**batch()).logits, model(**batch()).logits)
    encoder_weights = [name for name in loaded.state_dict() if name.startswith("mmembed.audio_encoder.model.")]
    assert len(encoder_weights) > 20


def test_remote_code_loads_a_model_with_encoders_without_the_package(tmp_path):
    torch.manual_seed(0)
    model = MMEmbedForEmotionRecognition(encoder_config()).eval()
    model.save_pretrained(tmp_path / "model")
    assert (tmp_path / "model" / "encoders_mmembed.py").is_file()
    class_name, logits = load_with_remote_code(
        tmp_path / "model", batch(), "AutoModelForAudioClassification", "logits", tmp_path
    )
    assert class_name == "MMEmbedForEmotionRecognition"
    with torch.no_grad():
        torch.testing.assert_close(logits, model(**batch()).logits)


def test_a_model_id_loads_the_encoders_pretrained_weights(tmp_path):
    torch.manual_seed(1)
    pretrained = WavLMModel(SPEECH_CONFIGS["wavlm"]())
    pretrained.save_pretrained(tmp_path / "wavlm")
    config = MMEmbedConfig.from_preset("tiny", audio_encoder=str(tmp_path / "wavlm"), audio_subsampling=2)
    model = MMEmbedForEmotionRecognition(config)
    for name, value in pretrained.state_dict().items():
        torch.testing.assert_close(model.mmembed.audio_encoder.model.state_dict()[name], value, rtol=0, atol=0)
    assert (
        config.audio_encoder_name_or_path == str(tmp_path / "wavlm") and config.audio_encoder["model_type"] == "wavlm"
    )


def test_a_model_id_that_cannot_be_fetched_offline_names_the_fix(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    config = MMEmbedConfig.from_preset("tiny", audio_encoder="mmembed-tests/no-such-speech-model")
    with pytest.raises(
        ValueError, match=r"(?s)audio_encoder='mmembed-tests/no-such-speech-model' could not be loaded .*hf download"
    ):
        MMEmbedForEmotionRecognition(config)


@pytest.mark.parametrize(
    ("freeze", "frozen", "trained"),
    [
        ("feature_encoder", ["feature_extractor."], ["encoder.layers."]),
        ("all", ["feature_extractor.", "encoder.layers."], []),
        ("none", [], ["feature_extractor.", "encoder.layers."]),
    ],
)
def test_freezing_the_speech_encoder(freeze, frozen, trained):
    model = MMEmbedForEmotionRecognition(encoder_config(freeze_audio_encoder=freeze, freeze_text_encoder=True))
    parameters = dict(model.mmembed.audio_encoder.model.named_parameters())
    for prefix in frozen:
        assert not any(value.requires_grad for name, value in parameters.items() if name.startswith(prefix)), prefix
    for prefix in trained:
        assert all(value.requires_grad for name, value in parameters.items() if name.startswith(prefix)), prefix
    assert not any(value.requires_grad for value in model.mmembed.text_encoder.model.parameters())
    assert model.mmembed.audio_encoder.layers.layer_logits.requires_grad  # the layer weights always train


def test_the_wrong_audio_input_is_named():
    model = MMEmbedForEmotionRecognition(encoder_config()).eval()
    with pytest.raises(ValueError, match=r"reads the raw 16 kHz waveform .* pass input_values"):
        model(input_features=torch.randn(1, 100, 80))
    with pytest.raises(ValueError, match=r"input_values \(audio\) must have shape \(batch, samples\)"):
        model(input_values=torch.randn(1, 1, 16000))
    with pytest.raises(ValueError, match=r"has a pretrained audio_encoder or text_encoder, whose export is not"):
        export_onnx(model, "unused.onnx")
    fbank_model = MMEmbedForEmotionRecognition(MMEmbedConfig.from_preset("tiny")).eval()
    with pytest.raises(ValueError, match=r"input_values \(a raw waveform\) are read by a model with a pretrained"):
        fbank_model(input_values=torch.randn(1, 16000))


@pytest.mark.parametrize("stage", ["pretrain", "emotion"])
def test_a_few_training_steps_move_the_encoders_and_their_layer_weights(stage):
    torch.manual_seed(0)
    inputs = batch()
    if stage == "pretrain":
        model = MMEmbedForPreTraining(encoder_config(num_speakers=3))
        targets = {"labels": torch.tensor([[5, 6, 7, 2], [8, 9, 2, -100]]), "speaker_labels": torch.tensor([0, 2])}
    else:
        model = MMEmbedForEmotionRecognition(encoder_config())
        targets = {"labels": torch.tensor([[1.0, 0, 0, 1, 0, 0], [0, 1, 0, 0, 0, 1]])}
    model.gradient_checkpointing_enable()
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    before = {name: value.detach().clone() for name, value in model.named_parameters()}
    losses = []
    for _ in range(4):
        loss = model(**inputs, **targets).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(float(loss))
    assert losses[-1] < losses[0]
    moved = {name for name, value in model.named_parameters() if not torch.equal(value, before[name])}
    for part in ("audio_encoder.model.encoder.layers.0", "audio_encoder.layers.layer_logits",
                 "text_encoder.model.encoder.layer.0", "text_encoder.layers.layer_logits"):  # fmt: skip
        assert any(part in name for name in moved), part


def test_generate_reads_the_waveform_as_the_main_input():
    torch.manual_seed(0)
    model = MMEmbedForPreTraining(encoder_config(num_speakers=3)).eval()
    assert model.main_input_name == "input_values" and model.mmembed.main_input_name == "input_values"
    inputs = batch()
    memory = model.get_encoder()(input_values=inputs["input_values"], attention_mask=inputs["attention_mask"])
    alone = model.get_encoder()(input_values=inputs["input_values"][1:, :12000])
    frames = alone.attention_mask.shape[1]
    torch.testing.assert_close(memory.last_hidden_state[1:, :frames], alone.last_hidden_state, atol=1e-5, rtol=1e-5)
    tokens = model.generate(input_values=inputs["input_values"], attention_mask=inputs["attention_mask"],
                            max_new_tokens=5, num_beams=2)  # fmt: skip
    assert tokens.shape == (2, 6)


def test_layerdrop_is_off_where_every_layer_is_weighted():
    speech = SPEECH_CONFIGS["wav2vec2"]()
    speech.layerdrop = 0.9
    config = MMEmbedConfig.from_preset("tiny", audio_encoder=speech.to_dict(), audio_subsampling=2)
    model = MMEmbedForEmotionRecognition(config).train()
    assert model.mmembed.audio_encoder.model.config.layerdrop == 0.0 and config.audio_encoder["layerdrop"] == 0.0
    for seed in range(5):  # with LayerDrop 0.9 some layer would be dropped in one of these
        torch.manual_seed(seed)
        model(input_values=torch.randn(2, 8000)).logits.sum().backward()
