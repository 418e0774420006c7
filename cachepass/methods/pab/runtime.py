"""PAB's runtime: per call, ask the plan which kinds to reuse, check every cached tensor it would read
(runtime/store.py), run the matching variant and store what it wrote. The method-neutral part (owner,
thread and context state, generations, timestep reads) is runtime/base.py's GraphRuntime."""

from __future__ import annotations

import dataclasses
import logging
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
import sympy
import torch

from ...compiler.attention import Kind
from ...compiler.attention import TagResult
from ...compiler.capture import CapturedGraph
from ...compiler.editing import CacheSlot, cache_slots
from ...compiler.lower import Lowered
from ...compiler.regions import TensorSpec
from ...report import variant_reports
from ...runtime.base import GenerationOrder, GenerationWatch, GraphRuntime, HISTORY_LIMIT, end_generation
from ...runtime.registry import state_registry
from ...runtime.steps import StepRecord as BaseStepRecord
from ...runtime.store import CacheStore, Stamp, read_problem
from .plan import Plan, StepDecision, VariantKey, variant_name
from .report import PABGraphReport
from .rewrite import build_variant

logger = logging.getLogger(__name__)


_MODEL_STATES = state_registry()  # PAB: first parameter -> ThreadStates of ModelState


@dataclass(frozen=True)
class StepRecord(BaseStepRecord):
    planned: VariantKey  # the kinds the plan wanted to reuse
    reused: VariantKey  # the kinds actually read (fewer when a cache read was refused)

    @property
    def variant(self) -> str:
        return variant_name(self.reused)


@dataclass
class ModelState:
    """Step counter and caches of one model instance on one graph."""

    generation: int = 0
    iteration: int = 0
    order: GenerationOrder = field(default_factory=GenerationOrder)  # this generation's order values
    entries: CacheStore = field(default_factory=CacheStore)  # by CacheSlot.ident
    stamp: Stamp | None = None  # the latest call's (store.next_stamp)
    history: deque[StepRecord] = field(default_factory=lambda: deque(maxlen=HISTORY_LIMIT))
    watch: GenerationWatch | None = None  # GraphRuntime.watched: the no-reuse check

    def reset(self) -> None:
        end_generation(self)
        self.generation += 1
        self.iteration = 0
        self.order = GenerationOrder()
        self.entries.clear()

    def drop(self, slots: Sequence[CacheSlot]) -> None:
        self.entries.drop(slot.ident for slot in slots)

    def cache_bytes(self) -> int:
        return self.entries.nbytes()


