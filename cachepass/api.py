"""Functions users call: compile a model with cachepass, reset its caches, find the graphs cachepass built for it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from .errors import ConfigError
from .options import as_mapping, fold_mode, parse_options
from .runtime.base import GraphRuntime
from .runtime.registry import graphs_of, parameter_ids, reset_states
from .runtime.uncached import UncachedGraph


def compile(model: nn.Module, cache: Any = None, *, options: Mapping[str, Any] | None = None, mode: str | None = None,
            **torch_compile_kwargs: Any) -> Any:
    """`torch.compile(model, backend="cachepass", ...)` with every cachepass option checked first.

        compiled = cachepass.compile(model, cache=cachepass.PABConfig(spatial_skip=2), fullgraph=True)
        compiled = cachepass.compile(model, cache=cfg, mode="reduce-overhead")     # CUDA graphs
        compiled = cachepass.compile(model, cache=cfg, options={"compiler": "eager"})

    - `cache`: a cachepass config or diffusers' config of any method (default: PAB with diffusers' defaults);
    - `options`: the backend's other options, exactly as with the backend string: "compiler",
      "inductor_config", "cudagraphs" (a "cache" key there instead of `cache=` works too, not both);
    - `mode`: an Inductor mode, which here combines with `options`: it becomes cachepass options
      ("reduce-overhead" -> cudagraphs=True, "max-autotune" -> its Inductor settings and cudagraphs),
      so torch.compile's "Either mode or options" refusal never comes up (NOTE [mode as options], options.py);
    - anything else (`fullgraph`, `dynamic`, `disable`, ...) goes to `torch.compile` unchanged.

    Every problem the options alone show raises `cachepass.ConfigError` here, before any tracing. Problems only
    the captured graph shows (e.g. TaylorSeer identifiers matching no module) raise `ConfigError` at the first
    call, as with the backend string (NOTE [Config errors through Dynamo], dynamo_meta.py).
    """
    if "backend" in torch_compile_kwargs:
        raise ConfigError(f"cachepass.compile sets backend='cachepass'; drop backend="
                          f"{torch_compile_kwargs['backend']!r} (or call torch.compile yourself).")
    options = dict(as_mapping(options))
    if cache is not None:
        if options.get("cache") is not None:
            raise ConfigError("cachepass.compile got a cache config twice, as cache= and as options['cache']; "
                              "pass it once, as cache=.")
        options["cache"] = cache
    parse_options(options, mode)  # raises ConfigError; the backend parses the same options again when it runs
    return torch.compile(model, backend="cachepass", options=fold_mode(options, mode), **torch_compile_kwargs)


def reset(model: nn.Module | None = None) -> None:
    """Start a new generation: forget step counters and free the caches, of `model` or of all models.

    `model` may be what `torch.compile` returned or the original module. cachepass also starts a new
    generation by itself when the timestep moves against the generation's direction or returns to its
    first value (docs/usage.md, "Generations").
    """
    reset_states(None if model is None else parameter_ids(model))


def compiled_graphs(model: nn.Module) -> list[GraphRuntime | UncachedGraph]:
    """The cachepass graphs that have run for `model` (one per Dynamo graph, e.g. per grad mode or
    after a dynamic-shape recompile), oldest first. `graph.cached` tells whether it caches."""
    return graphs_of(model)
