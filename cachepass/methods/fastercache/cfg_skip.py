"""FasterCache's CFG skip around an inner cache (methods/__init__.py, NOTE [What composes]; runtime/cfg_split.py,
NOTE [A CFG skip around a cache]).

Per call, as FasterCache alone in batched mode: diffusers' denoiser-hook rule (plan.py `UncondRule`) decides whether
the call runs the whole CFG batch 2B or its conditional half B; a full call keeps the frequency deltas of
`uncond - cond`, a half call estimates the unconditional output from them (frequency.py). What runs the rows is
not FasterCache's graph but the inner cache's runtime, built by the backend driver on the full capture and on
FasterCache's half-batch capture (capture.py), each with its own state. No attention is extrapolated (a config that
asks for it is refused when the options are read), and the deltas and the estimate run beside the inner graphs
(the inner method owns the graphs, so `estimate`/`deltas` placements have no graph to go into).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from ...compiler.capture import CapturedGraph
from ...errors import ConfigError
from ...report import GraphReport
from ...runtime.base import GraphRuntime
from ...runtime.cfg_split import CFGSplitPlan
from ...runtime.registry import state_registry
from ...runtime.store import next_stamp
from .capture import FCCapture
from .config import FCConfig
from .frequency import FrequencyDeltas, next_alpha, with_estimate
from .placement import check_cfg_batch, next_call, start_generation_mode
from .plan import make_plan
from .state import FCState, FCStepRecord, half_problem

logger = logging.getLogger(__name__)

_STATES = state_registry()  # first parameter -> ThreadStates of FCState (the CFG skip's own)


def cfg_skip_problem(config: FCConfig) -> str | None:
    """Why `config` cannot be a CFG skip around another cache (NOTE [What composes]), with the fields to change."""
    if config.guidance_distilled:
        return ("a guidance-distilled model has no unconditional branch to skip; drop FasterCache from the list "
                "(or is_guidance_distilled=False for a model with CFG)")
    if config.kinds():
        return ("its attention extrapolation does not compose with another cache; clear it: "
                "spatial_attention_block_skip_range=None and temporal_attention_block_skip_range=None (diffusers' "
                "FasterCacheConfig; cachepass.FCConfig: spatial_skip=None, temporal_skip=None); "
                f"this config extrapolates {', '.join(config.kinds())} attention")
    if config.cfg_calls == "sequential":
        return ("it skips the unconditional half of a batched CFG call ([uncond; cond] rows); cfg_calls='sequential' "
                "(two calls per step) is not built yet: batch CFG, cfg_calls='batched' or 'auto'")
    return None


@dataclass(frozen=True)
class CFGRows:
    """FasterCache's captures as the row sets of a CFG skip (`MethodPlugin.cfg_skip_rows`)."""

    fc: FCCapture

    @property
    def full(self) -> CapturedGraph:
        return self.fc.full

    @property
    def half(self) -> CapturedGraph | None:
        return self.fc.half.captured if self.fc.half is not None else None


@dataclass(frozen=True)
class CFGSkipReport(GraphReport):
    """Per call: the rows that ran and whether the unconditional output was estimated; the inner cache's graphs
    report their own chains (one graph per row set)."""

    inner: tuple[int, ...] = ()  # the serials of the inner runtimes' graphs (full, half)

    def head(self) -> str:
        return self.cached_head(f"; the inner cache runs in graphs {', '.join(map(str, self.inner))}")

    def tag_table(self, fmt: str = "simple") -> str:
        return "no tags of its own: the rows run the inner cache's graphs"

    def step_table(self, fmt: str = "simple") -> str:
        from tabulate import tabulate

        rows = [(r.generation, r.iteration, f"{r.timestep:g}", r.ran, "estimated" if r.estimated else "-")
                for r in self.steps]
        return tabulate(rows, headers=("generation", "step", "timestep", "rows", "uncond"), tablefmt=fmt)


