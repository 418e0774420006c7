"""MagCache on graphs of one block (regional compilation, `compile_repeated_blocks`): the stack skip of
runtime/stack_graph.py deciding before the head (NOTE [Deciding before the head]) with MagCache's own plan
(plan.py) from the step index, its accumulators kept per model step in the model's state.

As diffusers' MagCache hooks: the residual is the tail block's hidden output minus the head block's hidden INPUT;
on a skip step the head block returns its hidden input plus that residual and every other stream's input, and
the other blocks pass their inputs through (no kernel). The step index wraps at `num_inference_steps`, which drops
the residual (diffusers' `_advance_step`). `calibrate=True` is refused by the plug-in (its ratio would span the
block graphs): calibrate with the whole transformer compiled, then pass the ratios.
"""

from __future__ import annotations

from typing import Any

from ...compiler.editing import CacheSlot
from ...report import variant_reports
from ...runtime.stack_graph import StackGraphRuntime, StackStep
from .dispatch import STATES, MagGraphReport, MagStepRecord
from .plan import MagDecision, MagState


class MagStackGraph(StackGraphRuntime):
    """What a graph of one block runs under MagCache (NOTE [Deciding before the head])."""

    _states = STATES
    tail_words = ("cachepass MagCache", "block stack's residual")
    head_slot = CacheSlot("mag_head_unused", "head_residual", 0, "", None)  # deciding first, the head keeps none
    tail_site = "mag_residual"
    probe_name = "mag_probe"
    plan_state_type = MagState  # the plan's accumulators
    decides_first = True

    def residual_outputs(self) -> tuple[int, ...]:
        return (self.streams.hidden,)  # diffusers keeps the hidden stream's residual only

    def is_hidden(self, slot: Any) -> bool:
        return True  # its one residual is the hidden stream's

    def decide_step(self, slot: StackStep, value: float | None, has_previous: bool,
                    tails_readable: bool) -> MagDecision:
        decision, slot.plan_state = self.plan.decide(slot.plan_state, tails_readable)
        slot.ended = decision.wraps  # the step index wrapped: the next step starts a generation
        return decision

    def step_record(self, slot: StackStep, context: str | None, order: float | None, value: float | None,
                    decision: MagDecision, head: str, blocks: int, reads: int) -> MagStepRecord:
        return MagStepRecord(self.serial, slot.generation, context, decision.step_index, order, decision.compute,
                             decision.variant, error=decision.error)

    def report(self, owner_ids: set[int] | None = None) -> MagGraphReport:
        states, steps = self.reported(owner_ids)
        variants = variant_reports(self.lowered, ["block" for r in steps if r.compute])
        return MagGraphReport(self.serial, True, self.describe(), len(self.captured.gm.graph.nodes), variants,
                              sum(s.cache_bytes() for s in states), steps, self.plan)
