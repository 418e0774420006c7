"""TeaCache calibration: the rescaling polynomial fitted from one generation's (indicator change, output change)
pairs, as the TeaCache authors fit their published coefficients (a degree-4 `numpy.polyfit` of the model output's
relative L1 change on the indicator's; third-party calibrators -- ComfyUI's TeaCache coefficient calculators, a
`teacache_fit.py` -- do the same).

NOTE [A rescaling polynomial must be positive]
The plan adds polyval(coefficients, x) to an accumulated change each step and skips while the sum stays below
the threshold. A polynomial that is zero or negative where the model's changes lie makes the sum stall or fall:
a generation then skips every step after the first, forever, whatever the threshold (the published Wan
polynomial does this on random weights: tests/test_teacache.py). A least-squares degree-4 fit of a few noisy
points can dip below zero between them, so the fit is checked on the observed range (its ends, every observed
change and a grid between): where it is not positive, degree 1 is tried, then the line through the origin
(slope sum(xy) / sum(xx), positive whenever the changes and the outputs' changes move together). Data on which
none is positive (the output never changed) gives None: there is nothing to rescale with.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

DEGREE = 4  # the authors' calibration scripts
_GRID = 256  # points between the smallest and the largest observed change where a fit must be positive


def fit_coefficients(x: Sequence[float], y: Sequence[float]) -> tuple[float, ...] | None:
    """The rescaling polynomial (highest power first, as numpy.poly1d) mapping the indicator's relative L1
    change `x` to the output's `y`: degree min(4, distinct x - 1), else degree 1, else the line through the
    origin, the first positive on the observed changes (NOTE [A rescaling polynomial must be positive]). None
    with fewer than 2 pairs or when no candidate is positive."""
    xs, ys = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if xs.shape != ys.shape or xs.ndim != 1:
        raise ValueError(f"fit_coefficients needs two sequences of the same length, got {xs.shape} and {ys.shape}")
    if len(xs) < 2:
        return None
    where = np.concatenate([xs, np.linspace(xs.min(), xs.max(), _GRID)])
    distinct = len(np.unique(xs))
    for degree in dict.fromkeys(d for d in (min(DEGREE, distinct - 1), 1) if 1 <= d <= distinct - 1):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", np.exceptions.RankWarning)  # a near-singular fit is checked below
            coefficients = np.polyfit(xs, ys, degree)
        if _positive(coefficients, where):
            return tuple(float(c) for c in coefficients)
    squares = float(np.dot(xs, xs))
    line = (float(np.dot(xs, ys)) / squares, 0.0) if squares > 0 else None
    return line if line is not None and _positive(np.asarray(line), where) else None


def _positive(coefficients: np.ndarray, where: np.ndarray) -> bool:
    return bool(np.all(np.isfinite(coefficients)) and np.all(np.polyval(coefficients, where[where > 0]) > 0))


@dataclass(frozen=True)
class TeaCalibration:
    """One finished calibration generation: per step after the first, the indicator's relative L1 change `x`
    and the model output's `y`, and the polynomial fitted to them (None: too few pairs, or none positive)."""

    x: tuple[float, ...]
    y: tuple[float, ...]
    coefficients: tuple[float, ...] | None


def output_change(output: torch.Tensor, previous: torch.Tensor) -> torch.Tensor:
    """mean|o - o_prev| / mean|o_prev| in float32, a device scalar (read with the generation's others)."""
    current, before = output.detach().float(), previous.float()
    return (current - before).abs().mean() / before.abs().mean()
