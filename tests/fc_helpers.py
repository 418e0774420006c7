"""FasterCache test cases and oracle: diffusers' own FasterCache hooks on an eager copy of the model."""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass
from typing import Any

import torch
from diffusers import FasterCacheConfig
from diffusers.hooks import HookRegistry, apply_faster_cache
from torch._dynamo.utils import counters

from cachepass.models import DemoModel, build

SPLIT = ("hidden_states", "encoder_hidden_states", "timestep", "attention_mask", "encoder_attention_mask")


class Clock:
    """The pipeline's `current_timestep`, on the 0..1000 scale, for callbacks."""

    def __init__(self) -> None:
        self.t: float | None = None

    def __call__(self) -> float | None:
        return self.t


class MirroredClock(Clock):
    """A callback that rises while the timestep falls, as MochiPipeline's `current_timestep` (1000 - t)."""

    def __call__(self) -> float | None:
        return None if self.t is None else 1000.0 - self.t


@dataclass
class Case:
    name: str
    demo: DemoModel
    config: FasterCacheConfig
    batch: int  # per call: 2 = [uncond, cond] for batched CFG
    clock: Clock
    timestep_scale: float = 1.0  # the model's timestep input is t / timestep_scale

    def __call__(self, module: Any, t: float, batch: int | None = None, **override: Any) -> torch.Tensor:
        self.clock.t = t
        return self.call(module, t, batch, **override)

    def kwargs(self, t: float, batch: int | None = None) -> dict[str, Any]:
        return self.demo.inputs(t / self.timestep_scale, self.batch if batch is None else batch)

    def call(self, module: Any, t: float, batch: int | None = None, **override: Any) -> torch.Tensor:
        kwargs = self.kwargs(t, batch)
        kwargs.update(override)
        out = module(**kwargs)
        return out[0] if isinstance(out, (tuple, list)) else out


def tiny_flux() -> DemoModel:
    """A tiny guidance-distilled Flux (guidance_embeds=True), called with batch 1 and no CFG."""
    from diffusers import FluxTransformer2DModel

    torch.manual_seed(0)
    module = FluxTransformer2DModel(patch_size=1, in_channels=4, num_layers=1, num_single_layers=1,
                                    attention_head_dim=8, num_attention_heads=2, joint_attention_dim=16,
                                    pooled_projection_dim=16, guidance_embeds=True, axes_dims_rope=(2, 2, 4)).eval()

    def make_inputs(batch: int) -> dict[str, Any]:
        g = torch.Generator().manual_seed(5)
        return dict(hidden_states=torch.randn(batch, 16, 4, generator=g),
                    encoder_hidden_states=torch.randn(batch, 8, 16, generator=g),
                    pooled_projections=torch.randn(batch, 16, generator=g), img_ids=torch.zeros(16, 3),
                    txt_ids=torch.zeros(8, 3), guidance=torch.full((batch,), 3.5))

    return DemoModel("flux", "tiny", module, make_inputs)


def cogvideox_case(**changes: Any) -> Case:
    """diffusers' documented CogVideoX settings (BFCHW), with an attention weight that changes every step."""
    clock = Clock()
    config = FasterCacheConfig(
        spatial_attention_block_skip_range=2, spatial_attention_timestep_skip_range=(-1, 681),
        attention_weight_callback=lambda _: 0.3 + (clock.t or 0.0) / 5000, unconditional_batch_skip_range=5,
        unconditional_batch_timestep_skip_range=(-1, 781), tensor_format="BFCHW")
    return Case("cogvideox", build("cogvideox"), dataclasses.replace(config, **changes), 2, clock)


def latte_case(**changes: Any) -> Case:
    """diffusers' defaults plus temporal reuse (BCFHW): all four spatial/temporal combinations occur."""
    clock = Clock()
    config = FasterCacheConfig(spatial_attention_block_skip_range=2, temporal_attention_block_skip_range=3,
                               tensor_format="BCFHW")
    return Case("latte", build("latte"), dataclasses.replace(config, **changes), 2, clock)


def flux_case(**changes: Any) -> Case:
    """Guidance-distilled: block level only. Flux takes t / 1000, so the timestep comes from the clock."""
    clock = Clock()
    config = FasterCacheConfig(spatial_attention_block_skip_range=2, spatial_attention_timestep_skip_range=(-1, 681),
                               current_timestep_callback=clock, attention_weight_callback=lambda _: 0.4,
                               is_guidance_distilled=True)
    return Case("flux", tiny_flux(), dataclasses.replace(config, **changes), 1, clock, timestep_scale=1000.0)


CASES = {"cogvideox": cogvideox_case, "latte": latte_case, "flux": flux_case}


class FasterCacheReference:
    """An eager deep copy carrying diffusers' FasterCache hooks, fed the case's clock."""

    def __init__(self, case: Case) -> None:
        self.case = case
        self.module = copy.deepcopy(case.demo.module)
        # apply_faster_cache fills in callbacks on the config it is given: hand it a copy
        apply_faster_cache(self.module, dataclasses.replace(case.config, current_timestep_callback=case.clock))

    def reset(self) -> None:
        HookRegistry.check_if_exists_or_initialize(self.module).reset_stateful_hooks()

    def __call__(self, t: float, batch: int | None = None) -> torch.Tensor:
        with torch.no_grad():
            return self.case(self.module, t, batch)


def halves(kwargs: dict[str, Any], rows: int = 1) -> tuple[dict[str, Any], dict[str, Any]]:
    """The [uncond, cond] rows of a batched call (`rows` each), as two calls: conditional, then unconditional."""
    def part(selector: slice) -> dict[str, Any]:
        return {k: v[selector] if k in SPLIT and isinstance(v, torch.Tensor) else v for k, v in kwargs.items()}

    return part(slice(rows, 2 * rows)), part(slice(0, rows))


def inductor_compiles() -> int:
    c = counters["inductor"]
    return c["fxgraph_cache_miss"] + c["fxgraph_cache_hit"] + c["fxgraph_cache_bypass"]


def max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max())
