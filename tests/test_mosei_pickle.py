"""CMU-MOSEI from MMSA and MulT feature pickles: layouts, padding, quirks, caching, unpickling only arrays."""

import pickle
import warnings

import numpy as np
import pytest

from data_scripts.mosei import load_mosei
from data_scripts.mosei_pickle import MoseiPickleError, load_mosei_pickle
from data_scripts.safe_pickle import UnsafePickleError, load_numpy_pickle

from .mosei_pickle_fixture import SPLIT_SIZES, write_mmsa, write_mult

MOSEI_COLUMNS = ["id", "video_id", "segment_index", "start", "end", "input_features", "visual_features"]
MOSEI_COLUMNS += ["text_features", "words", "sentiment"]


def raw(path) -> dict:
    with open(path, "rb") as file:
        return pickle.load(file)  # the test's own fixture, written by this test


def test_mmsa_unaligned_segments_are_cut_to_their_lengths_and_masks(tmp_path):
    path = write_mmsa(tmp_path / "MOSEI" / "unaligned.pkl")
    source = raw(path)
    mosei = load_mosei_pickle(path, cache_dir=tmp_path / "cache")
    assert list(mosei) == ["train", "validation", "test"]
    assert mosei["train"].column_names == MOSEI_COLUMNS  # load_mosei's, without emotion columns
    for split, key in (("train", "train"), ("validation", "valid"), ("test", "test")):
        assert len(mosei[split]) == SPLIT_SIZES[key]
        part, rows = source[key], mosei[split].with_format("numpy")
        for index in range(SPLIT_SIZES[key]):
            example = rows[index]
            audio = part["audio"][index, : part["audio_lengths"][index]]
            np.testing.assert_array_equal(example["input_features"], np.where(np.isfinite(audio), audio, 0))
            np.testing.assert_array_equal(
                example["visual_features"], part["vision"][index, : part["vision_lengths"][index]]
            )
            tokens = int(part["text_bert"][index, 1].sum())
            np.testing.assert_array_equal(example["text_features"], part["text"][index, :tokens])
            video, clip = part["id"][index].split("$_$")
            assert (example["id"], example["video_id"], example["segment_index"]) == (
                part["id"][index],
                video,
                int(clip),
            )
            assert np.isnan(example["start"]) and list(example["words"]) == part["raw_text"][index].split()
            assert example["sentiment"] == pytest.approx(part["regression_labels"][index])
    assert mosei.report["nonfinite_replaced_audio"] == 3  # one -inf per split
    assert mosei.report["segments"] == {"train": 6, "validation": 3, "test": 3}


def test_mmsa_aligned_keeps_its_50_steps_and_loads_protocol_5(tmp_path):
    path = write_mmsa(tmp_path / "aligned.pkl", aligned=True, protocol=5)
    mosei = load_mosei(path, cache_dir=tmp_path / "cache")  # load_mosei recognises the .pkl
    example = mosei["train"].with_format("numpy")[0]
    assert example["input_features"].shape == (50, 74) and example["visual_features"].shape == (50, 35)
    assert example["text_features"].shape[0] == int(raw(path)["train"]["text_bert"][0, 1].sum())


def test_mult_front_padding_nonfinite_values_labels_and_bytes_ids(tmp_path):
    path = write_mult(tmp_path / "mosei_senti_data_noalign.pkl")
    source = raw(path)["train"]
    mosei = load_mosei_pickle(path, cache_dir=tmp_path / "cache")
    rows = mosei["train"].with_format("numpy")
    for index in range(SPLIT_SIZES["train"]):
        example = rows[index]
        for column, key in (("input_features", "audio"), ("visual_features", "vision"), ("text_features", "text")):
            values = source[key][index]
            real = values[np.flatnonzero(np.any(values != 0, axis=1))[0] :]  # after the leading all-zero frames
            np.testing.assert_array_equal(example[column], np.where(np.isfinite(real), real, 0))
        video, start, end = (value.decode() for value in source["id"][index])
        assert (example["video_id"], example["start"], example["end"]) == (video, float(start), float(end))
        assert example["sentiment"] == pytest.approx(source["labels"][index, 0, 0])
    assert mosei.report["nonfinite_replaced_audio"] == 6 and mosei.report["nonfinite_replaced_visual"] == 3


