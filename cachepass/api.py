"""Functions users call on a compiled model: reset its caches, find the graphs cachepass built for it."""

from __future__ import annotations

from torch import nn

from .dispatch import CachedGraph, UncachedGraph, live_graphs, reset_states


def _parameter_ids(model: nn.Module) -> set[int]:
    model = getattr(model, "_orig_mod", model)  # accept what torch.compile returned
    return {id(p) for p in model.parameters()}


def reset(model: nn.Module | None = None) -> None:
    """Start a new generation: forget step counters and free the caches, of `model` or of all models.

    `model` may be what `torch.compile` returned or the original module. cachepass also starts a new
    generation by itself whenever the timestep rises between two calls.
    """
    reset_states(None if model is None else _parameter_ids(model))


def compiled_graphs(model: nn.Module) -> list[CachedGraph | UncachedGraph]:
    """The cachepass graphs that have run for `model` (one per Dynamo graph, e.g. per grad mode or
    after a dynamic-shape recompile), oldest first. `graph.cached` tells whether it caches."""
    owner_ids = _parameter_ids(model)
    found = [g for g in live_graphs() if any(id(owner) in owner_ids for owner in g.owners())]
    return sorted(found, key=lambda g: g.serial)
