"""FasterCache stage 6, dispatch: the callable Dynamo runs on every call of the denoiser.

Per call: read the timestep, place the call in its step (batched, distilled, or the conditional /
unconditional call of a sequential step), ask the plan, check every cached tensor it would read, run
the variant (rewritten and compiled on first use), keep what it wrote, and return the graph outputs.

State is kept per model instance (keyed by the caller's first parameter, as for PAB), per generation:

- block caches `[t2, t]` per cached attention output, at the conditional batch. The first value fills
  both slots, and every call that ran a graph rotates them, extrapolated values included (diffusers'
  faster_cache.py:473-476). After a batched full step the conditional half is copied out, so that the
  cache does not keep the 2B tensor alive (diffusers keeps a view);
- `R_low, R_high`: the low/high-frequency parts of `uncond - cond` in real space, fp32, from the last
  step that ran both branches, and `alpha`, their compounded weights since then;
- the mode: fixed by the config (distilled, `cfg_calls`), else decided at the second call of a
  generation (same timestep: sequential); until then the first call's outputs are held.

A new generation (counters reset, everything freed) starts when the timestep turns (runtime/base.py,
NOTE [When a generation starts]), on
`cachepass.reset(model)`, and when a diffusers pipeline resets its hooks at the end of `__call__`.

Never a stale read: a block cache, or `R_low/R_high`, is read only when it was written by this graph,
in this generation, for inputs of the same shapes/dtypes/devices, with the shape the variant expects;
otherwise the step computes instead and says why once.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from ...compiler.editing import CacheSlot
from ...compiler.lower import Lowered
from ...errors import ConfigError
from ...options import BackendOptions
from ...report import AttentionReport, variant_reports
from ...runtime.base import GenerationOrder, GenerationWatch, GraphRuntime, end_generation
from ...runtime.registry import state_registry
from ...runtime.store import CacheStore, Entry, Stamp, nbytes, next_stamp, read_problem
from .capture import FCCapture
from .config import FCKind
from .plan import Call, FCDecision, FCPlan, Mode, VariantKey
from .rewrite import build_fc_variant
from .tag import FCTags

logger = logging.getLogger(__name__)

HISTORY_LIMIT = 10_000
VALUE_TENSORS_KEPT = 256  # distinct per-step weight/alpha tuples kept as tensors (alphas compound: bounded)
DELTAS = "fc_frequency_deltas"
_STATES = state_registry()  # first parameter -> ThreadStates of FCState


@dataclass(frozen=True)
class Ran:
    planned: str  # the plan's step kind, e.g. "half+extrapolate-spatial"
    ran: str  # what ran (differs when a read was refused)
    extrapolated: frozenset[FCKind] = frozenset()
    estimated: bool = False  # the unconditional output is an estimate


@dataclass(frozen=True)
class FCStepRecord:
    graph: int  # serial of the graph that ran the call
    generation: int
    iteration: int
    timestep: float
    mode: str  # "pending" for the first call of an "auto" generation
    call: Call | None
    planned: str  # the plan's step kind, e.g. "half+extrapolate-spatial"
    ran: str  # what ran (differs when a read was refused)
    extrapolated: frozenset[FCKind]
    estimated: bool  # the unconditional output is an estimate
    cache_bytes: int  # held after the call

    @property
    def variant(self) -> str:
        return self.ran

    @property
    def pieces(self) -> tuple[str, ...]:
        """The compiled graphs the call ran: none for a sequential unconditional call that is estimated."""
        return () if self.ran == "estimate" else (self.ran,)

    @property
    def reused(self) -> frozenset[str]:
        """What this call did not compute (PAB's `StepRecord.reused`, for report.schedule_line)."""
        return self.extrapolated | (frozenset({"uncond"}) if self.estimated else frozenset())


@dataclass
class FCState:
    """One model instance's FasterCache state (shared by the graphs it runs through)."""

    generation: int = 0
    iteration: int = -1  # the current step; -1 before the first call of a generation
    last_timestep: float | None = None
    order: GenerationOrder = field(default_factory=GenerationOrder)  # this generation's order values
    step_calls: int = 0  # calls seen at the current step
    mode: Mode | None = None
    blocks: CacheStore = field(default_factory=CacheStore)  # [t_2, t] per cached attention output (CacheSlot.ident)
    frequency: CacheStore = field(default_factory=CacheStore)  # DELTAS: (R_low, R_high)
    alpha: tuple[Any, Any] = (1.0, 1.0)
    stamp: Stamp | None = None  # the latest call's (store.next_stamp)
    pending: tuple[Lowered, list[torch.Tensor], Stamp] | None = None  # first call, mode not yet known
    cond_outputs: tuple[list[torch.Tensor], Stamp] | None = None  # sequential: this step's conditional call
    peak_bytes: int = 0  # the most held at once in this generation
    generation_peaks: deque[int] = field(default_factory=lambda: deque(maxlen=100))  # earlier generations
    history: deque[FCStepRecord] = field(default_factory=lambda: deque(maxlen=HISTORY_LIMIT))
    watch: GenerationWatch | None = None  # GraphRuntime.watched: the no-reuse check

    def reset(self) -> None:
        end_generation(self)
        if self.iteration >= 0:
            self.generation_peaks.append(self.peak_bytes)
        self.generation += 1
        self.iteration, self.last_timestep, self.order, self.step_calls, self.mode = -1, None, GenerationOrder(), 0, None
        self.blocks.clear()
        self.frequency.clear()
        self.alpha, self.pending, self.cond_outputs = (1.0, 1.0), None, None
        self.peak_bytes = 0

    @property
    def deltas(self) -> Entry | None:
        """`(R_low, R_high)` of the last step that ran both branches."""
        return self.frequency.get(DELTAS)

    def tensors(self) -> list[torch.Tensor]:
        return [*self.blocks.tensors(), *self.frequency.tensors(), *self._outputs_held()]

    def _outputs_held(self) -> list[torch.Tensor]:
        held = []
        if self.pending is not None:
            held += [t for t in self.pending[1] if isinstance(t, torch.Tensor)]
        if self.cond_outputs is not None:
            held += [t for t in self.cond_outputs[0] if isinstance(t, torch.Tensor)]
        return held

    def cache_bytes(self) -> int:
        """Bytes held now; a storage shared by several tensors (the first `[x, x]`) counts once. Read after
        every call: the stores count their bytes as entries change (NOTE [Bytes held, counted as entries
        change]); only held model outputs, which may share storage with an entry, are walked."""
        if self.pending is None and self.cond_outputs is None:
            return self.blocks.nbytes() + self.frequency.nbytes()  # attention outputs and deltas never share
        return nbytes(self.tensors())


@dataclass(frozen=True)
class FCGraphReport(AttentionReport):
    peak_bytes: int  # the most the reported models' caches held at once in their current generation
    generation_peaks: tuple[int, ...]  # the same, for their earlier generations
    modes: tuple[str, ...]
    half_batch_graph: str  # "batch B" or why there is none

    def step_table(self, fmt: str = "simple") -> str:
        from tabulate import tabulate

        rows = [(r.generation, r.iteration, f"{r.timestep:g}", r.mode, r.call or "-", r.ran,
                 "estimated" if r.estimated else "-", ", ".join(sorted(r.extrapolated)) or "-", f"{r.cache_bytes:,}")
                for r in self.steps]
        return tabulate(rows, headers=("generation", "step", "timestep", "mode", "call", "ran", "uncond",
                                       "extrapolated", "cache bytes"), tablefmt=fmt)

    def head(self) -> str:
        return (f"graph {self.serial}: FasterCache ({self.reason}), {self.graph_nodes} nodes, half-batch graph: "
                f"{self.half_batch_graph}; cache holds {self.cache_bytes:,} bytes now, peak {self.peak_bytes:,} "
                f"bytes this generation")


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
        self._masks: dict[tuple, torch.Tensor] = {}
        self._value_tensors: dict[tuple, torch.Tensor] = {}  # _values_tensor's
        self._fixed_mode: Mode | None = ("distilled" if self.config.guidance_distilled else
                                         None if self.config.cfg_calls == "auto" else self.config.cfg_calls)
        self._num_outputs = self.captured.num_outputs
        self._device, self._mask_size = _prediction_layout(self.fc)
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
        if state.iteration < 0 and state.mode is None:
            state.mode = self._fixed_mode
        same_timestep = state.last_timestep == timestep
        if state.pending is not None:
            self._resolve(state, "sequential" if same_timestep else "batched")
        if state.mode == "sequential" and same_timestep and state.iteration >= 0:
            if state.step_calls >= 2:
                raise ConfigError(f"cachepass FasterCache: a third call at timestep {timestep:g} in one step; "
                                  "sequential CFG makes two calls per timestep (conditional, then unconditional). "
                                  "For schedulers that repeat timesteps (Heun), set cfg_calls='batched' with "
                                  "batched CFG, or reset between calls.")
            state.step_calls += 1
            return "uncond"
        state.iteration += 1
        state.step_calls = 1
        return "cond" if state.mode == "sequential" else None

    def _resolve(self, state: FCState, mode: Mode) -> None:
        lowered, outputs, stamp = state.pending
        state.pending = None
        state.mode = mode
        logger.debug("dispatch: CFG calls are %s (decided at the second call)", mode)
        if mode == "batched":
            self._after_full_batched(state, lowered, outputs, stamp)
        else:
            self._store_blocks(state, lowered.variant.writes, self._writes(lowered, outputs), stamp, halve=False)
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
            problem = self._half_problem(state, args, stamp)
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
        state.alpha = self._next_alpha(state, decision.timestep, args)
        half_args = [args[i].chunk(2, dim=0)[1] if sliced else args[i] for i, sliced in half.arg_map]
        outputs = self._run(lowered, half_args, self._extras(lowered, state))
        self._store_blocks(state, lowered.variant.writes, self._writes(lowered, outputs), stamp, halve=False)
        results = list(outputs[: self._num_outputs])
        if not lowered.variant.estimate:
            cond = results[self.fc.output_index]
            results[self.fc.output_index] = torch.cat([self._estimate(cond, state), cond], dim=0)
        return results, Ran(decision.step_kind, lowered.variant.name, kinds, True)

    def _distilled(self, state: FCState, timestep: float, args: Sequence[Any], signature: tuple):
        decision = self.plan.decide(state.iteration, timestep, "distilled", have_cache=bool(state.blocks))
        stamp = self._stamp(state, signature)
        kinds = self._readable(decision.variant.extrapolate, state, stamp, self.fc_tags, decision)
        lowered = self.variant(VariantKey("full", kinds))
        outputs = self._run(lowered, args, self._extras(lowered, state))
        self._store_blocks(state, lowered.variant.writes, self._writes(lowered, outputs), stamp, halve=False)
        return list(outputs[: self._num_outputs]), Ran(decision.step_kind, lowered.variant.name, kinds)

    def _sequential(self, state: FCState, timestep: float, args: Sequence[Any], signature: tuple, call: Call):
        decision = self.plan.decide(state.iteration, timestep, "sequential", call, have_cache=bool(state.blocks))
        stamp = self._stamp(state, signature)
        if call == "cond":
            kinds = self._readable(decision.variant.extrapolate, state, stamp, self.fc_tags, decision)
            lowered = self.variant(VariantKey("full", kinds))
            outputs = self._run(lowered, args, self._extras(lowered, state))
            self._store_blocks(state, lowered.variant.writes, self._writes(lowered, outputs), stamp, halve=False)
            results = list(outputs[: self._num_outputs])
            state.cond_outputs = ([self._keep(o) for o in results], stamp)
            return results, Ran(decision.step_kind, lowered.variant.name, kinds)
        cond, state.cond_outputs = state.cond_outputs, None  # only this step's unconditional call needs it
        cond_ok = cond is not None and cond[1] == stamp
        if decision.variant is None:
            problem = self._deltas_problem(state, stamp) or (
                None if cond_ok else "the conditional call of this step had inputs of other shapes")
            if problem is None:
                state.alpha = self._next_alpha(state, decision.timestep, args)
                results = list(cond[0])
                results[self.fc.output_index] = self._estimate(results[self.fc.output_index], state)
                return results, Ran("estimate", "estimate", estimated=True)
            self._warn_once(f"seq:{problem.split(':')[0]}", f"cachepass FasterCache: not estimating the "
                            f"unconditional call at step {state.iteration} (timestep {timestep:g}): {problem}; "
                            f"computing it instead.")
        lowered = self.variant(VariantKey("full"))
        outputs = self._run(lowered, args, self._extras(lowered, state))  # writes dropped: cond outputs only
        results = list(outputs[: self._num_outputs])
        if cond_ok:
            self._store_deltas(state, results[self.fc.output_index], cond[0][self.fc.output_index], stamp)
        return results, Ran(decision.step_kind, "full")

    # -- caches ---------------------------------------------------------------------------------
    def _after_full_batched(self, state: FCState, lowered: Lowered, outputs: Sequence[torch.Tensor],
                            stamp: Stamp) -> None:
        batch = outputs[self.fc.output_index].shape[0]
        if batch % 2:
            state.reset()
            raise ConfigError(
                f"cachepass FasterCache: the model is called once per step with batch {batch}, which holds no "
                f"[uncond, cond] halves: FasterCache's CFG-Cache needs classifier-free guidance. Set "
                f"is_guidance_distilled=True (cachepass.FCConfig(guidance_distilled=True)) to extrapolate attention "
                f"only, or run CFG as two calls per timestep, conditional first.")
        in_graph = lowered.variant.halves  # NOTE [The conditional half, copied in the graph]
        self._store_blocks(state, lowered.variant.writes, self._writes(lowered, outputs, halves=in_graph), stamp,
                           halve=not in_graph)
        if lowered.variant.deltas:
            low, high = outputs[-2], outputs[-1]
            state.frequency.put(DELTAS, stamp, self._keep(low), self._keep(high))
            state.alpha = (1.0, 1.0)
        else:
            uncond, cond = outputs[self.fc.output_index].chunk(2, dim=0)
            self._store_deltas(state, uncond, cond, stamp)

    def _store_blocks(self, state: FCState, slots: Sequence[CacheSlot], tensors: Sequence[torch.Tensor],
                      stamp: Stamp, halve: bool) -> None:
        for slot, tensor in zip(slots, tensors):
            if halve:  # a copy, so that the cache does not hold the 2B tensor (diffusers keeps a view)
                # (beside the graph only where the graph gives no halves: a symbolic or odd batch)
                value = tensor.chunk(2, dim=0)[1].clone(memory_format=torch.contiguous_format)
            else:
                value = tensor.clone() if self._cudagraphs else tensor.contiguous()
            old = state.blocks.get(slot.ident)
            t2 = old.tensors[1] if old is not None and old.stamp == stamp else value  # [x, x] the first time
            state.blocks.put(slot.ident, stamp, t2, value)

    def _store_deltas(self, state: FCState, uncond: torch.Tensor, cond: torch.Tensor, stamp: Stamp) -> None:
        delta = (uncond - cond).float()
        height, width = delta.shape[-2:]
        low = torch.fft.irfft2(torch.fft.rfft2(delta) * self._mask(height, width, delta.device), s=(height, width))
        state.frequency.put(DELTAS, stamp, low.contiguous(), (delta - low).contiguous())
        state.alpha = (1.0, 1.0)

    def _estimate(self, cond: torch.Tensor, state: FCState) -> torch.Tensor:
        """The unconditional output, beside the graph: `c + a_l R_l + a_h R_h` (real space)."""
        low_weight, high_weight = state.alpha
        low, high = state.deltas.tensors
        return (cond.float() + low * low_weight + high * high_weight).to(cond.dtype)

    def _next_alpha(self, state: FCState, timestep: float, args: Sequence[Any]) -> tuple[Any, Any]:
        """diffusers multiplies the stored deltas by the frequency callbacks on every skip step (l.307-312); the
        callbacks get the calling model, as diffusers passes its own."""
        root = self.model_of(args)
        config = self.config
        low = config.low_freq_weight(root) if config.low_freq_weight else self.plan.low_freq.weight(timestep)
        high = config.high_freq_weight(root) if config.high_freq_weight else self.plan.high_freq.weight(timestep)
        return state.alpha[0] * low, state.alpha[1] * high

    def _mask(self, height: int, width: int, device: torch.device) -> torch.Tensor:
        """diffusers' centred low-pass disc (faster_cache.py:636-654), un-shifted, on rfft's half plane."""
        key = (height, width, device)
        mask = self._masks.get(key)
        if mask is None:
            radius = min(height, width) // 5
            y, x = torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
            disc = (x - width // 2) ** 2 + (y - height // 2) ** 2 <= radius ** 2
            mask = self._masks[key] = torch.fft.ifftshift(disc)[:, : width // 2 + 1].float().to(device)
        return mask

    # -- checks -----------------------------------------------------------------------------------
    def _half_problem(self, state: FCState, args: Sequence[Any], stamp: Stamp) -> str | None:
        half = self.fc.half
        if half is None:
            raise ConfigError(f"cachepass FasterCache cannot skip the unconditional branch at step "
                              f"{state.iteration}: {self.fc.half_reason}.")
        for index, shape in half.input_shapes:
            full_index, sliced = half.arg_map[index]
            value = args[full_index]
            actual = (value.shape[0] // 2, *value.shape[1:]) if sliced else tuple(value.shape)
            if tuple(actual) != shape:
                return (f"the half-batch graph was captured for inputs {shape}, this call's conditional half is "
                        f"{tuple(actual)} (a static graph per half batch)")
        return self._deltas_problem(state, stamp)

    def _deltas_problem(self, state: FCState, stamp: Stamp) -> str | None:
        if state.deltas is None:
            return "no frequency deltas: no step of this generation ran both branches"
        return read_problem(state.deltas, "the frequency deltas", stamp)

    def _readable(self, kinds: frozenset[FCKind], state: FCState, stamp: Stamp, tags: FCTags,
                  decision: FCDecision) -> frozenset[FCKind]:
        readable = set()
        for kind in kinds:
            problem = self._read_problem(kind, state, stamp, tags)
            if problem is None:
                readable.add(kind)
            else:
                self._warn_once(f"{kind}:{problem.split(':')[0]}",
                                f"cachepass FasterCache: not extrapolating {kind} attention at step "
                                f"{decision.iteration} (timestep {decision.timestep:g}): {problem}; computing it "
                                f"instead.")
        return frozenset(readable)

    def _read_problem(self, kind: FCKind, state: FCState, stamp: Stamp, tags: FCTags) -> str | None:
        for slot in tags.slots:
            if slot.kind == kind:
                problem = read_problem(state.blocks.get(slot.ident), f"{slot.site} output {slot.index}", stamp,
                                       slot.spec)
                if problem is not None:
                    return problem
        return None

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
        """Inputs after the graph's own, in the order rewrite.py appended them."""
        variant = lowered.variant
        extras: list[torch.Tensor] = []
        device = self._device
        if variant.reads:
            weight = self.config.attention_weight
            values = [weight(self.fc_tags.module(slot.site)) if callable(weight) else weight for slot in variant.reads]
            extras.append(self._values_tensor(values))
            for slot in variant.reads:
                extras += state.blocks.get(slot.ident).tensors  # t_2, t
        if variant.estimate:
            extras += [*state.deltas.tensors, self._values_tensor(list(state.alpha))]
        if variant.deltas:
            extras.append(self._mask(*self._mask_size, device))
        return extras

    def _values_tensor(self, values: list[Any]) -> torch.Tensor:
        """Per-step numbers (weights, alphas) as one fp32 tensor input. Equal numbers give the same tensor
        again: graphs never write their inputs, and a weight that stays 0.5 costs no new tensor per step."""
        try:
            key = tuple(values)
            tensor = self._value_tensors.get(key)
        except TypeError:  # an unhashable value (a callback returned an array): a tensor of its own
            return _as_tensor(values, self._device)
        if tensor is None:
            if len(self._value_tensors) >= VALUE_TENSORS_KEPT:
                self._value_tensors.clear()
            tensor = _as_tensor(values, self._device)
            if not any(isinstance(v, torch.Tensor) for v in values):  # a tensor value may change in place
                self._value_tensors[key] = tensor
        return tensor

    def _writes(self, lowered: Lowered, outputs: Sequence[torch.Tensor], halves: bool = False) -> Sequence[torch.Tensor]:
        """The variant's cache writes among its outputs, or the conditional halves that follow them."""
        count = len(lowered.variant.writes)
        start = self._num_outputs + (count if halves else 0)
        return outputs[start: start + count]

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
        states, steps = self.reported(owner_ids)
        variants = variant_reports(self.lowered, [r.ran for r in steps], reads_per_slot=2)  # [t_2, t] per slot
        half = self.fc.half
        return FCGraphReport(
            self.serial, True, self.config.describe(), len(self.captured.gm.graph.nodes), variants,
            sum(s.cache_bytes() for s in states), steps, self.plan, sites=self.tags.sites, rejected=self.tags.rejected,
            peak_bytes=max((s.peak_bytes for s in states), default=0),
            generation_peaks=tuple(p for s in states for p in s.generation_peaks),
            modes=tuple(s.mode or "pending" for s in states if s.iteration >= 0),
            half_batch_graph=f"batch {half.batch}" if half is not None else f"none ({self.fc.half_reason})")

def _as_tensor(values: list[Any], device: torch.device) -> torch.Tensor:
    """Per-step values as one fp32 tensor input (callbacks may return tensors: no host sync for those)."""
    if any(isinstance(v, torch.Tensor) for v in values):
        return torch.stack([torch.as_tensor(v, dtype=torch.float32, device=device).reshape(()) for v in values])
    tensor = torch.tensor(values, dtype=torch.float32)
    return tensor.to(device, non_blocking=True) if device.type != "cpu" else tensor


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
