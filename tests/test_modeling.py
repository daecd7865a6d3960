"""MMEmbedModel and MMEmbedForEmotionRecognition: padding, missing modalities, attention back-ends, training."""

import copy

import numpy as np
import pytest
import torch

from modeling_mmembed import MMEmbedForEmotionRecognition, MMEmbedModel

from .conftest import padded_batch, perturb_, sample, tiny_config

# Lengths deliberately not multiples of the subsampling factor (4).
LENGTHS = {"audio": [23, 9, 17], "visual": [11, 4, 7], "text": [5, 3, 6]}


def emotion_model(**overrides) -> MMEmbedForEmotionRecognition:
    torch.manual_seed(0)
    return perturb_(MMEmbedForEmotionRecognition(tiny_config(**overrides)))


def drop_modality(batch: dict, modality: str) -> dict:
    prefix = {"visual": "visual_", "text": "text_"}[modality]
    return {key: value for key, value in batch.items() if not key.startswith(prefix)}


EXTENSIONS = {
    "paper": {},
    "source kernel 5": {"source_kernel_size": 5},
    "source self-attention": {"num_source_layers": 2},
    "branches from the source alone": {"cross_modal_residual": False, "num_cross_modal_layers": 2},
    "aligned positions": {"source_positions": "aligned"},
    "time-local cross-attention": {"cross_modal_locality": 0.5, "source_positions": "aligned"},
    "fusion self-attention": {"num_fusion_layers": 1},
    "attention pooling": {"pooling": "attention"},
    "learned branch weights": {"learn_modality_weights": True},
    "modality dropout": {"modality_dropout": 0.3},
    "branch losses": {"branch_loss_weight": 0.5},
    "all": {
        "cross_modal_residual": False,
        "source_kernel_size": 5,
        "num_source_layers": 1,
        "source_positions": "aligned",
        "cross_modal_locality": 0.5,
        "num_fusion_layers": 1,
        "pooling": "attention",
        "learn_modality_weights": True,
    },
}
"""The published method and each extension of it (config fields), alone and together."""


@pytest.mark.parametrize("extension", list(EXTENSIONS))
@pytest.mark.parametrize("padded_modality", ["audio", "visual", "text"])
def test_padding_invariance(padded_modality, extension):
    """A sample alone equals the same sample inside a batch whose padding holds random non-zero values."""
    model = emotion_model(**EXTENSIONS[extension])
    lengths = {m: ([max(LENGTHS[m])] * 3 if m != padded_modality else LENGTHS[m]) for m in LENGTHS}
    batch = padded_batch(lengths)
    with torch.no_grad():
        batched = model.mmembed(**batch)
        batched_logits = model(**batch).logits
        for index in range(3):
            alone = sample(batch, index)
            single = model.mmembed(**alone)
            torch.testing.assert_close(single.pooler_output[0], batched.pooler_output[index], atol=1e-5, rtol=0)
            torch.testing.assert_close(model(**alone).logits[0], batched_logits[index], atol=1e-5, rtol=0)


def test_subsampled_mask_counts_real_frames():
    model = emotion_model()
    output = model.mmembed(**padded_batch(LENGTHS))
    assert output.attention_mask.sum(-1).tolist() == [6, 3, 5]  # ceil(length / 4)
    assert output.last_hidden_state.shape == (3, 6, 32)
    padded = ~output.attention_mask
    assert torch.all(output.last_hidden_state[padded] == 0)


@pytest.mark.parametrize("extension", ["paper", "all"])
@pytest.mark.parametrize("missing", ["visual", "text"])
def test_missing_modality_per_sample_equals_run_without_it(missing, extension):
    model = emotion_model(**EXTENSIONS[extension])
    batch = padded_batch(LENGTHS)
    mask_name = f"{missing}_attention_mask"
    batch[mask_name][1] = 0
    with torch.no_grad():
        batched = model.mmembed(**batch)
        without = model.mmembed(**drop_modality(sample(batch, 1), missing))
        with_it = model.mmembed(**sample(batch, 0))
    torch.testing.assert_close(batched.pooler_output[1], without.pooler_output[0], atol=1e-5, rtol=0)
    torch.testing.assert_close(batched.pooler_output[0], with_it.pooler_output[0], atol=1e-5, rtol=0)
    index = model.config.modalities.index(missing)
    assert batched.modality_weights[1, index] == 0
    assert batched.modality_weights[0, index] > 0
    torch.testing.assert_close(batched.modality_weights.sum(-1), torch.ones(3))


