"""MagCache stage 3, plan: a pure function from (the step's state, whether a residual is cached) to a step.

diffusers' head hook (hooks/mag_cache.py, `MagCacheHeadHook.new_forward`) rule for rule, in its own
arithmetic: `mag_ratios` is a float32 tensor, so the accumulated ratio and error become float32 0-d
tensors after the first multiplication and are compared with the threshold in float32. The plan does the
same operations on numpy float32 scalars (IEEE float32, as torch's CPU kernels; no tensor, so no host
read of anything), so its decisions are diffusers' to the bit. The step index advances on every call and wraps at `num_inference_steps`,
which also drops the residual (diffusers' `_advance_step`): the next call starts a new generation.

    compute  <=>  calibrate, or step < retention, or no residual, or err > threshold, or steps > max_skip
"""

from __future__ import annotations

from collections.abc import Sequence
import functools
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np

from .config import MagConfig

Variant = Literal["compute", "compute+calibrate", "skip"]


@dataclass(frozen=True)
class MagState:
    step_index: int = 0
    ratio: Any = np.float32(1.0)
    steps: int = 0
    error: Any = np.float32(0.0)


@dataclass(frozen=True)
class MagDecision:
    step_index: int
    compute: bool
    error: float  # the accumulated error compared with the threshold (0 when not accumulating)
    wraps: bool  # the step index reached num_inference_steps: the residual is dropped after this call

    @property
    def variant(self) -> str:
        return "compute" if self.compute else "skip"


@dataclass(frozen=True)
class MagPlan:
    config: MagConfig

    @property
    def retention_step(self) -> int:
        return int(self.config.retention_ratio * self.config.num_inference_steps + 0.5)

    @functools.cached_property
    def _ratios(self) -> np.ndarray:
        return np.asarray(self.config.mag_ratios or (), dtype=np.float32)

    def decide(self, state: MagState, has_residual: bool) -> tuple[MagDecision, MagState]:
        config, step = self.config, state.step_index
        ratio, steps, error, compute = state.ratio, state.steps, state.error, True
        if not config.calibrate and step >= self.retention_step:
            ratios = self._ratios
            scale = ratios[step] if step < len(ratios) else np.float32(1.0)
            ratio = np.float32(ratio * scale)
            steps += 1
            error = np.float32(error + abs(np.float32(1.0) - ratio))
            if has_residual and bool(error <= np.float32(config.threshold)) and steps <= config.max_skip_steps:
                compute = False
            else:
                ratio, steps, error = np.float32(1.0), 0, np.float32(0.0)
        seen = float(error)
        following = step + 1
        wraps = following >= config.num_inference_steps
        after = MagState() if wraps else replace(state, step_index=following, ratio=ratio, steps=steps, error=error)
        return MagDecision(step, compute, seen, wraps), after

    def simulate(self, steps: int | None = None) -> list[MagDecision]:
        """The decisions of `steps` calls (default: one generation) when every residual read is valid."""
        state, has_residual, decisions = MagState(), False, []
        for _ in range(self.config.num_inference_steps if steps is None else steps):
            decision, state = self.decide(state, has_residual)
            has_residual = (has_residual or decision.compute) and not decision.wraps
            decisions.append(decision)
        return decisions

    def variants(self, steps: int | None = None) -> list[Variant]:
        """The distinct compiled variants a generation uses, in order of first use: the Inductor compiles."""
        names: list[Variant] = []
        computed = False
        for decision in self.simulate(steps):
            name: Variant = ("compute+calibrate" if self.config.calibrate and computed else
                             "compute" if decision.compute else "skip")
            computed = computed or decision.compute
            names.append(name)
        return list(dict.fromkeys(names))


def pattern(decisions: Sequence[MagDecision]) -> str:
    return "".join("C" if d.compute else "R" for d in decisions)
