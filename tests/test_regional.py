"""Regional compilation: `transformer.compile_repeated_blocks(backend="cachepass", ...)` compiles each block
class on its own (one graph serves every instance). cachepass names every layer by its full path in the
model, keeps a state per block instance and reads the timestep once per model step: outputs equal diffusers'
hooks on an eager copy, and the report lists the layers the whole-model compile caches."""

from __future__ import annotations

import contextlib
import copy
import re

import pytest
import torch
from diffusers import FasterCacheConfig, FirstBlockCacheConfig, PyramidAttentionBroadcastConfig
from diffusers.hooks import HookRegistry, apply_faster_cache
from families import build_family
from fbc_helpers import THRESHOLDS, FBCHooked, compiled_call, count_host_reads
from torch._dynamo.utils import counters
from helpers import TIMESTEPS_12, HookedReference, max_diff

import cachepass
from cachepass.integrations.scope import renamed

FAMILIES = ("wan", "flux", "hunyuanvideo")


class Clock:
    """The pipeline's current timestep (0..1000), counting how often the runtime asks for it."""

    def __init__(self) -> None:
        self.t: float | None = None
        self.calls = 0

    def __call__(self) -> float | None:
        self.calls += 1
        return self.t


def pab_config(clock: Clock, **changes) -> PyramidAttentionBroadcastConfig:
    return PyramidAttentionBroadcastConfig(spatial_attention_block_skip_range=2,
                                           spatial_attention_timestep_skip_range=(100, 800),
                                           current_timestep_callback=clock, **changes)


def fc_config(clock: Clock) -> FasterCacheConfig:
    return FasterCacheConfig(spatial_attention_block_skip_range=2, spatial_attention_timestep_skip_range=(-1, 681),
                             current_timestep_callback=clock, attention_weight_callback=lambda _: 0.4,
                             is_guidance_distilled=True)


class FCReference:
    """diffusers' FasterCache hooks on an eager copy (config copied: apply_faster_cache fills it in)."""

    def __init__(self, demo, config, clock: Clock) -> None:
        self.demo, self.clock = demo, clock
        self.module = copy.deepcopy(demo.module)
        apply_faster_cache(self.module, copy.copy(config))

    def reset(self) -> None:
        HookRegistry.check_if_exists_or_initialize(self.module).reset_stateful_hooks()

    def __call__(self, t: float) -> torch.Tensor:
        with torch.no_grad():
            return self.demo(self.module, t)


def regional(demo, config, compiler: str = "inductor"):
    module = copy.deepcopy(demo.module)
    module.compile_repeated_blocks(backend="cachepass", fullgraph=True,
                                   options={"cache": config, "compiler": compiler})
    return module


def cached_layers(model) -> set[str]:
    return {site.name for graph in cachepass.report(model).graphs for site in graph.sites if site.cached}


def reused_layers(model, step: int) -> set[str]:
    """The layers every block instance read from its cache at `step` of its current generation (PAB)."""
    reused = set()
    for graph in cachepass.compiled_graphs(model):
        for owner, state in graph.states():
            path = graph.path_of(owner)
            record = [r for r in state.history if r.generation == state.generation][step]
            reused |= {renamed(s.name, graph.captured.prefix, path) for s in graph.tags.cached_sites
                       if s.cache_kind in record.reused}
    return reused