class CFGSkipGraph(GraphRuntime):
    """What the backend returns to Dynamo for a FasterCache CFG skip around an inner cache's runtimes."""

    _states = _STATES
    reused_what = "unconditional branch"
    timesteps_from = "schedule"
    stamp_at_begin = False  # stamped once the call is placed

    def __init__(self, rows: CFGRows, full: Any, half: Any, options: Any) -> None:
        self.fc, self.full, self.half = rows.fc, full, half
        config: FCConfig = options.cfg_skip
        super().__init__(rows.full, None, CFGSplitPlan(make_plan(frozenset(), config), full.plan), options)
        self.config = config  # the CFG skip's (GraphRuntime took the inner cache's from options.cache)

    def prepare(self, tagged: Any) -> None:
        self.tags = None
        self._deltas = FrequencyDeltas()
        self._num_outputs = self.captured.num_outputs

    def timestep_callback(self) -> Any:
        return self.options.cfg_skip.current_timestep_callback

    def describe(self) -> str:
        return f"{self.options.cache.describe()} inside {self.options.cfg_skip.describe()}"

    def __call__(self, *args: Any) -> list[torch.Tensor]:
        state, _, _, timestep, _, signature, _ = self.begin_step(args)
        self._place(state, timestep)
        stamp = next_stamp(state, self.serial, None, signature)
        decision = self.plan.outer.decide(state.iteration, timestep, "batched")
        outputs = None
        if decision.skip_uncond:
            problem = half_problem(self.fc, state, args, stamp)
            if problem is None:
                outputs = self._half_step(state, args, timestep)
            else:
                self._warn_once(f"half:{problem.split(':')[0]}", f"cachepass FasterCache: not skipping the "
                                f"unconditional branch at step {state.iteration} (timestep {timestep:g}): {problem}; "
                                f"computing both branches instead.")
        estimated = outputs is not None
        if outputs is None:
            outputs = list(self.full(*args))
            prediction = outputs[self.fc.output_index]
            check_cfg_batch(state, prediction.shape[0])
            self._deltas.store(state, *prediction.chunk(2, dim=0), stamp)
        state.last_timestep = timestep
        self.watched(state).step(state.iteration, timestep, estimated, decision.skip_uncond)
        held = state.cache_bytes()
        state.peak_bytes = max(state.peak_bytes, held)
        rows = "half" if estimated else "full"
        state.history.append(FCStepRecord(self.serial, state.generation, state.iteration, timestep, "batched", None,
                                          decision.step_kind, rows, frozenset(), estimated, held))
        return outputs

    def _place(self, state: FCState, timestep: float) -> None:
        """A new step of a batched generation; the same timestep twice is sequential CFG, not built here."""
        start_generation_mode(state, "batched")
        if state.iteration >= 0 and state.last_timestep == timestep:
            state.reset()
            raise ConfigError(f"cachepass: the model was called twice at timestep {timestep:g}: FasterCache's CFG "
                              f"skip around {self.options.cache.describe()} needs batched CFG (one call per step on "
                              f"[uncond; cond] rows). Batch the CFG branches, or list one cache.")
        next_call(state, timestep)

    def _half_step(self, state: FCState, args: Sequence[Any], timestep: float) -> list[torch.Tensor]:
        """The conditional half through the inner cache's half runtime, the unconditional output estimated."""
        outputs = list(self.half(*self.fc.half.args(args)))
        state.alpha = next_alpha(state, self.config, self.plan.outer, self.model_of(args), timestep)
        cond = outputs[self.fc.output_index]
        outputs[self.fc.output_index] = with_estimate(cond, state)
        return outputs

    def reuse_windows(self) -> str:
        low, high = self.config.uncond_timesteps
        return f"uncond ({low:g}, {high:g})"

    def new_state(self) -> FCState:
        return FCState()

    def report(self, owner_ids: set[int] | None = None) -> CFGSkipReport:
        states, steps = self.reported(owner_ids)
        inner = tuple(g.serial for g in (self.full, self.half) if g is not None)
        return CFGSkipReport(self.serial, True, self.describe(), len(self.captured.gm.graph.nodes), (),
                             sum(s.cache_bytes() for s in states), steps, self.plan, inner=inner)
