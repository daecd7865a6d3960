"""
Figure 13: streamed pre-training at scale: a manifest of 100,000 utterances against one of 10,000.

    python -m benchmarks.pretraining_scale [--smoke] [--sizes 10000 100000] [--files 300] [--batch-size 16]

A few hundred generated WAVs (`--files`, 3-12 s of harmonic tones in noise, like VoxCeleb2's utterance lengths) are
listed under many ids, speakers (20 utterances each) and transcripts to make each manifest. Each size is measured in
its own process (its peak RSS is its own): reading and checking the manifest's rows, preparing the streamed corpus
(`build_pretraining_corpus(streaming=True)`: path shards written, the held-out splits, capped at `--max-heldout`
utterances each, featurised into the Arrow cache), the time from a `StreamLoader` (the training loader, 2 workers) to
its first batch, and loader throughput with 0 and 2 DataLoader workers; disk is the shard folder and the held-out
cache. The training step rate is the `paper` preset's pre-training step (forward, backward, AdamW) on batches from
the loader, for the target: loader >= 5 x step rate. The same sizes cached (`streaming=False`) would hold every
utterance's fbank: its disk is estimated from the mean frames per utterance (float16), not built.
"""

import json
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.common import arguments, emit, measured_in_own_process, peak_memory_mb, print_measured

WORDS = ("the quick brown fox jumps over a lazy dog while seven bright stars glow above cold quiet hills near "
         "old stone bridges and river banks").split()  # fmt: skip


def write_audio_files(folder: Path, count: int, seed: int = 0) -> list[tuple[str, float]]:
    """`count` 16 kHz WAVs of 3-12 s (tones in noise); their paths and durations."""
    import soundfile

    generator = np.random.default_rng(seed)
    files = []
    for index in range(count):
        seconds = float(generator.uniform(3, 12))
        time_axis = np.arange(int(seconds * 16000)) / 16000
        pitch = generator.uniform(90, 250)
        samples = sum(np.sin(2 * np.pi * pitch * k * time_axis) / k for k in range(1, 6)) * 0.1
        samples = samples + 0.01 * generator.standard_normal(len(time_axis))
        path = folder / f"clip{index:04d}.wav"
        soundfile.write(path, samples.astype(np.float32), 16000, subtype="PCM_16")
        files.append((str(path), seconds))
    return files


def write_scale_manifest(path: Path, files: list[tuple[str, float]], rows: int, seed: int = 0) -> float:
    """A manifest of `rows` utterances over `files`; returns the mean duration in seconds."""
    generator = np.random.default_rng(seed)
    picks = generator.integers(len(files), size=rows)
    with path.open("w") as handle:
        for index, pick in enumerate(picks):
            words = generator.choice(WORDS, size=int(generator.integers(5, 12)))
            row = {"id": f"id{index // 20:05d}/v/{index:07d}", "audio": files[pick][0],
                   "speaker": f"id{index // 20:05d}", "transcript": " ".join(words)}  # fmt: skip
            handle.write(json.dumps(row) + "\n")
    return float(np.mean([files[pick][1] for pick in picks]))


def folder_bytes(path: Path) -> int:
    return sum(item.stat().st_size for item in Path(path).rglob("*") if item.is_file())


def measure_size(manifest: Path, work: Path, batch_size: int, max_heldout: int, batches: int) -> dict:
    """One size, in this process: the timings, peak RSS and disk (the `--measure` mode)."""
    import torch

    from data_scripts.pretraining_corpus import build_pretraining_corpus
    from data_scripts.pretraining_shards import checked_rows
    from mmembed_training.collator import MMEmbedDataCollator
    from mmembed_training.streaming import StreamLoader

    start = time.perf_counter()
    rows, _, _ = checked_rows(manifest, "action_units", 256, check_files=False)
    check_s = time.perf_counter() - start
    manifest_rss = peak_memory_mb("cpu")["peak_rss_mb"]
    del rows
    start = time.perf_counter()
    corpus = build_pretraining_corpus(
        manifest, streaming=True, num_shards=8, cache_dir=work / "cache", max_heldout_utterances=max_heldout
    )
    prepare_s = time.perf_counter() - start
    collator = MMEmbedDataCollator("pretrain", ("audio",))
    loader_rates, first_batch_s, sample = {}, None, None
    for workers in (0, 2):
        loader = StreamLoader(corpus.stream, collator, batch_size, workers, 0, 1)
        start = time.perf_counter()
        iterator = iter(loader)
        sample = next(iterator)
        if workers == 2:
            first_batch_s = time.perf_counter() - start
        start, count = time.perf_counter(), 0
        for _ in range(batches):
            count += len(next(iterator)["speaker_labels"])
        loader_rates[workers] = count / (time.perf_counter() - start)
        del iterator
    heldout = sum(len(corpus[name]) for name in corpus if name != "train")
    shards = Path(corpus.stream.folder)
    return {
        "rows": corpus.stream.num_rows + heldout,
        "manifest_check_s": check_s,
        "manifest_rss_mb": manifest_rss,
        "prepare_s": prepare_s,
        "first_batch_s": first_batch_s,
        "loader_samples_per_s": {str(workers): rate for workers, rate in loader_rates.items()},
        "heldout_utterances": heldout,
        "shards_bytes": folder_bytes(shards),
        "heldout_cache_bytes": folder_bytes(work / "cache") - folder_bytes(shards),
        "mean_frames": float(sample["attention_mask"].sum(dim=1).float().mean()),
        **peak_memory_mb("cpu"),
        "sample_batch": {name: value for name, value in sample.items() if isinstance(value, torch.Tensor)},
    }


