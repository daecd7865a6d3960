"""The ONNX Runtime path: export, equality with PyTorch (padding, absent modalities, other lengths), int8, pipeline."""

import numpy as np
import pytest
import torch

from modeling_mmembed import MMEmbedConfig, MMEmbedForEmotionRecognition
from modeling_mmembed.onnx_mmembed import MMEmbedOnnxModel, export_onnx, main, modality_inputs, quantize_onnx

from .conftest import tiny_config

TOLERANCE = 1e-4
"""ONNX Runtime's logits against PyTorch's (fp32): kernels differ in summation order only."""


@pytest.fixture(scope="module", params=["word vectors", "token ids"])
def exported(request, tmp_path_factory):
    torch.manual_seed(0)
    text = {"text_feature_size": None, "text_vocab_size": 42} if request.param == "token ids" else {}
    model = MMEmbedForEmotionRecognition(tiny_config(**text)).eval()
    path = export_onnx(model, tmp_path_factory.mktemp("onnx") / "model.onnx")
    return model, path


def test_onnx_runtime_equals_pytorch_on_padded_batches_absent_modalities_and_new_lengths(exported):
    model, path = exported
    session = MMEmbedOnnxModel(path, model.config)
    cases = [
        {"audio": [200], "visual": [60], "text": [9]},  # batch 1, longer than the export's example
        {"audio": [120, 64, 33], "visual": [30, 0, 7], "text": [0, 5, 12]},  # padding, absent rows
    ]
    for lengths in cases:
        inputs = modality_inputs(model.config, lengths)
        with torch.inference_mode():
            expected = model(**inputs).logits.numpy()
        np.testing.assert_allclose(session(**inputs), expected, atol=TOLERANCE)
    audio_only = {
        name: value for name, value in modality_inputs(model.config, cases[1]).items() if "visual" not in name
    }
    with torch.inference_mode():
        expected = model(**audio_only).logits.numpy()
    np.testing.assert_allclose(session(**audio_only), expected, atol=TOLERANCE)  # not given: fed as absent


def test_int8_quantized_graph_runs_close_to_fp32(exported, tmp_path):
    model, path = exported
    quantized = quantize_onnx(path, tmp_path / "model_int8.onnx")
    inputs = modality_inputs(model.config, {"audio": [150, 90], "visual": [40, 20], "text": [8, 4]})
    full, int8 = (MMEmbedOnnxModel(graph, model.config)(**inputs) for graph in (path, quantized))
    import onnx

    operators = [node.op_type for node in onnx.load(quantized).graph.node]
    assert operators.count("MatMulInteger") >= 2 * model.config.num_audio_layers  # the layers' weights in 8 bits
    assert np.abs(full - int8).max() < 0.1 and not np.array_equal(full, int8)


def test_a_graph_of_another_model_is_refused(exported):
    model, path = exported
    with pytest.raises(ValueError, match="takes inputs .* this model's config needs"):
        MMEmbedOnnxModel(path, MMEmbedConfig.from_preset("tiny", modalities=["audio", "visual"]))
    with pytest.raises(ValueError, match=r"Unknown inputs \['video'\]"):
        MMEmbedOnnxModel(path, model.config)(video=np.zeros((1, 3, 7)))


def test_the_emotion_pipeline_runs_the_export_with_the_same_answers(tmp_path):
    from transformers import pipeline

    from modeling_mmembed import MMEmbedFeatureExtractor, MMEmbedProcessor, MMEmbedTokenizer

    from .audio_signals import speech_like

    torch.manual_seed(0)
    model = MMEmbedForEmotionRecognition(
        MMEmbedConfig.from_preset("tiny", text_feature_size=None, text_vocab_size=42)
    ).eval()
    model.save_pretrained(tmp_path)
    MMEmbedProcessor(MMEmbedFeatureExtractor(), MMEmbedTokenizer()).save_pretrained(tmp_path)
    graph = main([str(tmp_path)])  # the command: CHECKPOINT/model.onnx
    assert graph == tmp_path / "model.onnx" and graph.is_file()
    request = {"audio": speech_like(1.5), "sampling_rate": 16000, "transcript": "what a day"}
    answers = [
        pipeline("multimodal-emotion-recognition", model=str(tmp_path), trust_remote_code=True, **options)(request)
        for options in ({}, {"onnx_model": str(graph), "onnx_threads": 1})
    ]
    assert [item["label"] for item in answers[0]] == [item["label"] for item in answers[1]]
    np.testing.assert_allclose(
        [item["score"] for item in answers[1]], [item["score"] for item in answers[0]], atol=TOLERANCE
    )
