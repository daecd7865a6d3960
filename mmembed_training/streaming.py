"""
Training on a streamed corpus (`PretrainingStream`): the DataLoader that reads it epoch after epoch without end (a run
stops at `--max_steps`), what it has consumed, and that position saved in each checkpoint and restored on `--resume`.

Each batch carries where its examples came from (shard, row, DataLoader worker) and the bad rows skipped before them;
the trainer takes that out of the batch (`StreamLoader.consume`) before the model sees it. A checkpoint stores, in its
`trainer_state.json` (written last, so a checkpoint has it exactly when complete), every process's epoch, rows
consumed per shard, the worker due next and the skipped rows (`StreamPositionCallback`); a resumed run starts every
shard there and gives worker 0 the shards of the worker due next, so it sees the examples the uninterrupted run would
have seen, in the same order.
"""

import logging

import torch
from torch.utils.data import DataLoader, get_worker_info
from transformers import TrainerCallback
from transformers.trainer_callback import ExportableState

logger = logging.getLogger(__name__)

BATCH_KEY = "stream_position"
MAX_LISTED_SKIPPED = 100
"""Skipped rows listed by id and reason (all are counted)."""


class StreamBatches:
    """The collate function of a `StreamLoader`: the training collator's batch, plus where its examples came from."""

    def __init__(self, collator, num_workers: int, first_worker: int):
        self.collator, self.num_workers, self.first_worker = collator, max(1, num_workers), first_worker

    def __call__(self, examples: list[dict]) -> dict:
        batch = self.collator(examples)
        info = get_worker_info()
        worker = ((info.id if info else 0) + self.first_worker) % self.num_workers  # in the order before a resume
        mask = batch["attention_mask"]
        batch[BATCH_KEY] = {
            "worker": worker,
            "rows": [(example["stream_shard"], int(example["stream_row"])) for example in examples],
            "skipped": [row for example in examples for row in example["skipped_rows"]],
            "frames": (int(mask.sum()), mask.numel()),
        }
        return batch


class StreamLoader:
    """
    The training batches of process `rank` of `world_size` from `stream`, epoch after epoch without end, each epoch a
    new `DataLoader` over `stream.dataset(...)` from the position reached (`consume` records it, `state` /
    `load_state` save and restore it).
    """

    def __init__(self, stream, collator, batch_size: int, num_workers: int, rank: int, world_size: int, **loader):
        stream.check_layout(world_size, num_workers)
        self.stream, self.collator, self.batch_size = stream, collator, batch_size
        self.num_workers, self.rank, self.world_size, self.loader_options = num_workers, rank, world_size, loader
        self.epoch, self.consumed, self.next_worker = 0, {}, 0
        self.skipped, self.skipped_ids = [], set()

    def __iter__(self):
        while True:
            first_worker, yielded = self.next_worker, 0
            dataset = self.stream.dataset(
                self.epoch, self.rank, self.world_size, self.consumed, self.num_workers, first_worker
            )
            collate = StreamBatches(self.collator, self.num_workers, first_worker)
            options = {"num_workers": self.num_workers, **self.loader_options}
            if self.num_workers:
                options["worker_init_fn"] = one_thread_per_worker
            for batch in DataLoader(dataset, batch_size=self.batch_size, collate_fn=collate, **options):
                yielded += 1
                yield batch
            if not yielded and not self.consumed:
                raise ValueError(
                    f"Process {self.rank}'s shards of {self.stream.folder} hold no usable row in epoch {self.epoch}; "
                    f"skipped: {self.skipped[-5:]}."
                )
            self.epoch, self.consumed, self.next_worker = self.epoch + 1, {}, 0
            logger.info("Process %d starts epoch %d of the streamed corpus", self.rank, self.epoch)

    def consume(self, batch: dict) -> dict:
        """Record where `batch` came from (it is being trained on) and return it without that record."""
        info = batch.pop(BATCH_KEY)
        for shard, row in info["rows"]:
            self.consumed[shard] = max(self.consumed.get(shard, 0), row + 1)
        self.next_worker = (info["worker"] + 1) % max(1, self.num_workers)
        for row in info["skipped"]:  # a bad row is met again in every epoch: counted once
            row_id = row.split(": ", 1)[0]
            if row_id not in self.skipped_ids and len(self.skipped) < MAX_LISTED_SKIPPED:
                self.skipped.append(row)
            self.skipped_ids.add(row_id)
        real, total = info["frames"]
        self.collator.real_frames += real
        self.collator.total_frames += total
        return batch

    def state(self) -> dict:
        return {
            "epoch": self.epoch,
            "consumed": dict(self.consumed),
            "next_worker": self.next_worker,
            "skipped": list(self.skipped),
            "skipped_ids": sorted(self.skipped_ids),
        }

    def load_state(self, state: dict) -> None:
        self.epoch, self.consumed, self.next_worker = state["epoch"], dict(state["consumed"]), state["next_worker"]
        self.skipped, self.skipped_ids = list(state["skipped"]), set(state["skipped_ids"])

    def layout(self) -> dict:
        """What a saved position is only valid for."""
        return {"world_size": self.world_size, "num_workers": self.num_workers, "batch_size": self.batch_size}


