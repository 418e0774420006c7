"""What is benchmarked: a model, its dtype/device, a schedule and the cache configs to compare.

# NOTE [Bench fields keyed by registry name]
A workload's settings for each method are diffusers' config fields, keyed by the method's registry name
(`cachepass.methods.METHODS`); the method's plug-in turns them into its config (`bench_config`). They are the
bench's tuning for its random-weight models, not the method's: so they live here, one dict per workload, and
tests/test_layout_rules.py checks that every key is a registered method (and exempts this file from rule 4).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from cachepass.models import DemoModel, build
from cachepass.timesteps import timesteps_linspace


@dataclass(frozen=True)
class Workload:
    name: str
    description: str
    build: Callable[[], DemoModel]
    steps: int
    # registry name -> diffusers' config fields of that method (NOTE [Bench fields keyed by registry name]); a
    # method left out is not measured here
    methods: dict[str, dict[str, Any]]
    device: str = "cpu"
    dtype: torch.dtype = torch.float32
    guidance: float | None = 5.0  # CFG scale; batch 2 (uncond + cond) when set
    # CPU timings drift: time the configurations' workers in turn, in rounds (bench/turns.py)
    paired_timing: bool = True
    extra: dict[str, Any] = field(default_factory=dict)
    why_not: dict[str, str] = field(default_factory=dict)  # method -> why it is not measured here (shown in rows)

    def fields(self, method: str) -> dict[str, Any] | None:
        """diffusers' config fields of the registered method `method` here, or None: not measured."""
        return self.methods.get(method)

    def timesteps(self) -> list[float]:
        return timesteps_linspace(self.steps)

    def model(self) -> DemoModel:
        torch.manual_seed(0)
        return self.build().to(self.device, self.dtype)


def _cogvideox_2b() -> DemoModel:
    """The CogVideoX-2b transformer configuration (THUDM/CogVideoX-2b, transformer/config.json) with
    random weights, fed 13 latent frames at 60x90 and 226 text tokens."""
    from diffusers import CogVideoXTransformer3DModel

    module = CogVideoXTransformer3DModel(
        num_attention_heads=30, attention_head_dim=64, in_channels=16, out_channels=16, flip_sin_to_cos=True,
        freq_shift=0, time_embed_dim=512, text_embed_dim=4096, num_layers=30, dropout=0.0, attention_bias=True,
        sample_width=90, sample_height=60, sample_frames=49, patch_size=2, temporal_compression_ratio=4,
        max_text_seq_length=226, activation_fn="gelu-approximate", timestep_activation_fn="silu",
        norm_elementwise_affine=True, norm_eps=1e-5, spatial_interpolation_scale=1.875,
        temporal_interpolation_scale=1.0, use_rotary_positional_embeddings=False).eval()

    def make_inputs(batch: int) -> dict[str, Any]:
        gen = torch.Generator().manual_seed(1)
        return {"hidden_states": torch.randn(batch, 13, 16, 60, 90, generator=gen),
                "encoder_hidden_states": torch.randn(batch, 226, 4096, generator=gen)}

    return DemoModel("cogvideox-2b", "real", module, make_inputs, channel_dim=2)


@dataclass
class _FluxModel(DemoModel):
    """Flux's transformer multiplies its `timestep` input by 1000 (pipeline_flux passes t / 1000): fed the
    loop's 999..0 it would embed ~1e6, so the inputs carry t / 1000, as the pipeline's do."""

    def inputs(self, timestep: torch.Tensor | float, batch: int | None = None) -> dict[str, Any]:
        kwargs = super().inputs(timestep, batch)
        kwargs["timestep"] = kwargs["timestep"] / 1000
        return kwargs


def _flux_small() -> DemoModel:
    """Flux-dev style (guidance embedding, no CFG batch), 2 double-stream + 2 single-stream blocks, 4 heads
    x 32, 24x24 packed latent tokens + 32 text tokens, RoPE from ids as pipeline_flux builds them."""
    from diffusers import FluxTransformer2DModel

    grid, text, channels = 24, 32, 16
    module = FluxTransformer2DModel(
        patch_size=1, in_channels=channels, num_layers=2, num_single_layers=2, attention_head_dim=32,
        num_attention_heads=4, joint_attention_dim=64, pooled_projection_dim=64, guidance_embeds=True,
        axes_dims_rope=(8, 12, 12)).eval()

    def make_inputs(batch: int) -> dict[str, Any]:
        gen = torch.Generator().manual_seed(13)
        ids = torch.zeros(grid, grid, 3)  # pipeline_flux._prepare_latent_image_ids; text ids are zeros
        ids[..., 1] = torch.arange(grid)[:, None]
        ids[..., 2] = torch.arange(grid)[None, :]
        return {"hidden_states": torch.randn(batch, grid * grid, channels, generator=gen),
                "encoder_hidden_states": torch.randn(batch, text, 64, generator=gen),
                "pooled_projections": torch.randn(batch, 64, generator=gen),
                "img_ids": ids.reshape(-1, 3), "txt_ids": torch.zeros(text, 3),
                "guidance": torch.full((batch,), 3.5)}

    return _FluxModel("flux", "small", module, make_inputs, channel_dim=2)


