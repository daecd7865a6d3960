"""The pre-training corpus builder on generated speech: columns, speakers, held-out sentences, streaming, bad rows."""

import csv
import json
import shutil

import datasets
import numpy as np
import pytest

from data_scripts.demo_corpus import make_speech_corpus
from data_scripts.pretraining_corpus import build_pretraining_corpus, manifest_from_tree, read_manifest
from modeling_mmembed import MMEmbedFeatureExtractor, MMEmbedTokenizer
from modeling_mmembed.tokenization_mmembed import normalize_transcript


@pytest.fixture(scope="module")
def manifest(tmp_path_factory):
    """4 espeak-ng speakers x 10 utterances; every sentence spoken by two speakers."""
    return make_speech_corpus(tmp_path_factory.mktemp("speech"), seed=0, num_speakers=4, utterances_per_speaker=10)


@pytest.fixture(scope="module")
def corpus(manifest, tmp_path_factory):
    return build_pretraining_corpus(
        manifest,
        cache_dir=tmp_path_factory.mktemp("cache"),
        heldout_sentence_fraction=0.2,
        heldout_utterance_fraction=0.2,
    )


def test_columns_and_values(corpus, manifest):
    rows = {row["id"]: row for row in read_manifest(manifest)}
    train = corpus["train"]
    assert set(train.column_names) == {
        "id",
        "input_features",
        "speaker_labels",
        "labels",
        "transcript",
        "visual_features",
    }
    assert train.features["input_features"].dtype == "float16"
    assert train.features["speaker_labels"].names == ["speaker0", "speaker1", "speaker2", "speaker3"]
    example = train.with_format("numpy")[0]
    row = rows[example["id"]]
    expected = MMEmbedFeatureExtractor().featurize(row["audio"]).astype(np.float16)
    np.testing.assert_array_equal(example["input_features"], expected)
    assert example["labels"].tolist() == MMEmbedTokenizer()(row["transcript"])["input_ids"]
    assert train.features["speaker_labels"].int2str(int(example["speaker_labels"])) == row["speaker"]
    np.testing.assert_array_equal(example["visual_features"], np.load(row["visual"]))
    assert example["transcript"] == normalize_transcript(row["transcript"])


def test_held_out_sentences_are_unseen_and_held_out_speakers_are_seen(corpus):
    sentences = {split: set(corpus[split]["transcript"]) for split in corpus}
    for held_out in ("validation_sentence", "test_sentence"):
        others = set().union(*(sentences[split] for split in corpus if split != held_out))
        assert sentences[held_out] and not sentences[held_out] & others, held_out
        assert len(corpus[held_out]) == 2 * 4  # 20% of 20 sentences, each spoken twice
    speakers = {split: set(corpus[split]["speaker_labels"]) for split in corpus}
    for held_out in ("validation_speaker", "test_speaker"):
        assert speakers[held_out] and speakers[held_out] <= speakers["train"], held_out
    assert not set(corpus["validation_speaker"]["id"]) & set(corpus["test_speaker"]["id"])
    assert sum(len(corpus[split]) for split in corpus) == 40


def test_streaming_yields_the_same_examples(manifest, corpus, tmp_path):
    streamed = build_pretraining_corpus(
        manifest, streaming=True, num_shards=3, heldout_sentence_fraction=0.2, heldout_utterance_fraction=0.2,
        cache_dir=tmp_path,
    )  # fmt: skip
    assert isinstance(streamed["train"], datasets.IterableDataset) and streamed["train"].num_shards == 3
    assert streamed.stream.num_rows == len(corpus["train"])
    for split in corpus:
        stored = {example["id"]: example for example in corpus[split].with_format("numpy")}
        examples = list(streamed[split].with_format("numpy"))
        assert sorted(example["id"] for example in examples) == sorted(stored), split
        for example in examples:
            np.testing.assert_array_equal(example["input_features"], stored[example["id"]]["input_features"])
            np.testing.assert_array_equal(example["visual_features"], stored[example["id"]]["visual_features"])
            assert example["labels"].tolist() == stored[example["id"]]["labels"].tolist()
            assert example["speaker_labels"] == stored[example["id"]]["speaker_labels"]


