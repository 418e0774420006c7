"""SeaCache stage 6, dispatch: the callable Dynamo runs on every call of the denoiser.

Per call: the state of the model's current `cache_context` (one per name, as diffusers keeps it), the step
the pipeline passed with it (`step_index`, `sigma`, `num_inference_steps`; without them the call runs in
full, as the hook's fail-open does), then the gate: the probe piece filters this step's latents (always: the
next step compares with them) and, when the distance decides, returns it too -- ONE host read of the
per-latent distances --, the plan decides, and one variant of the model runs: `compute` (writing the
residual and the other streams' last values) or a reuse (`skip`, `skip+extrapolate`). Forced steps read
nothing from the device.
Composed with a residual calibrator (runtime/calibrated.py; NOTE [SeaCache with a calibrator]), a
reuse step is `skip` fed the calibrator's prediction of the residual instead of the hook's reuse or
extrapolation, and a computed step keeps the residual with the calibrator's factors.

A step index that does not follow the previous one starts a new trajectory (a new generation: caches
freed), as the hook's `reset_trajectory`; so does a pipeline's end-of-call reset. Never a stale read: the
previous indicators and the residuals are read only when the store's validator accepts them.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field, replace
from typing import Any

import torch

from ...compiler.blocks import BlockStack
from ...report import GraphReport, variant_reports
from ...runtime.calibrated import CalibratedRuntime
from ...runtime.context import ContextState, ContextStates, VariantStepRecord
from ...runtime.registry import state_registry
from ...runtime.store import next_stamp, read_problem
from .config import SeaConfig
from .plan import SeaDecision, SeaGate, SeaPlan, SeaStep, Variant
from .report import block_report
from .rewrite import INDICATOR, build_probe, build_variant, residual_slots, stream_slots

logger = logging.getLogger(__name__)

_STATES = state_registry()  # first parameter -> ThreadStates of SeaModelState


@dataclass(frozen=True)
class SeaStepRecord(VariantStepRecord):
    step_index: int | None = field(kw_only=True)  # the pipeline's (None: the call ran without one, in full)
    sigma: float | None = field(kw_only=True)
    distance: float | None = field(kw_only=True)  # the step's distance (None: not compared)
    accumulated: float = field(kw_only=True)
    reason: str = field(kw_only=True)
    host_reads: int = field(kw_only=True)  # device-to-host reads the runtime made for this step
    probe: str | None = field(kw_only=True)  # the probe piece that ran first (None: the gate was not asked)

    @property
    def pieces(self) -> tuple[str, ...]:
        return (self.probe, self.variant) if self.probe else (self.variant,)


@dataclass
class SeaContext(ContextState):
    gate: SeaGate = field(default_factory=SeaGate)
    computed: list[int] = field(default_factory=list)  # step indices of the kept residuals, oldest first

    def reset(self) -> None:
        super().reset()
        self.gate = SeaGate()
        self.computed.clear()


@dataclass
class SeaModelState(ContextStates):
    context_type = SeaContext


@dataclass(frozen=True)
class SeaGraphReport(GraphReport):
    stack: BlockStack | None = None

    def tag_table(self, fmt: str = "simple") -> str:
        return block_report(self.stack, fmt) if self.stack is not None else ""

    def step_table(self, fmt: str = "simple") -> str:
        from tabulate import tabulate

        rows = [(r.generation, r.context or "-", "-" if r.step_index is None else r.step_index,
                 "-" if r.sigma is None else f"{r.sigma:g}", "-" if r.distance is None else f"{r.distance:.4g}",
                 f"{r.accumulated:.4g}", r.variant, r.host_reads, r.reason) for r in self.steps]
        return tabulate(rows, headers=("generation", "context", "step", "sigma", "distance", "accumulated", "ran",
                                       "host reads", "why"), tablefmt=fmt)

    def head(self) -> str:
        return self.cached_head()

    def step_parts(self) -> list[str]:
        return [self.step_table(), f"steps (C = computed, R = the block stack's residual reused or extrapolated): "
                                   f"{self.pattern}"]


class SeaCacheGraph(CalibratedRuntime):
    """What the cachepass backend returns to Dynamo for one captured graph under SeaCache."""

    _states = _STATES
    config: SeaConfig
    plan: SeaPlan
    first_variants = ("indicator", "compute")  # every generation starts with them
    per_context = True
    timesteps_from = "probe"  # the step comes from the cache_context; no timestep is read

    def prepare(self, tagged: tuple[BlockStack, int]) -> None:
        self.stack, self._latent = tagged
        self.tags = None
        self._latest, self._previous = residual_slots(self.stack)
        self._others = stream_slots(self.stack)

    def __call__(self, *args: Any) -> list[torch.Tensor]:
        state, ctx, context, _, _, signature, stamp = self.begin_step(args)
        reads = [0]
        probe = None
        step = self._step(args, context, reads)
        if step is None:  # the hook's fail-open: the whole model runs, nothing is recorded
            if context is not None:
                ctx.gate = replace(ctx.gate, consecutive=0)
            return self._finish(state, ctx, context, None, SeaDecision(-1, True, "no step metadata: fail-open"),
                                "compute", self._run("compute", args, ()), reads[0], None)
        if ctx.gate.key == step.key:
            decision = SeaDecision(step.step_index, ctx.gate.compute, "repeated step: the gate's decision")
        else:
            if not self.plan.adjacent(ctx.gate, step):
                logger.debug("SeaCache: step %d does not follow %s in context %r: new trajectory", step.step_index,
                             ctx.gate.key, context)
                self.new_generation(state, ctx)
                stamp = next_stamp(ctx, self.serial, context, signature)
            decision, probe = self._gate(args, ctx, step, stamp, reads)
        calibrator = self.calibrator_of(ctx)  # after the gate, which may start a new trajectory
        key: Variant = "compute"
        entries: list[Any] = []
        scale = None
        if not decision.compute:
            key, scale = self.plan.residual(step.step_index, ctx.computed) if calibrator is None else ("skip", None)
            entries, problem = self._residuals(ctx, key, stamp)
            if problem is not None:  # the hook: no (or a changed) history computes and restarts the accumulation
                if ctx.computed:
                    self._warn_once(f"residual:{problem.split(':')[0]}", f"cachepass SeaCache: not reusing the "
                                    f"residual at step {step.step_index}: {problem}; computing the blocks.")
                ctx.store.drop([self._latest.ident, self._previous.ident, *(s.ident for s in self._others)])
                ctx.computed.clear()
                ctx.gate = replace(ctx.gate, accumulated=0.0)
                decision = replace(decision, compute=True, reason=f"{decision.reason}; {problem}")
                key, entries, scale = "compute", [], None
        extras = [self.reused(e, slot, calibrator) for e, slot in zip(entries, self.lowered_reads(key))]
        if scale is not None:
            extras.append(torch.tensor(scale, dtype=torch.float32, device=extras[0].device))
        outputs = self._run(key, args, extras)
        del entries, extras
        if key == "compute":
            self._record(ctx, step, outputs, stamp, calibrator)
        else:
            ctx.gate = replace(ctx.gate, consecutive=ctx.gate.consecutive + 1)
        return self._finish(state, ctx, context, step, decision, key, outputs, reads[0], probe)

    # NOTE [SeaCache with a calibrator]
    # SeaCache extrapolates its residual itself (`residual_order=1`: latest + (latest - previous) * scale), which
    # a TaylorSeer calibrator of order 1 also does, with another step count. Composed, the simplest honest rule:
    # the calibrator replaces SeaCache's reuse and extrapolation of the residual on a reused step -- the gate
    # decides as alone, a reused step runs `skip` fed the calibrator's prediction (never `skip+extrapolate`,
    # whatever `residual_order` says), and a computed step keeps only the latest residual, with its factors.
    # The other streams' kept last values are values, not residuals: reused as they are (`predicted`). The
    # calibrator counts the gated calls (a fail-open call is no step of the trajectory); a new trajectory is a
    # new generation, so a new calibrator. docs/methods.md, "Compositions".
    # -- the step's parts ---------------------------------------------------------------------
    def _step(self, args: Any, context: str | None, reads: list[int]) -> SeaStep | None:
        """The hook's root pre-forward: the step the loop passed with `cache_context`, or None (fail-open, said once)."""
        if torch.is_grad_enabled():
            return self._fail_open("SeaCache is inference-only; calls with autograd enabled run in fail-open mode.")
        cache_context = self.cache_context(args)
        if cache_context is None:
            return self._fail_open("SeaCache requires a cache context for each transformer call; running in "
                                   "fail-open mode.")
        values = [getattr(cache_context, n, None) for n in ("step_index", "sigma", "num_inference_steps")]
        if any(v is None for v in values):
            return self._fail_open(
                "SeaCache is running in fail-open mode because the scheduler step, sigma, and step count are "
                "required: pass them as `cache_context(name, step_index=..., sigma=..., num_inference_steps=...)`.")
        try:
            for i, value in enumerate(values):
                if isinstance(value, torch.Tensor):
                    values[i] = value.item()  # what the hook reads too; pipelines pass Python numbers
                    reads[0] += 1
            step = SeaStep(int(values[0]), float(values[1]), int(values[2]))
        except (IndexError, TypeError, ValueError, RuntimeError) as error:
            return self._fail_open(f"SeaCache scheduler metadata is unavailable; running in fail-open mode: {error}")
        if (step.step_index < 0 or step.num_inference_steps <= 0 or step.step_index >= step.num_inference_steps
                or not math.isfinite(step.sigma) or not 0.0 <= step.sigma <= 1.0):
            return self._fail_open("SeaCache scheduler metadata is invalid; expected a valid step index and exact "
                                   "sigma in [0, 1].")
        return step

    def _fail_open(self, message: str) -> None:
        self._warn_once(f"fail-open:{message[:40]}", f"cachepass {message}")
        return None

    def _gate(self, args: Any, ctx: SeaContext, step: SeaStep, stamp: Any,
              reads: list[int]) -> tuple[SeaDecision, str]:
        """Run the probe (the indicator; the distance when it decides), read the distances once, decide."""
        previous = ctx.store.get(INDICATOR) if self.plan.forced(ctx.gate, step) is None else None
        problem = read_problem(previous, "the previous indicator", stamp) if previous is not None else "forced"
        probe = "indicator+distance" if problem is None else "indicator"
        low = self.variant(probe)
        if self._cudagraphs:
            torch.compiler.cudagraph_mark_step_begin()
        outputs = low.fn(*args, self._coefficients(args, step.sigma), *(previous.tensors if problem is None else ()))
        del previous
        count = low.variant.num_outputs
        distances = None
        if problem is None:
            distances = outputs[count].tolist()  # the one host read of the step
            reads[0] += 1
        decision, ctx.gate = self.plan.decide(ctx.gate, step, distances)
        indicators = outputs[:count]
        ctx.store.put(INDICATOR, stamp, *(i.clone() for i in indicators) if self._cudagraphs else indicators)
        return decision, probe

    def _coefficients(self, args: Any, sigma: float) -> torch.Tensor:
        """The hook's scalars of `_apply_sea_filter`, in its Python floats, rounded to float32 as its ops do."""
        sigma = max(1e-6, min(1.0 - 1e-6, sigma))
        signal = 1.0 - sigma
        return torch.tensor([signal, signal ** 2, sigma ** 2], dtype=torch.float32, device=args[self._latent].device)

    def _residuals(self, ctx: SeaContext, key: Variant, stamp: Any) -> tuple[list[Any], str | None]:
        slots = self.lowered_reads(key)
        entries = [ctx.store.get(slot.ident) for slot in slots]
        for slot, entry in zip(slots, entries):
            problem = read_problem(entry, f"the block stack's {slot.kind} {slot.site}", stamp, slot.spec)
            if problem is not None:
                return [], problem
        return entries, None

    def is_hidden(self, slot: Any) -> bool:
        return True  # its one residual slot read by a skip is the hidden stream's; the others keep values

    def predicted(self, slot: Any) -> bool:
        return slot is self._latest and super().predicted(slot)  # the other streams' kept values are not residuals

    def lowered_reads(self, key: Variant) -> tuple[Any, ...]:
        return (self._latest, *self._others) + ((self._previous,) if key == "skip+extrapolate" else ())

    def _run(self, key: Variant, args: Any, extras: list[torch.Tensor]) -> list[torch.Tensor]:
        low = self.variant(key)
        if self._cudagraphs:
            torch.compiler.cudagraph_mark_step_begin()
        return low.fn(*args, *extras)

    def _record(self, ctx: SeaContext, step: SeaStep, outputs: list[torch.Tensor], stamp: Any,
                calibrator: Any) -> None:
        """The hook's `_record_full_execution`: keep the residual (the last `residual_order + 1`; with a
        calibrator, the latest with its factors) and the other streams' last values; the reuses in a row restart."""
        count = self.captured.num_outputs
        kept = self.kept_before_compute(ctx, calibrator, stamp, (self._latest,))
        if self.config.residual_order == 1 and calibrator is None:
            latest = ctx.store.pop(self._latest.ident)
            if latest is not None:
                ctx.store.put(self._previous.ident, latest.stamp, *latest.tensors)
        self.put_residual(ctx, self._latest, stamp, outputs[count], kept)
        for slot, value in zip(self._others, outputs[count + 1:]):
            ctx.store.put(slot.ident, stamp, self.keep(value))
        ctx.computed[:] = [*ctx.computed, step.step_index][-(self.config.residual_order + 1):]
        ctx.gate = replace(ctx.gate, consecutive=0)

    def _finish(self, state: SeaModelState, ctx: SeaContext, context: str | None, step: SeaStep | None,
                decision: SeaDecision, key: str, outputs: list[torch.Tensor], reads: int,
                probe: str | None) -> list[torch.Tensor]:
        state.history.append(SeaStepRecord(
            self.serial, ctx.generation, context, ctx.iteration, None, decision.compute, key,
            step_index=None if step is None else step.step_index, sigma=None if step is None else step.sigma,
            distance=decision.distance, accumulated=decision.accumulated, reason=decision.reason, host_reads=reads,
            probe=probe))
        ctx.iteration += 1
        ctx.skips += not decision.compute
        return list(outputs[:self.captured.num_outputs])

    def rewrite(self, key: str) -> Any:
        if key in ("indicator", "indicator+distance"):
            return build_probe(self.captured, self._latent, key, self.config.power_exp)
        return build_variant(self.captured, self.stack, key)

    def new_state(self) -> SeaModelState:
        return SeaModelState()

    def report(self, owner_ids: set[int] | None = None) -> SeaGraphReport:
        states, steps = self.reported(owner_ids)
        ran = [name for r in steps for name in r.pieces]
        variants = variant_reports(self.lowered, ran)
        return SeaGraphReport(self.serial, True, self.describe(), len(self.captured.gm.graph.nodes),
                              variants, sum(s.cache_bytes() for s in states), steps, self.plan, stack=self.stack)
