"""MagCache configs: cachepass's `MagConfig` and diffusers' `MagCacheConfig` (read, never mutated),
validated before any compile work."""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Any

from ...errors import ConfigError
from ...options import reject_unknown_fields

_NO_RATIOS = ("`mag_ratios` must be provided for MagCache inference because these ratios are model-dependent. "
              "To get them for your model: 1. Initialize `MagCacheConfig(calibrate=True, ...)` (or "
              "cachepass.MagConfig(calibrate=True)); 2. Run inference on your model once; 3. Copy the ratios "
              "(logged, and in cachepass.report(model)) and pass them to `mag_ratios`. For Flux models, you can "
              "import `FLUX_MAG_RATIOS` from `diffusers.hooks.mag_cache`.")


@reject_unknown_fields
@dataclass(frozen=True)
class MagConfig:
    """MagCache (diffusers' `hooks/mag_cache.py`, rule for rule): a step-only schedule.

    After the first `retention_ratio * num_inference_steps` steps, each step multiplies an accumulated
    magnitude ratio by `mag_ratios[step]` and adds `|1 - ratio|` to an accumulated error; while that error
    is at most `threshold`, at most `max_skip_steps` steps in a row skip the whole block stack (its output
    is its input plus the residual of the last computed step); otherwise the step computes and the
    accumulators restart. `mag_ratios` are interpolated (nearest) to `num_inference_steps`, as diffusers
    does. `calibrate=True` computes every step and measures the ratios instead.
    """

    threshold: float = 0.06
    max_skip_steps: int = 3
    retention_ratio: float = 0.2
    num_inference_steps: int = 28
    mag_ratios: tuple[float, ...] | None = None
    calibrate: bool = False
    block_lists: tuple[str, ...] | None = None  # as FBCConfig.block_lists: None finds the block stack

    def __post_init__(self) -> None:
        _number("MagConfig.threshold", self.threshold, low=0.0)
        _number("MagConfig.retention_ratio", self.retention_ratio, low=0.0, high=1.0)
        _integer("MagConfig.max_skip_steps", self.max_skip_steps, low=1)
        _integer("MagConfig.num_inference_steps", self.num_inference_steps, low=1)
        if not isinstance(self.calibrate, bool):
            raise ConfigError(f"MagConfig.calibrate={self.calibrate!r} must be True or False.")
        if self.mag_ratios is None and not self.calibrate:
            raise ConfigError(_NO_RATIOS)
        if self.mag_ratios is not None:
            ratios = _ratios(self.mag_ratios)
            if len(ratios) != self.num_inference_steps and not self.calibrate:
                ratios = nearest_interp(ratios, self.num_inference_steps)
            object.__setattr__(self, "mag_ratios", ratios)
        if self.block_lists is not None:
            lists = self.block_lists
            if isinstance(lists, str) or not lists or not all(isinstance(n, str) and n for n in lists):
                raise ConfigError(f"MagConfig.block_lists={lists!r} must be a non-empty tuple of ModuleList names.")
            object.__setattr__(self, "block_lists", tuple(lists))

    def describe(self) -> str:
        if self.calibrate:
            return f"MagCache[calibrate over {self.num_inference_steps} steps]"
        return (f"MagCache[threshold {self.threshold:g}, max {self.max_skip_steps} skips in a row, retention "
                f"{self.retention_ratio:g} of {self.num_inference_steps} steps]")


def from_diffusers(cfg: Any) -> MagConfig:
    """diffusers' `MagCacheConfig` as it is (its own `__post_init__` already interpolated `mag_ratios`)."""
    ratios = cfg.mag_ratios
    if ratios is not None and hasattr(ratios, "tolist"):
        ratios = ratios.tolist()
    return MagConfig(threshold=cfg.threshold, max_skip_steps=cfg.max_skip_steps, retention_ratio=cfg.retention_ratio,
                     num_inference_steps=cfg.num_inference_steps,
                     mag_ratios=tuple(ratios) if ratios is not None else None, calibrate=cfg.calibrate)


def nearest_interp(ratios: tuple[float, ...], length: int) -> tuple[float, ...]:
    """diffusers' `nearest_interp`, in its float32 arithmetic (torch.round rounds half to even)."""
    import torch

    if length == 1:
        return ratios[-1:]
    scale = (len(ratios) - 1) / (length - 1)
    indices = torch.round(torch.arange(length, dtype=torch.float32) * scale).long()
    return tuple(float(v) for v in torch.tensor(ratios, dtype=torch.float32)[indices])


def _ratios(value: Any) -> tuple[float, ...]:
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, str) or not isinstance(value, (tuple, list)) or not value or not all(
            isinstance(v, numbers.Real) and not isinstance(v, bool) for v in value):
        raise ConfigError(f"MagConfig.mag_ratios={value!r} must be a non-empty sequence of numbers (one per step).")
    return tuple(float(v) for v in value)


def _number(name: str, value: Any, low: float, high: float | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or value < low or (high is not None
                                                                                         and value > high):
        bound = f"in [{low:g}, {high:g}]" if high is not None else f">= {low:g}"
        raise ConfigError(f"{name}={value!r} must be a number {bound}.")


def _integer(name: str, value: Any, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise ConfigError(f"{name}={value!r} must be an int >= {low}.")
