"""
Greedy (and optionally beam) decoding speed of the pre-training model's ASR decoder, in generated tokens per second.

    python benchmarks/generate_speed.py [--batch-size 1 8] [--tokens 100] [--seconds 10] [--num-beams 1]

Each run encodes `--seconds` of 100 Hz audio plus 30 Hz video once and generates exactly `--tokens` characters per
sample (`min_new_tokens` = `max_new_tokens`, so eos cannot end it early), with the key/value cache. Tokens per second
counts the tokens of all samples, excluding beams; the encoder pass is included in the time.
"""

import argparse
import statistics
import time

import torch

from modeling_mmembed import MMEmbedConfig, MMEmbedForPreTraining

PRESETS = ("tiny", "base")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch-size", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--tokens", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--num-beams", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()

    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {args.device}, beams {args.num_beams}"
    )
    print(f"{'preset':<8} {'params':>11} {'batch':>6} {'median s':>9} {'tokens/s':>9}")
    for preset in PRESETS:
        config = MMEmbedConfig.from_preset(preset, num_speakers=100)
        model = MMEmbedForPreTraining(config).to(args.device).eval()
        parameters = sum(p.numel() for p in model.parameters())
        for batch_size in args.batch_size:
            inputs = {
                "input_features": torch.randn(batch_size, int(100 * args.seconds), config.audio_feature_size),
                "visual_features": torch.randn(batch_size, int(30 * args.seconds), config.visual_feature_size),
            }
            inputs = {key: value.to(args.device) for key, value in inputs.items()}
            timings = []
            with torch.inference_mode():
                for repeat in range(args.repeats + 1):
                    start = time.perf_counter()
                    tokens = model.generate(
                        **inputs,
                        num_beams=args.num_beams,
                        min_new_tokens=args.tokens,
                        max_new_tokens=args.tokens,
                    )
                    if args.device != "cpu":
                        torch.cuda.synchronize()
                    if repeat > 0:  # the first run warms up
                        timings.append(time.perf_counter() - start)
            assert tokens.shape == (batch_size, args.tokens + 1), tokens.shape
            median = statistics.median(timings)
            print(
                f"{preset:<8} {parameters:>11,} {batch_size:>6} {median:>9.3f} "
                f"{batch_size * args.tokens / median:>9.0f}"
            )


if __name__ == "__main__":
    main()
