"""One Dynamo graph, no recompiles, no graph breaks, and one Inductor compile per variant used."""

from __future__ import annotations

import pytest
import torch
from torch._dynamo.utils import counters

import cachepass
from cachepass.models import build
from cachepass.timesteps import timesteps_linspace

TIMESTEPS_50 = timesteps_linspace(50)


def inductor_compiles() -> int:
    c = counters["inductor"]
    return c["fxgraph_cache_miss"] + c["fxgraph_cache_hit"] + c["fxgraph_cache_bypass"]


@pytest.mark.parametrize("model_name, config", [
    ("cogvideox", cachepass.PABConfig(spatial_skip=2)),
    ("latte", cachepass.PABConfig(spatial_skip=2, temporal_skip=3, cross_skip=4, cross_timesteps=(50, 950))),
])
def test_fifty_steps_one_graph_no_recompiles(model_name, config):
    demo = build(model_name)
    compiled = torch.compile(demo.module, backend="cachepass", fullgraph=True, options={"cache": config})
    with torch.no_grad():
        demo(compiled, TIMESTEPS_50[0])
        with torch.compiler.set_stance("fail_on_recompile"):  # raises on any recompile
            for t in TIMESTEPS_50[1:]:
                demo(compiled, t)

    assert counters["stats"]["unique_graphs"] == 1
    assert sum(counters["graph_break"].values()) == 0
    graph = cachepass.compiled_graphs(compiled)[0]
    expected_variants = graph.plan.variants(TIMESTEPS_50)  # the pure plan, simulated
    assert len(expected_variants) >= 2
    assert set(graph.lowered) == set(expected_variants)
    assert inductor_compiles() == len(expected_variants)
    ran = [r.reused for r in graph.states()[0][1].history]
    assert ran == [d.reuse for d in graph.plan.simulate(TIMESTEPS_50)]


def test_second_generation_compiles_nothing():
    demo = build("cogvideox")
    compiled = torch.compile(demo.module, backend="cachepass", fullgraph=True)
    with torch.no_grad():
        for t in TIMESTEPS_50:
            demo(compiled, t)
        before = inductor_compiles()
        with torch.compiler.set_stance("fail_on_recompile"):
            for t in TIMESTEPS_50:
                demo(compiled, t)
    assert inductor_compiles() == before
    assert counters["stats"]["unique_graphs"] == 1
