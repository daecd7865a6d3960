"""
The restricted unpickler against hostile feature pickles: each is loaded in a child process, so that a crash, a
memory peak or a hang is observed rather than suffered, and must end in `UnreadablePickleError` naming the problem.
"""

import _codecs
import json
import pickle
import re
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from data_scripts.safe_pickle import UnreadablePickleError, UnsafePickleError, load_numpy_pickle

try:  # numpy >= 2
    from numpy._core import multiarray
except ImportError:  # numpy 1.x
    from numpy.core import multiarray

ROOT = Path(__file__).resolve().parent.parent
MEMORY_BOUND_BYTES = 64 * 2**20
"""What loading any pickle of a few KB may add to the child's peak memory (numpy's import is measured apart)."""
SECONDS_BOUND = 20


class Reduces:
    """Pickles as `function(*args)` (and `state`, when given), as a hostile file would."""

    def __init__(self, *reduction):
        self.reduction = reduction

    def __reduce__(self):
        return self.reduction


def load_in_child(path: Path) -> dict:
    """
    Load `path` with `load_numpy_pickle` in a fresh interpreter: `{"outcome": "loaded" | error type, "message",
    "added_peak": peak RSS bytes beyond the interpreter with numpy imported}`; a crash is `{"outcome": "crashed"}`.
    """
    script = f"""
import json, resource, sys
import numpy
from data_scripts.safe_pickle import load_numpy_pickle
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    load_numpy_pickle({str(path)!r})
    outcome, message = "loaded", ""
except Exception as error:
    outcome, message = type(error).__name__, str(error)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({{"outcome": outcome, "message": message, "added_peak": (peak - before) * 1024}}))
"""
    try:
        done = subprocess.run(
            [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=SECONDS_BOUND
        )
    except subprocess.TimeoutExpired:
        return {"outcome": "hung", "message": f"more than {SECONDS_BOUND} s"}
    if done.returncode != 0:
        return {"outcome": "crashed", "message": f"exit {done.returncode}: {done.stderr[-500:]}"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def nested(depth: int) -> bytes:
    """Lists nested `depth` deep, written opcode by opcode (the pickler itself would recurse that deep)."""
    return b"\x80\x02" + b"]" * depth + b"a" * (depth - 1) + b"."


def shared_pairs(depth: int) -> list:
    """A list of two references to one list of two references to ...: 2**depth leaves from a file of ~10 * depth."""
    value = []
    for _ in range(depth):
        value = [value, value]
    return value


HOSTILE = {
    # numpy's rebuild functions with a file's arguments: object pointers read from bytes, fields beyond the item
    "ndarray over bytes as objects": (
        {"id": Reduces(np.ndarray, ((2,), np.dtype("O"), b"A" * 16))},
        "calls a _ArrayMarker",
    ),
    "object dtype named as builtins.object": (Reduces(np.ndarray, ((2,), object, b"A" * 16)), "builtins.object"),
    "void dtype with an object field": (
        Reduces(np.dtype, ("V8", False, True), (3, "|", None, ("a",), {"a": (np.dtype("O"), 0)}, 8, 1, 63)),
        "names the dtype 'V8'",
    ),
    "float dtype with a field at offset 4096": (
        Reduces(np.dtype, ("f8", False, True), (3, "|", None, ("a",), {"a": (np.dtype("u1"), 4096)}, 8, 1, 0)),
        "subarray, fields or an unknown byte order",
    ),
    # sizes the file does not hold
    "uninitialised 4 GB array": (
        Reduces(multiarray._reconstruct, (np.ndarray, (0,), b"b"), (1, (10**9,), np.dtype("f4"), False, b"")),
        r"needs 4000000000 bytes of data; the file holds 0",
    ),
    "array over a short buffer": (
        Reduces(multiarray._reconstruct, (np.ndarray, (0,), b"b"), (1, (50, 74), np.dtype("f4"), False, b"x" * 8)),
        r"needs 14800 bytes of data; the file holds 8",
    ),
    "zero strides through ndarray": (
        Reduces(np.ndarray, ((10**6, 50, 74), np.dtype("f4"), b"x" * 4, 0, (0, 0, 0))),
        "calls a _ArrayMarker",
    ),
    "bytearray of 2**40 bytes": (b"\x80\x05\x96" + struct.pack("<Q", 2**40) + b".", "a bytearray of 1099511627776"),
    "shared references 2**40 leaves": (shared_pairs(40), "nest deeper than 32|more than .* items"),
    "shared references 2**30 leaves within the depth": (shared_pairs(30), "reaches more than .* items"),
    "lists nested 100,000 deep": (nested(100_000), "nest deeper than 32 levels"),
    # CPU
    "punycode of 40,000 characters": (
        Reduces(_codecs.encode, ("".join(map(chr, range(0x4E00, 0x4E00 + 40_000))), "punycode")),
        "latin-1 text only",
    ),
    "colliding integer keys": ({key * (2**61 - 1): 0 for key in range(2000)}, "a dict key is a int"),
    # opcodes a feature pickle never needs
    "extension code": (b"\x80\x02\x82\x01.", "opcode EXT1"),
    "persistent id": (b"\x80\x02X\x01\x00\x00\x00aQ.", "opcode BINPERSID"),
    "a set": ({1, 2}, "opcode EMPTY_SET"),
    "numpy dtype left as a value": (Reduces(np.dtype, ("f8",)), "holds a _PendingDtype where data was expected"),
    "memo entry never stored": (b"\x80\x02h\x05.", "Memo value not found"),
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_pickles_are_refused_within_memory_and_time(tmp_path, name):
    value, message = HOSTILE[name]
    path = tmp_path / "features.pkl"
    path.write_bytes(value if isinstance(value, bytes) else pickle.dumps(value, protocol=4))
    result = load_in_child(path)
    assert result["outcome"] in ("UnreadablePickleError", "UnsafePickleError"), result
    assert str(path) in result["message"]
    assert re.search(message, result["message"]), result["message"]
    assert result["added_peak"] < MEMORY_BOUND_BYTES, result


def test_refusals_are_value_errors_and_unpickling_errors(tmp_path):
    path = tmp_path / "bad.pkl"
    path.write_bytes(nested(100))
    with pytest.raises(ValueError, match="nest deeper"):
        load_numpy_pickle(path)
    path.write_bytes(pickle.dumps(Reduces(print, ("hello",))))
    with pytest.raises(pickle.UnpicklingError, match="builtins.print"):
        load_numpy_pickle(path)
    assert issubclass(UnsafePickleError, UnreadablePickleError) and issubclass(UnreadablePickleError, ValueError)


@pytest.mark.parametrize("cut", [1, 10, 100, 1000])
def test_a_cut_pickle_is_unreadable_not_a_crash(tmp_path, cut):
    data = pickle.dumps({"audio": np.ones((4, 5, 74), np.float32), "id": np.array(["a$_$0"] * 4)}, protocol=4)
    path = tmp_path / "cut.pkl"
    path.write_bytes(data[:-cut])
    with pytest.raises(UnreadablePickleError, match="cut.pkl"):
        load_numpy_pickle(path)


def plain_arrays() -> dict:
    return {
        "float32 (N, T, D)": np.arange(24, dtype=np.float32).reshape(2, 3, 4),
        "float64 big-endian": np.arange(5, dtype=">f8"),
        "fortran order": np.asfortranarray(np.arange(6, dtype=np.int16).reshape(2, 3)),
        "bool": np.array([True, False]),
        "uint8": np.arange(3, dtype=np.uint8),
        "complex": np.array([1 + 2j], dtype=np.complex64),
        "str": np.array(["video$_$1", "clip"]),
        "bytes": np.array([b"vid0", b"1.5"]),
        "object strings": np.array(["a b", "c"], dtype=object),
        "empty": np.zeros((0, 74), np.float32),
        "scalar": np.float32(2.5),
        "int scalar": np.int64(-3),
    }


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_plain_arrays_of_every_protocol_load_exactly(tmp_path, protocol):
    values = {"train": plain_arrays(), "lengths": [3, 4], "nested": {"a": ("b", 1.5, None)}}
    path = tmp_path / "p.pkl"
    path.write_bytes(pickle.dumps(values, protocol=protocol))
    loaded = load_numpy_pickle(path)
    for key, value in values["train"].items():
        np.testing.assert_array_equal(loaded["train"][key], value, err_msg=key)
        assert loaded["train"][key].dtype == value.dtype, key
        if isinstance(value, np.ndarray):
            assert loaded["train"][key].flags.writeable
    assert loaded["train"]["fortran order"].flags.f_contiguous
    assert loaded["lengths"] == [3, 4] and loaded["nested"] == {"a": ("b", 1.5, None)}


def test_numpy_1_module_names_load(tmp_path):
    """Files written under numpy 1 name `numpy.core.multiarray` (MMSA's and MulT's published pickles)."""
    data = pickle.dumps({"audio": np.ones((2, 3), np.float32), "id": np.array(["x"])}, protocol=2)
    legacy = data.replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
    assert legacy != data
    path = tmp_path / "legacy.pkl"
    path.write_bytes(legacy)
    loaded = load_numpy_pickle(path)
    np.testing.assert_array_equal(loaded["audio"], np.ones((2, 3), np.float32))