def test_aligned_positions_spread_each_source_over_its_sample_s_audio():
    from modeling_mmembed.modeling_mmembed import aligned_positions

    audio = torch.tensor([[1] * 100 + [0] * 20, [1] * 50 + [0] * 70]).bool()
    visual = torch.tensor([[1] * 120 + [0] * 5, [1] * 25 + [0] * 100]).bool()
    positions = aligned_positions(visual, audio)
    assert positions.shape == (2, 125)
    torch.testing.assert_close(positions[0, :120], (torch.arange(120) + 0.5) * 100 / 120 - 0.5)  # 30 Hz onto 25 Hz
    torch.testing.assert_close(positions[1, :25], torch.arange(25) * 2.0 + 0.5)  # 25 frames over 50
    assert positions[0, 0] > -0.5 and positions[0, 119] < 99.5  # within the audio frames


def test_aligned_positions_put_a_source_event_at_the_audio_time_it_happens():
    """With aligned positions, the visual frames an audio frame attends to most are the ones at its own time."""
    model = emotion_model(source_positions="aligned", attn_implementation="eager")
    source = model.mmembed.source_embeddings["visual"]
    mask = torch.ones(1, 30, dtype=torch.bool)
    from modeling_mmembed.modeling_mmembed import aligned_positions, sinusoidal_positions

    with torch.no_grad():
        positions = aligned_positions(mask, torch.ones(1, 25, dtype=torch.bool))
        placed = source.positions.dropout(sinusoidal_positions(25, 32, positions.device))  # audio positions 0..24
        keys = source.positions(torch.zeros(1, 30, 32), positions=positions)  # source positions only
    nearest = (placed @ keys[0].T).argmax(dim=-1)  # the source frame whose position code is closest
    assert (nearest.float() - torch.arange(25) * 30 / 25).abs().max() <= 1.5


def test_a_branch_from_the_source_alone_carries_the_source_not_a_copy_of_the_audio():
    """Replacing the visual frames moves the embedding far more when the branch does not start from the audio."""
    batch = padded_batch(LENGTHS)
    changed = dict(batch, visual_features=torch.randn_like(batch["visual_features"]))
    moved = {}
    for residual in (True, False):
        torch.manual_seed(0)
        model = MMEmbedForEmotionRecognition(tiny_config(cross_modal_residual=residual)).eval()
        with torch.no_grad():
            before, after = model.mmembed(**batch).pooler_output, model.mmembed(**changed).pooler_output
        moved[residual] = ((after - before).norm(dim=-1) / before.norm(dim=-1)).mean().item()
    assert moved[False] > 10 * moved[True], moved


def test_time_local_cross_attention_looks_at_the_source_frames_of_the_same_time():
    model = emotion_model(cross_modal_locality=3.0, source_positions="aligned", attn_implementation="eager")
    batch = padded_batch({"audio": [80, 80, 80], "visual": [30, 30, 30], "text": [5, 5, 5]})  # 20 audio frames
    with torch.no_grad():
        attentions = model.mmembed(**batch, output_attentions=True).cross_attentions
    visual = attentions[0]  # the visual encoder's layer: (batch, heads, 20 audio frames, 30 visual frames)
    assert visual.shape[-2:] == (20, 30)
    looked_at = visual.mean(dim=1).argmax(dim=-1).float()  # per audio frame, the visual frame attended most
    expected = (torch.arange(20) + 0.5) * 30 / 20 - 0.5
    assert (looked_at - expected).abs().max() <= 1.5  # the nearest frame, within rounding and content noise


