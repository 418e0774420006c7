"""Stage 6, dispatch: the callable Dynamo runs every step.

Per call it reads the timestep, asks the plan which kinds to reuse, checks that every cached tensor
it would read is valid, runs the matching compiled variant (building and compiling it the first time
it is needed) and stores what the variant wrote.

State lives per model instance, not per graph: Dynamo serves every instance of a model class from
one graph (their parameters are graph inputs), and one instance may run through several graphs (a
static and a dynamic-shape one, say). The runtime keys its state by the identity of the caller's
first parameter. A state holds the step counter, the generation's timesteps (GenerationOrder), a
generation number, and the latest computed value of every cached tensor. A new generation starts --
counter reset, caches freed -- when the timestep moves against the generation's direction or returns to
its first value (NOTE [When a generation starts]), at a pipeline's end of call, or on `cachepass.reset()`.

Before any read, every cached tensor must have been written by this graph, in this generation, for
inputs of the same shapes, dtypes and devices as the current call, and match the shape the graph
expects for it now. A kind that fails any check is computed instead of read, and the user is told
once why: never a stale read.
"""

from __future__ import annotations

import logging
import math
import sys
import threading
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch.utils.weak import WeakIdKeyDictionary

from ..compiler.capture import CapturedGraph
from ..compiler.lower import Lowered, lower
from ..errors import run_stage
from ..integrations import listen
from ..integrations.parallel import rank_agreement
from .cfg_split import row_set_states
from .registry import register_graph, start_of_denoising_loop
from .store import Stamp, next_stamp

logger = logging.getLogger(__name__)

HISTORY_LIMIT = 10_000
_CONTEXTS: WeakIdKeyDictionary = WeakIdKeyDictionary()  # first parameter -> the listener's cache_context cell
_MODELS: WeakIdKeyDictionary = WeakIdKeyDictionary()  # first parameter -> weakref of the model that owns it


# NOTE [Two threads, one model]
# A server may drive one compiled model from several threads (one request each, weights shared). The
# steps of their generations interleave, so one state per model would mix two requests' step counters and
# caches. Each thread that calls a model gets its own state (its caches, counters, generations); the
# model's `cache_context` is followed per thread too (listen.py), and a pipeline's end-of-call reset
# resets the state of the thread that ran it. States are keyed weakly by the Thread object: a thread's
# states go with it, and a new thread never inherits a dead one's caches.
class ThreadStates:
    """One model's states, one per thread that calls it."""

    def __init__(self) -> None:
        self._by_thread: weakref.WeakKeyDictionary[threading.Thread, Any] = weakref.WeakKeyDictionary()

    def current(self) -> Any | None:
        return self._by_thread.get(threading.current_thread())

    def get_or_make(self, make: Any) -> Any:
        thread = threading.current_thread()
        state = self._by_thread.get(thread)
        if state is None:
            state = self._by_thread[thread] = make()
        return state

    def all(self) -> list[Any]:
        return list(self._by_thread.values())


# NOTE [When a generation starts]
# diffusers' hooks never look at the timestep to find generations: PAB and FasterCache count calls and read
# the pipeline's `current_timestep` only against their windows, FirstBlockCache / MagCache / TaylorSeer count
# their own steps; all of them start afresh only when the pipeline resets them at the end of its call
# (`_reset_stateful_cache`). cachepass follows those resets too (listen.py), and also serves hand-written
# loops, which reset nothing, so it finds generations in what the model is fed. Schedules run one way: most
# feed a falling timestep (999 .. 0), but Lumina-Next, Lumina2, Z-Image and Ideogram 4 feed a rising time
# (`1 - t / 1000`, 0 .. 1). So a generation's direction is set by its first change of timestep, and a new
# generation starts when the timestep moves against that direction or returns to the generation's first
# value (a two-step generation run twice). The same timestep twice in a row is the same step (sequential
# CFG calls). A generation of one distinct timestep has no direction yet: any other value continues it.
@dataclass
class GenerationOrder:
    """The order values (timesteps) of one state's current generation (NOTE [When a generation starts])."""

    first: float | None = None
    last: float | None = None
    direction: int = 0  # +1 rising, -1 falling, 0 not known yet

    def starts_new(self, value: float | None) -> bool:
        """Whether a call fed `value` starts a new generation."""
        if value is None or self.last is None or value == self.last:
            return False
        if value == self.first:
            return True
        return self.direction != 0 and (value > self.last) != (self.direction > 0)

    def follow(self, value: float | None) -> None:
        """Record a call of this generation fed `value`."""
        if value is None:
            return
        if self.first is None:
            self.first = value
        elif self.direction == 0 and value != self.last:
            self.direction = 1 if value > self.last else -1
        self.last = value


