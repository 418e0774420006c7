"""Compositions (`options={"cache": [cache, calibrator]}`, methods/__init__.py NOTE [What composes]) against
cache-dit 1.5.3's hybrid cache: DBCache (and FirstBlockCache, which is DBCache F1B0 in cache-dit's words) with
cache-dit's TaylorSeer calibrator predicting the skipped blocks' residual.

The oracle: `cache_dit.enable_cache(module, cache_config=DBCacheConfig(...), calibrator_config=
TaylorSeerCalibratorConfig(...))` on an eager deep copy, `refresh_context` before each generation; cachepass runs
the original model compiled with the same config objects. Every step's output and the step pattern must be equal
over two generations, and the calibrated outputs must differ from the uncalibrated cache's (the prediction is used).
"""

from __future__ import annotations

import cache_dit  # a test dependency: pyproject.toml's `test` extra
import pytest
import torch

import cachepass
from cachepass import ConfigError
from diffusers import FasterCacheConfig

from tests.compose_helpers import TIMESTEPS, cache_dit_run, db, taylor
from tests.test_cfg_compose import fc_config
from tests.families import build_family
from tests.fbc_helpers import count_host_reads
from tests.helpers import max_diff


def cachepass_run(demo, cache, compiler: str = "eager", generations: int = 2):
    compiled = torch.compile(demo.module, backend="cachepass", fullgraph=True,
                             options={"cache": cache, "compiler": compiler})
    with torch.no_grad():
        outputs = [demo(compiled, t) for _ in range(generations) for t in TIMESTEPS]
    graph = [g for g in cachepass.compiled_graphs(demo.module) if g.cached][-1]
    pattern, steps = graph.report().pattern, len(TIMESTEPS)
    return outputs, [pattern[i * steps:(i + 1) * steps] for i in range(generations)], graph


def uncalibrated(cache: list) -> list:
    return [c for c in cache if not type(c).__name__.startswith("Taylor")]


# (family, the composition): the step limit makes a pattern of computed and reused steps whatever the values are;
# Flux carries two streams (the encoder residual is predicted by cache-dit's encoder calibrator); CogVideoX with
# order 2; FirstBlockCache (diffusers' config) is cache-dit's F1B0, its threshold deciding on the values.
CASES = {
    "wan-DBCache-F1B0-order1": ("wan", lambda: [db(residual_diff_threshold=0.5, max_continuous_cached_steps=2),
                                                taylor(1)]),
    "flux-DBCache-F1B0-order1": ("flux", lambda: [db(residual_diff_threshold=0.5, max_continuous_cached_steps=2),
                                                  taylor(1)]),
    "cogvideox-DBCache-order2": ("cogvideox", lambda: [db(residual_diff_threshold=0.5,
                                                          max_continuous_cached_steps=2), taylor(2)]),
    "flux-FBC-order1": ("flux", lambda: [__import__("diffusers").FirstBlockCacheConfig(threshold=0.3), taylor(1)]),
}


def oracle_config(cache: list) -> tuple[cache_dit.DBCacheConfig, cache_dit.TaylorSeerCalibratorConfig]:
    """cache-dit's configs for a composition: FirstBlockCache's threshold as DBCache F1B0's."""
    first, calibrator = cache
    if isinstance(first, cache_dit.DBCacheConfig):
        return first, calibrator
    return db(residual_diff_threshold=first.threshold), calibrator


@pytest.mark.parametrize("case", list(CASES))
def test_matches_cache_dit_hybrid_step_by_step(case: str) -> None:
    family, make = CASES[case]
    reference, expected = cache_dit_run(build_family(family), *oracle_config(make()))
    assert all("C" in p and "R" in p for p in expected), expected
    demo = build_family(family)
    outputs, patterns, graph = cachepass_run(demo, make())
    assert patterns == expected
    for step, (ours, theirs) in enumerate(zip(outputs, reference)):
        assert max_diff(ours, theirs) <= 1e-5, (case, step)
    assert "TaylorSeer calibrator" in graph.report().reason
    # the calibrator's prediction is used: the same cache without it reuses the residual as it is
    torch._dynamo.reset()
    plain, plain_patterns, _ = cachepass_run(build_family(family), uncalibrated(make()))
    assert plain_patterns == patterns
    assert max(max_diff(a, b) for a, b in zip(outputs, plain)) > 1e-4


