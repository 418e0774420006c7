"""The method registry: every caching method is one plug-in on the shared core.

A `Method` entry names the method and where its package is; the package exports one typed plug-in,
`PLUGIN`, a `plugin.MethodPlugin` with its function for each stage the driver (`backend.compile_with_cache`)
runs in order, capture -> tag -> check -> plan -> runtime, and what the method-neutral tools ask it (dump
files, dump flags). Adding a method is one entry in `METHODS`; the driver, config parsing, report, dump and CLI
have no per-method branch. Method packages are imported when first needed.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError
from .plugin import MethodPlugin


@dataclass(frozen=True)
class Method:
    name: str  # as `cachepass dump --method NAME` spells it
    title: str
    module: str  # the module holding the plug-in's functions (imported on first use)
    config_class: str  # cachepass's typed config, an attribute of `module`
    diffusers_config: str  # the class name of diffusers' config for the same method ("" when diffusers has none)
    dump_flags: str  # what `cachepass dump --method NAME` builds from its flags (its --help)
    config_owner: str = "diffusers"  # whose class `diffusers_config` is (DBCache: cache-dit's DBCacheConfig)

    def _get(self, attribute: str) -> Any:
        return getattr(importlib.import_module(self.module, __package__), attribute)

    @property
    def theirs(self) -> str:
        """Their config class, with whose it is: "diffusers' MagCacheConfig", "cache-dit's DBCacheConfig"."""
        return f"{self.config_owner}'{'' if self.config_owner.endswith('s') else 's'} {self.diffusers_config}"

    @property
    def config_type(self) -> type:
        return self._get(self.config_class)

    @property
    def plugin(self) -> MethodPlugin:
        """The method's stages and tool hooks (its package's `PLUGIN`)."""
        return self._get("PLUGIN")


METHODS: tuple[Method, ...] = (
    Method("pab", "Pyramid Attention Broadcast", ".pab", "PABConfig", "PyramidAttentionBroadcastConfig",
           "--spatial/--temporal/--cross-skip and -timesteps, --classification"),
    Method("fastercache", "FasterCache", ".fastercache", "FCConfig", "FasterCacheConfig",
           "diffusers' defaults, traced with a batched-CFG batch of 2 unless --guidance-distilled, --classification"),
    Method("fbc", "FirstBlockCache", ".fbc", "FBCConfig", "FirstBlockCacheConfig",
           "--threshold (default: 0.05)"),
    Method("magcache", "MagCache", ".magcache", "MagConfig", "MagCacheConfig",
           "--threshold (default: 0.06), diffusers' Flux mag_ratios interpolated to --steps"),
    Method("taylorseer", "TaylorSeer", ".taylorseer", "TSConfig", "TaylorSeerCacheConfig",
           "diffusers' defaults (use --cache-config for other fields)"),
    Method("teacache", "TeaCache", ".teacache", "TeaCacheConfig", "",
           "--threshold (default: 0.25), --coefficients (default: the family's published ones)"),
    Method("seacache", "SeaCache", ".seacache", "SeaConfig", "SeaCacheConfig",
           "--threshold (default: 0.25), vision 'hidden_states' (any 5-D video latent)"),
    Method("dbcache", "DBCache", ".dbcache", "DBConfig", "DBCacheConfig",
           "--fn-blocks/--bn-blocks (default: F1B0), --threshold (default: 0.08), --warmup-steps (default: 0)",
           "cache-dit"),
)


@dataclass(frozen=True)
class Calibrator:
    """A residual calibrator a stack skip composes with (runtime/calibrate.py), from a method's package."""

    name: str
    title: str
    module: str  # the module holding its config class and converter
    config_class: str  # cachepass's config, a runtime.calibrate.Calibration
    their_config: str  # the class name of the reference's config (cache-dit's)
    converter: str  # the module's function from their config to ours
    config_owner: str = "cache-dit"

    def _get(self, attribute: str) -> Any:
        return getattr(importlib.import_module(self.module, __package__), attribute)

    @property
    def config_type(self) -> type:
        return self._get(self.config_class)

    def convert(self, cfg: Any) -> Any:
        if isinstance(cfg, self.config_type):
            return cfg
        return self._get(self.converter)(cfg)

    def accepts(self, cfg: Any) -> bool:
        return type(cfg).__name__ in (self.config_class, self.their_config)

    def bench_config(self) -> Any:
        """The reference's config of this calibrator at its defaults, for the bench's composed rows."""
        return self._get("bench_config")()


