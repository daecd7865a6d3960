"""Pretrained speech and text encoders inside MMEmbed (`config.audio_encoder` / `text_encoder`), with tiny random
configs of WavLM, HuBERT, wav2vec 2.0, BERT and RoBERTa built here (no download)."""

import numpy as np
import pytest
import torch
from transformers import BertConfig, HubertConfig, RobertaConfig, Wav2Vec2Config, WavLMConfig, WavLMModel

from modeling_mmembed import MMEmbedConfig, MMEmbedForEmotionRecognition, MMEmbedForPreTraining
from modeling_mmembed.audio_mmembed import resample
from modeling_mmembed.onnx_mmembed import export_onnx

from .remote_code import load_with_remote_code

SPEECH = {"num_hidden_layers": 2, "hidden_size": 32, "num_attention_heads": 2, "intermediate_size": 64,
          "conv_dim": (16, 16, 16), "conv_stride": (5, 8, 8), "conv_kernel": (10, 8, 8),
          "num_conv_pos_embeddings": 16, "num_conv_pos_embedding_groups": 2, "feat_extract_norm": "layer"}  # fmt: skip
"""A tiny speech encoder with the real ones' 320-sample stride: 50 frames per second of 16 kHz audio."""
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
    from mmembed_training.arguments import RunArguments
    from mmembed_training.models import encoder_processor

    run = RunArguments(text_encoder="mmembed-tests/no-such-text-model")  # train.py's tokenizer of the encoder
    with pytest.raises(
        ValueError, match=r"(?s)--text_encoder='mmembed-tests/no-such-text-model' could not .*hf download"
    ):
        encoder_processor(run)


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
    model.activation_checkpointing_enable()
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


# --- The processor, pipelines, handler and train.py of a model with pretrained encoders (local folders, no download)

LETTERS = list("abcdefghijklmnopqrstuvwxyz0123456789'")
WORDPIECES = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *LETTERS, *(f"##{letter}" for letter in LETTERS)]


@pytest.fixture(scope="module")
def encoder_folders(tmp_path_factory) -> dict:
    """A tiny random WavLM with its feature extractor, and a tiny random BERT with a letter-piece tokenizer, saved as
    `save_pretrained` saves a Hub model (what `--audio_encoder` / `--text_encoder` take)."""
    from transformers import BertModel, BertTokenizer, Wav2Vec2FeatureExtractor

    root = tmp_path_factory.mktemp("encoders")
    torch.manual_seed(0)
    WavLMModel(SPEECH_CONFIGS["wavlm"]()).save_pretrained(root / "wavlm")
    Wav2Vec2FeatureExtractor(return_attention_mask=True).save_pretrained(root / "wavlm")
    (root / "bert").mkdir()
    (root / "bert" / "vocab.txt").write_text("\n".join(WORDPIECES) + "\n")
    BertTokenizer(str(root / "bert" / "vocab.txt")).save_pretrained(root / "bert")
    BertModel(BertConfig(**{**TEXT, "vocab_size": len(WORDPIECES)})).save_pretrained(root / "bert")
    return {"audio": str(root / "wavlm"), "text": str(root / "bert")}


def processor_of(folders: dict):
    """The processor of a model with the encoders in `folders`: their own feature extractor and tokenizer."""
    from transformers import AutoFeatureExtractor, AutoTokenizer

    from modeling_mmembed import MMEmbedProcessor, MMEmbedTokenizer

    extractor = AutoFeatureExtractor.from_pretrained(folders["audio"])
    return MMEmbedProcessor(extractor, MMEmbedTokenizer(), AutoTokenizer.from_pretrained(folders["text"]))


