"""FasterCache inside the compiler: step-by-step parity with diffusers' FasterCache hooks on eager copies,
the documented graph/compile counts, memory, sequential CFG, batch 1, and config errors."""

from __future__ import annotations

import dataclasses
import re
import warnings

import pytest
import torch
from diffusers import FasterCacheConfig
from fc_helpers import (CASES, SPLIT, FasterCacheReference, MirroredClock, cogvideox_case, flux_case, halves,
                        inductor_compiles, latte_case, max_diff)
from helpers import TIMESTEPS_12
from torch._dynamo.utils import counters

import cachepass
from cachepass.methods.fastercache import FasterCacheGraph, VariantKey
from cachepass.methods.fastercache.plan import make_plan
from cachepass.timesteps import timesteps_linspace

TIMESTEPS_50 = timesteps_linspace(50)
EAGER = "eager"  # runs the rewritten FX graphs as Python: same rewrite, no Inductor time


def compile_case(case, compiler="inductor", **config_changes):
    config = dataclasses.replace(case.config, **config_changes) if config_changes else case.config
    return torch.compile(case.demo.module, backend="cachepass", fullgraph=True,
                         options={"cache": config, "compiler": compiler})


def fc_graph(compiled) -> FasterCacheGraph:
    graphs = cachepass.compiled_graphs(compiled)
    assert len(graphs) == 1 and isinstance(graphs[0], FasterCacheGraph)
    return graphs[0]


def generation(graph):
    state = graph.states()[0][1]
    return [r for r in state.history if r.generation == state.generation]


# -- 1. parity with diffusers' hooks, every step, two runs --------------------------------------------

@pytest.mark.parametrize("name", list(CASES))
def test_matches_diffusers_fastercache_hooks_step_by_step(name):
    case = CASES[name]()
    reference = FasterCacheReference(case)
    compiled = compile_case(case)
    with torch.no_grad():
        uncached = [case(case.demo.module, t) for t in TIMESTEPS_12]
    for run in range(2):  # the second run must not see the first one's caches
        reference.reset()
        with torch.no_grad():
            for step, t in enumerate(TIMESTEPS_12):
                ours, theirs = case(compiled, t), reference(t)
                assert max_diff(ours, theirs) <= 1e-4, f"run {run} step {step} t={t:g}"
                record = generation(fc_graph(compiled))[-1]
                if record.estimated or record.extrapolated:  # a skipping step really skipped
                    assert max_diff(ours, uncached[step]) > 1e-3, f"run {run} step {step} equals the uncached output"
                else:
                    assert max_diff(ours, uncached[step]) <= 1e-4
    graph = fc_graph(compiled)
    steps = generation(graph)
    assert [r.ran for r in steps] == [d.step_kind for d in graph.plan.simulate(TIMESTEPS_12)]
    kinds = {k for r in steps for k in r.extrapolated}
    assert kinds == set(graph.plan.kinds) and kinds, "every configured kind is extrapolated at least once"
    if name != "flux":
        assert sum(r.estimated for r in steps) >= 5
    # diffusers' config is used as it is: its default callbacks are computed on the fly, never filled in
    assert case.config.low_frequency_weight_callback is None and case.config.high_frequency_weight_callback is None


def test_diffusers_rule_picks_the_layers_diffusers_hooks():
    case = latte_case()
    compiled = compile_case(case, EAGER)
    with torch.no_grad():
        case(compiled, 999.0)
    sites = {s.name: s.cache_kind for s in fc_graph(compiled).tags.sites}
    assert sites == {"transformer_blocks.0.attn1": "spatial", "transformer_blocks.0.attn2": None,
                     "temporal_transformer_blocks.0.attn1": "temporal", "transformer_blocks.1.attn1": "spatial",
                     "transformer_blocks.1.attn2": None, "temporal_transformer_blocks.1.attn1": "temporal"}
    hooked = {n for n, m in FasterCacheReference(case).module.named_modules()
              if getattr(m, "_diffusers_hook", None) is not None and m._diffusers_hook.get_hook("faster_cache_block")}
    assert hooked == {n for n, kind in sites.items() if kind}


# -- 2. counts over 50 steps ------------------------------------------------------------------------

