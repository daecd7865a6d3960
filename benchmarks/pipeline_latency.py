"""
Latency of the MMEmbed pipelines on one clip, from a saved checkpoint of the given preset (random weights).

    python benchmarks/pipeline_latency.py [--preset base] [--seconds 10] [--repeats 5] [--characters 150]

Times, per call (median of `--repeats` after one warm-up): `audio-classification` (audio only),
`multimodal-emotion-recognition` (audio, 30 Hz visual frames and a transcript), and `automatic-speech-recognition`
generating exactly `--characters` characters greedily and with the pipeline's default 5 beams (a random model never
stops on its own, so the length is fixed for a fair figure).
"""

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from transformers import pipeline

from modeling_mmembed import (
    MMEmbedConfig,
    MMEmbedFeatureExtractor,
    MMEmbedForEmotionRecognition,
    MMEmbedForPreTraining,
    MMEmbedProcessor,
    MMEmbedTokenizer,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.audio_signals import speech_like  # noqa: E402


def median_seconds(call, repeats: int) -> float:
    call()
    timings = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        timings.append(time.perf_counter() - start)
    return statistics.median(timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="base")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--characters", type=int, default=150)
    args = parser.parse_args()

    processor = MMEmbedProcessor(MMEmbedFeatureExtractor(), MMEmbedTokenizer())
    clip = speech_like(args.seconds)
    visual = np.random.default_rng(0).standard_normal((int(30 * args.seconds), 35)).astype(np.float32)
    transcript = "the quick brown fox jumps over the lazy dog " * max(1, int(args.seconds / 4))
    with tempfile.TemporaryDirectory() as work:
        emotion_dir, asr_dir = Path(work) / "emotion", Path(work) / "asr"
        config = MMEmbedConfig.from_preset(args.preset, text_feature_size=None, text_vocab_size=42)
        MMEmbedForEmotionRecognition(config).save_pretrained(emotion_dir)
        MMEmbedForPreTraining(MMEmbedConfig.from_preset(args.preset, num_speakers=100)).save_pretrained(asr_dir)
        for directory in (emotion_dir, asr_dir):
            processor.save_pretrained(directory)

        classifier = pipeline("audio-classification", model=str(emotion_dir), trust_remote_code=True, top_k=None)
        emotion = pipeline("multimodal-emotion-recognition", model=str(emotion_dir), trust_remote_code=True)
        asr = pipeline("automatic-speech-recognition", model=str(asr_dir), trust_remote_code=True)
        length = {"min_new_tokens": args.characters, "max_new_tokens": args.characters}
        calls = {
            "audio-classification (audio)": lambda: classifier({"array": clip, "sampling_rate": 16000}),
            "multimodal-emotion (audio+visual+text)": lambda: emotion(
                {"audio": clip, "visual": visual, "transcript": transcript}
            ),
            f"asr, greedy, {args.characters} chars": lambda: asr(clip, generate_kwargs={**length, "num_beams": 1}),
            f"asr, 5 beams, {args.characters} chars": lambda: asr(clip, generate_kwargs={**length, "num_beams": 5}),
        }
        print(f"preset {args.preset}, {args.seconds:g} s clip, CPU, median of {args.repeats}")
        for name, call in calls.items():
            print(f"{name:<42} {1000 * median_seconds(call, args.repeats):>9.1f} ms")


if __name__ == "__main__":
    main()
