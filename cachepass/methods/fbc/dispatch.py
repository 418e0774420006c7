"""FirstBlockCache stage 6, dispatch: the callable Dynamo runs on every call of the denoiser.

Per call: pick the state of the model's current `cache_context` (one per context name, as
diffusers' `StateManager`; one unnamed state outside contexts), run the head piece (with the
previous first-block residual when a valid one exists), read its probe -- the decision value and the
timestep -- with ONE host read, decide, run one tail piece and keep what it wrote.

A new generation of a context (caches freed, step counter reset) starts when its timestep moves against
the generation's direction or returns to its first value (runtime/base.py, NOTE [When a generation
starts]), when a pipeline resets the model at the end of `__call__`, and on `cachepass.reset(model)`. The
timestep is seen in the probe, after the head ran: a decision value computed against the previous
generation's residual is then discarded and the step computes, so no output ever depends on it.

Never a stale read: the previous residual and the tail residuals are read only when the store's
validator accepts them (this graph, this generation, this context, same input signature, expected
dtype/device/shape); otherwise the step computes and says why once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import torch

from ...compiler.blocks import BlockStack
from ...compiler.lower import Lowered
from ...report import GraphReport, variant_reports
from ...runtime.context import ContextState, ContextStates
from ...runtime.pieces import HeadTailRuntime, HeadTailStep
from ...runtime.registry import state_registry
from ...runtime.store import next_stamp, read_problem
from .config import FBCConfig
from .plan import FBCPlan, Piece, step_pattern
from .report import block_report
from .rewrite import build_piece, head_slot, tail_slots

logger = logging.getLogger(__name__)

STATES = state_registry()  # first parameter -> ThreadStates of ContextStates
@dataclass(frozen=True)
class FBCStepRecord(HeadTailStep):
    graph: int  # serial of the graph that ran the step
    generation: int
    context: str | None
    iteration: int
    timestep: float | None  # the largest timestep of the batch, from the probe
    value: float | None  # the decision value (None: nothing to compare with)
    threshold: float
    compute: bool
    reason: str
    blocks_run: int
    host_reads: int  # device-to-host reads the runtime made for this step
    pieces: tuple[Piece, Piece]  # the compiled pieces the step ran, head first
    rank_value: float | None = None  # context parallelism: the value on this rank's shard alone (not decided on)


@dataclass(frozen=True)
class FBCGraphReport(GraphReport):
    stack: BlockStack | None = None

    def tag_table(self, fmt: str = "simple") -> str:
        return block_report(self.stack, fmt) if self.stack is not None else ""

    def step_table(self, fmt: str = "simple") -> str:
        from tabulate import tabulate

        rows = [(r.generation, r.context or "-", r.iteration, "-" if r.timestep is None else f"{r.timestep:g}",
                 "-" if r.value is None else f"{r.value:.4g}", f"{r.threshold:g}", r.variant, r.blocks_run,
                 r.host_reads, r.reason) for r in self.steps]
        return tabulate(rows, headers=("generation", "context", "step", "timestep", "value", "threshold", "ran",
                                       "blocks run", "host reads", "why"), tablefmt=fmt)

    def head(self) -> str:
        return self.cached_head(f", {len(self.stack.blocks) if self.stack else 0} blocks")

    def step_parts(self) -> list[str]:
        return [self.step_table(), f"steps (C = all blocks ran, R = tail residuals reused): {self.pattern}"]


class FirstBlockGraph(HeadTailRuntime):
    """What the cachepass backend returns to Dynamo for one captured graph under FirstBlockCache."""

    _states = STATES
    config: FBCConfig
    plan: FBCPlan
    first_variants = ("head", "tail-compute")  # every generation starts with these two
    per_context = True
    timesteps_from = "probe"  # read with the decision value, after the head ran
    tail_words = ("cachepass FirstBlockCache", "tail residual")

    def prepare(self, stack: BlockStack) -> None:
        self.stack = stack
        self.tags = None
        self._head_slot = head_slot(stack)
        self._tail_slots = tail_slots(stack)
        self._has_timestep = self.captured.timestep_input is not None

    # -- the hot path -----------------------------------------------------------------------
    def __call__(self, *args: Any) -> list[torch.Tensor]:
        state, ctx, context, _, _, signature, stamp = self.begin_step(args)
        previous = ctx.store.get(self._head_slot.ident)
        problem = read_problem(previous, "the first block's residual", stamp, self._head_slot.spec)
        if previous is not None and problem is not None:
            self._warn_once(f"head:{problem.split(':')[0]}", f"cachepass FirstBlockCache: not comparing with the "
                            f"previous first-block residual at step {ctx.iteration}: {problem}; computing all blocks.")
        if self._cudagraphs:
            torch.compiler.cudagraph_mark_step_begin()
        head = self.piece("head" if problem is not None else "head+decide")
        outputs = head.fn(*args, *([previous.tensor] if problem is None else []))
        del previous
        count = head.variant.num_outputs
        handed, residual = outputs[:count], outputs[count]
        probe = outputs[count + 1].tolist() if head.variant.probe else []  # the one host read of the step
        value = probe[0] if problem is None else None
        local = probe[1] if problem is None and head.variant.reduced else None
        timestep = probe[-1] if self._has_timestep else None
        if self.starts_generation(timestep, ctx, context):
            self.new_generation(state, ctx)
            stamp = next_stamp(ctx, self.serial, context, signature)
            value = local = None  # it compared with the previous generation's residual
        decision = self.plan.decide(ctx.iteration, value, self.tails_readable(ctx, stamp))
        results = self.run_tail(ctx, decision.compute, args, handed, residual, stamp)
        state.history.append(FBCStepRecord(
            self.serial, ctx.generation, context, ctx.iteration, timestep, value, self.plan.threshold, decision.compute,
            decision.reason, len(self.stack.blocks) if decision.compute else 1, 1 if probe else 0,
            (head.variant.key, decision.tail), local))
        ctx.end_step(value, timestep, decision.compute)
        return results

    # -- pieces ---------------------------------------------------------------------------------
    def rewrite(self, key: Piece) -> Any:
        return build_piece(self.captured, self.stack, key)

    def piece(self, key: Piece) -> Lowered:
        """The compiled piece `key` (the runtime's name for `variant`)."""
        return self.variant(key)

    # -- state ----------------------------------------------------------------------------------
    def new_state(self) -> ContextStates:
        return ContextStates()

    def end_generation(self, state: ContextStates, ctx: ContextState) -> None:
        """A whole generation that never skipped means the threshold is below every decision value."""
        if ctx.iteration >= 3 and ctx.skips == 0 and ctx.values:
            self._warn_once("no-skip", f"cachepass FirstBlockCache: a whole generation of {ctx.iteration} steps "
                                       f"skipped no step: the decision values were {min(ctx.values):.3g} .. "
                                       f"{max(ctx.values):.3g}, all above threshold {self.plan.threshold:g}. Raise the "
                                       f"threshold to skip steps (random-weight models need 0.2-0.5).")

    def report(self, owner_ids: set[int] | None = None) -> FBCGraphReport:
        states, steps = self.reported(owner_ids)
        variants = variant_reports(self.lowered, [p for r in steps for p in r.pieces])
        return FBCGraphReport(self.serial, True, self.describe(), len(self.captured.gm.graph.nodes),
                              variants, sum(s.cache_bytes() for s in states), steps, self.plan, stack=self.stack)


__all__ = ["FBCGraphReport", "FBCStepRecord", "FirstBlockGraph", "step_pattern"]