COUNTS = {  # case, mode, Dynamo graphs, Inductor compiles (= the plan's variants)
    "cogvideox": (cogvideox_case, "batched", 2, 3),
    "latte": (latte_case, "batched", 2, 5),
    "flux": (flux_case, "distilled", 1, 2),
    "cogvideox-sequential": (cogvideox_case, "sequential", 1, 2),
}


def run_generation(case, compiled, mode):
    with torch.no_grad():
        for t in TIMESTEPS_50:
            if mode == "sequential":
                cond, uncond = halves(case.kwargs(t))
                case.clock.t = t
                compiled(**cond), compiled(**uncond)
            else:
                case(compiled, t)


@pytest.mark.parametrize("name", list(COUNTS))
def test_fifty_steps_documented_graphs_and_compiles_no_recompiles(name):
    make, mode, graphs, compiles = COUNTS[name]
    case = make()
    compiled = compile_case(case)
    run_generation(case, compiled, mode)
    after_first = (counters["stats"]["unique_graphs"], inductor_compiles())
    with torch.compiler.set_stance("fail_on_recompile"):  # raises on any recompile
        run_generation(case, compiled, mode)

    graph = fc_graph(compiled)
    expected = graph.plan.variants(TIMESTEPS_50, mode)
    assert len(expected) == compiles
    assert counters["stats"]["unique_graphs"] == graphs
    assert sum(counters["graph_break"].values()) == 0
    assert inductor_compiles() == compiles and set(graph.lowered) == set(expected)
    assert after_first == (graphs, compiles), "the second generation compiles nothing"
    assert (graph.fc.half is not None) == (graphs == 2)
    ran = [r.ran for r in generation(graph)]
    assert ran == [d.step_kind for d in graph.plan.simulate(TIMESTEPS_50, mode)]


def test_half_batch_graph_inputs_map_to_the_full_graph_by_source():
    case = cogvideox_case()
    compiled = compile_case(case, EAGER)
    with torch.no_grad():
        case(compiled, 999.0)
    graph = fc_graph(compiled)
    half = graph.fc.half
    assert half.batch == 1 and graph.fc.cfg_batch == 2
    sources = {graph.captured.inputs[i].source: sliced for i, sliced in half.arg_map}
    assert sources["L['kwargs']['hidden_states']"] and sources["L['kwargs']['encoder_hidden_states']"]
    assert sources["L['kwargs']['timestep']"]
    assert not any(sliced for source, sliced in sources.items() if "_parameters" in source)


# -- 3. memory ------------------------------------------------------------------------------------------

def test_cache_memory_is_reported_and_freed_by_reset():
    case = cogvideox_case()
    compiled = compile_case(case, EAGER)
    with torch.no_grad():
        for t in TIMESTEPS_12:
            case(compiled, t)
    graph = fc_graph(compiled)
    report = cachepass.report(compiled).graphs[0]
    # per generation: [t2, t] for every cached attention output at the conditional batch, and R_low,
    # R_high in fp32 at the conditional prediction's shape
    blocks = sum(2 * s.spec.nbytes_hint for s in graph.half_tags.slots)
    prediction = case.demo.inputs(0.0, 1)["hidden_states"]
    deltas = 2 * 4 * prediction.numel()
    assert report.cache_bytes == blocks + deltas == 14_336
    assert report.peak_bytes >= report.cache_bytes
    assert "peak" in str(report) and "estimated" in report.step_table()

    cachepass.reset(compiled)
    state = graph.states()[0][1]
    assert state.cache_bytes() == 0 and not state.blocks and state.deltas is None
    after = cachepass.report(compiled).graphs[0]
    assert after.cache_bytes == 0 and after.peak_bytes == 0 and after.generation_peaks[-1] == report.peak_bytes

    with torch.no_grad():  # the pipeline's own reset (maybe_free_model_hooks) frees them too
        for t in TIMESTEPS_12[:4]:
            case(compiled, t)
    assert state.cache_bytes() > 0
    case.demo.module._reset_stateful_cache()
    assert state.cache_bytes() == 0 and state.iteration == -1


