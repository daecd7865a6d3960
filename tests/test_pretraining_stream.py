"""The streamed pre-training corpus: Parquet shards, the resumable order over processes and workers, bad rows, cut-off
shards (the training runs over 2 processes are in test_train_resume.py)."""

import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from data_scripts.demo_corpus import make_speech_corpus
from data_scripts.pretraining_corpus import build_pretraining_corpus, read_manifest, write_manifest
from data_scripts.pretraining_shards import read_shard_index, write_shards
from mmembed_training.collator import MMEmbedDataCollator
from mmembed_training.streaming import StreamLoader

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def manifest(tmp_path_factory):
    """4 espeak-ng speakers x 12 utterances."""
    return make_speech_corpus(tmp_path_factory.mktemp("speech"), seed=1, num_speakers=4, utterances_per_speaker=12)


@pytest.fixture(scope="module")
def shards(manifest, tmp_path_factory):
    folder = tmp_path_factory.mktemp("shards")
    write_shards(manifest, folder, num_shards=4, heldout_sentence_fraction=0.0, heldout_utterance_fraction=0.0)
    return folder


@pytest.fixture(scope="module")
def stream(shards, tmp_path_factory):
    corpus = build_pretraining_corpus(shards, cache_dir=tmp_path_factory.mktemp("cache"), shuffle_buffer_size=5)
    return corpus.stream


def loader(stream, num_workers: int, rank: int = 0, world_size: int = 1, batch_size: int = 3) -> StreamLoader:
    return StreamLoader(stream, MMEmbedDataCollator("pretrain"), batch_size, num_workers, rank, world_size)


def read_batches(stream_loader: StreamLoader, count: int) -> list[list[str]]:
    """The ids of the next `count` batches, each consumed as training consumes it."""
    batches, iterator = [], iter(stream_loader)
    for _ in range(count):
        batch = next(iterator)
        batches.append([shard_row for shard_row in batch["stream_position"]["rows"]])
        stream_loader.consume(batch)
    return batches


def test_shards_hold_every_training_row_once_with_the_audio_bytes(manifest, shards):
    index = read_shard_index(shards)
    rows = {row["id"]: row for row in read_manifest(manifest)}
    assert sum(entry["rows"] for entry in index["shards"]) == len(rows) == 48
    assert index["speakers"] == ["speaker0", "speaker1", "speaker2", "speaker3"] and index["embed_audio"]
    import pyarrow.parquet as pq

    stored = [row for entry in index["shards"] for row in pq.read_table(shards / entry["file"]).to_pylist()]
    assert sorted(row["id"] for row in stored) == sorted(rows)
    for row in stored[:5]:
        assert row["audio_bytes"] == Path(rows[row["id"]]["audio"]).read_bytes()
        np.testing.assert_array_equal(np.load(io.BytesIO(row["visual_npy"])), np.load(rows[row["id"]]["visual"]))


def test_every_epoch_reads_every_row_once_in_its_own_order(stream):
    first, second = ([example["id"] for example in stream.dataset(epoch)] for epoch in (0, 1))
    assert sorted(first) == sorted(second) and len(set(first)) == 48
    assert first != second


@pytest.mark.parametrize("num_workers", [0, 2])
def test_a_resumed_loader_reads_what_the_uninterrupted_one_would(stream, num_workers):
    """Across an epoch boundary (48 rows = 16 batches of 3), with DataLoader workers in rotation."""
    uninterrupted = read_batches(loader(stream, num_workers), 24)
    for stop in (5, 16, 19):
        interrupted = loader(stream, num_workers)
        seen = read_batches(interrupted, stop)
        resumed = loader(stream, num_workers)
        resumed.load_state(json.loads(json.dumps(interrupted.state())))  # as a checkpoint stores it
        assert seen + read_batches(resumed, 24 - stop) == uninterrupted, stop


def test_two_processes_read_disjoint_shards_like_two_workers_of_one(stream):
    one = read_batches(loader(stream, num_workers=2), 16)
    ranks = [read_batches(loader(stream, num_workers=1, rank=rank, world_size=2), 8) for rank in (0, 1)]
    assert [batch for pair in zip(*ranks, strict=True) for batch in pair] == one  # process r reads what worker r reads
    rows = [row for rank in ranks for batch in rank for row in batch]
    assert len(rows) == len(set(rows)) == 48


def test_shards_that_cannot_be_split_evenly_are_refused(stream):
    with pytest.raises(ValueError, match=r"4 shards cannot be split evenly over 1 processes x 3 DataLoader workers"):
        loader(stream, num_workers=3)


