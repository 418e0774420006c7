"""TaylorSeer as a residual calibrator (runtime/calibrate.py) of a stack skip: cache-dit's TaylorSeer calibrator.

`TaylorCalibratorConfig(order=1)` or cache-dit's `TaylorSeerCalibratorConfig` (read, never mutated), composed
with a stack skip: `options={"cache": [DBCacheConfig(...), TaylorSeerCalibratorConfig(taylorseer_order=1)]}`.
On a skipped step the skipped blocks' residual is the Taylor expansion of the residuals of the computed steps
around the last one, instead of that residual repeated.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from ...errors import ConfigError
from ...options import reject_unknown_fields
from ...runtime.calibrate import Calibration, CalibratorState


# NOTE [cache-dit's calibrator step count]
# cache-dit 1.5.3 (`cache_contexts/calibrators/taylorseer.py`, `cache_context.py`) keeps one `TaylorSeerState`
# per residual name, created by the first `update` with `current_step = -1`; `mark_step_begin` (every
# transformer call, before the blocks) advances only the states that exist. Its context is recreated for every
# generation (`refresh_context`, or `num_inference_steps` reached), so in generation step k (0-based) a state
# made at step 0 reads `current_step = k - 1`. An update at step k stores `dY = [Y, (Y - Y_prev) / window, ...]`,
# window = steps since the last update, but a derivative only once `current_step > 1` (step 3 and later);
# a skipped step predicts sum_i dY_i * elapsed^i / i!, elapsed = steps since the last update. This module keeps
# exactly that count, so cachepass predicts what cache-dit predicts (tests/test_compose.py checks it step by
# step against cache-dit itself).
@dataclass
class _Stream:
    step: int = -1  # cache-dit's current_step
    last: int = -1  # its last_non_approximated_step


@dataclass
class TaylorCalibratorState(CalibratorState):
    order: int
    streams: dict[str, _Stream] = field(default_factory=dict)

    def begin_step(self) -> None:
        for stream in self.streams.values():
            stream.step += 1

    def update(self, name: str, residual: torch.Tensor, kept: Sequence[torch.Tensor]) -> tuple[torch.Tensor, ...]:
        stream = self.streams.setdefault(name, _Stream())
        window = stream.step - stream.last
        factors = [residual]
        for i in range(self.order):
            if i >= len(kept) or stream.step <= 1:
                break
            factors.append((factors[i] - kept[i]) / window)
        stream.last = stream.step
        return tuple(factors)

    def predict(self, name: str, kept: Sequence[torch.Tensor]) -> torch.Tensor:
        stream = self.streams[name]
        elapsed = stream.step - stream.last
        output: Any = 0
        for i, factor in enumerate(kept):  # cache-dit's expression, term by term, for equal rounding
            output = output + (1 / math.factorial(i)) * factor * (elapsed ** i)
        return output


@reject_unknown_fields
@dataclass(frozen=True)
class TaylorCalibratorConfig(Calibration):
    """cache-dit's TaylorSeer calibrator: a stack skip's reused residual predicted by a Taylor expansion of order
    `order` (1: linear) from the residuals of its computed steps; `hidden` / `encoder`: predict the hidden
    stream's residual / the other streams' (cache-dit's `enable_calibrator` / `enable_encoder_calibrator`)."""

    order: int = 1
    hidden: bool = True
    encoder: bool = True

    def __post_init__(self) -> None:
        if isinstance(self.order, bool) or not isinstance(self.order, numbers.Integral) or self.order < 1:
            raise ConfigError(f"TaylorCalibratorConfig.order={self.order!r} must be an int >= 1 (1: the residual "
                              f"extrapolated linearly, cache-dit's default), e.g. order=1.")
        for name in ("hidden", "encoder"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"TaylorCalibratorConfig.{name}={getattr(self, name)!r} must be True or False.")
        if not (self.hidden or self.encoder):
            raise ConfigError("TaylorCalibratorConfig(hidden=False, encoder=False) predicts nothing; drop the "
                              "calibrator from the list, or set hidden=True.")

    def describe(self) -> str:
        streams = [s for s, on in (("hidden", self.hidden), ("encoder", self.encoder)) if on]
        return f"TaylorSeer calibrator (order {self.order}, {' and '.join(streams)} residuals)"

    def predicts(self, hidden: bool) -> bool:
        return self.hidden if hidden else self.encoder

    def new_state(self) -> TaylorCalibratorState:
        return TaylorCalibratorState(self.order)


def from_cache_dit(cfg: Any) -> TaylorCalibratorConfig:
    """cachepass's config from cache-dit's `TaylorSeerCalibratorConfig` (never mutated); what cachepass does not do
    is refused with the fix. Its `calibrator_kwargs` (warm-up, interval) are not read: serving a stack skip,
    cache-dit's calibrator is only updated and asked to approximate, never stepped."""
    if getattr(cfg, "calibrator_cache_type", "residual") != "residual":
        raise ConfigError(f"cache-dit's TaylorSeerCalibratorConfig(calibrator_cache_type="
                          f"{cfg.calibrator_cache_type!r}): cachepass predicts the skipped blocks' residual only; use "
                          f"calibrator_cache_type='residual' (cache-dit's default).")
    return TaylorCalibratorConfig(order=cfg.taylorseer_order, hidden=bool(cfg.enable_calibrator),
                                  encoder=bool(cfg.enable_encoder_calibrator))


def bench_config() -> Any:
    """cache-dit's TaylorSeer calibrator at order 1 (its hybrid cache's default), for the bench's composed rows."""
    import cache_dit

    return cache_dit.TaylorSeerCalibratorConfig(taylorseer_order=1)


__all__ = ["TaylorCalibratorConfig", "bench_config", "TaylorCalibratorState", "from_cache_dit"]
