"""TeaCache inside the compiler, checked against a reference loop written here from the authors' published
equations (ali-vilab/TeaCache, TeaCache4FLUX/teacache_flux.py, TeaCache4Wan2.1/teacache_generate.py): an eager
copy whose blocks are wrapped so that, before block 0 runs, the indicator's relative L1 change is rescaled with
numpy.poly1d and accumulated, and a skip step runs no block at all (the last one adds the cached residual;
tests/tea_helpers.py). Two generations, fullgraph, zero graph breaks and recompiles (torch's counters), one host read per step."""

from __future__ import annotations

import copy

import pytest
import torch
from families import build_family
from fbc_helpers import compiled_call, host_reads_of_a_second_generation
from helpers import max_diff
from tea_helpers import TeaReference
from torch._dynamo.utils import counters

import cachepass
from cachepass.methods.teacache.config import family_defaults
from cachepass.methods.teacache.plan import pattern

TIMESTEPS_8 = [float(t) for t in torch.linspace(999, 0, 8)]
WAN_COEFFICIENTS = (1.0, 0.0)  # the identity polynomial: Wan's published one is negative on tiny random weights


def history(compiled) -> list:
    return list(cachepass.compiled_graphs(compiled)[0].states()[0][1].history)


CASES = {  # family -> (threshold, coefficients or None for the published ones, compiler)
    "flux": (0.3, None, "inductor"),  # Inductor: the final check; Wan with the eager compiler keeps the suite cheap
    "wan": (0.5, WAN_COEFFICIENTS, "eager"),
    "cogvideox": (0.3, None, "eager"),  # the published CogVideoX-2b polynomial on the timestep embedding
}


@pytest.mark.parametrize("family", sorted(CASES))
def test_teacache_matches_the_reference_loop_step_by_step(family, monkeypatch):
    demo = build_family(family)
    threshold, coefficients, compiler = CASES[family]
    cfg = cachepass.TeaCacheConfig(threshold=threshold, coefficients=coefficients, num_inference_steps=8,
                                   retention_steps=1, cutoff_steps=1)
    published = family_defaults(demo.module).coefficients
    reference = TeaReference(demo, family, threshold, coefficients or published, 8)
    uncached = copy.deepcopy(demo.module)
    counters.clear()
    compiled = torch.compile(demo.module, backend="cachepass", fullgraph=True,
                             options={"cache": cfg, "compiler": compiler})
    skipped_differs = []
    with torch.compiler.set_stance("default"):
        for _ in range(2):
            for t in TIMESTEPS_8:
                theirs, ours = reference(t), compiled_call(demo, compiled, t)
                assert max_diff(ours, theirs) <= 1e-5, (family, t)
                if not reference.computed[-1]:
                    with torch.no_grad():
                        skipped_differs.append(max_diff(ours, demo(uncached, t)) > 1e-5)
    records = history(compiled)
    assert [r.compute for r in records] == reference.computed
    assert 0 < reference.computed.count(False) < 12 and all(skipped_differs)
    assert pattern(records[:8]) == pattern(records[8:])  # the second generation starts afresh
    assert sum(counters["graph_break"].values()) == 0 and counters["stats"]["unique_graphs"] == 1
    assert [r.host_reads for r in records] == [1] * 16
    reads = host_reads_of_a_second_generation(demo, compiled, TIMESTEPS_8, monkeypatch)  # fail_on_recompile
    assert len(reads) == len(TIMESTEPS_8), reads  # the probe's one .tolist() per step, nothing else


def test_a_model_without_published_coefficients_needs_them():
    demo = build_family("ltx")

    class Unknown(type(demo.module)):
        pass

    module = Unknown.from_config(demo.module.config).eval()
    compiled = torch.compile(module, backend="cachepass", fullgraph=True,
                             options={"cache": cachepass.TeaCacheConfig(threshold=0.05), "compiler": "eager"})
    with pytest.raises(cachepass.ConfigError, match=r"no published rescaling coefficients for Unknown; pass them.*coefficients="):
        with torch.no_grad():
            demo(compiled, 999.0)


@pytest.mark.parametrize("fields, message", [
    (dict(threshold=0), "must be a number > 0"),
    (dict(threshold=-1.0), "must be a number > 0"),
    (dict(threshold=True), "must be a number > 0"),
    (dict(threshold=0.2, coefficients="flux"), "coefficients='flux' must be a non-empty sequence"),
    (dict(threshold=0.2, retention_steps=0), "retention_steps=0 must be an int >= 1"),
    (dict(threshold=0.2, indicator="norm"), "indicator='norm' must be None"),
    (dict(threshold=0.2, rel_l1_thresh=0.2), "rel_l1_thresh"),
])
def test_bad_configs_are_refused(fields, message):
    with pytest.raises(cachepass.ConfigError, match=message):
        cachepass.TeaCacheConfig(**fields)