def run(demo, module, clock: Clock, timesteps=TIMESTEPS_12) -> list[torch.Tensor]:
    outputs = []
    with torch.no_grad():
        for t in timesteps:
            clock.t = t
            outputs.append(demo(module, t))
    return outputs


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("method", ["pab", "fastercache"])
def test_regional_compile_matches_diffusers_hooks_and_the_whole_model_compile(family, method):
    demo = build_family(family)
    clock = Clock()
    config = pab_config(clock) if method == "pab" else fc_config(clock)
    reference = HookedReference(demo, config) if method == "pab" else FCReference(demo, config, clock)
    blocks = regional(demo, config)
    whole = torch.compile(copy.deepcopy(demo.module), backend="cachepass", fullgraph=True,
                          options={"cache": config, "compiler": "eager"})
    uncached = run(demo, demo.module, clock)
    for generation in range(2):  # the second must not read the first one's caches
        reference.reset()
        start = len(getattr(reference, "computed", []))
        ours = run(demo, blocks, clock)
        theirs = []
        for t in TIMESTEPS_12:
            clock.t = t
            theirs.append(reference(t))
        differs = 0
        for step, t in enumerate(TIMESTEPS_12):
            assert max_diff(ours[step], theirs[step]) <= 1e-5, f"generation {generation} step {step} t={t:g}"
            differs += max_diff(ours[step], uncached[step]) > 1e-5
            if method == "pab":
                assert reused_layers(blocks, step) == reference.reused(start + step), f"gen {generation} step {step}"
        assert differs, "no step reused anything: the test would pass without caching"
    run(demo, whole, clock)
    assert cached_layers(blocks) == cached_layers(whole)
    if method == "pab":
        assert cached_layers(blocks) == set(reference.hooked)
    assert len({p for g in cachepass.compiled_graphs(blocks) for p in g.instance_paths()}) >= 2


def test_one_graph_serves_every_instance_with_a_state_each_and_one_timestep_read_per_step():
    demo = build_family("wan")  # two WanTransformerBlocks
    clock = Clock()
    blocks = regional(demo, pab_config(clock))
    run(demo, blocks, clock)
    graphs = [g for g in cachepass.compiled_graphs(blocks) if g.cached]
    assert len(graphs) == 1 and graphs[0].instance_paths() == ["blocks.0", "blocks.1"]
    assert len(graphs[0].states()) == 2  # one per instance
    clock.calls = 0
    run(demo, blocks, clock)
    assert clock.calls == len(TIMESTEPS_12), "the callback must be read once per model step, not once per block"


def test_a_second_model_served_by_the_same_graph_gets_its_own_names_and_states():
    demo = build_family("wan")
    clock = Clock()
    config = pab_config(clock)
    first, second = regional(demo, config), regional(demo, config)  # the second hits Dynamo's cache of the first
    reference = HookedReference(demo, config)
    run(demo, first, clock)
    ours, theirs = run(demo, second, clock), [reference(t) for t in TIMESTEPS_12]
    assert all(max_diff(a, b) <= 1e-5 for a, b in zip(ours, theirs))
    assert cached_layers(second) == cached_layers(first) == {"blocks.0.attn1", "blocks.1.attn1"}
    graphs = [g for g in cachepass.compiled_graphs(second) if g.cached]
    assert len(graphs) == 1 and len(graphs[0].states()) == 4  # two instances in each model


def test_cachepass_config_reads_the_models_own_timestep_once_per_step(monkeypatch):
    """cachepass.PABConfig without a callback: the model's `timestep` reaches the block graphs through a
    pre-hook on the model, read once per step (counted against the same model compiled by plain Inductor)."""
    demo = build_family("wan")
    layers = {"blocks.0.attn1": (2, (100, 800)), "blocks.1.attn1": (2, (100, 800))}
    reference = HookedReference(demo, layers=layers)
    blocks = regional(demo, cachepass.PABConfig(spatial_skip=2, cross_skip=None))
    plain = copy.deepcopy(demo.module)
    plain.compile_repeated_blocks(backend="inductor", fullgraph=True)
    clock = Clock()
    for generation in range(2):
        reference.reset()
        ours, theirs = run(demo, blocks, clock), [reference(t) for t in TIMESTEPS_12]
        assert all(max_diff(a, b) <= 1e-5 for a, b in zip(ours, theirs)), f"generation {generation}"
    run(demo, plain, clock)
    reads = count_host_reads(monkeypatch)
    with torch.compiler.set_stance("fail_on_recompile"):
        run(demo, plain, clock)
        baseline = len(reads)
        run(demo, blocks, clock)
    assert len(reads) - 2 * baseline == len(TIMESTEPS_12)


