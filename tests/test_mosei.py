"""`load_mosei` on a fixture with every quirk of the real files: counts, frames, labels, options, cache, errors."""

import os
from pathlib import Path

import h5py
import numpy as np
import pytest

from data_scripts.csd import CsdError, write_csd
from data_scripts.mosei import CmuMosei, load_mosei
from modeling_mmembed import MMEmbedFeatureExtractor, MMEmbedTokenizer

from .mosei_fixture import NO_VISUAL, VIDEOS, covarep, facet, glove, words_of, write_fixture, write_wavs


@pytest.fixture(scope="module")
def mosei_dir(tmp_path_factory):
    return write_fixture(tmp_path_factory.mktemp("mosei") / "CMU-MOSEI")


@pytest.fixture(scope="module")
def mosei(mosei_dir, tmp_path_factory):
    return load_mosei(mosei_dir, cache_dir=tmp_path_factory.mktemp("cache"))


def rows(dataset) -> dict:
    return {example["id"]: example for example in dataset.with_format("numpy")}


def test_splits_segments_and_summary(mosei):
    assert {split: sorted(mosei[split]["id"]) for split in mosei} == {
        "train": ["-iRBcNs9oI8[0]", "hh04W3xXa5s[0]", "hh04W3xXa5s[1]", "hh04W3xXa5s[2]"],
        "validation": ["188343[0]"],
        "test": ["7l3BNtSE0xc[0]", "7l3BNtSE0xc[1]"],
    }
    assert mosei.report == {
        "segments": {"train": 4, "validation": 1, "test": 2},
        "videos_in_no_fold": 1,
        "fold_videos_without_labels": 3227 - 5,
        "videos_missing_visual": 1,
        "segments_dropped_without_visual": 2,
        "segments_too_short": 1,
        "nonfinite_replaced_audio": 5,
        "labels_clipped": 2,
    }


@pytest.mark.parametrize(
    ("segment", "start", "end"),
    [("hh04W3xXa5s[0]", 1.0, 2.0), ("hh04W3xXa5s[1]", -0.5, 1.0), ("hh04W3xXa5s[2]", 4.0, 6.0)],
)
def test_frames_of_a_segment_follow_the_sdk_overlap_rule(mosei, segment, start, end):
    example = rows(mosei["train"])[segment]
    seconds = end - max(start, 0.0)
    first_audio, first_visual, first_word = int(100 * max(start, 0)), int(30 * max(start, 0)), int(2 * max(start, 0))
    audio = covarep("hh04W3xXa5s")[first_audio : first_audio + int(100 * seconds)]
    audio = np.where(np.isfinite(audio), audio, 0.0)
    np.testing.assert_array_equal(example["input_features"], audio)
    np.testing.assert_array_equal(
        example["visual_features"], facet("hh04W3xXa5s")[first_visual : first_visual + int(30 * seconds)]
    )
    np.testing.assert_array_equal(
        example["text_features"], glove("hh04W3xXa5s")[first_word : first_word + int(2 * seconds)]
    )
    assert list(example["words"]) == words_of("hh04W3xXa5s")[first_word : first_word + int(2 * seconds)]
    assert (example["start"], example["end"], example["video_id"]) == (start, end, "hh04W3xXa5s")


def test_nan_and_inf_become_zero(mosei):
    example = rows(mosei["train"])["hh04W3xXa5s[0]"]
    assert np.isfinite(example["input_features"]).all()
    assert (example["input_features"][50, :3] == 0).all()  # COVAREP row 150 held NaN


def test_labels_binarised_clipped_and_in_sdk_order(mosei):
    train, test = rows(mosei["train"]), rows(mosei["test"])
    first = train["hh04W3xXa5s[0]"]
    np.testing.assert_allclose(first["emotion_intensities"], [2.0, 0.0, 0.0, 1 / 3, 0.0, 0.0], rtol=1e-6)
    assert first["emotion_labels"].tolist() == [1, 0, 0, 1, 0, 0]
    assert first["sentiment"] == pytest.approx(1.0)
    clipped = test["7l3BNtSE0xc[0]"]
    assert clipped["sentiment"] == pytest.approx(3.0)
    np.testing.assert_allclose(clipped["emotion_intensities"], [0.0, 0.0, 0.0, 2.0, 0.0, 0.0])
    assert clipped["emotion_labels"].tolist() == [0, 0, 0, 1, 0, 0]