@pytest.fixture(scope="module")
def emotion_dir(encoder_folders, tmp_path_factory):
    """An emotion model with both encoders that learned the pipeline tests' three clips (with and without text)."""
    from .test_pipelines import EMOTIONS, TRANSCRIPTS, clips, emotion_targets, train

    config = MMEmbedConfig.from_preset(
        "tiny", audio_encoder=encoder_folders["audio"], text_encoder=encoder_folders["text"], audio_subsampling=2,
        hidden_dropout=0.0, attention_dropout=0.0, modalities=["audio", "text"],
    )  # fmt: skip
    torch.manual_seed(0)
    model = MMEmbedForEmotionRecognition(config)
    processor = processor_of(encoder_folders)
    labels = emotion_targets(config)
    with_text = dict(processor(audio=clips(), sampling_rate=16000, text=TRANSCRIPTS, return_tensors="pt"))
    audio_only = dict(processor(audio=clips(), sampling_rate=16000, return_tensors="pt"))
    train(model, [with_text | {"labels": labels}, audio_only | {"labels": labels}], steps=150)
    with torch.no_grad():
        for inputs in (with_text, audio_only):
            present = model(**inputs).logits.sigmoid() >= 0.5
            assert [{config.id2label[i] for i in row.nonzero().flatten().tolist()} for row in present] == [
                set(names) for names in EMOTIONS
            ]  # learned: the pipelines below must give these answers
    directory = tmp_path_factory.mktemp("emotion-encoders") / "model"
    model.save_pretrained(directory)
    processor.save_pretrained(directory)
    return directory


def test_the_processor_makes_the_encoders_inputs_and_reloads(encoder_folders, tmp_path):
    from transformers import AutoProcessor, Wav2Vec2FeatureExtractor

    processor = processor_of(encoder_folders)
    audio = np.random.default_rng(0).standard_normal(22050).astype(np.float32)
    batch = processor(audio=[audio, audio[:11025]], sampling_rate=22050, text=["well done", None],
                      transcript=["well done", "hi"])  # fmt: skip
    assert batch["input_values"].shape == (2, 16000) and batch["attention_mask"][1].sum() == 8000
    waveform = resample(audio, 22050, 16000)
    expected = Wav2Vec2FeatureExtractor(return_attention_mask=True)(waveform, sampling_rate=16000)["input_values"][0]
    np.testing.assert_allclose(batch["input_values"][0], expected, rtol=1e-5, atol=1e-6)  # its own normalisation
    tokens = processor.text_tokenizer.convert_ids_to_tokens(
        batch["text_input_ids"][0][: batch["text_attention_mask"][0].sum()]
    )
    assert tokens == ["[CLS]", "w", "##e", "##l", "##l", "d", "##o", "##n", "##e", "[SEP]"]
    assert batch["text_attention_mask"][1].sum() == 0 and "input_features" not in batch
    assert (
        processor.tokenizer.decode(batch["labels"][0][batch["labels"][0] >= 0], skip_special_tokens=True)
        == "well done"
    )
    processor.save_pretrained(tmp_path)
    assert (tmp_path / "text_tokenizer" / "tokenizer_config.json").is_file()
    reloaded = AutoProcessor.from_pretrained(tmp_path)
    again = reloaded(audio=[audio, audio[:11025]], sampling_rate=22050, text=["well done", None],
                     transcript=["well done", "hi"])  # fmt: skip
    assert type(reloaded.feature_extractor).__name__ == "Wav2Vec2FeatureExtractor"
    for name, value in batch.items():
        np.testing.assert_array_equal(again[name], value, err_msg=name)


def test_pipelines_and_handler_take_raw_audio_and_transcripts(emotion_dir):
    from transformers import pipeline

    from .test_pipelines import EMOTIONS, TRANSCRIPTS, clips, module_from_file, wav_base64

    emotion = pipeline("multimodal-emotion-recognition", model=str(emotion_dir), trust_remote_code=True)
    classifier = pipeline("audio-classification", model=str(emotion_dir), trust_remote_code=True, top_k=None)
    handler = module_from_file(emotion_dir / "handler.py").EndpointHandler(str(emotion_dir))
    for clip, transcript, names in zip(clips(), TRANSCRIPTS, EMOTIONS, strict=True):
        for inputs in ({"audio": clip, "sampling_rate": 16000, "transcript": transcript}, {"audio": clip}):
            assert {item["label"] for item in emotion(inputs) if item["present"]} == set(names)
        assert {item["label"] for item in classifier(clip) if item["score"] >= 0.5} == set(names)
        response = handler({"inputs": {"audio": wav_base64(clip), "transcript": transcript}})
        assert {item["label"] for item in response if item["present"]} == set(names)
    # the transcript reaches the text encoder: the scores are the model's on the processor's text inputs
    model, processor = emotion.model, emotion.processor
    with torch.no_grad():
        for text in ("good morning", None):
            batch = processor(audio=[clips()[0]], sampling_rate=16000, text=[text], return_tensors="pt")
            expected = model(**batch).logits.sigmoid()[0].tolist()
            scores = [item["score"] for item in emotion({"audio": clips()[0], "transcript": text})]
            np.testing.assert_allclose(scores, expected, rtol=1e-5, atol=1e-6)
    without = [item["score"] for item in emotion({"audio": clips()[0]})]
    with_text = [item["score"] for item in emotion({"audio": clips()[0], "transcript": "good morning"})]
    assert not np.allclose(with_text, without, atol=1e-4)