class CachedGraph(GraphRuntime):
    """What the cachepass backend returns to Dynamo for one captured graph under PAB."""

    _states = _MODEL_STATES
    plan: Plan
    first_variants = (frozenset(),)  # every generation starts with the compute variant
    timesteps_from = "schedule"

    def prepare(self, tags: TagResult) -> None:
        self.tags = tags
        self._slots_by_kind = _slots_by_kind(tags)
        self._shape_checks = _ShapeChecks(self.captured)
        self._store_all = self._callback is not None  # plan.decide assumes t falls
        self._all_kinds = self.plan.kinds

    # NOTE [Variants of a dynamic-shape graph compile with it]
    # Variants normally compile on first use, after Dynamo installed the frame's guards. With static shapes that
    # is safe, and with symbolic sizes it usually is (the variant asks the ShapeEnv questions it already
    # answered), but not always: Latte's reuse-cross variant, under dynamic=True, adds guards on the symbolic
    # frame size, which nothing would check after the freeze (lower raises GuardsAfterFreeze rather than run
    # it). So a graph with symbolic sizes compiles every variant the plan can reach while Dynamo is still
    # calling the backend, where the guards they add are installed with the frame's. `Plan.reachable()` is at
    # most 2^k variants for k cached kinds; static-shape graphs keep compiling on first use.
    def variants_at_compile(self) -> Sequence[VariantKey]:
        if self.captured.has_symbolic_sizes():
            return (*self.first_variants, *self.plan.reachable())
        return self.first_variants

    def timestep_callback(self) -> Any:
        return self.config.current_timestep_callback

    # -- the hot path -----------------------------------------------------------------------
    def __call__(self, *args: Any) -> list[torch.Tensor]:
        # PAB keeps one state for every cache_context: no context in the stamp
        state, _, _, timestep, _, _, stamp = self.begin_step(args)
        decision = self.plan.decide(state.iteration, timestep)
        # plan.decide keeps only what a falling timestep reuses later; with a callback (its direction unknown) or
        # a generation not known to fall (NOTE [When a generation starts]) keep all, as the hooks do
        if self._store_all or state.order.direction >= 0:
            decision = dataclasses.replace(decision, store=self._all_kinds - decision.reuse)
        reuse = self._readable(decision, state, stamp, args)
        lowered = self.variant(reuse)
        reads = [state.entries.get(slot.ident).tensor for slot in lowered.variant.reads]
        state.drop(lowered.variant.writes)  # free old values before the new ones exist
        if self._cudagraphs:
            torch.compiler.cudagraph_mark_step_begin()  # a new replay may reuse the last one's output memory
        outputs = lowered.fn(*args, *reads)
        del reads
        self._store(state, decision, lowered, outputs, stamp)
        state.history.append(StepRecord(self.serial, state.generation, state.iteration, timestep, decision.reuse,
                                        reuse))
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("dispatch: generation %d step %d timestep %g ran %s (planned %s), stored %s",
                         state.generation, state.iteration, timestep, variant_name(reuse), decision.variant,
                         sorted(decision.store) or "nothing")
        self.watched(state).step(state.iteration, timestep, bool(reuse), bool(decision.reuse))
        state.iteration += 1
        return list(outputs[: self.captured.num_outputs])

    def _store(self, state: ModelState, decision: StepDecision, lowered: Lowered, outputs: Sequence[torch.Tensor],
               stamp: Stamp) -> None:
        written = outputs[self.captured.num_outputs:]
        keep = decision.store | (decision.reuse - lowered.variant.key)  # a refused read was computed: keep it
        for slot, tensor in zip(lowered.variant.writes, written):
            if slot.kind in keep:
                if self._cudagraphs:  # outputs live in the CUDA graph pool until the next replay: copy them out
                    tensor = tensor.clone()
                state.entries.put(slot.ident, stamp, tensor)

    # -- variants ---------------------------------------------------------------------------
    def rewrite(self, reuse: VariantKey) -> Any:
        """The variant reading the kinds in `reuse` from the cache."""
        return build_variant(self.captured, self.tags, reuse)

    # -- state ------------------------------------------------------------------------------
    def new_state(self) -> ModelState:
        return ModelState()

    def reuse_windows(self) -> str:
        return ", ".join(f"{k} ({r.low:g}, {r.high:g})" for k, r in self.plan.rules.items())

    # -- checks -----------------------------------------------------------------------------
    def _readable(self, decision: StepDecision, state: ModelState, stamp: Stamp, args: Sequence[Any]) -> VariantKey:
        readable = set()
        for kind in decision.reuse:
            problem = self._read_problem(kind, state, stamp, args)
            if problem is None:
                readable.add(kind)
            else:
                self.watched(state).refuse(problem)
                self._warn_once(f"{kind}:{problem.split(':')[0]}",
                                f"cachepass: not reusing {kind} attention at step {decision.iteration} "
                                f"(timestep {decision.timestep:g}): {problem}; computing it instead.")
        return frozenset(readable)

    def _read_problem(self, kind: Kind, state: ModelState, stamp: Stamp, args: Sequence[Any]) -> str | None:
        for slot in self._slots_by_kind[kind]:
            expected = self._shape_checks.expected_shape(slot.spec, args, stamp.signature)
            problem = read_problem(state.entries.get(slot.ident), f"{slot.site} output {slot.index}", stamp,
                                   slot.spec, expected)
            if problem is not None:
                return problem
        return None

    def report(self, owner_ids: set[int] | None = None) -> Any:
        states, steps = self.reported(owner_ids)
        variants = variant_reports(self.lowered, [p for r in steps for p in r.pieces])
        return PABGraphReport(self.serial, True, self.describe(), len(self.captured.gm.graph.nodes), variants,
                              sum(s.cache_bytes() for s in states), steps, self.plan, sites=self.tags.sites,
                              rejected=self.tags.rejected)


def _slots_by_kind(tags: TagResult) -> dict[Kind, tuple[CacheSlot, ...]]:
    by_kind: dict[Kind, list[CacheSlot]] = {}
    for slots in cache_slots(tags.sites).values():
        for slot in slots:
            by_kind.setdefault(slot.kind, []).append(slot)
    return {kind: tuple(slots) for kind, slots in by_kind.items()}


class _ShapeChecks:
    """Turns symbolic cached shapes like ("s28", 32, 16) into ints for the current call's sizes."""

    def __init__(self, captured: CapturedGraph) -> None:
        self._symbols: dict[str, int] = {}  # symbol name -> input index
        for graph_input, example in zip(captured.inputs, captured.example_inputs()):
            if graph_input.role == "symint" and isinstance(example, torch.SymInt):
                expr = example.node.expr
                if isinstance(expr, sympy.Symbol):
                    self._symbols[str(expr)] = graph_input.index
        self._exprs: dict[str, sympy.Expr] = {}
        self._memo: dict[tuple, tuple[int, ...] | None] = {}

    def expected_shape(self, spec: TensorSpec, args: Sequence[Any], signature: tuple) -> tuple[int, ...] | None:
        """Memoised per input signature: sympy runs once per new set of sizes, not every step."""
        if spec.static:
            return spec.shape
        key = (spec.shape, signature)
        if key not in self._memo:
            if len(self._memo) > 1024:
                self._memo.clear()
            self._memo[key] = self._evaluate(spec, args)
        return self._memo[key]

    def _evaluate(self, spec: TensorSpec, args: Sequence[Any]) -> tuple[int, ...] | None:
        dims = []
        for dim in spec.shape:
            if isinstance(dim, int):
                dims.append(dim)
                continue
            expr = self._exprs.get(dim)
            if expr is None:
                expr = self._exprs[dim] = sympy.sympify(dim)
            bindings = {s: args[self._symbols[str(s)]] for s in expr.free_symbols if str(s) in self._symbols}
            if len(bindings) != len(expr.free_symbols):
                return None  # a size we cannot bind: the signature check still covers it
            dims.append(int(expr.subs(bindings)))
        return tuple(dims)
