"""DBCache stage 6, dispatch: the callable Dynamo runs on every call of the denoiser.

Per call: the state of the model's current `cache_context` (one per context name; one unnamed state outside
contexts), the rules the counters answer before any block runs (plan.gate: warm-up, mask, step limits), the head
piece (the Fn blocks; with the previous Fn residual when the value can decide), ONE host read of its probe (the
value and the timestep), the decision, one tail piece. A new generation (cache-dit: a refreshed context) starts
when the timestep turns (runtime/base.py, NOTE [When a generation starts]), when a pipeline resets the model,
and on `cachepass.reset(model)`; the timestep is seen in the probe, after the head ran: a value computed against the previous generation's residual is discarded and the
step decides as a generation's first. Reads go through the store's validator: never a stale read.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import torch

from ...report import GraphReport, variant_reports
from ...runtime.context import ContextState, ContextStates
from ...runtime.pieces import HeadTailRuntime, HeadTailStep
from ...runtime.registry import state_registry
from ...runtime.store import next_stamp, read_problem
from .config import DBConfig
from .plan import Counters, DBPlan, Piece
from .report import block_report
from .rewrite import DBStack, build_piece, head_slot, tail_slots

logger = logging.getLogger(__name__)

_STATES = state_registry()


@dataclass
class DBContextState(ContextState):
    """One cache_context's DBCache state: the base's, and the counts cache-dit's rules read."""

    counters: Counters = field(default_factory=Counters)

    def reset(self) -> None:
        super().reset()
        self.counters = Counters()


@dataclass
class DBContextStates(ContextStates):
    context_type = DBContextState


@dataclass(frozen=True)
class DBStepRecord(HeadTailStep):
    graph: int
    generation: int
    context: str | None
    iteration: int
    timestep: float | None  # the largest timestep of the batch, from the probe
    value: float | None  # the decision value (None: not compared)
    compute: bool
    reason: str
    blocks_run: int
    host_reads: int  # device-to-host reads the runtime made for this step
    pieces: tuple[Piece, Piece]
    rank_value: float | None = None  # context parallelism: this rank's own value (not decided on)


@dataclass(frozen=True)
class DBGraphReport(GraphReport):
    db: DBStack | None = None

    def tag_table(self, fmt: str = "simple") -> str:
        return block_report(self.db, fmt) if self.db is not None else ""

    def step_table(self, fmt: str = "simple") -> str:
        from tabulate import tabulate

        rows = [(r.generation, r.context or "-", r.iteration, "-" if r.timestep is None else f"{r.timestep:g}",
                 "-" if r.value is None else f"{r.value:.4g}", r.variant, r.blocks_run, r.host_reads, r.reason)
                for r in self.steps]
        return tabulate(rows, headers=("generation", "context", "step", "timestep", "value", "ran", "blocks run",
                                       "host reads", "why"), tablefmt=fmt)

    def head(self) -> str:
        return self.cached_head(f", {len(self.db.stack.blocks) if self.db else 0} blocks")

    def step_parts(self) -> list[str]:
        return [self.step_table(), f"steps (C = all blocks ran, R = middle residuals reused): {self.pattern}"]


class DBCacheGraph(HeadTailRuntime):
    """What the cachepass backend returns to Dynamo for one captured graph under DBCache."""

    _states = _STATES
    config: DBConfig
    plan: DBPlan
    first_variants = ("head", "tail-compute")  # every generation starts with these two
    per_context = True
    timesteps_from = "probe"  # read with the decision value, after the head ran
    reused_what = "blocks"
    tail_words = ("cachepass DBCache", "middle residual")

    def prepare(self, db: DBStack) -> None:
        self.db = db
        self.stack = db.stack
        self.tags = None
        self._head_slot = head_slot(db)
        self._tail_slots = tail_slots(db)
        self._has_timestep = self.captured.timestep_input is not None
        blocks = len(db.stack.blocks)
        self._blocks_on_reuse = db.Fn + db.Bn
        self._blocks = blocks

    # -- the hot path -----------------------------------------------------------------------
    def __call__(self, *args: Any) -> list[torch.Tensor]:
        state, ctx, context, _, _, signature, stamp = self.begin_step(args)
        previous = ctx.store.get(self._head_slot.ident)
        problem = read_problem(previous, "the Fn blocks' residual", stamp, self._head_slot.spec)
        if previous is not None and problem is not None:
            self._warn_once(f"head:{problem.split(':')[0]}", f"cachepass DBCache: not comparing with the previous "
                            f"Fn residual at step {ctx.iteration}: {problem}; the step decides without it.")
        compares = self.plan.compares(ctx.iteration, ctx.counters, problem is None)
        if self._cudagraphs:
            torch.compiler.cudagraph_mark_step_begin()
        head = self.variant("head+decide" if compares else "head")
        outputs = head.fn(*args, *([previous.tensor] if compares else []))
        del previous
        count = head.variant.num_outputs
        handed, residual = outputs[:count], outputs[count]
        probe = outputs[count + 1].tolist() if head.variant.probe else []  # the one host read of the step
        value = probe[0] if compares else None
        local = probe[1] if compares and head.variant.reduced else None
        timestep = probe[-1] if self._has_timestep else None
        has_previous = problem is None
        if self.starts_generation(timestep, ctx, context):
            self.new_generation(state, ctx)
            stamp = next_stamp(ctx, self.serial, context, signature)
            value = local = None  # it compared with the previous generation's residual
            has_previous = False
        decision = self.plan.decide(ctx.iteration, ctx.counters, has_previous, value,
                                    self.tails_readable(ctx, stamp))
        results = self.run_tail(ctx, decision.compute, args, handed, residual, stamp)
        state.history.append(DBStepRecord(
            self.serial, ctx.generation, context, ctx.iteration, timestep, decision.value, decision.compute,
            decision.reason, self._blocks if decision.compute else self._blocks_on_reuse, 1 if probe else 0,
            (head.variant.key, decision.tail), local))
        if decision.value is not None:
            ctx.values.append(decision.value)
        ctx.counters = ctx.counters.after(decision)
        ctx.iteration += 1
        ctx.order.follow(timestep)
        ctx.skips += not decision.compute
        return results

    # -- pieces ---------------------------------------------------------------------------------
    def rewrite(self, key: Piece) -> Any:
        return build_piece(self.captured, self.db, key)

    # -- state ----------------------------------------------------------------------------------
    def new_state(self) -> DBContextStates:
        return DBContextStates()

    def end_generation(self, state: DBContextStates, ctx: DBContextState) -> None:
        """A whole generation that compared and never reused means the threshold is below every value."""
        if ctx.iteration >= 3 and ctx.skips == 0 and ctx.values:
            self._warn_once("no-skip", f"cachepass DBCache: a whole generation of {ctx.iteration} steps reused no "
                                       f"step: the decision values were {min(ctx.values):.3g} .. "
                                       f"{max(ctx.values):.3g}, all at or above residual_diff_threshold "
                                       f"{self.plan.threshold:g}. Raise it to reuse steps.")

    def report(self, owner_ids: set[int] | None = None) -> DBGraphReport:
        states, steps = self.reported(owner_ids)
        variants = variant_reports(self.lowered, [p for r in steps for p in r.pieces])
        return DBGraphReport(self.serial, True, self.describe(), len(self.captured.gm.graph.nodes),
                             variants, sum(s.cache_bytes() for s in states), steps, self.plan, db=self.db)


__all__ = ["DBCacheGraph", "DBGraphReport", "DBStepRecord"]
