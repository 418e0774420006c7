"""DBCache stage 3, plan: a pure function from (step, counters, decision value) to compute or reuse.

cache-dit 1.5.3's `CachedContextManager.can_cache`, in its order (the first rule that answers decides):

    1. warm-up step (config.warmup_steps)                       -> compute
    2. mask given: mask[step] == 1                              -> compute
                   else policy "static"                         -> reuse (no value compared)
    3. max_cached_steps >= 0 and cached >= max                  -> compute
    4. max_continuous_cached_steps >= 0 and in a row >= max     -> compute
    5. max_accumulated > 0 and accumulated values >= max        -> compute
    6. threshold <= 0                                           -> compute
    7. no residual of a computed step                           -> compute
    8. threshold >= 1                                           -> reuse (no value compared)
    9. value < threshold                                        -> reuse, else compute (NaN computes)

Only rule 9 records the value; positive values add to the accumulated sum (rule 5). A step is two compiled
pieces, the head (the Fn blocks; with the value when rule 9 can be reached) and one tail:

    piece          runs                                   reads               writes
    head           the Fn blocks and what they need       -                   r
    head+decide    the same, and the value                p                   r, value
    tail-compute   the middle blocks, the Bn blocks, rest  -                   middle residuals (and r kept)
    tail-reuse     Fn output + middle residuals, Bn, rest  middle residuals    -

Nothing here touches FX or tensors.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from ...runtime.pieces import HeadTailDecision, Piece


@dataclass(frozen=True)
class Counters:
    """A generation's counts the rules read: cache-dit's `cached_steps`, `continuous_cached_steps` and
    `accumulated_residual_diff` of one context."""

    cached: int = 0
    in_a_row: int = 0
    accumulated: float = 0.0

    def after(self, decision: DBDecision) -> Counters:
        accumulated = self.accumulated + (decision.recorded if decision.recorded is not None
                                          and decision.recorded > 0.0 else 0.0)
        if decision.compute:
            return replace(self, in_a_row=0, accumulated=accumulated)
        return Counters(self.cached + 1, self.in_a_row + 1, accumulated)


@dataclass(frozen=True)
class DBDecision(HeadTailDecision):
    iteration: int
    value: float | None  # the decision value the step computed (None: not compared)
    compute: bool
    reason: str
    recorded: float | None = None  # what cache-dit's add_residual_diff records (rules 8-9)
    compared: bool = False  # the head computed the value (head+decide)

    @property
    def head(self) -> Piece:
        return "head+decide" if self.compared else "head"


@dataclass(frozen=True)
class DBPlan:
    Fn: int
    Bn: int
    threshold: float
    warmup: frozenset[int]
    mask: tuple[int, ...] | None
    static: bool
    max_cached: int
    max_in_a_row: int
    max_accumulated: float | None
    streams: tuple[str, ...]  # the streams whose middle residuals are cached

    def gate(self, iteration: int, counters: Counters) -> tuple[bool | None, str]:
        """Rules 1-6, known before the head runs: (True: reuse, False: compute, None: compare; why)."""
        if iteration in self.warmup:
            return False, "warm-up step"
        if self.mask is not None:
            if iteration < len(self.mask) and self.mask[iteration] == 1:
                return False, "mask: compute"
            if self.static:
                return True, "mask: reuse (static)"
        if 0 <= self.max_cached <= counters.cached:
            return False, f"max_cached_steps {self.max_cached} reached"
        if 0 <= self.max_in_a_row <= counters.in_a_row:
            return False, f"max_continuous_cached_steps {self.max_in_a_row} reached"
        if self.max_accumulated is not None and self.max_accumulated > 0 and counters.accumulated >= self.max_accumulated:
            return False, f"accumulated values {counters.accumulated:.4g} >= {self.max_accumulated:g}"
        if self.threshold <= 0:
            return False, "threshold <= 0"
        return None, ""

    def compares(self, iteration: int, counters: Counters, has_previous: bool) -> bool:
        """Whether the step needs the decision value (the head+decide piece)."""
        return self.gate(iteration, counters)[0] is None and has_previous and self.threshold < 1.0

    def decide(self, iteration: int, counters: Counters, has_previous: bool, value: float | None,
               tail_cached: bool = True) -> DBDecision:
        """`value` is the step's decision value when `compares` said so; `tail_cached`: valid middle residuals
        exist to add (cachepass's store validator; cache-dit would fail without them)."""
        reuse, why = self.gate(iteration, counters)
        compared = value is not None
        if reuse is None:
            if not has_previous:
                return DBDecision(iteration, None, True, "no earlier Fn residual")
            if self.threshold >= 1.0:
                reuse, why, recorded = True, "threshold >= 1", -1.0
            else:
                reuse = value < self.threshold  # NaN compares False: compute
                why, recorded = ("value < threshold" if reuse else "value >= threshold"), value
            if reuse and not tail_cached:
                return DBDecision(iteration, value, True, "no valid middle residuals", recorded, compared)
            return DBDecision(iteration, value, not reuse, why, recorded, compared)
        if reuse and not tail_cached:
            return DBDecision(iteration, None, True, "no valid middle residuals")
        return DBDecision(iteration, None, not reuse, why)

    def simulate(self, values: Sequence[float]) -> list[DBDecision]:
        """The steps of one generation given each step's decision value (read only when a step compares)."""
        counters, decisions, computed = Counters(), [], False
        for i, v in enumerate(values):
            compares = self.compares(i, counters, computed)
            decision = self.decide(i, counters, computed, float(v) if compares else None)
            decisions.append(decision)
            counters = counters.after(decision)
            computed = computed or decision.compute
        return decisions


def make_plan(db, config) -> DBPlan:  # (rewrite.DBStack, DBConfig): typed in dbcache/__init__
    return stack_plan(tuple(db.stack.streams[i].name for i in db.cached), config)


def stack_plan(streams: tuple[str, ...], config) -> DBPlan:  # config: DBConfig
    """The plan of `config` caching the middle residuals of `streams`."""
    return DBPlan(config.Fn_compute_blocks, config.Bn_compute_blocks, config.residual_diff_threshold,
                  config.warmup_steps, config.steps_computation_mask, config.static, config.max_cached_steps,
                  config.max_continuous_cached_steps, config.max_accumulated_residual_diff_threshold, streams)


def step_pattern(decisions: Sequence[DBDecision]) -> str:
    """C = the middle blocks ran, R = their residuals were reused."""
    return "".join("C" if d.compute else "R" for d in decisions)
