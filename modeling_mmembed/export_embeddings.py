# Copyright 2026 The mmembed authors. Licensed under the Apache License, Version 2.0.
"""
Write the pooled MMEmbed embedding of every item of a folder of audio files or of a `datasets` split.

    python -m modeling_mmembed.export_embeddings MODEL_DIR --audio-dir wavs/ --output embeddings.parquet
    python -m modeling_mmembed.export_embeddings MODEL_DIR --dataset prepared/ --split test --output test.npy
    mmembed-export-embeddings ...   (the same, as a console script)

Audio files (`.wav`, `.flac`, `.ogg`, found recursively, in sorted order) go through the checkpoint's processor; a
dataset saved with `save_to_disk` must hold `input_features` (fbank frames) and may hold `visual_features` and
`text_features` or `text_input_ids`. Output: `.parquet` with columns `id` and `embedding`, or `.npy` with the
`(items, hidden_size)` matrix plus `<output>.ids.json` listing the ids in row order.
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm
from transformers import AutoModel, AutoProcessor

from .processing_mmembed import pad_examples

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg")


def audio_files(folder: Path) -> list[Path]:
    """Audio files below `folder`, sorted; raises when there are none."""
    files = sorted(path for path in folder.rglob("*") if path.suffix.lower() in AUDIO_SUFFIXES)
    if not files:
        raise ValueError(f"No audio files ({', '.join(AUDIO_SUFFIXES)}) found in {folder}.")
    return files


def batches_from_audio(model_dir: Path, folder: Path, batch_size: int):
    """Yield (ids, model inputs) for the audio files below `folder`, ids being paths relative to it."""
    processor = AutoProcessor.from_pretrained(model_dir)
    files = audio_files(folder)
    for start in range(0, len(files), batch_size):
        chunk = files[start : start + batch_size]
        yield [str(path.relative_to(folder)) for path in chunk], processor(audio=[str(path) for path in chunk])


def load_split(path: Path, split: str | None):
    """The `datasets.Dataset` saved at `path` (a split of it, for a `DatasetDict`)."""
    try:
        import datasets
    except ImportError as error:
        raise ImportError("Exporting a dataset needs the datasets library: pip install 'mmembed[train]'.") from error
    loaded = datasets.load_from_disk(str(path))
    if isinstance(loaded, datasets.DatasetDict):
        if split not in loaded:
            raise ValueError(f"{path} has splits {list(loaded)}; choose one with --split.")
        loaded = loaded[split]
    return loaded.with_format("numpy")


def batches_from_dataset(dataset, batch_size: int):
    """Yield (ids, model inputs) for a dataset's examples; ids from its `id` column, else row numbers."""
    for start in range(0, len(dataset), batch_size):
        examples = [dataset[index] for index in range(start, min(start + batch_size, len(dataset)))]
        ids = [str(example.get("id", start + offset)) for offset, example in enumerate(examples)]
        yield ids, pad_examples(examples, return_tensors=None)


def export(model_dir: Path, batches, total: int, output: Path, device: str) -> int:
    """Run the encoder over `batches` and write the pooled embeddings to `output`; returns the number written."""
    model = AutoModel.from_pretrained(model_dir).to(device).eval()
    ids, embeddings = [], []
    with torch.inference_mode(), tqdm(total=total, unit="item", desc="embeddings") as progress:
        for batch_ids, inputs in batches:
            tensors = {name: torch.as_tensor(np.asarray(value)).to(device) for name, value in inputs.items()}
            tensors = {
                name: value.to(model.dtype) if value.is_floating_point() else value for name, value in tensors.items()
            }
            embeddings.append(model.get_embeddings(**tensors).pooler_output.float().cpu().numpy())
            ids.extend(batch_ids)
            progress.update(len(batch_ids))
    write_embeddings(output, ids, np.concatenate(embeddings))
    return len(ids)


def write_embeddings(output: Path, ids: list[str], embeddings: np.ndarray) -> None:
    """`.parquet`: columns `id`, `embedding`; `.npy`: the matrix, with the ids in `<output>.ids.json`."""
    output.parent.mkdir(parents=True, exist_ok=True)
    if output.suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.table({"id": ids, "embedding": list(embeddings.astype(np.float32))})
        pq.write_table(table, output)
    elif output.suffix == ".npy":
        np.save(output, embeddings.astype(np.float32))
        output.with_suffix(".ids.json").write_text(json.dumps(ids))
    else:
        raise ValueError(f"--output must end in .parquet or .npy, got {output}.")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model_dir", type=Path, help="a saved MMEmbed checkpoint (any head) with its processor")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--audio-dir", type=Path, help="folder of .wav/.flac/.ogg files (searched recursively)")
    source.add_argument("--dataset", type=Path, help="a dataset saved with save_to_disk")
    parser.add_argument("--split", default=None, help="split of a DatasetDict")
    parser.add_argument("--output", type=Path, required=True, help="embeddings.parquet or embeddings.npy")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args(argv)
    if args.output.suffix not in (".parquet", ".npy"):
        parser.error(f"--output must end in .parquet or .npy, got {args.output}")
    if args.audio_dir is not None:
        total = len(audio_files(args.audio_dir))
        batches = batches_from_audio(args.model_dir, args.audio_dir, args.batch_size)
    else:
        dataset = load_split(args.dataset, args.split)
        total = len(dataset)
        batches = batches_from_dataset(dataset, args.batch_size)
    written = export(args.model_dir, batches, total, args.output, args.device)
    print(f"wrote {written} embeddings to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
