"""MagCache inside the compiler, checked against diffusers' own MagCache hook on eager copies: same
outputs, same steps skipped, a schedule planned before the loop (no host read but the timestep), one
graph, no recompiles, one Inductor compile per variant; calibration reports the hook's ratios."""

from __future__ import annotations

import copy
import re

import pytest
import torch
from diffusers import MagCacheConfig
from diffusers.hooks._common import _ALL_TRANSFORMER_BLOCK_IDENTIFIERS
from diffusers.hooks.mag_cache import FLUX_MAG_RATIOS
from families import build_family
from fbc_helpers import TIMESTEPS_12, compiled_call, host_reads_of_a_second_generation
from helpers import max_diff
from torch._dynamo.utils import counters

import cachepass
from cachepass.methods.magcache.plan import MagPlan, pattern
from cachepass.timesteps import timesteps_linspace

FAMILIES = ("cogvideox", "flux", "hunyuanvideo", "ltx", "wan")


def config(**changes) -> MagCacheConfig:
    fields = dict(threshold=0.06, num_inference_steps=12, mag_ratios=FLUX_MAG_RATIOS.clone())
    fields.update(changes)
    return MagCacheConfig(**fields)


class MagHooked:
    """An eager copy with diffusers' MagCache hook, called inside `cache_context("cond")`; `computed[i]`:
    whether call i ran the blocks (a probe on the last block's first submodule)."""

    def __init__(self, demo, cfg: MagCacheConfig) -> None:
        self.demo, self.module = demo, copy.deepcopy(demo.module)
        self.module.enable_cache(cfg)
        lists = [child for name, child in self.module.named_children()
                 if name in _ALL_TRANSFORMER_BLOCK_IDENTIFIERS and isinstance(child, torch.nn.ModuleList)]
        self.computed: list[bool] = []
        next(lists[-1][-1].children()).register_forward_hook(lambda *_: self.computed.__setitem__(-1, True))

    def __call__(self, timestep: float) -> torch.Tensor:
        self.computed.append(False)
        with torch.no_grad(), self.module.cache_context("cond"):
            return self.demo(self.module, timestep)


def history(compiled) -> list:
    return list(cachepass.compiled_graphs(compiled)[0].states()[0][1].history)


@pytest.mark.parametrize("family", FAMILIES)
def test_magcache_matches_diffusers_hook_step_by_step(family):
    demo = build_family(family)
    cfg = config()
    ratios = cfg.mag_ratios.clone()
    reference = MagHooked(demo, cfg)
    compiled = torch.compile(demo.module, backend="cachepass", fullgraph=True, options={"cache": cfg})
    skipped_differs = []
    uncached = copy.deepcopy(demo.module)
    for _ in range(2):  # the hook starts over after num_inference_steps calls, as cachepass does
        for t in TIMESTEPS_12:
            theirs, ours = reference(t), compiled_call(demo, compiled, t)
            assert max_diff(ours, theirs) <= 1e-5, (family, t)
            if not reference.computed[-1]:
                with torch.no_grad():
                    skipped_differs.append(max_diff(ours, demo(uncached, t)) > 1e-5)
    assert torch.equal(cfg.mag_ratios, ratios)  # diffusers' config is read, never mutated
    ours = [r.compute for r in history(compiled)]
    assert ours == reference.computed
    assert 0 < reference.computed.count(False) < 20 and any(skipped_differs)
    assert pattern(MagPlan(cachepass.methods.to_cache_config(cfg)).simulate()) * 2 == "".join(
        "C" if c else "R" for c in ours)  # planned before the loop


