"""
Figure 11: batch-1 latency of the emotion model in PyTorch (fp32, bf16 weights) and ONNX Runtime (fp32, dynamic
int8), and, for a trained model, what each variant does to its test scores.

    python -m benchmarks.onnx_runtime [--smoke] [--threads 1] [--repeats 15]
        [--model outputs/long500/mosei-format-scratch-all-seed0 --corpus demo-mosei
         --demo-root ~/.cache/mmembed/demo-v4-full-seed500]

Latency: one request at the `mosei_sdk` preset's CMU-MOSEI lengths (audio 500 x 74, vision 500 x 35, text 50 x 300)
and at the `base` preset's 10 s clip (1,000 fbank frames, 300 visual frames, 25 words), random weights, interleaved,
median of `--repeats` after a warm-up round. bf16 is timed only where the CPU has native bf16 (`avx512_bf16` or AMX).
Quality (with `--model`): the test split scored with the model's stored thresholds by each variant; each variant's
mean weighted accuracy minus PyTorch fp32's, with a paired bootstrap interval over the test segments. A variant is
kept for serving where that interval contains 0.
"""

import copy
import tempfile
from functools import partial
from pathlib import Path

import numpy as np
import torch

from benchmarks.common import arguments, emit, interleaved, peak_memory_mb, summary
from modeling_mmembed import MMEmbedConfig, MMEmbedForEmotionRecognition
from modeling_mmembed.onnx_mmembed import MMEmbedOnnxModel, export_onnx, modality_inputs, quantize_onnx

REQUESTS = {
    "mosei_sdk, CMU-MOSEI lengths": ("mosei_sdk", {"audio": 500, "visual": 500, "text": 50}),
    "base, 10 s clip": ("base", {"audio": 1000, "visual": 300, "text": 25}),
}


def cpu_has_native_bf16() -> bool:
    flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").is_file() else ""
    return any(flag in flags for flag in ("avx512_bf16", "amx_bf16"))


def variants(model, work: Path, threads: int) -> dict:
    """name -> a function of the model's inputs returning logits as numpy: PyTorch fp32 / bf16, ONNX fp32 / int8."""
    graph = export_onnx(model, work / "model.onnx")
    sessions = {
        "ONNX Runtime fp32": MMEmbedOnnxModel(graph, model.config, threads=threads),
        "ONNX Runtime int8": MMEmbedOnnxModel(quantize_onnx(graph), model.config, threads=threads),
    }

    def torch_call(network):
        def call(**inputs):
            with torch.inference_mode():
                return network(**inputs).logits.float().numpy()

        return call

    calls = {"PyTorch fp32": torch_call(model)}
    if cpu_has_native_bf16():
        calls["PyTorch bf16 weights"] = torch_call(copy.deepcopy(model).to(torch.bfloat16))
    return {**calls, **sessions}


SMOKE_REQUESTS = {"tiny, short": ("tiny", {"audio": 120, "visual": 30, "text": 6})}


def latency(args, repeats: int) -> dict:
    results = {}
    for label, (preset, lengths) in (SMOKE_REQUESTS if args.smoke else REQUESTS).items():
        config_overrides = {"text_feature_size": None, "text_vocab_size": 42} if preset == "base" else {}
        torch.manual_seed(0)
        model = MMEmbedForEmotionRecognition(MMEmbedConfig.from_preset(preset, **config_overrides)).eval()
        inputs = modality_inputs(model.config, {modality: [frames] for modality, frames in lengths.items()})
        with tempfile.TemporaryDirectory() as work:
            calls = variants(model, Path(work), args.threads)
            timings = interleaved({name: partial(call, **inputs) for name, call in calls.items()}, repeats, "cpu")
        results[label] = {name: summary(values) for name, values in timings.items()}
    return results


def quality(args) -> dict:
    """Test mean WA of each variant of a trained model, and its paired difference from PyTorch fp32."""
    from mmembed_training.arguments import parse_arguments
    from mmembed_training.collator import MMEmbedDataCollator
    from mmembed_training.data import load_corpus
    from mmembed_training.evaluation import batches
    from mmembed_training.scores import emotion_scores, paired_bootstrap
    from mmembed_training.stages import EMOTION

    with tempfile.TemporaryDirectory() as work:
        flags = ["--stage", "evaluate", "--corpus", args.corpus, "--model_name_or_path", str(args.model)]
        flags += ["--output_dir", work] + (["--demo_root", str(args.demo_root)] if args.demo_root else [])
        run, _ = parse_arguments(flags)
        model = MMEmbedForEmotionRecognition.from_pretrained(args.model).eval()
        test = load_corpus(run, "emotion")["test"]
        calls = variants(model, Path(work), args.threads)
        collator = MMEmbedDataCollator(EMOTION, model.config.modalities)
        logits, labels = {name: [] for name in calls}, []
        for batch in batches(test, collator, 16, "cpu"):
            labels.append(batch.pop("labels").numpy())
            for name, call in calls.items():
                logits[name].append(call(**batch))
    labels = np.concatenate(labels).astype(int)
    thresholds = np.asarray(model.config.thresholds)
    decisions = {name: 1 / (1 + np.exp(-np.concatenate(values))) >= thresholds for name, values in logits.items()}
    scores = {}
    for name in calls:
        probabilities = 1 / (1 + np.exp(-np.concatenate(logits[name])))
        scores[name] = {
            "mean_weighted_accuracy": emotion_scores(probabilities, labels, thresholds)["mean_weighted_accuracy"],
            "minus_fp32": paired_bootstrap(labels, decisions[name], decisions["PyTorch fp32"]),
            "decisions_changed": float((decisions[name] != decisions["PyTorch fp32"]).mean()),
        }
    return {"model": str(args.model), "corpus": args.corpus, "test_segments": len(labels), "scores": scores}


def main() -> dict:
    args = arguments(
        __doc__,
        threads=(int, 1, "torch and ONNX Runtime threads"),
        repeats=(int, 15, "interleaved rounds"),
        model=(Path, None, "a trained emotion model folder, for the quality figure"),
        corpus=(str, "demo-mosei", "its --corpus"),
        demo_root=(Path, None, "its --demo_root, for the demo corpora"),
    )
    torch.set_num_threads(args.threads)
    record = {"threads": args.threads, "native_bf16": cpu_has_native_bf16()}
    record["latency"] = latency(args, 2 if args.smoke else args.repeats)
    rows = []
    for label, timings in record["latency"].items():
        fp32 = timings["PyTorch fp32"]["median_s"]
        rows += [
            [label, name, f"{1000 * t['median_s']:.1f}", f"{1000 * t['p95_s']:.1f}", f"{fp32 / t['median_s']:.2f}x"]
            for name, t in timings.items()
        ]
    if args.model is not None:
        record["quality"] = quality(args)
        for name, score in record["quality"]["scores"].items():
            difference = score["minus_fp32"]
            rows.append([
                "test mean WA", name, f"{score['mean_weighted_accuracy']:.4f}",
                f"{difference['difference']:+.4f} [{difference['low']:+.4f}, {difference['high']:+.4f}]",
                f"{100 * score['decisions_changed']:.2f}% decisions changed",
            ])  # fmt: skip
    record.update(peak_memory_mb("cpu"))
    header = ["request", "variant", "median ms", "p95 ms", "speed-up"]
    return emit("11 ONNX Runtime and precision, batch 1", record, rows, header, args)


if __name__ == "__main__":
    main()
