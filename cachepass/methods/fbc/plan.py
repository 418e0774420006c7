"""FirstBlockCache stage 3, plan: a pure function from (the decision value, what is cached) to a step.

diffusers' rule (hooks/first_block_cache.py, `_should_compute_remaining_blocks`): with `r` the first
block's residual this step and `p` the residual of the last step that computed the remaining blocks,

    compute  <=>  p is None  or  mean|r - p| / mean|p| > threshold

(a NaN value compares False and skips, as in diffusers). A skip step adds the tail residuals of the
last computed step to the first block's output. A step is two compiled pieces, the head (block 0,
plus the decision value when `p` exists) and one tail:

    piece          runs                          reads            writes
    head           block 0 and what it needs     -                r
    head+decide    the same, and the value       p                r, value
    tail-compute   the remaining blocks          -                tail residuals
    tail-reuse     first block out + residuals   tail residuals   -

Nothing here touches FX or tensors: every policy question is testable in microseconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ...runtime.pieces import HeadTailDecision, Piece


@dataclass(frozen=True)
class FBCDecision(HeadTailDecision):
    iteration: int
    value: float | None  # the decision value; None without a previous residual
    threshold: float
    compute: bool
    reason: str

    @property
    def head(self) -> Piece:
        return "head" if self.value is None else "head+decide"


@dataclass(frozen=True)
class FBCPlan:
    threshold: float
    streams: tuple[str, ...]  # the streams whose tail residuals are cached, e.g. ("hidden",)

    def decide(self, iteration: int, value: float | None, tail_cached: bool = True) -> FBCDecision:
        """`value` is None when no residual of a computed step exists (a generation's first step, or a
        refused read); `tail_cached` says whether valid tail residuals exist to add."""
        if value is None:
            return FBCDecision(iteration, None, self.threshold, True, "no earlier first-block residual")
        if value > self.threshold:
            return FBCDecision(iteration, value, self.threshold, True, "value > threshold")
        if not tail_cached:
            return FBCDecision(iteration, value, self.threshold, True, "no valid tail residuals")
        return FBCDecision(iteration, value, self.threshold, False, "value <= threshold")

    def simulate(self, values: Sequence[float]) -> list[FBCDecision]:
        """The steps of one generation, given each step's decision value (the first is not looked at)."""
        return [self.decide(i, None if i == 0 else float(v)) for i, v in enumerate(values)]

    def pieces(self, values: Sequence[float]) -> list[Piece]:
        """The distinct compiled pieces a generation uses, in order of first use: the Inductor compiles."""
        return list(dict.fromkeys(p for d in self.simulate(values) for p in d.pieces))


def make_plan(stack, config) -> FBCPlan:  # (BlockStack or BlockGraphStreams, FBCConfig): typed in fbc/__init__
    if hasattr(stack, "carried"):  # a graph of one block: every stream it hands on
        return FBCPlan(config.threshold, stack.names)
    return FBCPlan(config.threshold, tuple(stack.streams[i].name for i in stack.cached_streams))


def step_pattern(decisions: Sequence[FBCDecision]) -> str:
    """C = all blocks ran, R = the tail residuals were reused."""
    return "".join("C" if d.compute else "R" for d in decisions)