def test_a_cached_load_gives_the_same_data_and_summary_without_unpickling(tmp_path, monkeypatch):
    path = write_mult(tmp_path / "mult.pkl")
    first = load_mosei_pickle(path, cache_dir=tmp_path / "cache")
    import data_scripts.mosei_pickle as module

    monkeypatch.setattr(module, "load_numpy_pickle", lambda _: pytest.fail("the cache was not used"))
    again = load_mosei_pickle(path, cache_dir=tmp_path / "cache")
    assert again.report == first.report
    assert again["test"]["id"] == first["test"]["id"]


def test_labels_are_clipped_and_empty_or_unlabelled_segments_counted(tmp_path):
    path = tmp_path / "mult.pkl"
    write_mult(path)
    data = raw(path)
    data["train"]["labels"][0, 0, 0] = 3.4
    data["train"]["labels"][1, 0, 0] = np.nan
    data["train"]["vision"][2] = 0  # no visual frame at all
    path.write_bytes(pickle.dumps(data, protocol=4))
    mosei = load_mosei_pickle(path, cache_dir=tmp_path / "cache")
    assert mosei.report["labels_clipped"] == 1 and mosei.report["segments_dropped_nonfinite_labels"] == 1
    assert mosei.report["segments_dropped_without_visual"] == 1 and len(mosei["train"]) == 4  # of 6
    assert max(mosei["train"]["sentiment"]) <= 3.0
    kept = load_mosei_pickle(path, drop_incomplete=False, cache_dir=tmp_path / "cache")
    assert len(kept["train"]) == 5 and kept.report["segments_kept_without_visual"] == 1


@pytest.mark.parametrize(
    "write, damage, message",
    [
        (write_mult, lambda data: data.pop("valid"), r"splits \['train', 'valid', 'test'\]"),
        (write_mult, lambda data: data["train"].pop("labels"), r"no sentiment labels"),
        (
            write_mult,
            lambda data: data["test"].update(audio=np.zeros((3, 74))),
            r"\['test'\]\['audio'\] must have 3 dimensions",
        ),
        (
            write_mult,
            lambda data: data["train"].update(vision=np.zeros((5, 9, 35))),
            r"'vision' \(visual\) has 5 segments",
        ),
        (
            write_mult,
            lambda data: data["train"].update(labels=np.zeros((6, 4, 2))),
            r"one sentiment score per segment",
        ),
        (write_mult, lambda data: data["train"].update(id=np.array(["a"] * 6)), r"\['id'\] must be \(N, 3\)"),
        (
            write_mmsa,
            lambda data: data["test"].update(audio=np.zeros((3, 40, 12), np.float32)),
            r"\['test'\]\['audio'\] \(audio\) has 12 features per frame, the train split 74",
        ),
        (
            write_mmsa,
            lambda data: data["train"].update(audio=np.zeros((6, 40, 0), np.float32)),
            r"\['train'\]\['audio'\] \(audio\) has 0 features per frame; expected 1 to 4096",
        ),
        (
            write_mmsa,
            lambda data: data["valid"].update(id=np.array("one id")),
            r"\['valid'\]\['id'\] must have at least 1",
        ),
        (
            write_mmsa,
            lambda data: data["valid"].update(raw_text=np.array(["a", "b"])),
            r"'raw_text'\] has 2 transcripts for 3",
        ),
        (
            write_mmsa,
            lambda data: data["train"].update(audio_lengths=[[1, 2], [3]] + [1] * 4),
            r"\['train'\]\['audio_lengths'\] is ragged",
        ),
        (
            write_mmsa,
            lambda data: data["train"].update(regression_labels=np.full(6, np.nan, np.float32)),
            r"\['train'\]\['regression_labels'\] holds no finite sentiment label",
        ),
    ],
)
def test_layout_mistakes_name_file_split_and_key_and_nothing_is_cached(tmp_path, write, damage, message):
    path = write(tmp_path / "features.pkl")
    data = raw(path)
    damage(data)
    path.write_bytes(pickle.dumps(data))
    with pytest.raises(MoseiPickleError, match=message) as caught:
        load_mosei_pickle(path, cache_dir=tmp_path / "cache")
    assert str(path) in str(caught.value)
    assert not list((tmp_path / "cache").rglob("*.arrow")) and not list((tmp_path / "cache").rglob("*.json"))