LOAD_PIPELINE = """
import numpy as np, transformers

directory = sys.argv[1]
emotion = transformers.pipeline("multimodal-emotion-recognition", model=directory, trust_remote_code=True)
assert "modeling_mmembed" not in sys.modules
audio = np.load(f"{directory}/../audio.npy")
scores = [item["score"] for item in emotion({"audio": audio, "sampling_rate": 16000, "transcript": "see you soon"})]
np.save(f"{directory}/../remote_scores.npy", np.array(scores))
print(type(emotion.processor.feature_extractor).__name__, type(emotion.processor.text_tokenizer).__name__)
"""


def test_the_pipeline_runs_from_the_checkpoint_alone_with_remote_code(emotion_dir, tmp_path):
    from transformers import pipeline

    from .remote_code import run_without_installed_package
    from .test_pipelines import clips

    np.save(emotion_dir.parent / "audio.npy", clips()[1])
    names = run_without_installed_package(LOAD_PIPELINE, [emotion_dir], tmp_path)
    assert names == "Wav2Vec2FeatureExtractor BertTokenizer"
    local = pipeline("multimodal-emotion-recognition", model=str(emotion_dir), trust_remote_code=True)
    scores = [
        item["score"] for item in local({"audio": clips()[1], "sampling_rate": 16000, "transcript": "see you soon"})
    ]
    np.testing.assert_allclose(np.load(emotion_dir.parent / "remote_scores.npy"), scores, rtol=1e-5, atol=1e-6)