def test_calibration_reports_the_hooks_ratios(capsys):
    demo = build_family("flux")
    cfg = MagCacheConfig(calibrate=True, num_inference_steps=12)
    reference = MagHooked(demo, cfg)
    for t in TIMESTEPS_12:
        reference(t)
    printed = capsys.readouterr().out
    theirs = [float(v) for v in re.search(r"\[(1\.0, [^\]]*)\]", printed).group(1).split(", ")]
    compiled = torch.compile(demo.module, backend="cachepass", fullgraph=True, options={"cache": cfg})
    for t in TIMESTEPS_12:
        compiled_call(demo, compiled, t)
    assert all(reference.computed) and all(r.compute for r in history(compiled))
    [calibration] = cachepass.report(compiled).graphs[0].calibrations
    assert len(calibration) == len(theirs) == 12
    assert max(abs(a - b) for a, b in zip(calibration, theirs)) <= 1e-5
    assert "[MagCache] Calibration Complete" in capsys.readouterr().out  # printed as diffusers does


def test_fifty_steps_one_graph_no_recompiles_and_only_the_timestep_read(monkeypatch):
    demo = build_family("cogvideox")
    cfg = config(num_inference_steps=50)
    compiled = torch.compile(demo.module, backend="cachepass", fullgraph=True, options={"cache": cfg})
    timesteps = timesteps_linspace(50)
    reads = host_reads_of_a_second_generation(demo, compiled, timesteps, monkeypatch)
    assert len(reads) == len(timesteps), reads[:5]  # one per step: the timestep; the plan reads nothing
    graph = cachepass.compiled_graphs(compiled)[0]
    assert counters["stats"]["unique_graphs"] == 1 and sum(counters["graph_break"].values()) == 0
    predicted = graph.plan.variants()
    assert set(graph.lowered) == set(predicted) == {"compute", "skip"}
    c = counters["inductor"]
    assert c["fxgraph_cache_miss"] + c["fxgraph_cache_hit"] + c["fxgraph_cache_bypass"] == len(predicted)


@pytest.mark.parametrize("make, message", [
    (lambda: cachepass.MagConfig(), "`mag_ratios` must be provided for MagCache inference"),
    (lambda: cachepass.MagConfig(mag_ratios=(1.0,), max_skip_steps=0), "MagConfig.max_skip_steps=0 must be an int >= 1"),
    (lambda: cachepass.MagConfig(mag_ratios=(1.0,), retention_ratio=1.5),
     "MagConfig.retention_ratio=1.5 must be a number in [0, 1]"),
    (lambda: cachepass.MagConfig(mag_ratios="fast"), "MagConfig.mag_ratios='fast' must be a non-empty sequence"),
    (lambda: cachepass.MagConfig(calibrate=True, treshold=0.1), "MagConfig has no field 'treshold'"),
])
def test_mag_config_rejects_bad_values(make, message):
    with pytest.raises(cachepass.ConfigError, match=re.escape(message)):
        make()


def test_cachepass_config_interpolates_like_diffusers():
    ours = cachepass.MagConfig(mag_ratios=tuple(FLUX_MAG_RATIOS.tolist()), num_inference_steps=12)
    theirs = MagCacheConfig(mag_ratios=FLUX_MAG_RATIOS.clone(), num_inference_steps=12)
    assert list(ours.mag_ratios) == theirs.mag_ratios.tolist()


def test_skip_keeps_writes_into_tensors_that_are_read_later():
    """Regression: CogVideoX at a size other than its sample size fills `joint_pos_embedding.data[:, n:]` in
    place and then reads `joint_pos_embedding`. An earlier dead-write rule took `.data` for a fresh tensor and
    dropped the write in every variant that eliminates dead code (MagCache's skip, PAB's reuse): outputs 1.6
    away from the hook's. Sharing is now read from the FakeTensors' storages."""
    from cachepass.models import build

    torch.manual_seed(0)
    demo = build("cogvideox", "small")
    cfg = config(num_inference_steps=6, retention_ratio=0.0, threshold=0.5)
    reference = MagHooked(demo, cfg)
    compiled = torch.compile(demo.module, backend="cachepass", options={"cache": cfg, "compiler": "eager"})
    for t in TIMESTEPS_12[:6]:
        assert max_diff(compiled_call(demo, compiled, t), reference(t)) <= 1e-5, t
    assert not all(reference.computed)