def test_instances_the_name_rules_tell_apart_get_runtimes_of_their_own():
    """diffusers' identifiers naming one block: blocks.0.attn1 is cached, blocks.1.attn1 is not, from one graph."""
    demo = build_family("wan")
    clock = Clock()
    config = pab_config(clock, spatial_attention_block_identifiers=(r"blocks\.0\.",))
    reference = HookedReference(demo, config)
    assert reference.hooked == ["blocks.0.attn1"]
    blocks = regional(demo, config, compiler="eager")
    ours, theirs = run(demo, blocks, clock), [reference(t) for t in TIMESTEPS_12]
    assert all(max_diff(a, b) <= 1e-5 for a, b in zip(ours, theirs))
    assert cached_layers(blocks) == {"blocks.0.attn1"}


@pytest.mark.parametrize("config, message", [
    (cachepass.MagConfig(calibrate=True), "MagCache: calibrate=True on a graph of one block (blocks.0"),
    (cachepass.TSConfig(use_lite_mode=True), "TaylorSeer: this graph holds one block (blocks.0"),
    (cachepass.TeaCacheConfig(threshold=0.3, coefficients=(1.0, 0.0)),
     "TeaCache: the 'timestep_embedding' indicator on a graph of one block (blocks.0"),
    (cachepass.SeaConfig(), "SeaCache: this graph holds one block"),
    (cachepass.DBConfig(Fn_compute_blocks=2, Bn_compute_blocks=0), "F2B0 is not yet supported on a graph of one"),
    (FasterCacheConfig(spatial_attention_block_skip_range=2, current_timestep_callback=lambda: 500.0),
     "skipping the unconditional branch acts on the whole model's output"),
])
def test_methods_that_need_the_whole_model_refuse_a_block_graph_naming_the_fix(config, message):
    demo = build_family("wan")
    blocks = copy.deepcopy(demo.module)
    blocks.compile_repeated_blocks(backend="cachepass", fullgraph=True, options={"cache": config})
    with pytest.raises(Exception, match=re.escape(message)) as raised, torch.no_grad():
        demo(blocks, 999.0)
    assert isinstance(getattr(raised.value, "inner_exception", raised.value), cachepass.ConfigError)
    assert "torch.compile(transformer" in str(raised.value)


def fbc_generation(demo, module, context: str = "cond") -> list[torch.Tensor]:
    """One 12-step generation inside `cache_context(context)`, as FBCHooked calls its copy."""
    outputs = []
    with torch.no_grad():
        for t in TIMESTEPS_12:
            with module.cache_context(context):
                outputs.append(demo(module, t))
    return outputs


def fbc_pattern(model, generation_steps: int = len(TIMESTEPS_12)) -> str:
    """The last generation's steps as the head block's graph recorded them: C computed, R reused."""
    steps = [r for g in cachepass.compiled_graphs(model) if g.cached for _, s in g.states() for r in s.history
             if r.graph == g.serial]
    return "".join("C" if r.compute else "R" for r in steps[-generation_steps:])


@pytest.mark.parametrize("family, compiler", [("wan", "eager"), ("flux", "eager"), ("hunyuanvideo", "eager"),
                                              ("flux", "inductor")])