def test_learned_branch_weights_start_at_the_configured_weights_and_train():
    model = MMEmbedForEmotionRecognition(tiny_config(learn_modality_weights=True))
    logits = model.mmembed.modality_logits
    torch.testing.assert_close(logits.exp(), torch.tensor([0.4, 0.4, 0.2]))
    output = model(**padded_batch(LENGTHS), labels=torch.ones(3, 6))
    output.loss.backward()
    assert logits.grad is not None and logits.grad.abs().sum() > 0
    torch.testing.assert_close(
        model.mmembed(**padded_batch(LENGTHS)).modality_weights[0], torch.tensor([0.4, 0.4, 0.2])
    )


def test_modality_dropout_leaves_branches_out_in_training_only():
    model = emotion_model(modality_dropout=0.999)
    batch = padded_batch(LENGTHS)
    with torch.no_grad():
        evaluated = model.mmembed(**batch).modality_weights
        torch.testing.assert_close(evaluated, torch.tensor([[0.4, 0.4, 0.2]] * 3))
        model.train()
        torch.manual_seed(0)
        trained = model.mmembed(**batch).modality_weights
    torch.testing.assert_close(trained, torch.tensor([[1.0, 0.0, 0.0]] * 3))  # the audio branch alone


def test_branch_loss_adds_each_source_branch_emotion_loss_in_training():
    model = emotion_model(branch_loss_weight=0.5).train()  # the tiny config has no dropout: same numbers
    batch = padded_batch(LENGTHS)
    batch["text_attention_mask"][1] = False  # sample 1 has no text: left out of the text branch's loss
    labels = torch.tensor([[1, 0, 0, 1, 0, 0], [0, 1, 1, 0, 0, 0], [1, 1, 0, 0, 0, 1]], dtype=torch.float)
    with torch.no_grad():
        loss = model(**batch, labels=labels).loss
        outputs = model.mmembed(**batch)
        main = model.emotion_loss(model.classifier(outputs.pooler_output), labels)
        branch_losses = []
        for states, samples in [(outputs.visual_hidden_state, [0, 1, 2]), (outputs.text_hidden_state, [0, 2])]:
            pooled = model.mmembed.pool(states[samples], outputs.attention_mask[samples])
            branch_losses.append(model.emotion_loss(model.classifier(pooled), labels[samples]))
        torch.testing.assert_close(loss, main + 0.5 * sum(branch_losses) / 2)
        model.eval()
        torch.testing.assert_close(model(**batch, labels=labels).loss, main)  # evaluation: the emotion loss alone
        audio_only = emotion_model(branch_loss_weight=0.5, modalities=["audio"]).train()
        audio_batch = {key: value for key, value in batch.items() if not key.startswith(("visual_", "text_"))}
        alone = audio_only(**audio_batch, labels=labels).loss  # no source branch: nothing added
        torch.testing.assert_close(alone, audio_only.eval()(**audio_batch, labels=labels).loss)


@pytest.mark.parametrize("extension", ["all"])
def test_extended_models_save_and_load_with_identical_outputs(extension, tmp_path):
    model = emotion_model(**EXTENSIONS[extension])
    model.save_pretrained(tmp_path)
    reloaded = MMEmbedForEmotionRecognition.from_pretrained(tmp_path).eval()
    for name, value in EXTENSIONS[extension].items():
        assert getattr(reloaded.config, name) == value
    batch = padded_batch(LENGTHS)
    with torch.no_grad():
        torch.testing.assert_close(reloaded(**batch).logits, model(**batch).logits)


def test_missing_modality_for_whole_batch_equals_zero_masks():
    model = emotion_model()
    batch = padded_batch(LENGTHS)
    zeroed = dict(batch, visual_attention_mask=torch.zeros_like(batch["visual_attention_mask"]))
    with torch.no_grad():
        absent = model.mmembed(**drop_modality(batch, "visual"))
        masked = model.mmembed(**zeroed)
    assert absent.visual_hidden_state is None
    torch.testing.assert_close(absent.pooler_output, masked.pooler_output, atol=1e-5, rtol=0)
    expected_weights = torch.tensor([0.4 / 0.6, 0.0, 0.2 / 0.6]).expand(3, 3)
    torch.testing.assert_close(absent.modality_weights, expected_weights)


