"""Stage 5, lower: compile one graph variant with the inner compiler, once.

Inductor's `compile_fx` may mutate the graph it is given, so each variant arrives as its own copy
(see compiler/editing.py and each method's rewrite.py). Example inputs are the fake values recorded by Dynamo, which keeps symbolic sizes
symbolic: a variant compiled after capture (lazily, the first time the plan needs it) is as dynamic
as the captured graph. Every variant is compiled in those values' own FakeTensorMode, at backend time too
(NOTE [Compiling in the inputs' fake mode], dynamo_meta.py). The compiled function is called as
`fn(*args)` and returns a list.

A variant compiled after Dynamo built the graph's guards must not add shape guards: they would go
unchecked, so `lower` raises instead (NOTE [Guards after Dynamo froze the ShapeEnv], dynamo_meta.py).
"""

from __future__ import annotations

import contextlib
import logging
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import astuple, dataclass
from typing import Any, Protocol

import torch
from torch import fx

from ..errors import GuardsAfterFreeze
from ..integrations.dynamo_meta import (cache_counter, fill_example_values, inputs_fake_mode, mark_guards,
                                        unused_floats_specialized)

logger = logging.getLogger(__name__)

CompiledFn = Callable[..., Any]

# NOTE [Inductor's complex-operator warning]
# Inductor has no code generation for complex tensors: lowering one falls back to ATen and warns once per process,
# "Torchinductor does not support code generation for complex operators. Performance may be worse than eager."
# (`warnings.warn` in `torch._inductor.lowering._warn_complex_not_supported`, a `functools.cache` function).
# FasterCache's frequency split (rfft2 -> mask -> irfft2) is complex in between, and cachepass put it in the graph
# by choice (`FCConfig(deltas="graph")`, measured faster than beside it), so the warning is noise there. A rewrite
# marks the nodes it adds with `node.meta[PLACED_COMPLEX]`; only while compiling a graph with such nodes is that
# one message ignored. Inductor caches the fact that it warned, so a user's own complex graph compiled later would
# then stay silent: if the warning fired first under cachepass's filter, its cache is cleared again.
PLACED_COMPLEX = "cachepass_placed_complex"
COMPLEX_WARNING = "Torchinductor does not support code generation for complex operators"


class Variant(Protocol):
    """What every method's rewrite stage builds and `lower` compiles: a named graph with example inputs for every
    placeholder (PAB's variants, FasterCache's, FirstBlockCache's pieces, ...)."""

    @property
    def name(self) -> str: ...

    gm: fx.GraphModule
    example_inputs: tuple[Any, ...]


@dataclass(frozen=True)
class CacheCounts:
    """Inductor's caches over one compile, from torch's own counters: its FX graph cache
    (`counters["inductor"]["fxgraph_cache_*"]`) and AOTAutograd's cache above it
    (`counters["aot_autograd"]["autograd_cache_*"]`). A variant that hits both in a new process costs neither
    tracing nor code generation there (NOTE [Stable variants for Inductor's caches])."""

    fxgraph_hit: int = 0
    fxgraph_miss: int = 0
    fxgraph_bypass: int = 0
    autograd_hit: int = 0
    autograd_miss: int = 0
    autograd_bypass: int = 0

    @staticmethod
    def now() -> CacheCounts:
        return CacheCounts(*(cache_counter(group, f"{cache}_cache_{kind}") for group, cache in _CACHES
                             for kind in ("hit", "miss", "bypass")))

    def since(self, before: CacheCounts) -> CacheCounts:
        return CacheCounts(*(a - b for a, b in zip(astuple(self), astuple(before))))

    @property
    def missed(self) -> int:
        """Misses and bypasses, of both caches: 0 when both answered every lookup."""
        return self.fxgraph_miss + self.fxgraph_bypass + self.autograd_miss + self.autograd_bypass


_CACHES = (("inductor", "fxgraph"), ("aot_autograd", "autograd"))


@dataclass(frozen=True)
class Lowered:
    variant: Variant
    fn: CompiledFn
    compiler: str
    compile_seconds: float
    guards_added: tuple[str, ...] = ()  # shape guards the compile added (only before Dynamo's freeze)
    after_freeze: bool = False  # compiled on first use, after Dynamo built the graph's guards
    cache: CacheCounts = CacheCounts()  # Inductor's FX graph cache during this compile (all 0: not Inductor)


def lower(variant: Variant, compiler: str | Callable, inductor_config: Mapping[str, Any]) -> Lowered:
    start, counted = time.perf_counter(), CacheCounts.now()
    mark = mark_guards(variant.example_inputs)
    fn = compile_graph(variant.gm, list(variant.example_inputs), compiler, inductor_config)
    added = mark.added()
    seconds, cache = time.perf_counter() - start, CacheCounts.now().since(counted)
    name = compiler if isinstance(compiler, str) else getattr(compiler, "__name__", "custom")
    if mark.frozen and added:
        raise GuardsAfterFreeze(
            f"compiling variant {variant.name} with {name} added shape guards {list(added)} after Dynamo installed "
            f"this graph's guards, so they would go unchecked. Compile with static shapes (dynamic=False) or mark "
            f"the sizes static (torch._dynamo.mark_static), and report this to cachepass.")
    logger.info("cachepass lower: variant %s compiled with %s in %.2f s (%s)%s", variant.name, name, seconds, cache,
                f", added guards {list(added)}" if added else "")
    return Lowered(variant, fn, name, seconds, added, mark.frozen, cache)


def compile_graph(gm: fx.GraphModule, example_inputs: list[Any], compiler: str | Callable,
                  inductor_config: Mapping[str, Any]) -> CompiledFn:
    """`gm` compiled with Dynamo's fake values as example inputs, in their own FakeTensorMode (NOTE [Compiling
    in the inputs' fake mode], dynamo_meta.py), its unused float inputs neither tensorified nor specialized
    (NOTE [Float inputs a variant does not use])."""
    if compiler == "eager":
        return _eager(gm)
    with inputs_fake_mode(example_inputs), unused_floats_specialized(gm, example_inputs), _quiet_placed_complex(gm):
        if compiler == "inductor":
            from torch._inductor.compile_fx import compile_fx

            fill_example_values(gm, example_inputs)  # NOTE [Stable variants for Inductor's caches]
            return compile_fx(gm, example_inputs, config_patches=dict(inductor_config) or None)
        return compiler(gm, example_inputs)


@contextlib.contextmanager
def _quiet_placed_complex(gm: fx.GraphModule) -> Iterator[None]:
    """Ignore Inductor's complex-operator warning while compiling a graph where cachepass placed complex math
    (NOTE [Inductor's complex-operator warning]); any other warning passes."""
    if not any(node.meta.get(PLACED_COMPLEX) for node in gm.graph.nodes):
        yield
        return
    from torch._inductor.lowering import _warn_complex_not_supported as warn_once

    warned_before = warn_once.cache_info().currsize > 0
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=COMPLEX_WARNING)
        try:
            yield
        finally:
            if not warned_before:
                warn_once.cache_clear()


def _eager(gm: fx.GraphModule) -> CompiledFn:
    forward = gm.forward

    def run(*args: Any) -> list[torch.Tensor]:
        return list(forward(*args))

    return run