def test_bad_rows_are_skipped_and_counted_where_they_are_streamed(manifest, tmp_path):
    rows = read_manifest(manifest)
    (tmp_path / "noise.wav").write_bytes(b"RIFF this is no audio")
    rows[3] = dict(rows[3], audio=str(tmp_path / "missing.wav"))
    rows[7] = dict(rows[7], audio=str(tmp_path / "noise.wav"))
    corpus = build_pretraining_corpus(
        write_manifest(rows, tmp_path / "manifest.jsonl"), streaming=True, num_shards=2, cache_dir=tmp_path / "cache",
        heldout_sentence_fraction=0.0, heldout_utterance_fraction=0.0,
    )  # fmt: skip
    assert corpus.report["skipped"] == []  # streamed rows' files are checked as they are read, not before
    reader = loader(corpus.stream, num_workers=2, batch_size=4)
    batches = read_batches(reader, 24)  # 46 usable rows: two epochs, each bad row met twice, counted once
    assert len(reader.skipped_ids) == 2 and len(reader.skipped) == 2
    assert sorted(reason.split(":")[0] for reason in reader.skipped) == sorted([rows[3]["id"], rows[7]["id"]])
    assert any("missing.wav does not exist" in reason for reason in reader.skipped)
    assert any("noise.wav" in reason for reason in reader.skipped)
    assert sum(len(batch) for batch in batches[:11]) <= 46


def test_a_cut_off_or_replaced_shard_is_named_before_training(shards, tmp_path):
    import shutil

    copy = tmp_path / "shards"
    shutil.copytree(shards, copy)
    shard = copy / "train-00002-of-00004.parquet"
    shard.write_bytes(shard.read_bytes()[: shard.stat().st_size // 2])
    with pytest.raises(ValueError, match=r"Shard .*train-00002-of-00004.parquet is cut off or damaged"):
        build_pretraining_corpus(copy)
    shutil.copy(copy / "train-00001-of-00004.parquet", shard)
    (copy / "train-00001-of-00004.parquet").write_bytes((copy / "test_sentence.parquet").read_bytes())
    with pytest.raises(ValueError, match=r"train-00001-of-00004.parquet holds 0 rows; the index .* says 12"):
        read_shard_index(copy)


def test_path_shards_and_embedded_shards_give_the_same_examples(manifest, shards, tmp_path):
    embedded = build_pretraining_corpus(shards, cache_dir=tmp_path / "a")
    paths = build_pretraining_corpus(
        manifest, streaming=True, num_shards=4, cache_dir=tmp_path / "b", heldout_sentence_fraction=0.0,
        heldout_utterance_fraction=0.0,
    )  # fmt: skip
    by_id = {example["id"]: example for example in paths["train"]}
    for example in embedded["train"].take(6):
        np.testing.assert_array_equal(example["input_features"], by_id[example["id"]]["input_features"])
        np.testing.assert_array_equal(example["visual_features"], by_id[example["id"]]["visual_features"])


def test_the_shard_command(manifest, tmp_path):
    command = [sys.executable, "-m", "data_scripts.pretraining_shards", str(manifest), str(tmp_path / "out"),
               "--num_shards", "2", "--num_proc", "2"]  # fmt: skip
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "training rows in 2 shards; 0 rows skipped" in done.stdout
    assert len(read_shard_index(tmp_path / "out")["shards"]) == 2
    missing = subprocess.run([*command[:3], str(tmp_path / "none.jsonl"), str(tmp_path / "x")], cwd=REPO,
                             capture_output=True, text=True, timeout=300)  # fmt: skip
    assert missing.returncode == 2 and "mmembed-shard: error:" in missing.stderr and "none.jsonl" in missing.stderr


def test_a_position_saved_with_another_layout_is_refused(stream):
    from transformers import TrainerControl, TrainerState, TrainingArguments

    from mmembed_training.streaming import StreamPositionCallback

    saved = loader(stream, num_workers=2)
    read_batches(saved, 3)
    callback = StreamPositionCallback()
    state, control = TrainerState(stateful_callbacks=[callback]), TrainerControl(should_save=True)
    callback.on_step_end(None, state, control, train_dataloader=saved)
    state.stateful_callbacks[type(callback).__name__] = callback.state()  # as Trainer writes it into a checkpoint
    same = loader(stream, num_workers=2)
    StreamPositionCallback().on_train_begin(TrainingArguments("unused"), state, control, train_dataloader=same)
    assert same.state() == saved.state()
    with pytest.raises(ValueError, match=r"resume with the same processes, --dataloader_num_workers and"):
        StreamPositionCallback().on_train_begin(None, state, control, train_dataloader=loader(stream, num_workers=1))
