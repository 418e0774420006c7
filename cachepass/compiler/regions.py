"""Regions and symbolic sizes: the graph nodes a module call owns, the specs of tensors a cache holds, and the
symbolic sizes a removed region hands on (NOTE [Symbolic sizes a region hands on])."""

from __future__ import annotations

import functools
from dataclasses import dataclass
import torch
from torch import fx


_CALL_OPS = ("call_function", "call_method", "call_module")


@dataclass(frozen=True)
class TensorSpec:
    """Shape (ints, or str for symbolic sizes), dtype and device of a cached tensor."""

    shape: tuple[int | str, ...]
    dtype: torch.dtype
    device: torch.device
    nbytes_hint: int  # bytes at the sizes seen during capture

    @functools.cached_property  # the read validator asks before every read
    def static(self) -> bool:
        return all(isinstance(d, int) for d in self.shape)


@dataclass(frozen=True)
class RebuiltSize:
    """A symbolic size a region hands on, and where each of its symbols is found outside the region
    (NOTE [Symbolic sizes a region hands on])."""

    node: str
    sources: tuple[tuple[str, str, int | None], ...]  # (symbol, node name, dimension; None: the node's own value)


def module_regions(graph: fx.Graph) -> dict[str, list[fx.Node]]:
    regions: dict[str, list[fx.Node]] = {}
    for node in graph.nodes:
        if node.op in _CALL_OPS:
            for key in node.meta.get("nn_module_stack") or {}:
                regions.setdefault(key, []).append(node)
    return regions


# NOTE [Symbolic sizes a region hands on]
# With sizes read from data (Framepack at batch 1 cuts the text to `mask.sum()` tokens), Dynamo binds an
# unbacked symbol for every size a slice produces, and code after an attention module may use one its region
# computed from its own tensors (`sym_sum` of the two halves' lengths, for runtime asserts). A reuse variant
# removes the region, so such a value is rebuilt from what is still there: the sizes of the cached outputs
# (the read placeholders carry the same symbols) and the values computed before the module. `size_sources`
# finds, for every symbol of the expression, a node and dimension that hold it; a size it cannot place refuses
# the layer at tag time, with the expression in the reason.
def size_sources(node: fx.Node, outputs: list[fx.Node], region_start: fx.Node) -> dict[str, tuple[str, int | None]] | None:
    """{symbol: (node name, dimension or None for a SymInt node)} for the symbols of `node`'s symbolic value,
    from the cached `outputs` or from nodes before the region; None when one cannot be found or the expression
    is not a sum of products of symbols and integers."""
    expr = node.meta["example_value"].node.expr
    if not _is_polynomial(expr):
        return None
    wanted = {str(s) for s in expr.free_symbols}
    found: dict[str, tuple[str, int | None]] = {}
    for candidate in [*outputs, *_before(region_start)]:
        value = candidate.meta.get("example_value")
        dims = list(enumerate(value.shape)) if isinstance(value, torch.Tensor) else [(None, value)]
        for dim, size in dims:
            if isinstance(size, torch.SymInt) and str(size.node.expr) in wanted - found.keys():
                found[str(size.node.expr)] = (candidate.name, dim)
        if len(found) == len(wanted):
            return found
    return found if len(found) == len(wanted) else None


def _before(node: fx.Node) -> list[fx.Node]:
    """The nodes before `node`, nearest first."""
    found, current = [], node.prev
    while current.op != "root":
        found.append(current)
        current = current.prev
    return found


def _is_polynomial(expr: object) -> bool:
    import sympy

    if isinstance(expr, (sympy.Symbol, sympy.Integer)):
        return True
    return isinstance(expr, (sympy.Add, sympy.Mul)) and all(_is_polynomial(a) for a in expr.args)


def is_size_expression(node: fx.Node, members: set[fx.Node]) -> bool:
    """A SymInt/SymFloat/SymBool (or constant number) computed without any tensor produced in the region."""
    if not isinstance(node.meta.get("example_value"), (torch.SymInt, torch.SymFloat, torch.SymBool, int, float)):
        return False
    seen, todo = set(), [node]
    while todo:
        current = todo.pop()
        if current in seen or current not in members:
            continue
        seen.add(current)
        if isinstance(current.meta.get("example_value"), torch.Tensor):
            return False
        todo.extend(current.all_input_nodes)
    return True


def tensor_spec(value: torch.Tensor) -> TensorSpec:
    shape = tuple(int(s) if not isinstance(s, torch.SymInt) else str(s.node.expr) for s in value.shape)
    numel = 1
    for s in value.shape:
        numel *= _hint(s)
    return TensorSpec(shape, value.dtype, value.device, numel * value.element_size())


def _hint(size: int | torch.SymInt) -> int:
    if isinstance(size, torch.SymInt):
        hint = size.node.hint
        return int(hint) if hint is not None else 1
    return int(size)
