"""MagCache stage 6, dispatch: the callable Dynamo runs on every call of the denoiser.

Per call: pick the state of the model's current `cache_context` (one per name, as diffusers keeps it;
one unnamed state outside contexts), read the timestep (the one host read of the step, for generation
detection), check the cached residual with the store's validator, let the plan decide from the step
index alone, and run `compute` (writing the residual) or `skip`. Calibration keeps each step's ratio on
the device and reads them once, when the generation ends. Composed with a residual calibrator
(runtime/calibrated.py), a computed step updates its factors and a skip adds its prediction instead.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import torch

from ...compiler.blocks import BlockStack
from ...report import GraphReport, variant_reports
from ...runtime.calibrated import CalibratedRuntime
from ...runtime.context import ContextState, ContextStates, VariantStepRecord
from ...runtime.registry import state_registry
from ...runtime.store import read_problem
from .config import MagConfig
from .plan import MagPlan, MagState, Variant
from .report import block_report
from .rewrite import build_mag_variant, residual_slot

logger = logging.getLogger(__name__)

_STATES = state_registry()  # first parameter -> ThreadStates of MagModelState


@dataclass(frozen=True)
class MagStepRecord(VariantStepRecord):
    error: float = field(kw_only=True)  # the accumulated error the plan compared with the threshold (iteration: step_index)


@dataclass
class MagContext(ContextState):
    mag: MagState = field(default_factory=MagState)
    ratios: list[Any] = field(default_factory=list)  # calibration: per step, 1.0 or a device scalar

    def reset(self) -> None:
        super().reset()
        self.mag = MagState()
        self.ratios.clear()


@dataclass
class MagModelState(ContextStates):
    context_type = MagContext
    calibrations: list[list[float]] = field(default_factory=list)  # finished calibrations, oldest first


@dataclass(frozen=True)
class MagGraphReport(GraphReport):
    stack: BlockStack | None = None
    calibrations: tuple[tuple[float, ...], ...] = ()  # calibrate=True: each finished generation's ratios

    def tag_table(self, fmt: str = "simple") -> str:
        return block_report(self.stack, fmt) if self.stack is not None else ""

    def step_table(self, fmt: str = "simple") -> str:
        from tabulate import tabulate

        rows = [(r.generation, r.context or "-", r.iteration, "-" if r.timestep is None else f"{r.timestep:g}",
                 f"{r.error:.4g}", r.variant) for r in self.steps]
        return tabulate(rows, headers=("generation", "context", "step", "timestep", "accumulated error", "ran"),
                        tablefmt=fmt)

    def head(self) -> str:
        return self.cached_head()

    def step_parts(self) -> list[str]:
        return [self.step_table(), f"steps (C = computed, R = the block stack skipped): {self.pattern}"]

    def notes(self) -> list[str]:
        return [f"calibrated mag_ratios: {list(c)}" for c in self.calibrations]


class MagCacheGraph(CalibratedRuntime):
    """What the cachepass backend returns to Dynamo for one captured graph under MagCache."""

    _states = _STATES
    config: MagConfig
    plan: MagPlan
    first_variants = ("compute",)  # every generation starts with it
    per_context = True

    def prepare(self, stack: BlockStack) -> None:
        self.stack = stack
        self.tags = None
        self._slot = residual_slot(stack)

    def __call__(self, *args: Any) -> list[torch.Tensor]:
        state, ctx, context, _, timestep, _, stamp = self.begin_step(args)
        calibrator = self.calibrator_of(ctx)
        entry = ctx.store.get(self._slot.ident)
        problem = read_problem(entry, "the block stack's residual", stamp, self._slot.spec)
        if entry is not None and problem is not None:
            self._warn_once(f"residual:{problem.split(':')[0]}", f"cachepass MagCache: not reusing the residual at "
                            f"step {ctx.mag.step_index}: {problem}; computing the blocks.")
        decision, ctx.mag = self.plan.decide(ctx.mag, problem is None)
        key: Variant = ("skip" if not decision.compute else
                        "compute+calibrate" if self.config.calibrate and problem is None else "compute")
        low = self.variant(key)
        kept = self.kept_before_compute(ctx, calibrator, stamp, (self._slot,)) if decision.compute else {}
        reads = [entry.tensor if decision.compute else self.reused(entry, self._slot, calibrator)] \
            if low.variant.reads else []
        del entry
        if self._cudagraphs:
            torch.compiler.cudagraph_mark_step_begin()
        outputs = low.fn(*args, *reads)
        del reads
        count = self.captured.num_outputs
        if decision.compute:
            self.put_residual(ctx, self._slot, stamp, outputs[count], kept)
            if self.config.calibrate:
                ctx.ratios.append(outputs[count + 1] if low.variant.ratio else 1.0)
        state.history.append(MagStepRecord(self.serial, ctx.generation, context, decision.step_index, timestep,
                                           decision.compute, key, error=decision.error))
        ctx.iteration += 1
        ctx.skips += not decision.compute
        if decision.wraps:  # diffusers' _advance_step: the residual is dropped, the next call starts afresh
            self.new_generation(state, ctx)
        return list(outputs[:count])

    def is_hidden(self, slot: Any) -> bool:
        return True  # its one residual is the hidden stream's (the other streams take their input on a skip)

    def end_generation(self, state: MagModelState, ctx: MagContext) -> None:
        """The end of a generation: report a finished calibration, as diffusers does."""
        if self.config.calibrate and ctx.ratios:
            ratios = [float(r) for r in ctx.ratios]  # the generation's only host reads of the ratios
            state.calibrations.append(ratios)
            ctx.ratios.clear()
            if len(ratios) >= self.config.num_inference_steps:
                print("\n[MagCache] Calibration Complete. Copy these values to MagCacheConfig(mag_ratios=...):")
                print(f"{ratios}\n")
                logger.info("MagCache Calibration Results: %s", ratios)

    def rewrite(self, key: Variant) -> Any:
        return build_mag_variant(self.captured, self.stack, key)

    def new_state(self) -> MagModelState:
        return MagModelState()

    def report(self, owner_ids: set[int] | None = None) -> MagGraphReport:
        states, steps = self.reported(owner_ids)
        variants = variant_reports(self.lowered, [r.variant for r in steps])
        calibrations = tuple(tuple(c) for s in states for c in s.calibrations)
        return MagGraphReport(self.serial, True, self.describe(), len(self.captured.gm.graph.nodes),
                              variants, sum(s.cache_bytes() for s in states), steps, self.plan, stack=self.stack,
                              calibrations=calibrations)
