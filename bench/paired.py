"""Paired timing: the configurations of one workload in one process, their loops taken in turn.

This machine's speed drifts by +-20% over seconds (a shared CPU: the same eager loop measured 1.4 s and
2.1 s in one minute), so loop times taken in different worker processes cannot be compared. Here every
configuration whose Dynamo graphs are bounded (eager, diffusers' hooks in eager, Inductor, cachepass)
is built in one process and timed with `cachepass.measure.time_in_turn`: a warm-up loop each, then,
round after round, one loop each, in an order that rotates every round. A speedup is the median over
rounds of the ratio of two loops of the same round, so drift slower than a round cancels.

Efficiency of a cachepass loop = ideal / loop, where ideal = the time its compiled variants themselves
took inside that very loop + the loop's own per-step work: what is left is what Dynamo's guards and the
cachepass runtime cost. Timing the variants inside the loop makes the ratio drift-free; the variants are
also timed alone right after each loop (bench/ideal.py), and that ratio is reported as
`efficiency_alone` (noisier: the sample and the loop run at different moments).

diffusers' hooks under torch.compile stay out: their recompiles would share the recompile limit of the
model class's `forward` with the other compiled configurations and change what they measure.

    python -m bench.paired WORKLOAD --configurations eager "cachepass PAB" --rounds 7 --json out.json
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import torch

import cachepass
from cachepass.measure import time_in_turn

from .configurations import CONFIGURATIONS
from .ideal import VariantsAlone
from .workloads import WORKLOADS


@dataclass
class Paired:
    loops: dict[str, list[float]]  # loop seconds of each configuration, one per round
    ideal: dict[str, list[float]]  # cachepass: each loop's variants timed inside it, plus the loop work
    ideal_alone: dict[str, list[float]]  # cachepass: the variants timed alone right after each loop
    runtime: dict[str, list[float]]  # cachepass: its runtime's own seconds in each loop (bench/ideal.py)


def paired_loops(workload_name: str, names: Sequence[str], rounds: int, compiler: str) -> Paired:
    workload = WORKLOADS[workload_name]
    timesteps = workload.timesteps()
    demos = {name: workload.model() for name in names}  # one model each (same seed): nothing shared
    modules = {name: CONFIGURATIONS[name].prepare(demos[name], workload, compiler) for name in names}
    alone = {name: VariantsAlone(demos[name], modules[name], timesteps, workload.guidance)
             for name in names if CONFIGURATIONS[name].cachepass}
    ideal: dict[str, list[float]] = {name: [] for name in alone}
    ideal_alone: dict[str, list[float]] = {name: [] for name in alone}
    runtime: dict[str, list[float]] = {name: [] for name in alone}

    def record() -> None:
        for variants in alone.values():
            variants.record()
            variants.clock_in_loop()

    def sample(name: str) -> None:  # right after the loop, so that both see the same machine state
        if name in alone:
            alone[name].sample()
            runtime[name].append(alone[name].take_in_loop_runtime_seconds())
            ideal[name].append(alone[name].take_in_loop_ideal_seconds())
            ideal_alone[name].append(alone[name].latest_ideal_seconds())

    # The demos differ only in their module: any of them builds the loop's inputs.
    timing = time_in_turn(demos[names[0]], modules, timesteps, rounds, workload.guidance, record, sample)
    for name in alone:
        _check_ran(name, modules[name], len(timesteps) * (rounds + 2))  # warm-up, recording, rounds
    return Paired({name: timing.seconds(name) for name in names}, ideal, ideal_alone, runtime)


def _check_ran(name: str, module: Any, calls: int) -> None:
    """Guard the measurement itself: had Dynamo served one configuration's model from another one's graph
    (same class, same `forward`), the cachepass runtime would miss calls or see a second model."""
    graphs = cachepass.compiled_graphs(module)
    seen = sum(len(state.history) for graph in graphs for _, state in graph.states())
    models = {id(owner) for graph in graphs for owner in graph.owners()}
    if seen < calls or len(models) != 1:
        raise RuntimeError(f"{name}: the cachepass runtime saw {seen} of {calls} calls from {len(models)} models; "
                           "the paired timing is invalid")


def paired_configurations(names: Sequence[str]) -> list[str]:
    return [name for name in names if CONFIGURATIONS[name].paired]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("workload", choices=sorted(WORKLOADS))
    parser.add_argument("--configurations", nargs="+", required=True, choices=sorted(CONFIGURATIONS))
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--compiler", default="inductor", choices=("inductor", "eager"))
    parser.add_argument("--json", required=True,
                        help="where to write {loops: {configuration: [seconds per round]}, ideal: {...}}")
    args = parser.parse_args()
    torch.manual_seed(0)
    paired = paired_loops(args.workload, paired_configurations(args.configurations), args.rounds, args.compiler)
    with open(args.json, "w") as handle:
        json.dump(asdict(paired), handle)


if __name__ == "__main__":
    main()