CALIBRATORS: tuple[Calibrator, ...] = (
    Calibrator("taylorseer", "TaylorSeer calibrator", ".taylorseer.calibrator", "TaylorCalibratorConfig",
               "TaylorSeerCalibratorConfig", "from_cache_dit"),
)


def calibrator_named(name: str) -> Calibrator:
    for calibrator in CALIBRATORS:
        if calibrator.name == name:
            return calibrator
    raise ConfigError(f"unknown calibrator {name!r}; choose one of {', '.join(c.name for c in CALIBRATORS)}.")


# NOTE [What composes]
# A list of configs is one cache and what modifies it. Two kinds today:
# - a stack skip whose skipped steps reuse a residual (a plug-in with `calibrated_skip`: FirstBlockCache, DBCache,
#   TeaCache, MagCache, SeaCache; their runtimes share runtime/calibrated.py) with one residual calibrator that
#   predicts that residual instead (cache-dit's hybrid of DBCache and its TaylorSeer calibrator). For SeaCache the
#   prediction replaces its own reuse and order-1 extrapolation (`residual_order` has no effect); MagCache and
#   SeaCache reuse only the hidden stream's residual, so a calibrator that does not predict it is refused
#   (`calibrated_hidden_only`);
# - a CFG skip (a plug-in with `cfg_skip`: FasterCache's unconditional-branch skip, no attention extrapolation)
#   around an inner cache that runs inside whatever rows run (a plug-in with `cfg_inner`: FirstBlockCache's stack
#   skip, PAB's attention reuse), one inner state per row set (NOTE [A CFG skip around a cache],
#   runtime/cfg_split.py). The composed plan (`CFGSplitPlan`) predicts each chain's variants from the inner plan:
#   from the decision values for FirstBlockCache, from the chain's own timesteps for PAB.
# Two caches that are neither do not compose (two stack skips would both decide each step), a CFG skip with a
# calibrator is not built yet, and PAB's attention reuse does not compose with a stack skip yet: each is a
# ConfigError naming what does. A one-element list is its element.
@dataclass(frozen=True)
class Composed:
    """What `options["cache"]` asks for: the cache, its calibrator's config, the CFG skip around it."""

    cache: Any  # the cachepass config of the cache that owns the graphs
    calibration: Any = None  # a residual calibrator's config, or None
    cfg_skip: Any = None  # the cachepass config of a CFG skip around `cache` (FasterCache's), or None