def test_batched_full_steps_keep_only_the_conditional_half_and_copy_it_in_the_graph():
    """NOTE [The conditional half, copied in the graph]: under Inductor the full variant returns each cached
    output's conditional half as a copy of its own (Inductor must not fold the copy back into a view of the
    2B output: the cache would hold twice the memory), and the runtime copies nothing beside the graph."""
    case = cogvideox_case()
    compiled = compile_case(case)
    clones = []
    original_clone = torch.Tensor.clone

    def counting_clone(self, *args, **kwargs):
        clones.append(tuple(self.shape))
        return original_clone(self, *args, **kwargs)

    with torch.no_grad():
        case(compiled, TIMESTEPS_12[0])  # the first call: CFG calls not known yet, both kinds of writes kept
        torch.Tensor.clone = counting_clone
        try:
            case(compiled, TIMESTEPS_12[1])  # a full batched step (outside the unconditional skip window)
        finally:
            torch.Tensor.clone = original_clone
    graph = fc_graph(compiled)
    assert [r.ran for r in generation(graph)] == ["full", "full"] and graph.states()[0][1].mode == "batched"
    full = graph.lowered[VariantKey("full")].variant
    assert full.halves and all(n.name.startswith("cache_write_cond__") for n in full.gm.graph.output_node().args[0]
                               [graph.captured.num_outputs + len(full.writes):][: len(full.writes)])
    assert clones == [], "no copy beside the graph"
    state = graph.states()[0][1]
    for slot in graph.half_tags.slots:
        t2, t = state.blocks.get(slot.ident).tensors
        for tensor in (t2, t):
            assert tensor.shape[0] == 1 and tensor.is_contiguous()
            assert tensor.untyped_storage().nbytes() == tensor.nbytes, f"{slot.ident} keeps more than its half"
    blocks = sum(2 * s.spec.nbytes_hint for s in graph.half_tags.slots)
    deltas = 2 * 4 * case.demo.inputs(0.0, 1)["hidden_states"].numel()
    assert state.cache_bytes() == blocks + deltas == 14_336


def test_a_dynamic_batch_graph_skips_at_its_captured_half_batch_and_computes_at_others(caplog):
    """Batch 2 then 4: Dynamo recompiles to a dynamic-shape graph, whose half-batch twin is captured at 2.
    Batch 6 reuses that graph: its half batch 3 has no twin, so both halves are computed, with a warning."""
    case = cogvideox_case()
    reference = FasterCacheReference(case)
    compiled = compile_case(case, EAGER)
    with torch.no_grad():
        for batch in (2, 4, 6):
            reference.reset()
            with caplog.at_level("WARNING", logger="cachepass"):
                for t in TIMESTEPS_12:
                    ours = case(compiled, t, batch=batch)
                    if batch == 6:
                        assert max_diff(ours, case(case.demo.module, t, batch=batch)) <= 1e-5
                    else:
                        assert max_diff(ours, reference(t, batch=batch)) <= 1e-4, (batch, t)
    graphs = cachepass.compiled_graphs(compiled)
    assert [g.fc.half.batch for g in graphs] == [1, 2]
    assert ("the half-batch graph was captured for inputs (2, 2, 4, 8, 8), this call's conditional half is "
            "(3, 2, 4, 8, 8)") in caplog.text


# -- batch 1 per branch, sequential CFG, undefined cases ------------------------------------------

@pytest.mark.parametrize("rows", [1, 2])
def test_sequential_cond_uncond_calls_equal_the_rows_of_diffusers_batched_run(rows):
    """Two calls per step (Wan, Flux true-CFG) of batch 1 each, where diffusers' hook raises IndexError, or of
    batch 2 (two prompts). With an even batch per call, the first call under cfg_calls="auto" runs the full
    variant that also copies conditional halves (the calls could still be batched: NOTE [The conditional half,
    copied in the graph]); once they are known to be sequential, the cache keeps the whole writes."""
    case = dataclasses.replace(cogvideox_case(), batch=2 * rows)
    reference = FasterCacheReference(case)
    compiled = compile_case(case, EAGER)
    for run in range(2):
        reference.reset()
        with torch.no_grad():
            for step, t in enumerate(TIMESTEPS_12):
                cond, uncond = halves(case.kwargs(t), rows)
                case.clock.t = t
                ours_cond, ours_uncond = compiled(**cond)[0], compiled(**uncond)[0]
                theirs = reference(t)
                assert max_diff(ours_cond, theirs[rows:]) <= 1e-4, f"run {run} step {step} cond"
                assert max_diff(ours_uncond, theirs[:rows]) <= 1e-4, f"run {run} step {step} uncond"
    graph = fc_graph(compiled)
    steps = generation(graph)
    assert {r.mode for r in steps[1:]} == {"sequential"} and (graph.fc.half is None) == (rows == 1)
    assert graph.lowered[VariantKey("full")].variant.halves == (rows == 2)
    assert [r.ran for r in steps] == [d.step_kind for d in graph.plan.simulate(TIMESTEPS_12, "sequential")]
    assert sum(r.ran == "estimate" for r in steps) >= 5, "skip steps run no graph for the unconditional call"


