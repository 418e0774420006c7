"""FirstBlockCache on graphs of one block: regional compilation (`compile_repeated_blocks`), one graph per block
class serving every instance (NOTE [Graphs of one block], integrations/scope.py).

# NOTE [One decision across the block graphs]
diffusers' hook decides in the first block of the stack and every later block follows: on a skip step the head
block returns its output plus the tail residuals (per stream) of the last computed step, the other blocks
return their inputs unchanged, and code outside the blocks runs as always. Under regional compilation each
block instance is one call of its class's graph, so the decision is kept where every instance of the model
finds it: in the model's state (the FBC state registry, keyed by the head block's first parameter, one state
per thread and cache_context), taken once per model step by the head instance.

    instance   compute step                               skip step
    head       `head`/`head+decide`: block, r, probe       the same, then output + tail residual (per stream)
    middle     `block` (the block graph as is)             pass: its inputs, no kernel
    tail       `block`, then tail residual = out - head    pass
    outside    `block` (an instance not in the stack, e.g. a refiner's block of the same class)

The head reads its probe (decision value) and the model's timestep together: ONE host read per model step.
Composed with a calibrator (runtime/calibrate.py), its step begins in the head; a compute step's head reads the
factors kept for each tail residual before it frees the store and the tail hands them to `update` with the new
residual (runtime/calibrated.py `put_residual`); a skip step's head adds the prediction instead of the residual.
A block of the stack that does not run through these graphs (its class not compiled) would compute on a skip
step: the head refuses at the second step when the first did not run every block of the stack.
A passed-through block costs the Python calls of Dynamo's guard check, ScopedGraph and this runtime and no
kernel (docs/usage.md gives the measured cost).
"""

from __future__ import annotations

from typing import Any

from ...compiler.editing import CacheSlot
from ...report import variant_reports
from ...runtime.stack_graph import StackGraphRuntime, StackStep
from .dispatch import STATES, FBCGraphReport, FBCStepRecord

HEAD_SLOT = CacheSlot("fbc_head_residual", "head_residual", 0, "", None)  # the first block's residual


class FirstBlockStackGraph(StackGraphRuntime):
    """What a graph of one block runs under FirstBlockCache (NOTE [One decision across the block graphs])."""

    _states = STATES
    tail_words = ("cachepass FirstBlockCache", "tail residual")
    head_slot = HEAD_SLOT
    tail_site = "fbc_tail_residual"
    probe_name = "fbc_probe"

    def head_key(self, slot: StackStep, has_previous: bool) -> str:
        return "head+decide" if has_previous else "head"

    def decide_step(self, slot: StackStep, value: float | None, has_previous: bool, tails_readable: bool) -> Any:
        return self.plan.decide(slot.iteration, value, tails_readable)

    def step_record(self, slot: StackStep, context: str | None, order: float | None, value: float | None,
                    decision: Any, head: str, blocks: int, reads: int) -> FBCStepRecord:
        return FBCStepRecord(self.serial, slot.generation, context, slot.iteration, order, value, self.plan.threshold,
                             decision.compute, decision.reason, blocks if decision.compute else 1, reads,
                             (head, "block" if decision.compute else "pass"))

    def report(self, owner_ids: set[int] | None = None) -> FBCGraphReport:
        states, steps = self.reported(owner_ids)
        variants = variant_reports(self.lowered, [p for r in steps for p in r.pieces])
        return FBCGraphReport(self.serial, True, self.describe(), len(self.captured.gm.graph.nodes),
                              variants, sum(s.cache_bytes() for s in states), steps, self.plan)
