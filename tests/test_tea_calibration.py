"""TeaCache calibration (`TeaCacheConfig(calibrate=True)`): every step computes, each step's (indicator change,
output change) pair equals an eager loop written here (the indicator as tests/tea_helpers.py computes it from the
authors' scripts, the output's relative L1 change), the fit is `fit_coefficients` of those pairs, with no
recompile and one host read per step plus one per generation; the fit itself against numpy's own fits; and
`cachepass.tune` tunes TeaCache on a model with no published coefficients."""

from __future__ import annotations

import copy
import dataclasses
import inspect
import sys

import numpy as np
import pytest
import torch
from families import build_family
from fbc_helpers import compiled_call, host_reads_of_a_second_generation
from helpers import max_diff
from tea_helpers import TeaReference, indicator
from torch._dynamo.utils import counters

import cachepass
from cachepass.methods.teacache.calibration import fit_coefficients
from cachepass.methods.teacache.config import family_defaults

TIMESTEPS_8 = [float(t) for t in torch.linspace(999, 0, 8)]
X = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6])
POSITIVE = (2.0, -1.0, 0.5, 3.0, 0.01)  # positive for x > 0


def _positive(coefficients, x) -> bool:
    return bool(np.all(np.polyval(coefficients, np.linspace(x.min(), x.max(), 256)) > 0))


