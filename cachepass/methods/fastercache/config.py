"""FasterCache configs: cachepass's own `FCConfig`, and diffusers' `FasterCacheConfig` converted to it.

FasterCache (https://huggingface.co/papers/2410.19355) has two levels, both reproduced from diffusers'
hooks (hooks/faster_cache.py, diffusers 0.42.1):

- block level: a cached self-attention output is *extrapolated*, `t + (t - t_2) * w`, from the last two
  cached conditional outputs, with `w` from `attention_weight`;
- denoiser level (CFG-Cache): on most steps inside `uncond_timesteps` only the conditional half of a
  batched [uncond, cond] input is run, and the unconditional output is estimated from the low/high
  frequency difference measured on the last step that ran both halves.

diffusers' config is accepted as it is and never mutated: its default callbacks are computed on the fly
(weight 0.5; alpha inside the open update ranges, else 1.0).
"""

from __future__ import annotations

import logging
import numbers
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from torch import nn

from ...errors import ConfigError
from ...options import check_identifiers, check_range, check_skip, reject_unknown_fields

logger = logging.getLogger(__name__)

FCKind = Literal["spatial", "temporal"]
FC_KINDS: tuple[FCKind, ...] = ("spatial", "temporal")

# diffusers' hooks/faster_cache.py:33-46, repeated so that FCConfig does not need diffusers.
DIFFUSERS_FC_SPATIAL_IDENTIFIERS = ("^blocks.*attn", "^transformer_blocks.*attn", "^single_transformer_blocks.*attn")
DIFFUSERS_FC_TEMPORAL_IDENTIFIERS = ("^temporal_transformer_blocks.*attn",)
DIFFUSERS_FC_BLOCK_IDENTIFIERS = DIFFUSERS_FC_SPATIAL_IDENTIFIERS + DIFFUSERS_FC_TEMPORAL_IDENTIFIERS
SPLIT_INPUTS = ("hidden_states", "encoder_hidden_states", "timestep", "attention_mask", "encoder_attention_mask")
TENSOR_FORMATS = ("BCFHW", "BFCHW", "BCHW")

CFGCalls = Literal["auto", "batched", "sequential"]
Placement = Literal["graph", "eager"]
_CFG_CALLS = ("auto", "batched", "sequential")
_PLACEMENTS = ("graph", "eager")
_CLASSIFICATIONS = ("cachepass", "diffusers")


