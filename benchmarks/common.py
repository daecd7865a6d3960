"""
What every benchmark shares: CMU-MOSEI-like and fbank batch shapes, a training pass under autocast, FLOP counts,
timing (median, percentiles, interleaved runs), peak memory, the machine description and the JSON record each module
prints.
"""

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

AUDIO_RATE = 100  # frames/s of COVAREP and of fbank alike
VISUAL_RATE = 30
WORDS_PER_SECOND = 2.5
CHARACTERS_PER_SECOND = 14


def training_pass(model, runner, batches: list[dict], device: str, dtype: torch.dtype | None):
    """
    A call that runs one training step (forward, backward, AdamW) per batch under `dtype` autocast (None: fp32);
    `runner` is `model` or its `torch.compile` wrapper, `model` owns the parameters the optimizer updates.
    """
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def run():
        model.train()
        for batch in batches:
            optimizer.zero_grad(set_to_none=True)
            with torch.autocast(device.split(":")[0], dtype=dtype, enabled=dtype is not None):
                loss = runner(**batch).loss
            loss.backward()
            optimizer.step()

    return run


def counted_flops(model, batch: dict, training: bool = True) -> int:
    """
    FLOPs of a training step's forward + backward (or, `training=False`, of an inference forward) with eager
    attention, so every back-end and precision is measured against the same count (`torch.utils.flop_counter`).
    """
    from torch.utils.flop_counter import FlopCounterMode

    attention = model.config._attn_implementation
    model.config._attn_implementation = "eager"
    try:
        with FlopCounterMode(display=False) as counter:
            if training:
                model(**batch).loss.backward()
                model.zero_grad(set_to_none=True)
            else:
                with torch.inference_mode():
                    model(**batch)
    finally:
        model.config._attn_implementation = attention
    return counter.get_total_flops()