def test_inductor_fullgraph_no_breaks_no_recompiles_one_host_read(monkeypatch) -> None:
    """Inductor, fullgraph: equal to cache-dit's hybrid; torch's own counters: no graph break, no recompile, one
    graph; one host read per step (the head's probe), counted over the second generation; the pieces are the
    stack skip's own (a calibrator adds no variant)."""
    from torch._dynamo.utils import counters

    from cachepass.runtime.pieces import PIECES

    make = lambda: [db(residual_diff_threshold=0.5, max_continuous_cached_steps=2), taylor(1)]  # noqa: E731
    reference, expected = cache_dit_run(build_family("wan"), *make())
    demo = build_family("wan")
    counters.clear()
    torch._dynamo.reset()
    compiled = torch.compile(demo.module, backend="cachepass", fullgraph=True, options={"cache": make()})
    with torch.no_grad(), torch._dynamo.config.patch(error_on_recompile=True):
        outputs = [demo(compiled, t) for t in TIMESTEPS]
        reads = count_host_reads(monkeypatch)
        outputs += [demo(compiled, t) for t in TIMESTEPS]
        monkeypatch.undo()
    assert sum(counters["graph_break"].values()) == 0
    assert counters["stats"]["unique_graphs"] == 1
    assert reads == ["tolist"] * len(TIMESTEPS)
    for step, (ours, theirs) in enumerate(zip(outputs, reference)):
        assert max_diff(ours, theirs) <= 1e-5, step
    graph = [g for g in cachepass.compiled_graphs(demo.module) if g.cached][-1]
    pattern = graph.report().pattern
    assert [pattern[:10], pattern[10:]] == expected
    assert set(graph.lowered) <= set(PIECES)


def test_calibrator_matches_cache_dit_state_on_random_streams() -> None:
    """The calibrator alone against cache-dit's TaylorSeerCalibrator on random compute/skip sequences (orders 1-3,
    generations restarted as cache-dit's refreshed context does): every prediction equal."""
    from cache_dit.caching.cache_contexts.calibrators import TaylorSeerCalibrator

    from cachepass import TaylorCalibratorConfig

    generator = torch.Generator().manual_seed(0)
    for trial in range(30):
        order = 1 + trial % 3
        theirs, ours = TaylorSeerCalibrator(n_derivatives=order), TaylorCalibratorConfig(order=order).new_state()
        kept: tuple[torch.Tensor, ...] = ()
        computes = [True] + (torch.rand(11, generator=generator) < 0.5).tolist()
        for compute in computes:
            theirs.mark_step_begin()
            ours.begin_step()
            if compute:
                residual = torch.randn(3, 4, generator=generator)
                theirs.update(residual, name="Bn")
                kept = ours.update("Bn", residual, kept)
            else:
                assert torch.equal(ours.predict("Bn", kept), theirs.approximate(name="Bn")), (trial, computes)


def test_calibrator_factors_live_in_the_store() -> None:
    """The factors are store entries (the one validator reads them): after a computed step with a derivative, a
    residual's entry holds the derivative and the residual, and the store's byte count includes both."""
    demo = build_family("wan")
    cache = [db(residual_diff_threshold=0.5, max_continuous_cached_steps=2), taylor(1)]
    compiled = torch.compile(demo.module, backend="cachepass", fullgraph=True, options={"cache": cache,
                                                                                       "compiler": "eager"})
    with torch.no_grad():
        for t in TIMESTEPS[:7]:  # C R R C R R C: the update at step 6 has a derivative (cache-dit: from step 3)
            demo(compiled, t)
    graph = [g for g in cachepass.compiled_graphs(demo.module) if g.cached][-1]
    stores = [ctx.store for _, state in graph.states() for ctx in state.contexts.values()]
    sizes = {key: len(store.get(key).tensors) for store in stores for key in store.keys()}
    assert sizes == {"db_fn_residual__0": 1, "db_middle_residual__0": 2}, sizes