def one_thread_per_worker(worker_id: int) -> None:
    """
    A DataLoader worker featurises with numpy on one thread: torch gives each worker one thread but BLAS keeps one per
    core, and workers x cores threads on as many cores read 3x slower (figure 13).
    """
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)


def gathered(value) -> list:
    """`value` of every process, in rank order (a collective: every process calls it at the same point)."""
    if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
        return [value]
    values = [None] * torch.distributed.get_world_size()
    torch.distributed.all_gather_object(values, value)
    return values


def skipped_rows_report(loader: StreamLoader | None, corpus_skipped: list) -> dict:
    """
    The bad rows of a run (a collective with a stream): those left out when the corpus was prepared and those the
    stream skipped, on every process, counted and the first ones listed.
    """
    listed = [f"{row_id}: {reason}" for row_id, reason in corpus_skipped]
    count, streamed_ids = len(listed), set()
    if loader is not None:  # a shard is read by another process in another epoch: its bad rows are counted once
        for state in gathered(loader.state()):
            listed += [row for row in state["skipped"] if row.split(": ", 1)[0] not in streamed_ids]
            streamed_ids.update(state["skipped_ids"])
    count += len(streamed_ids)
    return {"count": count, "rows": listed[:MAX_LISTED_SKIPPED]}


class StreamPositionCallback(TrainerCallback, ExportableState):
    """
    Saves the streamed data position of every process in each checkpoint's `trainer_state.json` (gathered at the
    step that saves), and restores it when training resumes from one.
    """

    def __init__(self, position: dict | None = None):
        self.position = position

    def on_train_begin(self, args, state, control, train_dataloader=None, **kwargs):
        stored = (state.stateful_callbacks.get(type(self).__name__) or {}).get("attributes", {}).get("position")
        if stored is None or not isinstance(train_dataloader, StreamLoader):
            return
        if stored["layout"] != train_dataloader.layout():
            raise ValueError(
                f"The checkpoint's streamed position was saved with {stored['layout']} and cannot be continued with "
                f"{train_dataloader.layout()}: resume with the same processes, --dataloader_num_workers and "
                "--per_device_train_batch_size."
            )
        train_dataloader.load_state(stored["processes"][train_dataloader.rank])
        logger.info("Resuming the streamed corpus at %s", stored["processes"][train_dataloader.rank]["consumed"])

    def on_step_end(self, args, state, control, train_dataloader=None, **kwargs):
        if control.should_save and isinstance(train_dataloader, StreamLoader):
            self.position = {"layout": train_dataloader.layout(), "processes": gathered(train_dataloader.state())}

    def state(self) -> dict:
        return {"args": {}, "attributes": {"position": self.position}}


__all__ = ["StreamLoader", "StreamPositionCallback", "skipped_rows_report"]
