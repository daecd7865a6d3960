"""The built-in demo corpora: determinism, loaders, and which modality carries which emotion."""

import filecmp

import datasets
import numpy as np
import pytest

from data_scripts import demo_speech
from data_scripts.csd import read_csd
from data_scripts.demo_corpus import (
    EMOTION_CUES,
    generate_demo_corpora,
    load_demo_emotion,
    make_emotion_corpus,
    make_mosei_demo,
    make_speech_corpus,
)
from data_scripts.demo_speech import EMOTION_VOICES, SPEAKER_VOICES, synthesize
from data_scripts.modality_probe import cue_rule_table, format_table, probe_table
from data_scripts.mosei import load_mosei
from data_scripts.pretraining_corpus import read_manifest


def small_corpora(root, seed):
    make_speech_corpus(root / "speech", seed=seed, num_speakers=3, utterances_per_speaker=4)
    make_emotion_corpus(root / "emotion", seed=seed, utterances_per_voice=1)
    make_mosei_demo(root / "mosei", seed=seed, videos=(3, 1, 1), segments=2)


def test_same_seed_same_bytes_other_seed_other_data(tmp_path):
    small_corpora(tmp_path / "a", seed=3)
    small_corpora(tmp_path / "b", seed=3)
    small_corpora(tmp_path / "c", seed=4)
    for corpus in ("speech", "emotion"):
        files = sorted(
            path.relative_to(tmp_path / "a") for path in (tmp_path / "a" / corpus).rglob("*") if path.is_file()
        )
        assert len(files) > 5
        for relative in files:
            assert filecmp.cmp(tmp_path / "a" / relative, tmp_path / "b" / relative, shallow=False), relative
        assert not filecmp.cmp(tmp_path / "a" / files[-1], tmp_path / "c" / files[-1], shallow=False)
    for name in ("CMU_MOSEI_Labels.csd", "CMU_MOSEI_COVAREP.csd", "CMU_MOSEI_TimestampedWordVectors.csd"):
        with read_csd(tmp_path / "a" / "mosei" / name) as first, read_csd(tmp_path / "b" / "mosei" / name) as second:
            assert first.video_ids() == second.video_ids()
            for video_id in first:
                for left, right in zip(first[video_id], second[video_id], strict=True):
                    assert left.tobytes() == right.tobytes()


def test_missing_espeak_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(demo_speech.shutil, "which", lambda name: None)
    with pytest.raises(RuntimeError, match="espeak-ng is needed .* `apt-get install espeak-ng`"):
        make_speech_corpus(tmp_path, num_speakers=2, utterances_per_speaker=1)


@pytest.fixture(scope="module")
def demo(demo_root, tmp_path_factory):
    """The default demo corpora (as the default run generates them) and their loaded emotion sets."""
    root = demo_root
    report = generate_demo_corpora(root, seed=0, size="small")
    cache = tmp_path_factory.mktemp("cache")
    raw = load_demo_emotion(root / "emotion", cache_dir=cache)
    mosei = load_mosei(root / "mosei", cache_dir=cache)
    return report, root, raw, mosei, cache


def test_default_sizes_and_generation_is_done_once(demo):
    report, root, raw, mosei, _ = demo
    assert report["speech"]["files"] == 8 * 60 * 2 + 1  # wav + visual per utterance, and the manifest
    assert {split: len(raw[split]) for split in raw} == {"train": 144, "validation": 72, "test": 72}  # 12 voices x 24
    assert {split: len(mosei[split]) for split in mosei} == {"train": 96, "validation": 32, "test": 32}
    assert generate_demo_corpora(root, seed=0, size="small") == report  # cached: not generated again


def test_emotion_voices_are_new_and_the_split_keeps_each_voice_in_one_split(demo):
    _, root, raw, _, _ = demo
    speech = {row["speaker"] for row in read_manifest(root / "speech" / "manifest.jsonl")}
    assert len(speech) == 8
    voices = {split: set(raw[split]["video_id"]) for split in raw}
    assert (len(voices["train"]), len(voices["validation"]), len(voices["test"])) == (6, 3, 3)
    assert not voices["train"] & voices["test"] and not voices["train"] & voices["validation"]
    assert not set().union(*voices.values()) & {voice for voice, _ in SPEAKER_VOICES}  # none heard in pre-training
    other = load_demo_emotion(root / "emotion", seed=1)  # another split seed, other test voices
    assert set(other["test"]["video_id"]) != voices["test"]


def test_every_voice_of_both_corpora_is_a_voice_of_its_own():
    """espeak-ng ignores a voice variant it cannot apply (`en-gb+f4` speaks as plain `en-gb`): none may collide."""
    spoken = {
        voice: synthesize("the red cat sees the old dog", voice, pitch=50).tobytes()
        for voice, _ in SPEAKER_VOICES + EMOTION_VOICES
    }
    assert len(spoken) == 24 + 12 and len(set(spoken.values())) == len(spoken)


