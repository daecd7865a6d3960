"""
Greedy (or beam) decoding speed of the pre-training model's ASR decoder, in generated tokens per second.

    python -m benchmarks.generate_speed [--smoke] [--batch-sizes 1 8] [--tokens 100] [--seconds 10] [--num-beams 1]

Each run encodes `--seconds` of 100 Hz audio plus 30 Hz video once and generates exactly `--tokens` characters per
sample (`min_new_tokens` = `max_new_tokens`, so eos cannot end it early), with the key/value cache. Tokens per second
counts the tokens of all samples, excluding beams; the encoder pass is included in the time.
"""

from functools import partial

import numpy as np
import torch

from benchmarks.common import arguments, emit, fbank_batch, peak_memory_mb, repeated
from modeling_mmembed import MMEmbedConfig, MMEmbedForPreTraining


def main() -> dict:
    args = arguments(
        __doc__,
        tokens=(int, 100, "characters generated per sample"),
        seconds=(float, 10.0, "clip length"),
        num_beams=(int, 1, "beams"),
        repeats=(int, 3, "timed runs"),
    )
    presets, batch_sizes = (("tiny",), (1, 2)) if args.smoke else (("tiny", "base"), (1, 8))
    tokens = 5 if args.smoke else args.tokens
    results = []
    for preset in presets:
        model = MMEmbedForPreTraining(MMEmbedConfig.from_preset(preset, num_speakers=100)).to(args.device).eval()
        for batch_size in batch_sizes:
            batch = fbank_batch(model.config, np.full(batch_size, args.seconds), args.device)
            inputs = {
                key: batch[key]
                for key in ("input_features", "attention_mask", "visual_features", "visual_attention_mask")
            }
            options = {"num_beams": args.num_beams, "min_new_tokens": tokens, "max_new_tokens": tokens}
            with torch.inference_mode():
                generated = model.generate(**inputs, **options)
                if generated.shape != (batch_size, tokens + 1):
                    raise AssertionError(f"expected {(batch_size, tokens + 1)} tokens, got {tuple(generated.shape)}")
                timings = repeated(partial(model.generate, **inputs, **options), args.repeats, args.device, 0)
            results.append(
                {
                    "preset": preset,
                    "parameters": sum(p.numel() for p in model.parameters()),
                    "batch_size": batch_size,
                    "tokens_per_s": batch_size * tokens / timings["median_s"],
                    **timings,
                }
            )
    rows = [[r["preset"], f"{r['parameters']:,}", r["batch_size"], f"{r['tokens_per_s']:.0f}"] for r in results]
    record = {"tokens": tokens, "num_beams": args.num_beams, "results": results, **peak_memory_mb(args.device)}
    return emit(
        f"greedy decoding, {tokens} characters, beams {args.num_beams}",
        record,
        rows,
        ["preset", "params", "batch", "tokens/s"],
        args,
    )


if __name__ == "__main__":
    main()
