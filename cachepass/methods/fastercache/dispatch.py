"""FasterCache stage 6, dispatch: the callable Dynamo runs on every call of the denoiser.

Per call: read the timestep, place the call in its step (batched, distilled, or the conditional /
unconditional call of a sequential step), ask the plan, check every cached tensor it would read, run
the variant (rewritten and compiled on first use), keep what it wrote, and return the graph outputs.

Its parts, by concern: placement.py places the call in its step (the CFG mode); state.py holds the per-model
state, its stores and the checks before a read (never a stale read); frequency.py estimates the unconditional
output from the frequency deltas; inputs.py packs a variant's extra inputs and finds its cache writes;
report.py reports. This file runs them in order, per mode.

A new generation (counters reset, everything freed) starts when the timestep turns (runtime/base.py,
NOTE [When a generation starts]), on
`cachepass.reset(model)`, and when a diffusers pipeline resets its hooks at the end of `__call__`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import torch

from ...compiler.lower import Lowered
from ...options import BackendOptions
from ...runtime.base import GraphRuntime
from ...runtime.registry import state_registry
from ...runtime.store import Stamp, next_stamp
from .capture import FCCapture
from .config import FCKind
from .frequency import FrequencyDeltas, estimate, next_alpha, with_estimate
from .inputs import InputPacker, cache_writes
from .placement import check_cfg_batch, fixed_mode, next_call, pending_mode, start_generation_mode
from .plan import Call, FCDecision, FCPlan, Mode, VariantKey
from .report import FCGraphReport, graph_report
from .rewrite import build_fc_variant
from .state import DELTAS, FCState, FCStepRecord, Ran, deltas_problem, half_problem, kind_problem, store_blocks
from .tag import FCTags

logger = logging.getLogger(__name__)

_STATES = state_registry()  # first parameter -> ThreadStates of FCState


class FasterCacheGraph(GraphRuntime):
    """What the cachepass backend returns to Dynamo for one captured graph under FasterCache."""

    _states = _STATES
    reused_what = "attention and no unconditional branch"

    first_variants = (VariantKey("full"),)  # every generation starts with it
    timesteps_from = "schedule"
    stamp_at_begin = False  # each path stamps its call once it is placed

    def __init__(self, captured: FCCapture, tags: FCTags, half_tags: FCTags | None, plan: FCPlan,
                 options: BackendOptions) -> None:
        self.fc = captured
        self.half_tags = half_tags
        super().__init__(captured.full, tags, plan, options)

    def prepare(self, tags: FCTags) -> None:
        self.fc_tags = tags
        self.tags = tags.result  # the registry protocol: sites with FasterCache's kinds
        self._fixed_mode: Mode | None = fixed_mode(self.config)
        self._num_outputs = self.captured.num_outputs
        self._device, self._mask_size = _prediction_layout(self.fc)
        self._deltas = FrequencyDeltas()
        self._packer = InputPacker(self._device)
        self._halves_in_graph = self._fixed_mode in (None, "batched") and _halvable(tags, self.half_tags)

    def timestep_callback(self) -> Any:
        return self.config.current_timestep_callback

    def _timesteps(self, args: Sequence[Any], state: Any = None) -> tuple[float, float]:
        timestep, order = super()._timesteps(args)
        self._check_scale(timestep, state)  # before a rise resets the state: its first call only
        return timestep, order

    # -- the hot path -----------------------------------------------------------------------
    def __call__(self, *args: Any) -> list[torch.Tensor]:
        state, _, _, timestep, _, signature, _ = self.begin_step(args)
        call = self._place(state, timestep)
        if state.mode is None:
            outputs, ran = self._first_call(state, timestep, args, signature)
        elif state.mode == "batched":
            outputs, ran = self._batched(state, timestep, args, signature)
        elif state.mode == "distilled":
            outputs, ran = self._distilled(state, timestep, args, signature)
        else:
            outputs, ran = self._sequential(state, timestep, args, signature, call)
        state.last_timestep = timestep
        self.watched(state).step(state.iteration, timestep, bool(ran.extrapolated or ran.estimated))
        held = state.cache_bytes()
        state.peak_bytes = max(state.peak_bytes, held)
        state.history.append(FCStepRecord(self.serial, state.generation, state.iteration, timestep,
                                          state.mode or "pending", call, ran.planned, ran.ran, ran.extrapolated,
                                          ran.estimated, held))
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("dispatch: generation %d step %d t=%g %s%s ran %s (planned %s), extrapolated %s, "
                         "uncond %s, cache %d bytes", state.generation, state.iteration, timestep,
                         state.mode or "pending", f" {call}" if call else "", ran.ran, ran.planned,
                         sorted(ran.extrapolated) or "-", "estimated" if ran.estimated else "computed", held)
        return outputs

    def _place(self, state: FCState, timestep: float) -> Call | None:
        """Start a step or continue one; resolves the mode at the second call of an "auto" generation."""
        start_generation_mode(state, self._fixed_mode)
        if state.pending is not None:
            self._resolve(state, pending_mode(state, timestep))
        return next_call(state, timestep)

    def _resolve(self, state: FCState, mode: Mode) -> None:
        lowered, outputs, stamp = state.pending
        state.pending = None
        state.mode = mode
        logger.debug("dispatch: CFG calls are %s (decided at the second call)", mode)
        if mode == "batched":
            self._after_full_batched(state, lowered, outputs, stamp)
        else:
            self._store_blocks(state, lowered, outputs, stamp)
            state.cond_outputs = ([self._keep(o) for o in outputs[: self._num_outputs]], stamp)

    # -- the modes ----------------------------------------------------------------------------
    def _first_call(self, state: FCState, timestep: float, args: Sequence[Any], signature: tuple):
        """The first call of an "auto" generation: compute, and keep the outputs until the mode is known."""
        lowered = self.variant(VariantKey("full"))
        outputs = self._run(lowered, args, self._extras(lowered, state))
        stamp = self._stamp(state, signature)
        state.pending = (lowered, [self._keep(o) for o in outputs], stamp)
        return list(outputs[: self._num_outputs]), Ran("full", "full")

    def _batched(self, state: FCState, timestep: float, args: Sequence[Any], signature: tuple):
        decision = self.plan.decide(state.iteration, timestep, "batched")
        stamp = self._stamp(state, signature)
        if decision.variant.graph == "half":
            problem = half_problem(self.fc, state, args, stamp)
            if problem is None:
                return self._half_step(state, decision, args, stamp)
            self._warn_once(f"half:{problem.split(':')[0]}", f"cachepass FasterCache: not skipping the "
                            f"unconditional branch at step {state.iteration} (timestep {timestep:g}): {problem}; "
                            f"computing both branches instead.")
        lowered = self.variant(VariantKey("full"))
        outputs = self._run(lowered, args, self._extras(lowered, state))
        self._after_full_batched(state, lowered, outputs, stamp)
        return list(outputs[: self._num_outputs]), Ran(decision.step_kind, "full")

    def _half_step(self, state: FCState, decision: FCDecision, args: Sequence[Any], stamp: Stamp):
        half = self.fc.half
        kinds = self._readable(decision.variant.extrapolate, state, stamp, self.half_tags, decision)
        lowered = self.variant(VariantKey("half", kinds))
        state.alpha = next_alpha(state, self.config, self.plan, self.model_of(args), decision.timestep)
        outputs = self._run(lowered, half.args(args), self._extras(lowered, state))
        self._store_blocks(state, lowered, outputs, stamp)
        results = list(outputs[: self._num_outputs])
        if not lowered.variant.estimate:
            cond = results[self.fc.output_index]
            results[self.fc.output_index] = with_estimate(cond, state)
        return results, Ran(decision.step_kind, lowered.variant.name, kinds, True)

    def _distilled(self, state: FCState, timestep: float, args: Sequence[Any], signature: tuple):
        decision = self.plan.decide(state.iteration, timestep, "distilled", have_cache=bool(state.blocks))
        stamp = self._stamp(state, signature)
        kinds = self._readable(decision.variant.extrapolate, state, stamp, self.fc_tags, decision)
        lowered = self.variant(VariantKey("full", kinds))
        outputs = self._run(lowered, args, self._extras(lowered, state))
        self._store_blocks(state, lowered, outputs, stamp)
        return list(outputs[: self._num_outputs]), Ran(decision.step_kind, lowered.variant.name, kinds)

    def _sequential(self, state: FCState, timestep: float, args: Sequence[Any], signature: tuple, call: Call):
        decision = self.plan.decide(state.iteration, timestep, "sequential", call, have_cache=bool(state.blocks))
        stamp = self._stamp(state, signature)
        if call == "cond":
            kinds = self._readable(decision.variant.extrapolate, state, stamp, self.fc_tags, decision)
            lowered = self.variant(VariantKey("full", kinds))
            outputs = self._run(lowered, args, self._extras(lowered, state))
            self._store_blocks(state, lowered, outputs, stamp)
            results = list(outputs[: self._num_outputs])
            state.cond_outputs = ([self._keep(o) for o in results], stamp)
            return results, Ran(decision.step_kind, lowered.variant.name, kinds)
        cond, state.cond_outputs = state.cond_outputs, None  # only this step's unconditional call needs it
        cond_ok = cond is not None and cond[1] == stamp
        if decision.variant is None:
            problem = deltas_problem(state, stamp) or (
                None if cond_ok else "the conditional call of this step had inputs of other shapes")
            if problem is None:
                state.alpha = next_alpha(state, self.config, self.plan, self.model_of(args), decision.timestep)
                results = list(cond[0])
                results[self.fc.output_index] = estimate(results[self.fc.output_index], state)
                return results, Ran("estimate", "estimate", estimated=True)
            self._warn_once(f"seq:{problem.split(':')[0]}", f"cachepass FasterCache: not estimating the "
                            f"unconditional call at step {state.iteration} (timestep {timestep:g}): {problem}; "
                            f"computing it instead.")
        lowered = self.variant(VariantKey("full"))
        outputs = self._run(lowered, args, self._extras(lowered, state))  # writes dropped: cond outputs only
        results = list(outputs[: self._num_outputs])
        if cond_ok:
            self._deltas.store(state, results[self.fc.output_index], cond[0][self.fc.output_index], stamp)
        return results, Ran(decision.step_kind, "full")

    # -- caches ---------------------------------------------------------------------------------
    def _after_full_batched(self, state: FCState, lowered: Lowered, outputs: Sequence[torch.Tensor],
                            stamp: Stamp) -> None:
        check_cfg_batch(state, outputs[self.fc.output_index].shape[0])
        in_graph = lowered.variant.halves  # NOTE [The conditional half, copied in the graph]
        store_blocks(state, lowered.variant.writes, cache_writes(lowered, outputs, self._num_outputs, in_graph), stamp,
                     halve=not in_graph, cudagraphs=self._cudagraphs)
        if lowered.variant.deltas:
            low, high = outputs[-2], outputs[-1]
            state.frequency.put(DELTAS, stamp, self._keep(low), self._keep(high))
            state.alpha = (1.0, 1.0)
        else:
            uncond, cond = outputs[self.fc.output_index].chunk(2, dim=0)
            self._deltas.store(state, uncond, cond, stamp)

    def _store_blocks(self, state: FCState, lowered: Lowered, outputs: Sequence[torch.Tensor], stamp: Stamp) -> None:
        """Keep a variant's cache writes as they are (no conditional half to take)."""
        store_blocks(state, lowered.variant.writes, cache_writes(lowered, outputs, self._num_outputs), stamp,
                     halve=False, cudagraphs=self._cudagraphs)

    # -- checks -----------------------------------------------------------------------------------
    def _readable(self, kinds: frozenset[FCKind], state: FCState, stamp: Stamp, tags: FCTags,
                  decision: FCDecision) -> frozenset[FCKind]:
        readable = set()
        for kind in kinds:
            problem = kind_problem(kind, state, stamp, tags)
            if problem is None:
                readable.add(kind)
            else:
                self._warn_once(f"{kind}:{problem.split(':')[0]}",
                                f"cachepass FasterCache: not extrapolating {kind} attention at step "
                                f"{decision.iteration} (timestep {decision.timestep:g}): {problem}; computing it "
                                f"instead.")
        return frozenset(readable)

    # -- running a variant --------------------------------------------------------------------
    def rewrite(self, key: VariantKey) -> Any:
        half = key.graph == "half"
        captured = self.fc.half.captured if half else self.captured
        tags = self.half_tags if half else self.fc_tags
        estimate = half and self.config.estimate == "graph"
        # in-graph deltas need a static (H, W) for the mask input; else they run beside the graph
        deltas = not half and self.config.deltas == "graph" and self.fc.half is not None and bool(self._mask_size)
        # the batched full step's block writes, halved in the graph; a full step that extrapolates is distilled
        # or sequential, whose writes are kept whole
        halves = not half and not key.extrapolate and self._halves_in_graph
        return build_fc_variant(captured, tags, key, self.fc.output_index, estimate, deltas, halves)

    def _run(self, lowered: Lowered, args: Sequence[Any], extras: list[torch.Tensor]) -> list[torch.Tensor]:
        if self._cudagraphs:
            torch.compiler.cudagraph_mark_step_begin()  # a new replay may reuse the last one's output memory
        return lowered.fn(*args, *extras)

    def _extras(self, lowered: Lowered, state: FCState) -> list[torch.Tensor]:
        mask = self._deltas.mask(*self._mask_size, self._device) if lowered.variant.deltas else None
        return self._packer.extras(lowered, state, self.config.attention_weight, self.fc_tags, mask)

    def _keep(self, tensor: Any) -> Any:
        """Outputs of a CUDA graph replay live in its pool until the next replay: copy what is kept."""
        return tensor.clone() if self._cudagraphs and isinstance(tensor, torch.Tensor) else tensor

    # -- state --------------------------------------------------------------------------------------
    def _check_scale(self, value: float, state: FCState) -> None:
        if self.config.current_timestep_callback is None and state.iteration < 0 and value <= 1.0 \
                and self._max_window() > 1.0:
            self._warn_once("scale", f"cachepass FasterCache: the model's timestep input is {value:g}, but the "
                                     f"timestep ranges reach {self._max_window():g}: the model may take "
                                     f"normalised timesteps (Flux, SD3). Pass current_timestep_callback="
                                     f"lambda: pipe.current_timestep.")

    def reuse_windows(self) -> str:
        config = self.config
        return ", ".join(f"{name} ({low:g}, {high:g})" for name, (low, high) in (
            ("spatial", config.spatial_timesteps), ("temporal", config.temporal_timesteps),
            ("uncond", config.uncond_timesteps)))

    def _max_window(self) -> float:
        config = self.config
        return max(config.spatial_timesteps[1], config.temporal_timesteps[1], config.uncond_timesteps[1])

    def _stamp(self, state: FCState, signature: tuple) -> Stamp:
        return next_stamp(state, self.serial, None, signature)  # one state for every cache_context: no context

    def new_state(self) -> FCState:
        return FCState()

    def report(self, owner_ids: set[int] | None = None) -> FCGraphReport:
        return graph_report(self, owner_ids)


