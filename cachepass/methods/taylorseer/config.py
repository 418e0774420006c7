"""TaylorSeer configs: cachepass's `TSConfig` and diffusers' `TaylorSeerCacheConfig` (read, never mutated),
validated before any compile work."""

from __future__ import annotations

import numbers
import re
from dataclasses import dataclass
from typing import Any

import torch

from ...errors import ConfigError
from ...options import reject_unknown_fields

# diffusers' hooks/taylorseer_cache.py, repeated so that cachepass's own config does not need diffusers.
DEFAULT_IDENTIFIERS = ("^blocks.*attn", "^transformer_blocks.*attn", "^single_transformer_blocks.*attn",
                       "^temporal_transformer_blocks.*attn")
LITE_INACTIVE = ("^[^.]*block[^.]*\\.[^.]+$",)
LITE_ACTIVE = ("^proj_out$",)


@reject_unknown_fields
@dataclass(frozen=True)
class TSConfig:
    """TaylorSeer (diffusers' `hooks/taylorseer_cache.py`, rule for rule): a step-only schedule per module.

    Modules whose names `re.fullmatch` one of `cache_identifiers` (default: diffusers' attention patterns,
    which match names ENDING in `attn`) keep Taylor factors of their outputs, updated on compute steps, and
    predict their outputs on the others; modules matching `skip_predict_identifiers` return zeros of the
    recorded shape on predicted steps. A step computes while `step < disable_cache_before_step`, when
    `(step - disable_cache_before_step - 1) % cache_interval == 0`, and from `disable_cache_after_step` on.
    `use_lite_mode`: `proj_out` predicted, every block skipped (diffusers' lite patterns).
    """

    cache_interval: int = 5
    disable_cache_before_step: int = 3
    disable_cache_after_step: int | None = None
    max_order: int = 1
    taylor_factors_dtype: torch.dtype | None = torch.bfloat16
    skip_predict_identifiers: tuple[str, ...] | None = None
    cache_identifiers: tuple[str, ...] | None = None
    use_lite_mode: bool = False

    def __post_init__(self) -> None:
        _integer("TSConfig.cache_interval", self.cache_interval, 1)
        _integer("TSConfig.disable_cache_before_step", self.disable_cache_before_step, 0)
        if self.disable_cache_after_step is not None:
            _integer("TSConfig.disable_cache_after_step", self.disable_cache_after_step, 0)
        _integer("TSConfig.max_order", self.max_order, 0)
        if self.taylor_factors_dtype is not None and not isinstance(self.taylor_factors_dtype, torch.dtype):
            raise ConfigError(f"TSConfig.taylor_factors_dtype={self.taylor_factors_dtype!r} must be a torch dtype "
                              f"(e.g. torch.bfloat16) or None (the outputs' own dtype).")
        for name in ("skip_predict_identifiers", "cache_identifiers"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, _patterns(f"TSConfig.{name}", value))
        if not isinstance(self.use_lite_mode, bool):
            raise ConfigError(f"TSConfig.use_lite_mode={self.use_lite_mode!r} must be True or False.")

    def patterns(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """(inactive, active) patterns as diffusers resolves them (lite mode overrides the user's)."""
        if self.use_lite_mode:
            return LITE_INACTIVE, LITE_ACTIVE
        return self.skip_predict_identifiers or (), self.cache_identifiers or DEFAULT_IDENTIFIERS

    def describe(self) -> str:
        after = "" if self.disable_cache_after_step is None else f", computes from step {self.disable_cache_after_step}"
        return (f"TaylorSeer[interval {self.cache_interval} after step {self.disable_cache_before_step}{after}, "
                f"order {self.max_order}, factors {self.taylor_factors_dtype}{', lite' if self.use_lite_mode else ''}]")


def from_diffusers(cfg: Any) -> TSConfig:
    def names(value: Any) -> tuple[str, ...] | None:
        return None if value is None else tuple(value)

    return TSConfig(cache_interval=cfg.cache_interval, disable_cache_before_step=cfg.disable_cache_before_step,
                    disable_cache_after_step=cfg.disable_cache_after_step, max_order=cfg.max_order,
                    taylor_factors_dtype=cfg.taylor_factors_dtype,
                    skip_predict_identifiers=names(cfg.skip_predict_identifiers),
                    cache_identifiers=names(cfg.cache_identifiers), use_lite_mode=cfg.use_lite_mode)


def _patterns(name: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, str) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{name}={value!r} must be a list of regular expressions (fullmatched on module names).")
    for pattern in value:
        try:
            re.compile(pattern)
        except re.error as err:
            raise ConfigError(f"{name} holds {pattern!r}, which is not a regular expression: {err}.") from None
    return tuple(value)


def _integer(name: str, value: Any, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise ConfigError(f"{name}={value!r} must be an int >= {low}.")