PAB_DEFAULT = {"spatial_attention_block_skip_range": 2, "spatial_attention_timestep_skip_range": (100, 800)}
# diffusers' documented FasterCache settings for CogVideoX (docs: api/cache, "FasterCache" example).
FASTERCACHE_COGVIDEOX = {
    "spatial_attention_block_skip_range": 2, "spatial_attention_timestep_skip_range": (-1, 681),
    "low_frequency_weight_update_timestep_range": (99, 641), "high_frequency_weight_update_timestep_range": (-1, 301),
    "spatial_attention_block_identifiers": ["transformer_blocks"], "attention_weight_callback": "constant-0.3",
    "tensor_format": "BFCHW"}
FASTERCACHE_LATTE = {**FASTERCACHE_COGVIDEOX, "tensor_format": "BCFHW",
                     "spatial_attention_block_identifiers": ["transformer_blocks.*attn1"],
                     "temporal_attention_block_skip_range": 2, "temporal_attention_timestep_skip_range": (-1, 681),
                     "temporal_attention_block_identifiers": ["temporal_transformer_blocks.*attn1"]}

# Random weights change the first block's residual by 0.1-0.4 (relative) per step, where real weights give
# 0.02-0.1: at diffusers' default 0.05 nothing would be skipped. 0.25 skips about a third of the steps of
# cogvideox-small (measured); every first-block implementation gets the same threshold.
FBC_RANDOM_WEIGHTS = {"threshold": 0.25}
# Flux's random-weight first block changes more per step (0.5-0.75 measured on flux-small): 0.57 skips 28 of
# its 50 steps, as 0.25 does on cogvideox-small (0.55: 19, 0.6: 33).
FBC_FLUX_RANDOM_WEIGHTS = {"threshold": 0.57}
LATTE_NO_BLOCK_CACHE = ("Latte's spatial and temporal blocks interleave with code between them: no first-block "
                        "or block-stack cache applies (diffusers' hooks, cachepass and the peers all refuse it)")
# MagCache decides from the step alone: diffusers' Flux ratios, interpolated to the workload's steps, give a
# schedule for any model (random weights have no ratios of their own worth calibrating).
MAGCACHE_50 = {"threshold": 0.06, "num_inference_steps": 50, "mag_ratios": "flux"}
# diffusers' defaults but the identifiers: its default patterns fullmatch names ending in "attn", which
# CogVideoX's attn1 is not (the hook would cache nothing).
TAYLORSEER_COGVIDEOX = {"cache_identifiers": ("^transformer_blocks.*attn1",)}
# TeaCache (diffusers has none: cachepass's TeaCacheConfig fields) with the family's published coefficients; its
# step counter wraps at num_inference_steps, so that is the workload's. 0.1 (the authors' CogVideoX range) skips
# 27 of cogvideox-small's 50 steps; on flux-small the authors' Flux 0.25 skips 24 (measured).
TEACACHE_COGVIDEOX_50 = {"threshold": 0.1, "num_inference_steps": 50}
TEACACHE_FLUX_50 = {"threshold": 0.25, "num_inference_steps": 50}
# SeaCache: diffusers' Wan adapter reads `hidden_states` as the video latent (raw_vision_callback "hidden_states",
# see the plug-in's bench_config); diffusers' defaults otherwise (threshold 0.25: not yet tuned on cogvideox-small).
SEACACHE_COGVIDEOX = {"threshold": 0.25, "raw_vision_callback": "hidden_states"}
# DBCache: F1B1 (its own feature: the last block refines every reused step) with FBC's random-weight threshold
# (F1's decision is FirstBlockCache's) and 4 warm-up steps (cache-dit's default of 8 is for 28-50-step DiTs of
# 28+ blocks; the middle is the 2 blocks between the first and the last of these 4-block models).
DBCACHE_COGVIDEOX = {"Fn_compute_blocks": 1, "Bn_compute_blocks": 1, "max_warmup_steps": 4,
                     "residual_diff_threshold": FBC_RANDOM_WEIGHTS["threshold"]}
DBCACHE_FLUX = {**DBCACHE_COGVIDEOX, "residual_diff_threshold": FBC_FLUX_RANDOM_WEIGHTS["threshold"]}
SEACACHE_NO_VIDEO_LATENT = ("Flux's hidden_states are packed tokens (B, N, C), not a (B, C, T, H, W) video latent: "
                            "SeaCache has no indicator (diffusers' hook runs every step; cachepass compiles uncached)")