def test_a_positive_degree_4_polynomial_is_recovered():
    x = np.linspace(0.05, 0.6, 12)
    fitted = fit_coefficients(x.tolist(), np.polyval(POSITIVE, x).tolist())
    np.testing.assert_allclose(fitted, POSITIVE, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("y, degree", [
    ([0.5, 0.05, 0.5, 0.5, 0.05, 0.5], 1),  # the degree-4 fit dips below 0, the line does not
    ([0.9, 0.02, 0.5, 0.3, 0.02, 0.01], 0),  # both dip: the line through the origin
])
def test_a_fit_not_positive_on_the_changes_falls_back(y, degree):
    y = np.array(y)
    assert not _positive(np.polyfit(X, y, 4), X)  # else the case tests nothing
    fitted = fit_coefficients(X.tolist(), y.tolist())
    if degree == 1:
        np.testing.assert_allclose(fitted, np.polyfit(X, y, 1), rtol=1e-9)
    else:
        assert not _positive(np.polyfit(X, y, 1), X)
        np.testing.assert_allclose(fitted, (float(X @ y) / float(X @ X), 0.0), rtol=1e-12)
    assert _positive(fitted, X)


@pytest.mark.parametrize("x, y", [([], []), ([0.2], [0.1]), ([0.1, 0.2, 0.3], [0.0, 0.0, 0.0])])
def test_too_few_pairs_or_an_output_that_never_changes_fit_nothing(x, y):
    assert fit_coefficients(x, y) is None


def _unknown(demo):
    """The family's model under a subclass no published table knows, with the same weights."""
    class Unknown(type(demo.module)):
        pass

    module = Unknown.from_config(demo.module.config).eval()
    module.load_state_dict(demo.module.state_dict())
    return dataclasses.replace(demo, module=module)


def _eager_pairs(demo, family: str) -> tuple[list[torch.Tensor], list[float], list[float]]:
    """An eager copy's outputs over one generation, and per step after the first the indicator's and the
    output's relative L1 change against the previous step's."""
    module = copy.deepcopy(demo.module)
    block = getattr(module, TeaReference.LISTS.get(family, ("transformer_blocks",))[0])[0]
    signature, indicators = inspect.signature(block.forward), []
    block.register_forward_pre_hook(lambda mod, args, kwargs: indicators.append(
        indicator(family, mod, signature.bind(*args, **kwargs).arguments)), with_kwargs=True)
    outputs = [compiled_call(demo, module, t) for t in TIMESTEPS_8]

    def changes(values):
        return [((b - a).abs().mean() / a.abs().mean()).item() for a, b in zip(values, values[1:])]

    return outputs, changes(indicators), changes(outputs)


@pytest.mark.parametrize("family, published", [("flux", True), ("ltx", False)])
def test_calibration_computes_every_step_and_fits_the_eager_pairs(family, published, monkeypatch, capsys):
    demo = build_family(family)
    if not published:
        demo = _unknown(demo)
    assert (family_defaults(demo.module) is not None) == published
    outputs, x, y = _eager_pairs(demo, family)
    counters.clear()
    cfg = cachepass.TeaCacheConfig(threshold=0.1, calibrate=True, num_inference_steps=8)
    compiled = torch.compile(demo.module, backend="cachepass", fullgraph=True,
                             options={"cache": cfg, "compiler": "eager"})
    for t, theirs in zip(TIMESTEPS_8, outputs):
        assert max_diff(compiled_call(demo, compiled, t), theirs) <= 1e-5, (family, t)
    graph = cachepass.compiled_graphs(compiled)[0]
    records = list(graph.states()[0][1].history)
    assert [(r.compute, r.reason) for r in records] == [(True, "calibration")] * 8
    reads = host_reads_of_a_second_generation(demo, compiled, TIMESTEPS_8, monkeypatch)  # fail_on_recompile
    assert len(reads) == len(TIMESTEPS_8) + 1, reads  # the probe's per step, the output changes' once at the end
    assert sum(counters["graph_break"].values()) == 0 and counters["stats"]["unique_graphs"] == 1
    calibrations = graph.report().calibrations
    assert len(calibrations) == 3  # each generation ended at its 8th step
    for calibration in calibrations:
        np.testing.assert_allclose(calibration.x, x, rtol=1e-4)
        np.testing.assert_allclose(calibration.y, y, rtol=1e-4)
        assert calibration.coefficients == fit_coefficients(calibration.x, calibration.y) is not None
    assert "Copy these values to TeaCacheConfig(coefficients=...)" in capsys.readouterr().out
    assert any("calibrated coefficients" in note for note in graph.report().notes())


def test_a_loop_editing_the_output_in_place_fits_the_same_pairs():
    """The calibration keeps its own copy of the previous output: a loop that reads each output and then edits
    it in place (`out.mul_(0)`) fits the eager pairs, as a loop that leaves it alone does."""
    demo = build_family("flux")
    _, x, y = _eager_pairs(demo, "flux")
    cfg = cachepass.TeaCacheConfig(threshold=0.1, calibrate=True, num_inference_steps=8)
    compiled = torch.compile(demo.module, backend="cachepass", fullgraph=True,
                             options={"cache": cfg, "compiler": "eager"})
    for edits in (True, False):  # one generation each: each ends at its 8th step
        for t in TIMESTEPS_8:
            out = compiled_call(demo, compiled, t)
            if edits:
                out.mul_(0)
    edited, left = cachepass.compiled_graphs(compiled)[0].report().calibrations
    for calibration in (edited, left):
        np.testing.assert_allclose(calibration.x, x, rtol=1e-4)
        np.testing.assert_allclose(calibration.y, y, rtol=1e-4)
    assert edited.coefficients == fit_coefficients(edited.x, edited.y) is not None
    np.testing.assert_allclose(edited.coefficients, left.coefficients, rtol=1e-4)


def test_calibration_under_regional_compilation_names_the_fix():
    demo = build_family("flux")
    demo.module.compile_repeated_blocks(backend="cachepass", fullgraph=True, options={
        "cache": cachepass.TeaCacheConfig(threshold=0.1, calibrate=True), "compiler": "eager"})
    with pytest.raises(cachepass.ConfigError, match=r"calibrate=True on a graph of one block.*whole transformer"):
        compiled_call(demo, demo.module, 999.0)


def test_tune_fits_teacache_on_a_model_without_published_coefficients(monkeypatch):
    from test_tune import EAGER, computed_share, generate_with

    from cachepass.models import build

    demo = build("dit")
    assert family_defaults(demo.module) is None
    monkeypatch.setattr(sys.modules["cachepass.tune"]._Session, "predict_units", computed_share)
    generate = generate_with(demo)
    result = cachepass.tune(generate, {"psnr": 30.0}, ("teacache",), model=demo.module, options=EAGER, repeats=1,
                            timing_runs=1, compose=False)
    config = result.config
    assert isinstance(config, cachepass.TeaCacheConfig) and not config.calibrate
    assert config.coefficients is not None and len(config.coefficients) >= 2
    assert result.quality["psnr"] >= 30.0 and any(c.reused_calls for c in result.table if c.met)
