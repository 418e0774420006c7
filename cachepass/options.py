"""What the user asks for: cache configs and backend options, validated before any compile work.

`torch.compile(model, backend="cachepass", options={...})` hands `options` to the backend as one
dict. `parse_options` turns it into a frozen `BackendOptions`, rejecting unknown keys (naming the
closest valid one), wrong types and invalid ranges with a `ConfigError` that says how to fix them.

Every method registered in `methods/__init__.py` has two config types, cachepass's typed one and diffusers'
(read, never mutated); `compose` converts through the registry, and checks a list of configs that compose. Each method's configs live in its
package (methods/<name>/config.py); this module holds the checks they share, as public helpers
(`check_skip`, `check_range`, `check_identifiers`, `reject_unknown_fields`, `closest`).
"""

from __future__ import annotations

import difflib
import logging
import numbers
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import ConfigError
from .methods import compose, default_method


logger = logging.getLogger(__name__)

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
class BackendOptions:
    """Everything the backend was asked for, after validation."""

    cache: Any  # a cachepass config of a registered method (methods/__init__.py)
    compiler: str | Callable = "inductor"
    inductor_config: Mapping[str, Any] = field(default_factory=dict)
    cache_given: bool = True  # False when the user passed no cache config and defaults apply
    cudagraphs: bool = False  # replay each variant as a CUDA graph (Inductor's cudagraph trees)
    calibration: Any = None  # a residual calibrator composed with `cache` (runtime/calibrate.py), or None
    cfg_skip: Any = None  # a CFG skip's config around `cache` (runtime/cfg_split.py), or None
    row_set: str | None = None  # an inner runtime's rows under a CFG skip ("half"): its own states (cfg_split.py)


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
    composed = compose(options["cache"]) if cache_given else None
    cache = composed.cache if composed is not None else default_method().config_type()
    if not cache_given:
        logger.info("cachepass: no cache config given; using %s with diffusers' defaults: %s",
                    default_method().title, cache.describe())
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
                          cudagraphs=cudagraphs, calibration=composed.calibration if composed else None,
                          cfg_skip=composed.cfg_skip if composed else None)


def as_mapping(options: Any) -> Mapping[str, Any]:
    """The backend's `options`, checked to be a dict (`None`: no options)."""
    options = {} if options is None else options
    if not isinstance(options, Mapping):
        raise ConfigError(f"options must be a dict, got {type(options).__name__}; "
                          f"use options={{'cache': {default_method().config_class}(...)}}.")
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


def check_skip(name: str, value: Any) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ConfigError(f"{name}={value!r} must be an int >= 1 or None, got {type(value).__name__}.")
    if value < 1:
        raise ConfigError(f"{name}={value!r} must be >= 1 (1 computes every step, N reuses N-1 steps out of N).")
    if value == 1:
        logger.warning("cachepass: %s=1 never reuses attention; use >= 2 to cache or None to disable.", name)


def check_range(name: str, value: Any) -> tuple[float, float]:
    if not (isinstance(value, (tuple, list)) and len(value) == 2
            and all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in value)):
        raise ConfigError(f"{name}={value!r} must be a pair of numbers (low, high), e.g. (100, 800).")
    low, high = float(value[0]), float(value[1])
    if not low < high:
        raise ConfigError(f"{name}={tuple(value)!r} is empty: reuse happens for low < timestep < high, "
                          f"so low must be smaller than high, e.g. (100, 800).")
    return (low, high)


def check_identifiers(name: str, value: Any) -> tuple[str, ...]:
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