def test_raw_emotion_corpus_has_the_columns_of_load_mosei_wav_tokens(demo, tmp_path):
    _, root, raw, _, _ = demo
    from .mosei_fixture import write_fixture, write_wavs

    mosei_dir = write_fixture(tmp_path / "mosei")
    write_wavs(tmp_path / "wav")
    reference = load_mosei(mosei_dir, audio="wav", audio_dir=tmp_path / "wav", text="tokens", cache_dir=tmp_path)
    assert raw["train"].features == reference["train"].features


def combined(corpus) -> datasets.Dataset:
    return datasets.concatenate_datasets([corpus[split] for split in corpus])


@pytest.mark.parametrize("corpus_name", ["raw", "mosei"])
def test_no_pooled_feature_tells_any_emotion_apart(demo, corpus_name):
    """The cues are in order, timing, context and co-occurrence: pooled-feature probes stay at chance."""
    _, _, raw, mosei, _ = demo
    table = probe_table(combined(raw if corpus_name == "raw" else mosei))
    assert max(score for row in table.values() for score in row.values()) <= 0.65, format_table(table)


def test_each_emotion_follows_the_rule_demo_cues_documents(demo):
    """Applied to the files (pitch and rate per part, loudest part, facial-action times, the tail's words)."""
    _, root, _, _, _ = demo
    table = cue_rule_table(root / "emotion")
    assert set(table) == set(EMOTION_CUES)
    assert min(table.values()) >= 0.85, table


def test_shuffled_labels_are_a_control(demo):
    _, root, _, _, cache = demo
    shuffled = combined(load_demo_emotion(root / "emotion", cache_dir=cache, shuffled_labels=True))
    table = probe_table(shuffled)
    assert max(score for row in table.values() for score in row.values()) <= 0.65
    original = combined(load_demo_emotion(root / "emotion", cache_dir=cache))
    assert sorted(map(tuple, shuffled["emotion_labels"])) == sorted(map(tuple, original["emotion_labels"]))


def test_shuffled_labels_move_within_each_split_of_any_corpus(demo):
    """The control of the CMU-MOSEI-format set: each split keeps its labels and features, their pairing is permuted."""
    from data_scripts.label_control import with_shuffled_labels

    *_, mosei, cache = demo
    original = {split: mosei[split] for split in mosei}
    shuffled = with_shuffled_labels(load_mosei(demo[1] / "mosei", cache_dir=cache))
    for split, dataset in shuffled.items():
        assert dataset.features == original[split].features and dataset["id"] == original[split]["id"]
        labels, before = dataset["emotion_labels"], original[split]["emotion_labels"]
        assert sorted(map(tuple, labels)) == sorted(map(tuple, before)) and labels != before
        presence = (np.asarray(dataset["emotion_intensities"]) > 0).astype(int)
        assert (presence == np.asarray(labels)).all()  # an example's labels travel together


def test_mosei_demo_uses_standard_fold_ids(demo):
    _, _, _, mosei, _ = demo
    assert mosei.report["videos_in_no_fold"] == 0
    assert all(np.isfinite(example).all() for example in mosei["train"].with_format("numpy")["input_features"][:5])


def test_demo_wavs_are_16_khz_so_the_standard_pipeline_reads_a_bare_array_right(demo, tmp_path):
    """transformers' audio-classification pipeline takes a bare array as 16 kHz: the demo WAVs must be that."""
    import soundfile
    from transformers import pipeline

    from modeling_mmembed import MMEmbedConfig, MMEmbedFeatureExtractor, MMEmbedForEmotionRecognition

    _, root, _, _, _ = demo
    wavs = sorted((root / "speech").rglob("*.wav"))[:3] + sorted((root / "emotion").rglob("*.wav"))[:3]
    assert len(wavs) == 6 and {soundfile.info(str(path)).samplerate for path in wavs} == {16000}
    config = MMEmbedConfig.from_preset("tiny", text_feature_size=None)
    MMEmbedForEmotionRecognition(config).save_pretrained(tmp_path)
    MMEmbedFeatureExtractor().save_pretrained(tmp_path)
    classifier = pipeline("audio-classification", model=str(tmp_path), top_k=None)
    samples, _ = soundfile.read(wavs[-1], dtype="float32")
    bare = {item["label"]: item["score"] for item in classifier(samples)}
    model = MMEmbedForEmotionRecognition.from_pretrained(tmp_path).eval()
    features = MMEmbedFeatureExtractor()(str(wavs[-1]), return_tensors="pt")  # read from the file at its own rate
    expected = dict(zip(config.id2label.values(), model(**features).logits.sigmoid()[0].tolist(), strict=True))
    assert bare == pytest.approx(expected, abs=1e-5)
