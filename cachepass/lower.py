"""Stage 5, lower: compile one graph variant with the inner compiler, once.

Inductor's `compile_fx` may mutate the graph it is given, so each variant arrives as its own copy
(see rewrite.py). Example inputs are the fake values recorded by Dynamo, which keeps symbolic sizes
symbolic: a variant compiled after capture (lazily, the first time the plan needs it) is as dynamic
as the captured graph. The compiled function is called as `fn(*args)` and returns a list.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import fx

from .rewrite import Variant

logger = logging.getLogger(__name__)

CompiledFn = Callable[..., Any]


@dataclass(frozen=True)
class Lowered:
    variant: Variant
    fn: CompiledFn
    compiler: str
    compile_seconds: float


def lower(variant: Variant, compiler: str | Callable, inductor_config: Mapping[str, Any]) -> Lowered:
    start = time.perf_counter()
    fn = compile_graph(variant.gm, list(variant.example_inputs), compiler, inductor_config)
    seconds = time.perf_counter() - start
    name = compiler if isinstance(compiler, str) else getattr(compiler, "__name__", "custom")
    logger.info("cachepass lower: variant %s compiled with %s in %.2f s", variant.name, name, seconds)
    return Lowered(variant, fn, name, seconds)


def compile_graph(gm: fx.GraphModule, example_inputs: list[Any], compiler: str | Callable,
                  inductor_config: Mapping[str, Any]) -> CompiledFn:
    if compiler == "inductor":
        from torch._inductor.compile_fx import compile_fx

        return compile_fx(gm, example_inputs, config_patches=dict(inductor_config) or None)
    if compiler == "eager":
        return _eager(gm)
    return compiler(gm, example_inputs)


def _eager(gm: fx.GraphModule) -> CompiledFn:
    forward = gm.forward

    def run(*args: Any) -> list[torch.Tensor]:
        return list(forward(*args))

    return run
