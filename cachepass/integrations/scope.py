"""Graphs that hold one piece of a model: regional compilation and graph breaks inside a block.

# NOTE [Graphs of one block]
`transformer.compile_repeated_blocks(backend="cachepass", ...)` (diffusers' regional compilation)
compiles each block class on its own: Dynamo traces `blocks.0`'s forward once and serves every
instance of the class from that one graph (their parameters are graph inputs). A graph break inside a
block does the same. Such a graph knows its modules by names relative to the block (`attn1`) and has
no `timestep` input, while the caching rules (diffusers' identifiers match `blocks.N.attn1`), the
states and the report need the names the whole-model compile sees. So, while Dynamo compiles:

- the model that owns the block is found on the Python stack (the frames that called it: the innermost
  diffusers model holding it, else the outermost module holding it);
- every instance of the block's class in that model is named (`blocks.0`, `blocks.1`, ...) and grouped
  by what the method's name rules (`name_patterns`) make of its modules; each group gets one runtime
  (usually one for all: the variants compile once), each instance its own state, as always keyed by
  its first parameter;
- the timestep is read once per model step for all the block graphs of a model (`StepClock`): a
  forward pre-hook on the owning model marks each call and hands over its `timestep` input. A model
  that is itself compiled (its own graphs would fail their guards on a new hook) gets no hook: a step
  then starts when an instance runs a second time, and the config's current_timestep_callback gives
  the timestep.


Private torch names used here, all of nn.Module's call path (tests/test_regional.py checks each):
`nn.Module._call_impl` (the frame every module call runs), `Module._compiled_call_impl` (set by
`Module.compile()`), `OptimizedModule._orig_mod` (what `torch.compile(module)` wraps).
"""

from __future__ import annotations

import inspect
import logging
import re
import threading
import weakref
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.utils.weak import WeakIdKeyDictionary

from ..errors import ConfigError

logger = logging.getLogger(__name__)


# -- where a block sits ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Scope:
    """The model owning the module a graph was traced from, and every instance of that module's class in it."""

    model: weakref.ref  # the owning model
    block_class: type
    owner_path: str  # the graph's first parameter, relative to the block ("norm1.linear.weight"); "" without one
    instances: tuple[str, ...]  # paths of every instance of block_class in the model, model order
    compiled_model: bool  # the owning model's own forward runs under Dynamo (hooks on it would fail guards)


def find_scope(receiver: nn.Module | None, owner: torch.Tensor | None) -> Scope | None:
    """The scope of a graph traced from `receiver`, or None when the receiver is the whole model: a diffusers
    model, or a plain module that is not one of several instances of its class in a module calling it.

    Called while Dynamo compiles, when the frames that called the receiver are on the stack."""
    if receiver is None:
        return None
    frames = list(_frames())
    model = _owning_model(receiver, [f.f_locals.get("self") for f in frames])
    if model is None or model is receiver:
        return None
    instances = tuple(name for name, m in model.named_modules() if type(m) is type(receiver))
    if not _is_diffusers_model(model) and len(instances) < 2:
        return None  # a plain module called from a wrapper: the model itself, not a repeated block
    return Scope(weakref.ref(model), type(receiver), _relative_name(receiver, owner), instances,
                 _is_compiled(model, frames))


# NOTE [Reading callers from the stack]
# Only `Module._call_impl` frames are read: their `self` is a module being called, their `args`/`kwargs` what it
# was called with. On Python 3.11 reading any frame's `f_locals` leaves a snapshot of its locals on the frame, which
# would keep whatever the caller's function later deletes (a test's `del model`) alive as long as that function
# runs; a `_call_impl` frame ends with the module call.
def _frames() -> Iterable[Any]:
    """The module-call frames on the stack, innermost first."""
    frame = inspect.currentframe()
    while frame is not None:
        if frame.f_code is _CALL_IMPL:
            yield frame
        frame = frame.f_back


_CALL_IMPL = nn.Module._call_impl.__code__


def _owning_model(receiver: nn.Module, callers: Sequence[Any]) -> nn.Module | None:
    """The innermost diffusers model among the callers holding `receiver` (the receiver itself included),
    else the outermost module holding it."""
    holding = []
    for caller in callers:  # innermost first
        module = getattr(caller, "_orig_mod", caller)
        if isinstance(module, nn.Module) and all(module is not m for m in holding) and _holds(module, receiver):
            holding.append(module)
    for module in [receiver, *holding]:
        if _is_diffusers_model(module):
            return module
    return holding[-1] if holding else None