WORKLOADS: dict[str, Workload] = {
    "cogvideox-small": Workload("cogvideox-small", "CogVideoX, 4 layers, 4x32 heads, 464 tokens (random weights)",
                                lambda: build("cogvideox", "small"), 50,
                                {"pab": PAB_DEFAULT, "fastercache": FASTERCACHE_COGVIDEOX, "fbc": FBC_RANDOM_WEIGHTS,
                                 "magcache": MAGCACHE_50, "taylorseer": TAYLORSEER_COGVIDEOX,
                                 "teacache": TEACACHE_COGVIDEOX_50, "seacache": SEACACHE_COGVIDEOX,
                                 "dbcache": DBCACHE_COGVIDEOX}),
    "latte-small": Workload("latte-small", "Latte, 4 layers, 4x32 heads, 4 frames of 64 tokens (random weights)",
                            lambda: build("latte", "small"), 50,
                            {"pab": {**PAB_DEFAULT, "cross_attention_block_skip_range": 4,
                                     "cross_attention_timestep_skip_range": (100, 900)},
                             "fastercache": FASTERCACHE_LATTE},
                            why_not={"fbc": LATTE_NO_BLOCK_CACHE, "teacache": LATTE_NO_BLOCK_CACHE,
                                     "seacache": LATTE_NO_BLOCK_CACHE, "dbcache": LATTE_NO_BLOCK_CACHE}),
    "flux-small": Workload("flux-small", "Flux, 2 double + 2 single blocks, 4x32 heads, 576 + 32 tokens, guidance "
                                         "embedding, no CFG batch (random weights)",
                           _flux_small, 50, {"pab": PAB_DEFAULT, "fbc": FBC_FLUX_RANDOM_WEIGHTS,
                                             "teacache": TEACACHE_FLUX_50, "dbcache": DBCACHE_FLUX}, guidance=None,
                           why_not={"seacache": SEACACHE_NO_VIDEO_LATENT}),
    "cogvideox-2b": Workload("cogvideox-2b", "CogVideoX-2b transformer config, 13x60x90 latents + 226 text tokens, "
                                             "bf16, batched CFG", _cogvideox_2b, 20,
                             {"pab": PAB_DEFAULT, "fastercache": FASTERCACHE_COGVIDEOX, "fbc": FBC_RANDOM_WEIGHTS,
                              "magcache": {**MAGCACHE_50, "num_inference_steps": 20},
                              "taylorseer": TAYLORSEER_COGVIDEOX},
                             device="cuda", dtype=torch.bfloat16,
                             paired_timing=False),
    "smoke": Workload("smoke", "tiny CogVideoX, 8 steps (checks every configuration and field)",
                      lambda: build("cogvideox", "tiny"), 8,
                      {"pab": PAB_DEFAULT, "fastercache": FASTERCACHE_COGVIDEOX, "fbc": {"threshold": 0.3},
                       "magcache": {"threshold": 0.06, "num_inference_steps": 8, "mag_ratios": "flux",
                                    "retention_ratio": 0.1},
                       "taylorseer": {**TAYLORSEER_COGVIDEOX, "disable_cache_before_step": 1, "cache_interval": 3},
                       # 3 of the 8 steps reused each (measured)
                       "teacache": {"threshold": 0.3, "num_inference_steps": 8},
                       "seacache": {**SEACACHE_COGVIDEOX, "threshold": 0.5},
                       "dbcache": {"Fn_compute_blocks": 1, "Bn_compute_blocks": 0, "residual_diff_threshold": 0.21,
                                   "max_warmup_steps": 0}}),
}

PRESETS = {"cpu": ("cogvideox-small", "latte-small"), "gpu": ("cogvideox-2b",), "smoke": ("smoke",),
           "peers": ("flux-small", "cogvideox-small")}

# `python -m bench --tune` (bench/tune.py): per preset, the workloads, PSNR budgets (dB), the methods tuned, the
# rounds, the compiler and tune's own timing rounds; and the method whose peer default the tuned plans face
# (cache-dit's DBCacheConfig()).
TUNE_PRESETS = {
    # every method with a search space (None; the stack skips also with the calibrator), at budgets around the
    # defaults' own PSNRs on this random-weight model (65-87 dB, docs/tune.md), so that each binds some
    "cpu": (("cogvideox-small",), (50.0, 60.0, 70.0), None, 5, "inductor", {"repeats": 5, "timing_runs": 3}),
    # smoke: FBC alone (compose=False), the smallest search that checks the plumbing
    "smoke": (("smoke",), (30.0,), ("fbc",), 2, "eager", {"repeats": 1, "timing_runs": 1, "compose": False}),
}
PEER_DEFAULT_METHOD = "dbcache"
