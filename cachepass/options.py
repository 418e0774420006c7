"""What the user asks for: cache configs and backend options, validated before any compile work.

`torch.compile(model, backend="cachepass", options={...})` hands `options` to the backend as one
dict. `parse_options` turns it into a frozen `BackendOptions`, rejecting unknown keys (naming the
closest valid one), wrong types and invalid ranges with a `ConfigError` that says how to fix them.

Every method registered in `methods.py` has two config types, cachepass's typed one and diffusers' (read,
never mutated); `to_cache_config` converts through the registry. This module holds PAB's and the checks
the other methods' configs share. Two config types describe Pyramid Attention Broadcast (PAB):
- diffusers' own `PyramidAttentionBroadcastConfig`, accepted as is so that moving from
  `transformer.enable_cache(cfg)` to the compiler is a one-line change. It is converted to a
  `PABConfig` with `classification="diffusers"`, which reproduces diffusers' layer selection exactly;
- cachepass's `PABConfig`, whose default classification tags temporal and cross attention from the
  graph's structure and names (see `tag.py`).
"""

from __future__ import annotations

import difflib
import logging
import numbers
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from .errors import ConfigError


logger = logging.getLogger(__name__)

Kind = Literal["spatial", "temporal", "cross"]
KINDS: tuple[Kind, ...] = ("spatial", "temporal", "cross")

# diffusers' identifiers (hooks/_common.py), repeated here so that cachepass's own config does not
# need diffusers; `from_diffusers` copies whatever the user's diffusers config holds.
DIFFUSERS_SPATIAL_IDENTIFIERS = ("blocks", "transformer_blocks", "single_transformer_blocks", "layers",
                                 "visual_transformer_blocks")
DIFFUSERS_TEMPORAL_IDENTIFIERS = ("temporal_transformer_blocks",)
DIFFUSERS_CROSS_IDENTIFIERS = ("blocks", "transformer_blocks", "layers")

DEFAULT_TIMESTEPS = (100.0, 800.0)


def reject_unknown_fields(cls: type) -> type:
    """A config dataclass whose constructor names a mistyped field and the closest valid one
    (`ConfigError`), instead of Python's bare `TypeError: unexpected keyword argument`."""
    import dataclasses
    import functools

    init = cls.__init__
    names = tuple(f.name for f in dataclasses.fields(cls))

    @functools.wraps(init)
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        unknown = [key for key in kwargs if key not in names]
        if unknown:
            raise ConfigError(f"{cls.__name__} has no field {unknown[0]!r}{_did_you_mean(unknown[0], names)}. "
                              f"Fields: {', '.join(names)}.")
        init(self, *args, **kwargs)

    cls.__init__ = __init__
    return cls


@dataclass(frozen=True)
class KindRule:
    """When attention of one kind may be reused: inside the open timestep interval `(low, high)`,
    on every call whose iteration is not a multiple of `skip` (diffusers' `block_skip_range`)."""

    kind: Kind
    skip: int
    low: float
    high: float

    def may_reuse(self, iteration: int, timestep: float) -> bool:
        return iteration > 0 and self.low < timestep < self.high and iteration % self.skip != 0


