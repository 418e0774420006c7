"""The `torch.compile` backend: one driver that runs the stages in order, for every method.

    capture -> tag -> check -> plan -> dispatch   (rewrite -> lower, per variant on first use, inside dispatch)

`torch.compile(model, backend="cachepass", options={"cache": cfg})` finds `cachepass_backend`
through the `torch_dynamo_backends` entry point, with no `import cachepass` needed. Dynamo calls it
once per captured graph as `cachepass_backend(gm, example_inputs, options=..., mode=...)`. The
method (PAB, FasterCache, FirstBlockCache, ...) comes from the config's type through the registry
(methods/__init__.py); each gives its own function for every stage. `cachepass.compile` (api.py) checks the options
before Dynamo traces; a `ConfigError` raised here still reaches the user as itself (NOTE [Config errors
through Dynamo], dynamo_meta.py).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import fx

from .compiler.capture import CapturedGraph, capture, first_parameter, named_under, receiver
from .compiler.lower import compile_graph
from .errors import ConfigError, run_stage, through_dynamo
from .integrations.scope import Scope, ScopedGraph, clock_of, find_scope, groups
from .methods import Method, method_of
from .options import BackendOptions, parse_options
from .recompile import warn_if_new_shapes
from .runtime.registry import reset_states
from .runtime.uncached import UncachedGraph

logger = logging.getLogger(__name__)


def cachepass_backend(gm: fx.GraphModule, example_inputs: Sequence[Any], *, options: Mapping[str, Any] | None = None,
                      mode: str | None = None, **unexpected: Any) -> Callable[..., Any]:
    try:
        if unexpected:
            raise ConfigError(f"backend='cachepass' got unexpected arguments {sorted(unexpected)}; "
                              f"use options={{'cache': ...}}.")
        return compile_with_cache(gm, example_inputs, parse_options(options, mode))
    except ConfigError as err:  # catchable as itself, not as torch's BackendCompilerFailed
        raise through_dynamo(err) from None  # NOTE [Config errors through Dynamo], dynamo_meta.py


def compile_with_cache(gm: fx.GraphModule, example_inputs: Sequence[Any], options: BackendOptions) -> Callable[..., Any]:
    """The driver. Options are already validated, so no stage below runs on bad input."""
    method = method_of(options.cache)
    if torch.is_grad_enabled():
        logger.warning("cachepass: compiling with grad enabled; %s is for inference, so this graph is compiled "
                       "WITHOUT caching. Run the denoising loop under torch.no_grad() or torch.inference_mode() to "
                       "cache.", method.title)
        plain = run_stage("capture", capture, gm, example_inputs)
        return _uncached(plain, None, "grad mode is enabled: caching is for inference", options)
    scope = run_stage("capture", find_scope, receiver(), first_parameter(gm, example_inputs))
    if scope is not None and scope.owner_path:
        if options.cfg_skip is not None:
            raise ConfigError(f"cachepass: {method_of(options.cfg_skip).title}'s CFG skip acts on the whole model's "
                              f"output, but this graph is one block of {type(scope.model()).__name__} (regional "
                              f"compilation): compile the whole denoiser for the composition.")
        return _compile_block(method, gm, example_inputs, options, scope)
    if options.cfg_skip is not None:
        return _compile_cfg_split(method, gm, example_inputs, options)
    return _compile(method, gm, example_inputs, options)


def _compile_block(method: Method, gm: fx.GraphModule, example_inputs: Sequence[Any], options: BackendOptions,
                   scope: Scope) -> Callable[..., Any]:
    """A graph of one block served to every instance of its class (NOTE [Graphs of one block], scope.py): one
    runtime per group of instances the method's name rules treat alike, names under the group's first."""
    plain = run_stage("capture", capture, gm, example_inputs)  # names relative to the block
    clock = clock_of(scope.model(), scope.compiled_model)
    relative = [info.name for info in plain.modules.values()]
    runtimes: dict[str, Any] = {}
    for lead, members in groups(scope, relative, method.plugin.name_patterns(options.cache)).items():
        with named_under(lead, clock.hooked, scope.model):
            runtime = _compile(method, gm, example_inputs, options)
        runtimes.update(dict.fromkeys(members, runtime))
    logger.info("cachepass: a graph of %s serves %d instances (%s), in %d group(s)", scope.block_class.__name__,
                len(scope.instances), ", ".join(scope.instances), len(set(map(id, runtimes.values()))))
    return ScopedGraph(scope, runtimes, plain.owner_input)


def _compile(method: Method, gm: fx.GraphModule, example_inputs: Sequence[Any],
             options: BackendOptions) -> Callable[..., Any]:
    """capture -> tag -> check -> plan -> dispatch for one graph."""
    config, plugin = options.cache, method.plugin
    captured = run_stage("capture", plugin.capture, gm, example_inputs, config)
    warn_if_new_shapes(plugin.plain(captured), example_inputs)  # NOTE [A recompile for new shapes]
    tags = run_stage("tag", plugin.tag, captured, config)
    nothing = run_stage("check", plugin.check, captured, tags, config)
    if nothing is not None:
        logger.log(logging.INFO if nothing.quiet else logging.WARNING, nothing.message)
        return _uncached(plugin.plain(captured), nothing.tags, nothing.reason, options)
    plan = run_stage("plan", plugin.plan, tags, config)
    logger.info("cachepass: %s with %s%s", method.title, config.describe(),
                f" + {options.calibration.describe()}" if options.calibration is not None else "")
    return run_stage("dispatch", plugin.runtime, captured, tags, plan, options)


def _compile_cfg_split(method: Method, gm: fx.GraphModule, example_inputs: Sequence[Any],
                       options: BackendOptions) -> Callable[..., Any]:
    """A CFG skip around `method` (NOTE [A CFG skip around a cache], runtime/cfg_split.py): the skip's captures of
    the full rows and their conditional half, the inner method's runtime on each (the half's with states of its
    own), handed to the skip's runtime."""
    outer = method_of(options.cfg_skip).plugin
    rows = run_stage("capture", outer.cfg_skip_rows, gm, example_inputs, options.cfg_skip)
    warn_if_new_shapes(rows.full, example_inputs)
    full = _inner_runtime(method, rows.full, options)
    half = _inner_runtime(method, rows.half, dataclasses.replace(options, row_set="half")) if rows.half else None
    logger.info("cachepass: %s inside %s's CFG skip", options.cache.describe(), options.cfg_skip.describe())
    return run_stage("dispatch", outer.cfg_skip_runtime, rows, full, half, options)


