"""
Parquet shards of a pre-training manifest, for streaming at VoxCeleb2 scale: a few hundred files instead of millions
of small ones on network storage.

    mmembed-shard manifest.jsonl shards/ --num_shards 256 --num_proc 16   # python -m data_scripts.pretraining_shards

writes `shards/train-00000-of-00256.parquet` ... (the training rows, shuffled once across shards, each with its audio
file's bytes and its visual frames), one Parquet file per held-out split (`validation_sentence.parquet`, ...) and
`shards.json`, the index: the speakers (person-id classes), the schema, each shard's row count, the rows skipped and
why. `build_pretraining_corpus("shards/", streaming=True)` and `train.py --corpus manifest --data_dir shards/` read it.
Without `--embed_audio` (`embed_audio=False`) the shards hold paths instead of bytes: what `build_pretraining_corpus`
writes for itself when it streams a manifest.

Every row is checked as the cached builder checks it (`RowChecker`); bad rows are left out and listed in the index. A
shard whose Parquet footer is missing (a cut-off copy) or whose row count is not the index's is named when the corpus
is opened (`read_shard_index`), before any training step.
"""

import argparse
import io
import json
import logging
import random
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from modeling_mmembed.configuration_mmembed import MMEmbedConfig

from .pretraining_corpus import assign_splits, checked_rows, read_visual_frames

logger = logging.getLogger(__name__)

INDEX_NAME = "shards.json"
INDEX_FORMAT = "mmembed-pretraining-shards/1"
HELDOUT_SPLITS = ("validation_speaker", "validation_sentence", "test_speaker", "test_sentence")
ROW_GROUP_SIZE = 256
"""Rows per Parquet row group: what a reader holds at once, besides the shuffle buffer."""


def shard_name(index: int, count: int) -> str:
    return f"train-{index:05d}-of-{count:05d}.parquet"


def row_schema():
    import pyarrow as pa

    return pa.schema(
        [
            ("id", pa.string()),
            ("speaker", pa.string()),
            ("transcript", pa.string()),
            ("text", pa.string()),
            ("audio_path", pa.string()),
            ("audio_bytes", pa.binary()),
            ("visual_path", pa.string()),
            ("visual_npy", pa.binary()),
        ]
    )


def stored_row(row: dict, embed_audio: bool, visual_columns: str) -> dict:
    """A manifest row as a shard stores it: with `embed_audio`, its audio file's bytes and visual frames (`.npy`)."""
    stored = {
        "id": str(row["id"]),
        "speaker": row["speaker"],
        "transcript": row["transcript"],
        "text": row.get("text") or None,
        "audio_path": row["audio"],
        "audio_bytes": None,
        "visual_path": row.get("visual") or None,
        "visual_npy": None,
    }
    if embed_audio:
        stored["audio_bytes"] = Path(row["audio"]).read_bytes()
        if row.get("visual"):
            buffer = io.BytesIO()
            np.save(buffer, read_visual_frames(row["visual"], visual_columns), allow_pickle=False)
            stored["visual_npy"] = buffer.getvalue()
    return stored


