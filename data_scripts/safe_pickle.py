"""
Reading numpy feature pickles without running code that comes with them, and without letting them crash, read
memory or exhaust the machine.

`pickle.load` calls whatever callable a file names, so a pickle from a file-sharing link can run any command; and
even numpy's own rebuild functions, called with arguments a file chooses, can build an object array over file bytes
(pointers read from the file: a crash or worse), a dtype whose fields lie outside its items (heap memory read into
the result), or an uninitialised array of any size. The feature pickles CMU-MOSEI users hold (MMSA's
`aligned_50.pkl` / `unaligned_50.pkl`, MulT's `mosei_senti_data*.pkl`) need only dicts, lists, strings, numbers and
plain numeric or string arrays, so `RestrictedUnpickler` (the approach of torch's `weights_only` unpickler):

- runs an allow-list of opcodes (no persistent ids, extension codes, `INST`/`OBJ`/`NEWOBJ`, out-of-band buffers or
  sets), with dict keys that are strings only (no hash-collision CPU bombs);
- resolves no global to anything importable: the five numpy names a numpy pickle uses (`_reconstruct`, `dtype`,
  `scalar`, `_frombuffer`, and `ndarray` as `_reconstruct`'s marker), `_codecs.encode` (latin-1 only) and `bytes()`
  (empty bytes) become stand-ins that validate every argument and build the result themselves; every other global
  is refused with `UnsafePickleError` naming it, before anything is imported or called;
- builds a dtype only from a validated string of a plain kind (bool, integer, float, complex, bytes, str; object
  arrays only as a list of plain strings and numbers), never from a state's fields, offsets or flags;
- builds an array only over a buffer whose length is exactly shape x itemsize, so no array is larger than the bytes
  of the file that hold it, and nothing is allocated before its size is checked against the file's length;
- refuses nesting deeper than `MAX_NESTING` (cycles included) and structures that name more items than the file
  has bytes (shared references that multiply).

Every refusal is an `UnreadablePickleError` (a `ValueError`) naming the file and what was wrong.
"""

import math
import os
import pickle
import re
import struct
from pathlib import Path

import numpy as np

MAX_NESTING = 32
"""How deep containers may nest (a feature pickle has about 4 levels)."""
MAX_DIMENSIONS = 32
"""Dimensions of one array (numpy's own limit is 64)."""
PLAIN_DTYPE = re.compile(r"(b1|[iu][1248]|f[248]|c(?:8|16)|[SU]\d{1,9}|O[48])")
"""The dtype strings a feature pickle may hold: no void, struct, datetime, or platform-sized long double."""
SCALAR_TYPES = (str, bytes, int, float, bool, type(None))
"""What an object array's items and a dict's values may be at the leaves."""
KEY_TYPES = (str, bytes)
"""Dict keys: hashed with a random seed, so a file cannot choose colliding keys."""


class UnreadablePickleError(pickle.UnpicklingError, ValueError):
    """A pickle this reader will not rebuild: the message names the file and what in it was refused."""


class UnsafePickleError(UnreadablePickleError):
    """A pickle names a global or opcode outside the allow-list: nothing was imported and nothing in it ran."""


class _ArrayMarker:
    """Stands for `numpy.ndarray`, which a pickle names only as `_reconstruct`'s first argument."""

    __slots__ = ()


ARRAY_MARKER = _ArrayMarker()


class _Constructor:
    """A stand-in for one allowed global: calling it validates the arguments and builds the value."""

    __slots__ = ("build", "name")

    def __init__(self, name: str, build):
        self.name, self.build = name, build


class _PendingDtype:
    """A dtype named by a validated string; a following BUILD may only set its byte order."""

    __slots__ = ("built", "dtype")

    def __init__(self, dtype: np.dtype):
        self.dtype, self.built = dtype, False


class _PendingArray:
    """What `_reconstruct` returns: an empty placeholder until BUILD gives it a shape, dtype and exactly-sized data."""

    __slots__ = ("array",)

    def __init__(self):
        self.array = None


def _refuse(message: str):
    raise UnreadablePickleError(message)


