"""TeaCache on graphs of one block (regional compilation, `compile_repeated_blocks`): the stack skip of
runtime/stack_graph.py deciding before the head (NOTE [Deciding before the head]) with TeaCache's own plan
(plan.py) from the relative L1 change of the first block's modulated input (tag.py `tag_tea_block_graph`).

The head block's graph runs the indicator piece first (rewrite.py `head_piece`: the indicator and, with the
previous step's, the change), kept every step as for the whole model; the change and the model's timestep are
one host read. As the whole-model skip tail: every stream's residual is the last block's output minus the first
block's input, and on a skip step no block runs -- the head returns each stream's input plus its residual, the
others pass. The step counter wraps at `num_inference_steps`, starting a new generation.
"""

from __future__ import annotations

from typing import Any

from ...compiler.editing import CacheSlot
from ...report import variant_reports
from ...runtime.stack_graph import HeadProbe, StackGraphRuntime, StackStep
from ...runtime.store import read_problem
from .dispatch import STATES, TeaGraphReport, TeaStepRecord
from .plan import TeaDecision, TeaState
from .rewrite import head_piece, indicator_slot
from .tag import TeaBlockTags


class TeaStackGraph(StackGraphRuntime):
    """What a graph of one block runs under TeaCache (NOTE [Deciding before the head])."""

    _states = STATES
    tail_words = ("cachepass TeaCache", "residual")
    head_slot = CacheSlot("tea_head_unused", "head_residual", 0, "", None)  # deciding first, the head keeps none
    tail_site = "tea_residual"
    probe_name = "tea_probe"
    plan_state_type = TeaState  # the plan's counter and accumulator
    decides_first = True

    def prepare(self, tags: TeaBlockTags) -> None:  # type: ignore[override]
        super().prepare(tags.streams)
        self.tea_tags = tags
        self._indicator = indicator_slot(tags, self.captured) if tags.indicator else None

    def head_probe(self, args: tuple, slot: StackStep, stamp: Any) -> HeadProbe:
        previous = slot.store.get(self._indicator.ident)
        problem = read_problem(previous, "the previous step's indicator", stamp, self._indicator.spec)
        if previous is not None and problem is not None:
            step = slot.plan_state.step_index
            self._warn_once(f"indicator:{problem.split(':')[0]}", f"cachepass TeaCache: not comparing with the "
                            f"previous indicator at step {step}: {problem}; computing the blocks.")
        piece = self.variant("head+compare" if problem is None else "head")
        outputs = piece.fn(*args, *([previous.tensor] if problem is None else []))
        change = outputs[1] if piece.variant.probe and problem is None else None
        return HeadProbe(change, problem is None, self.keep(outputs[0]))  # this step's indicator, stored after

    def after_decision(self, slot: StackStep, stamp: Any, probe: HeadProbe) -> None:
        slot.store.put(self._indicator.ident, stamp, probe.kept)  # kept every step, skipped or not

    def decide_step(self, slot: StackStep, value: float | None, has_previous: bool,
                    tails_readable: bool) -> TeaDecision:
        decision, slot.plan_state = self.plan.decide(slot.plan_state, value if has_previous else None, tails_readable)
        slot.ended = decision.wraps  # the step index wrapped: the next step starts a generation
        return decision

    def step_number(self, ctx: StackStep) -> int:
        return ctx.plan_state.step_index

    def step_record(self, slot: StackStep, context: str | None, order: float | None, value: float | None,
                    decision: TeaDecision, head: str, blocks: int, reads: int) -> TeaStepRecord:
        return TeaStepRecord(self.serial, slot.generation, context, decision.step_index, order, decision.compute,
                             decision.variant, value=value, accumulated=decision.accumulated, reason=decision.reason,
                             host_reads=reads, head="head" if value is None else "head+compare")

    def variants_at_compile(self) -> tuple[str, ...]:
        return ("head", "block") if self._indicator is not None else ("block",)

    def rewrite(self, key: str) -> Any:
        if key in ("head", "head+compare"):
            return head_piece(self.captured, self.tea_tags, key == "head+compare")
        return super().rewrite(key)

    def report(self, owner_ids: set[int] | None = None) -> TeaGraphReport:
        states, steps = self.reported(owner_ids)
        variants = variant_reports(self.lowered, [p for r in steps for p in (r.head, "block")[:1 + r.compute]])
        return TeaGraphReport(self.serial, True, self.describe(), len(self.captured.gm.graph.nodes), variants,
                              sum(s.cache_bytes() for s in states), steps, self.plan)