def test_explicit_sequential_mode_equals_auto():
    case = cogvideox_case()
    outputs = []
    for cfg_calls in ("auto", "sequential"):
        config = cachepass.FCConfig(spatial_timesteps=(-1, 681), uncond_timesteps=(-1, 781), attention_weight=0.3,
                                    classification="diffusers", cfg_calls=cfg_calls)
        compiled = torch.compile(case.demo.module, backend="cachepass", options={"cache": config, "compiler": EAGER})
        with torch.no_grad():
            outputs.append([compiled(**kw)[0] for t in TIMESTEPS_12 for kw in halves(case.kwargs(t))])
        cachepass.reset(compiled)
        torch._dynamo.reset()
    assert all(max_diff(a, b) == 0 for a, b in zip(*outputs))


@pytest.mark.parametrize("batch", [1, 3])
def test_one_call_per_step_without_cfg_halves_raises_a_clear_error(batch):
    case = cogvideox_case()
    compiled = compile_case(case, EAGER)
    with torch.no_grad():
        case(compiled, 999.0, batch=batch)
        with pytest.raises(cachepass.ConfigError, match=re.escape(
                f"called once per step with batch {batch}, which holds no [uncond, cond] halves: FasterCache's "
                f"CFG-Cache needs classifier-free guidance. Set is_guidance_distilled=True")):
            case(compiled, 900.0, batch=batch)


def test_batch_1_once_per_step_works_when_guidance_distilled():
    case = cogvideox_case(is_guidance_distilled=True, current_timestep_callback=None)
    reference = FasterCacheReference(case)
    compiled = compile_case(case, EAGER)
    with torch.no_grad():
        for t in timesteps_linspace(12, 999.0, 700.0) + TIMESTEPS_12[4:]:  # the first step outside (-1, 681)
            assert max_diff(case(compiled, t, batch=1), reference(t, batch=1)) <= 1e-4


def test_distilled_first_step_inside_the_window_computes_where_diffusers_crashes():
    case = flux_case(spatial_attention_timestep_skip_range=(-1, 1000))
    compiled = compile_case(case, EAGER)
    with torch.no_grad():
        assert max_diff(case(compiled, 999.0), case(case.demo.module, 999.0)) == 0
        with pytest.raises(TypeError):  # diffusers: the block cache is still None
            FasterCacheReference(case)(999.0)
    assert generation(fc_graph(compiled))[0].ran == "full"


def test_inputs_with_the_cfg_batch_must_be_split_for_the_half_batch_graph():
    """Flux with batched true CFG: `pooled_projections` and `guidance` also hold [uncond, cond] rows. Not split,
    the half graph would broadcast them to the wrong batch (diffusers: a size mismatch); split, it matches."""
    case = flux_case(is_guidance_distilled=False)
    compiled = compile_case(case, EAGER)
    with torch.no_grad(), pytest.raises(cachepass.ConfigError, match=re.escape(
            "the half-batch graph predicts (2, 16, 4) instead of (1, 16, 4); inputs [\"L['kwargs']['guidance']\", "
            "\"L['kwargs']['pooled_projections']\"] also have the CFG batch 2 but are not split")):
        for t in TIMESTEPS_12:
            case(compiled, t, batch=2)
    torch._dynamo.reset()
    # diffusers' hooks cannot run this case (their low-pass mask is 4-D, Flux predicts (B, tokens, C)): check the
    # rows instead. The conditional row is computed at the half batch, the unconditional one is estimated.
    case = flux_case(is_guidance_distilled=False, spatial_attention_block_skip_range=None,
                     _unconditional_conditional_input_kwargs_identifiers=SPLIT + ("pooled_projections", "guidance"))
    compiled = compile_case(case, EAGER)
    with torch.no_grad():
        for t in TIMESTEPS_12:
            ours, uncached = case(compiled, t, batch=2), case(case.demo.module, t, batch=2)
            assert max_diff(ours[1:], uncached[1:]) <= 1e-5, t
            if generation(fc_graph(compiled))[-1].estimated:
                assert max_diff(ours[:1], uncached[:1]) > 1e-3, t
            else:
                assert max_diff(ours[:1], uncached[:1]) <= 1e-5, t
    assert sum(r.estimated for r in generation(fc_graph(compiled))) >= 5


