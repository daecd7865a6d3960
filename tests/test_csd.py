"""`.csd` reading and writing: round trips, the real CMU file, and every kind of bad file."""

from pathlib import Path

import h5py
import numpy as np
import pytest

from data_scripts.csd import CsdError, read_csd, write_csd

REAL_CMU_FILE = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "CMU_MOSI_ModifiedTimestampedWords.csd"
"""A real CMU-published file, in the project's shared folder beside the checkout (CI has it; a plain clone may not).
Its terms of redistribution are CMU's, not stated in the file, so no copy is kept in the repository."""


@pytest.mark.parametrize("compression", ["gzip", None])
def test_round_trip(tmp_path, compression):
    data = {
        "81406": (np.arange(12, dtype=np.float32).reshape(4, 3), np.array([[0, 1], [1, 2], [2, 3], [3, 4.5]])),
        "-iRBcNs9oI8": (np.ones((2, 3), dtype=np.float64), np.array([[0.0, 0.5], [0.5, 1.0]])),
    }
    path = tmp_path / "seq.csd"
    write_csd(path, "FACET 4.2", data, {"dimension names": ["a", "b", "c"], "md5": None}, compression=compression)
    with read_csd(path) as sequence:
        assert sequence.name == "FACET 4.2"
        assert sequence.video_ids() == ["-iRBcNs9oI8", "81406"]  # HDF5 orders group names
        assert sequence.metadata == {"root name": "FACET 4.2", "dimension names": ["a", "b", "c"], "md5": None}
        assert sequence.feature_size() == 3
        for video_id, (features, intervals) in data.items():
            read_features, read_intervals = sequence[video_id]
            np.testing.assert_array_equal(read_features, features)
            assert read_features.dtype == features.dtype
            np.testing.assert_array_equal(read_intervals, intervals)
    with h5py.File(path) as handle:
        assert handle["FACET 4.2/data/81406/features"].compression == compression


@pytest.mark.skipif(not REAL_CMU_FILE.is_file(), reason=f"optional fixture {REAL_CMU_FILE} is absent (../shared)")
def test_reads_the_real_cmu_file():
    with read_csd(REAL_CMU_FILE) as sequence:
        assert sequence.name == "CMU_MOSI_ModifiedTimestampedWords"
        assert len(sequence) == 93
        assert sequence.metadata["root name"] == "CMU_MOSI_ModifiedTimestampedWords"
        assert sequence.metadata["md5"] == "None"  # plain strings, not JSON, in this real file
        assert sequence.metadata["uuid"] == "c4af6b6b-2249-4c7d-8b0f-1a1739837722"
        features, intervals = sequence["03bSnISJMiM"]
        assert features.shape == (480, 1) and intervals.shape == (480, 2)
        assert [word.decode() for word in features[:4, 0]] == ["oh", "sp", "this", "sp"]
        np.testing.assert_allclose(intervals[0], [2.11768707, 5.16077098])
        assert "not-a-video" not in sequence


def write_raw(path: Path, build) -> Path:
    with h5py.File(path, "w") as handle:
        build(handle)
    return path


def two_roots(handle):
    handle.create_group("a/data")
    handle.create_group("b/data")


def no_data(handle):
    handle.create_group("COVAREP/metadata")


def mismatched_rows(handle):
    video = handle.create_group("COVAREP/data/-iRBcNs9oI8")
    video["features"] = np.zeros((5, 74))
    video["intervals"] = np.zeros((4, 2))


def bad_intervals(handle):
    video = handle.create_group("COVAREP/data/81406")
    video["features"] = np.zeros((5, 74))
    video["intervals"] = np.zeros((5, 3))


def no_intervals(handle):
    handle.create_group("COVAREP/data/81406")["features"] = np.zeros((5, 74))


def three_dimensional(handle):
    video = handle.create_group("COVAREP/data/81406")
    video["features"] = np.zeros((5, 2, 74))
    video["intervals"] = np.zeros((5, 2))


def declared_but_not_stored(handle):
    """A dataset of 10**9 rows whose chunks were never written: reading it would allocate 296 GB of fill values."""
    video = handle.create_group("COVAREP/data/81406")
    video.create_dataset("features", shape=(10**9, 74), dtype="f4", chunks=(1024, 74), compression="gzip")
    video["intervals"] = np.zeros((10**9 // 10**9, 2))


@pytest.mark.parametrize(
    ("build", "video_id", "message"),
    [
        (three_dimensional, "81406", r"video '81406' has features of shape \(5, 2, 74\); .* \(T, D\)"),
        (declared_but_not_stored, "81406", r"video '81406' declares features of shape \(1000000000, 74\) .* stores 0"),
        (lambda handle: None, None, "must have exactly one root group; found 0"),
        (two_roots, None, r"must have exactly one root group; found 2: \['a', 'b'\]"),
        (no_data, None, "has no 'data' group under its root group 'COVAREP'"),
        (mismatched_rows, "-iRBcNs9oI8", "video '-iRBcNs9oI8' has 5 feature rows but 4 intervals"),
        (bad_intervals, "81406", r"video '81406' has intervals of shape \(5, 3\), not \(T, 2\)"),
        (no_intervals, "81406", "video '81406' has no 'intervals' dataset"),
    ],
)
def test_bad_files_name_the_file_video_and_problem(tmp_path, build, video_id, message):
    path = write_raw(tmp_path / "bad.csd", build)
    with pytest.raises(CsdError, match=message) as error:
        with read_csd(path) as sequence:
            sequence[video_id]
    assert str(path) in str(error.value)


def test_not_hdf5(tmp_path):
    path = tmp_path / "labels.csd"
    path.write_text("not an HDF5 file")
    with pytest.raises(CsdError, match=r"labels\.csd is not a readable HDF5 \.csd file"):
        read_csd(path)


def test_writer_refuses_mismatched_rows(tmp_path):
    with pytest.raises(CsdError, match="video '81406' needs intervals"):
        write_csd(tmp_path / "x.csd", "x", {"81406": (np.zeros((3, 2)), np.zeros((2, 2)))})
