"""FasterCache's per-model state: its step record, the state with its two stores, and the checks before a read.

State is kept per model instance (keyed by the caller's first parameter, as for PAB), per generation:

- block caches `[t2, t]` per cached attention output, at the conditional batch. The first value fills
  both slots, and every call that ran a graph rotates them, extrapolated values included (diffusers'
  faster_cache.py:473-476). After a batched full step the conditional half is copied out, so that the
  cache does not keep the 2B tensor alive (diffusers keeps a view);
- `R_low, R_high`: the low/high-frequency parts of `uncond - cond` in real space, fp32, from the last
  step that ran both branches, and `alpha`, their compounded weights since then (frequency.py);
- the mode (placement.py) and, until it is known, the first call's outputs.

Never a stale read: a block cache, or `R_low/R_high`, is read only when it was written by this graph,
in this generation, for inputs of the same shapes/dtypes/devices, with the shape the variant expects
(the `*_problem` functions below; runtime/store.py's `read_problem`).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from ...compiler.editing import CacheSlot
from ...compiler.lower import Lowered
from ...errors import ConfigError
from ...runtime.base import GenerationOrder, GenerationWatch, end_generation
from ...runtime.steps import StepRecord
from ...runtime.store import CacheStore, Entry, Stamp, nbytes, read_problem
from .capture import FCCapture
from .config import FCKind
from .plan import Call, Mode
from .tag import FCTags

HISTORY_LIMIT = 10_000
DELTAS = "fc_frequency_deltas"


@dataclass(frozen=True)
class Ran:
    planned: str  # the plan's step kind, e.g. "half+extrapolate-spatial"
    ran: str  # what ran (differs when a read was refused)
    extrapolated: frozenset[FCKind] = frozenset()
    estimated: bool = False  # the unconditional output is an estimate


@dataclass(frozen=True)
class FCStepRecord(StepRecord):
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
        self.iteration, self.last_timestep, self.step_calls, self.mode = -1, None, 0, None
        self.order = GenerationOrder()
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


def store_blocks(state: FCState, slots: Sequence[CacheSlot], tensors: Sequence[torch.Tensor], stamp: Stamp,
                 halve: bool, cudagraphs: bool) -> None:
    """Rotate each slot's `[t_2, t]` to the call's value (`[x, x]` the first time in a stamp)."""
    for slot, tensor in zip(slots, tensors):
        if halve:  # a copy, so that the cache does not hold the 2B tensor (diffusers keeps a view)
            # (beside the graph only where the graph gives no halves: a symbolic or odd batch)
            value = tensor.chunk(2, dim=0)[1].clone(memory_format=torch.contiguous_format)
        else:
            value = tensor.clone() if cudagraphs else tensor.contiguous()
        old = state.blocks.get(slot.ident)
        t2 = old.tensors[1] if old is not None and old.stamp == stamp else value  # [x, x] the first time
        state.blocks.put(slot.ident, stamp, t2, value)


# -- the checks before a read -------------------------------------------------------------------------
def half_problem(fc: FCCapture, state: FCState, args: Sequence[Any], stamp: Stamp) -> str | None:
    """Why the half-batch graph cannot run this call (its inputs, or the deltas it estimates from), or None."""
    half = fc.half
    if half is None:
        raise ConfigError(f"cachepass FasterCache cannot skip the unconditional branch at step "
                          f"{state.iteration}: {fc.half_reason}.")
    for index, shape in half.input_shapes:
        full_index, sliced = half.arg_map[index]
        value = args[full_index]
        actual = (value.shape[0] // 2, *value.shape[1:]) if sliced else tuple(value.shape)
        if tuple(actual) != shape:
            return (f"the half-batch graph was captured for inputs {shape}, this call's conditional half is "
                    f"{tuple(actual)} (a static graph per half batch)")
    return deltas_problem(state, stamp)


def deltas_problem(state: FCState, stamp: Stamp) -> str | None:
    if state.deltas is None:
        return "no frequency deltas: no step of this generation ran both branches"
    return read_problem(state.deltas, "the frequency deltas", stamp)


def kind_problem(kind: FCKind, state: FCState, stamp: Stamp, tags: FCTags) -> str | None:
    """Why one of the kind's block caches cannot be read (extrapolated from), or None."""
    for slot in tags.slots:
        if slot.kind == kind:
            problem = read_problem(state.blocks.get(slot.ident), f"{slot.site} output {slot.index}", stamp, slot.spec)
            if problem is not None:
                return problem
    return None