def test_audio_only_batch_is_the_audio_branch():
    model = emotion_model()
    batch = padded_batch({"audio": LENGTHS["audio"]})
    with torch.no_grad():
        output = model.mmembed(**batch)
    mask = output.attention_mask[..., None]
    torch.testing.assert_close(output.last_hidden_state, output.audio_hidden_state * mask)


def test_ablation_model_has_only_its_modalities():
    model = MMEmbedModel(tiny_config(modalities=["audio", "text"]))
    assert list(model.cross_modal_encoders) == ["text"]
    assert not any("visual" in name for name, _ in model.named_parameters())
    batch = padded_batch(LENGTHS)
    with pytest.raises(ValueError, match=r"visual_features \(visual\) was given, but this model uses only"):
        model(**batch)
    output = model(**drop_modality(batch, "visual"))
    assert output.modality_weights.shape == (3, 2)
    torch.testing.assert_close(output.modality_weights, torch.tensor([[2 / 3, 1 / 3]] * 3))


def test_text_token_ids():
    model = perturb_(MMEmbedModel(tiny_config(text_feature_size=None, text_vocab_size=50)))
    batch = padded_batch({"audio": LENGTHS["audio"]})
    ids = torch.randint(0, 50, (3, 5))
    output = model(**batch, text_input_ids=ids, text_attention_mask=torch.ones(3, 5))
    assert output.text_hidden_state.shape == output.audio_hidden_state.shape
    assert output.modality_weights[0].tolist() == pytest.approx([0.4 / 0.6, 0.0, 0.2 / 0.6])


def test_sdpa_and_eager_agree():
    model = emotion_model()
    batch = padded_batch(LENGTHS)
    batch["text_attention_mask"][2] = 0
    assert model.config._attn_implementation == "sdpa"
    with torch.no_grad():
        sdpa = model(**batch).logits
        model.set_attn_implementation("eager")
        eager = model(**batch, output_attentions=True, output_hidden_states=True)
    torch.testing.assert_close(sdpa, eager.logits, atol=1e-5, rtol=0)
    config = model.config
    assert len(eager.attentions) == config.num_audio_layers
    assert len(eager.cross_attentions) == 2 * config.num_cross_modal_layers
    assert len(eager.hidden_states) == config.num_audio_layers + 1
    assert eager.attentions[0].shape == (3, config.num_attention_heads, 6, 6)
    visual_attention = eager.cross_attentions[0]
    assert visual_attention.shape == (3, config.num_attention_heads, 6, 11)
    # Padded visual frames receive no attention.
    assert torch.all(visual_attention[1, :, :, 4:] == 0)


def test_gradient_checkpointing_gives_the_same_gradients():
    model = emotion_model()
    model.train()
    batch = padded_batch(LENGTHS)
    labels = torch.tensor([[1, 0, 0, 1, 0, 0], [0, 1, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0]], dtype=torch.float)

    def gradients(module):
        module.zero_grad()
        module(**batch, labels=labels).loss.backward()
        return {name: p.grad.clone() for name, p in module.named_parameters()}

    plain = gradients(model)
    checkpointed_model = copy.deepcopy(model)
    checkpointed_model.activation_checkpointing_enable()
    assert checkpointed_model.mmembed.audio_layers[0].gradient_checkpointing
    checkpointed = gradients(checkpointed_model)
    assert plain.keys() == checkpointed.keys()
    for name in plain:
        torch.testing.assert_close(plain[name], checkpointed[name], atol=1e-6, rtol=1e-5, msg=name)


