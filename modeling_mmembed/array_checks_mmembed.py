# Copyright 2026 The mmembed authors. Licensed under the Apache License, Version 2.0.
"""
Checks on the numpy arrays users hand to the feature extractor, the processor and the OpenFace reader, before any
frame is computed: each raises a `ValueError` naming the input (`check_*`, as `input_validation_mmembed` does for
the model's tensors).
"""

import numpy as np


def check_finite(array: np.ndarray, name: str, what: str = "values") -> None:
    """Raise naming `name` and how many of its `what` (samples, values) are NaN or inf."""
    finite = np.isfinite(array)
    if not finite.all():
        raise ValueError(f"{name} holds {int((~finite).sum())} NaN/inf {what}.")


def check_max_length(modality: str, lengths: list[int], max_length: int | None) -> None:
    """Raise `ValueError` naming the samples of `modality` longer than `max_length` (nothing is cut silently)."""
    too_long = [index for index, length in enumerate(lengths) if max_length is not None and length > max_length]
    if too_long:
        raise ValueError(
            f"{modality} samples {too_long} are longer than max_length={max_length} "
            f"({[lengths[index] for index in too_long]}); pass truncation=True to cut them."
        )


__all__ = ["check_finite", "check_max_length"]