def test_segment_index_keeps_file_order_and_gaps(mosei):
    assert rows(mosei["train"])["-iRBcNs9oI8[0]"]["segment_index"] == 0
    assert rows(mosei["test"])["7l3BNtSE0xc[1]"]["segment_index"] == 1
    assert rows(mosei["test"])["7l3BNtSE0xc[1]"]["start"] == 0.0  # rows are not sorted by time


def test_torch_format(mosei):
    example = mosei["train"].with_format("torch")[0]
    assert example["input_features"].dtype.is_floating_point and example["input_features"].shape[1] == 74


def test_aligned_to_words(mosei_dir, tmp_path):
    aligned = load_mosei(mosei_dir, align_to_words=True, cache_dir=tmp_path)
    example = rows(aligned["train"])["hh04W3xXa5s[2]"]  # [4, 6]: words 8..11
    assert example["input_features"].shape == (4, 74)
    assert example["visual_features"].shape == (4, 35)
    assert example["text_features"].shape == (4, 300)
    np.testing.assert_allclose(example["input_features"][1], covarep("hh04W3xXa5s")[450:500].mean(0), rtol=1e-5)
    np.testing.assert_allclose(example["visual_features"][0], facet("hh04W3xXa5s")[120:135].mean(0), rtol=1e-5)
    for example in rows(aligned["train"]).values():
        assert len(example["words"]) == len(example["input_features"]) == len(example["visual_features"])


def test_keep_incomplete_segments_with_an_empty_modality(mosei_dir, tmp_path):
    kept = load_mosei(mosei_dir, drop_incomplete=False, cache_dir=tmp_path)
    train = rows(kept["train"])
    assert len(train) == 6
    assert train[f"{NO_VISUAL}[0]"]["visual_features"].shape == (0, 35)
    assert train[f"{NO_VISUAL}[0]"]["input_features"].shape == (300, 74)
    assert kept.report["segments_kept_without_visual"] == 2
    assert "segments_dropped_without_visual" not in kept.report


def test_other_visual_and_text_options(mosei_dir, tmp_path):
    loaded = load_mosei(mosei_dir, visual="openface2", text="tokens", cache_dir=tmp_path)
    example = rows(loaded["train"])["hh04W3xXa5s[0]"]
    assert example["visual_features"].shape == (30, 713)
    assert "text_features" not in example
    spoken = " ".join(word for word in example["words"] if word != "sp")
    assert example["text_input_ids"].tolist() == MMEmbedTokenizer()(spoken, add_special_tokens=False)["input_ids"]
    assert len(loaded["train"]) == 6  # OpenFace has the video FACET lacks
    words_only = load_mosei(mosei_dir, visual=None, text="words", cache_dir=tmp_path)
    assert set(words_only["train"].column_names) == {
        "id",
        "video_id",
        "segment_index",
        "start",
        "end",
        "input_features",
        "words",
        "emotion_intensities",
        "emotion_labels",
        "sentiment",
    }


def test_audio_from_wav_files_as_fbank(mosei_dir, tmp_path):
    wav_dir = tmp_path / "WAV_16000"
    waves = write_wavs(wav_dir, skip=("188343",))  # a video without its WAV
    loaded = load_mosei(mosei_dir, audio="wav", audio_dir=wav_dir, cache_dir=tmp_path / "cache")
    example = rows(loaded["train"])["hh04W3xXa5s[1]"]  # [-0.5, 1.0] -> cut [0, 1.0]
    expected = MMEmbedFeatureExtractor().featurize(waves["hh04W3xXa5s"][:16000])
    assert example["input_features"].shape == (98, 80)
    np.testing.assert_allclose(example["input_features"], expected, atol=1e-5)
    assert len(loaded["validation"]) == 0 and loaded.report["videos_missing_audio"] == 1