# NOTE [A generation that reused nothing]
# A timestep-windowed method (PAB, FasterCache) reuses only while the timestep lies inside its windows. A model
# fed timesteps in another scale (sigmas in [0, 1], t/1000, 0..5000) never enters them and caches nothing,
# which looks exactly like working. A plan that asks for reuse can also find every read refused (inputs that
# change shape at every call, two graphs taking turns): the per-read warning is said once, the generation's
# total never. The user must hear either when the generation ends, however it ends: a timestep's turn (NOTE
# [When a generation starts]), a pipeline's end-of-call reset, `cachepass.reset()` -- all of them
# `state.reset()` -- or the state's garbage collection when a hand-written loop ran one generation and dropped
# the model. The runtime feeds one GenerationWatch per state each step; the watch lives apart from the state so
# that a weakref.finalize on the state can end it after the state is gone (a finalizer must not hold its object).
# weakref.finalize calls it at most once; it is not called at interpreter exit (atexit off), and not while
# the interpreter finalizes, when logging may already be torn down.
@dataclass(eq=False)
class GenerationWatch:
    """What the no-reuse warning needs of one state's current generation."""

    windows: str  # the plan's windows, e.g. "spatial (100, 800)"; "" for a method without windows
    reused_what: str  # "attention", for the message
    warned: set[str]  # the graph's warned-once keys: once per graph, as its other warnings
    steps: int = 0
    reuse_steps: int = 0
    planned_steps: int = 0  # steps whose plan asked for reuse
    refused: str | None = None  # why the generation's first refused read was refused
    high: float = -math.inf  # the timesteps seen
    low: float = math.inf

    def step(self, iteration: int, timestep: float | None, reused: bool, planned: bool | None = None) -> None:
        """One step: whether it reused, and whether its plan asked to (default: the same)."""
        self.steps = iteration + 1
        self.reuse_steps += reused
        self.planned_steps += reused if planned is None else planned
        if timestep is not None:
            self.high, self.low = max(self.high, timestep), min(self.low, timestep)

    def refuse(self, problem: str) -> None:
        """A read the plan asked for was refused (store.read_problem's reason)."""
        if self.refused is None:
            self.refused = problem

    def end(self) -> None:
        """The generation ended: warn once when a whole one (3 steps or more) reused nothing."""
        steps, reused, planned, refused = self.steps, self.reuse_steps, self.planned_steps, self.refused
        high, low = self.high, self.low
        self.steps, self.reuse_steps, self.planned_steps, self.refused = 0, 0, 0, None
        self.high, self.low = -math.inf, math.inf
        if steps < 3 or reused or "no-reuse" in self.warned or not (planned or self.windows):
            return
        self.warned.add("no-reuse")
        if planned:
            logger.warning(f"cachepass: a whole generation of {steps} steps reused no {self.reused_what}, although "
                           f"its plan asked for reuse at {planned} of them: every read was refused (first: "
                           f"{refused}). Keep each generation's inputs in one shape, dtype and device, called "
                           f"through one compiled graph (a pipeline does), or call cachepass.reset(model) where "
                           f"they change.")
            return
        logger.warning(f"cachepass: a whole generation of {steps} steps (timesteps {high:g} .. {low:g}) reused no "
                       f"{self.reused_what}: the windows {self.windows} never matched the timesteps this model "
                       f"receives, so nothing was cached. Give the windows in the model's timestep scale (here "
                       f"{low:g} .. {high:g}), or pass current_timestep_callback (e.g. lambda: "
                       f"pipe.current_timestep, or the scheduler's timestep in a hand-written loop).")


