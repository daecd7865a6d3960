"""
Parameter counts and forward-pass times of the emotion model for each preset.

    python benchmarks/encoder_forward.py [--batch-size 8] [--seconds 10] [--repeats 5] [--device cpu]

Input: `--seconds` of audio at 100 frames/s, video at 30 frames/s and 2.5 words/s, every modality present. Prints
one row per preset: parameters (encoder, head), and the median and best wall time of `--repeats` forward passes
under `torch.inference_mode()` after one warm-up pass.
"""

import argparse
import statistics
import time

import torch

from modeling_mmembed import MMEmbedConfig, MMEmbedForEmotionRecognition

PRESETS = ("tiny", "base", "mosei_sdk")


def synthetic_batch(config: MMEmbedConfig, batch_size: int, seconds: float, device: str) -> dict:
    """Random features of the config's sizes: 100 Hz audio, 30 Hz video, 2.5 words per second."""
    lengths = {"audio": int(100 * seconds), "visual": int(30 * seconds), "text": max(1, int(2.5 * seconds))}
    return {
        "input_features": torch.randn(batch_size, lengths["audio"], config.audio_feature_size, device=device),
        "visual_features": torch.randn(batch_size, lengths["visual"], config.visual_feature_size, device=device),
        "text_features": torch.randn(batch_size, lengths["text"], config.text_feature_size, device=device),
    }


def time_forward(model: torch.nn.Module, batch: dict, repeats: int) -> list[float]:
    """Wall-clock seconds of `repeats` forward passes after one warm-up."""
    timings = []
    with torch.inference_mode():
        model(**batch)
        for _ in range(repeats):
            if batch["input_features"].is_cuda:
                torch.cuda.synchronize()
            start = time.perf_counter()
            model(**batch)
            if batch["input_features"].is_cuda:
                torch.cuda.synchronize()
            timings.append(time.perf_counter() - start)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {args.device}")
    print(f"batch {args.batch_size} x {args.seconds:g} s (audio 100 Hz, video 30 Hz, 2.5 words/s)")
    print(f"{'preset':<10} {'encoder params':>15} {'head params':>12} {'median ms':>10} {'best ms':>9}")
    for preset in PRESETS:
        config = MMEmbedConfig.from_preset(preset)
        model = MMEmbedForEmotionRecognition(config).to(args.device).eval()
        encoder_parameters = sum(p.numel() for p in model.mmembed.parameters())
        head_parameters = sum(p.numel() for p in model.classifier.parameters())
        batch = synthetic_batch(config, args.batch_size, args.seconds, args.device)
        timings = time_forward(model, batch, args.repeats)
        print(
            f"{preset:<10} {encoder_parameters:>15,} {head_parameters:>12,} "
            f"{1000 * statistics.median(timings):>10.1f} {1000 * min(timings):>9.1f}"
        )


if __name__ == "__main__":
    main()
