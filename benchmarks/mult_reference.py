"""
Figure 10: the `mosei_sdk` emotion model against the multimodal transformer's reference implementation (MulT, Tsai et
al. 2019, `yaohungt/Multimodal-Transformer`) on the same CMU-MOSEI-sized inputs: text 50 x 300 (GloVe), audio
500 x 74 (COVAREP), vision 500 x 35 (FACET), six emotion outputs.

    git clone https://github.com/yaohungt/Multimodal-Transformer /path/to/MulT   # not part of mmembed
    python -m benchmarks.mult_reference --mult-repo /path/to/MulT [--smoke] [--threads 1] [--repeats 7]

MulT is imported from the checkout you name (its `src/models.py`, with the hyper-parameters of its `main.py`
defaults: 5 layers, 5 heads, 30 dimensions per modality, its dropouts); nothing of it is copied here. Both models
are timed in the same process, interleaved (ours, MulT, ours, ...), median of `--repeats` after a warm-up round: a
training step (forward, BCE loss, backward, Adam step) at batch 24 (MulT's default batch), and one request at batch
1 in eval mode under `torch.inference_mode` (ours in fp32, with bf16 weights where the CPU has native bf16, and
through its ONNX Runtime export in fp32 and dynamic int8: `benchmarks.onnx_runtime`). Targets (issue 34): training
>= 10x and batch-1 latency >= 5x MulT's, on a quiet machine.
"""

import argparse
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

import torch
from torch import nn

from benchmarks.common import arguments, emit, interleaved, peak_memory_mb, summary
from benchmarks.onnx_runtime import cpu_has_native_bf16, variants
from modeling_mmembed import MMEmbedConfig, MMEmbedForEmotionRecognition

TEXT, AUDIO, VISION = (50, 300), (500, 74), (500, 35)


def mult_model(repository: Path, num_labels: int) -> nn.Module:
    """MulT's `MULTModel` from a checkout, with the defaults of its `main.py` (all three modalities)."""
    for folder in (repository, repository / "src"):
        if str(folder) not in sys.path:
            sys.path.insert(0, str(folder))
    try:
        import modules.position_embedding as positions  # MulT's modules/
        from models import MULTModel  # MulT's src/models.py
    except ImportError as error:
        raise SystemExit(
            f"--mult-repo {repository} is not a checkout of yaohungt/Multimodal-Transformer ({error})."
        ) from None
    # torch >= 2 keeps a clone's strides, so MulT's `make_positions` returns a strided tensor that its caller's
    # `.view(-1)` refuses; the same function given a contiguous input (the behaviour of the torch MulT was written for)
    make_positions = positions.make_positions
    positions.make_positions = lambda tensor, *rest: make_positions(tensor.contiguous(), *rest)
    hyper_parameters = argparse.Namespace(
        orig_d_l=TEXT[1], orig_d_a=AUDIO[1], orig_d_v=VISION[1], vonly=True, aonly=True, lonly=True,
        num_heads=5, layers=5, attn_dropout=0.1, attn_dropout_a=0.0, attn_dropout_v=0.0, relu_dropout=0.1,
        res_dropout=0.1, out_dropout=0.0, embed_dropout=0.25, attn_mask=True, output_dim=num_labels,
    )  # fmt: skip
    return MULTModel(hyper_parameters)


def inputs(batch_size: int, seed: int = 0) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return {
        "text": torch.randn(batch_size, *TEXT, generator=generator),
        "audio": torch.randn(batch_size, *AUDIO, generator=generator),
        "vision": torch.randn(batch_size, *VISION, generator=generator),
        "labels": (torch.rand(batch_size, 6, generator=generator) > 0.7).float(),
    }


def ours_batch(batch: dict) -> dict:
    ones = {name: torch.ones(batch[name].shape[:2], dtype=torch.long) for name in ("text", "audio", "vision")}
    return {
        "input_features": batch["audio"],
        "attention_mask": ones["audio"],
        "visual_features": batch["vision"],
        "visual_attention_mask": ones["vision"],
        "text_features": batch["text"],
        "text_attention_mask": ones["text"],
    }


