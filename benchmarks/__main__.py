"""
Run every benchmark, one module per figure, each in its own process (so each peak-memory figure is its own), from the
root of a clone of the repository (the benchmarks are not part of the installed package):

    python -m benchmarks [--smoke] [--only training_step data_loader ...] [--output outputs/benchmarks.json]
                         [--mult-repo PATH] [--device cuda]

Prints each module's table, then a summary with the targets, and writes all JSON records to `--output` (default
`outputs/benchmarks.json`, or `outputs/benchmarks-smoke.json` with `--smoke`, so the fast mode never overwrites the
figures of a full run; targets apply to the full sizes only). The
cross-figure target (loader rate >= 5 x the `mosei_sdk` training-step rate) is checked here. `mosei_prepare` (a
65 h synthetic CMU-MOSEI, GBs of disk) is not part of the run; call it on its own.
"""

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FIGURES = (
    "training_step",
    "reference_model",
    "attention_backends",
    "pipeline_latency",
    "fbank_speed",
    "data_loader",
    "encoder_forward",
    "generate_speed",
    "precision_speed",
    "onnx_runtime",
)
"""The figures of a run; `mult_reference` (figure 10) joins them when `--mult-repo` names a MulT checkout."""


def run_figure(name: str, smoke: bool, work: Path, device: str | None, extra: tuple[str, ...] = ()) -> dict:
    record = work / f"{name}.json"
    command = [sys.executable, "-m", f"benchmarks.{name}", "--record", str(record), *extra]
    command += ["--smoke"] if smoke else []
    command += ["--device", device] if device else []
    start = time.perf_counter()
    completed = subprocess.run(command, cwd=Path(__file__).resolve().parents[1], text=True, capture_output=True)
    if completed.returncode != 0:
        raise RuntimeError(f"benchmark {name} failed ({completed.returncode}):\n{completed.stderr[-4000:]}")
    print("\n".join(line for line in completed.stdout.splitlines() if not line.startswith("RECORD ")), flush=True)
    return {**json.loads(record.read_text()), "wall_s": round(time.perf_counter() - start, 1)}


def cross_figure_targets(records: dict) -> dict:
    """The data-loader target, which needs figure 1's training-step rate."""
    if "training_step" not in records or "data_loader" not in records:
        return {}
    step_rate = records["training_step"]["results"][0]["fp32"]["samples_per_s"]
    loader_rate = records["data_loader"]["loader_samples_per_s"]
    return {
        "loader_vs_training_step": loader_rate / step_rate,
        "targets": {"loader_at_least_5x_training_step": loader_rate >= 5 * step_rate},
    }


def main() -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--only", nargs="+", choices=FIGURES, default=list(FIGURES))
    parser.add_argument("--device")
    parser.add_argument("--output", type=Path, help="default: outputs/benchmarks.json (--smoke: benchmarks-smoke)")
    parser.add_argument("--mult-repo", type=Path, help="a checkout of yaohungt/Multimodal-Transformer: adds figure 10")
    args = parser.parse_args()
    args.output = args.output or Path("outputs", "benchmarks-smoke.json" if args.smoke else "benchmarks.json")
    records = {}
    with tempfile.TemporaryDirectory() as work:
        for name in args.only:
            records[name] = run_figure(name, args.smoke, Path(work), args.device)
        if args.mult_repo is not None:
            extra = ("--mult-repo", str(args.mult_repo.resolve()))
            records["mult_reference"] = run_figure("mult_reference", args.smoke, Path(work), args.device, extra)
    records["cross_figure"] = cross_figure_targets(records)
    print("\nsummary" + (" (smoke sizes: the targets apply to the full sizes only)" if args.smoke else ""))
    for name, record in records.items():
        targets = record.get("targets", {})
        memory = record.get("peak_rss_mb")
        line = f"  {name:<20} {'' if memory is None else f'peak RSS {memory:>7.0f} MB'}"
        line += f"  {record.get('wall_s', 0):>6.1f} s  " if "wall_s" in record else ""
        print(line + "  ".join(f"{target} {'met' if ok else 'NOT met'}" for target, ok in targets.items()))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(records, indent=1))
    return records


if __name__ == "__main__":
    main()