@pytest.mark.parametrize("cache, words", [
    (lambda: [taylor(1)], "holds only a calibrator"),
    (lambda: [db(), cachepass.TSConfig()], "two caches do not compose"),
    (lambda: [db(), cachepass.MagConfig(mag_ratios=[1.0] * 4, num_inference_steps=4)], "two caches do not compose"),
    (lambda: [cachepass.PABConfig(spatial_skip=2), taylor(1)], "does not compose with a "
                                                                                      "calibrator"),
    (lambda: [db(), taylor(1), cachepass.TaylorCalibratorConfig()], "keep one"),
    (lambda: [], "lists no config"),
    (lambda: [db(), taylor(1, calibrator_cache_type="hidden_states")], "calibrator_cache_type='residual'"),
    (lambda: [db(), cachepass.TaylorCalibratorConfig(order=0)], "order=0"),
    (lambda: [cachepass.MagConfig(mag_ratios=[1.0] * 4, num_inference_steps=4),
              cachepass.TaylorCalibratorConfig(hidden=False)], "reuses only the hidden stream's residual"),
    # FasterCache's CFG skip around FirstBlockCache (tests/test_cfg_compose.py): its CFG skip only, batched
    (lambda: [cachepass.FBCConfig(), FasterCacheConfig()], "spatial_attention_block_skip_range=None"),
    (lambda: [cachepass.FBCConfig(), fc_config(temporal_attention_block_skip_range=2)], "extrapolates temporal"),
    (lambda: [cachepass.FBCConfig(), fc_config(is_guidance_distilled=True)], "no unconditional branch"),
    (lambda: [cachepass.FBCConfig(), cachepass.FCConfig(spatial_skip=None, cfg_calls="sequential")],
     "cfg_calls='sequential'"),
    (lambda: [cachepass.MagConfig(mag_ratios=[1.0] * 4, num_inference_steps=4), fc_config()],
     "does not compose with MagCache yet"),
    (lambda: [db(), fc_config()], "does not compose with DBCache yet"),
    (lambda: [cachepass.FBCConfig(), fc_config(), cachepass.TaylorCalibratorConfig()], "calibrator yet"),
    (lambda: [cachepass.FBCConfig(), fc_config(), cachepass.TSConfig()], "3 caches"),
])
def test_what_does_not_compose_is_refused_before_tracing(cache, words: str) -> None:
    demo = build_family("wan")
    calls = []
    demo.module.register_forward_pre_hook(lambda *_: calls.append(1))
    with pytest.raises(ConfigError, match=words):
        cachepass.compile(demo.module, cache=cache())
    assert not calls


def against_calibrated(reference, plain, ours, timesteps: list[float], generations: int = 2) -> list[bool]:
    """Each step of `generations` over `timesteps`: cachepass (`ours(t)`) equal to the calibrated reference to 1e-5;
    per step, whether it differs from the plain (uncalibrated) reference, called on the same inputs."""
    predicted = []
    for _ in range(generations):
        for t in timesteps:
            theirs, mine, reused = reference(t), ours(t), plain(t)
            assert max_diff(mine, theirs) <= 1e-5, t
            predicted.append(max_diff(mine, reused) > 1e-5)
    return predicted