@reject_unknown_fields
@dataclass(frozen=True)
class FCConfig:
    """FasterCache, cachepass's own config. Defaults are diffusers' `FasterCacheConfig` defaults.

    Block level: `<kind>_skip=N` extrapolates a `<kind>` self-attention output on every call inside the
    open interval `<kind>_timesteps` except every N-th; `None` leaves that kind alone. Cross attention
    is never cached (FasterCache does not define it).

    CFG-Cache: the unconditional branch is skipped on every step inside `uncond_timesteps` except the
    first and every `uncond_skip`-th. Its estimate is `c + a_l * R_l + a_h * R_h`, where `R_l, R_h` are
    the low/high-frequency parts of `uncond - cond` on the last full step and `a_l, a_h` multiply by
    `alpha_low`/`alpha_high` (or the callbacks' values) on every skip step in between.

    - `attention_weight`: a number, or a callable `(attention module) -> weight`, called per
      extrapolated output every step (its value enters the graph as a tensor: no recompiles);
    - `low_freq_weight`/`high_freq_weight`: callables `(denoiser module) -> factor` replacing the
      alpha/timestep-range rule;
    - `guidance_distilled`: no unconditional branch; block-level extrapolation only;
    - `cfg_calls`: how the pipeline runs CFG. `"batched"`: one call per step on [uncond, cond];
      `"sequential"`: two calls per step, conditional first; `"auto"`: decided at the second call of a
      generation (same timestep as the first call: sequential). Set it for schedulers that call the
      model twice per timestep (Heun);
    - `split_inputs`: the input names holding [uncond, cond] rows (diffusers' list), split on skip steps;
    - `classification`: `"cachepass"` tags spatial/temporal self attention from the graph;
      `"diffusers"` applies diffusers' rule (attention classes, anchored identifiers, spatial first);
    - `estimate`: where a skip step's unconditional estimate runs, fused into the half-batch graph
      (`"graph"`) or beside it in eager PyTorch (`"eager"`);
    - `deltas`: where a full step's `R_l, R_h` are computed (an rfft low-pass), inside the full-batch
      graph or beside it;
    - `current_timestep_callback`: optional; by default the timestep is read from the `timestep` input.
    """

    spatial_skip: int | None = 2
    temporal_skip: int | None = None
    spatial_timesteps: tuple[float, float] = (-1.0, 681.0)
    temporal_timesteps: tuple[float, float] = (-1.0, 681.0)
    uncond_skip: int = 5
    uncond_timesteps: tuple[float, float] = (-1.0, 641.0)
    low_freq_timesteps: tuple[float, float] = (99.0, 901.0)
    high_freq_timesteps: tuple[float, float] = (-1.0, 301.0)
    alpha_low: float = 1.1
    alpha_high: float = 1.1
    attention_weight: float | Callable[[nn.Module], Any] = 0.5
    low_freq_weight: Callable[[nn.Module], Any] | None = None
    high_freq_weight: Callable[[nn.Module], Any] | None = None
    guidance_distilled: bool = False
    cfg_calls: CFGCalls = "auto"
    split_inputs: tuple[str, ...] = SPLIT_INPUTS
    classification: Literal["cachepass", "diffusers"] = "cachepass"
    spatial_identifiers: tuple[str, ...] = DIFFUSERS_FC_SPATIAL_IDENTIFIERS
    temporal_identifiers: tuple[str, ...] = DIFFUSERS_FC_TEMPORAL_IDENTIFIERS
    estimate: Placement = "graph"
    deltas: Placement = "graph"
    current_timestep_callback: Callable[[], Any] | None = None

    def __post_init__(self) -> None:
        for kind in FC_KINDS:
            check_skip(f"FCConfig.{kind}_skip", getattr(self, f"{kind}_skip"))
            self._set(f"{kind}_identifiers", _check_regexes(f"FCConfig.{kind}_identifiers",
                                                            getattr(self, f"{kind}_identifiers")))
        for name in ("spatial_timesteps", "temporal_timesteps", "uncond_timesteps", "low_freq_timesteps",
                     "high_freq_timesteps"):
            self._set(name, check_range(f"FCConfig.{name}", getattr(self, name)))
        _check_uncond_skip("FCConfig.uncond_skip", self.uncond_skip)
        for name in ("alpha_low", "alpha_high"):
            self._set(name, _check_number(f"FCConfig.{name}", getattr(self, name)))
        if not callable(self.attention_weight):
            self._set("attention_weight", _check_number("FCConfig.attention_weight", self.attention_weight,
                                                        "a number or a callable (attention module) -> weight"))
        for name in ("low_freq_weight", "high_freq_weight", "current_timestep_callback"):
            _check_callable(f"FCConfig.{name}", getattr(self, name))
        _check_choice("FCConfig.cfg_calls", self.cfg_calls, _CFG_CALLS)
        _check_choice("FCConfig.classification", self.classification, _CLASSIFICATIONS)
        _check_choice("FCConfig.estimate", self.estimate, _PLACEMENTS)
        _check_choice("FCConfig.deltas", self.deltas, _PLACEMENTS)
        if not isinstance(self.guidance_distilled, bool):
            raise ConfigError(f"FCConfig.guidance_distilled={self.guidance_distilled!r} must be True or False.")
        self._set("split_inputs", _check_names("FCConfig.split_inputs", self.split_inputs))
        if self.guidance_distilled and self.spatial_skip is None and self.temporal_skip is None:
            raise ConfigError("FCConfig caches nothing: guidance_distilled=True skips no unconditional branch and "
                              "spatial_skip and temporal_skip are both None. Set spatial_skip=2 (diffusers' default).")

    def _set(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)

    def kinds(self) -> tuple[FCKind, ...]:
        """The block kinds that are extrapolated."""
        return tuple(k for k in FC_KINDS if getattr(self, f"{k}_skip") is not None)

    def describe(self) -> str:
        blocks = [f"{k}: skip {getattr(self, f'{k}_skip')} in ({_g(getattr(self, f'{k}_timesteps'))})"
                  for k in self.kinds()]
        cfg = ("guidance-distilled" if self.guidance_distilled else
               f"uncond: skip {self.uncond_skip} in ({_g(self.uncond_timesteps)}), cfg_calls={self.cfg_calls}")
        return f"FasterCache[{'; '.join(blocks + [cfg])}; classification={self.classification}]"


