"""FirstBlockCache's decision kept on the device (`torch.cond` in one graph) against cachepass's pieces.

    python -m bench.fbc_cond [--steps 50] [--rounds 5] [--threshold 0.25]

cachepass runs a step as two compiled pieces, the head and one tail, and reads the decision value (with
the timestep) on the host once in between. The alternative asked for in the design: one Inductor graph
per step, `head -> torch.cond(value > threshold, tail-compute, tail-reuse)`, the caches passed in and out
as tensors, no read by the runtime. Both are built here from the same captured graph of the bench's
cogvideox-small (random weights, CFG batch 2) and timed in turn, one 50-step loop each per round, with the
same decisions. Printed: ms/step of each, and where the cond graph reads the predicate (Inductor lowers
`torch.cond` to `if pred.item():` in its wrapper, i.e. the host read moves into the compiled code).
"""

from __future__ import annotations

import argparse
import operator
import statistics
import time
from typing import Any

import torch

import cachepass
from cachepass.measure import median_ratio

from .workloads import WORKLOADS


def _record_args(module: Any, demo: Any, timesteps: list[float]) -> tuple:
    """The flat graph arguments the cachepass runtime receives for one call (from Dynamo)."""
    with torch.no_grad():
        module(**demo.inputs(timesteps[0], 2))  # compiles
    graph = cachepass.compiled_graphs(module)[0]
    seen: list[tuple] = []
    original = type(graph).__call__

    def recording(self: Any, *args: Any) -> Any:
        seen.append(args)
        return original(self, *args)

    type(graph).__call__ = recording
    try:
        with torch.no_grad():
            module(**demo.inputs(timesteps[0], 2))
    finally:
        type(graph).__call__ = original
    return seen[0]


class _Branch(torch.nn.Module):
    """One side of the torch.cond: a tail piece, returning the model's outputs and the (new or kept) tails."""

    def __init__(self, piece: torch.fx.GraphModule, split: int, outputs: int, compute: bool) -> None:
        super().__init__()
        self.piece, self.split, self.outputs, self.compute = piece, split, outputs, compute

    def forward(self, *ops: torch.Tensor) -> tuple:
        if self.compute:
            result = self.piece(*ops[: self.split])
            return tuple(result[: self.outputs]) + tuple(result[self.outputs:])
        result = self.piece(*ops)
        return tuple(result[: self.outputs]) + tuple(t.clone() for t in ops[self.split:])  # no aliases out of cond


def cond_step(graph: Any) -> Any:
    """One Inductor graph per step: head, the decision on the device, torch.cond between the two tails.

    Inputs: the captured graph's arguments, the previous first-block residual, the tail residuals; outputs:
    the model's outputs, the new previous residual, the new tail residuals, the predicate."""
    from torch._inductor.compile_fx import compile_fx

    head = graph.piece("head+decide").variant
    compute, reuse = graph.piece("tail-compute").variant, graph.piece("tail-reuse").variant
    crossing, outputs, n_args = len(graph.stack.crossing), graph.captured.num_outputs, len(graph.captured.inputs)
    split = n_args + crossing
    root = torch.nn.Module()
    root.head = head.gm
    root.true_branch = _Branch(compute.gm, split, outputs, True)
    root.false_branch = _Branch(reuse.gm, split, outputs, False)
    g = torch.fx.Graph()
    args = [g.placeholder(f"arg{i}") for i in range(n_args)]
    previous = g.placeholder("previous")
    tails = [g.placeholder(f"tail{i}") for i in range(len(reuse.reads))]
    out = g.call_module("head", (*args, previous))
    items = [g.call_function(operator.getitem, (out, i)) for i in range(crossing + 2)]
    residual, probe = items[crossing], items[crossing + 1]
    pred = g.call_function(torch.gt, (g.call_function(operator.getitem, (probe, 0)), graph.plan.threshold))
    result = g.call_function(torch.ops.higher_order.cond, (pred, g.get_attr("true_branch"), g.get_attr("false_branch"),
                                                           (*args, *items[:crossing], *tails)))
    results = [g.call_function(operator.getitem, (result, i)) for i in range(outputs + len(tails))]
    new_previous = g.call_function(torch.where, (pred, residual, previous))
    g.output((*results, new_previous, pred))
    gm = torch.fx.GraphModule(root, g)
    example = (*head.example_inputs, *reuse.example_inputs[split:])
    fn = compile_fx(gm, list(example))
    return lambda *a: fn(*a)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threshold", type=float, default=0.25)
    args = parser.parse_args()
    workload = WORKLOADS["cogvideox-small"]
    demo = workload.model()
    timesteps = workload.timesteps()[: args.steps]
    module = torch.compile(demo.module, backend="cachepass", fullgraph=True,
                           options={"cache": cachepass.FBCConfig(threshold=args.threshold)})
    flat = _record_args(module, demo, timesteps)
    graph = cachepass.compiled_graphs(module)[0]
    step = cond_step(graph)
    timestep_index = graph.captured.timestep_input

    def pieces_loop() -> tuple[float, str]:
        cachepass.reset(module)
        start = time.perf_counter()
        with torch.no_grad():
            for t in timesteps:
                graph(*flat[:timestep_index], torch.full((2,), float(t)), *flat[timestep_index + 1:])
        seconds = time.perf_counter() - start
        history = list(graph.states()[0][1].history)[-len(timesteps):]
        return seconds, "".join("C" if r.compute else "R" for r in history)

    def cond_loop() -> tuple[float, str]:
        first = graph.piece("head").fn(*flat)  # step 0 computes (no previous residual), as in the pieces loop
        crossing = len(graph.stack.crossing)
        tail = graph.piece("tail-compute").fn(*flat, *first[:crossing])
        previous, tails = first[crossing], tuple(tail[graph.captured.num_outputs:])
        pattern = ["C"]
        start = time.perf_counter()
        with torch.no_grad():
            for t in timesteps[1:]:
                call = (*flat[:timestep_index], torch.full((2,), float(t)), *flat[timestep_index + 1:])
                out = step(*call, previous, *tails)
                outputs = graph.captured.num_outputs
                tails, previous, pred = tuple(out[outputs:-2]), out[-2], out[-1]
                pattern.append(pred)
        seconds = time.perf_counter() - start
        return seconds * len(timesteps) / (len(timesteps) - 1), "".join(
            p if isinstance(p, str) else ("C" if bool(p) else "R") for p in pattern)

    pieces_loop(), cond_loop()  # compile and warm up
    loops: dict[str, list[float]] = {"pieces": [], "cond": []}
    patterns = {}
    for _ in range(args.rounds):
        for name, loop in (("pieces", pieces_loop), ("cond", cond_loop)):
            seconds, patterns[name] = loop()
            loops[name].append(seconds)
    for name, seconds in loops.items():
        print(f"{name:>7}: {1000 * statistics.median(seconds) / len(timesteps):.2f} ms/step  pattern {patterns[name]}")
    print(f"pieces vs cond: {median_ratio(loops['cond'], loops['pieces']):.3f}x (> 1: the pieces are faster)")


if __name__ == "__main__":
    main()
