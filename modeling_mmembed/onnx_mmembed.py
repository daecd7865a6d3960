# Copyright 2026 The mmembed authors. Licensed under the Apache License, Version 2.0.
"""
ONNX Runtime serving of MMEmbed emotion models (the `onnx` extra: `pip install "mmembed[onnx]"`).

- [`export_onnx`]: an [`MMEmbedForEmotionRecognition`] (encoder and head) to one ONNX graph with `torch.onnx.export`
  (the dynamo exporter): every input of every modality the model reads, dynamic batch and lengths, the logits out.
  Optionally [`quantize_onnx`]: dynamic int8 quantization of its weights (`onnxruntime.quantization`).
- [`MMEmbedOnnxModel`]: the exported graph in an ONNX Runtime session, called with the model's input names; a modality
  not given is fed as absent (one all-zero mask frame), as the PyTorch model treats it. The emotion pipeline runs it
  with `onnx_model=` (`pipeline("multimodal-emotion-recognition", model=folder, onnx_model="model.onnx", ...)`).

    python -m modeling_mmembed.onnx_mmembed CHECKPOINT [--output CHECKPOINT/model.onnx] [--quantize]
"""

import argparse
import os
from pathlib import Path

import numpy as np
import torch

from .configuration_mmembed import MODALITY_INPUTS

ONNX_FILE = "model.onnx"
"""The file name an export gets in a checkpoint folder (Optimum's name for a model's ONNX graph)."""


def input_names(config) -> list[str]:
    """The graph's inputs, in order: values and mask of each modality the model reads (text as ids or vectors)."""
    return [name for modality in config.modalities for name in (config.values_name(modality), mask_name(modality))]


def mask_name(modality: str) -> str:
    return MODALITY_INPUTS[modality].mask_name


class _LogitsOfInputs(torch.nn.Module):
    """The emotion model as a function of its inputs, positionally, in `input_names` order (what export traces)."""

    def __init__(self, model):
        super().__init__()
        self.model = model
        self.names = input_names(model.config)

    def forward(self, *inputs):
        return self.model(**dict(zip(self.names, inputs, strict=True))).logits


