"""MMEmbedForPreTraining: ASR decoder with generate(), person id, the multi-task loss and no text leakage."""

import pytest
import torch
from transformers import AutoModelForPreTraining

from modeling_mmembed import MMEmbedForEmotionRecognition, MMEmbedForPreTraining

from .conftest import padded_batch, perturb_, tiny_config
from .remote_code import load_with_remote_code

LENGTHS = {"audio": [61, 47, 53], "visual": [15, 12, 13], "text": [9, 7, 8]}
TRANSCRIPTS = [[5, 6, 7, 4, 8, 9], [10, 11, 4, 12], [13, 13, 14, 4, 15, 16, 17]]  # ids of characters, 4 = space
EOS, PAD = 2, 0


def transcript_labels(transcripts=TRANSCRIPTS) -> torch.Tensor:
    """Character ids followed by eos, padded with -100: the `labels` the tokenizer produces."""
    width = max(len(ids) for ids in transcripts) + 1
    labels = torch.full((len(transcripts), width), -100)
    for index, ids in enumerate(transcripts):
        labels[index, : len(ids) + 1] = torch.tensor(ids + [EOS])
    return labels


def pretraining_model(**overrides) -> MMEmbedForPreTraining:
    torch.manual_seed(0)
    fields = {"num_speakers": 3, **overrides}
    return MMEmbedForPreTraining(tiny_config(**fields))


def overfit(model: MMEmbedForPreTraining, batch: dict, steps: int, learning_rate: float = 3e-3) -> list[dict]:
    """Train on one batch; returns the loss components before the first and after the last step."""
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate)
    history = []
    for _ in range(steps):
        optimizer.zero_grad()
        output = model(**batch)
        output.loss.backward()
        optimizer.step()
        history.append(output)
    model.eval()
    with torch.no_grad():
        history.append(model(**batch))
    return [history[0], history[-1]]


def strip_generated(tokens: torch.Tensor) -> list[list[int]]:
    """Generated ids without the start token, cut at eos."""
    sequences = []
    for row in tokens.tolist():
        row = row[1:]
        sequences.append(row[: row.index(EOS)] if EOS in row else row)
    return sequences


@pytest.fixture(scope="module")
def memorised():
    """A pre-training model (with CTC) overfitted on three utterances, with the batch and the first/last outputs."""
    model = pretraining_model(ctc_loss_weight=0.3)
    batch = padded_batch(LENGTHS, seed=3)
    batch.update(labels=transcript_labels(), speaker_labels=torch.tensor([0, 2, 1]))
    first, last = overfit(model, batch, steps=250)
    return model, batch, first, last


def test_each_loss_component_falls_by_90_percent(memorised):
    _, _, first, last = memorised
    for name in ("asr_loss", "ctc_loss", "speaker_loss", "loss"):
        assert getattr(last, name).item() < 0.1 * getattr(first, name).item(), name


def test_total_is_the_weighted_sum_of_the_components(memorised):
    model, _, _, last = memorised
    config = model.config
    asr = (1 - config.ctc_loss_weight) * last.asr_loss + config.ctc_loss_weight * last.ctc_loss
    expected = config.asr_loss_weight * asr + config.speaker_loss_weight * last.speaker_loss
    torch.testing.assert_close(last.loss, expected)
    assert (config.asr_loss_weight, config.speaker_loss_weight) == (0.8, 0.2)


@pytest.mark.parametrize("num_beams", [1, 3])
@pytest.mark.parametrize("ctc_weight", [None, 0.0, 1.0])  # None: the default, joint decoding with the training share
def test_generate_reproduces_the_memorised_transcripts(memorised, num_beams, ctc_weight):
    model, batch, _, _ = memorised
    inputs = {key: value for key, value in batch.items() if key not in ("labels", "speaker_labels")}
    inputs.update(num_beams=num_beams, max_new_tokens=12, ctc_weight=ctc_weight)
    with torch.no_grad():
        cached = model.generate(**inputs)
        uncached = model.generate(**inputs, use_cache=False)
    assert strip_generated(cached) == TRANSCRIPTS
    assert torch.equal(cached, uncached)


