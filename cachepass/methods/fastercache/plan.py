"""FasterCache stage 3, plan: a pure function from (rules, mode, iteration, timestep) to a step's variant.

diffusers' two hooks, as decisions (hooks/faster_cache.py, 0.42.1):

- CFG-Cache (denoiser hook, l.271-281): skip the unconditional half when
  `iteration > 0 and lo < t < hi and iteration % uncond_skip != 0` (never for distilled models);
- block extrapolation (block hook, l.422-431): extrapolate a `kind` attention output when
  `lo_k < t < hi_k and not (iteration > 0 and iteration % skip_k == 0)`, but only when the block sees
  the half batch (the unconditional half was skipped) or the model is guidance-distilled.

So a step is one of:

    mode        call     uncond skipped?   graph   extrapolated kinds
    batched     -        no                full    -                (attention at the CFG batch 2B)
    batched     -        yes               half    block rule       (+ the unconditional estimate)
    distilled   -        -                 full    block rule
    sequential  cond     no / yes          full    - / block rule
    sequential  uncond   no                full    -                (its cache writes are dropped)
    sequential  uncond   yes               none    -                (the estimate alone, no graph)

A kind is only extrapolated when its cache exists: the first call of a generation always computes
(diffusers' distilled hook crashes there instead, with an empty cache).

Nothing here touches FX or tensors: `simulate`/`variants` predict what a generation runs and compiles.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from .config import FCConfig, FCKind

logger = logging.getLogger(__name__)

Mode = Literal["batched", "sequential", "distilled"]
Call = Literal["cond", "uncond"]
GraphKind = Literal["full", "half"]


@dataclass(frozen=True)
class BlockRule:
    kind: FCKind
    skip: int
    low: float
    high: float

    def extrapolates(self, iteration: int, timestep: float) -> bool:
        return self.low < timestep < self.high and not (iteration > 0 and iteration % self.skip == 0)


@dataclass(frozen=True)
class UncondRule:
    skip: int
    low: float
    high: float

    def skips(self, iteration: int, timestep: float) -> bool:
        return iteration > 0 and self.low < timestep < self.high and iteration % self.skip != 0


@dataclass(frozen=True)
class FreqRule:
    """diffusers' default frequency weight callback: `alpha` inside the open range, else 1."""

    low: float
    high: float
    alpha: float

    def weight(self, timestep: float) -> float:
        return self.alpha if self.low < timestep < self.high else 1.0


@dataclass(frozen=True)
class VariantKey:
    """Which captured graph runs, and which attention kinds it extrapolates instead of computing."""

    graph: GraphKind
    extrapolate: frozenset[FCKind] = frozenset()

    @property
    def name(self) -> str:
        kinds = "+".join(sorted(self.extrapolate))
        return self.graph + (f"+extrapolate-{kinds}" if kinds else "")


@dataclass(frozen=True)
class FCDecision:
    iteration: int
    timestep: float
    mode: Mode
    call: Call | None  # sequential mode only
    skip_uncond: bool
    variant: VariantKey | None  # None: no graph runs (a sequential unconditional call on a skip step)

    @property
    def estimate(self) -> bool:
        """This call returns an estimated unconditional output."""
        return self.skip_uncond and (self.mode == "batched" or self.call == "uncond")

    @property
    def keeps_writes(self) -> bool:
        """diffusers caches conditional outputs only: a sequential unconditional call stores nothing."""
        return self.call != "uncond"

    @property
    def step_kind(self) -> str:
        return self.variant.name if self.variant is not None else "estimate"