def test_a_third_call_at_one_timestep_in_sequential_mode_is_refused():
    case = cogvideox_case()
    compiled = compile_case(case, EAGER)
    cond, uncond = halves(case.kwargs(999.0))
    with torch.no_grad():
        compiled(**cond), compiled(**uncond)
        with pytest.raises(cachepass.ConfigError, match="a third call at timestep 999 in one step"):
            compiled(**cond)


@pytest.mark.parametrize("changes", [{"estimate": "eager"}, {"deltas": "eager"},
                                     {"estimate": "eager", "deltas": "eager"}])
def test_frequency_split_beside_or_inside_the_graph_gives_the_same_outputs(changes):
    case = cogvideox_case()
    outputs = []
    for placement in ({}, changes):
        config = dataclasses.replace(cachepass.methods.fastercache.from_diffusers(case.config), **placement)
        compiled = torch.compile(case.demo.module, backend="cachepass", options={"cache": config, "compiler": EAGER})
        with torch.no_grad():
            outputs.append([case(compiled, t) for t in TIMESTEPS_12])
        variants = fc_graph(compiled).lowered
        assert variants[VariantKey("full")].variant.deltas == (placement.get("deltas", "graph") == "graph")
        assert variants[VariantKey("half")].variant.estimate == (placement.get("estimate", "graph") == "graph")
        torch._dynamo.reset()
    assert all(max_diff(a, b) <= 1e-5 for a, b in zip(*outputs))


def test_inductor_complex_warning_is_silenced_only_for_the_fft_cachepass_placed():
    """Inductor warns once per process that it has no code generation for complex operators; FasterCache's
    in-graph frequency split is complex by cachepass's choice, so its compile must not warn, and a user's own
    complex graph compiled afterwards still must (NOTE [Inductor's complex-operator warning], lower.py)."""
    from torch._inductor.lowering import _warn_complex_not_supported

    message = "Torchinductor does not support code generation for complex operators"

    def complex_warnings(run):
        _warn_complex_not_supported.cache_clear()
        with warnings.catch_warnings(record=True) as caught, torch._inductor.config.patch(fx_graph_cache=False):
            warnings.simplefilter("always")
            run()
        return [str(w.message) for w in caught if message in str(w.message)]

    case = cogvideox_case()
    compiled = compile_case(case)

    def generation_with_inductor():
        with torch.no_grad():
            for t in TIMESTEPS_12:
                case(compiled, t)

    assert complex_warnings(generation_with_inductor) == []
    assert fc_graph(compiled).lowered[VariantKey("full")].variant.deltas  # the FFT did run inside a compiled graph
    own = torch.compile(lambda x: torch.fft.irfft(torch.fft.rfft(x) * 2, n=8), backend="inductor")
    assert len(complex_warnings(lambda: own(torch.randn(8)))) == 1


def test_cachepass_config_tags_from_the_graph():
    case = latte_case()
    config = cachepass.FCConfig(spatial_skip=2, temporal_skip=3)
    compiled = torch.compile(case.demo.module, backend="cachepass", options={"cache": config, "compiler": EAGER})
    with torch.no_grad():
        for t in TIMESTEPS_12:
            case(compiled, t)
    graph = fc_graph(compiled)
    kinds = {s.name: s.cache_kind for s in graph.tags.sites}
    assert kinds["transformer_blocks.0.attn2"] is None  # cross attention: never
    assert kinds["temporal_transformer_blocks.0.attn1"] == "temporal"
    assert "FasterCache[spatial: skip 2 in (-1, 681); temporal: skip 3" in str(cachepass.report(compiled))