def test_get_encoder_produces_exactly_the_decoder_memory(memorised):
    model, batch, _, _ = memorised
    with torch.no_grad():
        forward = model(**batch)
        encoder = model.get_encoder()(
            input_features=batch["input_features"],
            attention_mask=batch["attention_mask"],
            visual_features=batch["visual_features"],
            visual_attention_mask=batch["visual_attention_mask"],
        )
    torch.testing.assert_close(encoder.last_hidden_state, forward.encoder_last_hidden_state, atol=0, rtol=0)
    assert torch.equal(encoder.attention_mask, forward.encoder_attention_mask)


@pytest.mark.parametrize("asr_memory", ["audio+visual", "audio"])
def test_asr_loss_never_sees_the_text_but_person_id_does(asr_memory):
    """Text features set to the transcript's embedding: zero ASR gradient, non-zero person-id gradient."""
    model = perturb_(pretraining_model(asr_memory=asr_memory, ctc_loss_weight=0.3))
    model.train()
    batch = padded_batch({"audio": LENGTHS["audio"], "visual": LENGTHS["visual"]}, seed=4)
    labels = transcript_labels()
    transcript_embedding = torch.nn.Embedding(model.config.vocab_size, 11)
    text = transcript_embedding(labels.clamp(min=0)).detach().requires_grad_(True)
    text_mask = (labels != -100).long()
    output = model(
        **batch,
        text_features=text,
        text_attention_mask=text_mask,
        labels=labels,
        speaker_labels=torch.tensor([0, 1, 2]),
    )
    asr_total = output.asr_loss + output.ctc_loss
    (asr_gradient,) = torch.autograd.grad(asr_total, text, retain_graph=True, allow_unused=True)
    assert asr_gradient is None or torch.count_nonzero(asr_gradient) == 0
    (speaker_gradient,) = torch.autograd.grad(output.speaker_loss, text)
    assert torch.count_nonzero(speaker_gradient) > 0


def test_loss_is_built_from_the_labels_given():
    model = perturb_(pretraining_model())
    batch = padded_batch(LENGTHS)
    only_speakers = model(**batch, speaker_labels=torch.tensor([0, 1, 2]))
    assert only_speakers.asr_loss is None and only_speakers.logits is None
    torch.testing.assert_close(only_speakers.loss, 0.2 * only_speakers.speaker_loss)
    only_asr = model(**batch, labels=transcript_labels())
    assert only_asr.speaker_loss is None and only_asr.ctc_loss is None
    torch.testing.assert_close(only_asr.loss, 0.8 * only_asr.asr_loss)
    assert model(**batch).loss is None


def test_token_loss_does_not_depend_on_how_the_batch_is_split():
    """With `num_items_in_batch` (the global token count) the halves' losses add up to the whole batch's."""
    model = perturb_(pretraining_model(ctc_loss_weight=0.5))
    batch = padded_batch(LENGTHS)
    labels = transcript_labels()
    num_items = int((labels != -100).sum())
    whole = model(**batch, labels=labels, num_items_in_batch=num_items)
    halves = [
        model(**{k: v[part] for k, v in batch.items()}, labels=labels[part], num_items_in_batch=num_items)
        for part in (slice(0, 1), slice(1, 3))
    ]
    for name in ("asr_loss", "ctc_loss"):
        torch.testing.assert_close(getattr(whole, name), sum(getattr(half, name) for half in halves))
    unnormalised = model(**batch, labels=labels)
    torch.testing.assert_close(unnormalised.asr_loss, whole.asr_loss)


