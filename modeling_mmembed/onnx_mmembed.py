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


def modality_inputs(config, lengths: dict[str, list[int]], seed: int = 0) -> dict[str, torch.Tensor]:
    """
    Random right-padded inputs of every modality `config` reads, one sample per entry of `lengths[modality]` (its
    frame count; 0: the sample lacks that modality): what export traces, and what the tests and benchmarks feed.
    """
    generator = torch.Generator().manual_seed(seed)
    inputs = {}
    for modality in config.modalities:
        frames, shape = max(lengths[modality]), config.frame_shape(modality)
        mask = torch.arange(frames)[None, :] < torch.tensor(lengths[modality])[:, None]
        if shape:
            values = torch.randn(len(mask), frames, *shape, generator=generator) * mask[..., None]
        else:
            values = torch.randint(4, config.text_vocab_size, (len(mask), frames), generator=generator) * mask
        inputs[config.values_name(modality)] = values
        inputs[mask_name(modality)] = mask.long()
    return inputs


def export_onnx(model, path, opset_version: int | None = None) -> Path:
    """
    Export an emotion model (`model.eval()` is used as it is) to `path`: inputs named as the model's keyword
    arguments, dynamic batch and per-modality lengths, output `logits` `(batch_size, num_labels)`.
    """
    config = model.config
    if config.audio_encoder is not None or config.text_encoder is not None:
        raise ValueError(
            "export_onnx exports models that read fbank and text ids or vectors; this one has a pretrained "
            "audio_encoder or text_encoder, whose export is not supported yet."
        )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # two samples of different lengths, so that padding is traced
    inputs = modality_inputs(config, {modality: [16, 8] for modality in config.modalities} | {"audio": [64, 32]})
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
        self.input_names = input_names(config)
        found = [graph_input.name for graph_input in self.session.get_inputs()]
        if found != self.input_names:
            raise ValueError(
                f"{path} takes inputs {found}; this model's config needs {self.input_names} (another model?)."
            )

    def __call__(self, **inputs) -> np.ndarray:
        from .pipeline_mmembed import absent_inputs

        unknown = set(inputs) - set(self.input_names)
        if unknown:
            raise ValueError(f"Unknown inputs {sorted(unknown)}; the ONNX model takes {self.input_names}.")
        arrays = {name: as_array(value) for name, value in inputs.items() if value is not None}
        batch_size = len(next(iter(arrays.values())))
        feed = {}
        for modality in self.config.modalities:
            values_name, mask = self.config.values_name(modality), mask_name(modality)
            if values_name not in arrays:
                absent = absent_inputs(self.config, modality, batch_size)
                arrays.update({name: value.numpy() for name, value in absent.items()})
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


__all__ = ["MMEmbedOnnxModel", "export_onnx", "modality_inputs", "quantize_onnx"]