def _holds(module: nn.Module, receiver: nn.Module) -> bool:
    return any(m is receiver for m in module.modules())


def _is_diffusers_model(module: nn.Module) -> bool:
    try:
        from diffusers import ModelMixin
    except ImportError:
        return False
    return isinstance(module, ModelMixin)


def _is_compiled(model: nn.Module, frames: Sequence[Any]) -> bool:
    if getattr(model, "_compiled_call_impl", None) is not None:
        return True
    return any(getattr(f.f_locals.get("self"), "_orig_mod", None) is model for f in frames)


def _relative_name(block: nn.Module, owner: torch.Tensor | None) -> str:
    if owner is None:
        return ""
    return next((name for name, p in block.named_parameters(remove_duplicate=False) if p is owner), "")


def prefixed(prefix: str, name: str) -> str:
    """`name` (relative to a block) as the owning model names it."""
    return ".".join(part for part in (prefix, name) if part)


def renamed(name: str, old: str, new: str) -> str:
    """A name under prefix `old` moved under prefix `new`."""
    if not old:
        return prefixed(new, name)
    if name == old or name.startswith(old + "."):
        return new + name[len(old):]
    return name


def refuse_block_graph(captured: Any, method: str, why: str) -> None:
    """A method that needs the whole model refuses a graph of one block, naming the fix."""
    if captured.prefix:
        raise ConfigError(
            f"cachepass {method}: this graph holds one block ({captured.prefix} and every other instance of its class: "
            f"regional compilation, compile_repeated_blocks, or a graph break inside the block), but {why}. Compile "
            f"the whole transformer: torch.compile(transformer, backend='cachepass', fullgraph=True, "
            f"options={{'cache': ...}}); docs/usage.md (Regional compilation and graph breaks) lists the methods that "
            f"also work block by block.")


# -- grouping by what the name rules decide ----------------------------------------------------------