def test_emotion_head_overfits_a_tiny_batch():
    torch.manual_seed(0)
    model = MMEmbedForEmotionRecognition(tiny_config())
    model.train()
    batch = padded_batch(LENGTHS, seed=1)
    labels = torch.tensor([[1, 0, 0, 1, 0, 0], [0, 1, 0, 0, 0, 1], [0, 0, 1, 0, 1, 0]], dtype=torch.float)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    first = None
    for _ in range(150):
        optimizer.zero_grad()
        loss = model(**batch, labels=labels).loss
        loss.backward()
        optimizer.step()
        first = loss.item() if first is None else first
    assert loss.item() < 0.1 * first, (first, loss.item())
    model.eval()
    with torch.no_grad():
        decisions = model.apply_thresholds(model(**batch).logits)
    assert torch.equal(decisions, labels.bool())


def test_pos_weight_scales_the_positive_term():
    batch = padded_batch(LENGTHS)
    labels = torch.ones(3, 6)
    plain = emotion_model()
    weighted = emotion_model(pos_weight=[2.0] * 6)
    with torch.no_grad():
        ratio = weighted(**batch, labels=labels).loss / plain(**batch, labels=labels).loss
    torch.testing.assert_close(ratio, torch.tensor(2.0))


def test_regression_and_single_label_heads():
    batch = padded_batch(LENGTHS)
    regression = emotion_model(num_labels=1)
    output = regression(**batch, labels=torch.tensor([0.5, -2.0, 3.0]))
    expected = torch.nn.functional.mse_loss(output.logits.view(-1), torch.tensor([0.5, -2.0, 3.0]))
    torch.testing.assert_close(output.loss, expected)
    single = emotion_model(num_labels=3, problem_type="single_label_classification")
    output = single(**batch, labels=torch.tensor([0, 2, 1]))
    torch.testing.assert_close(output.loss, torch.nn.functional.cross_entropy(output.logits, torch.tensor([0, 2, 1])))
    with pytest.raises(ValueError, match="Thresholds apply to multi-label heads"):
        single.apply_thresholds(output.logits)


def test_freeze_encoder_trains_only_the_head():
    model = MMEmbedForEmotionRecognition(tiny_config(freeze_encoder=True))
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}
    assert trainable and all(name.startswith("classifier.") for name in trainable)
    model(**padded_batch(LENGTHS), labels=torch.zeros(3, 6)).loss.backward()
    assert all(p.grad is None for p in model.mmembed.parameters())


