"""Clocks on the compiled variants of runtime graphs, inside real loops: what each variant call costs where it
runs (for `cachepass.tune`'s cost model and the bench's ideal-time clock, bench/ideal.py)."""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Callable, Iterator
from typing import Any

import torch


def sync_outputs(outputs: Any) -> None:
    """Wait for the device that made `outputs` (a tensor or a sequence of them): CPU tensors need nothing."""
    tensors = outputs if isinstance(outputs, (list, tuple)) else (outputs,)
    devices = {t.device for t in tensors if isinstance(t, torch.Tensor) and t.device.type == "cuda"}
    for device in devices:
        torch.cuda.synchronize(device)


def clocked(fn: Callable[..., Any], add: Callable[[float], None],
            sync: Callable[[Any], None] = sync_outputs) -> Callable[..., Any]:
    """`fn`, calling `add(seconds)` after each call with its duration, its outputs synchronised first."""

    def call(*args: Any) -> Any:
        start = time.perf_counter()
        outputs = fn(*args)
        sync(outputs)
        add(time.perf_counter() - start)
        return outputs

    return call


@contextlib.contextmanager
def clock_variants(graphs: list[Any], add: Callable[[Any, str, float], None]) -> Iterator[None]:
    """While inside, every call of a compiled variant of `graphs` (their `lowered` entries, compiled so far) calls
    `add(graph, variant name, seconds)`; the entries are restored on exit."""
    originals = [(graph, dict(graph.lowered)) for graph in graphs]
    for graph, lowered in originals:
        for key, low in lowered.items():
            timed = clocked(low.fn, lambda s, graph=graph, name=low.variant.name: add(graph, name, s))
            graph.lowered[key] = dataclasses.replace(low, fn=timed)
    try:
        yield
    finally:
        for graph, lowered in originals:
            graph.lowered.update(lowered)