def example_inputs(config, batch_size: int = 2, frames: int = 64) -> dict[str, torch.Tensor]:
    """Inputs of every modality for export: two samples of different lengths (so that padding is traced)."""
    generator = torch.Generator().manual_seed(0)
    inputs = {}
    for modality in config.modalities:
        length = frames if modality == "audio" else max(4, frames // 4)
        values_name, shape = config.values_name(modality), config.frame_shape(modality)
        if shape:
            inputs[values_name] = torch.randn(batch_size, length, *shape, generator=generator)
        else:
            inputs[values_name] = torch.randint(4, config.text_vocab_size, (batch_size, length), generator=generator)
        mask = torch.ones(batch_size, length, dtype=torch.long)
        mask[1:, length // 2 :] = 0
        inputs[mask_name(modality)] = mask
    return inputs


def export_onnx(model, path, opset_version: int | None = None) -> Path:
    """
    Export an emotion model (`model.eval()` is used as it is) to `path`: inputs named as the model's keyword
    arguments, dynamic batch and per-modality lengths, output `logits` `(batch_size, num_labels)`.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    config = model.config
    inputs = example_inputs(config)
    batch = torch.export.Dim("batch")
    lengths = {modality: torch.export.Dim(f"{modality}_length", min=1) for modality in config.modalities}
    if "audio" in lengths:  # the strided convolutions need a few frames
        lengths["audio"] = torch.export.Dim("audio_length", min=4 * config.audio_subsampling)
    per_input = [{0: batch, 1: lengths[modality]} for modality in config.modalities for _ in ("values", "mask")]
    dynamic_shapes = {"inputs": tuple(per_input)}  # the wrapper's one `*inputs` parameter
    torch.onnx.export(
        _LogitsOfInputs(model.eval()),
        tuple(inputs.values()),
        str(path),
        input_names=list(inputs),
        output_names=["logits"],
        dynamic_shapes=dynamic_shapes,
        opset_version=opset_version,
        dynamo=True,
        verbose=False,
    )
    return path


def quantize_onnx(path, output=None) -> Path:
    """Dynamic int8 quantization of an exported graph's weights (activations stay float); `output` beside `path`."""
    quantization = onnx_runtime().quantization
    path = Path(path)
    output = Path(output) if output is not None else path.with_name(path.stem + "_int8.onnx")
    quantization.quantize_dynamic(str(path), str(output), weight_type=quantization.QuantType.QInt8)
    return output


class MMEmbedOnnxModel:
    """
    An exported emotion graph in an ONNX Runtime session. Call it with the model's input names (numpy arrays or
    tensors); returns the logits `(batch_size, num_labels)` as a numpy array. Modalities not given (or `None`) are fed
    as absent. `threads` sets ONNX Runtime's intra-op threads (default: its own choice).
    """

    def __init__(self, path, config, threads: int | None = None):
        onnxruntime = onnx_runtime()
        options = onnxruntime.SessionOptions()
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads is not None:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        self.path = Path(path)
        self.config = config
        self.session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        expected = input_names(config)
        found = [graph_input.name for graph_input in self.session.get_inputs()]
        if found != expected:
            raise ValueError(f"{path} takes inputs {found}; this model's config needs {expected} (another model?).")

    def __call__(self, **inputs) -> np.ndarray:
        unknown = set(inputs) - set(input_names(self.config))
        if unknown:
            raise ValueError(f"Unknown inputs {sorted(unknown)}; the ONNX model takes {input_names(self.config)}.")
        arrays = {name: as_array(value) for name, value in inputs.items() if value is not None}
        batch_size = len(next(iter(arrays.values())))
        feed = {}
        for modality in self.config.modalities:
            values_name, mask = self.config.values_name(modality), mask_name(modality)
            if values_name not in arrays:
                shape, float_values = self.config.frame_shape(modality), bool(self.config.frame_shape(modality))
                arrays[values_name] = np.zeros((batch_size, 1, *shape), np.float32 if float_values else np.int64)
                arrays[mask] = np.zeros((batch_size, 1), np.int64)
            values = arrays[values_name]
            feed[values_name] = values.astype(np.float32 if values.dtype.kind == "f" else np.int64, copy=False)
            given_mask = arrays.get(mask)
            if given_mask is None:
                given_mask = np.ones(values.shape[:2], np.int64)
            feed[mask] = given_mask.astype(np.int64, copy=False)
        return self.session.run(["logits"], feed)[0]


def onnx_runtime():
    """The `onnxruntime` module (with its `quantization`), or an `ImportError` that says how to install it."""
    try:  # inside try: transformers' remote-code import check then does not require it of every checkpoint user
        import onnxruntime
        import onnxruntime.quantization
    except ImportError as error:
        raise ImportError(
            f'ONNX Runtime serving needs the onnx extra: pip install "mmembed[onnx]" ({error}).'
        ) from None
    return onnxruntime


def as_array(value) -> np.ndarray:
    return value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else np.asarray(value)


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint", help="a saved MMEmbedForEmotionRecognition folder")
    parser.add_argument("--output", help=f"the ONNX file (default: CHECKPOINT/{ONNX_FILE})")
    parser.add_argument("--quantize", action="store_true", help="also write a dynamic-int8 copy (..._int8.onnx)")
    args = parser.parse_args(argv)
    from .modeling_mmembed import MMEmbedForEmotionRecognition

    model = MMEmbedForEmotionRecognition.from_pretrained(args.checkpoint)
    output = export_onnx(model, args.output or os.path.join(args.checkpoint, ONNX_FILE))
    print(f"wrote {output}")
    if args.quantize:
        print(f"wrote {quantize_onnx(output)}")
    return output


if __name__ == "__main__":
    main()


__all__ = ["MMEmbedOnnxModel", "export_onnx", "quantize_onnx"]
