"""Hear diffusers pipelines reset their caches at the end of `__call__`.

Pipelines end `__call__` with `maybe_free_model_hooks()`, which calls `_reset_stateful_cache()` on
the transformer; that walks the transformer's submodules and resets the stateful hooks in their
diffusers `HookRegistry`s. cachepass puts a stateful listener hook into the registry of the module
that holds the model's first parameter, WITHOUT `register_hook` (which would wrap `forward` and
change what Dynamo traces): the pipeline's reset then reaches the listener, and the compiled graph
is untouched.

Without the listener a new generation is still detected when the timestep rises; the listener also
catches what a timestep cannot show (two one-step calls at the same timestep, say).
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Callable
from typing import Any

from torch import nn

logger = logging.getLogger(__name__)

LISTENER = "cachepass_listener"


def attach(holder: nn.Module, on_reset: Callable[[nn.Module], None]) -> bool:
    """Call `on_reset` whenever a pipeline resets `holder`'s model; False when diffusers is not there.

    One listener per module; each caching method that follows the module adds its callback to it."""
    try:
        from diffusers.hooks.hooks import HookFunctionReference, HookRegistry
    except ImportError:
        return False
    registry = HookRegistry.check_if_exists_or_initialize(holder)
    hook = registry.hooks.get(LISTENER)
    if hook is None:
        hook = _listener_hook()
        reference = HookFunctionReference()
        reference.forward = reference.original_forward = holder.forward  # what remove_hook restores: unchanged
        registry.hooks[LISTENER] = hook
        registry._hook_order.append(LISTENER)
        registry._fn_refs.append(reference)
        invalidate = getattr(registry, "invalidate_child_registries_cache", None)
        if invalidate is not None:
            invalidate()
        logger.debug("listen: attached to %s", type(holder).__name__)
    hook.callbacks.append(on_reset)
    return True


def _listener_hook() -> Any:
    from diffusers.hooks.hooks import ModelHook

    class PipelineListener(ModelHook):
        _is_stateful = True

        def __init__(self) -> None:
            super().__init__()
            self.callbacks: list[Callable[[nn.Module], None]] = []

        def reset_state(self, module: nn.Module) -> nn.Module:
            for callback in self.callbacks:
                callback(module)
            return module

    return PipelineListener()


def holder_of(parameter: Any, root: nn.Module | None = None) -> nn.Module | None:
    """The module whose `_parameters` holds `parameter`: searched in `root` when the backend saw the
    model, else through the garbage collector's referrers (once per model instance that reuses a
    graph captured for another instance of its class: Dynamo shares the graph, so the backend never
    saw this instance)."""
    if root is not None:
        for module in root.modules():
            if any(p is parameter for p in module._parameters.values()):
                return module
    for holder in gc.get_referrers(parameter):
        if isinstance(holder, dict) and any(value is parameter for value in holder.values()):
            for module in gc.get_referrers(holder):
                if isinstance(module, nn.Module) and module.__dict__.get("_parameters") is holder:
                    return module
    return None