def test_label_smoothing_raises_the_loss_of_confident_predictions(memorised):
    model, batch, _, last = memorised
    model.config.label_smoothing = 0.2
    try:
        with torch.no_grad():
            smoothed = model(**batch)
    finally:
        model.config.label_smoothing = 0.0
    assert smoothed.asr_loss > last.asr_loss + 0.1


def test_save_load_and_remote_code_generate_the_same_tokens(memorised, tmp_path):
    model, batch, _, _ = memorised
    inputs = {key: value for key, value in batch.items() if key not in ("labels", "speaker_labels")}
    with torch.no_grad():
        expected = model.generate(**inputs, num_beams=2, max_new_tokens=12)
    model.save_pretrained(tmp_path / "model")
    assert (tmp_path / "model" / "generation_config.json").exists()
    reloaded = AutoModelForPreTraining.from_pretrained(tmp_path / "model").eval()
    assert type(reloaded) is MMEmbedForPreTraining
    assert reloaded.lm_head.weight.data_ptr() == reloaded.decoder.embed_tokens.weight.data_ptr()
    with torch.no_grad():
        assert torch.equal(reloaded.generate(**inputs, num_beams=2, max_new_tokens=12), expected)
    loaded_class, remote_tokens = load_with_remote_code(
        tmp_path / "model", inputs, "AutoModelForPreTraining", "generate", tmp_path
    )
    assert loaded_class == "MMEmbedForPreTraining"
    assert torch.equal(remote_tokens, expected)


def test_pretraining_checkpoint_transfers_its_encoder_to_the_emotion_head(memorised, tmp_path):
    model, _, _, _ = memorised
    model.save_pretrained(tmp_path)
    emotion, loading_info = MMEmbedForEmotionRecognition.from_pretrained(tmp_path, output_loading_info=True)
    assert {key.split(".")[0] for key in loading_info["missing_keys"]} == {"classifier"}
    assert any(key.startswith("decoder.") for key in loading_info["unexpected_keys"])
    for name, parameter in model.mmembed.state_dict().items():
        torch.testing.assert_close(emotion.mmembed.state_dict()[name], parameter, atol=0, rtol=0)


def test_num_speakers_is_required():
    with pytest.raises(ValueError, match="num_speakers"):
        MMEmbedForPreTraining(tiny_config())


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        (
            {"labels": torch.tensor([[5, 6, 42], [5, 2, -100], [7, 2, -100]])},
            r"labels \(ASR\) hold ids outside the vocabulary \[0, 42\) \(and not -100\): \[42\] in samples \[0\]",
        ),
        ({"labels": torch.tensor([[5, -7, 2], [5, 2, -100], [7, 2, -100]])}, r"outside the vocabulary.*\[-7\]"),
        (
            {"labels": torch.full((3, 300), 5)},
            r"labels \(ASR\) are 300 tokens long; the decoder's maximum is max_target_positions=256",
        ),
        (
            {"speaker_labels": torch.tensor([0, 3, 1])},
            r"speaker_labels must lie in \[0, num_speakers=3\); got \[3\] in samples \[1\]",
        ),
        ({"speaker_labels": torch.tensor([0.0, 1.0, 1.0])}, "speaker_labels must be integer speaker indices"),
        (
            {"labels": torch.zeros(2, 4, dtype=torch.long)},
            r"labels \(ASR\) must be integer character ids of shape \(3",
        ),
        ({"labels": [[5, 6, 2]] * 3}, r"labels \(ASR\) must be a torch.Tensor; got list"),
        ({"speaker_labels": [0, 1, 2]}, r"speaker_labels must be a torch.Tensor; got list"),
        (
            {"decoder_input_ids": torch.tensor([[1, 5, 42], [1, 5, 6], [1, 7, 8]])},
            r"decoder_input_ids must lie in \[0, 42\); got values \[42\]",
        ),
        (
            {"decoder_input_ids": torch.tensor([[1, 5], [1, 5], [1, 7]], dtype=torch.uint8)},
            r"decoder_input_ids must be int64 \(or int32\) token ids",
        ),
    ],
)
def test_bad_labels_raise_value_error(inputs, message):
    model = pretraining_model()
    with pytest.raises(ValueError, match=message):
        model(**padded_batch(LENGTHS), **inputs)


