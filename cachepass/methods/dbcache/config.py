"""DBCache configs: cachepass's `DBConfig` and cache-dit's `DBCacheConfig` (cache-dit 1.5.3), validated before any
compile work.

`DBConfig` has cache-dit's field names and defaults (F8B0, threshold 0.08, 8 warm-up steps), so a cache-dit
config reads the same here; it adds `block_lists` (which ModuleLists hold the blocks; None: found from the graph,
as FirstBlockCache finds them). `from_cache_dit` converts cache-dit's config (never mutated) and refuses, naming
the fix, what cachepass does not do: separate CFG states by call parity, forced refreshes, DBPrune.
A later composition (DBCache + a calibrator) reuses `from_cache_dit` for the DBCache half.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Any

from ...errors import ConfigError
from ...options import reject_unknown_fields

POLICIES = ("dynamic", "static")


@reject_unknown_fields
@dataclass(frozen=True)
class DBConfig:
    """cache-dit's Dual Block Cache (`caching/cache_blocks/pattern_base.py`, `cache_contexts/cache_manager.py`
    `can_cache`), rule for rule.

    Every step runs the first `Fn_compute_blocks` blocks; the step reuses the middle blocks' residual of the last
    computed step (added to the Fn blocks' output) when, in order: it is not a warm-up step
    (`range(0, max_warmup_steps, warmup_interval)`), the steps-computation mask does not force it (`1`), fewer than
    `max_cached_steps` steps and fewer than `max_continuous_cached_steps` steps in a row were cached (negative: no
    limit), the accumulated decision values are below `max_accumulated_residual_diff_threshold` (None: no limit),
    and mean|r - p| / mean|p| < `residual_diff_threshold`, r the Fn blocks' residual now and p the one of the last
    computed step (a threshold >= 1 reuses without comparing). The last `Bn_compute_blocks` blocks always run.
    With a mask and `steps_computation_policy="static"`, a `0` step reuses without comparing.
    """

    Fn_compute_blocks: int = 8
    Bn_compute_blocks: int = 0
    residual_diff_threshold: float = 0.08
    max_warmup_steps: int = 8
    warmup_interval: int = 1
    max_cached_steps: int = -1
    max_continuous_cached_steps: int = -1
    max_accumulated_residual_diff_threshold: float | None = None
    steps_computation_mask: tuple[int, ...] | None = None
    steps_computation_policy: str = "dynamic"
    block_lists: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        _int("Fn_compute_blocks", self.Fn_compute_blocks, 1, "the blocks that always run and decide, e.g. 1 (F1B0 is "
             "FirstBlockCache) or 8 (cache-dit's default)")
        _int("Bn_compute_blocks", self.Bn_compute_blocks, 0, "the last blocks that always run, e.g. 0")
        _int("max_warmup_steps", self.max_warmup_steps, 0, "the first steps that always compute, e.g. 8")
        _int("warmup_interval", self.warmup_interval, 1, "1: every warm-up step computes")
        _int("max_cached_steps", self.max_cached_steps, None, "-1: no limit")
        _int("max_continuous_cached_steps", self.max_continuous_cached_steps, None, "-1: no limit")
        object.__setattr__(self, "residual_diff_threshold", _number("residual_diff_threshold",
                                                                    self.residual_diff_threshold))
        if self.max_accumulated_residual_diff_threshold is not None:
            object.__setattr__(self, "max_accumulated_residual_diff_threshold", _number(
                "max_accumulated_residual_diff_threshold", self.max_accumulated_residual_diff_threshold))
        self._check_mask()
        self._check_caches_something()
        if self.block_lists is not None:
            lists = self.block_lists
            if isinstance(lists, str) or not lists or not all(isinstance(n, str) and n for n in lists):
                raise ConfigError(f"DBConfig.block_lists={lists!r} must be a non-empty tuple of attribute names of "
                                  f"the model's ModuleLists, e.g. ('transformer_blocks',), or None to find them.")
            object.__setattr__(self, "block_lists", tuple(lists))

    def _check_mask(self) -> None:
        if self.steps_computation_policy not in POLICIES:
            raise ConfigError(f"DBCache steps_computation_policy={self.steps_computation_policy!r} must be 'dynamic' "
                              f"or 'static' (cache-dit's two policies).")
        mask = self.steps_computation_mask
        if mask is None:
            return
        if isinstance(mask, (str, bytes)) or not all(isinstance(m, numbers.Integral) and not isinstance(m, bool)
                                                     and m in (0, 1) for m in mask) or not len(mask):
            raise ConfigError(f"DBCache steps_computation_mask={mask!r} must be a non-empty list of 0 and 1, one per "
                              f"step (1: compute), e.g. cache_dit.steps_mask(total_steps=28).")
        object.__setattr__(self, "steps_computation_mask", tuple(int(m) for m in mask))
        if self.static and mask[0] == 0:
            raise ConfigError("DBCache steps_computation_mask[0] is 0 with steps_computation_policy='static': the "
                              "first step has nothing cached to reuse (cache-dit fails there). Start the mask with 1.")

    def _check_caches_something(self) -> None:
        if self.static:
            return  # a static mask's 0 steps reuse whatever the other fields say
        reasons = []
        if self.residual_diff_threshold <= 0:
            reasons.append(f"residual_diff_threshold={self.residual_diff_threshold!r} <= 0")
        if self.max_cached_steps == 0:
            reasons.append("max_cached_steps=0")
        if self.max_continuous_cached_steps == 0:
            reasons.append("max_continuous_cached_steps=0")
        if reasons:
            raise ConfigError(f"DBCache with {' and '.join(reasons)} never reuses a step: it caches nothing. Use e.g. "
                              f"residual_diff_threshold=0.08 and -1 (no limit) for the step limits, or compile "
                              f"without a cache config.")

    @property
    def static(self) -> bool:
        return self.steps_computation_mask is not None and self.steps_computation_policy == "static"

    @property
    def warmup_steps(self) -> frozenset[int]:
        """cache-dit's `CachedContext.warmup_steps`: a mask truncates the warm-up to its leading 1s."""
        limit = self.max_warmup_steps
        if self.steps_computation_mask is not None:
            leading = next((i for i, m in enumerate(self.steps_computation_mask) if m != 1),
                           len(self.steps_computation_mask))
            limit = min(limit, leading)
        return frozenset(range(0, limit, self.warmup_interval))

    def describe(self) -> str:
        parts = [f"F{self.Fn_compute_blocks}B{self.Bn_compute_blocks}", f"threshold {self.residual_diff_threshold:g}",
                 f"warm-up {self.max_warmup_steps}" + (f"/{self.warmup_interval}" if self.warmup_interval != 1 else "")]
        if self.max_cached_steps >= 0:
            parts.append(f"max cached {self.max_cached_steps}")
        if self.max_continuous_cached_steps >= 0:
            parts.append(f"max in a row {self.max_continuous_cached_steps}")
        if self.max_accumulated_residual_diff_threshold is not None:
            parts.append(f"max accumulated {self.max_accumulated_residual_diff_threshold:g}")
        if self.steps_computation_mask is not None:
            parts.append(f"mask {''.join(map(str, self.steps_computation_mask))} ({self.steps_computation_policy})")
        lists = "auto" if self.block_lists is None else ", ".join(self.block_lists)
        return f"DBCache[{'; '.join(parts)}; blocks: {lists}]"


# The fields of cache-dit's DBCacheConfig cachepass reads as they are.
SAME_FIELDS = ("Fn_compute_blocks", "Bn_compute_blocks", "residual_diff_threshold", "max_warmup_steps",
               "warmup_interval", "max_cached_steps", "max_continuous_cached_steps",
               "max_accumulated_residual_diff_threshold", "steps_computation_mask", "steps_computation_policy")


def from_cache_dit(cfg: Any) -> DBConfig:
    """cache-dit's `DBCacheConfig` (1.5.3), read and never mutated; its blocks are found from the graph."""
    cache_type = getattr(cfg, "cache_type", None)
    if getattr(cache_type, "name", cache_type) not in ("DBCache", None):
        raise ConfigError(f"cachepass accepts cache-dit's DBCache only; this config's cache_type is {cache_type}. "
                          f"Use cache_dit.DBCacheConfig() (cache_type=CacheType.DBCache).")
    if getattr(cfg, "enable_separate_cfg", None):
        raise ConfigError("DBCacheConfig.enable_separate_cfg=True (separate CFG states by call parity) is not "
                          "supported by cachepass: set enable_separate_cfg=False. cachepass keeps one state per "
                          "diffusers cache_context, so pipelines that run cond and uncond in their own contexts "
                          "(Wan, Qwen-Image) get separate states that way.")
    if getattr(cfg, "force_refresh_step_hint", None) is not None:
        raise ConfigError("DBCacheConfig.force_refresh_step_hint is not supported by cachepass: set it to None. A "
                          "generation starts when the timestep turns (or on cachepass.reset(model)).")
    values = {name: getattr(cfg, name) for name in SAME_FIELDS}
    threshold = values["residual_diff_threshold"]
    if hasattr(threshold, "item") and getattr(threshold, "numel", lambda: 1)() == 1:
        values["residual_diff_threshold"] = float(threshold.item())  # cache-dit reads a tensor with .item()
    if values["steps_computation_mask"] is not None:
        values["steps_computation_mask"] = tuple(values["steps_computation_mask"])
    return DBConfig(**values)


def _int(name: str, value: Any, low: int | None, hint: str) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or (low is not None and value < low):
        bound = "an integer" if low is None else f"an integer >= {low}"
        raise ConfigError(f"DBCache {name}={value!r} must be {bound}: {hint}.")


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ConfigError(f"DBCache {name}={value!r} must be a number, e.g. 0.08 (cache-dit's default threshold).")
    return float(value)
