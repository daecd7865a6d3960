"""
Figure 3: attention back-ends (SDPA, eager) and how the step cost grows with audio length.

    python -m benchmarks.attention_backends [--smoke] [--lengths 100 250 500 1000 2000] [--batch-size 8]

The `mosei_sdk` emotion model (all modalities, video and words at their rates for the same duration), forward +
backward at each audio length in frames (100 Hz), every sample of the batch that long; median of `--repeats`
interleaved runs per back-end. `growth` is the exponent k of time ~ length^k between consecutive lengths (1 =
linear, 2 = quadratic); `saved MB` is what autograd keeps for the backward pass of one forward (`memory growth`: the
same exponent for it; with SDPA and no attention dropout no attention matrix is kept, so it stays near 1).
"""

import math

import numpy as np
import torch

from benchmarks.common import arguments, emit, interleaved, mosei_batch, peak_memory_mb
from modeling_mmembed import MMEmbedConfig, MMEmbedForEmotionRecognition

BACKENDS = ("sdpa", "eager")


def saved_for_backward_mb(model, batch: dict) -> float:
    """Megabytes of the tensors autograd keeps for the backward pass of one forward (each storage counted once)."""
    storages = {}

    def keep(tensor):
        storages[tensor.untyped_storage().data_ptr()] = tensor.untyped_storage().nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(keep, lambda tensor: tensor):
        loss = model(**batch).loss
    del loss
    return sum(storages.values()) / 2**20


def forward_backward(model, batch: dict):
    def call():
        model.zero_grad(set_to_none=True)
        model(**batch).loss.backward()

    return call


def main() -> dict:
    args = arguments(__doc__, batch_size=(int, 8, "batch size"), repeats=(int, 5, "interleaved repeats"))
    lengths, preset = ([100, 200], "tiny") if args.smoke else ([100, 250, 500, 1000, 2000], "mosei_sdk")
    repeats = 2 if args.smoke else args.repeats
    batch_size = 2 if args.smoke else args.batch_size
    models = {}
    for backend in BACKENDS:
        config = MMEmbedConfig.from_preset(preset, text_feature_size=300, attn_implementation=backend)
        torch.manual_seed(0)
        models[backend] = MMEmbedForEmotionRecognition(config).to(args.device).train()
    results = []
    for length in lengths:
        batch = mosei_batch(models["sdpa"].config, np.full(batch_size, length / 100), args.device)
        timings = interleaved(
            {backend: forward_backward(model, batch) for backend, model in models.items()}, repeats, args.device
        )
        memory = {f"{backend}_saved_mb": saved_for_backward_mb(model, batch) for backend, model in models.items()}
        results.append(
            {"audio_frames": length, **{backend: float(np.median(t)) for backend, t in timings.items()}, **memory}
        )
    for previous, current in zip(results, results[1:], strict=False):
        scale = math.log(current["audio_frames"] / previous["audio_frames"])
        current["growth"] = {backend: math.log(current[backend] / previous[backend]) / scale for backend in BACKENDS}
        current["memory_growth"] = {
            backend: math.log(current[f"{backend}_saved_mb"] / previous[f"{backend}_saved_mb"]) / scale
            for backend in BACKENDS
        }
    rows = [
        [
            r["audio_frames"],
            f"{1000 * r['sdpa']:.1f}",
            f"{1000 * r['eager']:.1f}",
            f"{r['eager'] / r['sdpa']:.2f}",
            "-" if "growth" not in r else f"{r['growth']['sdpa']:.2f}",
            "-" if "growth" not in r else f"{r['growth']['eager']:.2f}",
            f"{r['sdpa_saved_mb']:.0f}",
            f"{r['eager_saved_mb']:.0f}",
            "-" if "memory_growth" not in r else f"{r['memory_growth']['sdpa']:.2f}",
        ]
        for r in results
    ]
    record = {"preset": preset, "batch_size": batch_size, "results": results, **peak_memory_mb(args.device)}
    header = ["audio frames", "sdpa ms", "eager ms", "eager/sdpa", "growth sdpa", "growth eager", "sdpa saved MB",
              "eager saved MB", "memory growth sdpa"]  # fmt: skip
    return emit("figure 3: attention back-ends, forward + backward", record, rows, header, args)


if __name__ == "__main__":
    main()
