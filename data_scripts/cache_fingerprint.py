"""
Cache keys of the prepared datasets: they follow the content of every source file, not only its path.

A file replaced in place keeps its path, so a key built from the builder's arguments alone would serve stale
features. Each key therefore includes every source file's resolved path, size, modification time and inode-change
time (`st_ctime_ns`, which also moves when a file is replaced by `mv`/`cp -p` with an old modification time), and
the feature extractor's settings (`model_inputs.feature_extractor_config`) when audio is featurised.
"""

import hashlib
import os
from collections.abc import Callable, Iterable
from pathlib import Path


def file_signatures(paths: Iterable[str | os.PathLike]) -> list[str]:
    """`path|size|mtime_ns|ctime_ns` of each file, in sorted path order."""
    signatures = []
    for path in sorted({str(Path(path).resolve()) for path in paths}):
        stat = os.stat(path)
        signatures.append(f"{path}|{stat.st_size}|{stat.st_mtime_ns}|{stat.st_ctime_ns}")
    return signatures


def files_fingerprint(paths: Iterable[str | os.PathLike]) -> str:
    """A short hash of `file_signatures(paths)`."""
    return hashlib.sha256("\n".join(file_signatures(paths)).encode()).hexdigest()[:16]


def generator_fingerprint(generator: Callable, gen_kwargs: dict, paths: Iterable[str | os.PathLike]) -> str:
    """
    The `fingerprint` of `datasets.Dataset.from_generator(generator, gen_kwargs=gen_kwargs)` over the files `paths`:
    what `datasets` hashes itself (the generator's code and its arguments) plus the files' signatures.
    """
    from datasets.fingerprint import Hasher

    return Hasher.hash((generator, gen_kwargs, file_signatures(paths)))


def cached_split(generator: Callable, gen_kwargs: dict, features, files, split: str, cache_dir=None, num_proc=None):
    """
    `datasets.Dataset.from_generator` for one split, cached under `cache_dir` with a key that follows the content of
    `files`, the sources the generator reads (`generator_fingerprint`).
    """
    import datasets

    return datasets.Dataset.from_generator(
        generator,
        features=features,
        gen_kwargs=gen_kwargs,
        cache_dir=None if cache_dir is None else str(cache_dir),
        num_proc=num_proc,
        split=datasets.NamedSplit(split),
        fingerprint=generator_fingerprint(generator, gen_kwargs, files),
    )


def precomputed_features_config(name: str, width: int) -> dict:
    """
    The feature-extractor settings of a corpus that comes with its audio features (`name`, `width` per frame): an
    extractor that takes those features as they are and refuses audio (a model trained on them is saved with it).
    """
    return {"feature_size": int(width), "audio_features": name}


__all__ = [
    "cached_split",
    "precomputed_features_config",
    "file_signatures",
    "files_fingerprint",
    "generator_fingerprint",
]