def test_return_dict_false_gives_a_tuple():
    model = emotion_model()
    output = model(**padded_batch(LENGTHS), return_dict=False)
    assert isinstance(output, tuple) and output[0].shape == (3, 6)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda b: b.update(input_features=b["input_features"][..., :5]),
            r"input_features \(audio\) has 5 features per frame; the model expects 13",
        ),
        (
            lambda b: b.update(visual_features=torch.randn(3, 11, 9)),
            r"visual_features \(visual\) has 9 features per frame; the model expects 7",
        ),
        (
            lambda b: b.update(text_features=torch.randn(3, 11)),
            r"text_features \(text\) must have shape \(batch, time, 11\); got \(3, 11\)",
        ),
        (
            lambda b: b.update(attention_mask=b["attention_mask"][:, :10]),
            r"attention_mask \(audio\) must have shape \(3, 23\) to match its features; got \(3, 10\)",
        ),
        (
            lambda b: b.update(visual_attention_mask=torch.ones(3, 12)),
            r"visual_attention_mask \(visual\) must have shape \(3, 11\)",
        ),
        (
            lambda b: b["visual_features"].__setitem__((1, 2, 3), float("nan")),
            r"visual_features \(visual\) holds 1 non-finite values \(NaN/inf\) in samples \[1\]",
        ),
        (
            lambda b: b["input_features"].__setitem__((2, 0, 0), float("-inf")),
            r"input_features \(audio\) holds 1 non-finite values \(NaN/inf\) in samples \[2\]",
        ),
        (
            lambda b: b["input_features"].__setitem__((1, 3, 2), 1e30),
            r"input_features \(audio\) holds values up to 1e\+30 in samples \[1\]; at most 1e\+06 in magnitude",
        ),
        (lambda b: b["attention_mask"].__setitem__(1, 0), r"attention_mask \(audio\) is all zero for samples \[1\]"),
        (lambda b: b["attention_mask"].__setitem__((0, 0), 0), r"attention_mask \(audio\) must be right-padded"),
        (
            lambda b: b.update(text_input_ids=torch.zeros(3, 5, dtype=torch.long)),
            "text was given both as text_features and as text_input_ids",
        ),
        (
            lambda b: b.update(visual_features=torch.randn(2, 11, 7), visual_attention_mask=None),
            "visual inputs have batch size 2, but the audio input has 3",
        ),
        (lambda b: b.pop("input_features"), r"input_features \(audio\) is required"),
        (
            lambda b: b["visual_attention_mask"].__setitem__((0, 0), 0),
            r"visual_attention_mask \(visual\) must be right-padded \(real frames first, then padding\); samples",
        ),
        (
            lambda b: b["text_attention_mask"].__setitem__((2, 0), 0),
            r"text_attention_mask \(text\) must be right-padded",
        ),
        (
            lambda b: b.update({name: value[:0] for name, value in b.items()}),
            r"input_features \(audio\) has batch size 0",
        ),
        (
            lambda b: b.update(visual_features={"frames": b["visual_features"]}),
            r"visual_features \(visual\) must be a floating-point tensor; got dict",
        ),
        (
            lambda b: b.update(visual_attention_mask=b["visual_attention_mask"].tolist()),
            r"visual_attention_mask \(visual\) must be a torch.Tensor; got list",
        ),
    ],
)
def test_bad_input_raises_value_error_naming_the_modality(change, message):
    model = emotion_model()
    batch = padded_batch(LENGTHS)
    change(batch)
    batch = {key: value for key, value in batch.items() if value is not None}
    with pytest.raises(ValueError, match=message):
        model(**batch)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
def test_floating_inputs_are_cast_to_the_model_dtype(dtype):
    model = emotion_model()
    batch = padded_batch(LENGTHS)
    expected = model(**batch).logits
    cast = {name: value.to(dtype) if value.is_floating_point() else value for name, value in batch.items()}
    tolerance = 0 if dtype == torch.float64 else 0.05
    torch.testing.assert_close(model(**cast).logits, expected, atol=tolerance, rtol=tolerance)
    low_precision = emotion_model().to(torch.bfloat16)
    assert low_precision(**batch).logits.dtype == torch.bfloat16  # float32 inputs into a bfloat16 model


def test_token_ids_must_be_an_embedding_index_type_and_not_empty():
    model = MMEmbedForEmotionRecognition(tiny_config(text_feature_size=None, text_vocab_size=42)).eval()
    batch = {"input_features": torch.randn(2, 20, 13)}
    with pytest.raises(ValueError, match=r"text_input_ids \(text\) must be int64 \(or int32\) token ids; got .*uint8"):
        model(**batch, text_input_ids=torch.ones(2, 4, dtype=torch.uint8))
    with pytest.raises(ValueError, match=r"text_input_ids \(text\) has no tokens \(shape \(2, 0\)\)"):
        model(**batch, text_input_ids=torch.ones(2, 0, dtype=torch.long))
    assert model(**batch, text_input_ids=torch.ones(2, 4, dtype=torch.int32)).logits.shape == (2, 6)


def test_labels_must_be_a_tensor():
    with pytest.raises(ValueError, match=r"labels must be a torch.Tensor; got list \(wrap it in torch.tensor\)"):
        emotion_model()(**padded_batch(LENGTHS), labels=[[1, 0, 0, 0, 0, 0]] * 3)