# -- configs ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, message", [
    (dict(spatial_skip=0), "FCConfig.spatial_skip=0 must be >= 1"),
    (dict(uncond_skip=None), "FCConfig.uncond_skip=None must be an int >= 1"),
    (dict(uncond_timesteps=(641, -1)), "FCConfig.uncond_timesteps=(641, -1) is empty"),
    (dict(alpha_low="1.1"), "FCConfig.alpha_low='1.1' must be a number, got str."),
    (dict(attention_weight="half"), "FCConfig.attention_weight='half' must be a number or a callable"),
    (dict(cfg_calls="twice"),
     "FCConfig.cfg_calls='twice' is not valid; choose one of 'auto', 'batched', 'sequential'."),
    (dict(estimate="gpu"), "FCConfig.estimate='gpu' is not valid; choose one of 'graph', 'eager'."),
    (dict(split_inputs="hidden_states"), "FCConfig.split_inputs='hidden_states' must be a tuple of input names"),
    (dict(spatial_identifiers=("(",)), "FCConfig.spatial_identifiers holds '(', which is not a regular expression"),
    (dict(guidance_distilled=True, spatial_skip=None), "FCConfig caches nothing"),
])
def test_fc_config_rejects_bad_values(kwargs, message):
    with pytest.raises(cachepass.ConfigError, match=re.escape(message)):
        cachepass.FCConfig(**kwargs)


@pytest.mark.parametrize("changes, message", [
    (dict(tensor_format="BHWC"), "FasterCacheConfig.tensor_format='BHWC' is not valid; choose one of 'BCFHW', "
                                 "'BFCHW', 'BCHW'."),
    (dict(unconditional_batch_skip_range=0), "FasterCacheConfig.unconditional_batch_skip_range=0 must be an int >= 1"),
    (dict(spatial_attention_timestep_skip_range=(681, -1)),
     "FasterCacheConfig.spatial_attention_timestep_skip_range=(681, -1) is empty"),
    (dict(attention_weight_callback=0.3), "FasterCacheConfig.attention_weight_callback must be None or callable"),
])
def test_diffusers_config_is_validated_under_its_own_names_before_compiling(changes, message):
    case = cogvideox_case(**changes)
    compiled = torch.compile(case.demo.module, backend="cachepass", options={"cache": case.config})
    with pytest.raises(Exception, match=re.escape(message)), torch.no_grad():
        case(compiled, 999.0)
    assert not counters["inductor"]


def test_diffusers_config_converts_without_mutation():
    config = FasterCacheConfig(temporal_attention_block_skip_range=3, alpha_low_frequency=1.2)
    before = dataclasses.asdict(config)
    converted = cachepass.methods.fastercache.from_diffusers(config)
    assert dataclasses.asdict(config) == before
    assert (converted.temporal_skip, converted.alpha_low, converted.attention_weight) == (3, 1.2, 0.5)
    assert converted.classification == "diffusers" and converted.uncond_timesteps == (-1.0, 641.0)


def test_plan_predicts_the_schedule_of_diffusers_documented_cogvideox_config():
    config = cachepass.methods.fastercache.from_diffusers(cogvideox_case().config)
    plan = make_plan(frozenset({"spatial"}), config)
    kinds = [d.step_kind for d in plan.simulate(TIMESTEPS_12)]
    assert kinds == ["full", "full", "full", "half", "half", "full", "half", "half+extrapolate-spatial", "half",
                     "half+extrapolate-spatial", "full", "half+extrapolate-spatial"]
    sequential = [d.step_kind for d in plan.simulate(TIMESTEPS_12, "sequential")]
    assert sequential[6:8] == ["full", "estimate"] and sequential[14:16] == ["full+extrapolate-spatial", "estimate"]
    assert [v.name for v in plan.variants(TIMESTEPS_50, "distilled")] == ["full", "full+extrapolate-spatial"]


# -- options shared with PAB -------------------------------------------------------------------------