def from_diffusers(cfg: Any) -> FCConfig:
    """Convert diffusers' `FasterCacheConfig` without mutating it, validating under diffusers' field names."""
    name = "FasterCacheConfig"
    for kind in FC_KINDS:
        check_skip(f"{name}.{kind}_attention_block_skip_range", getattr(cfg, f"{kind}_attention_block_skip_range"))
        _check_regexes(f"{name}.{kind}_attention_block_identifiers",
                       getattr(cfg, f"{kind}_attention_block_identifiers"))
    ranges = {field: check_range(f"{name}.{field}", getattr(cfg, field)) for field in (
        "spatial_attention_timestep_skip_range", "temporal_attention_timestep_skip_range",
        "low_frequency_weight_update_timestep_range", "high_frequency_weight_update_timestep_range",
        "unconditional_batch_timestep_skip_range")}
    _check_uncond_skip(f"{name}.unconditional_batch_skip_range", cfg.unconditional_batch_skip_range)
    for field in ("alpha_low_frequency", "alpha_high_frequency"):
        _check_number(f"{name}.{field}", getattr(cfg, field))
    for field in ("attention_weight_callback", "low_frequency_weight_callback", "high_frequency_weight_callback",
                  "current_timestep_callback"):
        _check_callable(f"{name}.{field}", getattr(cfg, field))
    # diffusers raises ValueError for other formats (faster_cache.py:564-566); the format has no other
    # effect here: the frequency split acts on the last two (H, W) dims in every format.
    _check_choice(f"{name}.tensor_format", cfg.tensor_format, TENSOR_FORMATS)
    if not isinstance(cfg.is_guidance_distilled, bool):
        raise ConfigError(f"{name}.is_guidance_distilled={cfg.is_guidance_distilled!r} must be True or False.")
    split = _check_names(f"{name}._unconditional_conditional_input_kwargs_identifiers",
                         cfg._unconditional_conditional_input_kwargs_identifiers)
    if cfg.attention_weight_callback is None:  # diffusers says so too (faster_cache.py, apply_faster_cache)
        logger.warning("cachepass FasterCache: no attention_weight_callback in the FasterCacheConfig; using a weight of "
                       "0.5 for every attention layer and timestep, as diffusers does.")
    return FCConfig(
        spatial_skip=cfg.spatial_attention_block_skip_range,
        temporal_skip=cfg.temporal_attention_block_skip_range,
        spatial_timesteps=ranges["spatial_attention_timestep_skip_range"],
        temporal_timesteps=ranges["temporal_attention_timestep_skip_range"],
        uncond_skip=cfg.unconditional_batch_skip_range,
        uncond_timesteps=ranges["unconditional_batch_timestep_skip_range"],
        low_freq_timesteps=ranges["low_frequency_weight_update_timestep_range"],
        high_freq_timesteps=ranges["high_frequency_weight_update_timestep_range"],
        alpha_low=cfg.alpha_low_frequency,
        alpha_high=cfg.alpha_high_frequency,
        attention_weight=cfg.attention_weight_callback if cfg.attention_weight_callback is not None else 0.5,
        low_freq_weight=cfg.low_frequency_weight_callback,
        high_freq_weight=cfg.high_frequency_weight_callback,
        guidance_distilled=cfg.is_guidance_distilled,
        split_inputs=split,
        classification="diffusers",
        spatial_identifiers=tuple(cfg.spatial_attention_block_identifiers),
        temporal_identifiers=tuple(cfg.temporal_attention_block_identifiers),
        current_timestep_callback=cfg.current_timestep_callback,
    )


def _check_uncond_skip(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ConfigError(f"{name}={value!r} must be an int >= 1: the unconditional branch is computed on every "
                          f"N-th step (diffusers' default is 5; 1 never skips it).")


def _check_number(name: str, value: Any, what: str = "a number") -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ConfigError(f"{name}={value!r} must be {what}, got {type(value).__name__}.")
    return float(value)


def _check_callable(name: str, value: Any) -> None:
    if value is not None and not callable(value):
        raise ConfigError(f"{name} must be None or callable, got {type(value).__name__}; pass e.g. "
                          f"{'`lambda: pipe.current_timestep`' if 'timestep' in name else '`lambda module: 1.0`'}.")


def _check_choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(f"{name}={value!r} is not valid; choose one of {', '.join(map(repr, choices))}.")


def _check_regexes(name: str, value: Any) -> tuple[str, ...]:
    patterns = check_identifiers(name, value)
    for pattern in patterns:
        try:
            re.compile(pattern)
        except re.error as err:
            raise ConfigError(f"{name} holds {pattern!r}, which is not a regular expression ({err}).") from None
    return patterns


def _check_names(name: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, (tuple, list)) or not all(
            isinstance(v, str) and v.isidentifier() for v in value):
        raise ConfigError(f"{name}={value!r} must be a tuple of input names, e.g. {SPLIT_INPUTS!r}.")
    return tuple(value)


def _g(pair: tuple[float, float]) -> str:
    return f"{pair[0]:g}, {pair[1]:g}"
