"""Hear diffusers pipelines reset their caches at the end of `__call__`.

Pipelines end `__call__` with `maybe_free_model_hooks()`, which calls `_reset_stateful_cache()` on
the transformer; that walks the transformer's submodules and resets the stateful hooks in their
diffusers `HookRegistry`s. cachepass puts a stateful listener hook into the registry of the module
that holds the model's first parameter, WITHOUT `register_hook` (which would wrap `forward` and
change what Dynamo traces): the pipeline's reset then reaches the listener, and the compiled graph
is untouched.

Without the listener a new generation is still detected when the timestep turns (runtime/base.py, NOTE
[When a generation starts]); the listener also
catches what a timestep cannot show (two one-step calls at the same timestep, say).
"""

from __future__ import annotations

import functools
import gc
import logging
import sys
import threading
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from torch import nn

from ..errors import ConfigError

logger = logging.getLogger(__name__)

LISTENER = "cachepass_listener"
_LAST_CONTEXT: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # model -> its current CacheContext


# NOTE [The context of the first call]
# diffusers' `model.cache_context(name)` hands the context to the StateManagers of the hooks that exist
# when the `with` block is entered (`diffusers.hooks.hooks._set_cache_context`). The listener that
# follows contexts is attached while Dynamo compiles the model's first call -- inside that block -- so
# it would miss the first call's context. `record_contexts` wraps `_set_cache_context` (once, when
# cachepass is imported, which `torch.compile(backend="cachepass")` does before the first call) to
# remember each model's current context; a new listener starts from it. This is the one use of a
# private diffusers function; tests/test_fbc.py fails loudly if diffusers changes it.
def record_contexts() -> bool:
    try:
        from diffusers.hooks import hooks
    except ImportError:
        return False
    original = getattr(hooks, "_set_cache_context", None)
    if original is None:
        logger.warning("cachepass: diffusers.hooks.hooks._set_cache_context is gone (diffusers changed); the first "
                       "call of a model compiled inside a cache_context is seen outside any context.")
        return False
    if getattr(original, "_cachepass_recorder", False):
        return True

    @functools.wraps(original)
    def set_cache_context(module: nn.Module, context: Any) -> None:
        original(module, context)
        try:
            _LAST_CONTEXT[module] = context
        except TypeError:  # not weak-referenceable: nothing to remember
            pass

    set_cache_context._cachepass_recorder = True  # type: ignore[attr-defined]
    hooks._set_cache_context = set_cache_context
    return True


# NOTE [Where a pipeline call starts]
# A pipeline resets its models' caches at the END of `__call__` (`maybe_free_model_hooks`). A call that
# raises, or is interrupted, never gets there; the next call continues the old generation unless its
# timestep turns (img2img, custom sigmas or a resumed schedule may start lower), and would read the old
# call's caches. Every diffusers pipeline enters `self.progress_bar(...)` right before its denoising loop,
# so `watch_denoising_loops` wraps `DiffusionPipeline.progress_bar` (once, before the first graph runs) to
# start a new generation, in the calling thread, for each of the pipeline's models. Pipelines that
# override `progress_bar` (a few combined and Marigold pipelines) are not seen: the timestep's turn and
# `cachepass.reset(model)` remain.
def watch_denoising_loops(on_start: Callable[[Any], None]) -> bool:
    """Install the wrapper if diffusers' pipelines are imported (importing them costs 2 s: cachepass does
    not; each runtime calls this again when it is built, by which time a pipeline user has them)."""
    module = sys.modules.get("diffusers.pipelines.pipeline_utils")
    DiffusionPipeline = getattr(module, "DiffusionPipeline", None)
    if DiffusionPipeline is None:
        return False
    original = DiffusionPipeline.progress_bar
    if getattr(original, "_cachepass_watch", False):
        return True

    @functools.wraps(original)
    def progress_bar(self: Any, *args: Any, **kwargs: Any) -> Any:
        on_start(self)
        return original(self, *args, **kwargs)

    progress_bar._cachepass_watch = True  # type: ignore[attr-defined]
    DiffusionPipeline.progress_bar = progress_bar
    return True


