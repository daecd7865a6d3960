"""
Figure 1 (and 8 on a GPU): training-step throughput, batch 32, length-grouped batches.

    python -m benchmarks.training_step [--smoke] [--batches 6] [--batch-size 32] [--device cpu]

A step is forward, backward and an AdamW update, in training mode. Two workloads:
- `mosei_sdk` emotion model on CMU-MOSEI-like segments (2-30 s; COVAREP 100 Hz, FACET 30 Hz, 2.5 words/s);
- `base` pre-training model (ASR decoder + person id) on 80-bin fbank at 100 Hz with 30 Hz video.
`--batches` batches are drawn at random from the length-grouped order of 50 x 32 segments (as `group_by_length`
makes them); the figure is samples and real audio frames per second over those batches: fp32 and bf16 autocast run
in turn, `--repeats` passes each after one warm-up pass, median. On CUDA it adds the bf16 model FLOPs utilisation
(FLOPs of one step counted with eager attention, divided by the device's dense bf16 peak).
"""

import statistics

import numpy as np
import torch

from benchmarks.common import (
    arguments,
    audio_frames,
    counted_flops,
    emit,
    fbank_batch,
    interleaved,
    mosei_batch,
    peak_memory_mb,
    training_pass,
    typical_batches,
)
from modeling_mmembed import MMEmbedConfig, MMEmbedForEmotionRecognition, MMEmbedForPreTraining

BF16_PEAK_TFLOPS = {"H100": 989.4, "H200": 989.4, "A100": 312.0, "L4": 121.0, "A10": 125.0}


def device_peak_tflops(device: str) -> float | None:
    """Dense bf16 peak of the current CUDA device, by name; None when unknown."""
    name = torch.cuda.get_device_name() if device.startswith("cuda") else ""
    return next((peak for key, peak in BF16_PEAK_TFLOPS.items() if key in name), None)


def workload(name, config, model_class, make_batch, durations: list[np.ndarray], device, repeats: int) -> dict:
    model = model_class(config).to(device)
    batches = [make_batch(config, seconds, device, seed=index) for index, seconds in enumerate(durations)]
    samples = sum(len(seconds) for seconds in durations)
    frames = sum(audio_frames(batch) for batch in batches)
    padded_frames = sum(batch["attention_mask"].numel() for batch in batches)
    result = {
        "workload": name,
        "samples": samples,
        "audio_frames": frames,
        "padding_fraction": 1 - frames / padded_frames,
    }
    precisions = {"fp32": None, "bf16": torch.bfloat16}
    timings = interleaved(
        {label: training_pass(model, model, batches, device, dtype) for label, dtype in precisions.items()},
        repeats,
        device,
    )
    for label, seconds in timings.items():
        elapsed = statistics.median(seconds)
        result[label] = {
            "samples_per_s": samples / elapsed,
            "audio_frames_per_s": frames / elapsed,
            "seconds": elapsed,
            "repeats": len(seconds),
        }
    peak = device_peak_tflops(device)
    if peak is not None:
        flops = sum(counted_flops(model, batch) for batch in batches)
        result["bf16"]["model_flops_utilisation"] = flops / result["bf16"]["seconds"] / (peak * 1e12)
    return result


def main() -> dict:
    args = arguments(
        __doc__,
        batches=(int, 4, "batches timed per workload"),
        batch_size=(int, 32, "batch size"),
        repeats=(int, 5, "interleaved repeats (median)"),
    )
    batch_size, count = (4, 2) if args.smoke else (args.batch_size, args.batches)
    repeats = 2 if args.smoke else args.repeats
    durations = typical_batches(batch_size, count, max_seconds=6.0 if args.smoke else 30.0)
    presets = ("tiny", "tiny") if args.smoke else ("mosei_sdk", "base")
    emotion = MMEmbedConfig.from_preset(presets[0], text_feature_size=300)
    pretraining = MMEmbedConfig.from_preset(presets[1], num_speakers=1000)
    results = [
        workload(
            f"{presets[0]} emotion",
            emotion,
            MMEmbedForEmotionRecognition,
            mosei_batch,
            durations,
            args.device,
            repeats,
        ),
        workload(
            f"{presets[1]} pre-training",
            pretraining,
            MMEmbedForPreTraining,
            fbank_batch,
            durations,
            args.device,
            repeats,
        ),
    ]
    rows = []
    for result in results:
        for precision in ("fp32", "bf16"):
            if precision in result:
                figures = result[precision]
                mfu = figures.get("model_flops_utilisation")
                rows.append(
                    [
                        result["workload"],
                        precision,
                        f"{figures['samples_per_s']:.1f}",
                        f"{figures['audio_frames_per_s']:.0f}",
                        f"{result['padding_fraction']:.3f}",
                        "-" if mfu is None else f"{100 * mfu:.1f}%",
                    ]
                )
    record = {"batch_size": batch_size, "batches": count, "repeats": repeats, "results": results}
    record.update(peak_memory_mb(args.device))
    header = ["workload", "precision", "samples/s", "audio frames/s", "padding", "MFU"]
    return emit("figure 1: training step", record, rows, header, args)


if __name__ == "__main__":
    main()