def _inner_runtime(method: Method, captured: CapturedGraph, options: BackendOptions) -> Any:
    """tag -> check -> plan -> runtime of the inner cache on one row set's capture; nothing to cache is an error
    here (the CFG skip would run around an uncached graph while the user asked for both)."""
    config, plugin = options.cache, method.plugin
    tags = run_stage("tag", plugin.tag, captured, config)
    nothing = run_stage("check", plugin.check, captured, tags, config)
    if nothing is not None:
        raise ConfigError(f"cachepass: {method.title} inside a CFG skip has nothing to cache in this graph "
                          f"({nothing.reason}), and the CFG skip does not run around an uncached graph. "
                          f"{method.title} alone would say: {nothing.message}")
    plan = run_stage("plan", plugin.plan, tags, config)
    return run_stage("dispatch", plugin.runtime, captured, tags, plan, options)


def _uncached(captured: CapturedGraph, tags: Any, reason: str, options: BackendOptions) -> UncachedGraph:
    fn = run_stage("lower", compile_graph, captured.gm, captured.example_inputs(), options.compiler,
                   options.inductor_config)
    return UncachedGraph(captured, tags, reason, fn)


def _reset_all() -> None:
    reset_states(None)


cachepass_backend.reset = _reset_all  # type: ignore[attr-defined]  # called by torch._dynamo.reset()