def test_a_corpus_is_made_as_the_processor_makes_inputs(encoder_folders, demo_root, tmp_path):
    from data_scripts.demo_corpus import load_demo_emotion
    from data_scripts.pretraining_corpus import read_manifest

    processor = processor_of(encoder_folders)
    made_by = {"feature_extractor": processor.feature_extractor, "text_tokenizer": processor.text_tokenizer}
    corpus = load_demo_emotion(demo_root / "emotion", cache_dir=tmp_path, **made_by)
    assert "input_values" in corpus["train"].column_names and "input_features" not in corpus["train"].column_names
    example = corpus["train"].with_format("numpy")[0]
    row = next(
        row for row in read_manifest(demo_root / "emotion" / "labels.jsonl") if f"{row['id']}[0]" == example["id"]
    )
    made = processor(audio=row["audio"], text=row["transcript"])
    np.testing.assert_allclose(example["input_values"], made["input_values"][0], rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(example["text_input_ids"], made["text_input_ids"][0])


def test_corpora_that_come_as_features_refuse_the_encoders(encoder_folders, demo_root, tmp_path):
    from mmembed_training import cli

    refusal = r"--corpus demo-mosei comes as features; pretrained encoders .* use --corpus demo / dataset / manifest"
    with pytest.raises(ValueError, match=refusal):
        cli.main(["--stage", "emotion", "--corpus", "demo-mosei", "--demo_root", str(demo_root), "--output_dir",
                  str(tmp_path), "--audio_encoder", encoder_folders["audio"], "--max_steps", "1"])  # fmt: skip


def test_both_stages_train_with_the_encoders_and_save_what_loads_offline(encoder_folders, demo_root, tmp_path):
    from huggingface_hub import ModelCard
    from transformers import AutoProcessor

    from mmembed_training import cli

    common = ["--demo_root", str(demo_root), "--dataset_cache_dir", str(tmp_path / "cache"), "--report_to", "none",
              "--per_device_train_batch_size", "4", "--per_device_eval_batch_size", "16", "--max_steps", "2",
              "--eval_strategy", "no", "--save_strategy", "no"]  # fmt: skip
    pretrained = cli.main(["--stage", "pretrain", "--output_dir", str(tmp_path / "pretrain"), *common,
                           "--audio_encoder", encoder_folders["audio"], "--text_encoder", encoder_folders["text"],
                           "--encoder_learning_rate", "1e-4", "--activation_checkpointing", "--num_beams", "1",
                           "--max_heldout_utterances", "8"])  # fmt: skip
    assert np.isfinite(pretrained["validation"]["cer"]) and pretrained["training_compute"]["train_seconds"] > 0
    tuned = cli.main(["--stage", "emotion", "--output_dir", str(tmp_path / "emotion"), *common,
                      "--model_name_or_path", str(tmp_path / "pretrain")])  # fmt: skip
    assert 0 <= tuned["validation"]["mean_auc"] <= 1
    folder = tmp_path / "emotion"
    model = MMEmbedForEmotionRecognition.from_pretrained(folder)
    assert model.config.audio_encoder["model_type"] == "wavlm" and model.config.text_encoder["model_type"] == "bert"
    assert model.config.audio_subsampling == 2  # 50 Hz encoder frames -> the fbank stream's 25 Hz
    processor = AutoProcessor.from_pretrained(folder)
    assert type(processor.text_tokenizer).__name__ == "BertTokenizer" and processor.reads_waveforms
    card = ModelCard.load(folder / "README.md")
    assert "Its speech encoder started from `wavlm`" in card.text and "text encoder `bert`" in card.text
    assert '"transcript": "what a day"' in card.text  # the usage example gives text as a string
    again = cli.main(["--stage", "emotion", "--output_dir", str(tmp_path / "again"), *common,
                      "--model_name_or_path", str(folder)])  # fmt: skip  # its text branch is carried over
    assert np.isfinite(again["validation"]["mean_auc"])


def test_the_encoders_learn_at_their_own_rate(tmp_path):
    from transformers import TrainingArguments

    from mmembed_training.trainer import MMEmbedTrainer, pretrained_encoder_parameters

    model = MMEmbedForEmotionRecognition(encoder_config(freeze_audio_encoder="feature_encoder"))
    arguments = TrainingArguments(str(tmp_path), learning_rate=1e-3, weight_decay=0.01, use_cpu=True, report_to=[])
    optimizer = MMEmbedTrainer(model=model, args=arguments, encoder_learning_rate=1e-5).create_optimizer()
    encoders = {id(value) for value in pretrained_encoder_parameters(model)}
    grouped = [id(value) for group in optimizer.param_groups for value in group["params"]]
    assert sorted(grouped) == sorted(id(value) for value in model.parameters() if value.requires_grad)
    for group in optimizer.param_groups:
        inside = {id(value) in encoders for value in group["params"]}
        assert len(inside) == 1 and group["lr"] == (1e-5 if inside == {True} else 1e-3)
    assert {group["weight_decay"] for group in optimizer.param_groups} == {0.0, 0.01}
    fbank_model = MMEmbedForEmotionRecognition(MMEmbedConfig.from_preset("tiny"))
    with pytest.raises(ValueError, match="--encoder_learning_rate is set, but the model has no pretrained encoder"):
        MMEmbedTrainer(model=fbank_model, args=arguments, encoder_learning_rate=1e-5)


def test_the_speech_recognition_pipeline_transcribes_raw_audio_as_generate_does(encoder_folders, tmp_path):
    from transformers import pipeline

    from .test_pipelines import clips

    config = MMEmbedConfig.from_preset("tiny", audio_encoder=encoder_folders["audio"], audio_subsampling=2,
                                       num_speakers=3, modalities=["audio"])  # fmt: skip
    torch.manual_seed(0)
    model = MMEmbedForPreTraining(config).eval()
    processor = processor_of(encoder_folders)
    model.save_pretrained(tmp_path / "model")
    processor.save_pretrained(tmp_path / "model")
    asr = pipeline("automatic-speech-recognition", model=str(tmp_path / "model"), trust_remote_code=True)
    clip = clips()[0]
    with torch.no_grad():
        inputs = processor(audio=[clip], sampling_rate=16000, return_tensors="pt")
        tokens = model.generate(**inputs, max_new_tokens=8, num_beams=3)
    expected = processor.batch_decode(tokens, skip_special_tokens=True)[0]
    assert asr(clip, generate_kwargs={"max_new_tokens": 8, "num_beams": 3})["text"] == expected and expected