def test_regional_fbc_matches_diffusers_hook_step_by_step(family, compiler, monkeypatch):
    """compile_repeated_blocks with FirstBlockCache: the head block decides once per model step, the other blocks
    (Flux and HunyuanVideo: both block lists, two graphs) run or pass through; equal to diffusers' hook on an eager
    copy step by step over two generations, the hook's steps skipped, no recompile and no graph break after the
    warm-up generation (torch's own counters), one host read per model step."""
    demo = build_family(family)
    threshold = THRESHOLDS[family]
    reference = FBCHooked(demo, threshold)
    plain = copy.deepcopy(demo.module)
    plain.compile_repeated_blocks(backend="eager", fullgraph=True)
    counters.clear()
    blocks = regional(demo, FirstBlockCacheConfig(threshold=threshold), compiler)
    for generation in range(2):
        reference.reset()
        start = len(reference.computed)
        stance = torch.compiler.set_stance("fail_on_recompile") if generation else contextlib.nullcontext()
        with stance:
            ours = fbc_generation(demo, blocks)
        theirs = [reference(t) for t in TIMESTEPS_12]
        hook = "".join("C" if c else "R" for c in reference.computed[start:])
        assert "R" in hook and "C" in hook[1:], f"the hook must skip some steps but not all: {hook}"
        assert fbc_pattern(blocks) == hook, f"generation {generation}"
        diffs = [max_diff(a, b) for a, b in zip(ours, theirs)]
        assert max(diffs) <= 1e-5, f"generation {generation}: {diffs}"
    ours_graphs, ours_breaks = counters["stats"]["unique_graphs"], sum(counters["graph_break"].values())
    counters.clear()
    fbc_generation(demo, plain)
    assert (ours_graphs, ours_breaks) == (counters["stats"]["unique_graphs"], 0)
    reads = count_host_reads(monkeypatch)
    fbc_generation(demo, plain)
    baseline = len(reads)
    with torch.compiler.set_stance("fail_on_recompile"):
        fbc_generation(demo, blocks)
    assert len(reads) - 2 * baseline == len(TIMESTEPS_12), "one host read per model step"


def test_regional_fbc_refuses_a_stack_block_that_runs_outside_cachepass():
    """Only Flux's double blocks compiled: its single blocks would compute on a skip step; refused at step 2."""
    demo = build_family("flux")
    module = copy.deepcopy(demo.module)
    for block in module.transformer_blocks:
        block.compile(backend="cachepass", fullgraph=True,
                      options={"cache": FirstBlockCacheConfig(threshold=0.3), "compiler": "eager"})
    with pytest.raises(cachepass.ConfigError, match=re.escape("single_transformer_blocks.0")):
        fbc_generation(demo, module)


def test_regional_fbc_with_calibrator_matches_cache_dit_hybrid_step_by_step():
    """FirstBlockCache composed with cache-dit's TaylorSeer calibrator under compile_repeated_blocks: on a skip
    step the head block adds the calibrator's prediction of the tail residual. Equal to cache-dit's hybrid (DBCache
    F1B0, the same threshold) on an eager copy step by step over two generations, the same steps skipped; the
    prediction is used (the uncalibrated regional run differs on the same pattern)."""
    from compose_helpers import TIMESTEPS, cache_dit_run, db, taylor

    demo = build_family("wan")
    threshold = THRESHOLDS["wan"]
    reference, expected = cache_dit_run(demo, db(residual_diff_threshold=threshold), taylor(1))
    assert all("C" in p[1:] and "R" in p for p in expected), expected

    def run(cache) -> tuple[list[torch.Tensor], list[str]]:
        module = regional(demo, cache, "eager")
        with torch.no_grad():
            outputs = [demo(module, t) for _ in range(2) for t in TIMESTEPS]
        pattern = fbc_pattern(module, 2 * len(TIMESTEPS))
        return outputs, [pattern[:len(TIMESTEPS)], pattern[len(TIMESTEPS):]]

    outputs, patterns = run([FirstBlockCacheConfig(threshold=threshold), cachepass.TaylorCalibratorConfig(order=1)])
    assert patterns == expected
    diffs = [max_diff(a, b) for a, b in zip(outputs, reference)]
    assert max(diffs) <= 1e-5, diffs
    plain, plain_patterns = run(FirstBlockCacheConfig(threshold=threshold))
    assert plain_patterns == patterns
    assert max(max_diff(a, b) for a, b in zip(outputs, plain)) > 1e-4


