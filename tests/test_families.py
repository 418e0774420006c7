"""Every diffusers transformer family cachepass claims: compiled with `fullgraph=True` and diffusers' own
`PyramidAttentionBroadcastConfig`, it gives, step for step, the outputs of diffusers' PAB hooks on an
eager copy, reuses exactly the layers the hooks reuse, and runs a 12-step loop (twice) as one Dynamo
graph with no graph breaks and no recompiles.

Builders are in families.py. Compiling every variant of all 12 families with Inductor took 5-8.5 min
from a cold Inductor cache on 2 shared CPU cores, so only INDUCTOR_FAMILIES use Inductor here (one
family per new graph shape: CogVideoX 1.5 rotary/temporal patches, Flux double+single stream through
diffusers' attention dispatcher, Wan self+cross); the others use the eager inner compiler. The cachepass
stages -- capture, tag, plan, rewrite, dispatch -- are the same; only the variant lowering differs (all
12 families also pass with Inductor, checked by hand). Set CACHEPASS_FAMILIES_COMPILER=inductor (or
eager) to force one compiler for every family.
"""

from __future__ import annotations

import dataclasses
import json
import os

import pytest
import torch
from diffusers import PyramidAttentionBroadcastConfig
from families import FAMILIES, build_family
from helpers import TIMESTEPS_12, HookedReference, max_diff, run_loop
from torch._dynamo.utils import counters

import cachepass

DIFFUSERS = PyramidAttentionBroadcastConfig

# Every kind at once, each with its own schedule. Under diffusers' rule a kind exists in a model when
# some attention module matches it: spatial everywhere; cross where `is_cross_attention` is set
# (PixArt, Latte, Allegro, Wan; not LTX, whose LTXAttention lacks the attribute, so diffusers files
# its cross attention under spatial); temporal only when spatial is unset (Latte, see latte-temporal).
ALL_KINDS = DIFFUSERS(spatial_attention_block_skip_range=2, spatial_attention_timestep_skip_range=(100, 800),
                      temporal_attention_block_skip_range=3, temporal_attention_timestep_skip_range=(150, 850),
                      cross_attention_block_skip_range=3, cross_attention_timestep_skip_range=(50, 900))
LATTE_TEMPORAL = DIFFUSERS(temporal_attention_block_skip_range=3, temporal_attention_timestep_skip_range=(150, 850),
                           cross_attention_block_skip_range=4, cross_attention_timestep_skip_range=(100, 950))

# The kinds each family must cache (and reuse at least once in 12 steps) under its config.
EXPECTED_KINDS = {
    "cogvideox": {"spatial"}, "cogvideox15": {"spatial"}, "latte": {"spatial", "cross"},
    "pixart": {"spatial", "cross"}, "allegro": {"spatial", "cross"}, "flux": {"spatial"},
    "hunyuanvideo": {"spatial"}, "mochi": {"spatial"}, "wan": {"spatial", "cross"}, "ltx": {"spatial"},
    "sd3": {"spatial"}, "cogview4": {"spatial"},
}

INDUCTOR_FAMILIES = {"cogvideox15", "flux", "wan"}

CASES = {name: (name, ALL_KINDS, EXPECTED_KINDS[name]) for name in FAMILIES}
CASES["latte-temporal"] = ("latte", LATTE_TEMPORAL, {"temporal", "cross"})


def compiler_for(family: str) -> str:
    forced = os.environ.get("CACHEPASS_FAMILIES_COMPILER")
    if forced:
        return forced
    return "inductor" if family in INDUCTOR_FAMILIES else "eager"


def inductor_compiles() -> int:
    c = counters["inductor"]
    return c["fxgraph_cache_miss"] + c["fxgraph_cache_hit"] + c["fxgraph_cache_bypass"]