def arguments(description: str, **extra) -> argparse.Namespace:
    """The options every benchmark takes: `--smoke` (tiny sizes, for the test suite), `--device`, `--record PATH`."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes and few repeats (the test suite's mode)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--record", type=Path, help="also write the JSON record to this file")
    for name, (kind, default, help_text) in extra.items():
        if kind is bool:
            parser.add_argument(f"--{name.replace('_', '-')}", action="store_true", help=help_text)
        else:
            parser.add_argument(f"--{name.replace('_', '-')}", type=kind, default=default, help=help_text)
    return parser.parse_args()


def segment_seconds(count: int, seed: int = 0, low: float = 2.0, high: float = 30.0) -> np.ndarray:
    """CMU-MOSEI-like segment durations: log-normal around 7 s, clipped to [`low`, `high`] seconds."""
    return np.clip(np.random.default_rng(seed).lognormal(np.log(7.0), 0.6, count), low, high)


def length_grouped(seconds: np.ndarray, batch_size: int, seed: int = 0) -> list[np.ndarray]:
    """
    Batches of indices the way `group_by_length` makes them: shuffled megabatches of 50 batches, each sorted by
    length, longest batch first.
    """
    order = np.random.default_rng(seed).permutation(len(seconds))
    megabatch = 50 * batch_size
    batches = []
    for start in range(0, len(order), megabatch):
        chunk = order[start : start + megabatch]
        chunk = chunk[np.argsort(-seconds[chunk], kind="stable")]
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    return batches


def typical_batches(batch_size: int, count: int, max_seconds: float = 30.0, seed: int = 0) -> list[np.ndarray]:
    """
    Segment durations of `count` batches drawn at random from the length-grouped order of 50 x `batch_size`
    CMU-MOSEI-like segments: the batches a `group_by_length` epoch is made of.
    """
    seconds = segment_seconds(50 * batch_size, seed=seed, high=max_seconds)
    groups = length_grouped(seconds, batch_size, seed=seed)
    picked = np.random.default_rng(seed).choice(len(groups), count, replace=False)
    return [seconds[groups[index]] for index in picked]


def padded(lengths: list[int], width: int, device: str, generator: torch.Generator) -> tuple[torch.Tensor, ...]:
    """Random `[B, max(lengths), width]` values (padding zeroed) and their right-padded bool mask `[B, T]`."""
    frames = max(lengths)
    mask = torch.arange(frames)[None, :] < torch.tensor(lengths)[:, None]
    values = torch.randn(len(lengths), frames, width, generator=generator) * mask[..., None]
    return values.to(device), mask.to(device)


def audio_and_video(config, seconds: np.ndarray, device: str, generator: torch.Generator) -> dict:
    """Padded audio frames (100 Hz) and video frames (30 Hz) with their masks for segments of `seconds`."""
    batch = {}
    batch["input_features"], batch["attention_mask"] = padded(
        [int(s * AUDIO_RATE) for s in seconds], config.audio_feature_size, device, generator
    )
    batch["visual_features"], batch["visual_attention_mask"] = padded(
        [int(s * VISUAL_RATE) for s in seconds], config.visual_feature_size, device, generator
    )
    return batch


def mosei_batch(config, seconds: np.ndarray, device: str, seed: int = 0) -> dict:
    """An emotion batch of the given segment durations: COVAREP-rate audio, FACET-rate video, GloVe-rate words."""
    generator = torch.Generator().manual_seed(seed)
    batch = audio_and_video(config, seconds, device, generator)
    batch["text_features"], batch["text_attention_mask"] = padded(
        [max(1, int(s * WORDS_PER_SECOND)) for s in seconds], config.text_feature_size, device, generator
    )
    batch["labels"] = (torch.rand(len(seconds), config.num_labels, generator=generator) > 0.7).float().to(device)
    return batch


def fbank_batch(config, seconds: np.ndarray, device: str, seed: int = 0) -> dict:
    """A pre-training batch: 80-bin fbank at 100 Hz, 30 Hz video, transcripts of ~14 characters/s, speaker ids."""
    generator = torch.Generator().manual_seed(seed)
    batch = audio_and_video(config, seconds, device, generator)
    lengths = [min(int(s * CHARACTERS_PER_SECOND), config.max_target_positions - 1) for s in seconds]
    labels = torch.full((len(seconds), max(lengths)), -100, dtype=torch.long)
    for row, length in enumerate(lengths):
        labels[row, :length] = torch.randint(4, config.vocab_size, (length,), generator=generator)
    batch["labels"] = labels.to(device)
    batch["speaker_labels"] = torch.randint(0, config.num_speakers, (len(seconds),), generator=generator).to(device)
    return batch


def audio_frames(batch: dict) -> int:
    """Real (unpadded) audio frames in a batch."""
    return int(batch["attention_mask"].sum())


def synchronize(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def timed(call: Callable[[], object], device: str) -> float:
    """Wall seconds of one call, synchronised on an accelerator."""
    synchronize(device)
    start = time.perf_counter()
    call()
    synchronize(device)
    return time.perf_counter() - start


def repeated(call: Callable[[], object], repeats: int, device: str, warmup: int = 1) -> dict:
    """`summary` of `repeats` timed calls after `warmup` untimed ones."""
    for _ in range(warmup):
        call()
    return summary([timed(call, device) for _ in range(repeats)])


def interleaved(calls: dict[str, Callable[[], object]], repeats: int, device: str, warmup: int = 1) -> dict:
    """
    Seconds per call of each of `calls`, run in turn (A, B, A, B, ...) `repeats` times after `warmup` rounds, so that
    machine noise hits all alike. Returns per name the list of timings.
    """
    for _ in range(warmup):
        for call in calls.values():
            call()
    timings = {name: [] for name in calls}
    for _ in range(repeats):
        for name, call in calls.items():
            timings[name].append(timed(call, device))
    return timings


def summary(timings: list[float]) -> dict:
    """Median, p95 (nearest rank), min and count of a list of seconds."""
    ordered = sorted(timings)
    p95 = ordered[min(len(ordered) - 1, int(np.ceil(0.95 * len(ordered))) - 1)]
    return {"median_s": statistics.median(ordered), "p95_s": p95, "min_s": ordered[0], "runs": len(ordered)}


def peak_memory_mb(device: str) -> dict:
    """Peak resident memory of this process (MB) and, on CUDA, the peak allocated by torch."""
    peak = {"peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}
    if device.startswith("cuda"):
        peak["cuda_max_memory_allocated_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    return peak


def machine(device: str) -> str:
    name = torch.cuda.get_device_name() if device.startswith("cuda") else f"{os.cpu_count()} CPU cores"
    return f"{platform.machine()}, {name}, torch {torch.__version__}, {torch.get_num_threads()} threads"


def measured_in_own_process(module: str, arguments: list[str], environment: dict | None = None) -> dict:
    """
    Run `python -m benchmarks.<module> *arguments` (its `--measure`-style mode, which prints `MEASURED <json>` through
    `print_measured`) in a process of its own, so that its peak memory is its own; the JSON it printed.
    """
    command = [sys.executable, "-m", f"benchmarks.{module}", *arguments]
    done = subprocess.run(command, capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1],
                          env={**os.environ, **(environment or {})})  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(arguments)} failed:\n{done.stderr[-4000:]}")
    line = next(line for line in done.stdout.splitlines() if line.startswith("MEASURED "))
    return json.loads(line[len("MEASURED ") :])


def print_measured(result: dict) -> dict:
    """What `measured_in_own_process` reads back."""
    print("MEASURED " + json.dumps(result))
    return result


def emit(figure: str, record: dict, rows: list[list], header: list[str], args: argparse.Namespace) -> dict:
    """Print a human table and the JSON record (one line, prefixed `RECORD `); write it to `--record` if given."""
    record = {"figure": figure, "machine": machine(args.device), "smoke": args.smoke, **record}
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=True)]
    print(f"{figure} ({record['machine']})")
    for line in (header, *rows):
        print("  ".join(str(cell).rjust(width) for cell, width in zip(line, widths, strict=True)))
    print("RECORD " + json.dumps(record))
    if args.record is not None:
        args.record.parent.mkdir(parents=True, exist_ok=True)
        args.record.write_text(json.dumps(record, indent=1))
    return record