@pytest.mark.parametrize("calibrated", [False, True])
def test_regional_dbcache_f1b0_matches_cache_dit_step_by_step(calibrated):
    """DBCache F1B0 (cache-dit's config, its step limit) under compile_repeated_blocks, alone and with cache-dit's
    TaylorSeer calibrator: equal to cache-dit on an eager copy step by step over two generations."""
    from compose_helpers import TIMESTEPS, cache_dit_run, db, taylor

    demo = build_family("wan")
    config = db(residual_diff_threshold=0.5, max_continuous_cached_steps=2)
    reference, expected = cache_dit_run(demo, config, taylor(1) if calibrated else None)
    assert all("C" in p[1:] and "R" in p for p in expected), expected
    module = regional(demo, [config, taylor(1)] if calibrated else config, "eager")
    with torch.no_grad():
        outputs = [demo(module, t) for _ in range(2) for t in TIMESTEPS]
    pattern = fbc_pattern(module, 2 * len(TIMESTEPS))
    assert [pattern[:len(TIMESTEPS)], pattern[len(TIMESTEPS):]] == expected
    diffs = [max_diff(a, b) for a, b in zip(outputs, reference)]
    assert max(diffs) <= 1e-5, diffs


def check_skips_and_reads(demo, outputs, timesteps, generation, monkeypatch) -> None:
    """A stack skip's last generation `outputs` differ from the uncached model's (the skips mattered), and
    another `generation()` reads the host once per model step without recompiling."""
    with torch.no_grad():
        uncached = [demo(demo.module, t) for t in timesteps]
    assert max(max_diff(a, b) for a, b in zip(outputs, uncached)) > 1e-4, "the skips must change the output"
    reads = count_host_reads(monkeypatch)
    with torch._dynamo.config.patch(error_on_recompile=True):
        generation()
    assert len(reads) == len(timesteps), "one host read per model step"


@pytest.mark.parametrize("family, compiler", [("wan", "eager"), ("flux", "eager"), ("wan", "inductor")])
def test_regional_magcache_matches_diffusers_hook_step_by_step(family, compiler, monkeypatch):
    """compile_repeated_blocks with MagCache: the head block decides from the step index before it runs (NOTE
    [Deciding before the head]); on a skip step it returns its input plus the residual (tail output - head input)
    and every other block passes. Equal to diffusers' MagCache hook on an eager copy step by step over two
    generations (the step index wraps), the hook's steps skipped, no recompile after the first generation, one
    host read (the timestep) per model step."""
    from test_magcache import MagHooked, config

    demo = build_family(family)
    reference = MagHooked(demo, config())
    blocks = regional(demo, config(), compiler)
    for generation in range(2):
        patch = torch._dynamo.config.patch(error_on_recompile=bool(generation))
        with patch:
            ours = fbc_generation(demo, blocks)
        theirs = [reference(t) for t in TIMESTEPS_12]
        hook = "".join("C" if c else "R" for c in reference.computed[-len(TIMESTEPS_12):])
        assert "R" in hook and "C" in hook[1:], f"the hook must skip some steps but not all: {hook}"
        assert fbc_pattern(blocks) == hook, f"generation {generation}"
        diffs = [max_diff(a, b) for a, b in zip(ours, theirs)]
        assert max(diffs) <= 1e-5, f"generation {generation}: {diffs}"
    check_skips_and_reads(demo, ours, TIMESTEPS_12, lambda: fbc_generation(demo, blocks), monkeypatch)


