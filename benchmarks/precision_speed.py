"""
Figure 9: training step and batch-1 latency, fp32 vs bf16 vs compiled, at 1 and 2 threads, with achieved GFLOP/s.

    python -m benchmarks.precision_speed [--smoke] [--repeats 5] [--batch-size 32] [--no-compile]

The `mosei_sdk` emotion model (attention dropout as its preset says) on CMU-MOSEI lengths: a training step (forward,
backward, AdamW) over length-grouped batches of `--batch-size` typical segments (2-30 s; COVAREP 100 Hz, FACET 30 Hz,
2.5 words/s), and the batch-1 latency of one 7 s segment (`torch.inference_mode`, eval mode). Variants: fp32 eager,
bf16 eager (`torch.autocast`), and, unless `--no-compile`, both through `torch.compile` (inductor; the first calls,
which compile, are warm-up). At each thread count every variant runs in turn (A, B, C, ...), `--repeats` times after
the warm-up, and the median is reported. FLOPs are counted once with eager attention (`torch.utils.flop_counter`),
so GFLOP/s is comparable between variants; it is also given as a fraction of the matmul rate measured in the same run
at the same thread count (fp32 and bf16 GEMMs of 2048 x 2048). Target (CPU): bf16 training step >= 1.6 x fp32.
"""

import statistics
import time

import numpy as np
import torch

from benchmarks.common import (
    arguments,
    counted_flops,
    emit,
    interleaved,
    mosei_batch,
    peak_memory_mb,
    training_pass,
    typical_batches,
)
from modeling_mmembed import MMEmbedConfig, MMEmbedForEmotionRecognition

PRECISIONS = {"fp32": None, "bf16": torch.bfloat16}


def matmul_gflops(dtype: torch.dtype, size: int, repeats: int) -> float:
    """GFLOP/s of a `size` x `size` GEMM in `dtype` at the current thread count (median of `repeats`)."""
    left, right = torch.randn(size, size, dtype=dtype), torch.randn(size, size, dtype=dtype)
    left @ right
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        left @ right
        times.append(time.perf_counter() - start)
    return 2 * size**3 / statistics.median(times) / 1e9


def variants(model, batches: list[dict], latency_batch: dict, device: str, compile_models: bool) -> dict:
    """`{name: (training pass, latency call)}` for every precision, eager and (optionally) compiled."""
    runners = {"eager": model}
    if compile_models:
        runners["compiled"] = torch.compile(model, dynamic=True)
    calls = {}
    for runner_name, runner in runners.items():
        for precision, dtype in PRECISIONS.items():
            train = training_pass(model, runner, batches, device, dtype)

            def latency(runner=runner, dtype=dtype):
                model.eval()
                with (
                    torch.inference_mode(),
                    torch.autocast(device.split(":")[0], dtype=dtype, enabled=dtype is not None),
                ):
                    runner(**latency_batch)

            calls[f"{precision} {runner_name}"] = (train, latency)
    return calls


def measure(threads: int, args, smoke: bool) -> dict:
    torch.set_num_threads(threads)
    preset, batch_size = ("tiny", 4) if smoke else ("mosei_sdk", args.batch_size)
    config = MMEmbedConfig.from_preset(preset, text_feature_size=300)
    torch.manual_seed(0)
    model = MMEmbedForEmotionRecognition(config).to(args.device)
    durations = typical_batches(batch_size, 2, max_seconds=6.0 if smoke else 30.0)
    batches = [mosei_batch(config, seconds, args.device, seed=index) for index, seconds in enumerate(durations)]
    latency_batch = {k: v for k, v in mosei_batch(config, np.array([7.0]), args.device).items() if k != "labels"}
    calls = variants(model, batches, latency_batch, args.device, compile_models=not args.no_compile)
    repeats = 2 if smoke else args.repeats
    training = interleaved({name: train for name, (train, _) in calls.items()}, repeats, args.device, warmup=2)
    latency = interleaved({name: call for name, (_, call) in calls.items()}, repeats * 4, args.device, warmup=3)
    train_flops = sum(counted_flops(model, batch, training=True) for batch in batches)
    latency_flops = counted_flops(model, latency_batch, training=False)
    size = 256 if smoke else 2048
    rates = {precision: matmul_gflops(dtype or torch.float32, size, 5) for precision, dtype in PRECISIONS.items()}
    samples = sum(len(seconds) for seconds in durations)
    result = {"threads": threads, "matmul_gflops": rates, "training_flops": train_flops, "variants": {}}
    for name in calls:
        precision = name.split()[0]
        step_s = statistics.median(training[name]) / len(batches)
        latency_s = statistics.median(latency[name])
        achieved = train_flops / len(batches) / step_s / 1e9
        result["variants"][name] = {
            "training_step_s": step_s,
            "training_samples_per_s": samples / len(batches) / step_s,
            "training_gflops": achieved,
            "fraction_of_fp32_matmul_rate": achieved / rates["fp32"],
            "fraction_of_own_precision_matmul_rate": achieved / rates[precision],
            "latency_s": latency_s,
            "latency_gflops": latency_flops / latency_s / 1e9,
        }
    fp32, bf16 = result["variants"]["fp32 eager"], result["variants"]["bf16 eager"]
    result["bf16_training_speedup"] = fp32["training_step_s"] / bf16["training_step_s"]
    result["bf16_latency_speedup"] = fp32["latency_s"] / bf16["latency_s"]
    return result


def main() -> dict:
    args = arguments(
        __doc__,
        repeats=(int, 5, "interleaved repeats (median)"),
        batch_size=(int, 32, "training batch size"),
        no_compile=(bool, False, "skip the torch.compile variants"),
    )
    if args.smoke:
        args.no_compile = True  # inductor's first compile takes minutes: not for the test suite
    results = [measure(threads, args, args.smoke) for threads in (1, 2)]
    torch.set_num_threads(2)
    rows = [
        [
            result["threads"],
            name,
            f"{1000 * figures['training_step_s']:.0f}",
            f"{figures['training_gflops']:.1f}",
            f"{100 * figures['fraction_of_fp32_matmul_rate']:.0f}%",
            f"{100 * figures['fraction_of_own_precision_matmul_rate']:.0f}%",
            f"{1000 * figures['latency_s']:.1f}",
        ]
        for result in results
        for name, figures in result["variants"].items()
    ]
    targets = {"bf16_training_step_at_least_1.6x_fp32": all(r["bf16_training_speedup"] >= 1.6 for r in results)}
    record = {"results": results, "targets": targets, **peak_memory_mb(args.device)}
    header = ["threads", "variant", "step ms", "GFLOP/s", "of fp32 GEMM", "of own GEMM", "latency ms"]
    return emit("figure 9: precision and compilation", record, rows, header, args)


if __name__ == "__main__":
    main()