@pytest.mark.parametrize(
    ("overrides", "labels", "message"),
    [
        ({}, torch.full((3, 6), 3.0), r"presence values in \[0, 1\].*Binarise CMU-MOSEI intensities"),
        ({}, torch.zeros(3, 5), r"must have shape \(3, 6\); got \(3, 5\)"),
        (
            {"num_labels": 3, "problem_type": "single_label_classification"},
            torch.tensor([0, 3, 1]),
            r"must lie in \[0, 3\)",
        ),
        ({"num_labels": 1}, torch.tensor([0.1, float("nan"), 0.0]), "regression hold NaN or inf"),
    ],
)
def test_bad_labels_raise_value_error(overrides, labels, message):
    model = emotion_model(**overrides)
    with pytest.raises(ValueError, match=message):
        model(**padded_batch(LENGTHS), labels=labels)


def strict_softmax_attention(module, query, key, value, attention_mask, scaling, dropout=0.0, **kwargs):
    """Eager attention that, like some fused kernels, returns NaN for a query with no key to attend to."""
    scores = torch.matmul(query, key.transpose(2, 3)) * scaling
    if attention_mask is not None:
        allowed = attention_mask if attention_mask.dtype == torch.bool else attention_mask == 0
        scores = scores.masked_fill(~allowed, float("-inf"))
    weights = scores.softmax(dim=-1)
    return torch.matmul(weights, value).transpose(1, 2).contiguous(), weights


def test_sample_without_a_modality_never_leaves_a_query_without_keys():
    """Back-ends that give NaN for fully masked rows must not see one: the missing sample's branch stays finite."""
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

    AttentionInterface.register("strict_softmax", strict_softmax_attention)
    AttentionMaskInterface.register("strict_softmax", sdpa_mask)
    model = emotion_model()
    model.set_attn_implementation("strict_softmax")
    model.train()
    batch = padded_batch(LENGTHS)
    batch["visual_attention_mask"][1] = 0
    output = model(**batch, labels=torch.zeros(3, 6))
    output.loss.backward()
    assert torch.isfinite(output.logits).all()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
    with torch.no_grad():
        model.eval()
        alone = model(**drop_modality(sample(batch, 1), "visual")).logits
    torch.testing.assert_close(output.logits[1].detach(), alone[0], atol=1e-5, rtol=0)


def test_value_checks_skip_only_gradient_steps_on_an_accelerator():
    from modeling_mmembed.input_validation_mmembed import reads_values

    on_cpu, on_device = torch.zeros(1), torch.empty(1, device="meta")
    assert reads_values(on_cpu) and not reads_values(on_device)  # a training step on a device: no sync
    with torch.no_grad():
        assert reads_values(on_cpu) and reads_values(on_device)  # inference and evaluation check everywhere


def test_spec_augment_masks_real_frames_in_training_only():
    model = MMEmbedForEmotionRecognition(
        tiny_config(
            apply_spec_augment=True,
            mask_time_prob=0.3,
            mask_time_length=3,
            mask_feature_prob=0.3,
            mask_feature_length=2,
        )
    )
    np.random.seed(0)  # transformers' _compute_mask_indices draws from numpy's global generator
    features = torch.randn(2, 40, 13) + 5.0
    mask = torch.ones(2, 40, dtype=torch.bool)
    mask[1, 20:] = False
    torch.manual_seed(0)
    model.eval()
    assert model.mmembed.mask_input_features(features, mask) is features
    model.train()
    masked = model.mmembed.mask_input_features(features, mask)
    zero_frames = (masked == 0).all(dim=-1)
    zero_bins = (masked == 0).all(dim=1)
    assert zero_frames[0].any() and zero_frames[1, :20].any() and zero_bins.any()
    time_masked = zero_frames & ~zero_bins.all(dim=-1, keepdim=True)
    assert not time_masked[1, 20:].any()  # no time mask placed in the padding
    kept = (masked != 0).all(dim=-1)
    assert torch.equal(masked[kept], features[kept])
    batch = padded_batch(LENGTHS)
    with torch.no_grad():
        assert not torch.equal(model(**batch).logits, model(**batch).logits)  # the forward pass masks in training
        model.eval()
        assert torch.equal(model(**batch).logits, model(**batch).logits)