def test_missing_files_are_all_named(tmp_path):
    (tmp_path / "CMU_MOSEI_Labels.csd").write_bytes(b"")
    with pytest.raises(FileNotFoundError) as error:
        load_mosei(tmp_path, visual="openface2", cache_dir=tmp_path / "cache")
    message = str(error.value)
    for name in (
        "CMU_MOSEI_TimestampedWords.csd",
        "CMU_MOSEI_COVAREP.csd",
        "CMU_MOSEI_VisualOpenFace2.csd",
        "CMU_MOSEI_TimestampedWordVectors.csd",
    ):
        assert name in message
    assert "CMU_MOSEI_Labels.csd" not in message and "Facet42" not in message
    assert "CMU_MOSEI_TimestampedGloveVectors.csd" in message  # the older name is offered too
    with pytest.raises(FileNotFoundError, match="WAV_16000"):
        load_mosei(tmp_path, audio="wav", visual=None, text=None, cache_dir=tmp_path / "cache")


def test_older_sdk_file_names_give_the_same_dataset(mosei, tmp_path):
    directory = write_fixture(tmp_path / "older")
    (directory / "CMU_MOSEI_Labels.csd").rename(directory / "CMU_MOSEI_All_Labels.csd")
    (directory / "CMU_MOSEI_TimestampedWordVectors.csd").rename(directory / "CMU_MOSEI_TimestampedGloveVectors.csd")
    older = load_mosei(directory, cache_dir=tmp_path / "cache")
    assert older.report == mosei.report
    for split in mosei:
        current, renamed = rows(mosei[split]), rows(older[split])
        assert current.keys() == renamed.keys()
        for segment, example in current.items():
            for column, value in example.items():
                np.testing.assert_array_equal(renamed[segment][column], value)


def test_a_file_under_both_names_is_refused_naming_both(tmp_path):
    directory = write_fixture(tmp_path / "both")
    (directory / "CMU_MOSEI_All_Labels.csd").write_bytes((directory / "CMU_MOSEI_Labels.csd").read_bytes())
    with pytest.raises(ValueError, match="under both its names, CMU_MOSEI_Labels.csd and CMU_MOSEI_All_Labels.csd"):
        load_mosei(directory, cache_dir=tmp_path / "cache")


def test_cache_is_reused_and_rebuilt_when_a_file_changes(tmp_path):
    directory = write_fixture(tmp_path / "mosei")
    first = load_mosei(directory, cache_dir=tmp_path / "cache")
    again = load_mosei(directory, cache_dir=tmp_path / "cache")
    assert again["train"].cache_files == first["train"].cache_files and again.report == first.report
    labels = {
        video_id: (
            np.array([row[2:] for row in rows_], dtype=np.float64) * 0 + 0.5,
            np.array([row[:2] for row in rows_], dtype=np.float64),
        )
        for video_id, rows_ in VIDEOS.items()
    }
    write_csd(directory / "CMU_MOSEI_Labels.csd", "All Labels", labels)
    os.utime(directory / "CMU_MOSEI_Labels.csd", ns=(1, 1))
    rebuilt = load_mosei(directory, cache_dir=tmp_path / "cache")
    assert rebuilt["train"].cache_files != first["train"].cache_files
    assert rows(rebuilt["train"])["hh04W3xXa5s[0]"]["sentiment"] == pytest.approx(0.5)
    assert rebuilt.report["labels_clipped"] == 0


def test_a_bad_file_in_the_folder_names_file_and_video(tmp_path):
    directory = write_fixture(tmp_path / "mosei")
    with h5py.File(directory / "CMU_MOSEI_VisualFacet42.csd", "a") as handle:
        video = handle["FACET 4.2/data/188343"]
        del video["intervals"]
        video["intervals"] = np.zeros((239, 2))
    with pytest.raises(CsdError, match=r"CMU_MOSEI_VisualFacet42\.csd: video '188343' has 240 feature rows but 239"):
        load_mosei(directory, cache_dir=tmp_path / "cache")