def _plain_dtype(code) -> np.dtype:
    if isinstance(code, bytes):
        code = code.decode("latin1")
    if not isinstance(code, str) or not PLAIN_DTYPE.fullmatch(code):
        _refuse(
            f"it names the dtype {code!r}; allowed are plain numbers, bytes, str and object arrays of them "
            "(b1, i/u 1-8, f 2-8, c 8-16, S<n>, U<n>, O8)."
        )
    return np.dtype(code)


def _dtype(code, align=False, copy=True):
    if not isinstance(align, bool) or not isinstance(copy, bool):
        _refuse("numpy.dtype takes a string and two flags.")
    return _PendingDtype(_plain_dtype(code))


def _set_dtype_state(pending: _PendingDtype, state) -> None:
    """Accept numpy's state of a plain dtype (version 3; no subarray, fields or metadata), keeping its byte order."""
    if pending.built:
        _refuse("a dtype was given its state twice.")
    if not isinstance(state, tuple) or len(state) != 8 or state[0] != 3:
        _refuse("a dtype's state is not a plain dtype's (version 3, 8 fields).")
    _, byteorder, subarray, names, fields, itemsize, alignment, flags = state
    if byteorder not in ("<", ">", "|", "=") or (subarray, names, fields) != (None, None, None):
        _refuse("a dtype's state has a subarray, fields or an unknown byte order.")
    if not all(isinstance(value, int) for value in (itemsize, alignment, flags)):
        _refuse("a dtype's state has sizes that are not integers.")
    if itemsize not in (-1, pending.dtype.itemsize):
        _refuse(f"a dtype's state gives item size {itemsize} for {pending.dtype.str} ({pending.dtype.itemsize}).")
    if byteorder in "<>" and pending.dtype.byteorder != "|":
        pending.dtype = pending.dtype.newbyteorder(byteorder)
    pending.built = True


def _resolved_dtype(value) -> np.dtype:
    if not isinstance(value, _PendingDtype):
        _refuse(f"an array's dtype is a {type(value).__name__}, not a numpy.dtype.")
    return value.dtype


def _shape(value) -> tuple:
    if (
        not isinstance(value, tuple)
        or len(value) > MAX_DIMENSIONS
        or not all(type(size) is int and 0 <= size < 2**40 for size in value)
    ):
        _refuse(f"an array's shape must be at most {MAX_DIMENSIONS} sizes in [0, 2**40); got {_summary(value)}.")
    return value


def _latin1_bytes(data) -> bytes:
    """Array data as bytes: Python 2 pickles store it as latin-1 text."""
    if isinstance(data, str):
        return data.encode("latin1")
    if isinstance(data, bytes | bytearray):
        return bytes(data)
    _refuse(f"an array's data is a {type(data).__name__}, not bytes.")


def _build_array(shape: tuple, dtype: np.dtype, data, order: str) -> np.ndarray:
    """An array of `shape` and `dtype` over `data`, whose length must be exactly what the shape needs."""
    count = math.prod(shape)
    if dtype.kind == "O":
        if not isinstance(data, list) or len(data) != count:
            _refuse(f"an object array of shape {shape} needs a list of {count} items.")
        if not all(type(item) in SCALAR_TYPES for item in data):
            _refuse("an object array may hold only strings, bytes and numbers.")
        values = np.empty(count, dtype=object)
        values[:] = data
        return values.reshape(shape, order=order)
    data = _latin1_bytes(data)
    if dtype.itemsize == 0 or len(data) != count * dtype.itemsize:
        _refuse(
            f"an array of shape {shape} and dtype {dtype.str} needs {count * dtype.itemsize} bytes of data; "
            f"the file holds {len(data)}."
        )
    return np.frombuffer(data, dtype=dtype).reshape(shape, order=order).copy(order="K")


def _reconstruct(marker, shape, typecode):
    if marker is not ARRAY_MARKER or shape != (0,) or typecode not in (b"b", "b"):
        _refuse("_reconstruct is called the way numpy never calls it (it rebuilds plain arrays only).")
    return _PendingArray()


