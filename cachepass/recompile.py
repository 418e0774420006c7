"""A model that already has a cachepass graph gets another because its input shapes changed: say so.

# NOTE [A recompile for new shapes]
# Dynamo guards a graph on its inputs' sizes. A call at another resolution (or batch) fails the guards and
# Dynamo compiles the frame again, with the changed sizes symbolic (automatic dynamic shapes). cachepass then
# gets a second graph of the same model, and every variant the first one compiled is compiled again for it --
# on the tiny model, 100 s more in the middle of a generation. The backend sees this from the graphs registry:
# a live graph that the same model (the same first parameter) already ran, whose user inputs had other shapes
# than the example inputs Dynamo hands over now. Nothing is guessed: with no such graph, or the same shapes
# (a grad-mode or dtype recompile), nothing is said here.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from .compiler.capture import CapturedGraph
from .runtime.registry import live_graphs

logger = logging.getLogger(__name__)

_LAST_KEY = re.compile(r"\['(\w+)'\]$")

Shape = tuple[Any, ...]  # ints, or a size's name where it has no value


@dataclass(frozen=True)
class ShapeChange:
    """One user input whose shape differs from the one an earlier graph of the same model was compiled for."""

    name: str  # the input's argument name, e.g. "hidden_states"
    old: Shape
    new: Shape

    @property
    def dims(self) -> tuple[int, ...]:
        """The dimensions that changed (all of them when the rank changed)."""
        if len(self.old) != len(self.new):
            return tuple(range(len(self.new)))
        return tuple(i for i, (a, b) in enumerate(zip(self.old, self.new)) if a != b)

    def __str__(self) -> str:
        return f"{self.name} {_show(self.old)} -> {_show(self.new)}"


def warn_if_new_shapes(captured: CapturedGraph, example_inputs: Sequence[Any]) -> tuple[ShapeChange, ...]:
    """Before the new graph's runtime is built: if the model already ran an earlier graph with other input
    shapes, log a WARNING naming what changed, the variants that compile again and the fix; returns the
    changes (empty when there is nothing to say)."""
    owner = captured.owner() if captured.owner is not None else None
    if owner is None:
        return ()
    earlier = [g for g in live_graphs() if any(o is owner for o in g.owners())]
    if not earlier:
        return ()
    previous = max(earlier, key=lambda g: g.serial)
    changes = shape_changes(previous.captured, captured, example_inputs)
    if changes:
        lowered = getattr(previous, "lowered", None)
        names = [low.variant.name for low in lowered.values()] if lowered else ["the plain graph"]
        dynamic = "; ".join(f"torch._dynamo.mark_dynamic({c.name}, {list(c.dims)})" for c in changes)
        logger.warning(
            "cachepass: the model's input shapes changed (%s) since graph %d was compiled, so Dynamo recompiled "
            "it and cachepass compiles a new graph: the %d variant(s) graph %d compiled (%s) compile again for "
            "it, once each as the plan first needs them. To compile once for every shape, pass "
            "torch.compile(..., dynamic=True), or mark the changing dims before the first call: %s.",
            ", ".join(map(str, changes)), previous.serial, len(names), previous.serial, ", ".join(names), dynamic)
    return changes


def shape_changes(old: CapturedGraph, new: CapturedGraph, example_inputs: Sequence[Any]) -> tuple[ShapeChange, ...]:
    """The user inputs (matched by where Dynamo read them) whose shapes differ between the two graphs: the
    old graph's example shapes against the values Dynamo hands the new one."""
    old_examples = old.example_inputs()
    old_shapes = {i.source: _shape(old_examples[i.index]) for i in old.inputs_with_role("input")}
    changes = []
    for graph_input in new.inputs_with_role("input"):
        before = old_shapes.get(graph_input.source)
        after = _shape(example_inputs[graph_input.index])
        if before is not None and after is not None and before != after:
            match = _LAST_KEY.search(graph_input.source)
            changes.append(ShapeChange(match.group(1) if match else graph_input.source, before, after))
    return tuple(changes)


def _shape(value: Any) -> Shape | None:
    if not isinstance(value, torch.Tensor):
        return None
    return tuple(_size(d) for d in value.shape)


def _size(dim: Any) -> Any:
    """An int; a symbolic size by its value when Dynamo knows it (its hint), else by its name."""
    if isinstance(dim, torch.SymInt):
        hint = getattr(dim.node, "hint", None)
        return int(hint) if hint is not None else str(dim)
    return int(dim)


def _show(shape: Shape) -> str:
    return "(" + ", ".join(map(str, shape)) + ")"
