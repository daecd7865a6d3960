"""
The streamed training split of pre-training: a `datasets.IterableDataset` over Parquet shards (`pretraining_shards`),
audio decoded and featurised where it is iterated (DataLoader workers), in an order that can be resumed exactly.

An epoch's order is a function of the seed and the epoch alone: the shards in an order drawn from `(seed, epoch)`,
split over processes (`datasets.distributed.split_dataset_by_node`) and then DataLoader workers as `datasets` splits
them (every k-th shard), and within each shard a shuffle buffer of `shuffle_buffer_size` rows drawn from `(seed,
epoch, shard)`. Each example carries its place (`stream_shard`, `stream_row`: its position in its shard's shuffled
order), so a training loop knows how many rows of each shard it consumed; `PretrainingStream.dataset` given those
counts starts every shard there, replaying the shuffle buffer on the undecoded rows (nothing skipped is featurised).

A row whose audio or visual input cannot be read is skipped there and counted: the next example carries it in
`skipped_rows` (`"id: reason"`), so the count reaches the training loop from any worker.
"""

import logging
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import datasets
import numpy as np

from .pretraining_corpus import RowFeaturizer
from .pretraining_shards import shard_rows

logger = logging.getLogger(__name__)

ROW_ERRORS = (ValueError, OSError, RuntimeError, EOFError)
"""What reading one row's audio or visual input raises when the file is missing, cut off or not audio."""

_pending_skipped: list[str] = []  # bad rows met in this process since its last yielded example


def buffer_shuffled(rows, buffer_size: int, generator: np.random.Generator):
    """
    `rows` in a shuffle-buffer order (a buffer of `buffer_size` rows; each new row takes the place of a random one,
    which is yielded), drawn from `generator` alone: the same rows and generator give the same order.
    """
    buffer = []
    for row in rows:
        if len(buffer) < buffer_size:
            buffer.append(row)
            continue
        index = int(generator.integers(buffer_size))
        yield buffer[index]
        buffer[index] = row
    for index in generator.permutation(len(buffer)):
        yield buffer[index]


def shard_generator(seed: int, epoch: int, name: str) -> np.random.Generator:
    return np.random.default_rng([seed, epoch, zlib.crc32(name.encode())])


def stream_examples(tasks: list[dict], seed: int, shuffle_buffer_size: int, featurizer: dict):
    """
    The examples of `tasks` (one per shard: `path`, `name`, `epoch`, `skip`: rows of its shuffled order already
    consumed), featurised here; bad rows skipped and passed on in the next example's `skipped_rows`.
    """
    featurize = RowFeaturizer(**featurizer)
    for task in tasks:
        rows = buffer_shuffled(
            shard_rows(task["path"]), shuffle_buffer_size, shard_generator(seed, task["epoch"], task["name"])
        )
        for position, row in enumerate(rows):
            if position < task["skip"]:
                continue
            try:
                example = featurize(row)
            except ROW_ERRORS as error:
                logger.warning("Skipping row %s of shard %s: %s", row["id"], task["name"], error)
                _pending_skipped.append(f"{row['id']}: {error}")
                continue
            example.update(stream_shard=task["name"], stream_row=position, skipped_rows=list(_pending_skipped))
            _pending_skipped.clear()
            yield example


def rotated(items: list, groups: int, by: int) -> list:
    """
    `items` reordered so that the k-th of `groups` stride groups (`items[k::groups]`) becomes group `(k - by) mod
    groups`: after a resume, DataLoader worker 0 reads what the worker due next read before. The groups must be
    equally long.
    """
    parts = [items[k::groups] for k in range(groups)]
    parts = parts[by:] + parts[:by]
    return [parts[k][i] for i in range(len(items) // groups) for k in range(groups)]


@dataclass(frozen=True)
class PretrainingStream:
    """
    The training split of a shard folder, streamed (see the module's docstring).

    Attributes:
        folder: the shard folder.
        shards: its training shards' file names; `rows`: each one's row count.
        features: the examples' `datasets.Features` (as the cached builder's, plus the stream's own columns).
        featurizer: the `RowFeaturizer` arguments (speakers, dtype, visual columns, schema, extractor settings).
        seed, shuffle_buffer_size: the order (see `buffer_shuffled`).
    """

    folder: str
    shards: tuple[str, ...]
    rows: tuple[int, ...]
    features: datasets.Features
    featurizer: dict = field(repr=False)
    seed: int = 0
    shuffle_buffer_size: int = 1000

    @property
    def num_rows(self) -> int:
        return sum(self.rows)

    def epoch_order(self, epoch: int) -> list[str]:
        """The shards of `epoch`, in the order drawn from `(seed, epoch)`."""
        order = np.random.default_rng([self.seed, epoch]).permutation(len(self.shards))
        return [self.shards[index] for index in order]

    def check_layout(self, world_size: int, num_workers: int) -> None:
        """Each process and DataLoader worker reads whole shards, as many as every other one."""
        readers = world_size * max(1, num_workers)
        if len(self.shards) % readers:
            raise ValueError(
                f"{len(self.shards)} shards cannot be split evenly over {world_size} processes x "
                f"{max(1, num_workers)} DataLoader workers; write a multiple of {readers} shards (mmembed-shard "
                "--num_shards, or --num_shards with --streaming)."
            )

    def dataset(
        self,
        epoch: int = 0,
        rank: int = 0,
        world_size: int = 1,
        consumed: dict | None = None,
        num_workers: int = 0,
        next_worker: int = 0,
    ) -> datasets.IterableDataset:
        """
        The examples process `rank` of `world_size` reads in `epoch`, each shard started after its `consumed` rows,
        and (with `num_workers` DataLoader workers) the shards of the worker due next (`next_worker`) given to
        worker 0.
        """
        consumed = consumed or {}
        order = self.epoch_order(epoch)
        if world_size > 1 or num_workers > 1:
            self.check_layout(world_size, num_workers)
        if num_workers > 1 and next_worker:
            mine = rotated(order[rank::world_size], num_workers, next_worker)
            order = [
                mine[index // world_size] if index % world_size == rank else name for index, name in enumerate(order)
            ]
        tasks = [
            {"path": str(Path(self.folder) / name), "name": name, "epoch": epoch, "skip": consumed.get(name, 0)}
            for name in order
        ]
        streamed = datasets.IterableDataset.from_generator(
            stream_examples,
            features=self.features,
            gen_kwargs={
                "tasks": tasks,
                "seed": self.seed,
                "shuffle_buffer_size": self.shuffle_buffer_size,
                "featurizer": self.featurizer,
            },
        )
        if world_size > 1:
            from datasets.distributed import split_dataset_by_node

            streamed = split_dataset_by_node(streamed, rank=rank, world_size=world_size)
        return streamed


STREAM_COLUMNS = {
    "stream_shard": datasets.Value("string"),
    "stream_row": datasets.Value("int64"),
    "skipped_rows": datasets.List(datasets.Value("string")),
}
"""The columns a streamed example adds to the cached builder's: its place in the stream, the bad rows before it."""

__all__ = ["PretrainingStream", "STREAM_COLUMNS", "buffer_shuffled", "stream_examples"]