def training_step_rate(batch: dict, steps: int) -> float:
    """Samples/s of the `paper` preset's pre-training step (AdamW) on `batch`, audio only, fp32."""
    import torch

    from modeling_mmembed import MMEmbedConfig, MMEmbedForPreTraining

    config = MMEmbedConfig.from_preset("paper", num_speakers=6000, modalities=["audio"])
    model = MMEmbedForPreTraining(config).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    inputs = {name: batch[name] for name in ("input_features", "attention_mask", "labels", "speaker_labels")}
    for step in range(steps + 1):
        if step == 1:
            start = time.perf_counter()
        model(**inputs).loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    return len(inputs["speaker_labels"]) * steps / (time.perf_counter() - start)


def table_row(size: int, r: dict) -> list[str]:
    cells = [f"{size:,}", f"{r['manifest_check_s']:.1f}", f"{r['prepare_s']:.1f}", f"{r['first_batch_s']:.2f}"]
    cells += [f"{r['loader_samples_per_s'][workers]:.0f}" for workers in ("0", "2")]
    cells += [f"{r.get('paper_step_samples_per_s', float('nan')):.1f}", f"{r['peak_rss_mb']:.0f}"]
    cells += [f"{r['manifest_rss_mb']:.0f}", f"{r['shards_bytes'] / 2**20:.1f}"]
    return cells + [f"{r['heldout_cache_bytes'] / 2**20:.0f}", f"{r['cached_fbank_bytes_estimate'] / 2**30:.2f}"]


def main() -> dict:
    args = arguments(
        __doc__,
        sizes=(str, "10000,100000", "manifest sizes, comma-separated"),
        files=(int, 300, "generated WAVs the manifests list"),
        batch_size=(int, 16, "batch size"),
        max_heldout=(int, 250, "utterances per held-out split"),
        measure=(str, None, "internal: measure one manifest in this process and print its JSON"),
    )
    if args.measure:
        manifest, work = Path(args.measure), Path(args.measure).parent
        result = measure_size(manifest, work, args.batch_size, args.max_heldout, 4 if args.smoke else 40)
        batch = result.pop("sample_batch")
        if not args.smoke:
            result["paper_step_samples_per_s"] = training_step_rate(batch, 3)
        return print_measured(result)
    sizes = [200, 2000] if args.smoke else [int(size) for size in args.sizes.split(",")]
    max_heldout = 20 if args.smoke else args.max_heldout  # reached at every size: held-out memory is then equal
    results = {}
    with tempfile.TemporaryDirectory() as work:
        files = write_audio_files(Path(work), 20 if args.smoke else args.files)
        for size in sizes:
            folder = Path(work) / f"n{size}"
            folder.mkdir()
            mean_seconds = write_scale_manifest(folder / "manifest.jsonl", files, size)
            options = ["--measure", str(folder / "manifest.jsonl"), "--batch-size", str(args.batch_size)]
            options += ["--max-heldout", str(max_heldout)] + (["--smoke"] if args.smoke else [])
            measured = measured_in_own_process(
                "pretraining_scale", options, {"HF_DATASETS_DISABLE_PROGRESS_BARS": "1"}
            )
            results[size] = {**measured, "mean_seconds": mean_seconds}
            results[size]["cached_fbank_bytes_estimate"] = size * results[size]["mean_frames"] * 80 * 2
    small, large = results[sizes[0]], results[sizes[-1]]
    growth = {
        "rss_mb": large["peak_rss_mb"] - small["peak_rss_mb"],
        "manifest_rss_mb": large["manifest_rss_mb"] - small["manifest_rss_mb"],
    }
    rows = [table_row(size, result) for size, result in results.items()]
    header = ["rows", "check s", "prepare s", "1st batch s", "loader/s 0w", "loader/s 2w", "paper step/s",
              "peak RSS MB", "manifest RSS MB", "shards MB", "held-out MB", "cached fbank GB (est.)"]  # fmt: skip
    targets = {
        "rss_growth_within_manifest_growth_plus_10pct": growth["rss_mb"] <= growth["manifest_rss_mb"] * 1.1 + 20
    }
    if not args.smoke:
        targets["loader_2_workers_at_least_5x_paper_step"] = all(
            r["loader_samples_per_s"]["2"] >= 5 * r["paper_step_samples_per_s"] for r in results.values()
        )
    record = {"results": {str(size): r for size, r in results.items()}, "growth": growth, "targets": targets}
    return emit("pretraining_scale", record, rows, header, args)


if __name__ == "__main__":
    main()
