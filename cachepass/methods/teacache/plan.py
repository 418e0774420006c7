"""TeaCache stage 3, plan: a pure function from (the step's state, this step's relative L1 change) to a step.

The authors' rule (ali-vilab/TeaCache, e.g. TeaCache4FLUX/teacache_flux.py), with `cnt` the step index of
the generation and `value` = mean|m - m_prev| / mean|m_prev| of the indicator m (read from the device as a
Python float, as the scripts' `.cpu().item()`):

    cnt < retention_steps or cnt >= num_steps - cutoff_steps:   compute, acc = 0
    otherwise:  acc += polyval(coefficients, value)             (float64, as numpy.poly1d)
                acc < threshold:  skip   else: compute, acc = 0

m_prev is kept on every step, skipped or not; a calibration run (`calibrate`) computes every step; the counter wraps at num_steps (a new generation). A step the
rule would skip computes when no valid residual is cached (cachepass's validator), without touching `acc`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from .config import TeaSettings


@dataclass(frozen=True)
class TeaState:
    step_index: int = 0
    accumulated: float = 0.0


@dataclass(frozen=True)
class TeaDecision:
    step_index: int
    compute: bool
    value: float | None  # the relative L1 change read this step (None: not accumulated)
    accumulated: float  # the sum compared with the threshold (0 on forced steps)
    reason: str
    wraps: bool  # the step index reached num_steps: the next call starts a new generation

    @property
    def variant(self) -> str:
        return "compute" if self.compute else "skip"


@dataclass(frozen=True)
class TeaPlan:
    threshold: float
    num_steps: int
    settings: TeaSettings
    calibrate: bool = False  # every step computes: the runtime measures (value, output change) pairs

    def forced(self, step: int) -> bool:
        """A step always computed: one of the first `retention_steps` or the last `cutoff_steps`."""
        return step < self.settings.retention_steps or step >= self.num_steps - self.settings.cutoff_steps

    def rescale(self, value: float) -> float:
        return float(np.polyval(np.asarray(self.settings.coefficients, dtype=np.float64), value))

    def decide(self, state: TeaState, value: float | None, has_residual: bool = True) -> tuple[TeaDecision, TeaState]:
        step = state.step_index
        wraps = step + 1 >= self.num_steps
        after = TeaState() if wraps else replace(state, step_index=step + 1)
        if self.calibrate:
            return TeaDecision(step, True, value, 0.0, "calibration", wraps), replace(after, accumulated=0.0)
        if self.forced(step) or value is None:
            reason = "first/last steps" if self.forced(step) else "no earlier indicator"
            return TeaDecision(step, True, None, 0.0, reason, wraps), replace(after, accumulated=0.0)
        accumulated = state.accumulated + self.rescale(value)
        if accumulated < self.threshold and has_residual:
            return (TeaDecision(step, False, value, accumulated, "accumulated < threshold", wraps),
                    replace(after, accumulated=0.0 if wraps else accumulated))
        reason = "accumulated >= threshold" if accumulated >= self.threshold else "no valid residual"
        return TeaDecision(step, True, value, accumulated, reason, wraps), replace(after, accumulated=0.0)

    def simulate(self, values: Sequence[float]) -> list[TeaDecision]:
        """The steps of one generation given each step's relative L1 change (the first is not looked at)."""
        state, decisions = TeaState(), []
        for i, value in enumerate(values):
            decision, state = self.decide(state, None if i == 0 else float(value))
            decisions.append(decision)
        return decisions


def pattern(decisions: Sequence[TeaDecision]) -> str:
    """C = the block stack ran, R = it was replaced by the cached residual."""
    return "".join("C" if d.compute else "R" for d in decisions)