def test_float32_features(manifest, tmp_path):
    corpus = build_pretraining_corpus(manifest, cache_dir=tmp_path, feature_dtype="float32")
    assert corpus["train"].with_format("numpy")[0]["input_features"].dtype == np.float32
    with pytest.raises(ValueError, match="feature_dtype must be 'float16' or 'float32'"):
        build_pretraining_corpus(manifest, feature_dtype="int8")


def test_manifest_from_a_voxceleb2_style_tree(manifest, tmp_path):
    rows = read_manifest(manifest)[:6]
    audio_root, visual_root = tmp_path / "aac", tmp_path / "lips"
    with open(tmp_path / "transcripts.tsv", "w", newline="") as handle:
        writer = csv.writer(handle, delimiter="\t")
        writer.writerow(["id", "transcript"])
        for index, row in enumerate(rows):
            utterance_id = f"id{index % 2:05d}/video{index // 2}/{index:05d}"
            (audio_root / utterance_id).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(row["audio"], audio_root / f"{utterance_id}.wav")
            (visual_root / utterance_id).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(row["visual"], visual_root / f"{utterance_id}.npy")
            if index != 5:  # the last utterance has no transcript
                writer.writerow([utterance_id, row["transcript"]])
    output = manifest_from_tree(audio_root, tmp_path / "transcripts.tsv", tmp_path / "vox.jsonl", visual_root)
    made = read_manifest(output)
    assert [row["id"] for row in made] == [f"id{i % 2:05d}/video{i // 2}/{i:05d}" for i in (0, 2, 4, 1, 3)]
    assert {row["speaker"] for row in made} == {"id00000", "id00001"}
    assert all(row["visual"].endswith(".npy") for row in made)
    corpus = build_pretraining_corpus(output, cache_dir=tmp_path / "cache", heldout_sentence_fraction=0.0)
    assert sum(len(corpus[split]) for split in corpus) == 5


def test_bad_rows_are_skipped_and_reported_or_refused(manifest, tmp_path):
    import soundfile

    good = read_manifest(manifest)[:4]
    (tmp_path / "broken.wav").write_bytes(b"RIFF not really")
    soundfile.write(tmp_path / "short.wav", np.zeros(200, dtype=np.float32), 16000)  # 12.5 ms: no fbank frame
    np.save(tmp_path / "pickled.npy", np.array([{"frames": 1}], dtype=object), allow_pickle=True)
    np.save(tmp_path / "flat.npy", np.zeros(35, dtype=np.float32))
    np.save(tmp_path / "narrow.npy", np.zeros((30, 12), dtype=np.float32))
    np.save(tmp_path / "nan.npy", np.where(np.eye(30, 35) > 0, np.nan, 0).astype(np.float32))
    bad = [
        dict(good[0], id="missing-audio", audio=str(tmp_path / "nowhere.wav")),
        dict(good[0], id="unreadable-audio", audio=str(tmp_path / "broken.wav")),
        dict(good[0], id="short-audio", audio=str(tmp_path / "short.wav")),
        dict(good[0], id="empty-transcript", transcript=" ?! "),
        dict(good[0], id="numeric-transcript", transcript=12345),
        dict(good[0], id="long-transcript", transcript="a" * 256),
        dict(good[0], id="numeric-text", text=7),
        dict(good[0], id="bad-speaker", speaker=" "),
        dict(good[0], id="padded-speaker", speaker=" speaker0"),
        dict(good[0], id="pickled-visual", visual=str(tmp_path / "pickled.npy")),
        dict(good[0], id="flat-visual", visual=str(tmp_path / "flat.npy")),
        dict(good[0], id="narrow-visual", visual=str(tmp_path / "narrow.npy")),
        dict(good[0], id="nan-visual", visual=str(tmp_path / "nan.npy")),
        dict(good[1]),  # a repeated id
        ["a", "list"],
    ]
    path = tmp_path / "manifest.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in good + bad))
    corpus = build_pretraining_corpus(path, cache_dir=tmp_path / "cache", heldout_sentence_fraction=0.0)
    assert sum(len(corpus[split]) for split in corpus) == 4
    reasons = dict(corpus.report["skipped"])
    expected = {
        "missing-audio": "missing audio file",
        "unreadable-audio": "unreadable audio file",
        "short-audio": "lasts 12.5 ms, shorter than one 25 ms frame",
        "empty-transcript": "empty transcript",
        "numeric-transcript": "transcript is not a string but a int",
        "long-transcript": "transcript of 257 tokens (characters + eos) is longer than the decoder's max_target_pos",
        "numeric-text": "text is not a string but a int",
        "bad-speaker": "malformed speaker ' '",
        "padded-speaker": "malformed speaker ' speaker0'",
        "pickled-visual": "is not a plain numeric .npy array",
        "flat-visual": "must hold a numeric (frames, features) array with frames; got float32 (35,)",
        "narrow-visual": "has 12 features per frame; the corpus has 35",
        "nan-visual": "nan.npy holds 30 NaN/inf values",
        good[1]["id"]: "duplicate id (first in row 1, which is kept)",
        "row 18": "not a JSON object but a list",
    }
    assert list(reasons) == list(expected)
    for row_id, reason in expected.items():
        assert reason in reasons[row_id], (row_id, reasons[row_id])
    with pytest.raises(ValueError, match=r"15 bad rows: missing-audio: missing audio file .*unreadable-audio"):
        build_pretraining_corpus(path, strict=True)