def _end_at_collection(watch: GenerationWatch) -> None:
    """weakref.finalize of a state: its last generation ends (NOTE [A generation that reused nothing])."""
    if not sys.is_finalizing():
        watch.end()


def end_generation(state: Any) -> None:
    """The shared end of a generation, from the state's `reset()`: the no-reuse check of its watch."""
    watch = getattr(state, "watch", None)
    if watch is not None:
        watch.end()


class InstanceNames:
    """The block instances that ran a graph of one block (scope.ScopedGraph names them), for reports."""

    _instances: WeakIdKeyDictionary  # first parameter -> block path
    _clocks: WeakIdKeyDictionary  # first parameter -> the scope.StepClock of the instance's model

    def name_instance(self, owner: torch.Tensor, path: str, clock: Any, model: Any = None) -> None:
        """`model`: the module owning the instance, for a method whose state spans the model's blocks."""
        self._instances[owner] = path
        self._clocks[owner] = clock

    def path_of(self, owner: torch.Tensor | None) -> str | None:
        """The block path of the instance whose first parameter is `owner`."""
        return self._instances.get(owner) if owner is not None else None

    def instance_paths(self, owner_ids: set[int] | None = None) -> list[str]:
        """The paths of the block instances that ran this graph (of the reported models), in model order."""
        return sorted({path for owner, path in self._instances.items() if owner_ids is None or id(owner) in owner_ids},
                      key=_natural)