def _halvable(tags: FCTags, half_tags: FCTags | None) -> bool:
    """Whether every cached output has a static batch that is twice the half-batch graph's: then the full
    graph can copy their conditional halves (NOTE [The conditional half, copied in the graph])."""
    if half_tags is None or not tags.slots:
        return False
    half_batch = {slot.ident: slot.spec.shape[0] if slot.spec.shape else None for slot in half_tags.slots}
    for slot in tags.slots:
        batch = slot.spec.shape[0] if slot.spec.shape else None
        if not isinstance(batch, int) or batch % 2 or half_batch.get(slot.ident) != batch // 2:
            return False
    return True


def _prediction_layout(captured: FCCapture) -> tuple[torch.device, tuple[int, int] | tuple[()]]:
    """The prediction output's device, and its static (H, W) (empty when symbolic)."""
    outputs = captured.full.gm.graph.output_node().args[0]
    outputs = outputs if isinstance(outputs, (tuple, list)) else (outputs,)
    value = outputs[captured.output_index].meta.get("example_value")
    if not isinstance(value, torch.Tensor):
        return torch.device("cpu"), ()
    size = tuple(value.shape[-2:]) if value.dim() >= 2 else ()
    return value.device, (tuple(int(s) for s in size) if all(isinstance(s, int) for s in size) and size else ())