def test_a_line_that_is_not_json_is_named(tmp_path):
    path = tmp_path / "manifest.jsonl"
    path.write_text('{"id": "a"}\n{"id": \n')
    with pytest.raises(ValueError, match=r"manifest.jsonl line 2 is not valid JSON"):
        read_manifest(path)


def test_a_source_file_replaced_in_place_rebuilds_the_cache(manifest, tmp_path):
    """Same path, same size, same modification time, new content: the cache must not serve the old features."""
    import os

    import soundfile

    folder = tmp_path / "speech"
    shutil.copytree(manifest.parent, folder)
    copy = folder / manifest.name
    first = build_pretraining_corpus(copy, cache_dir=tmp_path / "cache", heldout_sentence_fraction=0.0)
    example = first["train"].with_format("numpy")[0]
    audio = next(row["audio"] for row in read_manifest(copy) if row["id"] == example["id"])
    stat = os.stat(audio)
    samples, rate = soundfile.read(audio, dtype="int16")
    soundfile.write(audio, samples // 2, rate, subtype="PCM_16")  # quieter, same number of bytes
    os.utime(audio, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert os.stat(audio).st_size == stat.st_size and os.stat(audio).st_mtime_ns == stat.st_mtime_ns
    again = build_pretraining_corpus(copy, cache_dir=tmp_path / "cache", heldout_sentence_fraction=0.0)
    rebuilt = next(row for row in again["train"].with_format("numpy") if row["id"] == example["id"])
    assert again["train"].cache_files != first["train"].cache_files
    assert not np.array_equal(rebuilt["input_features"], example["input_features"])


def test_held_out_splits_are_capped_and_stay_whole_sentences(manifest):
    from data_scripts.pretraining_corpus import assign_splits

    rows = read_manifest(manifest)
    uncapped = assign_splits(rows, 0.3, 0.3, seed=0)
    capped = assign_splits(rows, 0.3, 0.3, seed=0, max_heldout_utterances=3)
    assert all(len(uncapped[name]) > 3 for name in uncapped if name != "train")
    assert all(0 < len(capped[name]) <= 3 for name in capped if name != "train")
    assert sorted(row["id"] for split in capped.values() for row in split) == sorted(row["id"] for row in rows)
    sentences = {name: {normalize_transcript(row["transcript"]) for row in capped[name]} for name in capped}
    for held_out in ("validation_sentence", "test_sentence"):
        others = set().union(*(sentences[name] for name in capped if name != held_out))
        assert not sentences[held_out] & others  # every utterance of a held-out sentence, and only those
    speakers = {row["speaker"] for row in capped["train"]}
    assert {row["speaker"] for row in capped["validation_speaker"] + capped["test_speaker"]} <= speakers
