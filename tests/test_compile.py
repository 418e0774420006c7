"""`cachepass.compile`: every option checked before Dynamo traces anything, `mode` folded into cachepass's own
options, and the same result as `torch.compile(backend="cachepass")`; with the backend string, a `ConfigError`
reaches the user as itself."""

from __future__ import annotations

import copy
import re
import sys

import pytest
import torch
from diffusers import PyramidAttentionBroadcastConfig
from helpers import TIMESTEPS_12, HookedReference, max_diff, run_loop
from torch._dynamo.utils import counters

import cachepass
from cachepass.options import parse_options
from cachepass.models import build


class Counting(torch.nn.Module):
    """A model that counts its forward calls: Dynamo runs `forward` when it traces."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(4, 4)
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return self.linear(x)


def _snapshot() -> dict:
    return {name: dict(values) for name, values in counters.items()}


@pytest.mark.parametrize("cache, kwargs, message", [
    (None, dict(options={"cahce": cachepass.PABConfig()}), "unknown option 'cahce' for backend='cachepass' "
                                                           "(did you mean 'cache'?)"),
    ("pab", {}, "option 'cache' must be a cachepass.PABConfig"),
    (PyramidAttentionBroadcastConfig(spatial_attention_block_skip_range=2,
                                     spatial_attention_timestep_skip_range=(800, 100)), {},
     "PyramidAttentionBroadcastConfig.spatial_attention_timestep_skip_range=(800, 100) is empty"),
    (PyramidAttentionBroadcastConfig(cross_attention_block_skip_range="3"), {},
     "PyramidAttentionBroadcastConfig.cross_attention_block_skip_range='3' must be an int >= 1 or None, got str."),
    (None, dict(options={"compiler": "tvm"}), "option 'compiler'='tvm' is not valid"),
    (None, dict(options={"cudagraphs": "yes"}), "option 'cudagraphs'='yes' must be True or False."),
    (None, dict(options={"compiler": "eager"}, mode="max-autotune"),
     "inductor_config/mode/cudagraphs only apply to compiler='inductor'"),
    (None, dict(mode="fastest"), "mode='fastest' is not an Inductor mode"),
    (None, dict(options=[("cache", None)]), "options must be a dict, got list"),
    (cachepass.PABConfig(), dict(options={"cache": cachepass.PABConfig()}), "got a cache config twice"),
    (None, dict(backend="inductor"), "cachepass.compile sets backend='cachepass'; drop backend='inductor'"),
])
def test_bad_options_raise_config_error_before_any_tracing(cache, kwargs, message):
    model, before = Counting(), _snapshot()
    with pytest.raises(cachepass.ConfigError, match=re.escape(message)):
        cachepass.compile(model, cache=cache, **kwargs)
    assert model.calls == 0, "Dynamo traced the model before the options were checked"
    assert _snapshot() == before, "torch's counters moved: compile work happened"


def test_good_config_equals_the_backend_string_and_diffusers_hook():
    demo = build("cogvideox")
    config = PyramidAttentionBroadcastConfig(spatial_attention_block_skip_range=2)
    hook = HookedReference(demo, config)
    expected = [hook(t) for t in TIMESTEPS_12]
    by_string = torch.compile(copy.deepcopy(demo.module), backend="cachepass", fullgraph=True,
                              options={"cache": config, "compiler": "eager"})
    by_helper = cachepass.compile(demo.module, cache=config, options={"compiler": "eager"}, fullgraph=True)
    from_string, from_helper = run_loop(demo, by_string, TIMESTEPS_12), run_loop(demo, by_helper, TIMESTEPS_12)
    assert all(torch.equal(a, b) for a, b in zip(from_helper, from_string))
    assert max(max_diff(a, b) for a, b in zip(from_helper, expected)) <= 1e-5
    assert any(hook.reused(i) for i in range(len(TIMESTEPS_12))), "the hook reused nothing: no caching to compare"
    assert cachepass.compiled_graphs(by_helper)[0].cached


@pytest.mark.parametrize("mode", ["default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs"])
def test_mode_becomes_cachepass_options_that_torch_accepts(mode, monkeypatch):
    """torch.compile refuses mode= with options=; cachepass.compile hands the backend options that mean the same
    as the backend's own reading of `mode` (parse_options), with no CUDA needed to see them."""
    cache = cachepass.PABConfig(spatial_skip=3)
    with pytest.raises(RuntimeError, match="Either mode or options can be specified"):
        torch.compile(Counting(), backend="cachepass", mode=mode, options={"cache": cache})
    reached = []

    def spy(gm, example_inputs, options):
        reached.append(options)
        return gm.forward

    monkeypatch.setattr(sys.modules["cachepass.backend"], "compile_with_cache", spy)
    compiled = cachepass.compile(Counting(), cache=cache, mode=mode)
    compiled(torch.randn(2, 4))
    assert reached == [parse_options({"cache": cache}, mode)]
    assert reached[0].cudagraphs is (mode in ("reduce-overhead", "max-autotune"))
    assert reached[0].inductor_config.get("max_autotune", False) is mode.startswith("max-autotune")


def test_backend_string_config_error_is_catchable_as_itself():
    demo = build("cogvideox")
    compiled = torch.compile(demo.module, backend="cachepass", options={"cahce": cachepass.PABConfig()})
    with pytest.raises(cachepass.ConfigError, match=re.escape("unknown option 'cahce' for backend='cachepass'")):
        with torch.no_grad():
            demo(compiled, 999.0)


def test_a_config_error_only_the_graph_shows_is_catchable_through_the_helper():
    """TaylorSeer's identifiers are checked against the captured graph's modules: at the first call."""
    demo = build("cogvideox")
    compiled = cachepass.compile(demo.module, cache=cachepass.TSConfig(cache_identifiers=(r"^nothing.*",)),
                                 options={"compiler": "eager"})
    with pytest.raises(cachepass.ConfigError, match="fullmatch no module of this graph"):
        with torch.no_grad():
            demo(compiled, 999.0)
