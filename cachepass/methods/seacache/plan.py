"""SeaCache stage 3, plan: the gate as a pure function of (the context's gate state, the step, the distances).

diffusers' `SeaCacheSharedState.resolve_gate` (hooks/sea_cache.py) rule for rule, in its own arithmetic: the
per-latent relative L1 distances arrive as float32 values read from the device (computed in the graph, as
the hook computes them), and are summed, averaged and accumulated in Python floats as the hook does.

    forced compute  <=>  step < retention_steps, or step >= num_steps - cache_end_steps, or no previous
                         indicator, or max_consecutive_cached reuses in a row
    otherwise       compute <=> not finite(d) or accumulated + d >= threshold, d = mean over latents of
                    mean|cur - prev| / (mean|prev| + 1e-16)

The accumulated distance restarts at 0 whenever a step computes. A repeated call at the same (step, sigma)
returns the first call's decision; a step that does not follow the previous one starts a new trajectory.
Which residual a reuse step adds (`residual`) is the hook's too: the last computed step's, or, with
`residual_order=1` and two computed steps, `latest + (latest - previous) * (step - latest) / (latest -
previous)`. Nothing here touches FX or tensors.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

from .config import SeaConfig

Variant = Literal["compute", "skip", "skip+extrapolate"]
Probe = Literal["indicator", "indicator+distance"]


@dataclass(frozen=True)
class SeaStep:
    """Where the denoising loop is, from the pipeline's `cache_context(...)`."""

    step_index: int
    sigma: float
    num_inference_steps: int

    @property
    def key(self) -> tuple[int, float]:
        return self.step_index, self.sigma


@dataclass(frozen=True)
class SeaGate:
    """One context's trajectory (the hook's `SeaCacheContextState` without its tensors)."""

    key: tuple[int, float] | None = None  # the last gated (step, sigma)
    compute: bool = True  # its decision
    observed: bool = False  # a previous indicator exists
    accumulated: float = 0.0
    consecutive: int = 0  # reuses in a row


@dataclass(frozen=True)
class SeaDecision:
    step_index: int
    compute: bool
    reason: str
    distance: float | None = None  # the step's distance; None when forced or repeated
    accumulated: float = 0.0  # the accumulated distance compared with the threshold (0 when not compared)


@dataclass(frozen=True)
class SeaPlan:
    config: SeaConfig

    def adjacent(self, gate: SeaGate, step: SeaStep) -> bool:
        """False when the step does not follow the last gated one: the hook resets the trajectory."""
        return gate.key is None or step.step_index == gate.key[0] + 1 or gate.key == step.key

    def forced(self, gate: SeaGate, step: SeaStep) -> str | None:
        """Why this step computes whatever the indicator says (None: the distance decides)."""
        config = self.config
        if step.step_index < config.retention_steps:
            return "retention step"
        if step.step_index >= step.num_inference_steps - config.cache_end_steps:
            return "cache end step"
        if not gate.observed:
            return "no previous indicator"
        if config.max_consecutive_cached and gate.consecutive >= config.max_consecutive_cached:
            return "max consecutive reuses"
        return None

    def decide(self, gate: SeaGate, step: SeaStep, distances: Sequence[float] | None) -> tuple[SeaDecision, SeaGate]:
        """The gate for a new (step, sigma): `distances` are the per-latent values the graph computed (None when
        forced, or when the previous indicator cannot be compared: an invalid gate that computes)."""
        reason = self.forced(gate, step)
        distance, accumulated = None, 0.0
        if reason is None and distances is None:
            reason = "indicator history changed shape, device or dtype"
        if reason is None:
            distance = 0.0
            for value in distances:
                distance += value
            distance /= len(distances)
            candidate = gate.accumulated + distance
            if not math.isfinite(distance):
                reason = "indicator distance not finite"
            elif candidate >= self.config.threshold:
                reason, accumulated = "accumulated >= threshold", candidate
            else:
                accumulated = candidate
        compute = reason is not None
        after = replace(gate, key=step.key, compute=compute, observed=True,
                        accumulated=0.0 if compute else accumulated)
        return SeaDecision(step.step_index, compute, reason or "accumulated < threshold", distance, accumulated), after

    def residual(self, step_index: int, computed: Sequence[int]) -> tuple[Variant, float | None]:
        """The variant of a reuse step and the extrapolation's step scale, given the step indices of the kept
        computed steps (oldest first)."""
        if self.config.residual_order == 1 and len(computed) >= 2 and computed[-1] != computed[-2]:
            latest, previous = computed[-1], computed[-2]
            return "skip+extrapolate", (step_index - latest) / (latest - previous)
        return "skip", None


def pattern(decisions: Sequence[SeaDecision]) -> str:
    """C = the block stack ran, R = its residual was reused (or extrapolated)."""
    return "".join("C" if d.compute else "R" for d in decisions)