def current_context(model: nn.Module | None) -> Any:
    """The CacheContext `model.cache_context(...)` set last (None outside a context)."""
    return _LAST_CONTEXT.get(model) if model is not None else None


def attach(chain: Sequence[nn.Module], on_reset: Callable[[nn.Module], None]) -> Any:
    """Call `on_reset` whenever a pipeline resets the model of `chain` (`ancestry`: the module holding the
    model's first parameter, then its ancestors up to the model); returns the listener (None when diffusers is
    not there), whose `context` follows the model's `cache_context(name)`.

    One listener per module; each caching method that follows the module adds its callback to it."""
    try:
        from diffusers.hooks.hooks import HookFunctionReference, HookRegistry
    except ImportError:
        return None
    holder = chain[0]
    registry = HookRegistry.check_if_exists_or_initialize(holder)
    hook = registry.hooks.get(LISTENER)
    if hook is None:
        hook = _listener_hook()
        reference = HookFunctionReference()
        reference.forward = reference.original_forward = holder.forward  # what remove_hook restores: unchanged
        registry.hooks[LISTENER] = hook
        registry._hook_order.append(LISTENER)
        registry._fn_refs.append(reference)
        _forget_child_registries(chain)
        hook.context.set_context(_context_of(chain))  # see NOTE [The context of the first call]
        logger.debug("listen: attached to %s", type(holder).__name__)
    hook.callbacks.append(on_reset)
    return hook


# NOTE [The listener of every model]
# diffusers' `model.cache_context(name)` reaches the stateful hooks through the model's registry's cached list of
# child registries (`HookRegistry._get_child_registries`), built the first time a context is entered. A listener
# added later is reached only if every registry above it forgets that list. Dynamo serves a second model of a
# class from the graph it compiled for the first (equal backend options, guards that pass), so the backend never
# sees the second model: its listener is attached on its first call -- inside its first `cache_context`, after
# its registries cached their children -- and must clear the caches of ITS ancestors, found from its first
# parameter, not of the model the graph was compiled for (which left the second model outside every context).
def _forget_child_registries(chain: Sequence[nn.Module]) -> None:
    for module in chain:
        registry = getattr(module, "_diffusers_hook", None)
        if registry is not None:
            registry._child_registries_cache = None


def _context_of(chain: Sequence[nn.Module]) -> Any:
    """The context a `cache_context` entered on one of the chain's modules set last (outermost first)."""
    for module in reversed(chain):
        context = current_context(module)
        if context is not None:
            return context
    return None


def ancestry(parameter: Any) -> list[nn.Module]:
    """The module whose `_parameters` holds `parameter`, then its parents up to the model (the module no other
    holds; `torch.compile`'s wrapper does not count), found among the live modules (NOTE [Finding the model of
    a parameter]): Dynamo shares one graph between the instances of a class, so the runtime knows a model only by
    its first parameter. Empty when no module holds it. Raises `ConfigError` when it belongs to two models, whose
    states could not be told apart."""
    index = _ModuleIndex.of_live_modules()
    holders = index.parameter_holders.get(id(parameter), [])
    if not holders:
        return []
    chains = [chain for holder in holders for chain in index.chains_up(holder)]
    tops = {id(chain[-1]): chain[-1] for chain in chains}
    if len(tops) > 1:
        names = " and ".join(type(top).__name__ for top in tops.values())
        raise ConfigError(
            f"cachepass: one parameter (shape {tuple(parameter.shape)}) belongs to two models ({names}: a shared "
            f"module or tied weight). cachepass tells compiled models apart by their first parameter, so their "
            f"caches and steps would mix. Give each model its own copy of that module (copy.deepcopy), or compile "
            f"the models in separate processes.")
    return chains[0]