@pytest.mark.parametrize("family, threshold, coefficients", [("flux", 0.3, None), ("wan", 0.5, (1.0, 0.0))])
def test_teacache_with_calibrator_matches_the_reference_loop(family: str, threshold: float, coefficients) -> None:
    """TeaCache has no library to compare with: its reference loop (tests/tea_helpers.py, from the authors'
    equations) with cache-dit's own TaylorSeerCalibrator predicting the skipped residual, step by step over two
    generations (eager compiler; TeaCache alone is checked under Inductor in test_teacache.py)."""
    from cachepass.methods.teacache.config import family_defaults
    from tests.fbc_helpers import compiled_call
    from tests.tea_helpers import TeaReference

    demo = build_family(family)
    steps = [float(t) for t in torch.linspace(999, 0, 10)]
    config = cachepass.TeaCacheConfig(threshold=threshold, coefficients=coefficients, num_inference_steps=10,
                                      retention_steps=1, cutoff_steps=1)
    published = family_defaults(demo.module).coefficients
    reference = TeaReference(demo, family, threshold, coefficients or published, 10, calibrator_order=1)
    plain = TeaReference(demo, family, threshold, coefficients or published, 10)
    compiled = torch.compile(demo.module, backend="cachepass", fullgraph=True,
                             options={"cache": [config, cachepass.TaylorCalibratorConfig(order=1)],
                                      "compiler": "eager"})
    predicted = against_calibrated(reference, plain, lambda t: compiled_call(demo, compiled, t), steps)
    assert plain.computed == reference.computed and 0 < reference.computed.count(False) < 18
    assert any(predicted)  # the calibrator's prediction is used


# -- MagCache and SeaCache with the calibrator: diffusers' hook, its reuse replaced by cache-dit's calibrator -------

@pytest.mark.parametrize("family, order", [("flux", 1), ("wan", 2)])
def test_magcache_with_calibrator_matches_the_calibrated_hook(family: str, order: int) -> None:
    """diffusers' MagCache hook on an eager copy whose skip adds cache-dit's TaylorSeerCalibrator's prediction
    (tests/compose_helpers.py), step by step over two generations (eager compiler); the plain hook, called on the
    same inputs, skips the same steps and differs where the prediction is used."""
    from tests.compose_helpers import mag_hooked_with_calibrator
    from tests.fbc_helpers import TIMESTEPS_12, compiled_call
    from tests.test_magcache import MagHooked, config

    demo = build_family(family)
    cfg = config()
    reference = mag_hooked_with_calibrator(MagHooked, demo, cfg, order)
    plain = MagHooked(demo, cfg)
    compiled = torch.compile(demo.module, backend="cachepass", fullgraph=True,
                             options={"cache": [cfg, taylor(order)], "compiler": "eager"})
    predicted = against_calibrated(reference, plain, lambda t: compiled_call(demo, compiled, t), TIMESTEPS_12)
    records = list(cachepass.compiled_graphs(demo.module)[0].states()[0][1].history)
    assert [r.compute for r in records] == reference.computed == plain.computed
    assert 0 < reference.computed.count(False) < 20
    # the prediction is used: a skip step differs from the plain hook's reuse once the calibrator has a
    # derivative (cache-dit: an update after its step 1), and a computed step never differs
    assert any(predicted) and not any(p and c for p, c in zip(predicted, reference.computed)), \
        (predicted, reference.computed)