def training_step(model: nn.Module, forward, batch: dict, bf16: bool = False):
    """One Adam step on `batch`, in fp32 or under bf16 autocast (the weights and the optimizer stay fp32)."""
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)

    def step():
        model.train()
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            logits = forward(batch)
        loss = nn.functional.binary_cross_entropy_with_logits(logits.float(), batch["labels"])
        loss.backward()
        optimizer.step()

    return step


def inference(model: nn.Module, forward, batch: dict):
    def call():
        model.eval()
        with torch.inference_mode():
            forward(batch)

    return call


def main() -> dict:
    args = arguments(
        __doc__,
        mult_repo=(Path, None, "a checkout of yaohungt/Multimodal-Transformer"),
        threads=(int, 1, "torch threads (the issue's figures: 1)"),
        repeats=(int, 7, "interleaved rounds"),
        batch_size=(int, 24, "training batch (MulT's default)"),
    )
    if args.mult_repo is None:
        raise SystemExit("--mult-repo PATH is needed: a checkout of yaohungt/Multimodal-Transformer (see --help).")
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    repeats, batch_size = (2, 4) if args.smoke else (args.repeats, args.batch_size)
    config = MMEmbedConfig.from_preset("mosei_sdk", hidden_dropout=0.1)
    ours = MMEmbedForEmotionRecognition(config)
    mult = mult_model(args.mult_repo, config.num_labels)

    def ours_forward(batch):
        return ours(**ours_batch(batch)).logits

    def mult_forward(batch):
        return mult(batch["text"], batch["audio"], batch["vision"])[0]

    train_batch, request = inputs(batch_size), inputs(1, seed=1)
    calls = {
        "ours training": training_step(ours, ours_forward, train_batch),
        "MulT training": training_step(mult, mult_forward, train_batch),
        "MulT batch-1": inference(mult, mult_forward, request),
    }
    if cpu_has_native_bf16():  # both under bf16 autocast (quality: figure 12)
        calls["ours training, bf16 autocast"] = training_step(ours, ours_forward, train_batch, bf16=True)
        calls["MulT training, bf16 autocast"] = training_step(mult, mult_forward, train_batch, bf16=True)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as work:  # ours at batch 1: PyTorch fp32 / bf16, ONNX Runtime fp32 / int8
        for name, call in variants(ours.eval(), Path(work), args.threads).items():
            calls[f"ours batch-1, {name}"] = partial(call, **ours_batch(request))
        timings = {name: summary(values) for name, values in interleaved(calls, repeats, "cpu").items()}
    ratio = {"training": timings["MulT training"]["median_s"] / timings["ours training"]["median_s"]}
    if "ours training, bf16 autocast" in timings:
        ours_bf16 = timings["ours training, bf16 autocast"]["median_s"]
        ratio["training, ours bf16 / MulT fp32"] = timings["MulT training"]["median_s"] / ours_bf16
        ratio["training, both bf16"] = timings["MulT training, bf16 autocast"]["median_s"] / ours_bf16
    for name, result in timings.items():
        if name.startswith("ours batch-1"):
            ratio[name.removeprefix("ours ")] = timings["MulT batch-1"]["median_s"] / result["median_s"]
    parameters = {
        "ours": sum(p.numel() for p in ours.parameters()),
        "MulT": sum(p.numel() for p in mult.parameters()),
    }
    rows = [
        [name, f"{1000 * result['median_s']:.1f}", f"{1000 * result['p95_s']:.1f}"] for name, result in timings.items()
    ]
    rows += [[f"MulT / ours, {name}", f"{value:.2f}x", ""] for name, value in ratio.items()]
    record = {
        "threads": args.threads,
        "batch_size": batch_size,
        "parameters": parameters,
        "timings": timings,
        "speedup_over_mult": ratio,
        "seconds": round(time.perf_counter() - start, 1),
        **peak_memory_mb("cpu"),
    }
    return emit("10 against MulT's reference implementation", record, rows, ["call", "median ms", "p95 ms"], args)


if __name__ == "__main__":
    main()
