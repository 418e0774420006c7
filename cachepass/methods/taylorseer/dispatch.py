"""TaylorSeer stage 6, dispatch: the callable Dynamo runs on every call of the denoiser.

Per call: the state of the model's current `cache_context` (one per name, as diffusers keeps one per
module and context; all selected modules are called once per step, so they share one counter), the
timestep read (the one host read, for generation detection), the plan's decision from the counter alone,
the validator on every factor a variant reads, the variant with its per-step tensor input (`ts_delta` or
`ts_coefficients`), and the new factors kept.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch

from ...compiler.lower import Lowered
from ...errors import ConfigError
from ...report import GraphReport, variant_reports
from ...runtime.base import GraphRuntime
from ...runtime.context import ContextState, ContextStates, VariantStepRecord
from ...runtime.registry import state_registry
from ...runtime.store import Stamp, read_problem
from .config import TSConfig
from .plan import TSDecision, TSPlan, TSState, variant_name
from .rewrite import build_ts_variant, slots
from .tag import TSTags

logger = logging.getLogger(__name__)

_STATES = state_registry()


@dataclass(frozen=True)
class TSStepRecord(VariantStepRecord):
    skipped: ClassVar[str] = "predicted"


@dataclass
class TSContext(ContextState):
    ts: TSState = field(default_factory=TSState)
    model_step: int = -1  # a block graph: the clock's serial of this instance's latest step (never reset)

    def reset(self) -> None:
        super().reset()
        self.ts = TSState()


@dataclass
class TSModelState(ContextStates):
    context_type = TSContext


@dataclass(frozen=True)
class TSGraphReport(GraphReport):
    ts_tags: TSTags | None = None

    def head(self) -> str:
        sites = self.ts_tags.sites if self.ts_tags else ()
        return (f"graph {self.serial}: {self.reason}, {self.graph_nodes} nodes, {len(sites)} modules predicted "
                f"({sum(not s.inactive for s in sites)} by Taylor series, {sum(s.inactive for s in sites)} as zeros); "
                f"cache holds {self.cache_bytes:,} bytes")

    def tag_table(self, fmt: str = "simple") -> str:
        from tabulate import tabulate

        rows = [(s.name, s.module_class.rsplit(".", 1)[-1], "zeros" if s.inactive else "Taylor", s.pattern,
                 len(s.region), len(s.outputs)) for s in (self.ts_tags.sites if self.ts_tags else ())]
        return tabulate(rows, headers=("module", "class", "predicted as", "matched", "region nodes", "outputs"),
                        tablefmt=fmt)

    def step_table(self, fmt: str = "simple") -> str:
        from tabulate import tabulate

        rows = [(r.generation, r.context or "-", r.iteration, "-" if r.timestep is None else f"{r.timestep:g}",
                 r.variant) for r in self.steps]
        return tabulate(rows, headers=("generation", "context", "step", "timestep", "ran"), tablefmt=fmt)


class TaylorSeerGraph(GraphRuntime):
    """What the cachepass backend returns to Dynamo for one captured graph under TaylorSeer."""

    _states = _STATES
    config: TSConfig
    plan: TSPlan
    first_variants = (("compute", 0),)  # every generation starts with it
    per_context = True
    reused_what = "Taylor-predicted outputs"  # the no-reuse warning's

    def prepare(self, tags: TSTags) -> None:
        self.ts_tags = tags
        self.tags = None
        self._slots = slots(tags)
        dtype = self.config.taylor_factors_dtype  # the factors' specs: the outputs' shapes, the factors' dtype
        self._factor_specs = [dataclasses.replace(s.spec, dtype=dtype) if dtype is not None else s.spec
                              for s in self._slots]
        self._device = next((e.device for e in self.captured.example_inputs() if isinstance(e, torch.Tensor)),
                            torch.device("cpu"))

    def __call__(self, *args: Any) -> list[torch.Tensor]:
        state, ctx, context, _, timestep, _, stamp = self.begin_step(args)
        if self._clocks:
            self._once_per_model_step(args, ctx)
        decision, after = self.plan.decide(ctx.ts)
        planned = not decision.compute  # a prediction, before a refused read makes it compute
        if decision.orders and self._unreadable(ctx, stamp, decision):
            decision = TSDecision(decision.step, True, 0, 0)  # start the factors afresh (diffusers: first update)
            after = TSState(decision.step, decision.step, 1)
        low = self.variant(decision.variant)
        extras = self._extras(low, ctx, decision)
        if self._cudagraphs:
            torch.compiler.cudagraph_mark_step_begin()
        outputs = low.fn(*args, *extras)
        del extras
        count = self.captured.num_outputs
        if decision.compute:
            written = outputs[count:]
            by_slot: dict[str, list[torch.Tensor]] = {}
            for (slot, _order), tensor in zip(low.variant.writes, written):
                by_slot.setdefault(slot.ident, []).append(tensor.clone() if self._cudagraphs else tensor)
            for ident, tensors in by_slot.items():
                ctx.store.put(ident, stamp, *tensors)
        ctx.ts = after
        self.watched(ctx).step(ctx.iteration, timestep, not decision.compute, planned)
        state.history.append(TSStepRecord(self.serial, ctx.generation, context, decision.step, timestep,
                                          decision.compute, decision.name))
        ctx.iteration += 1
        return list(outputs[:count])

    # NOTE [TaylorSeer on block graphs]
    # Under regional compilation one graph serves every instance of a block class; each instance keeps its own
    # state (keyed by its first parameter, as a model's is), so its step counter and its modules' factors are
    # the instance's, as diffusers keeps them per hooked module, and its counter advances once per call of the
    # instance. The order value that finds generations is the owning model's `timestep`, read once per model step
    # for all instances (scope.StepClock, GraphRuntime._input_order). A block called twice in one model call would
    # advance its counter twice per model step (the whole-model tag refuses such a module): with the model's
    # pre-hook the clock numbers the model calls, and a second run under the same number is refused.
    def _once_per_model_step(self, args: tuple, ctx: TSContext) -> None:
        owner = args[self.captured.owner_input]
        clock = self._clocks.get(owner)
        if clock is None or not clock.hooked:
            return
        serial = clock.serial()
        if ctx.model_step == serial:
            raise ConfigError(f"cachepass TaylorSeer: {self.path_of(owner)} ran twice in one call of its model; its "
                              f"step counter would advance twice per model step (diffusers' hook counts each call as "
                              f"a step). Leave its modules out of the identifiers, or compile the whole transformer.")
        ctx.model_step = serial

    def _unreadable(self, ctx: TSContext, stamp: Stamp, decision: TSDecision) -> bool:
        for slot, spec in zip(self._slots, self._factor_specs):
            entry = ctx.store.get(slot.ident)
            problem = read_problem(entry, f"the Taylor factors of {slot.site} output {slot.index}", stamp, spec)
            if problem is None and len(entry.tensors) < decision.orders:
                problem = f"{slot.site} holds {len(entry.tensors)} Taylor orders, {decision.orders} needed"
            if problem is not None:
                if not decision.compute:
                    self.watched(ctx).refuse(problem)
                if entry is not None:
                    self._warn_once(f"ts:{problem.split(':')[0]}", f"cachepass TaylorSeer: not predicting at step "
                                    f"{decision.step}: {problem}; computing and starting the factors afresh.")
                return True
        return False

    def _extras(self, low: Lowered, ctx: TSContext, decision: TSDecision) -> list[torch.Tensor]:
        variant = low.variant
        extras: list[torch.Tensor] = []
        if variant.extra == "delta":
            extras.append(torch.tensor(float(decision.delta), dtype=torch.float32, device=self._device))
        elif variant.extra == "coefficients":
            extras.append(torch.tensor(decision.coefficients, dtype=torch.float32, device=self._device))
        extras += [ctx.store.get(slot.ident).tensors[order] for slot, order in variant.reads]
        return extras

    def rewrite(self, key: tuple[str, int]) -> Any:
        return build_ts_variant(self.captured, self.ts_tags, key, self.config.taylor_factors_dtype)

    def new_state(self) -> TSModelState:
        return TSModelState()

    def report(self, owner_ids: set[int] | None = None) -> TSGraphReport:
        states, steps = self.reported(owner_ids)
        return TSGraphReport(self.serial, True, self.describe(), len(self.captured.gm.graph.nodes),
                             variant_reports(self.lowered, [r.variant for r in steps]),
                             sum(s.cache_bytes() for s in states), steps, self.plan, ts_tags=self.ts_tags)


__all__ = ["TaylorSeerGraph", "variant_name"]