@reject_unknown_fields
@dataclass(frozen=True)
class PABConfig:
    """Pyramid Attention Broadcast, cachepass's own config.

    A kind with `<kind>_skip=N` reuses its attention output `N - 1` calls out of every `N` while the
    timestep lies strictly inside `<kind>_timesteps`; `None` leaves that kind uncached.

    `classification` picks how attention layers get their kind:
    - `"cachepass"` (default): cross attention from the graph (query and key/value read different
      inputs), temporal from module names containing "temporal", spatial otherwise;
    - `"diffusers"`: diffusers' rule, unanchored regex search of the identifiers with spatial tested
      first, so `temporal_transformer_blocks.N.attn1` counts as spatial whenever `spatial_skip` is set.
      Used for diffusers' own config so that outputs equal diffusers' hooks.

    `current_timestep_callback` is optional: by default the timestep is read from the model's
    `timestep` input on every call.
    """

    spatial_skip: int | None = 2
    temporal_skip: int | None = None
    cross_skip: int | None = None
    spatial_timesteps: tuple[float, float] = DEFAULT_TIMESTEPS
    temporal_timesteps: tuple[float, float] = DEFAULT_TIMESTEPS
    cross_timesteps: tuple[float, float] = DEFAULT_TIMESTEPS
    classification: Literal["cachepass", "diffusers"] = "cachepass"
    spatial_identifiers: tuple[str, ...] = DIFFUSERS_SPATIAL_IDENTIFIERS
    temporal_identifiers: tuple[str, ...] = DIFFUSERS_TEMPORAL_IDENTIFIERS
    cross_identifiers: tuple[str, ...] = DIFFUSERS_CROSS_IDENTIFIERS
    current_timestep_callback: Callable[[], Any] | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        for kind in KINDS:
            _check_skip(f"{kind}_skip", getattr(self, f"{kind}_skip"))
            object.__setattr__(self, f"{kind}_timesteps",
                               _check_range(f"{kind}_timesteps", getattr(self, f"{kind}_timesteps")))
            object.__setattr__(self, f"{kind}_identifiers",
                               _check_identifiers(f"{kind}_identifiers", getattr(self, f"{kind}_identifiers")))
        if self.classification not in ("cachepass", "diffusers"):
            raise ConfigError(f"PABConfig.classification={self.classification!r} is not valid; "
                              "choose 'cachepass' or 'diffusers'.")
        if not self.rules():
            raise ConfigError("PABConfig caches nothing: spatial_skip, temporal_skip and cross_skip are all None. "
                              "Set at least one of them to an integer >= 2 (diffusers' default is spatial_skip=2).")
        if self.current_timestep_callback is not None and not callable(self.current_timestep_callback):
            raise ConfigError(f"PABConfig.current_timestep_callback must be callable, got "
                              f"{type(self.current_timestep_callback).__name__}; pass e.g. `lambda: pipe.current_timestep`.")

    def rules(self) -> dict[Kind, KindRule]:
        """The kinds that are cached, with their schedules."""
        rules = {}
        for kind in KINDS:
            skip = getattr(self, f"{kind}_skip")
            if skip is not None:
                low, high = getattr(self, f"{kind}_timesteps")
                rules[kind] = KindRule(kind, skip, low, high)
        return rules

    def identifiers(self, kind: Kind) -> tuple[str, ...]:
        return getattr(self, f"{kind}_identifiers")

    def describe(self) -> str:
        parts = [f"{r.kind}: skip {r.skip} in ({r.low:g}, {r.high:g})" for r in self.rules().values()]
        return f"PAB[{'; '.join(parts)}; classification={self.classification}]"


@dataclass(frozen=True)
class BackendOptions:
    """Everything the backend was asked for, after validation."""

    cache: Any  # a cachepass config of a registered method (methods.py)
    compiler: str | Callable = "inductor"
    inductor_config: Mapping[str, Any] = field(default_factory=dict)
    cache_given: bool = True  # False when the user passed no cache config and defaults apply
    cudagraphs: bool = False  # replay each variant as a CUDA graph (Inductor's cudagraph trees)


OPTION_KEYS = ("cache", "compiler", "inductor_config", "cudagraphs")
INNER_COMPILERS = ("inductor", "eager")


def parse_options(options: Mapping[str, Any] | None, mode: str | None = None) -> BackendOptions:
    """Validate `torch.compile(..., options=..., mode=...)` for the cachepass backend."""
    options = as_mapping(options)
    for key in options:
        if key not in OPTION_KEYS:
            raise ConfigError(f"unknown option {key!r} for backend='cachepass'{_did_you_mean(key, OPTION_KEYS)}. "
                              f"Valid options: {', '.join(OPTION_KEYS)}.")
    cache_given = "cache" in options and options["cache"] is not None
    cache = to_cache_config(options["cache"]) if cache_given else PABConfig()
    if not cache_given:
        logger.info("cachepass: no cache config given; using Pyramid Attention Broadcast with diffusers' "
                    "defaults: %s", describe(cache))
    compiler = options.get("compiler", "inductor")
    if not (callable(compiler) or compiler in INNER_COMPILERS):
        raise ConfigError(f"option 'compiler'={compiler!r} is not valid; choose one of "
                          f"{', '.join(map(repr, INNER_COMPILERS))} or pass a callable (gm, example_inputs) -> fn.")
    inductor_config = dict(options.get("inductor_config") or {})
    if mode is not None:
        inductor_config = {**_mode_options(mode), **inductor_config}
    cudagraphs = options.get("cudagraphs", False)
    if not isinstance(cudagraphs, bool):
        raise ConfigError(f"option 'cudagraphs'={cudagraphs!r} must be True or False.")
    cudagraphs = cudagraphs or bool(inductor_config.get("triton.cudagraphs"))  # also mode="reduce-overhead"
    if cudagraphs:
        inductor_config["triton.cudagraphs"] = True
    if inductor_config and compiler != "inductor":
        raise ConfigError(f"inductor_config/mode/cudagraphs only apply to compiler='inductor', not {compiler!r}; "
                          "drop them or use the inductor compiler.")
    return BackendOptions(cache=cache, compiler=compiler, inductor_config=inductor_config, cache_given=cache_given,
                          cudagraphs=cudagraphs)


def as_mapping(options: Any) -> Mapping[str, Any]:
    """The backend's `options`, checked to be a dict (`None`: no options)."""
    options = {} if options is None else options
    if not isinstance(options, Mapping):
        raise ConfigError(f"options must be a dict, got {type(options).__name__}; "
                          f"use options={{'cache': PABConfig(...)}}.")
    return options