class GraphRuntime(InstanceNames):
    """What the runtime graphs of every caching method share.

    - per-model state: keyed by the caller's first parameter in the method's own registry
      (`_states`), shared by all the graphs a model runs through; a graph without parameters keeps
      one state of its own;
    - the pipeline listener (listen.py): a diffusers pipeline's end-of-call reset starts a new
      generation for that model;
    - registration for `compiled_graphs`, `report` and `reset`, and warnings said once.
    - the no-reuse warning of a timestep-windowed method (NOTE [A generation that reused nothing]): a
      method whose `reuse_windows()` names windows calls `watched(state).step(...)` every step.
    Subclasses set `_states`, give `new_state()` (states and context states keep `order`, `reset()`
    and `stamp`), `prepare(tagged)` for their own fields and `first_variants`; `end_generation(state, slot)`
    may inspect a generation that ends. Every step starts with `begin_step` (NOTE [One begin-of-step]).
    """

    cached = True
    reused_what = "attention"  # what the no-reuse warning says was not reused
    first_variants: tuple[Any, ...] = ()  # compiled at construction: every generation starts with them
    per_context = False  # one state per diffusers cache_context (its `context(name)`), else one per model
    # where the step's timesteps come from (NOTE [One begin-of-step]): "schedule" (the timestep picks the
    # schedule: the callback's or the model's, the batch agreeing), "input" (the largest of the model's
    # `timestep` input, for generation detection only), "probe" (the method reads it inside its step)
    timesteps_from = "input"
    stamp_at_begin = True  # False: the method stamps its calls itself (FasterCache, once its call is placed)
    _states: WeakIdKeyDictionary

    def __init__(self, captured: CapturedGraph, tagged: Any, plan: Any, options: Any) -> None:
        row_set = getattr(options, "row_set", None)
        if row_set is not None:  # the half rows under a CFG skip: states of their own (cfg_split.py)
            self._states = row_set_states(type(self)._states, row_set)
        self.captured = captured
        self.plan = plan
        self.options = options
        self.config = options.cache
        self.lowered: dict[Any, Lowered] = {}
        self._cudagraphs = options.cudagraphs and on_cuda(captured)
        self._callback = self.timestep_callback()
        self.prepare(tagged)
        self._init_runtime()
        for key in self.variants_at_compile():
            self.compiled(key)

    def describe(self) -> str:
        """The config in words, with a composed calibrator's (reports and logs)."""
        calibration = self.options.calibration
        return self.config.describe() + (f" + {calibration.describe()}" if calibration is not None else "")

    def variants_at_compile(self) -> Sequence[Any]:
        """The variants compiled while Dynamo calls the backend: `first_variants`, which every generation starts
        with (PAB adds every reachable one for a dynamic-shape graph)."""
        return self.first_variants

    def prepare(self, tagged: Any) -> None:
        """The method's own fields from its tag stage's result, before the first variants are compiled."""

    def timestep_callback(self) -> Any:
        """The config's callback that picks the schedule's timestep (None: the model's own input)."""
        return None

    def _init_runtime(self) -> None:
        self._owners: WeakIdKeyDictionary = WeakIdKeyDictionary()  # models that called this graph
        self._last_state: tuple[weakref.ref, weakref.ref, weakref.ref] | None = None  # see _owner_state
        self._unowned = ThreadStates()  # a graph without parameters: its own states
        self._warned: set[str] = set()
        self._user_inputs = [i.index for i in self.captured.inputs_with_role("input")]
        self._size_inputs = [i.index for i in self.captured.inputs_with_role("symint")]
        self._follow_input = self._callback is not None and self.captured.has_timestep
        # the class's functions, not bound methods: a bound method kept on self is a reference cycle, and the
        # graph would outlive its last user until the cyclic collector runs (its cached tensors with it)
        kind = type(self)
        self._read_step = {"schedule": kind._timesteps, "input": kind._input_order,
                           "probe": _no_timesteps}[self.timesteps_from]
        self._instances: WeakIdKeyDictionary = WeakIdKeyDictionary()  # a graph of one block (scope.py)
        self._clocks: WeakIdKeyDictionary = WeakIdKeyDictionary()
        self.serial = register_graph(self)
        listen.watch_denoising_loops(start_of_denoising_loop)  # listen.py, NOTE [Where a pipeline call starts]
        self._agreement = rank_agreement(self.captured.gm.graph)
        owner = self.compile_time_owner()
        if owner is not None:  # listen now, while Dynamo compiles: a hook registry attached later fails guards
            self._owner_state(owner)

    def compile_time_owner(self) -> torch.Tensor | None:
        """The tensor the compiled model's state is keyed by: the first parameter Dynamo passed."""
        return self.captured.owner() if self.captured.owner is not None else None

    # NOTE [One begin-of-step]
    # Every method starts a step the same way: the calling model's state (per thread), the state of its
    # current cache_context when the method keeps one per context, the step's timesteps, a new generation when
    # the order value says so (NOTE [When a generation starts]), the call's stamp. Which state, which timesteps
    # and whether to stamp are fixed per class (`per_context`, `timesteps_from`, `stamp_at_begin`) and resolved once at construction
    # (`_read_step`), so the step does no lookup. FirstBlockCache reads its timestep inside the step (with its
    # decision value, one host read): it calls `starts_generation` / `new_generation` itself after its head ran.
    def begin_step(self, args: Sequence[Any]) -> tuple[Any, Any, str | None, float | None, float | None, tuple,
                                                       Stamp | None]:
        """(model state, the state this step uses -- its context's or the model's --, context name, the
        schedule's timestep, the order value, the input signature, the call's stamp)."""
        state = self.state_for(args)
        if self.per_context:
            context = self.context_name(args)
            slot = state.context(context)
        else:
            context, slot = None, state
        timestep, order = self._read_step(self, args, slot)
        if self.starts_generation(order, slot, context):
            self.new_generation(state, slot)
        slot.order.follow(order)
        signature = self._signature(args)
        stamp = next_stamp(slot, self.serial, context, signature) if self.stamp_at_begin else None
        return state, slot, context, timestep, order, signature, stamp

    @staticmethod
    def starts_generation(order: float | None, slot: Any, context: str | None) -> bool:
        """Whether a call fed the order value `order` starts a new generation of `slot`."""
        if not slot.order.starts_new(order):
            return False
        logger.debug("dispatch: timestep %g after %g (first %g) in context %r: new generation", order,
                     slot.order.last, slot.order.first, context)
        return True

    def new_generation(self, state: Any, slot: Any) -> None:
        """The timestep started a new generation: the one of `slot` ends (`end_generation`), a new one starts."""
        self.end_generation(state, slot)
        slot.reset()

    def end_generation(self, state: Any, slot: Any) -> None:
        """A generation of `slot` (a context's state, or the model's) ends, before its state is cleared."""

    def _timesteps(self, args: Sequence[Any], slot: Any = None) -> tuple[float, float]:
        """(the timestep that picks the schedule, the value that orders this generation's calls), read with
        ONE host read -- once per model step for all the block graphs of a model (scope.StepClock). The
        schedule's timestep is the config's callback, else the model's `timestep` input (the whole batch must
        agree then). With a callback the order is the model's own input, the largest of the batch (per-sample
        timesteps are fine: the callback decides), since the callback's value need not fall (MochiPipeline's
        current_timestep is 1000 - t)."""
        clock = self._clocks.get(args[self.captured.owner_input]) if self._clocks else None
        if clock is not None:
            return clock.once(lambda: self._read_timesteps(clock.model_timestep()))
        index = self.captured.timestep_input
        return self._read_timesteps(args[index] if index is not None else None)

    def _read_timesteps(self, own: Any) -> tuple[float, float]:
        callback = self._callback
        if callback is None:
            if own is None:
                raise ValueError("cachepass: the model was called without a `timestep`; pass it, or give the cache "
                                 "config a current_timestep_callback.")
            values = read_floats([own])[0]
            return _agreed(values, "the model's `timestep` input"), values[-1]
        if not self._follow_input or own is None:
            value = _agreed(read_floats([callback()])[0], "current_timestep_callback()")
            return value, value
        chosen, mine = read_floats([callback(), own])
        return _agreed(chosen, "current_timestep_callback()"), max(mine)

    def _input_order(self, args: Sequence[Any], slot: Any = None) -> tuple[None, float | None]:
        """(no schedule timestep, the largest timestep of the model's `timestep` input: generation detection). A
        graph of one block reads its model's, once per model step (scope.StepClock)."""
        clock = self._clocks.get(args[self.captured.owner_input]) if self._clocks else None
        if clock is not None:
            return clock.once(lambda: (None, _largest(clock.model_timestep())))
        index = self.captured.timestep_input
        return None, _largest(args[index] if index is not None else None)

    def _signature(self, args: Sequence[Any]) -> tuple:
        """Shapes, dtypes and devices of the user inputs, and the symbolic sizes: what a cached tensor's
        validity depends on besides the weights."""
        tensors = tuple((tuple(args[i].shape), args[i].dtype, args[i].device) for i in self._user_inputs)
        return tensors + tuple(args[i] for i in self._size_inputs)

    def new_state(self) -> Any:
        raise NotImplementedError

    def reuse_windows(self) -> str | None:
        """The timestep windows the method reuses in, for the no-reuse warning; None: not timestep-windowed."""
        return None

    def watched(self, state: Any) -> GenerationWatch:
        """The state's GenerationWatch, made on its first step with the finalizer that ends its last generation."""
        watch = state.watch
        if watch is None:
            watch = state.watch = GenerationWatch(self.reuse_windows() or "", self.reused_what, self._warned)
            weakref.finalize(state, _end_at_collection, watch).atexit = False
        return watch

    def rewrite(self, key: Any) -> Any:
        """The method's stage 4: the graph variant for `key` (built once, then lowered by `variant`)."""
        raise NotImplementedError

    def variant(self, key: Any) -> Lowered:
        """The compiled variant `key` for the step about to run; under context parallelism, first checks
        that every rank runs the same one (parallel.py)."""
        if self._agreement is not None:
            self._agreement.check(key, f"graph {self.serial}, variant {key!r}")
        return self.compiled(key)

    def compiled(self, key: Any) -> Lowered:
        """The compiled variant `key`; rewritten and compiled on first use (`self.lowered` keeps them)."""
        lowered = self.lowered.get(key)
        if lowered is None:
            built = run_stage("rewrite", self.rewrite, key)
            lowered = run_stage("lower", lower, built, self.options.compiler, self.options.inductor_config)
            self.lowered[key] = lowered
        return lowered

    def reported(self, owner_ids: set[int] | None) -> tuple[list[Any], tuple[Any, ...]]:
        """(the states of the reported models, their steps on this graph), for `report(owner_ids)`. A graph of
        one block reports the steps of its first instance: every instance runs the same plan."""
        chosen = [(owner, s) for owner, s in self.states()
                  if owner_ids is None or (owner is not None and id(owner) in owner_ids)]
        states = [s for _, s in chosen]
        paths = {id(s): self.path_of(o) for o, s in chosen}
        first = min(filter(None, paths.values()), key=_natural, default=None)
        steps_of = [s for s in states if paths[id(s)] == first] if first is not None else states
        return states, tuple(r for s in steps_of for r in s.history if r.graph == self.serial)

    def before_reset(self, state: Any) -> None:
        """Called when a pipeline resets a model, before its state is cleared: every generation ends."""
        for slot in (state.contexts.values() if self.per_context else (state,)):
            self.end_generation(state, slot)

    def state_for(self, args: Sequence[Any]) -> Any:
        owner_index = self.captured.owner_input
        if owner_index is None:
            return self._unowned.get_or_make(self.new_state)
        return self._owner_state(args[owner_index])

    def _owner_state(self, owner: torch.Tensor) -> Any:
        """The calling thread's state of the model that owns `owner` (NOTE [Two threads, one model]). The last
        (owner, thread, state) is remembered weakly: while owner and thread live, their state is the same
        object (resets clear it in place), and a step of the same model in the same thread skips the lookups."""
        thread = threading.current_thread()
        last = self._last_state
        if last is not None and last[0]() is owner and last[1]() is thread:
            state = last[2]()
            if state is not None:
                return state
        threads = self._states.get(owner)
        if threads is None:
            threads = self._states[owner] = ThreadStates()
            self._listen(owner)
        if owner not in self._owners:
            self._owners[owner] = True
        state = threads.get_or_make(self.new_state)
        self._last_state = (weakref.ref(owner), weakref.ref(thread), weakref.ref(state))
        return state

    def _listen(self, owner: torch.Tensor) -> None:
        """Follow the pipeline's end-of-call reset and the `cache_context` of the model that owns `owner` (see
        listen.py, NOTE [The listener of every model]): found from `owner` itself, since the graph may have been
        compiled for another model. Refuses an owner that belongs to two models."""
        chain = listen.ancestry(owner)
        if not chain:
            return
        _MODELS[owner] = weakref.ref(chain[-1])
        # The registry, not this graph: the state outlives the graph that created it (a recompile, a
        # torch._dynamo.reset()), and a later graph of the same model finds it without listening again.
        owner_ref, states, graph_ref = weakref.ref(owner), self._states, weakref.ref(self)
        hook = listen.attach(chain, lambda _module: _pipeline_reset(owner_ref, states, graph_ref))
        if hook is not None:
            _CONTEXTS[owner] = hook.context

    def model_of(self, args: Sequence[Any]) -> torch.nn.Module | None:
        """The model that made this call (not necessarily the one the graph was compiled for)."""
        owner_index = self.captured.owner_input
        ref = _MODELS.get(args[owner_index]) if owner_index is not None else None
        model = ref() if ref is not None else None
        if model is None and self.captured.root is not None and (owner_index is None or self.captured.owner is None
                                                                 or self.captured.owner() is args[owner_index]):
            model = self.captured.root()
        return model

    def context_name(self, args: Sequence[Any]) -> str | None:
        """The model's current diffusers `cache_context` name (None outside one, or without diffusers)."""
        owner_index = self.captured.owner_input
        return self.context_of(args[owner_index]) if owner_index is not None else None

    @staticmethod
    def context_of(owner: torch.Tensor) -> str | None:
        """The current diffusers `cache_context` name of the model whose state is keyed by `owner`."""
        cell = _CONTEXTS.get(owner)
        return cell.name if cell is not None else None

    def cache_context(self, args: Sequence[Any]) -> Any:
        """The model's current diffusers `CacheContext` itself -- its name and what the loop passed with it
        (`step_index`, `sigma`, `num_inference_steps`) --, None outside one (or without diffusers)."""
        owner_index = self.captured.owner_input
        cell = _CONTEXTS.get(args[owner_index]) if owner_index is not None else None
        return cell.current if cell is not None else None

    def states(self) -> list[tuple[torch.Tensor | None, Any]]:
        """The states of the models that called this graph (shared with their other graphs)."""
        owned = [(owner, state) for owner in self._owners.keys() if owner in self._states
                 for state in self._states[owner].all()]
        return [*owned, *((None, state) for state in self._unowned.all())]

    def owners(self) -> list[torch.Tensor]:
        return list(self._owners.keys())

    def keep(self, tensor: torch.Tensor) -> torch.Tensor:
        """A variant's output kept across calls (a cache entry)."""
        return tensor.clone() if self._cudagraphs else tensor  # CUDA graph outputs live in its pool

    def _warn_once(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            logger.warning(message)
        else:
            logger.debug(message)


def read_floats(values: Sequence[Any], what: str = "a timestep") -> list[list[float]]:
    """Each value (a tensor or a number) as a list of Python floats, with one host read per device for all
    tensors together (a CPU tensor costs no sync)."""
    floats: list[list[float] | None] = []
    by_device: dict[torch.device, list[int]] = {}
    for i, value in enumerate(values):
        if isinstance(value, torch.Tensor):
            if value.numel() == 0:
                raise ValueError(f"cachepass: {what} is an empty tensor; the current timestep is needed.")
            by_device.setdefault(value.device, []).append(i)
            floats.append(None)
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            floats.append([float(value)])
        else:
            raise TypeError(f"cachepass: the timestep must be a tensor or a number, got {type(value).__name__}.")
    for indices in by_device.values():
        flat = [_flat_floats(values[i]) for i in indices]
        read = (torch.cat(flat) if len(flat) > 1 else flat[0]).tolist()  # the one host read
        start = 0
        for i, tensor in zip(indices, flat):
            floats[i], start = read[start:start + tensor.numel()], start + tensor.numel()
    return floats  # type: ignore[return-value]


def _flat_floats(tensor: torch.Tensor) -> torch.Tensor:
    """The tensor as a 1-d float tensor, without an op where none is needed (the usual 1-d float timestep)."""
    if tensor.dim() != 1:
        tensor = tensor.reshape(-1)
    return tensor if tensor.is_floating_point() else tensor.float()


def _agreed(values: list[float], what: str) -> float:
    low, high = min(values), max(values)
    if low != high:
        raise ValueError(f"cachepass: {what} holds different timesteps in one call ({low:g} .. {high:g}); "
                         "cachepass decides per call. Pass current_timestep_callback to choose the timestep.")
    return low


def _largest(timestep: Any) -> float | None:
    """The largest value of a `timestep` (one host read), None without one."""
    return max(read_floats([timestep])[0]) if timestep is not None else None


def _no_timesteps(runtime: Any, args: Sequence[Any], slot: Any = None) -> tuple[None, None]:
    return None, None


def _natural(path: str) -> list[Any]:
    """`blocks.10` after `blocks.9`."""
    return [int(part) if part.isdigit() else part for part in path.split(".")]


def _pipeline_reset(owner_ref: weakref.ref, states: WeakIdKeyDictionary, graph_ref: weakref.ref) -> None:
    """The pipeline that ran in this thread ended its call: reset this thread's state of the model."""
    owner = owner_ref()
    threads = states.get(owner) if owner is not None else None
    state = threads.current() if threads is not None else None
    if state is not None:
        logger.debug("dispatch: the pipeline reset the model's caches: new generation")
        graph = graph_ref()
        if graph is not None:  # its end-of-generation checks; the reset itself needs no graph
            graph.before_reset(state)
        state.reset()


def on_cuda(captured: CapturedGraph) -> bool:
    """Whether the graph runs on CUDA, for the cudagraphs option (a warning when it does not)."""
    devices = {e.device.type for e in captured.example_inputs() if isinstance(e, torch.Tensor)}
    if "cuda" not in devices:
        logger.warning("cachepass: cudagraphs applies to CUDA graphs; this graph runs on %s, so it is ignored",
                       ", ".join(sorted(devices)))
        return False
    return True


