"""What is benchmarked: a model, its dtype/device, a schedule and the cache configs to compare."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from cachepass.models import DemoModel, build
from cachepass.plan import timesteps_linspace


@dataclass(frozen=True)
class Workload:
    name: str
    description: str
    build: Callable[[], DemoModel]
    steps: int
    pab: dict[str, Any]  # diffusers PyramidAttentionBroadcastConfig fields
    fastercache: dict[str, Any] | None = None  # diffusers FasterCacheConfig fields
    fbc: dict[str, Any] | None = None  # diffusers FirstBlockCacheConfig fields; None: not measured
    magcache: dict[str, Any] | None = None  # diffusers MagCacheConfig fields ("flux": FLUX_MAG_RATIOS); None: not measured
    taylorseer: dict[str, Any] | None = None  # diffusers TaylorSeerCacheConfig fields; None: not measured
    device: str = "cpu"
    dtype: torch.dtype = torch.float32
    guidance: float | None = 5.0  # CFG scale; batch 2 (uncond + cond) when set
    # CPU timings drift between processes: time the configurations in turn in one process (bench/paired.py)
    paired_timing: bool = True
    extra: dict[str, Any] = field(default_factory=dict)

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
# MagCache decides from the step alone: diffusers' Flux ratios, interpolated to the workload's steps, give a
# schedule for any model (random weights have no ratios of their own worth calibrating).
MAGCACHE_50 = {"threshold": 0.06, "num_inference_steps": 50, "mag_ratios": "flux"}
# diffusers' defaults but the identifiers: its default patterns fullmatch names ending in "attn", which
# CogVideoX's attn1 is not (the hook would cache nothing).
TAYLORSEER_COGVIDEOX = {"cache_identifiers": ("^transformer_blocks.*attn1",)}

WORKLOADS: dict[str, Workload] = {
    "cogvideox-small": Workload("cogvideox-small", "CogVideoX, 4 layers, 4x32 heads, 464 tokens (random weights)",
                                lambda: build("cogvideox", "small"), 50, PAB_DEFAULT, FASTERCACHE_COGVIDEOX,
                                fbc=FBC_RANDOM_WEIGHTS, magcache=MAGCACHE_50, taylorseer=TAYLORSEER_COGVIDEOX),
    "latte-small": Workload("latte-small", "Latte, 4 layers, 4x32 heads, 4 frames of 64 tokens (random weights)",
                            lambda: build("latte", "small"), 50,
                            {**PAB_DEFAULT, "cross_attention_block_skip_range": 4,
                             "cross_attention_timestep_skip_range": (100, 900)}, FASTERCACHE_LATTE),
    "cogvideox-2b": Workload("cogvideox-2b", "CogVideoX-2b transformer config, 13x60x90 latents + 226 text tokens, "
                                             "bf16, batched CFG", _cogvideox_2b, 20, PAB_DEFAULT,
                             FASTERCACHE_COGVIDEOX, fbc=FBC_RANDOM_WEIGHTS,
                             magcache={**MAGCACHE_50, "num_inference_steps": 20}, taylorseer=TAYLORSEER_COGVIDEOX,
                             device="cuda", dtype=torch.bfloat16,
                             paired_timing=False),
    "smoke": Workload("smoke", "tiny CogVideoX, 8 steps (checks every configuration and field)",
                      lambda: build("cogvideox", "tiny"), 8, PAB_DEFAULT, FASTERCACHE_COGVIDEOX, fbc={"threshold": 0.3},
                      magcache={"threshold": 0.06, "num_inference_steps": 8, "mag_ratios": "flux",
                                "retention_ratio": 0.1},
                      taylorseer={**TAYLORSEER_COGVIDEOX, "disable_cache_before_step": 1, "cache_interval": 3}),
}

PRESETS = {"cpu": ("cogvideox-small", "latte-small"), "gpu": ("cogvideox-2b",), "smoke": ("smoke",)}