@pytest.mark.parametrize("case", list(CASES))
def test_family_matches_diffusers_hooks(case):
    family, config, expected_kinds = CASES[case]
    compiler = compiler_for(family)
    demo = build_family(family)
    reference = HookedReference(demo, config)

    # Families whose pipeline rescales the timestep before the model (Flux: t / 1000) give cachepass the
    # pipeline's timestep through the config's callback, as diffusers requires for its own hooks.
    current = {"t": None}
    ours_config = config
    if getattr(demo, "timestep_scale", 1.0) != 1.0:
        ours_config = dataclasses.replace(config, current_timestep_callback=lambda: current["t"])
    compiled = torch.compile(demo.module, backend="cachepass", fullgraph=True,
                             options={"cache": ours_config, "compiler": compiler})
    uncached = run_loop(demo, demo.module, TIMESTEPS_12)

    worst = 0.0
    for generation in range(2):  # the second run must not see the first one's caches nor recompile
        reference.reset()
        start = len(reference.computed)
        ours = []
        with torch.no_grad(), torch.compiler.set_stance("fail_on_recompile" if generation else "default"):
            for t in TIMESTEPS_12:
                current["t"] = t
                ours.append(demo(compiled, t))
            theirs = [reference(t) for t in TIMESTEPS_12]
        graph = cachepass.compiled_graphs(compiled)[0]
        state = graph.states()[0][1]
        history = [r for r in state.history if r.generation == state.generation]
        assert len(history) == len(TIMESTEPS_12)
        for step, t in enumerate(TIMESTEPS_12):
            worst = max(worst, max_diff(ours[step], theirs[step]))
            assert max_diff(ours[step], theirs[step]) <= 1e-5, f"gen {generation} step {step} t={t:g}"
            reused_by_hooks = reference.reused(start + step)
            reused_by_us = {s.name for s in graph.tags.cached_sites if s.cache_kind in history[step].reused}
            assert reused_by_us == reused_by_hooks, f"gen {generation} step {step} t={t:g}"
            if reused_by_hooks:  # the output really comes from the cache
                assert max_diff(ours[step], uncached[step]) > 1e-5, f"step {step} equals the uncached output"

    # the same layers, and every kind the family has is reused at least once
    assert sorted(s.name for s in graph.tags.cached_sites) == reference.hooked
    assert {s.cache_kind for s in graph.tags.cached_sites} == expected_kinds
    assert {kind for r in history for kind in r.reused} == expected_kinds

    # one graph, no breaks, no recompiles (the second generation ran under fail_on_recompile)
    assert len(cachepass.compiled_graphs(compiled)) == 1
    assert counters["stats"]["unique_graphs"] == 1
    assert sum(counters["graph_break"].values()) == 0
    expected_variants = graph.plan.variants(TIMESTEPS_12)
    assert set(graph.lowered) == set(expected_variants)
    if compiler == "inductor":
        assert inductor_compiles() == len(expected_variants)
    _record(case=case, model=type(demo.module).__name__, compiler=compiler, worst_diff=worst,
            sites=len(graph.tags.sites), cached={k: sum(s.cache_kind == k for s in graph.tags.cached_sites)
                                                 for k in sorted(expected_kinds)},
            misclassified=[s.name for s in graph.tags.misclassified], variants=len(expected_variants),
            graphs=counters["stats"]["unique_graphs"], breaks=sum(counters["graph_break"].values()), recompiles=0)


def _record(**fields) -> None:
    """Append this case's results for scripts/families_table.py (only when it asks for them)."""
    path = os.environ.get("CACHEPASS_FAMILIES_RECORD")
    if path:
        with open(path, "a") as handle:
            handle.write(json.dumps(fields) + "\n")


def _assert_parity(demo, compiled, reference, timesteps, batch, current):
    """One generation: outputs and reused layers equal the hooks', step for step."""
    reference.reset()
    cachepass.reset(compiled)
    start = len(reference.computed)
    with torch.no_grad():
        ours = []
        for t in timesteps:
            current["t"] = t
            ours.append(demo(compiled, t, batch))
        theirs = [reference(t, batch) for t in timesteps]
    graph = cachepass.compiled_graphs(compiled)[-1]
    state = next(s for owner, s in graph.states() if owner is not None)
    history = [r for r in state.history if r.generation == state.generation]
    assert len(history) == len(timesteps)
    for step, t in enumerate(timesteps):
        assert max_diff(ours[step], theirs[step]) <= 1e-5, f"batch {batch} step {step} t={t:g}"
        reused_by_us = {s.name for s in graph.tags.cached_sites if s.cache_kind in history[step].reused}
        assert reused_by_us == reference.reused(start + step), f"batch {batch} step {step} t={t:g}"
    assert sorted(s.name for s in graph.tags.cached_sites) == reference.hooked
    assert any(r.reused for r in history)
    return graph


@pytest.mark.parametrize("family", ["allegro", "pixart"])
def test_batch_change_keeps_every_layer_cached(family):
    """A batch change recompiles once with a symbolic batch size (automatic dynamic shapes). In that graph
    the cross-attention mask's `batch * heads` is computed inside the first attn2 and reused by the next
    one; the site must still be cached, as diffusers' hook caches it."""
    demo = build_family(family)
    reference = HookedReference(demo, ALL_KINDS)
    current = {"t": None}
    compiled = torch.compile(demo.module, backend="cachepass", fullgraph=True,
                             options={"cache": ALL_KINDS, "compiler": "eager"})
    _assert_parity(demo, compiled, reference, TIMESTEPS_12[:4], 1, current)
    graph = _assert_parity(demo, compiled, reference, TIMESTEPS_12, 2, current)
    assert len(cachepass.compiled_graphs(compiled)) == 2 and graph.tags.rejected == ()


