"""
`torch.compile` runs the models in one graph each (`fullgraph=True`: no graph break, in training mode too) and gives
the eager outputs (backend `aot_eager`: traced, no code generation); the emotion pipeline's opt-in flag.
"""

import pytest
import torch

from modeling_mmembed import MMEmbedForEmotionRecognition, MMEmbedForPreTraining

from .conftest import padded_batch, tiny_config

LENGTHS = {"audio": [23, 9, 17], "visual": [7, 3, 5], "text": [4, 2, 3]}


def test_compiled_emotion_model_matches_eager_outputs_and_gradients():
    torch.manual_seed(0)
    model = MMEmbedForEmotionRecognition(tiny_config()).train()  # dropout 0: training mode, same numbers
    batch = padded_batch(LENGTHS)
    labels = torch.tensor([[1.0, 0, 0, 1, 0, 0], [0, 1, 0, 0, 0, 0], [0, 0, 0, 0, 1, 1]])
    compiled = torch.compile(model, backend="aot_eager", fullgraph=True)
    eager_output, compiled_output = model(**batch, labels=labels), compiled(**batch, labels=labels)
    torch.testing.assert_close(compiled_output.logits, eager_output.logits, rtol=0, atol=1e-6)
    eager_output.loss.backward()
    eager_grads = [parameter.grad.clone() for parameter in model.parameters()]
    model.zero_grad()
    compiled_output.loss.backward()
    for parameter, expected in zip(model.parameters(), eager_grads, strict=True):
        torch.testing.assert_close(parameter.grad, expected, rtol=0, atol=1e-6)


@pytest.mark.parametrize("ctc_loss_weight", [0.0, 0.3])
def test_compiled_pretraining_model_matches_eager_loss(ctc_loss_weight):
    """One graph without CTC; PyTorch's `ctc_loss` (data-dependent shapes) breaks the graph at the loss only."""
    torch.manual_seed(0)
    model = MMEmbedForPreTraining(tiny_config(num_speakers=3, ctc_loss_weight=ctc_loss_weight)).train()
    batch = {key: value for key, value in padded_batch(LENGTHS).items() if not key.startswith("text")}
    labels = torch.tensor([[10, 11, 12, 2], [13, 14, 2, -100], [15, 2, -100, -100]])
    speakers = torch.tensor([0, 2, 1])
    compiled = torch.compile(model, backend="aot_eager", fullgraph=ctc_loss_weight == 0)
    expected = model(**batch, labels=labels, speaker_labels=speakers)
    actual = compiled(**batch, labels=labels, speaker_labels=speakers)
    torch.testing.assert_close(actual.loss, expected.loss, rtol=0, atol=1e-6)
    torch.testing.assert_close(actual.logits, expected.logits, rtol=0, atol=1e-6)


def test_the_emotion_pipeline_compiles_on_request_and_gives_the_eager_scores(tmp_path):
    from modeling_mmembed import MMEmbedFeatureExtractor, MMEmbedProcessor, MMEmbedTokenizer
    from modeling_mmembed.pipeline_mmembed import MMEmbedEmotionPipeline

    torch.manual_seed(0)
    model = MMEmbedForEmotionRecognition(tiny_config(audio_feature_size=80, visual_feature_size=35)).eval()
    processor = MMEmbedProcessor(MMEmbedFeatureExtractor(), MMEmbedTokenizer())
    eager = MMEmbedEmotionPipeline(model=model, processor=processor)
    compiled = MMEmbedEmotionPipeline(model=model, processor=processor, torch_compile="aot_eager")
    assert eager.compiled_model is None and compiled.compiled_model is not None
    clip = {"audio": torch.randn(16000).numpy(), "sampling_rate": 16000, "visual": torch.randn(30, 35).numpy()}
    expected, actual = eager(clip), compiled(clip)
    assert [item["label"] for item in actual] == [item["label"] for item in expected]
    for got, want in zip(actual, expected, strict=True):
        assert abs(got["score"] - want["score"]) < 1e-6
