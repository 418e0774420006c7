"""The live-graph registry: every runtime graph of every method, for `compiled_graphs`, `report` and `reset`,
and every method's per-model state registry, so `reset_states` reaches states whose graphs are gone."""

from __future__ import annotations

import itertools
import weakref
from typing import Any
import torch
from torch.utils.weak import WeakIdKeyDictionary


_LIVE_GRAPHS: weakref.WeakSet[Any] = weakref.WeakSet()  # CachedGraph, UncachedGraph, other methods' graphs


_REGISTRIES: list[WeakIdKeyDictionary] = []  # every method's state registry, for reset_states


_SERIALS = itertools.count()


def state_registry() -> WeakIdKeyDictionary:
    """A method's registry of per-model states: first parameter -> ThreadStates. `reset_states` walks every
    registry, so a state is reached after the graphs that made it are gone (a recompile, torch._dynamo.reset())."""
    registry = WeakIdKeyDictionary()
    _REGISTRIES.append(registry)
    return registry


def live_graphs() -> list[Any]:
    return list(_LIVE_GRAPHS)


def register_graph(graph: Any) -> int:
    """Make a runtime graph visible to `cachepass.compiled_graphs`, `report` and `reset`; returns its serial.

    A registered graph has `cached`, `captured`, `tags`, `owners()` and `states()`; other methods than
    PAB also give `report(owner_ids)` (see report.graph_report)."""
    _LIVE_GRAPHS.add(graph)
    return next(_SERIALS)


def start_of_denoising_loop(pipeline: Any) -> None:
    """A diffusers pipeline is about to run its denoising loop (listen.py, NOTE [Where a pipeline call
    starts]): its models start a new generation in this thread, whatever an earlier call left behind."""
    components = getattr(pipeline, "components", None)
    if not isinstance(components, dict):
        return
    modules = [getattr(c, "_orig_mod", c) for c in components.values() if isinstance(c, torch.nn.Module)]
    owner_ids = {id(p) for module in modules for p in module.parameters()}
    if owner_ids:
        reset_states(owner_ids, this_thread=True)


def reset_states(owner_ids: set[int] | None = None, this_thread: bool = False) -> None:
    """Start a new generation for every model, or for those whose first parameter's id is in
    `owner_ids`: every state in every method's registry (all threads, or only the calling thread's),
    also those whose graphs are gone."""
    done: set[int] = set()

    def reset(state: Any) -> None:
        if id(state) not in done:
            done.add(id(state))
            state.reset()

    for registry in _REGISTRIES:
        for owner, threads in list(registry.items()):
            if owner_ids is None or id(owner) in owner_ids:
                for state in [threads.current()] if this_thread else threads.all():
                    if state is not None:
                        reset(state)
    if owner_ids is None and not this_thread:
        for graph in live_graphs():
            for owner, state in graph.states():
                if owner is None:
                    reset(state)


def parameter_ids(model: torch.nn.Module) -> set[int]:
    """The ids of `model`'s parameters, the keys of its states (`model` as compiled or as the original module)."""
    model = getattr(model, "_orig_mod", model)  # accept what torch.compile returned
    return {id(p) for p in model.parameters()}


def graphs_of(model: torch.nn.Module) -> list[Any]:
    """The live runtime graphs that have run for `model`, oldest first (`cachepass.compiled_graphs`)."""
    owner_ids = parameter_ids(model)
    found = [g for g in live_graphs() if any(id(owner) in owner_ids for owner in g.owners())]
    return sorted(found, key=lambda g: g.serial)
