"""Per-model state kept per diffusers `cache_context` (FirstBlockCache, MagCache, TaylorSeer): a model's
`ContextStates` holds one `ContextState` per context name, each with its own generation, counters and
cache store; `VariantStepRecord` is the step record of a method that runs one variant per step."""

from __future__ import annotations

import itertools
from collections import deque
from dataclasses import dataclass, field
from typing import Any, ClassVar

from .base import HISTORY_LIMIT, GenerationOrder, GenerationWatch, end_generation
from .calibrate import CalibratorState
from .store import CacheStore, Stamp

_GENERATIONS = itertools.count(1)


@dataclass(frozen=True)
class VariantStepRecord:
    """One step of a method that runs one compiled variant per step, per cache_context (MagCache,
    TaylorSeer); `skipped` names what a step that did not compute reused."""

    skipped: ClassVar[str] = "blocks"
    graph: int  # serial of the graph that ran the step
    generation: int
    context: str | None
    iteration: int
    timestep: float | None
    compute: bool
    variant: str

    @property
    def reused(self) -> frozenset[str]:
        return frozenset() if self.compute else frozenset({self.skipped})

    @property
    def pieces(self) -> tuple[str, ...]:
        return (self.variant,)


@dataclass
class ContextState:
    """One cache_context's FirstBlockCache state."""

    generation: int = field(default_factory=lambda: next(_GENERATIONS))
    iteration: int = 0
    order: GenerationOrder = field(default_factory=GenerationOrder)  # this generation's timesteps
    skips: int = 0
    values: list[float] = field(default_factory=list)  # this generation's decision values
    store: CacheStore = field(default_factory=CacheStore)
    stamp: Stamp | None = None  # the latest call's (store.next_stamp)
    watch: GenerationWatch | None = None  # GraphRuntime.watched, for a method that feeds it (TaylorSeer)
    calibrator: CalibratorState | None = None  # a composed residual calibrator's, this generation (calibrate.py)

    def end_step(self, value: float | None, order: float | None, compute: bool) -> None:
        """A step of this context ran: its decision value (None: none), its order value, whether it computed."""
        if value is not None:
            self.values.append(value)
        self.iteration += 1
        self.order.follow(order)
        self.skips += not compute

    def reset(self) -> None:
        end_generation(self)
        self.generation = next(_GENERATIONS)
        self.iteration, self.order, self.skips = 0, GenerationOrder(), 0
        self.values.clear()
        self.store.clear()
        self.calibrator = None


@dataclass
class ContextStates:
    """One model instance's states, by cache_context name (shared by the graphs it runs through)."""

    context_type: ClassVar[type] = ContextState
    contexts: dict[str | None, ContextState] = field(default_factory=dict)
    history: deque[Any] = field(default_factory=lambda: deque(maxlen=HISTORY_LIMIT))

    def context(self, name: str | None) -> Any:
        state = self.contexts.get(name)
        if state is None:
            state = self.contexts[name] = self.new_context()
        return state

    def new_context(self) -> ContextState:
        """A new context's state."""
        return self.context_type()

    def reset(self) -> None:
        """diffusers' StateManager.reset drops every context's state."""
        for state in self.contexts.values():
            state.reset()
        self.contexts.clear()

    def cache_bytes(self) -> int:
        return sum(state.store.nbytes() for state in self.contexts.values())
