"""SeaCache configs: cachepass's `SeaConfig` and diffusers' `SeaCacheConfig` (read, never mutated), validated
before any compile work.

diffusers' `raw_vision_callback` is a Python function of the model's call arguments that the hook runs before
every call. cachepass compiles the call into one graph and cannot run an arbitrary function in it, so it takes
the callback's two built-in forms by name (`vision`): "auto" (no callback: diffusers' adapter for Wan T2V, the
batch elements of the 5-D `hidden_states` input) and "hidden_states" (diffusers' Wan adapter passed as the
callback, for any model whose `hidden_states` input is (B, C, T, H, W)). Any other callback is refused with
what to do.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any

from ...errors import ConfigError
from ...options import reject_unknown_fields

VISIONS = ("auto", "hidden_states")


@reject_unknown_fields
@dataclass(frozen=True)
class SeaConfig:
    """SeaCache (diffusers' `hooks/sea_cache.py`, rule for rule; https://huggingface.co/papers/2602.18993).

    Each step filters the video latents with the SEA spectral filter of the step's sigma and compares the
    result with the previous step's (relative L1, averaged over the batch's latents). While the accumulated
    change stays below `threshold`, the whole block stack is skipped and its residual predicted: the last
    computed step's (`residual_order=0`) or extrapolated linearly from the last two (`residual_order=1`).
    The first `retention_steps` and last `cache_end_steps` steps always compute, and at most
    `max_consecutive_cached` steps in a row reuse (0: no limit). Needs the pipeline's
    `cache_context(name, step_index=..., sigma=..., num_inference_steps=...)` (Wan and Cosmos 3 pipelines pass it).

    - `vision`: which latents the indicator filters: "auto" (diffusers' Wan T2V adapter: the batch elements
      of the 5-D `hidden_states` input, only for a Wan T2V model) or "hidden_states" (the same for any model
      whose `hidden_states` input is (B, C, T, H, W), as diffusers' hook with
      `raw_vision_callback=diffusers.hooks.sea_cache._prepare_wan_t2v_raw_vision_metadata`).
    - `block_lists`: as FBCConfig.block_lists (None: diffusers' block names).
    """

    threshold: float = 0.25
    residual_order: int = 1
    retention_steps: int = 1
    cache_end_steps: int = 1
    max_consecutive_cached: int = 2
    power_exp: float = 3.0
    vision: str = "auto"
    block_lists: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        _real("SeaConfig.threshold", self.threshold, "a finite number >= 0, e.g. 0.25 (diffusers' default)",
              lambda v: math.isfinite(v) and v >= 0)
        _real("SeaConfig.power_exp", self.power_exp, "a finite number > 0, e.g. 3.0 (diffusers' default)",
              lambda v: math.isfinite(v) and v > 0)
        if self.residual_order not in (0, 1) or isinstance(self.residual_order, bool):
            raise ConfigError(f"SeaConfig.residual_order={self.residual_order!r} must be 0 (reuse the last residual) "
                              f"or 1 (extrapolate from the last two).")
        for name in ("retention_steps", "cache_end_steps", "max_consecutive_cached"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
                raise ConfigError(f"SeaConfig.{name}={value!r} must be an int >= 0.")
        if self.vision not in VISIONS:
            raise ConfigError(f"SeaConfig.vision={self.vision!r} must be one of {VISIONS}: 'auto' (Wan T2V's "
                              f"built-in adapter) or 'hidden_states' (a 5-D (B, C, T, H, W) `hidden_states` input).")
        if self.block_lists is not None:
            lists = self.block_lists
            if isinstance(lists, str) or not lists or not all(isinstance(n, str) and n for n in lists):
                raise ConfigError(f"SeaConfig.block_lists={lists!r} must be a non-empty tuple of ModuleList names.")
            object.__setattr__(self, "block_lists", tuple(lists))
        object.__setattr__(self, "threshold", float(self.threshold))
        object.__setattr__(self, "power_exp", float(self.power_exp))

    def describe(self) -> str:
        limit = self.max_consecutive_cached or "no limit on"
        return (f"SeaCache[threshold {self.threshold:g}, residual order {self.residual_order}, retention "
                f"{self.retention_steps}, end {self.cache_end_steps}, {limit} reuses in a row, power "
                f"{self.power_exp:g}, vision {self.vision}]")


def from_diffusers(cfg: Any) -> SeaConfig:
    """diffusers' `SeaCacheConfig` as it is; its callback only in the built-in form cachepass can compile."""
    return SeaConfig(threshold=cfg.threshold, residual_order=cfg.residual_order, retention_steps=cfg.retention_steps,
                     cache_end_steps=cfg.cache_end_steps, max_consecutive_cached=cfg.max_consecutive_cached,
                     power_exp=cfg.power_exp, vision=_vision(cfg.raw_vision_callback))


def _vision(callback: Any) -> str:
    if callback is None:
        return "auto"
    from diffusers.hooks import sea_cache

    if callback is sea_cache._prepare_wan_t2v_raw_vision_metadata:
        return "hidden_states"
    name = getattr(callback, "__qualname__", type(callback).__name__)
    raise ConfigError(
        f"SeaCacheConfig.raw_vision_callback={name} is a Python function of the model's call arguments, which "
        f"cachepass cannot run inside the compiled graph. Leave it None for Wan T2V (the built-in adapter), pass "
        f"diffusers.hooks.sea_cache._prepare_wan_t2v_raw_vision_metadata (or cachepass.SeaConfig(vision="
        f"'hidden_states')) for a model whose `hidden_states` input is (B, C, T, H, W), or run diffusers' hook "
        f"without cachepass.")


def _real(name: str, value: Any, what: str, ok: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not ok(float(value)):
        raise ConfigError(f"{name}={value!r} must be {what}.")