def replace_video(path: Path, video_id: str, features: np.ndarray) -> None:
    with h5py.File(path, "a") as handle:
        video = handle[next(iter(handle))]["data"][video_id]
        del video["features"]
        video["features"] = features


def test_a_video_of_another_feature_width_is_refused_while_building(tmp_path):
    directory = write_fixture(tmp_path / "mosei")
    replace_video(directory / "CMU_MOSEI_VisualFacet42.csd", "188343", facet("188343")[:, :34])
    with pytest.raises(CsdError, match=r"VisualFacet42\.csd: video '188343' has 34 features per row, but the file's "):
        load_mosei(directory, cache_dir=tmp_path / "cache")
    assert not list((tmp_path / "cache").rglob("*.arrow"))  # nothing half-built was cached


def test_words_stored_as_numbers_name_file_and_video(tmp_path):
    directory = write_fixture(tmp_path / "mosei")
    replace_video(directory / "CMU_MOSEI_TimestampedWords.csd", "188343", np.zeros((16, 1)))
    with pytest.raises(CsdError, match=r"TimestampedWords\.csd: video '188343' stores its words as float64, not text"):
        load_mosei(directory, visual=None, text="words", cache_dir=tmp_path / "cache")


def test_a_labels_file_of_the_wrong_width_names_file_and_video(tmp_path):
    directory = write_fixture(tmp_path / "mosei")
    replace_video(directory / "CMU_MOSEI_Labels.csd", "188343", np.zeros((1, 6)))
    with pytest.raises(CsdError, match=r"Labels\.csd: video '188343' has label rows of 6 values; CMU-MOSEI labels"):
        load_mosei(directory, cache_dir=tmp_path / "cache")


def test_a_corrupted_gzip_chunk_names_file_and_video(tmp_path):
    directory = write_fixture(tmp_path / "mosei")
    path = directory / "CMU_MOSEI_COVAREP.csd"  # gzip-compressed
    with h5py.File(path, "r") as handle:
        chunk = handle["COVAREP/data/188343/features"].id.get_chunk_info(0)
    with open(path, "r+b") as handle:
        handle.seek(chunk.byte_offset + chunk.size // 2)
        handle.write(b"\xff" * 64)
    with pytest.raises(CsdError, match=r"COVAREP\.csd: video '188343' cannot be read"):
        load_mosei(directory, cache_dir=tmp_path / "cache")


def test_a_segment_with_nan_labels_is_dropped_and_counted_apart(tmp_path):
    directory = write_fixture(tmp_path / "mosei")
    nan_row = np.array([[np.nan, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0]])
    replace_video(directory / "CMU_MOSEI_Labels.csd", "188343", nan_row)
    loaded = load_mosei(directory, cache_dir=tmp_path / "cache")
    assert len(loaded["validation"]) == 0
    assert loaded.report["segments_dropped_nonfinite_labels"] == 1
    assert loaded.report["labels_clipped"] == 2  # the two out-of-range values of the fixture, not the NaN


def test_builder_exposes_the_summary(mosei_dir, tmp_path):
    builder = CmuMosei(data_dir=mosei_dir, cache_dir=str(tmp_path), visual=None)
    builder.download_and_prepare()
    assert builder.summary["segments"] == {"train": 6, "validation": 1, "test": 2}


def test_parallel_preparation_gives_the_same_dataset_and_summary(mosei_dir, mosei, tmp_path):
    parallel = load_mosei(mosei_dir, cache_dir=tmp_path, num_proc=2)
    assert parallel.report == mosei.report
    for split in mosei:
        first, second = rows(mosei[split]), rows(parallel[split])
        assert first.keys() == second.keys()
        for key in first:
            np.testing.assert_array_equal(first[key]["input_features"], second[key]["input_features"])
