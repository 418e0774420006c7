"""DBCache F1B0 on graphs of one block (regional compilation): the stack skip of runtime/stack_graph.py with
cache-dit's rules (plan.py) and their counters kept per model step in the model's state. Fn > 1 or Bn > 0 (the
Fn blocks' residual and the Bn blocks span several block graphs) is refused by the plug-in."""

from __future__ import annotations

from typing import Any

from ...compiler.editing import CacheSlot
from ...report import variant_reports
from ...runtime.stack_graph import StackGraphRuntime, StackStep
from .dispatch import STATES, DBGraphReport, DBStepRecord
from .plan import Counters


class DBStackGraph(StackGraphRuntime):
    """What a graph of one block runs under DBCache F1B0 (NOTE [One decision across the block graphs])."""

    _states = STATES
    tail_words = ("cachepass DBCache", "middle residual")
    head_slot = CacheSlot("db_fn_residual", "fn_residual", 0, "", None)
    tail_site = "db_middle_residual"
    probe_name = "db_probe"
    plan_state_type = Counters  # cache-dit's counts the rules read

    def head_key(self, slot: StackStep, has_previous: bool) -> str:
        return "head+decide" if self.plan.compares(slot.iteration, slot.plan_state, has_previous) else "head"

    def decide_step(self, slot: StackStep, value: float | None, has_previous: bool, tails_readable: bool) -> Any:
        decision = self.plan.decide(slot.iteration, slot.plan_state, has_previous, value, tails_readable)
        slot.plan_state = slot.plan_state.after(decision)
        return decision

    def step_record(self, slot: StackStep, context: str | None, order: float | None, value: float | None,
                    decision: Any, head: str, blocks: int, reads: int) -> DBStepRecord:
        return DBStepRecord(self.serial, slot.generation, context, slot.iteration, order, decision.value,
                            decision.compute, decision.reason, blocks if decision.compute else 1, reads,
                            (head, "block" if decision.compute else "pass"))

    def report(self, owner_ids: set[int] | None = None) -> DBGraphReport:
        states, steps = self.reported(owner_ids)
        variants = variant_reports(self.lowered, [p for r in steps for p in r.pieces])
        return DBGraphReport(self.serial, True, self.describe(), len(self.captured.gm.graph.nodes),
                             variants, sum(s.cache_bytes() for s in states), steps, self.plan)