def compose(cache: Any) -> Composed:
    """The cache of `options["cache"]`, what modifies it, checked to compose."""
    items = list(cache) if isinstance(cache, (list, tuple)) else [cache]
    if not items:
        raise ConfigError(f"option 'cache'=[] lists no config; pass {accepted()}, or a list of one with a "
                          f"calibrator ({composes()}).")
    calibrators = [(entry, item) for item in items for entry in CALIBRATORS if entry.accepts(item)]
    caches = [to_cache_config(item) for item in items if not any(item is c for _, c in calibrators)]
    if not caches:
        raise ConfigError(f"option 'cache' holds only a calibrator ({type(items[0]).__name__}): a calibrator "
                          f"predicts what a stack skip reuses; list it with one: {composes()}.")
    cfg_skip, caches = _cfg_skip_of(caches)
    if len(caches) > 1:
        methods = [method_of(c) for c in caches]
        hints = [m.plugin.compose_hint for m in methods if m.plugin.compose_hint]
        raise ConfigError(f"option 'cache' lists {len(caches)} caches ({', '.join(m.title for m in methods)}); "
                          f"two caches do not compose, keep one. What composes: {composes()}."
                          + "".join(f" {hint}" for hint in hints))
    if len(calibrators) > 1:
        raise ConfigError(f"option 'cache' lists {len(calibrators)} calibrators; keep one.")
    if not calibrators:
        return Composed(caches[0], None, cfg_skip)
    method = method_of(caches[0])
    if cfg_skip is not None:
        raise ConfigError(f"{method_of(cfg_skip).title}'s CFG skip does not compose with a calibrator yet: list "
                          f"{method.title} with one or the other.")
    if not method.plugin.calibrated_skip:
        raise ConfigError(f"{method.title} does not compose with a calibrator: {composes()}.")
    entry, item = calibrators[0]
    calibration = entry.convert(item)
    if method.plugin.calibrated_hidden_only and not calibration.predicts(True):
        raise ConfigError(f"{method.title} reuses only the hidden stream's residual, and {calibration.describe()} "
                          f"does not predict it, so it would predict nothing: predict the hidden stream "
                          f"(cachepass.{entry.config_class}(hidden=True); {entry.config_owner}'s "
                          f"{entry.their_config}(enable_calibrator=True)) or drop the calibrator.")
    return Composed(caches[0], calibration)


def _cfg_skip_of(caches: list[Any]) -> tuple[Any, list[Any]]:
    """(the CFG skip listed with one other cache, or None; the other caches), checked to compose."""
    if len(caches) != 2:
        return None, caches
    skips = [c for c in caches if method_of(c).plugin.cfg_skip]
    if len(skips) != 1:
        return None, caches
    skip = skips[0]
    inner = next(c for c in caches if c is not skip)
    outer, method = method_of(skip), method_of(inner)
    if not method.plugin.cfg_inner:
        raise ConfigError(f"{outer.title}'s CFG skip does not compose with {method.title} yet. What composes: "
                          f"{composes()}.")
    problem = outer.plugin.cfg_skip_problem(skip)
    if problem:
        raise ConfigError(f"{outer.title} listed with {method.title} contributes its CFG skip only: {problem}.")
    return skip, [inner]


def composes() -> str:
    """The compositions, in words, for errors and docs."""
    skips = [m.title for m in METHODS if m.plugin.calibrated_skip]
    calibrators = [f"{c.title} ({c.config_owner}'s {c.their_config} or cachepass.{c.config_class})"
                   for c in CALIBRATORS]
    inner = [m.title for m in METHODS if m.plugin.cfg_inner]
    outer = [m.title for m in METHODS if m.plugin.cfg_skip]
    words = (f"options={{'cache': [<a {_either(skips)} config>, <{_either(calibrators)}>]}}, the calibrator "
             f"predicting the residual the skipped steps reuse")
    if inner and outer:
        words += (f"; options={{'cache': [<a {_either(inner)} config>, <a {_either(outer)} config>]}}, the "
                  f"{_either(inner)} inside the rows the CFG skip runs")
    return words


def default_method() -> Method:
    """The method of `torch.compile(..., backend="cachepass")` without a cache config: the first registered."""
    return METHODS[0]


def demo_method() -> Method:
    """The method `cachepass demo` shows: the first registered one whose plug-in declares itself the demo's."""
    return next(method for method in METHODS if method.plugin.demo)


def method_named(name: str) -> Method:
    for method in METHODS:
        if method.name == name:
            return method
    raise ConfigError(f"unknown cache method {name!r}; choose one of {', '.join(m.name for m in METHODS)}.")


