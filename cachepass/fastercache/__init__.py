"""FasterCache as a method of the cachepass backend: one driver that runs the stages in order.

    capture (full graph + nested half-batch capture) -> tag -> plan -> (rewrite -> lower, per variant
    on first use) -> dispatch

`torch.compile(model, backend="cachepass", options={"cache": cfg})` with a diffusers `FasterCacheConfig`
or a `cachepass.FCConfig` arrives here from `backend.compile_with_cache`. See README.md, "FasterCache".
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import fx

from ..capture import CapturedGraph, capture
from ..config import BackendOptions
from ..dispatch import UncachedGraph
from ..errors import ConfigError, run_stage
from ..lower import compile_graph
from .capture import FCCapture, capture_fastercache
from .config import FCConfig, from_diffusers
from .dispatch import FasterCacheGraph
from .plan import FCPlan, VariantKey, make_plan
from .tag import FCTags, tag_fastercache

logger = logging.getLogger(__name__)

__all__ = ["FCConfig", "FCPlan", "FasterCacheGraph", "VariantKey", "compile_fastercache", "from_diffusers"]


def compile_fastercache(gm: fx.GraphModule, example_inputs: Sequence[Any], options: BackendOptions) -> Callable:
    """The FasterCache driver. Options are already validated; `options.cache` is an `FCConfig`."""
    config: FCConfig = options.cache  # type: ignore[assignment]
    if torch.is_grad_enabled():
        logger.warning("cachepass: compiling with grad enabled; FasterCache is for inference, so this graph is "
                       "compiled WITHOUT caching. Run the denoising loop under torch.no_grad() or "
                       "torch.inference_mode() to cache.")
        full = run_stage("capture", capture, gm, example_inputs)
        return _uncached(full, "grad mode is enabled: caching is for inference", options)
    captured = run_stage("capture", capture_fastercache, gm, example_inputs, config)
    tags = run_stage("tag", tag_fastercache, captured.full, config)
    half_tags = run_stage("tag", tag_fastercache, captured.half.captured, config) if captured.half else None
    captured, half_tags = _check_twins(captured, tags, half_tags)
    _check_timestep_source(captured, config)
    if config.guidance_distilled and not tags.cached_sites:
        logger.warning("cachepass: FasterCache found no attention to extrapolate in this graph (%d attention sites) "
                       "and the model is guidance-distilled; compiling it without caching. Set "
                       "TORCH_LOGS='+cachepass' to see why.", len(tags.result.sites))
        return _uncached(captured.full, "no cacheable attention", options)
    plan = run_stage("plan", make_plan, tags.kinds_present(), config)
    logger.info("cachepass: FasterCache on %d attention sites (%s), half-batch graph: %s; %s",
                len(tags.cached_sites), ", ".join(sorted(tags.kinds_present())) or "none",
                f"batch {captured.half.batch}" if captured.half else f"none ({captured.half_reason})",
                config.describe())
    return run_stage("dispatch", FasterCacheGraph, captured, tags, half_tags, plan, options)


def _check_twins(captured: FCCapture, tags: FCTags, half_tags: FCTags | None) -> tuple[FCCapture, FCTags | None]:
    """The half graph must have the same cached attention outputs as the full graph, in the same order."""
    if half_tags is None:
        return captured, None
    full_slots = [(s.ident, s.kind) for s in tags.slots]
    half_slots = [(s.ident, s.kind) for s in half_tags.slots]
    if full_slots == half_slots:
        return captured, half_tags
    reason = f"the half-batch graph tags other attention outputs ({half_slots}) than the full graph ({full_slots})"
    logger.warning("cachepass FasterCache: %s; the unconditional branch cannot be skipped", reason)
    return dataclasses.replace(captured, half=None, half_reason=reason), None


def _check_timestep_source(captured: FCCapture, config: FCConfig) -> None:
    if config.current_timestep_callback is None and captured.full.timestep_input is None:
        raise ConfigError(
            "cachepass FasterCache reads the current timestep from the model's `timestep` tensor input, but this "
            "graph has none (a Python number passed as timestep is baked into the graph as a constant). Pass the "
            "timestep as a tensor, or give the config a current_timestep_callback.")


def _uncached(captured: CapturedGraph, reason: str, options: BackendOptions) -> UncachedGraph:
    fn = run_stage("lower", compile_graph, captured.gm, captured.example_inputs(), options.compiler,
                   options.inductor_config)
    return UncachedGraph(captured, None, reason, fn)