@pytest.mark.parametrize("family, residual_order, order", [("wan", 1, 2), ("hunyuanvideo", 0, 1)])
def test_seacache_with_calibrator_matches_the_calibrated_hook(family: str, residual_order: int, order: int,
                                                              monkeypatch) -> None:
    """diffusers' SeaCache hook on an eager copy whose reuse adds cache-dit's TaylorSeerCalibrator's prediction
    instead of the residual or its order-1 extrapolation (tests/compose_helpers.py), step by step over two
    generations (eager compiler); the plain hook on the same inputs reuses the same steps and differs there.
    fullgraph, no recompile (torch's error_on_recompile), no graph break, one graph; per step of the second
    generation one host read when the distance decides and none otherwise, as SeaCache alone."""
    from torch._dynamo.utils import counters

    from tests.compose_helpers import sea_hooked_with_calibrator
    from tests.test_seacache import STEPS, SeaHooked, call, config, generation

    demo = build_family(family)
    cfg = config(family, residual_order=residual_order)
    reference = sea_hooked_with_calibrator(SeaHooked, demo, cfg, order)
    plain = SeaHooked(demo, cfg)
    compiled = torch.compile(demo.module, backend="cachepass", fullgraph=True,
                             options={"cache": [cfg, taylor(order)], "compiler": "eager"})
    predicted: list[bool] = []
    reads: list[list[str]] = [[]]  # the counting list, once counting starts
    per_step: list[int] = []

    def both(kwargs, step):
        theirs, reused = reference(kwargs, step), plain(kwargs, step)  # the hooks' own reads are not counted
        before = len(reads[0])
        ours = call(demo, compiled, kwargs, step)
        per_step.append(len(reads[0]) - before)
        assert max_diff(ours, theirs) <= 1e-5, (family, step)
        predicted.append(max_diff(ours, reused) > 1e-4)
        return theirs

    with torch._dynamo.config.patch(error_on_recompile=True):
        generation(demo, both)
        reads[0] = count_host_reads(monkeypatch)
        generation(demo, both)
        monkeypatch.undo()
    records = list(cachepass.compiled_graphs(demo.module)[0].states()[0][1].history)
    assert [r.compute for r in records] == reference.computed == plain.computed
    assert 0 < reference.computed[STEPS:].count(False) < STEPS
    assert any(p and not c for p, c in zip(predicted, reference.computed)), (predicted, reference.computed)
    assert {r.variant for r in records if not r.compute} == {"skip"}  # the calibrator, never the extrapolation
    decided = [r.distance is not None for r in records[STEPS:]]
    assert per_step[STEPS:] == [int(d) for d in decided] == [r.host_reads for r in records[STEPS:]] and any(decided)
    assert sum(counters["graph_break"].values()) == 0 and counters["stats"]["unique_graphs"] == 1

def test_magcache_with_calibrator_inductor_one_graph_no_recompiles_one_read_per_step(monkeypatch) -> None:
    """Inductor, fullgraph: equal to the calibrated hook over two generations; torch's own counters: no graph break,
    no recompile, one graph; the host reads per step of the second generation are MagCache's alone (the
    timestep: the calibrator reads nothing); the variants are MagCache's own."""
    from torch._dynamo.utils import counters

    from tests.compose_helpers import mag_hooked_with_calibrator
    from tests.fbc_helpers import TIMESTEPS_12, compiled_call
    from tests.test_magcache import MagHooked, config

    demo = build_family("wan")
    cfg = config()
    reference = mag_hooked_with_calibrator(MagHooked, demo, cfg, 1)
    expected = [reference(t) for _ in range(2) for t in TIMESTEPS_12]
    compiled = torch.compile(demo.module, backend="cachepass", fullgraph=True, options={"cache": [cfg, taylor(1)]})
    with torch._dynamo.config.patch(error_on_recompile=True):
        outputs = [compiled_call(demo, compiled, t) for t in TIMESTEPS_12]
        reads = count_host_reads(monkeypatch)
        outputs += [compiled_call(demo, compiled, t) for t in TIMESTEPS_12]
        monkeypatch.undo()
    assert sum(counters["graph_break"].values()) == 0 and counters["stats"]["unique_graphs"] == 1
    assert len(reads) == len(TIMESTEPS_12), reads
    for step, (ours, theirs) in enumerate(zip(outputs, expected)):
        assert max_diff(ours, theirs) <= 1e-5, step
    graph = cachepass.compiled_graphs(demo.module)[0]
    assert not all(r.compute for r in graph.states()[0][1].history)
    assert set(graph.lowered) == {"compute", "skip"}

