"""cachepass under diffusers' context parallelism (Ulysses, 2 processes, gloo on 127.0.0.1, Inductor).

Oracles: the same case in this one process (cachepass, and diffusers' hooks) and diffusers' hooks under
the same context parallelism on the ranks (except FirstBlockCache, whose hook decides per shard, so its
ranks hang; its one-process run is the oracle). The ranks run in two worker processes
(tests/cp_worker.py) with a process-group timeout and a wall-clock bound, so a hang fails the test.
"""

from __future__ import annotations

import functools
import os
import socket
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
import torch
from torch import fx

from cp_cases import CASES, GENERATIONS, STEPS, run_case

from cachepass.integrations import parallel
from cachepass.compiler.editing import eliminate_dead_code

WORLD = 2
SKEWED = "flux-pab:skew"
TIMEOUT_S = 900  # the whole worker run; a stuck collective fails after the group's 90 s timeout instead


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def ranks(tmp_path_factory) -> dict[str, list[dict]]:
    """Every case on 2 ranks, one pair of worker processes for all (their start-up and imports once)."""
    out = tmp_path_factory.mktemp("cp")
    port, names = _free_port(), [*CASES, SKEWED]
    worker = Path(__file__).with_name("cp_worker.py")
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    procs = [subprocess.Popen([sys.executable, str(worker), str(rank), str(WORLD), str(port), str(out), *names],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
             for rank in range(WORLD)]
    logs = []
    try:
        for proc in procs:
            logs.append(proc.communicate(timeout=TIMEOUT_S)[0])
    finally:
        for proc in procs:
            proc.kill()
    for rank, (proc, log) in enumerate(zip(procs, logs)):
        assert proc.returncode == 0, f"rank {rank} failed:\n{log[-6000:]}"
    return {name.replace(":", "-"): [torch.load(out / f"rank{r}-{name.replace(':', '-')}.pt", weights_only=False)
                                     for r in range(WORLD)] for name in names}


@functools.lru_cache(maxsize=None)
def one_process(name: str) -> dict:
    """The one-process oracle: cachepass (eager inner compiler) and diffusers' hooks, in this process."""
    return run_case(name, compiler="eager")


def _worst(a: list[torch.Tensor], b: list[torch.Tensor]) -> float:
    assert len(a) == len(b) == STEPS * GENERATIONS
    return max(float((x - y).abs().max()) for x, y in zip(a, b))


@pytest.mark.parametrize("name", list(CASES))
def test_context_parallel_equals_one_process(ranks, name):
    case, (first, second) = CASES[name], ranks[name]
    one = one_process(name)
    assert _worst(one["cachepass"], one["hooks"]) <= 1e-5
    for rank in (first, second):
        assert _worst(rank["cachepass"], one["cachepass"]) <= 1e-5, name
        if case.hooks_under_cp:
            assert _worst(rank["cachepass"], rank["hooks"]) <= 1e-5, name
    # every rank ran the same variant on every step, as one process did, and some steps reused
    assert first["variants"] == second["variants"]
    assert first["pattern"] == second["pattern"] == one["pattern"]
    assert "R" in first["pattern"]
    assert first["agreement_checks"] == second["agreement_checks"] >= STEPS * GENERATIONS
    # one graph (FasterCache's half-batch twin aside, as in one process), no breaks, no recompiles
    assert first["collectives"] > 0 and one["collectives"] == 0
    assert first["graphs"] == one["graphs"] and first["breaks"] == 0 and first["recompiles"] == 0


@pytest.mark.parametrize("name", [n for n, c in CASES.items() if c.method == "fbc"])
def test_fbc_decides_on_the_whole_sequence(ranks, name):
    """The ranks' own shards give decision values on both sides of the threshold at some step; the value
    reduced inside the graph is the one-process value, so all ranks skip the same steps as one process."""
    first, second = ranks[name]
    one = one_process(name)
    threshold = CASES[name].config(None).threshold
    split = [i for i, (a, b) in enumerate(zip(first["rank_values"], second["rank_values"]))
             if a is not None and (a > threshold) != (b > threshold)]
    assert split, "no step where the shards alone would decide differently: pick another threshold"
    for i in range(len(first["values"])):
        if one["values"][i] is not None:
            assert first["values"][i] == second["values"][i]
            assert abs(first["values"][i] - one["values"][i]) <= 1e-4
    # the skip piece drops the tail blocks' all-to-alls with the blocks: only the output gather is left
    collectives = first["variant_collectives"]
    assert collectives["tail-reuse"] < collectives["tail-compute"]


def test_ranks_running_other_timesteps_fail_loudly(ranks):
    """A rank fed other timesteps would run another variant (gloo: silently wrong outputs): the per-step
    check raises on every rank instead."""
    for rank in ranks[SKEWED.replace(":", "-")]:
        assert "about to run different variants" in rank.get("error", ""), rank.get("error")


def test_dead_collectives_go_with_the_blocks():
    """torch marks `wait_tensor` side-effectful, so FX's DCE alone keeps a dead all-to-all (and the block
    feeding it) alive; cachepass drops it. Fails loudly if a torch upgrade changes either."""
    import torch.distributed._functional_collectives  # noqa: F401  (registers the side effect)

    graph = fx.Graph()
    x = graph.placeholder("x")
    work = graph.call_function(torch.ops._c10d_functional.all_to_all_single.default, (x, [2, 2], [2, 2], "0"))
    wait = graph.call_function(torch.ops._c10d_functional.wait_tensor.default, (work,))
    graph.output((x,))
    assert wait.is_impure()  # torch's registration (NOTE [Private torch APIs of context parallelism])
    assert parallel.is_collective(work) and not parallel.is_collective(wait)
    plain = fx.Graph()
    plain.output(plain.graph_copy(graph, {}))
    plain.eliminate_dead_code()
    assert len(plain.nodes) == len(graph.nodes)  # FX alone keeps them
    for node in graph.nodes:
        node.meta["example_value"] = torch.empty(4)
    eliminate_dead_code(graph)
    assert [n.op for n in graph.nodes] == ["placeholder", "output"]


def test_private_torch_apis_exist():
    from torch.distributed.distributed_c10d import _resolve_process_group

    assert callable(_resolve_process_group)
    schema = torch.ops._c10d_functional.all_gather_into_tensor.default._schema
    assert [a.name for a in schema.arguments][-1] == "group_name"


def test_variant_keys_are_the_same_number_in_every_process():
    code = "from cachepass.integrations.parallel import key_code; print(key_code(frozenset({'spatial', 'cross', 'temporal'})))"
    seen = {subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONHASHSEED": seed},
                           capture_output=True, text=True, check=True).stdout for seed in ("1", "2")}
    assert seen == {f"{zlib.crc32(b'cross+spatial+temporal')}\n"}


def test_enable_context_parallel_refuses_bad_input():
    """Through the public name, `cachepass.enable_context_parallel` (the README's path)."""
    from diffusers import ContextParallelConfig

    import cachepass
    from cachepass.models import build

    assert cachepass.enable_context_parallel is parallel.enable_context_parallel

    with pytest.raises(ValueError, match="no context-parallel plan"):
        cachepass.enable_context_parallel(build("cogvideox").module, ContextParallelConfig(ulysses_degree=2))
    from families import FAMILIES

    with pytest.raises(RuntimeError, match="init_process_group"):
        cachepass.enable_context_parallel(FAMILIES["flux"]().module, ContextParallelConfig(ulysses_degree=2))