def test_regional_magcache_with_calibrator_matches_the_whole_model_composition():
    """MagCache composed with cache-dit's TaylorSeer calibrator under compile_repeated_blocks: the last block hands
    each new residual to the calibrator, the head adds its prediction on a skip step. Equal step by step to the
    whole-model composition (tests/test_compose.py checks it against diffusers' hook with cache-dit's calibrator),
    two generations; the prediction is used (the uncalibrated regional run differs)."""
    from test_magcache import config

    demo = build_family("wan")
    calibrated = [config(), cachepass.TaylorCalibratorConfig(order=1)]
    blocks, plain = regional(demo, calibrated, "eager"), regional(demo, config(), "eager")
    whole = torch.compile(copy.deepcopy(demo.module), backend="cachepass", fullgraph=True,
                          options={"cache": calibrated, "compiler": "eager"})
    for generation in range(2):
        ours, theirs, uncalibrated = (fbc_generation(demo, m) for m in (blocks, whole, plain))
        assert max(max_diff(a, b) for a, b in zip(ours, theirs)) <= 1e-5, f"generation {generation}"
        assert max(max_diff(a, b) for a, b in zip(ours, uncalibrated)) > 1e-4, f"generation {generation}"


@pytest.mark.parametrize("family, indicator", [("flux", None), ("wan", "modulated")])
def test_regional_teacache_matches_the_whole_model_teacache_step_by_step(family, indicator, monkeypatch):
    """compile_repeated_blocks with TeaCache: the head block's graph computes the indicator (the first block's
    modulated input) and its change as its probe, decides before the block runs, and on a skip step no block
    runs. Equal step by step, with the same steps skipped, to the whole-model cachepass TeaCache (itself checked
    against the reference loop, tests/test_teacache.py) over two generations (the step counter wraps); no
    recompile after the first generation; one host read (the change and the timestep) per model step."""
    from test_teacache import TIMESTEPS_8

    def config() -> cachepass.TeaCacheConfig:
        return cachepass.TeaCacheConfig(threshold=0.3, coefficients=None if indicator is None else (1.0, 0.0),
                                        num_inference_steps=8, retention_steps=1, cutoff_steps=1, indicator=indicator)

    def generation(module) -> list[torch.Tensor]:
        return [compiled_call(demo, module, t) for t in TIMESTEPS_8]

    demo = build_family(family)
    blocks = regional(demo, config(), "eager")
    whole = torch.compile(copy.deepcopy(demo.module), backend="cachepass", fullgraph=True,
                          options={"cache": config(), "compiler": "eager"})
    for index in range(2):
        with torch._dynamo.config.patch(error_on_recompile=bool(index)):
            ours = generation(blocks)
        theirs = generation(whole)
        expected = "".join("C" if r.compute else "R" for r in list(cachepass.compiled_graphs(whole)[0].states()[0][1].history)[-8:])
        assert "R" in expected and "C" in expected[1:], expected
        assert fbc_pattern(blocks, len(TIMESTEPS_8)) == expected, f"generation {index}"
        diffs = [max_diff(a, b) for a, b in zip(ours, theirs)]
        assert max(diffs) <= 1e-5, f"generation {index}: {diffs}"
    check_skips_and_reads(demo, ours, TIMESTEPS_8, lambda: generation(blocks), monkeypatch)


def hook_pattern(hooked) -> dict[str, str]:
    """Spies on diffusers' TaylorSeer hooks of `hooked`: every hooked module's decisions, C computed, P predicted,
    appended to the returned strings as the hooks take them."""
    patterns: dict[str, str] = {}
    for name, module in hooked.named_modules():
        registry = getattr(module, "_diffusers_hook", None)
        hook = registry.get_hook("taylorseer_cache") if registry is not None else None
        if hook is not None:
            patterns[name] = ""

            def measured(_measure=hook._measure_should_compute, _name=name):
                compute, state = _measure()
                patterns[_name] += "C" if compute else "P"
                return compute, state

            hook._measure_should_compute = measured
    return patterns


def ts_patterns(model) -> dict[str, str]:
    """Every block instance's decisions as its state recorded them (C computed, P predicted), by instance path."""
    return {graph.path_of(owner): "".join("C" if r.compute else "P" for r in state.history if r.graph == graph.serial)
            for graph in cachepass.compiled_graphs(model) if graph.cached for owner, state in graph.states()}