def test_cudagraphs_on_a_cpu_graph_is_ignored_with_a_warning(caplog):
    case = cogvideox_case()
    compiled = torch.compile(case.demo.module, backend="cachepass", options={"cache": case.config, "cudagraphs": True})
    with caplog.at_level("WARNING", logger="cachepass"), torch.no_grad():
        case(compiled, 999.0)
    assert "cudagraphs applies to CUDA graphs; this graph runs on cpu" in caplog.text


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cudagraph_replay_keeps_cached_tensors_intact():
    case = cogvideox_case()
    case.demo.to("cuda", torch.float32)
    reference = FasterCacheReference(case)
    compiled = torch.compile(case.demo.module, backend="cachepass", fullgraph=True,
                             options={"cache": case.config, "cudagraphs": True})
    for run in range(2):
        reference.reset()
        with torch.no_grad():
            for t in TIMESTEPS_12:
                ours = case(compiled, t).clone()
                assert max_diff(ours, reference(t)) <= 1e-4, (run, t)
    assert any(r.estimated for r in generation(fc_graph(compiled)))


def test_a_callback_that_rises_within_a_generation_does_not_restart_it():
    """A callback need not fall (MochiPipeline's current_timestep is 1000 - t): a new generation is then
    told by the model's own timestep input, as PAB does, and the hooks' outputs are matched step by step."""
    case = cogvideox_case()
    case.clock = MirroredClock()
    case.config = dataclasses.replace(case.config, current_timestep_callback=case.clock)
    reference = FasterCacheReference(case)
    compiled = compile_case(case)
    for run in range(2):
        reference.reset()
        with torch.no_grad():
            for step, t in enumerate(TIMESTEPS_12):
                assert max_diff(case(compiled, t), reference(t)) <= 1e-4, f"run {run} step {step} t={t:g}"
        steps = generation(fc_graph(compiled))
        assert len(steps) == len(TIMESTEPS_12) and any(r.estimated for r in steps)


def test_a_diffusers_config_without_attention_weight_says_it_uses_half(caplog):
    """diffusers' FasterCache warns that it defaults the attention weight to 0.5; so does cachepass, and the
    weight it uses is that."""
    import logging

    from diffusers import FasterCacheConfig

    from cachepass.methods import to_cache_config

    with caplog.at_level(logging.WARNING, logger="cachepass"):
        ours = to_cache_config(FasterCacheConfig(spatial_attention_block_skip_range=2))
    assert "no attention_weight_callback in the FasterCacheConfig; using a weight of 0.5" in caplog.text
    assert ours.attention_weight == 0.5


def test_mochi_without_fullgraph_is_told_what_to_pass_and_then_matches_the_hooks():
    """Mochi's attention drops padded prompt tokens with torch.nonzero, which Dynamo captures only under
    fullgraph=True (or capture_dynamic_output_shape_ops) and breaks the graph at otherwise. The error says
    both; following it without fullgraph gives the hooks' outputs, with no graph break."""
    from families import build_family
    from fc_helpers import Case, Clock

    clock = Clock()
    config = FasterCacheConfig(spatial_attention_block_skip_range=2, spatial_attention_timestep_skip_range=(-1, 681),
                               current_timestep_callback=clock, attention_weight_callback=lambda _: 0.4,
                               is_guidance_distilled=True)
    case = Case("mochi", build_family("mochi"), config, 1, clock)
    compiled = torch.compile(case.demo.module, backend="cachepass", options={"cache": config, "compiler": "eager"})
    with pytest.raises(Exception, match="capture_dynamic_output_shape_ops = True and capture_scalar_outputs = True"), \
            torch.no_grad():
        case(compiled, 999.0)
    torch._dynamo.reset()
    counters.clear()
    reference = FasterCacheReference(case)
    with torch._dynamo.config.patch(capture_dynamic_output_shape_ops=True, capture_scalar_outputs=True):
        compiled = torch.compile(case.demo.module, backend="cachepass", options={"cache": config, "compiler": "eager"})
        with torch.no_grad():
            for t in TIMESTEPS_12:
                assert max_diff(case(compiled, t), reference(t)) <= 1e-5, t
    assert sum(counters["graph_break"].values()) == 0
    history = cachepass.compiled_graphs(compiled)[-1].states()[0][1].history
    assert any(r.extrapolated for r in history)  # some steps reused attention
