"""Options and configs: accepted forms, defaults, and errors that name the problem and the fix,
raised before any compile work."""

from __future__ import annotations

import logging
import re

import pytest
import torch
from diffusers import PyramidAttentionBroadcastConfig
from torch._dynamo.utils import counters

import cachepass
from cachepass.options import ConfigError, parse_options
from cachepass.models import build


def compile_and_call(options, model_name="cogvideox"):
    demo = build(model_name)
    compiled = torch.compile(demo.module, backend="cachepass", options=options)
    with torch.no_grad():
        return demo(compiled, 999.0)


@pytest.mark.parametrize("options, message", [
    ({"cahce": cachepass.PABConfig()}, "unknown option 'cahce' for backend='cachepass' (did you mean 'cache'?). "
                                       "Valid options: cache, compiler, inductor_config, cudagraphs."),
    ({"cache": "pab"}, "option 'cache' must be a cachepass.PABConfig, cachepass.FCConfig, cachepass.FBCConfig, "
                       "cachepass.MagConfig, cachepass.TSConfig, cachepass.TeaCacheConfig, cachepass.SeaConfig or "
                       "cachepass.DBConfig, or diffusers' PyramidAttentionBroadcastConfig, FasterCacheConfig, "
                       "FirstBlockCacheConfig, MagCacheConfig, TaylorSeerCacheConfig or SeaCacheConfig, or cache-dit's "
                       "DBCacheConfig; got str."),
    ({"cache": PyramidAttentionBroadcastConfig(spatial_attention_block_skip_range=2,
                                               spatial_attention_timestep_skip_range=(800, 100))},
     "PyramidAttentionBroadcastConfig.spatial_attention_timestep_skip_range=(800, 100) is empty"),
    ({"cache": PyramidAttentionBroadcastConfig(cross_attention_block_skip_range="3")},
     "PyramidAttentionBroadcastConfig.cross_attention_block_skip_range='3' must be an int >= 1 or None, got str."),
    ({"compiler": "tvm"}, "option 'compiler'='tvm' is not valid; choose one of 'inductor', 'eager' or pass a callable"),
    ({"compiler": "eager", "inductor_config": {"max_autotune": True}},
     "inductor_config/mode/cudagraphs only apply to compiler='inductor'"),
])
def test_bad_options_fail_before_compiling(options, message):
    with pytest.raises(Exception, match=re.escape(message)):
        compile_and_call(options)
    assert not counters["inductor"], "no Inductor work may happen before options are validated"


@pytest.mark.parametrize("kwargs, message", [
    (dict(spatial_skip=2.5), "spatial_skip=2.5 must be an int >= 1 or None, got float."),
    (dict(spatial_skip=0), "spatial_skip=0 must be >= 1"),
    (dict(temporal_timesteps=(100,)), "temporal_timesteps=(100,) must be a pair of numbers (low, high)"),
    (dict(cross_timesteps=(900, 900)), "cross_timesteps=(900, 900) is empty"),
    (dict(spatial_skip=None), "PABConfig caches nothing"),
    (dict(classification="regex"), "PABConfig.classification='regex' is not valid; choose 'cachepass' or 'diffusers'."),
    (dict(current_timestep_callback=5), "current_timestep_callback must be callable"),
])
def test_pab_config_rejects_bad_values(kwargs, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        cachepass.PABConfig(**kwargs)


def test_no_options_use_diffusers_defaults_and_say_so(caplog):
    with caplog.at_level(logging.INFO, logger="cachepass"):
        options = parse_options(None)
    assert options.cache.rules()["spatial"].skip == 2
    assert (options.cache.spatial_timesteps, options.cache.temporal_skip, options.cache.cross_skip) == \
        ((100.0, 800.0), None, None)
    assert "no cache config given; using Pyramid Attention Broadcast with diffusers' defaults: " \
           "PAB[spatial: skip 2 in (100, 800)" in caplog.text


def test_diffusers_config_converts_field_for_field():
    cfg = PyramidAttentionBroadcastConfig(spatial_attention_block_skip_range=3, cross_attention_block_skip_range=5,
                                          cross_attention_timestep_skip_range=(50, 950))
    ours = parse_options({"cache": cfg}).cache
    assert ours.classification == "diffusers"
    assert (ours.spatial_skip, ours.temporal_skip, ours.cross_skip) == (3, None, 5)
    assert ours.cross_timesteps == (50.0, 950.0)
    assert ours.spatial_identifiers == tuple(cfg.spatial_attention_block_identifiers)


def test_diffusers_config_without_ranges_defaults_like_diffusers(caplog):
    with caplog.at_level(logging.WARNING, logger="cachepass"):
        ours = parse_options({"cache": PyramidAttentionBroadcastConfig()}).cache
    assert ours.spatial_skip == 2
    assert "defaulting to spatial_attention_block_skip_range=2" in caplog.text


def test_mode_reaches_inductor_config():
    options = parse_options(None, mode="max-autotune-no-cudagraphs")
    assert options.inductor_config.get("max_autotune") is True


def test_timestep_callback_is_used_instead_of_the_input():
    demo = build("cogvideox")
    clock = {"t": 999.0}
    config = cachepass.PABConfig(spatial_skip=2, current_timestep_callback=lambda: clock["t"])
    compiled = torch.compile(demo.module, backend="cachepass", options={"cache": config, "compiler": "eager"})
    with torch.no_grad():
        for t in (999.0, 700.0, 600.0):
            clock["t"] = t
            demo(compiled, 0.0)  # the model input says 0 (outside the range); the callback decides
    history = cachepass.compiled_graphs(compiled)[0].states()[0][1].history
    assert [r.timestep for r in history] == [999.0, 700.0, 600.0]
    assert [r.variant for r in history] == ["compute", "reuse-spatial", "compute"]
