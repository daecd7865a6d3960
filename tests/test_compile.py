"""`torch.compile` runs the models and gives the eager outputs (backend `aot_eager`: traced, no code generation)."""

import torch

from modeling_mmembed import MMEmbedForEmotionRecognition, MMEmbedForPreTraining

from .conftest import padded_batch, tiny_config

LENGTHS = {"audio": [23, 9, 17], "visual": [7, 3, 5], "text": [4, 2, 3]}


def test_compiled_emotion_model_matches_eager_outputs_and_gradients():
    torch.manual_seed(0)
    model = MMEmbedForEmotionRecognition(tiny_config()).eval()
    batch = padded_batch(LENGTHS)
    labels = torch.tensor([[1.0, 0, 0, 1, 0, 0], [0, 1, 0, 0, 0, 0], [0, 0, 0, 0, 1, 1]])
    compiled = torch.compile(model, backend="aot_eager", fullgraph=False)
    eager_output, compiled_output = model(**batch, labels=labels), compiled(**batch, labels=labels)
    torch.testing.assert_close(compiled_output.logits, eager_output.logits, rtol=0, atol=1e-6)
    eager_output.loss.backward()
    eager_grads = [parameter.grad.clone() for parameter in model.parameters()]
    model.zero_grad()
    compiled_output.loss.backward()
    for parameter, expected in zip(model.parameters(), eager_grads, strict=True):
        torch.testing.assert_close(parameter.grad, expected, rtol=0, atol=1e-6)


def test_compiled_pretraining_model_matches_eager_loss():
    torch.manual_seed(0)
    model = MMEmbedForPreTraining(tiny_config(num_speakers=3, ctc_loss_weight=0.3)).eval()
    batch = {key: value for key, value in padded_batch(LENGTHS).items() if not key.startswith("text")}
    labels = torch.tensor([[10, 11, 12, 2], [13, 14, 2, -100], [15, 2, -100, -100]])
    speakers = torch.tensor([0, 2, 1])
    compiled = torch.compile(model, backend="aot_eager")
    expected = model(**batch, labels=labels, speaker_labels=speakers)
    actual = compiled(**batch, labels=labels, speaker_labels=speakers)
    torch.testing.assert_close(actual.loss, expected.loss, rtol=0, atol=1e-6)
    torch.testing.assert_close(actual.logits, expected.logits, rtol=0, atol=1e-6)
