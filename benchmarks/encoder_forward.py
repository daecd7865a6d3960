"""
Parameter counts and inference forward time of the emotion model for each preset.

    python -m benchmarks.encoder_forward [--smoke] [--batch-size 8] [--seconds 10] [--repeats 5] [--device cpu]

Input: `--seconds` of audio at 100 frames/s, video at 30 frames/s and 2.5 words/s, every modality present, every
sample that long. Per preset: parameters (encoder, head) and the median and best wall time of `--repeats` forward
passes under `torch.inference_mode()` after one warm-up pass.
"""

from functools import partial

import numpy as np
import torch

from benchmarks.common import arguments, emit, mosei_batch, peak_memory_mb, repeated
from modeling_mmembed import MMEmbedConfig, MMEmbedForEmotionRecognition


def main() -> dict:
    args = arguments(
        __doc__,
        batch_size=(int, 8, "batch size"),
        seconds=(float, 10.0, "clip length"),
        repeats=(int, 5, "timed passes"),
    )
    presets, repeats = (("tiny",), 2) if args.smoke else (("tiny", "base", "mosei_sdk"), args.repeats)
    results = {}
    for preset in presets:
        model = MMEmbedForEmotionRecognition(MMEmbedConfig.from_preset(preset)).to(args.device).eval()
        batch = mosei_batch(model.config, np.full(args.batch_size, args.seconds), args.device)
        batch.pop("labels")
        with torch.inference_mode():
            timings = repeated(partial(model, **batch), repeats, args.device)
        results[preset] = {
            "encoder_parameters": sum(p.numel() for p in model.mmembed.parameters()),
            "head_parameters": sum(p.numel() for p in model.classifier.parameters()),
            **timings,
        }
    rows = [
        [
            preset,
            f"{r['encoder_parameters']:,}",
            f"{r['head_parameters']:,}",
            f"{1000 * r['median_s']:.1f}",
            f"{1000 * r['min_s']:.1f}",
        ]
        for preset, r in results.items()
    ]
    record = {
        "batch_size": args.batch_size,
        "seconds": args.seconds,
        "results": results,
        **peak_memory_mb(args.device),
    }
    header = ["preset", "encoder params", "head params", "median ms", "best ms"]
    return emit(f"forward pass, batch {args.batch_size} x {args.seconds:g} s", record, rows, header, args)


if __name__ == "__main__":
    main()