def test_mochi_pipeline_callback_rises():
    """MochiPipeline passes t (falling) to the model but sets `current_timestep = 1000 - t` (rising), which is
    what a diffusers PAB config's callback returns. cachepass must follow the callback like the hooks do."""
    demo = build_family("mochi")
    config = DIFFUSERS(spatial_attention_block_skip_range=3, spatial_attention_timestep_skip_range=(150, 800))
    reference = HookedReference(demo, config)
    for name in reference.hooked:  # the pipeline's callback, not the model's timestep
        hook = reference.module.get_submodule(name)._diffusers_hook.get_hook("pyramid_attention_broadcast")
        hook.current_timestep_callback = lambda: 1000 - reference._timestep
    current = {"t": None}
    ours_config = dataclasses.replace(config, current_timestep_callback=lambda: 1000 - current["t"])
    compiled = torch.compile(demo.module, backend="cachepass", fullgraph=True,
                             options={"cache": ours_config, "compiler": "eager"})
    _assert_parity(demo, compiled, reference, TIMESTEPS_12, 1, current)


@pytest.mark.parametrize("family", ["cogvideox", "latte", "wan"])
def test_dynamic_shapes_give_the_static_kinds_and_the_hooks_outputs(family):
    """`dynamic=True` makes sizes graph inputs; a query that reads a symbolic sequence length (CogVideoX's
    joint attention) is still self attention. Kinds equal the static compile's; outputs equal the hooks'."""
    demo = build_family(family)
    ours = cachepass.PABConfig(spatial_skip=2, temporal_skip=3, cross_skip=3, cross_timesteps=(50, 900))
    kinds = {}
    for dynamic in (False, True):
        torch._dynamo.reset()
        compiled = torch.compile(demo.module, backend="cachepass", dynamic=dynamic, fullgraph=True,
                                 options={"cache": ours, "compiler": "eager"})
        with torch.no_grad():
            demo(compiled, 999.0)
        graph = cachepass.compiled_graphs(compiled)[-1]
        kinds[dynamic] = {s.name: s.kind for s in graph.tags.sites}
    assert kinds[True] == kinds[False], {n: (kinds[False][n], k) for n, k in kinds[True].items() if kinds[False].get(n) != k}
    assert any(isinstance(e, torch.SymInt) or (isinstance(e, torch.Tensor) and any(isinstance(d, torch.SymInt)
                                                                                 for d in e.shape))
               for e in graph.captured.example_inputs())  # really dynamic
    torch._dynamo.reset()
    compiled = torch.compile(demo.module, backend="cachepass", dynamic=True, fullgraph=True,
                             options={"cache": ALL_KINDS, "compiler": "eager"})
    reference = HookedReference(demo, ALL_KINDS)
    current = {"t": None}
    _assert_parity(demo, compiled, reference, TIMESTEPS_12, None, current)


# Latte's reuse-cross variant adds shape guards on its symbolic frame size: compiled on first use, after Dynamo
# froze the ShapeEnv, lower raised GuardsAfterFreeze; every reachable variant now compiles at backend time
# (NOTE [Variants of a dynamic-shape graph compile with it]).
@pytest.mark.parametrize("family", ["cogvideox", "latte", "wan"])
def test_dynamic_shapes_with_inductor_give_the_hooks_outputs(family):
    """`dynamic=True` with the default compiler, Inductor. Dynamo then passes a module's float attributes
    (a dropout's `p`, a norm's `eps`) as 0-d tensor inputs read with `.item()`; Inductor must see them as the
    symbols Dynamo made (NOTE [Compiling in the inputs' fake mode], dynamo_meta.py), and its request to
    specialize one (`TensorifyScalarRestartAnalysis`) must reach Dynamo. Outputs and reused layers equal the
    hooks', step for step, in one cachepass graph with symbolic sizes."""
    demo = build_family(family)
    compiled = torch.compile(demo.module, backend="cachepass", dynamic=True, fullgraph=True,
                             options={"cache": ALL_KINDS})
    graph = _assert_parity(demo, compiled, HookedReference(demo, ALL_KINDS), TIMESTEPS_12, None, {"t": None})
    assert len(cachepass.compiled_graphs(compiled)) == 1 and graph.options.compiler == "inductor"
    assert any(isinstance(e, torch.SymInt) or (isinstance(e, torch.Tensor) and any(isinstance(d, torch.SymInt)
                                                                                 for d in e.shape))
               for e in graph.captured.example_inputs())  # really dynamic
    assert {lowered.compiler for lowered in graph.lowered.values()} == {"inductor"}