def groups(scope: Scope, relative_names: Sequence[str], patterns: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """The instances grouped by which of the method's name patterns match their modules' full names:
    {the group's first instance: all its instances}. One group when the rules treat every instance alike."""
    by_signature: dict[tuple, list[str]] = {}
    for path in scope.instances:
        by_signature.setdefault(signature(path, relative_names, patterns), []).append(path)
    return {paths[0]: tuple(paths) for paths in by_signature.values()}


def signature(prefix: str, relative_names: Sequence[str], patterns: Sequence[str]) -> tuple:
    return tuple(tuple(re.search(p, prefixed(prefix, name)) is not None for p in patterns) for name in relative_names)


# -- once per model step -----------------------------------------------------------------------------

class StepClock:
    """One timestep read per model step, shared by every block graph of one model and thread."""

    def __init__(self, hooked: bool) -> None:
        self.hooked = hooked  # a pre-hook on the model marks steps and keeps its timestep input
        self._local = threading.local()

    def _step(self) -> Any:
        local = self._local
        if not hasattr(local, "values"):
            local.values, local.timestep, local.seen, local.serial = None, None, set(), 0
        return local

    def tick(self, timestep: Any) -> None:
        """The model is called: a new step (the pre-hook)."""
        step = self._step()
        step.values, step.timestep = None, timestep
        step.serial += 1

    def enter(self, instance: Any) -> None:
        """A block instance runs; without the hook, a second run of one instance starts a new step."""
        if self.hooked:
            return
        step = self._step()
        key = id(instance)
        if key in step.seen:
            step.seen.clear()
            step.values = None
            step.serial += 1
        step.seen.add(key)

    def serial(self) -> int:
        """The number of the current model step in this thread: a block instance that sees the same number twice
        ran twice in one model call (only a hooked clock can tell)."""
        return self._step().serial

    def model_timestep(self) -> Any:
        return self._step().timestep

    def once(self, read: Callable[[], tuple[float, float]]) -> tuple[float, float]:
        """This step's (timestep, order), read by the first block of the step."""
        step = self._step()
        if step.values is None:
            step.values = read()
        return step.values


_CLOCKS: weakref.WeakKeyDictionary[nn.Module, StepClock] = weakref.WeakKeyDictionary()


def clock_of(model: nn.Module, compiled: bool) -> StepClock:
    """The model's clock, made (with its pre-hook when the model is not compiled) on first use, while the model's
    call that made it is on the stack."""
    clock = _CLOCKS.get(model)
    if clock is None:
        clock = _CLOCKS[model] = StepClock(hooked=not compiled)
        if clock.hooked:
            index = _timestep_position(model)
            model.register_forward_pre_hook(lambda _m, args, kwargs: clock.tick(_timestep_argument(index, args, kwargs)),
                                            with_kwargs=True)
            clock.tick(caller_timestep(model))  # this call's pre-hooks ran before the hook existed
    return clock


def _timestep_argument(index: int | None, args: Sequence[Any], kwargs: dict[str, Any]) -> Any:
    if "timestep" in kwargs:
        return kwargs["timestep"]
    return args[index] if index is not None and index < len(args) else None


def _timestep_position(model: nn.Module) -> int | None:
    try:
        names = list(inspect.signature(model.forward).parameters)
    except (TypeError, ValueError):
        return None
    return names.index("timestep") if "timestep" in names else None


def caller_timestep(model: nn.Module) -> Any:
    """The `timestep` argument of the owning model's call on the stack (its first call, at compile time):
    read from `Module._call_impl`'s own arguments, which the forward may rebind (Flux scales it)."""
    index = _timestep_position(model)
    for frame in _frames():
        if frame.f_locals.get("self") is model:
            return _timestep_argument(index, frame.f_locals.get("args", ()), frame.f_locals.get("kwargs", {}))
    return None


# -- the runtime Dynamo calls ------------------------------------------------------------------------

class ScopedGraph:
    """What Dynamo runs for a block graph: finds the calling instance's runtime (its group's) and its model's
    clock, and marks the model step. The runtimes hold the states (one per instance) and register themselves
    for reports."""

    def __init__(self, scope: Scope, runtimes: dict[str, Any], owner_input: int) -> None:
        self.scope = scope
        self._runtimes = runtimes  # by instance path
        self._owner_input = owner_input
        self._by_owner: WeakIdKeyDictionary = WeakIdKeyDictionary()  # first parameter -> (runtime, clock)

    def __call__(self, *args: Any) -> Any:
        owner = args[self._owner_input]
        found = self._by_owner.get(owner)
        if found is None:
            found = self._resolve(owner)
        runtime, clock = found
        clock.enter(owner)
        return runtime(*args)

    def _resolve(self, owner: torch.Tensor) -> tuple[Any, StepClock]:
        model, path = self._instance_of(owner)
        if path not in self._runtimes:
            raise ConfigError(
                f"cachepass: a {self.scope.block_class.__name__} at {path!r} runs a graph compiled for the "
                f"instances {list(self._runtimes)} of another model; its name rules may differ. Compile each model "
                f"on its own (torch._dynamo.reset() between them) or compile the whole model.")
        clock = clock_of(model, _is_compiled(model, list(_frames())))
        runtime = self._runtimes[path]
        runtime.name_instance(owner, path, clock, model)
        self._by_owner[owner] = runtime, clock
        return runtime, clock

    def _instance_of(self, owner: torch.Tensor) -> tuple[nn.Module, str]:
        """(the owning model, the block's path in it) of the instance whose first parameter is `owner`."""
        model = self.scope.model()
        found = instance_path(model, self.scope, owner) if model is not None else None
        if found is not None:
            return model, found
        # another model of the same class reuses this graph: find it among the modules being called
        callers = [getattr(m, "_orig_mod", m) for m in (f.f_locals.get("self") for f in _frames())]
        for caller in callers:
            found = instance_path(caller, self.scope, owner) if isinstance(caller, nn.Module) else None
            if found is not None:
                other = _owning_model(caller.get_submodule(found), callers)
                return other, instance_path(other, self.scope, owner)
        raise ConfigError(f"cachepass: cannot tell which {self.scope.block_class.__name__} of which model runs "
                          f"this graph (no module being called holds its parameter {self.scope.owner_path!r}).")


def instance_path(model: nn.Module, scope: Scope, owner: torch.Tensor) -> str | None:
    """The path in `model` of the block instance whose first parameter is `owner`."""
    for name, module in model.named_modules():
        if type(module) is scope.block_class:
            try:
                if module.get_parameter(scope.owner_path) is owner:
                    return name
            except AttributeError:
                continue
    return None