@pytest.mark.parametrize("family, compiler", [("flux", "eager"), ("wan", "inductor")])
def test_regional_taylorseer_matches_diffusers_hook_step_by_step(family, compiler, monkeypatch):
    """compile_repeated_blocks with TaylorSeer: one graph per block class, a state per block instance (its step
    counter and each selected module's Taylor factors), the model's timestep read once per model step for every
    instance (a new generation when it turns). Equal to diffusers' TaylorSeer hook on an eager copy step by step
    over two generations, each instance computing and predicting on exactly the steps the hook's modules of that
    instance do; predicted steps differ from the uncached model; no recompile in generation 2; one host read per
    model step, as the whole-model TaylorSeer."""
    from test_taylorseer import TSHooked, config

    demo = build_family(family)
    cfg = config(family)
    reference = TSHooked(demo, cfg)
    hook = hook_pattern(reference.module)
    blocks = regional(demo, cfg, compiler)
    uncached = run(demo, demo.module, Clock())
    for generation in range(2):
        reference.reset()
        with torch._dynamo.config.patch(error_on_recompile=bool(generation)):
            ours = fbc_generation(demo, blocks)
        theirs = [reference(t) for t in TIMESTEPS_12]
        diffs = [max_diff(a, b) for a, b in zip(ours, theirs)]
        assert max(diffs) <= 1e-5, f"generation {generation}: {diffs}"
        patterns = ts_patterns(blocks)
        assert len(patterns) >= 2 and all(any(m.startswith(p + ".") for m in hook) for p in patterns)
        for module, decisions in hook.items():
            path = next(p for p in patterns if module.startswith(p + "."))
            assert patterns[path] == decisions, f"generation {generation}: {path} against {module}"
        latest = patterns[path][-len(TIMESTEPS_12):]
        assert "P" in latest and "C" in latest[1:], latest
        assert all(max_diff(a, b) > 1e-5 for a, b, d in zip(ours, uncached, latest) if d == "P"), "predictions used"
    reads = count_host_reads(monkeypatch)
    with torch._dynamo.config.patch(error_on_recompile=True):
        fbc_generation(demo, blocks)
    assert len(reads) == len(TIMESTEPS_12), "one host read per model step"


def test_regional_taylorseer_refuses_a_block_that_runs_twice_per_model_call():
    """Wan with blocks.0 called twice per forward: its counter would advance twice per model step (the
    whole-model compile refuses such a module at tag time); refused at its second run, naming the block."""
    from test_taylorseer import config

    demo = build_family("wan")
    module = copy.deepcopy(demo.module)
    module.blocks.append(module.blocks[0])
    module.compile_repeated_blocks(backend="cachepass", fullgraph=True, options={"cache": config("wan"),
                                                                                   "compiler": "eager"})
    with pytest.raises(cachepass.ConfigError, match=re.escape("blocks.0 ran twice in one call of its model")):
        fbc_generation(demo, module)


def test_the_private_torch_names_scope_relies_on():
    """scope.py reads module calls off the stack through `nn.Module._call_impl` frames, and tells a compiled
    model by `_compiled_call_impl` / `_orig_mod`: if a torch upgrade changes one, this says which."""
    import inspect

    from cachepass.integrations import scope

    seen = []

    class Probe(torch.nn.Module):
        def forward(self, x):
            seen.extend(frame.f_locals.get("self") for frame in scope._frames())
            return x

    class Outer(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = Probe()

        def forward(self, x):
            return self.inner(x)

    outer = Outer()
    outer(torch.ones(1))
    assert seen == [outer.inner, outer], "Module._call_impl is no longer the frame of a module call"
    block = torch.nn.Linear(2, 2)
    assert block._compiled_call_impl is None
    block.compile(backend="eager")
    assert block._compiled_call_impl is not None
    assert torch.compile(outer, backend="eager")._orig_mod is outer
    assert "args" in inspect.signature(torch.nn.Module._call_impl).parameters
