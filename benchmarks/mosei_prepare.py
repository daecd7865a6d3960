"""
Preparation speed and peak memory of `load_mosei` on a synthetic CMU-MOSEI of real size and frame rates.

    python benchmarks/mosei_prepare.py WORK_DIR [--scale 1.0] [--num-proc 2]

Writes (once; reused when present) 3,227 x `--scale` videos of 72.5 s each (about 65 h at full scale), uncompressed
float32: COVAREP 74-d at 100 Hz, FACET 35-d at 30 Hz, words and GloVe 300-d at 2.5 words/s, and 7 labelled segments
per video; the fold ids are the real standard folds. Then prepares it in a fresh process with `load_mosei` and reports
wall time, the size of the input files and of the Arrow cache, and the peak resident memory of the preparing process
and of its worker processes.
"""

import argparse
import json
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from data_scripts.csd import regular_intervals, write_csd  # noqa: E402
from data_scripts.mosei import MOSEI_FILES, standard_folds  # noqa: E402

VIDEO_SECONDS = 72.5
SEGMENTS_PER_VIDEO = 7


def write_synthetic_mosei(directory: Path, scale: float) -> None:
    """Write the six `.csd` files video by video (each file streamed, never a whole modality in memory)."""
    import h5py

    directory.mkdir(parents=True, exist_ok=True)
    video_ids = [video_id for ids in standard_folds().values() for video_id in ids[: max(1, round(len(ids) * scale))]]
    rng = np.random.default_rng(0)
    streams = {  # role -> (file, root name, rows per second, width)
        "covarep": (MOSEI_FILES["covarep"], "COVAREP", 100, 74),
        "facet42": (MOSEI_FILES["facet42"], "FACET 4.2", 30, 35),
        "glove": (MOSEI_FILES["glove"], "glove_vectors", 2.5, 300),
    }
    segment_seconds = VIDEO_SECONDS / SEGMENTS_PER_VIDEO
    labels, words = {}, {}
    for video_id in video_ids:
        starts = np.arange(SEGMENTS_PER_VIDEO) * segment_seconds
        values = np.concatenate([rng.uniform(-3, 3, (7, 1)), rng.choice([0, 1 / 3, 2 / 3, 1], (7, 6))], axis=1)
        labels[video_id] = (values, np.stack([starts, starts + segment_seconds], axis=1))
        count = int(VIDEO_SECONDS * 2.5)
        words[video_id] = (np.array([[b"word"]] * count, dtype="S12"), regular_intervals(count, 0.4))
    write_csd(directory / MOSEI_FILES["labels"], "All Labels", labels, compression=None)
    write_csd(directory / MOSEI_FILES["words"], "words", words, compression=None)
    for file_name, root, rate, width in streams.values():
        with h5py.File(directory / file_name, "w") as handle:
            data = handle.create_group(f"{root}/data")
            count = int(VIDEO_SECONDS * rate)
            for video_id in video_ids:
                video = data.create_group(video_id)
                video["features"] = rng.random((count, width), dtype=np.float32)
                video["intervals"] = regular_intervals(count, 1 / rate)
            handle.create_group(f"{root}/metadata")


def prepare_in_this_process(directory: Path, cache: Path, num_proc: int) -> None:
    from data_scripts.mosei import load_mosei

    start = time.perf_counter()
    mosei = load_mosei(directory, cache_dir=cache, num_proc=num_proc)
    seconds = time.perf_counter() - start
    report = {
        "seconds": seconds,
        "segments": mosei.report["segments"],
        "peak_rss_mb_main": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "peak_rss_mb_largest_worker": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
    }
    print(json.dumps(report))


def folder_gb(path: Path) -> float:
    return sum(file.stat().st_size for file in path.rglob("*") if file.is_file()) / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("work_dir", type=Path)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--num-proc", type=int, default=2)
    parser.add_argument("--prepare-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    data, cache = args.work_dir / f"mosei-{args.scale:g}", args.work_dir / f"cache-{args.scale:g}"
    if args.prepare_only:
        prepare_in_this_process(data, cache, args.num_proc)
        return
    if not (data / MOSEI_FILES["labels"]).is_file():
        start = time.perf_counter()
        write_synthetic_mosei(data, args.scale)
        print(f"wrote {folder_gb(data):.2f} GB of synthetic .csd files in {time.perf_counter() - start:.0f} s")
    shutil.rmtree(cache, ignore_errors=True)
    command = [sys.executable, __file__, str(args.work_dir), "--scale", str(args.scale)]
    command += ["--num-proc", str(args.num_proc), "--prepare-only"]
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    report = json.loads(result.stdout.strip().splitlines()[-1])
    hours = args.scale * 3227 * VIDEO_SECONDS / 3600
    print(
        f"scale {args.scale:g} ({hours:.1f} h of video, {folder_gb(data):.2f} GB of .csd): prepared "
        f"{sum(report['segments'].values())} segments {report['segments']} in {report['seconds']:.0f} s with "
        f"num_proc={args.num_proc}; Arrow cache {folder_gb(cache):.2f} GB; peak RSS main "
        f"{report['peak_rss_mb_main']:.0f} MB, largest worker {report['peak_rss_mb_largest_worker']:.0f} MB"
    )


if __name__ == "__main__":
    main()
