"""TeaCache stage 6, dispatch: the callable Dynamo runs on every call of the denoiser.

Per call: pick the state of the model's current `cache_context` (the scripts keep one per CFG branch: Wan's
even/odd calls), run the head piece (with the previous step's indicator when a valid one is cached), read its
probe -- the relative L1 change and the timestep -- with ONE host read, let the plan decide, and run the
`compute` tail (writing the residuals) or the `skip` tail (no block runs). The indicator is kept every step.
A turn of the timestep (seen in the probe; runtime/base.py, NOTE [When a generation starts]) or the step
counter reaching `num_inference_steps` starts a new generation; a value compared with the previous generation's indicator is then discarded.
Calibration (`calibrate=True`) computes every step and keeps, per step, the value and the output's relative L1
change against the previous call's output as a device scalar; they are read once, when the generation ends, and
fitted (calibration.py).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import torch

from ...compiler.lower import Lowered
from ...report import GraphReport, variant_reports
from ...runtime.context import ContextState, ContextStates, VariantStepRecord
from ...runtime.pieces import HeadTailRuntime
from ...runtime.registry import state_registry
from ...runtime.store import next_stamp, read_problem
from .calibration import TeaCalibration, fit_coefficients, output_change
from .config import TeaCacheConfig
from .plan import TeaPlan, TeaState
from .report import block_report
from .rewrite import Piece, build_piece, indicator_slot, residual_slots
from .tag import TeaTags

logger = logging.getLogger(__name__)

STATES = state_registry()  # first parameter -> ThreadStates of TeaModelState


@dataclass(frozen=True)
class TeaStepRecord(VariantStepRecord):
    value: float | None = field(kw_only=True)  # the relative L1 change read this step
    accumulated: float = field(kw_only=True)  # the rescaled sum compared with the threshold
    reason: str = field(kw_only=True)
    host_reads: int = field(kw_only=True)  # device-to-host reads the runtime made for this step
    head: str = field(kw_only=True, default="head")

    @property
    def pieces(self) -> tuple[str, ...]:
        return (self.head, self.variant)


@dataclass
class TeaContext(ContextState):
    tea: TeaState = field(default_factory=TeaState)
    pairs: list[tuple[float, torch.Tensor]] = field(default_factory=list)  # calibration: (value, output change)
    output: torch.Tensor | None = None  # calibration: the previous call's first output

    def reset(self) -> None:
        super().reset()
        self.tea = TeaState()
        self.pairs.clear()
        self.output = None


@dataclass
class TeaModelState(ContextStates):
    context_type = TeaContext
    calibrations: list[TeaCalibration] = field(default_factory=list)  # finished calibrations, oldest first


@dataclass(frozen=True)
class TeaGraphReport(GraphReport):
    tags: Any = None
    calibrations: tuple[TeaCalibration, ...] = ()  # calibrate=True: each finished generation's pairs and fit

    def tag_table(self, fmt: str = "simple") -> str:
        return block_report(self.tags, fmt) if self.tags is not None else ""

    def step_table(self, fmt: str = "simple") -> str:
        from tabulate import tabulate

        rows = [(r.generation, r.context or "-", r.iteration, "-" if r.timestep is None else f"{r.timestep:g}",
                 "-" if r.value is None else f"{r.value:.4g}", f"{r.accumulated:.4g}", r.variant, r.host_reads,
                 r.reason) for r in self.steps]
        return tabulate(rows, headers=("generation", "context", "step", "timestep", "rel. L1 change", "accumulated",
                                       "ran", "host reads", "why"), tablefmt=fmt)

    def head(self) -> str:
        return self.cached_head()

    def step_parts(self) -> list[str]:
        return [self.step_table(), f"steps (C = the block stack ran, R = replaced by the residual): {self.pattern}"]

    def notes(self) -> list[str]:
        if self.tags is None:
            return []
        settings = self.tags.settings
        fits = [f"calibrated coefficients: {'none fitted' if c.coefficients is None else list(c.coefficients)} "
                f"({len(c.x)} pairs)" for c in self.calibrations]
        return [f"coefficients {list(settings.coefficients)} from {settings.source}; first "
                f"{settings.retention_steps} and last {settings.cutoff_steps} steps always computed", *fits]


class TeaCacheGraph(HeadTailRuntime):
    """What the cachepass backend returns to Dynamo for one captured graph under TeaCache."""

    _states = STATES
    config: TeaCacheConfig
    plan: TeaPlan
    first_variants = ("head", "compute")  # every generation starts with these two
    per_context = True
    timesteps_from = "probe"  # read with the decision value, after the head ran
    tail_words = ("cachepass TeaCache", "residual")
    tail_keys = ("skip", "compute")

    def prepare(self, tags: TeaTags) -> None:
        self.tags = tags
        self.stack = tags.stack
        self._indicator = indicator_slot(tags, self.captured)
        self._tail_slots = residual_slots(tags)
        self._has_timestep = self.captured.timestep_input is not None

    def __call__(self, *args: Any) -> list[torch.Tensor]:
        state, ctx, context, _, _, signature, stamp = self.begin_step(args)
        previous = ctx.store.get(self._indicator.ident)
        problem = read_problem(previous, "the previous step's indicator", stamp, self._indicator.spec)
        if previous is not None and problem is not None:
            self._warn_once(f"indicator:{problem.split(':')[0]}", f"cachepass TeaCache: not comparing with the "
                            f"previous indicator at step {ctx.tea.step_index}: {problem}; computing the blocks.")
        if self._cudagraphs:
            torch.compiler.cudagraph_mark_step_begin()
        head = self.variant("head" if problem is not None else "head+compare")
        outputs = head.fn(*args, *([previous.tensor] if problem is None else []))
        del previous
        count = head.variant.num_outputs
        handed, indicator = outputs[:count], outputs[count]
        probe = outputs[count + 1].tolist() if head.variant.probe else []  # the one host read of the step
        value = probe[0] if problem is None else None
        timestep = probe[-1] if self._has_timestep else None
        if self.starts_generation(timestep, ctx, context):
            self.new_generation(state, ctx)
            stamp = next_stamp(ctx, self.serial, context, signature)
            value = None  # it compared with the previous generation's indicator
        ctx.order.follow(timestep)
        decision, ctx.tea = self.plan.decide(ctx.tea, value, self.tails_readable(ctx, stamp))
        results = self.run_tail(ctx, decision.compute, args, handed, None, stamp)
        if self.plan.calibrate:
            self.measure(ctx, value, results[0])
        ctx.store.put(self._indicator.ident, stamp, self.keep(indicator))  # kept every step, skipped or not
        state.history.append(TeaStepRecord(
            self.serial, ctx.generation, context, decision.step_index, timestep, decision.compute, decision.variant,
            value=value, accumulated=decision.accumulated, reason=decision.reason, host_reads=int(head.variant.probe),
            head=head.variant.key))
        ctx.iteration += 1
        ctx.skips += not decision.compute
        if value is not None:
            ctx.values.append(value)
        if decision.wraps:  # the scripts' `cnt` wraps: the next call starts afresh
            self.new_generation(state, ctx)
        return results

    def step_number(self, ctx: TeaContext) -> int:
        return ctx.tea.step_index

    def fit(self, state: TeaModelState, ctx: TeaContext) -> None:
        """The generation's pairs fitted (calibration.py), kept for the report, printed and logged."""
        if not ctx.pairs:
            return
        x = tuple(value for value, _ in ctx.pairs)
        y = tuple(torch.stack([change for _, change in ctx.pairs]).tolist())  # the generation's one read of them
        ctx.pairs.clear()
        fit = TeaCalibration(x, y, fit_coefficients(x, y))
        state.calibrations.append(fit)
        if fit.coefficients is None:
            self._warn_once("no-fit", f"cachepass TeaCache: calibration measured {len(x)} pair(s) and fitted no "
                                      f"rescaling polynomial positive on them (output changes {list(y)}).")
            return
        print("\n[TeaCache] Calibration Complete. Copy these values to TeaCacheConfig(coefficients=...):")
        print(f"{list(fit.coefficients)}\n")
        logger.info("TeaCache Calibration Results: %s (from %d pairs)", list(fit.coefficients), len(x))

    def rewrite(self, key: Piece) -> Any:
        return build_piece(self.captured, self.tags, key)

    def piece(self, key: Piece) -> Lowered:
        return self.variant(key)

    def new_state(self) -> TeaModelState:
        return TeaModelState()

    def measure(self, ctx: TeaContext, value: float | None, output: torch.Tensor) -> None:
        """Calibration: the pair of this step (its value, the output's change; no host read), the output kept."""
        # our own copy: the caller may edit the returned output in place, and cudagraphs' pool overwrites it
        previous, ctx.output = ctx.output, output.detach().clone()
        if value is not None and previous is not None:
            ctx.pairs.append((value, output_change(output, previous)))

    def end_generation(self, state: TeaModelState, ctx: TeaContext) -> None:
        """A calibration generation: fit its pairs. Else a whole generation that never skipped: say the values,
        as FirstBlockCache does."""
        if self.plan.calibrate:
            self.fit(state, ctx)
        elif ctx.iteration >= 3 and ctx.skips == 0 and ctx.values:
            self._warn_once("no-skip", f"cachepass TeaCache: a whole generation of {ctx.iteration} steps skipped "
                                       f"no step (relative L1 changes {min(ctx.values):.3g} .. {max(ctx.values):.3g}, "
                                       f"threshold {self.plan.threshold:g}); raise the threshold to skip steps.")

    def report(self, owner_ids: set[int] | None = None) -> TeaGraphReport:
        states, steps = self.reported(owner_ids)
        variants = variant_reports(self.lowered, [p for r in steps for p in r.pieces])
        return TeaGraphReport(self.serial, True, self.describe(), len(self.captured.gm.graph.nodes),
                              variants, sum(s.cache_bytes() for s in states), steps, self.plan, tags=self.tags,
                              calibrations=tuple(c for s in states for c in s.calibrations))