def test_an_mmsa_length_beyond_the_frames_names_the_segment(tmp_path):
    path = tmp_path / "unaligned.pkl"
    write_mmsa(path)
    data = raw(path)
    data["valid"]["audio_lengths"][1] = 41
    path.write_bytes(pickle.dumps(data))
    with pytest.raises(MoseiPickleError, match=r"audio lengths .* within \[0, 40\]; segment '-vid3\$_\$1' has 41"):
        load_mosei_pickle(path, cache_dir=tmp_path / "cache")


def test_a_file_named_like_mmsa_s_but_not_published_warns(tmp_path):
    path = write_mmsa(tmp_path / "unaligned_50.pkl")
    with pytest.warns(UserWarning, match="is not MMSA's published CMU-MOSEI unaligned_50.pkl"):
        load_mosei_pickle(path, cache_dir=tmp_path / "cache")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_mosei_pickle(write_mmsa(tmp_path / "features.pkl"), cache_dir=tmp_path / "cache")


class RunsACommand:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        import os

        return os.system, (f"touch {self.marker}",)


def test_a_pickle_that_would_run_a_command_is_refused_and_nothing_runs(tmp_path):
    marker = tmp_path / "it-ran"
    path = tmp_path / "unaligned_50.pkl"
    write_mmsa(path)
    data = raw(path)
    data["train"]["annotations"] = RunsACommand(marker)
    payload = pickle.dumps(data)
    path.write_bytes(payload)
    with pytest.raises(UnsafePickleError, match=r"refers to (posix|os)\.system, .* nothing in the file ran"):
        with pytest.warns(UserWarning, match="not MMSA's published"):  # checked before unpickling
            load_mosei_pickle(path, cache_dir=tmp_path / "cache")
    assert not marker.exists()
    pickle.loads(payload)  # the same bytes through plain pickle do run it: the test above can fail
    assert marker.exists()


def test_torch_tensors_are_refused_with_a_hint(tmp_path):
    import torch

    path = tmp_path / "fet.pkl"
    path.write_bytes(pickle.dumps({"train": {"audio": torch.zeros(2, 3, 4)}}))
    with pytest.raises(UnsafePickleError, match=r"torch\._utils\._rebuild_tensor_v2, .*\(tensor\.numpy\(\)\)"):
        load_numpy_pickle(path)


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_numpy_pickles_of_every_protocol_load(tmp_path, protocol):
    values = {"a": np.arange(6, dtype=np.float64).reshape(2, 3), "b": np.array([b"x", b"yz"]), "c": np.float32(2)}
    values["d"] = np.array(["video$_$1"], dtype=object)
    path = tmp_path / "p.pkl"
    path.write_bytes(pickle.dumps(values, protocol=protocol))
    loaded = load_numpy_pickle(path)
    for key, value in values.items():
        np.testing.assert_array_equal(loaded[key], value)


def test_pickle_options_that_do_not_apply_are_refused(tmp_path):
    path = write_mult(tmp_path / "mult.pkl")
    with pytest.raises(ValueError, match=r"feature pickle: .* \['audio', 'visual'\] do not apply"):
        load_mosei(path, audio="wav", visual="openface2", cache_dir=tmp_path / "cache")