def method_of(config: Any) -> Method:
    """The method a (converted) cachepass config belongs to."""
    for method in METHODS:
        if isinstance(config, method.config_type):
            return method
    raise ConfigError(f"{type(config).__name__} is not a cachepass cache config; pass {accepted()}.")


def to_cache_config(cache: Any) -> Any:
    """A cachepass config as it is, or diffusers' config of any registered method, converted (never mutated)."""
    for method in METHODS:
        if isinstance(cache, method.config_type):
            return cache
    for method in METHODS:
        if method.diffusers_config and type(cache).__name__ == method.diffusers_config:
            compare_safely(type(cache))
            return method.plugin.from_diffusers(cache)
    raise ConfigError(f"option 'cache' must be {accepted()}; got {type(cache).__name__}.")


def accepted() -> str:
    ours = _either([f"cachepass.{m.config_class}" for m in METHODS])
    given = [m for m in METHODS if m.diffusers_config]
    owners = dict.fromkeys(m.config_owner for m in given)
    theirs = ", or ".join(_either([m.theirs if i == 0 else m.diffusers_config
                                   for i, m in enumerate(m for m in given if m.config_owner == owner)])
                          for owner in owners)
    return f"a {ours}, or {theirs}"


def _either(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


# NOTE [Comparing configs that hold tensors]
# torch compares the `torch.compile` wrappers of two models when the second one's call looks for a cache entry
# made with another wrapper: `_TorchCompileWrapper.__eq__` (torch/__init__.py) compares the users' `options`
# dicts, so the diffusers config objects themselves, with `==`. It happens twice: in C++
# (torch/csrc/dynamo/extra_state.cpp `backend_match`, which clears an exception and counts it as a mismatch) and,
# when that mismatch makes Dynamo compile again, in `torch/_dynamo/guards.py::get_guard_fail_reason_helper`
# (`cache_entry_backend != backend`, to explain the recompile), which lets the exception through. A dataclass
# `__eq__` compares field tuples, so two `MagCacheConfig`s holding equal but separate `mag_ratios` tensors raise
# "Boolean value of Tensor with more than one value is ambiguous" at the second model's first call.
# Nothing narrower than the config class can answer: cachepass never sees the options before torch wraps them,
# and patching torch's wrapper would touch every backend. So cachepass gives each diffusers config class it
# accepts (a dataclass) a field-by-field `__eq__` the first time it reads one -- before any cache entry exists to
# compare with: tensors are equal when dtype, shape, device and values are, every other field compares as the
# generated `__eq__` compared it, so only comparisons that raised before now answer. Configs that compare equal
# then share a graph, and the runtime keeps each calling model's state apart (runtime/base.py, by the caller's first
# parameter). tests/test_two_models.py checks what this relies on: torch compares the options with `==`, and the
# diffusers classes are dataclasses whose own `__eq__` raises on such tensors.
def compare_safely(cls: type) -> None:
    """Give diffusers' dataclass config `cls` an `__eq__` that never takes a tensor's truth value (once)."""
    import dataclasses

    if not dataclasses.is_dataclass(cls) or getattr(cls.__dict__.get("__eq__"), "_cachepass_safe", False):
        return
    names = tuple(f.name for f in dataclasses.fields(cls) if f.compare)

    def __eq__(self: Any, other: Any) -> Any:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return all(same_value(getattr(self, n), getattr(other, n)) for n in names)

    __eq__._cachepass_safe = True  # type: ignore[attr-defined]
    cls.__eq__ = __eq__  # __hash__ is untouched (None for these unfrozen dataclasses)


def same_value(a: Any, b: Any) -> bool:
    """Equality that compares tensors by dtype, shape, device and values, inside lists, tuples and dicts too."""
    import torch

    if a is b:
        return True
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        return (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and a.dtype == b.dtype
                and a.shape == b.shape and a.device == b.device and bool(torch.equal(a, b)))
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_value(a[k], b[k]) for k in a)
    return bool(a == b)

