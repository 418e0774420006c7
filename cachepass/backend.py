"""The `torch.compile` backend: one driver that runs the stages in order.

    capture -> tag -> plan -> (rewrite -> lower, per variant on first use) -> dispatch

`torch.compile(model, backend="cachepass", options={"cache": cfg})` finds `cachepass_backend`
through the `torch_dynamo_backends` entry point, with no `import cachepass` needed. Dynamo calls it
once per captured graph as `cachepass_backend(gm, example_inputs, options=..., mode=...)`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import fx

from .capture import CapturedGraph, capture
from .config import BackendOptions, PABConfig, describe, parse_options
from .dispatch import CachedGraph, UncachedGraph, reset_states
from .errors import ConfigError, run_stage
from .fastercache import compile_fastercache
from .lower import compile_graph
from .plan import make_plan
from .tag import TagResult, tag

logger = logging.getLogger(__name__)

def cachepass_backend(gm: fx.GraphModule, example_inputs: Sequence[Any], *, options: Mapping[str, Any] | None = None,
                      mode: str | None = None, **unexpected: Any) -> Callable[..., Any]:
    if unexpected:
        raise ConfigError(f"backend='cachepass' got unexpected arguments {sorted(unexpected)}; "
                          f"use options={{'cache': ...}}.")
    return compile_with_cache(gm, example_inputs, parse_options(options, mode))


def compile_with_cache(gm: fx.GraphModule, example_inputs: Sequence[Any], options: BackendOptions) -> Callable[..., Any]:
    """The driver. Options are already validated, so no stage below runs on bad input."""
    if not isinstance(options.cache, PABConfig):  # FasterCache: its own stages, see fastercache/__init__.py
        return compile_fastercache(gm, example_inputs, options)
    captured = run_stage("capture", capture, gm, example_inputs)
    if torch.is_grad_enabled():
        logger.warning("cachepass: compiling with grad enabled; attention caching is for inference, so this graph "
                       "is compiled WITHOUT caching. Run the denoising loop under torch.no_grad() or "
                       "torch.inference_mode() to cache.")
        return _uncached(captured, None, "grad mode is enabled: caching is for inference", options)
    tags = run_stage("tag", tag, captured, options.cache)
    if not tags.cached_sites:
        logger.warning("cachepass: no cacheable attention found in this graph (%d attention sites, %d rejected); "
                       "compiling it without caching. Set TORCH_LOGS='+cachepass' to see why.",
                       len(tags.sites), len(tags.rejected))
        return _uncached(captured, tags, "no cacheable attention", options)
    _check_timestep_source(captured, options)
    plan = run_stage("plan", make_plan, tags, options.cache)
    _log_summary(tags, options)
    return run_stage("dispatch", CachedGraph, captured, tags, plan, options)


def _uncached(captured: CapturedGraph, tags: TagResult | None, reason: str, options: BackendOptions) -> UncachedGraph:
    fn = run_stage("lower", compile_graph, captured.gm, captured.example_inputs(), options.compiler,
                options.inductor_config)
    return UncachedGraph(captured, tags, reason, fn)


def _check_timestep_source(captured: CapturedGraph, options: BackendOptions) -> None:
    if options.cache.current_timestep_callback is None and captured.timestep_input is None:
        raise ConfigError(
            "cachepass reads the current timestep from the model's `timestep` tensor input, but this graph has none "
            "(a Python number passed as timestep is baked into the graph as a constant). Pass the timestep as a "
            "tensor, or give the cache config a current_timestep_callback.")


def _log_summary(tags: TagResult, options: BackendOptions) -> None:
    counts: dict[str, int] = {}
    for site in tags.cached_sites:
        counts[site.cache_kind] = counts.get(site.cache_kind, 0) + 1
    logger.info("cachepass: caching %s with %s", ", ".join(f"{n} {k}" for k, n in sorted(counts.items())),
                describe(options.cache))


def _reset_all() -> None:
    reset_states(None)


cachepass_backend.reset = _reset_all  # type: ignore[attr-defined]  # called by torch._dynamo.reset()