@dataclass(frozen=True)
class FCPlan:
    blocks: Mapping[FCKind, BlockRule]  # the extrapolated kinds present in the graph
    uncond: UncondRule | None  # None for guidance-distilled models
    low_freq: FreqRule
    high_freq: FreqRule

    @property
    def kinds(self) -> frozenset[FCKind]:
        return frozenset(self.blocks)

    @property
    def default_mode(self) -> Mode:
        return "distilled" if self.uncond is None else "batched"

    def extrapolated(self, iteration: int, timestep: float) -> frozenset[FCKind]:
        return frozenset(k for k, rule in self.blocks.items() if rule.extrapolates(iteration, timestep))

    def decide(self, iteration: int, timestep: float, mode: Mode, call: Call | None = None,
               have_cache: bool = True) -> FCDecision:
        """The step; `have_cache` is False before the first graph call of a generation."""
        timestep = float(timestep)
        rule = self.extrapolated(iteration, timestep) if have_cache else frozenset()
        if mode == "distilled":
            return FCDecision(iteration, timestep, mode, None, False, VariantKey("full", rule))
        if self.uncond is None:
            raise ValueError(f"FCPlan: mode {mode!r} needs the CFG rule; this plan is for a guidance-distilled model")
        skip = self.uncond.skips(iteration, timestep)
        if mode == "batched":
            return FCDecision(iteration, timestep, mode, None, skip,
                              VariantKey("half", rule) if skip else VariantKey("full"))
        if call == "cond":
            return FCDecision(iteration, timestep, mode, call, skip, VariantKey("full", rule if skip else frozenset()))
        if call == "uncond":
            return FCDecision(iteration, timestep, mode, call, skip, None if skip else VariantKey("full"))
        raise ValueError(f"FCPlan: sequential mode needs call='cond' or 'uncond', got {call!r}")

    def simulate(self, timesteps: Iterable[float], mode: Mode | None = None) -> list[FCDecision]:
        """Every call of one generation over `timesteps` (two per step in sequential mode), as the runtime
        takes them when every cache read is valid."""
        mode = mode or self.default_mode
        calls: tuple[Call | None, ...] = ("cond", "uncond") if mode == "sequential" else (None,)
        decisions, have_cache = [], False
        for iteration, timestep in enumerate(timesteps):
            for call in calls:
                decision = self.decide(iteration, timestep, mode, call, have_cache)
                have_cache = have_cache or (decision.variant is not None and decision.keeps_writes)
                decisions.append(decision)
        return decisions

    def rows(self, timesteps: Sequence[float]) -> list[GraphKind]:
        """Per step of a batched generation, the rows it runs: "full" (the CFG batch) or "half" (the conditional
        half, the unconditional output estimated): a CFG skip around an inner cache (runtime/cfg_split.py)."""
        return ["half" if d.skip_uncond else "full" for d in self.simulate(timesteps, "batched")]

    def variants(self, timesteps: Sequence[float], mode: Mode | None = None) -> list[VariantKey]:
        """Distinct compiled variants a generation uses, in order of first use: the Inductor compiles."""
        return list(dict.fromkeys(d.variant for d in self.simulate(timesteps, mode) if d.variant is not None))


def make_plan(kinds_present: frozenset[FCKind], config: FCConfig) -> FCPlan:
    blocks = {kind: BlockRule(kind, getattr(config, f"{kind}_skip"), *getattr(config, f"{kind}_timesteps"))
              for kind in config.kinds() if kind in kinds_present}
    uncond = None if config.guidance_distilled else UncondRule(config.uncond_skip, *config.uncond_timesteps)
    plan = FCPlan(blocks, uncond, FreqRule(*config.low_freq_timesteps, config.alpha_low),
                  FreqRule(*config.high_freq_timesteps, config.alpha_high))
    for kind, rule in blocks.items():
        logger.debug("plan: %s attention extrapolates while %g < t < %g except every %d-th call", kind, rule.low,
                     rule.high, rule.skip)
    for kind in sorted(set(config.kinds()) - kinds_present):
        logger.debug("plan: %s is configured but no %s attention site is cached in this graph", kind, kind)
    if uncond is not None:
        logger.debug("plan: the unconditional branch is skipped while %g < t < %g except on step 0 and every %d-th",
                     uncond.low, uncond.high, uncond.skip)
    return plan