# NOTE [Finding the model of a parameter]
# A module's parameters and children are values of its `_parameters` and `_modules` dicts; nothing points back
# up. Asking the garbage collector for each level's referrers (`gc.get_referrers`, three per level) traverses
# every live object each time: 1.6 s for a 3-level chain once Inductor is imported (2-core CPU, 2026-12-07), on
# the first call of every compiled model -- a cost plain torch.compile does not pay. One pass over the live
# objects instead indexes every module's parameters and children (~0.1-0.25 s), and the chains are walked up
# that index.
@dataclass(frozen=True)
class _ModuleIndex:
    parameter_holders: dict[int, list[nn.Module]]  # id(parameter) -> the modules whose _parameters hold it
    parents: dict[int, list[nn.Module]]  # id(module) -> the modules whose _modules hold it (compile wrappers not)

    @staticmethod
    def of_live_modules() -> _ModuleIndex:
        holders: dict[int, list[nn.Module]] = {}
        parents: dict[int, list[nn.Module]] = {}
        is_module: dict[type, bool] = {}  # by type: isinstance would call odd objects' __class__ properties
        for module in gc.get_objects():
            kind = type(module)
            known = is_module.get(kind)
            if known is None:
                known = is_module[kind] = issubclass(kind, nn.Module)
            if not known:
                continue
            for value in _values(module, "_parameters"):
                holders.setdefault(id(value), []).append(module)
            if _is_compile_wrapper(module):
                continue
            for child in _values(module, "_modules"):
                parents.setdefault(id(child), []).append(module)
        return _ModuleIndex(holders, parents)

    def chains_up(self, module: nn.Module, depth: int = 0) -> list[list[nn.Module]]:
        """Every path from `module` up to a module no other module holds."""
        parents = self.parents.get(id(module), [])
        if not parents or depth > 64:
            return [[module]]
        return [[module, *chain] for parent in parents for chain in self.chains_up(parent, depth + 1)]


def _values(module: nn.Module, attribute: str) -> list[Any]:
    """The values of the module's `attribute` dict (`_parameters`, `_modules`), each once; none if it has none."""
    mapping = module.__dict__.get(attribute)
    if not isinstance(mapping, dict):
        return []
    return list({id(v): v for v in mapping.values() if v is not None}.values())


def _is_compile_wrapper(module: nn.Module) -> bool:
    from torch._dynamo.eval_frame import OptimizedModule

    return isinstance(module, OptimizedModule)


def context_cell() -> Any:
    """What diffusers' `_set_cache_context` writes the current `cache_context` into: it sets the context
    on every `StateManager` attribute of a stateful hook, so the cell is one (that never raises). It keeps
    one context per thread: `model.cache_context(name)` runs in the thread that calls the model, and two
    threads driving one model must not see each other's contexts (runtime/base.py, NOTE [Two threads, one model])."""
    from diffusers.hooks.hooks import StateManager

    class ContextCell(StateManager):
        def __init__(self) -> None:
            super().__init__(object)
            self._threads = threading.local()

        def set_context(self, context: Any) -> None:
            self._threads.context = context

        @property
        def name(self) -> str | None:
            context = getattr(self._threads, "context", None)
            return context.name if context is not None else None

        @property
        def current(self) -> Any:
            """The whole CacheContext (name and the loop's `step_index`, `sigma`, ...), None outside one."""
            return getattr(self._threads, "context", None)

        def reset(self, *args: Any, **kwargs: Any) -> None:
            self._threads.context = None

        def __deepcopy__(self, memo: dict) -> Any:  # a copied model starts outside any context
            return ContextCell()

    return ContextCell()


def _listener_hook() -> Any:
    from diffusers.hooks.hooks import ModelHook

    class PipelineListener(ModelHook):
        _is_stateful = True

        def __init__(self) -> None:
            super().__init__()
            self.callbacks: list[Callable[[nn.Module], None]] = []
            self.context = context_cell()  # the model's current cache_context

        def reset_state(self, module: nn.Module) -> nn.Module:
            for callback in self.callbacks:
                callback(module)
            return module

    return PipelineListener()