def _set_array_state(pending: _PendingArray, state) -> None:
    if pending.array is not None:
        _refuse("an array was given its state twice.")
    if isinstance(state, tuple) and len(state) == 5 and state[0] == 1:
        state = state[1:]
    if not isinstance(state, tuple) or len(state) != 4:
        _refuse("an array's state is not numpy's (version, shape, dtype, order, data).")
    shape, dtype, fortran, data = state
    if not isinstance(fortran, bool):
        _refuse("an array's order flag is not a bool.")
    pending.array = _build_array(_shape(shape), _resolved_dtype(dtype), data, "F" if fortran else "C")


def _frombuffer(buffer, dtype, shape, order):
    if order not in ("C", "F"):
        _refuse(f"an array's order is {order!r}, not 'C' or 'F'.")
    dtype = _resolved_dtype(dtype)
    if dtype.kind == "O":
        _refuse("an object array cannot come from a buffer.")
    return _build_array(_shape(shape), dtype, buffer, order)


def _scalar(dtype, data):
    dtype = _resolved_dtype(dtype)
    if dtype.kind == "O":
        _refuse("an object scalar is not a plain number.")
    return _build_array((), dtype, data, "C")[()]


def _encode(text, encoding="utf-8"):
    """`_codecs.encode`, which protocol-2 pickles use for bytes: latin-1 only (linear time)."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        _refuse(f"_codecs.encode is allowed for latin-1 text only (bytes in a protocol-2 pickle); got {encoding!r}.")
    return text.encode("latin1")


def _empty_bytes(*args):
    """`bytes()`, which protocol-2 pickles use for empty bytes (an empty array's data)."""
    if args:
        _refuse("bytes(...) is allowed without arguments only (empty bytes in a protocol-2 pickle).")
    return b""


ALLOWED_GLOBALS = {}
"""(module, name) -> the stand-in a global becomes; numpy 1 and numpy 2 module names."""
for _core in ("numpy.core", "numpy._core"):
    ALLOWED_GLOBALS[(f"{_core}.multiarray", "_reconstruct")] = _Constructor("_reconstruct", _reconstruct)
    ALLOWED_GLOBALS[(f"{_core}.multiarray", "scalar")] = _Constructor("scalar", _scalar)
    ALLOWED_GLOBALS[(f"{_core}.numeric", "_frombuffer")] = _Constructor("_frombuffer", _frombuffer)
ALLOWED_GLOBALS[("numpy", "ndarray")] = ARRAY_MARKER
ALLOWED_GLOBALS[("numpy", "dtype")] = _Constructor("dtype", _dtype)
ALLOWED_GLOBALS[("_codecs", "encode")] = _Constructor("encode", _encode)
for _builtins in ("builtins", "__builtin__"):
    ALLOWED_GLOBALS[(_builtins, "bytes")] = _Constructor("bytes", _empty_bytes)

ALLOWED_OPCODES = """
PROTO FRAME STOP MARK POP POP_MARK DUP NONE NEWTRUE NEWFALSE INT BININT BININT1 BININT2 LONG LONG1 LONG4 FLOAT
BINFLOAT STRING BINSTRING SHORT_BINSTRING UNICODE BINUNICODE SHORT_BINUNICODE BINUNICODE8 BINBYTES SHORT_BINBYTES
BINBYTES8 EMPTY_LIST APPEND APPENDS LIST EMPTY_TUPLE TUPLE TUPLE1 TUPLE2 TUPLE3 EMPTY_DICT BINGET LONG_BINGET BINPUT
LONG_BINPUT MEMOIZE GLOBAL STACK_GLOBAL
""".split()
"""Opcodes run as the standard library's pure-Python unpickler runs them; the rest of the allow-list (`BYTEARRAY8`,
`DICT`, `SETITEM(S)`, `GET`/`PUT`, `REDUCE`, `BUILD`) is checked by `RestrictedUnpickler` itself."""


class _OpcodeTable(dict):
    """The allowed opcodes; any other is refused by name before it runs."""

    def __missing__(self, opcode: int):
        names = [name for name in dir(pickle) if name.isupper() and getattr(pickle, name) == bytes([opcode])]
        raise UnsafePickleError(
            f"uses the pickle opcode {names[0] if names else hex(opcode)}, which a feature pickle does not need; it "
            "was refused and nothing in the file ran."
        )


class _BoundedReader:
    """A file's `read`/`readline`/`readinto` that never ask for more than the bytes the file has left."""

    def __init__(self, file, size: int):
        self.file, self.left = file, size

    def read(self, size: int = -1) -> bytes:
        data = self.file.read(self.left if size < 0 else min(size, self.left))
        self.left -= len(data)
        return data

    def readline(self) -> bytes:
        data = self.file.readline(self.left)
        self.left -= len(data)
        return data

    def readinto(self, buffer) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


class RestrictedUnpickler(pickle._Unpickler):  # the pure-Python unpickler: its opcode table can be narrowed
    """
    An unpickler that builds only containers, strings, numbers and plain numpy arrays (module docstring).
    `size` is the file's length in bytes: nothing larger is ever allocated.
    """

    def __init__(self, file, source: str = "<pickle>", size: int | None = None):
        if size is None:
            size = os.fstat(file.fileno()).st_size
        super().__init__(_BoundedReader(file, size), encoding="latin1")  # Python 2 numpy pickles hold str buffers
        self.source, self.size = source, size

    dispatch = _OpcodeTable(
        {getattr(pickle, name)[0]: pickle._Unpickler.dispatch[getattr(pickle, name)[0]] for name in ALLOWED_OPCODES}
    )

    def find_class(self, module: str, name: str):
        allowed = ALLOWED_GLOBALS.get((module, name))
        if allowed is not None:
            return allowed
        hint = ""
        if module.split(".")[0] == "torch":
            hint = (
                " It holds torch tensors (an MMSA-FET or torch.save file): load it where you trust it and save the "
                "arrays with numpy (tensor.numpy()) first."
            )
        raise UnsafePickleError(
            f"refers to {module}.{name}, which a feature pickle does not need; it was refused and "
            f"nothing in the file ran (allowed: numpy arrays, dtypes and scalars).{hint}"
        )

    def load_bytearray8(self):
        (size,) = struct.unpack("<Q", self.read(8))
        if size > self.size:
            _refuse(f"a bytearray of {size} bytes is declared in a file of {self.size}.")
        self.append(bytearray(self.read(size)))

    def load_reduce(self):
        args = self.stack.pop()
        function = self.stack[-1]
        if not isinstance(function, _Constructor) or not isinstance(args, tuple):
            _refuse(f"it calls a {type(function).__name__}; only numpy's array, dtype and scalar rebuilds run.")
        try:
            self.stack[-1] = function.build(*args)
        except TypeError as error:
            _refuse(f"{function.name} is called with the wrong arguments ({error}).")

    def load_build(self):
        state = self.stack.pop()
        target = self.stack[-1]
        if isinstance(target, _PendingArray):
            _set_array_state(target, state)
        elif isinstance(target, _PendingDtype):
            _set_dtype_state(target, state)
        else:
            _refuse(f"it sets the state of a {type(target).__name__}; only numpy arrays and dtypes take one.")

    def set_items(self, target, items: list):
        if not isinstance(target, dict):
            _refuse(f"it sets items of a {type(target).__name__}, not a dict.")
        for key in items[::2]:
            if type(key) not in KEY_TYPES:
                _refuse(f"a dict key is a {type(key).__name__}; feature pickles key their dicts with strings.")
        target.update(zip(items[::2], items[1::2], strict=True))

    def load_dict(self):
        items = self.pop_mark()
        if len(items) % 2:
            _refuse("a dict has a key without a value.")
        target = {}
        self.set_items(target, items)
        self.append(target)

    def load_setitem(self):
        value, key = self.stack.pop(), self.stack.pop()
        self.set_items(self.stack[-1], [key, value])

    def load_setitems(self):
        items = self.pop_mark()
        if len(items) % 2:
            _refuse("a dict has a key without a value.")
        self.set_items(self.stack[-1], items)

    def memo_index(self, index) -> int:
        if type(index) is not int or not 0 <= index < 2**32:
            _refuse(f"a memo index is {_summary(index)}, not in [0, 2**32).")
        return index

    def load_get(self):
        index = self.memo_index(int(self.readline()[:-1]))
        if index not in self.memo:
            _refuse(f"it refers to memo entry {index}, which was never stored.")
        self.append(self.memo[index])

    def load_put(self):
        self.memo[self.memo_index(int(self.readline()[:-1]))] = self.stack[-1]

    dispatch[pickle.BYTEARRAY8[0]] = load_bytearray8
    dispatch[pickle.REDUCE[0]] = load_reduce
    dispatch[pickle.BUILD[0]] = load_build
    dispatch[pickle.DICT[0]] = load_dict
    dispatch[pickle.SETITEM[0]] = load_setitem
    dispatch[pickle.SETITEMS[0]] = load_setitems
    dispatch[pickle.GET[0]] = load_get
    dispatch[pickle.PUT[0]] = load_put

    def load(self):
        try:
            return _Resolver(self.size).resolve(super().load(), 0)[0]
        except UnsafePickleError as error:
            raise UnsafePickleError(f"{self.source} {error}") from None
        except UnreadablePickleError as error:
            raise UnreadablePickleError(f"{self.source} is refused: {error}") from None


class _Resolver:
    """
    The loaded value with every placeholder replaced by its array; refuses nesting beyond `MAX_NESTING`, anything
    but containers, strings, numbers and arrays, and more items (counting shared references each time they are
    reached) than the file has bytes.
    """

    def __init__(self, limit: int):
        self.limit = max(limit, 1024)
        self.done = {}  # id -> (value, items reached through it)

    def resolve(self, value, depth: int):
        if type(value) in SCALAR_TYPES:
            return value, 1
        known = self.done.get(id(value))
        if known is not None:
            return known
        if depth > MAX_NESTING:
            _refuse(f"its containers nest deeper than {MAX_NESTING} levels (or refer to themselves).")
        if isinstance(value, _PendingArray):
            if value.array is None:
                _refuse("an array is used without its data.")
            result = value.array, 1
        elif isinstance(value, np.ndarray | np.generic | bytearray):
            result = value, 1
        elif type(value) in (list, tuple):
            items = [self.resolve(item, depth + 1) for item in value]
            result = type(value)(item for item, _ in items), 1 + sum(count for _, count in items)
        elif type(value) is dict:
            items = [self.resolve(item, depth + 1) for item in value.values()]
            result = dict(zip(value, (item for item, _ in items), strict=True)), 1 + sum(c for _, c in items)
        else:
            _refuse(f"it holds a {type(value).__name__} where data was expected.")
        if result[1] > self.limit:
            _refuse(f"it reaches more than {self.limit} items through shared references (one per byte of the file).")
        self.done[id(value)] = result
        return result


def _summary(value, width: int = 60) -> str:
    text = repr(value) if type(value) in (int, tuple) else type(value).__name__
    return text if len(text) <= width else text[:width] + "..."


def load_numpy_pickle(path) -> object:
    """The object a numpy feature pickle holds, unpickled with `RestrictedUnpickler`."""
    path = Path(path)
    with open(path, "rb") as file:
        try:
            return RestrictedUnpickler(file, source=str(path)).load()
        except UnreadablePickleError:
            raise
        except (
            pickle.UnpicklingError,
            EOFError,
            ValueError,
            TypeError,
            AttributeError,
            IndexError,
            struct.error,
        ) as error:
            # what the standard library's opcodes raise on malformed bytes (a cut file, a bad length, a wrong type)
            raise UnreadablePickleError(f"{path} is not a readable pickle: {type(error).__name__}: {error}") from None


__all__ = [
    "ALLOWED_GLOBALS",
    "RestrictedUnpickler",
    "UnreadablePickleError",
    "UnsafePickleError",
    "load_numpy_pickle",
]
