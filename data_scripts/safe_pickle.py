"""
Reading numpy feature pickles without running code that comes with them.

`pickle.load` calls whatever callable a file names, so a pickle from a file-sharing link can run any command. The
feature pickles CMU-MOSEI users hold (MMSA's `aligned_50.pkl` / `unaligned_50.pkl`, MulT's `mosei_senti_data*.pkl`)
need only dicts, lists, strings and numpy arrays, so `RestrictedUnpickler` resolves just the globals that rebuild
numpy arrays, dtypes and scalars; any other global is refused with `UnsafePickleError` naming it, before it is
imported or called.
"""

import _codecs
import pickle
from pathlib import Path

import numpy as np

try:  # numpy >= 2
    from numpy._core import multiarray as _multiarray
    from numpy._core import numeric as _numeric
except ImportError:  # numpy 1.x
    from numpy.core import multiarray as _multiarray
    from numpy.core import numeric as _numeric

NUMPY_GLOBALS = {
    (module, name): getattr(_multiarray, name)
    for module in ("numpy.core.multiarray", "numpy._core.multiarray")
    for name in ("_reconstruct", "scalar")
}
"""What numpy writes into a pickle to rebuild arrays and scalars, under numpy 1 and numpy 2 module names."""
NUMPY_GLOBALS.update(
    {
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("numpy.core.numeric", "_frombuffer"): _numeric._frombuffer,  # protocol 5
        ("numpy._core.numeric", "_frombuffer"): _numeric._frombuffer,
        ("_codecs", "encode"): _codecs.encode,  # protocol 2: bytes are written as latin-1 text
    }
)


class UnsafePickleError(pickle.UnpicklingError):
    """A pickle names a global outside the allow-list: it was not imported and nothing ran."""


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that builds only containers, strings, numbers and numpy arrays (`NUMPY_GLOBALS`)."""

    def __init__(self, file, source: str = "<pickle>"):
        super().__init__(file, encoding="latin1")  # Python 2 numpy pickles store their buffers as str
        self.source = source

    def find_class(self, module: str, name: str):
        allowed = NUMPY_GLOBALS.get((module, name))
        if allowed is not None:
            return allowed
        hint = ""
        if module.split(".")[0] == "torch":
            hint = (
                " It holds torch tensors (an MMSA-FET or torch.save file): load it where you trust it and save the "
                "arrays with numpy (tensor.numpy()) first."
            )
        raise UnsafePickleError(
            f"{self.source} refers to {module}.{name}, which a feature pickle does not need; it was refused and "
            f"nothing in the file ran (allowed: numpy arrays, dtypes and scalars).{hint}"
        )


def load_numpy_pickle(path) -> object:
    """The object a numpy feature pickle holds, unpickled with `RestrictedUnpickler`."""
    path = Path(path)
    with open(path, "rb") as file:
        try:
            return RestrictedUnpickler(file, source=str(path)).load()
        except UnsafePickleError:
            raise
        except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as error:
            raise pickle.UnpicklingError(f"{path} is not a readable pickle: {error}") from error


__all__ = ["NUMPY_GLOBALS", "RestrictedUnpickler", "UnsafePickleError", "load_numpy_pickle"]