def test_ctc_refuses_a_memory_shorter_than_the_transcript():
    model = pretraining_model(ctc_loss_weight=0.5)
    batch = padded_batch({"audio": [8, 61, 47]})  # 8 frames -> 2 memory frames for 6 characters
    with pytest.raises(ValueError, match=r"CTC: samples \[0\] .* \(sample 0: 2 frames for 6 characters, needs 6\)"):
        model(**batch, labels=transcript_labels())


def test_ctc_counts_a_blank_between_repeated_characters():
    model = pretraining_model(ctc_loss_weight=0.5)
    batch = padded_batch({"audio": [16, 61, 47]})  # 16 frames -> 4 memory frames
    distinct, repeated = [10, 11, 12, 13], [10, 11, 11, 13]  # "ll" needs a blank between: 5 frames
    model(**batch, labels=transcript_labels([distinct, distinct, distinct]))
    with pytest.raises(ValueError, match=r"CTC: samples \[0\] .* \(sample 0: 4 frames for 4 characters, needs 5\)"):
        model(**batch, labels=transcript_labels([repeated, distinct, distinct]))


@pytest.mark.parametrize("ctc_weight", [-0.5, 1.5])
def test_generate_refuses_a_ctc_weight_outside_0_1(memorised, ctc_weight):
    model, batch, _, _ = memorised
    with pytest.raises(ValueError, match=rf"ctc_weight .* must lie in \[0, 1\]; got {ctc_weight}"):
        model.generate(input_features=batch["input_features"], ctc_weight=ctc_weight, max_new_tokens=3)


@pytest.mark.parametrize("ctc_weight", [0.0, 0.3])
def test_generate_refuses_an_empty_batch(memorised, ctc_weight):
    model, batch, _, _ = memorised
    with pytest.raises(ValueError, match=r"input_features \(audio\) has batch size 0"):
        model.generate(input_features=batch["input_features"][:0], ctc_weight=ctc_weight, max_new_tokens=3)


def test_joint_decoding_takes_eos_from_the_generation_config(memorised, monkeypatch):
    import modeling_mmembed.modeling_mmembed as modeling

    model, batch, _, _ = memorised
    seen = []
    original = modeling.MMEmbedCTCPrefixScorer

    def recording(*args, **kwargs):
        seen.append(kwargs["eos_token_id"])
        return original(*args, **kwargs)

    monkeypatch.setattr(modeling, "MMEmbedCTCPrefixScorer", recording)
    audio = {"input_features": batch["input_features"], "attention_mask": batch["attention_mask"]}
    model.generation_config.eos_token_id = None  # no end token: hypotheses run to the length limit
    try:
        tokens = model.generate(**audio, ctc_weight=0.3, max_new_tokens=5)
        assert tokens.shape == (3, 6)
        model.generate(**audio, ctc_weight=0.3, max_new_tokens=5, eos_token_id=[2, 3])
    finally:
        model.generation_config.eos_token_id = EOS
    assert seen == [None, [2, 3]]


def test_emotion_label_checks_read_no_values_in_an_accelerator_training_step():
    """On a device the host cannot read without a sync (meta here) the range check is skipped, not evaluated."""
    from modeling_mmembed.input_validation_mmembed import check_emotion_labels

    config = tiny_config()
    labels = torch.zeros(2, 6, device="meta")
    with torch.enable_grad():
        assert check_emotion_labels(config, labels, batch_size=2) is labels
    with pytest.raises(ValueError, match=r"presence values in \[0, 1\]"):
        check_emotion_labels(config, torch.full((2, 6), 2.0), batch_size=2)