def write_rows(path: Path, rows: list[dict], embed_audio: bool, visual_columns: str) -> int:
    """Write `rows` as one Parquet file (through a temporary name: a killed writer leaves no file that looks whole)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    partial = path.with_name(path.name + ".partial")
    with pq.ParquetWriter(partial, row_schema()) as writer:
        for start in range(0, len(rows), ROW_GROUP_SIZE):
            chunk = [stored_row(row, embed_audio, visual_columns) for row in rows[start : start + ROW_GROUP_SIZE]]
            writer.write_table(pa.Table.from_pylist(chunk, schema=row_schema()))
    partial.replace(path)
    return len(rows)


def _write_rows_task(arguments) -> int:
    return write_rows(*arguments)


def write_shards(
    manifest,
    output_dir,
    *,
    num_shards: int = 64,
    embed_audio: bool = True,
    heldout_sentence_fraction: float = 0.1,
    heldout_utterance_fraction: float = 0.1,
    max_heldout_utterances: int | None = None,
    visual_columns: str = "action_units",
    seed: int = 0,
    num_proc: int | None = None,
    max_transcript_tokens: int = MMEmbedConfig.max_target_positions,
    check_files: bool = True,
) -> Path:
    """
    Write the shards of `manifest` into `output_dir` (see the module's docstring) and return the index's path. The
    splits are those of the cached builder (`assign_splits`, same seed and fractions); the training rows are shuffled
    with `seed` and dealt round-robin into `num_shards` shards. `check_files=False` checks rows' fields only (the files
    are then checked as they are streamed, and bad ones skipped there).
    """
    if num_shards < 1:
        raise ValueError(f"num_shards must be at least 1, got {num_shards}.")
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    rows, skipped, checker = checked_rows(manifest, visual_columns, max_transcript_tokens, check_files)
    if not rows:
        raise ValueError(f"{manifest} has no usable rows.")
    splits = assign_splits(rows, heldout_sentence_fraction, heldout_utterance_fraction, seed, max_heldout_utterances)
    if not check_files:  # the held-out splits are cached, not streamed: their files are checked now
        checker.check_files = True
        for name in HELDOUT_SPLITS:
            problems = [(row, checker.files_problem(row)) for row in splits[name]]
            skipped += [(str(row["id"]), problem) for row, problem in problems if problem]
            splits[name] = [row for row, problem in problems if not problem]
    train = splits["train"]
    random.Random(seed).shuffle(train)
    tasks = [
        (output_dir / shard_name(index, num_shards), train[index::num_shards], embed_audio, visual_columns)
        for index in range(num_shards)
    ]
    tasks += [(output_dir / f"{name}.parquet", splits[name], embed_audio, visual_columns) for name in HELDOUT_SPLITS]
    if num_proc and num_proc > 1:
        with ProcessPoolExecutor(num_proc) as pool:
            counts = list(pool.map(_write_rows_task, tasks))
    else:
        counts = [_write_rows_task(task) for task in tasks]
    index = {
        "format": INDEX_FORMAT,
        "manifest": str(Path(manifest).resolve()),
        "embed_audio": embed_audio,
        "visual_columns": visual_columns,
        "speakers": sorted({row["speaker"] for row in rows}),
        "visual_size": checker.visual_width,
        "text": any(row.get("text") for row in rows),
        "shards": [
            {"file": task[0].name, "rows": count} for task, count in zip(tasks[:num_shards], counts, strict=False)
        ],
        "heldout": {name: f"{name}.parquet" for name in HELDOUT_SPLITS},
        "skipped": [list(item) for item in skipped],
    }
    path = output_dir / INDEX_NAME
    partial = path.with_name(INDEX_NAME + ".partial")
    partial.write_text(json.dumps(index, indent=1))
    partial.replace(path)  # written last: a folder with an index is complete
    return path


def is_shard_folder(path) -> bool:
    return Path(path).is_dir() and (Path(path) / INDEX_NAME).is_file()


def read_shard_index(folder) -> dict:
    """
    The index of a shard folder, every shard's Parquet footer read and its row count checked against the index: a
    cut-off or damaged shard, or one replaced by another, is named here (`ValueError`), not hours into a run.
    """
    import pyarrow.parquet as pq

    folder = Path(folder)
    index_path = folder / INDEX_NAME
    if not index_path.is_file():
        raise ValueError(f"{folder} holds no {INDEX_NAME}: write its shards with mmembed-shard MANIFEST {folder}.")
    index = json.loads(index_path.read_text())
    if index.get("format") != INDEX_FORMAT:
        raise ValueError(f"{index_path} is not an mmembed shard index (format {index.get('format')!r}).")
    files = [(entry["file"], entry["rows"]) for entry in index["shards"]]
    files += [(name, None) for name in index["heldout"].values()]
    for name, rows in files:
        path = folder / name
        try:
            found = pq.read_metadata(path).num_rows
        except (OSError, ValueError) as error:  # pyarrow: ArrowInvalid (a ValueError) for a footer that is not there
            raise damaged_shard(path, error) from None
        if rows is not None and found != rows:
            raise ValueError(f"Shard {path} holds {found} rows; the index {index_path} says {rows}.")
    return index


def shard_rows(path, columns=None):
    """The rows of a shard, one dict at a time, read row group by row group; a damaged shard is named."""
    import pyarrow.parquet as pq

    try:
        for batch in pq.ParquetFile(path).iter_batches(batch_size=ROW_GROUP_SIZE, columns=columns):
            yield from batch.to_pylist()
    except (OSError, ValueError) as error:
        raise damaged_shard(path, error) from None


def damaged_shard(path, error) -> ValueError:
    """The error naming a shard that cannot be read (cut off or damaged) and the fix."""
    return ValueError(f"Shard {path} is cut off or damaged ({error}); write it again with mmembed-shard.")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="mmembed-shard", description="Write a pre-training manifest as Parquet shards for --streaming."
    )
    parser.add_argument("manifest", help="JSON Lines or CSV manifest (id, audio, speaker, transcript[, visual, text])")
    parser.add_argument("output_dir")
    parser.add_argument("--num_shards", type=int, default=64, help="a multiple of processes x dataloader workers")
    parser.add_argument("--num_proc", type=int, default=None, help="processes writing shards")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--heldout_sentence_fraction", type=float, default=0.1)
    parser.add_argument("--heldout_utterance_fraction", type=float, default=0.1)
    parser.add_argument("--max_heldout_utterances", type=int, default=2000, help="per held-out split")
    parser.add_argument("--visual_columns", default="action_units")
    parser.add_argument(
        "--no_embed_audio", dest="embed_audio", action="store_false", help="store paths, not the files' bytes"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        path = write_shards(
            args.manifest,
            args.output_dir,
            num_shards=args.num_shards,
            embed_audio=args.embed_audio,
            heldout_sentence_fraction=args.heldout_sentence_fraction,
            heldout_utterance_fraction=args.heldout_utterance_fraction,
            max_heldout_utterances=args.max_heldout_utterances,
            visual_columns=args.visual_columns,
            seed=args.seed,
            num_proc=args.num_proc,
        )
    except (ValueError, OSError) as error:
        print(f"mmembed-shard: error: {error}", file=sys.stderr)
        return 2
    index = json.loads(path.read_text())
    rows = sum(entry["rows"] for entry in index["shards"])
    print(f"{path}: {rows} training rows in {len(index['shards'])} shards; {len(index['skipped'])} rows skipped")
    return 0


if __name__ == "__main__":
    sys.exit(main())

__all__ = ["is_shard_folder", "read_shard_index", "shard_rows", "write_shards"]