# NOTE [mode as options]
# torch.compile refuses `mode` together with `options` ("Either mode or options can be specified"), yet a cache
# config travels in `options`. The backend derives everything a mode means from Inductor's own table
# (`_mode_options`, applied by `parse_options`), so `cachepass.compile` folds `mode` into the options instead of
# passing it: the mode's Inductor settings into `inductor_config` (the user's own entries win, as in
# `parse_options`), and its CUDA graphs ("triton.cudagraphs", set by "reduce-overhead" and "max-autotune") into
# `cudagraphs=True`. `parse_options(fold_mode(o, m)) == parse_options(o, m)` (tests/test_compile.py).
def fold_mode(options: Mapping[str, Any], mode: str | None) -> dict[str, Any]:
    """Backend options meaning what `options` with Inductor's `mode` mean, without `mode` (NOTE [mode as options])."""
    folded = dict(options)
    if mode is None:
        return folded
    inductor_config = {**_mode_options(mode), **(options.get("inductor_config") or {})}
    if inductor_config.get("triton.cudagraphs"):
        del inductor_config["triton.cudagraphs"]
        folded["cudagraphs"] = True
    if inductor_config:
        folded["inductor_config"] = inductor_config
    return folded


def to_cache_config(cache: Any) -> Any:
    """Accept cachepass's own configs or diffusers' config objects, of any registered method."""
    from .methods import to_cache_config as convert

    return convert(cache)


def from_diffusers(cfg: Any) -> PABConfig:
    """Convert diffusers' `PyramidAttentionBroadcastConfig`, keeping diffusers' layer selection rule."""
    skips = {kind: getattr(cfg, f"{kind}_attention_block_skip_range") for kind in KINDS}
    for kind in KINDS:  # validate under diffusers' own field names, which the user wrote
        _check_skip(f"PyramidAttentionBroadcastConfig.{kind}_attention_block_skip_range", skips[kind])
        _check_range(f"PyramidAttentionBroadcastConfig.{kind}_attention_timestep_skip_range",
                     getattr(cfg, f"{kind}_attention_timestep_skip_range"))
    if all(skip is None for skip in skips.values()):
        # Same fallback and warning as diffusers' apply_pyramid_attention_broadcast.
        logger.warning("cachepass: the PyramidAttentionBroadcastConfig sets no block skip range; defaulting to "
                       "spatial_attention_block_skip_range=2 as diffusers does.")
        skips["spatial"] = 2
    return PABConfig(
        spatial_skip=skips["spatial"],
        temporal_skip=skips["temporal"],
        cross_skip=skips["cross"],
        spatial_timesteps=cfg.spatial_attention_timestep_skip_range,
        temporal_timesteps=cfg.temporal_attention_timestep_skip_range,
        cross_timesteps=cfg.cross_attention_timestep_skip_range,
        classification="diffusers",
        spatial_identifiers=tuple(cfg.spatial_attention_block_identifiers),
        temporal_identifiers=tuple(cfg.temporal_attention_block_identifiers),
        cross_identifiers=tuple(cfg.cross_attention_block_identifiers),
        current_timestep_callback=cfg.current_timestep_callback,
    )


def describe(cache: Any) -> str:
    return cache.describe()


def _check_skip(name: str, value: Any) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ConfigError(f"{name}={value!r} must be an int >= 1 or None, got {type(value).__name__}.")
    if value < 1:
        raise ConfigError(f"{name}={value!r} must be >= 1 (1 computes every step, N reuses N-1 steps out of N).")
    if value == 1:
        logger.warning("cachepass: %s=1 never reuses attention; use >= 2 to cache or None to disable.", name)


def _check_range(name: str, value: Any) -> tuple[float, float]:
    if not (isinstance(value, (tuple, list)) and len(value) == 2
            and all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in value)):
        raise ConfigError(f"{name}={value!r} must be a pair of numbers (low, high), e.g. (100, 800).")
    low, high = float(value[0]), float(value[1])
    if not low < high:
        raise ConfigError(f"{name}={tuple(value)!r} is empty: reuse happens for low < timestep < high, "
                          f"so low must be smaller than high, e.g. (100, 800).")
    return (low, high)


def _check_identifiers(name: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, str) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{name}={value!r} must be a tuple of regular expressions (strings).")
    return tuple(value)


def closest(word: str, choices: Iterable[str]) -> str | None:
    """The valid name a mistyped `word` most likely meant, if any is close."""
    close = difflib.get_close_matches(str(word), list(choices), n=1)
    return close[0] if close else None


def _did_you_mean(word: str, choices: tuple[str, ...]) -> str:
    match = closest(word, choices)
    return f" (did you mean {match!r}?)" if match else ""


def _mode_options(mode: str) -> dict[str, Any]:
    from torch._inductor import list_mode_options

    try:
        return dict(list_mode_options(mode))
    except RuntimeError as err:
        raise ConfigError(f"mode={mode!r} is not an Inductor mode: {err}") from None
