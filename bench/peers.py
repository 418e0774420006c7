"""The peers users already run: cache-dit (FBCache = DBCache F1B0, DBCache F1B1, FBCache + TaylorSeer)
and ParaAttention's first-block cache, set up as their READMEs do, eager and under torch.compile.

Their imports are lazy, so that the bench and its tests run without them: a missing package raises
`Unavailable`, and the bench writes a row that says so instead of failing. Every first-block cache gets
the workload's `fbc` threshold and no warm-up (diffusers' hook has none; cache-dit's default of 8 warm-up
steps and ParaAttention's are set to 0), so all of them decide on the same values: the bench checks that
they skipped the same steps.

Decisions are recorded where each implementation makes them. Its decision function is wrapped in a
`torch.compiler.disable`d function (each peer's own decision function is compiler-disabled already, so
Dynamo breaks at the same call as before and the wrapper runs eagerly, also under torch.compile): it
notes compute or reuse, and counts the device-to-host reads made inside it (`.item()`, `.tolist()`,
`bool()`, ...) with a TorchFunctionMode.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch.overrides import TorchFunctionMode

from cachepass.models import DemoModel

INSTALL = "pip install -e '.[peers]'"
METHOD = "fbc"  # the registered method the peers implement: they read its workload fields and are compared with it
# cache-dit's compile advice (cache_dit.set_compile_configs): Dynamo's recompile limits raised, since its
# hooks recompile. Only these are taken, scoped to each call of its compiled model: the rest of that
# function tunes Inductor's code generation, which every compiled row here leaves at Inductor's defaults.
CACHE_DIT_COMPILE_LIMITS = {"recompile_limit": 1024, "accumulated_recompile_limit": 8192}
_HOST_READS = frozenset({"item", "tolist", "__bool__", "__float__", "__int__", "__index__", "numpy"})


class Unavailable(RuntimeError):
    """The peer cannot run here (not installed, or it fails on this model): the row says why."""


def require(module: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise Unavailable(f"{module} not installed: {INSTALL}") from error


class _CountHostReads(TorchFunctionMode):
    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    def __torch_function__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        if getattr(func, "__name__", "") in _HOST_READS:
            self.reads += 1
        return func(*args, **(kwargs or {}))


class Decisions:
    """Per generation: the steps' decisions (C computed, R reused) and the host reads made deciding."""

    def __init__(self) -> None:
        self.generations: list[list[str]] = []
        self.reads: list[int] = []

    def start(self) -> None:
        self.generations.append([])
        self.reads.append(0)

    def record(self, reused: bool | None, reads: int) -> None:
        if not self.generations:
            self.start()
        if reused is not None:
            self.generations[-1].append("R" if reused else "C")
        self.reads[-1] += reads

    def pattern(self) -> str | None:
        return "".join(self.generations[-1]) if self.generations and self.generations[-1] else None

    def latest_reads(self) -> int | None:
        return self.reads[-1] if self.reads else None


def watch(owner: Any, name: str, log: Callable[[], Decisions | None], reused: Callable[[Any], bool] | None) -> None:
    """Replace `owner.name` (a bound method or a module function) with a compiler-disabled wrapper that
    records into `log()` whether the step reused (`reused(result)`; None: reads only) and its host reads."""
    original = getattr(owner, name)

    @torch.compiler.disable
    @functools.wraps(original)
    def watched(*args: Any, **kwargs: Any) -> Any:
        counter = _CountHostReads()
        with counter:
            result = original(*args, **kwargs)
        decisions = log()
        if decisions is not None:
            decisions.record(None if reused is None else reused(result), counter.reads)
        return result

    setattr(owner, name, watched)


class Observed:
    """A cached model called as the bench's loop calls diffusers' hooked model
    (cachepass.measure.DiffusersHooked): a generation starts when the timestep rises (what a pipeline's
    `__call__` marks); then the peer's own start-of-generation call runs, as its pipeline adapter would
    run it (cache-dit: `refresh_context`; ParaAttention: a new cache context), and a new record starts."""

    def __init__(self, module: Callable[..., Any], start: Callable[[], None], decisions: Decisions,
                 context: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext,
                 pattern: Callable[[int], str | None] | None = None) -> None:
        self.module, self.start, self.decisions, self.context = module, start, decisions, context
        self._pattern = pattern
        self._last: float | None = None

    def __call__(self, **kwargs: Any) -> Any:
        value = float(kwargs["timestep"].reshape(-1)[0])
        if self._last is None or value > self._last:
            self.start()
            self.decisions.start()
        self._last = value
        with self.context():
            return self.module(**kwargs)

    def step_pattern(self, steps: int) -> str | None:
        pattern = self._pattern(steps) if self._pattern else self.decisions.pattern()
        return pattern[-steps:] if pattern else None

    def host_reads(self) -> int | None:
        return self.decisions.latest_reads()


def _compile(module: torch.nn.Module, compiler: str, fullgraph: bool, compiled: bool) -> Callable[..., Any]:
    return torch.compile(module, backend=compiler, fullgraph=fullgraph) if compiled else module


@contextlib.contextmanager
def _dynamo_limits(limits: dict[str, int]) -> Iterator[None]:
    with torch._dynamo.config.patch(**limits):  # torch has no public setter for these limits
        yield


def cache_dit(back_blocks: int, taylorseer: bool, compiled: bool) -> Callable[..., Callable[..., Any]]:
    """cache-dit's DBCache on the transformer alone (`cache_dit.enable_cache(transformer, cache_config=...)`):
    F1B0 is its FBCache, F1B1 also recomputes the last block on reused steps; TaylorSeer: its calibrator
    (order 1) forecasting the reused residuals."""

    def config(workload: Any) -> Any:
        return require("cache_dit").DBCacheConfig(
            Fn_compute_blocks=1, Bn_compute_blocks=back_blocks, residual_diff_threshold=workload.fields(METHOD)["threshold"],
            max_warmup_steps=0, max_cached_steps=-1, max_continuous_cached_steps=-1)

    return cache_dit_config(config, compiled, taylorseer_calibrator if taylorseer else None)


def taylorseer_calibrator() -> Any:
    """cache-dit's TaylorSeer calibrator at order 1, its hybrid cache's default."""
    return require("cache_dit").TaylorSeerCalibratorConfig(taylorseer_order=1)


def cache_dit_config(config: Callable[[Any], Any], compiled: bool,
                     calibrator: Callable[[], Any] | None = None) -> Callable[..., Callable[..., Any]]:
    """cache-dit's DBCache with the config `config(workload)` makes (the DBCache rows: the workload's `dbcache`),
    and the calibrator config `calibrator()` makes (its hybrid cache), if any."""

    def prepare(demo: DemoModel, workload: Any, compiler: str, fullgraph: bool = False) -> Callable[..., Any]:
        cache_dit = require("cache_dit")
        config_ = config(workload)
        cache_dit.enable_cache(demo.module, cache_config=config_,
                               calibrator_config=calibrator() if calibrator is not None else None)
        decisions = Decisions()
        # Reads only: the pattern is cache-dit's own record of its cached steps (cache_dit.summary).
        watch(demo.module._context_manager, "can_cache", lambda: decisions, None)
        module = _compile(demo.module, compiler, fullgraph, compiled)

        def pattern(steps: int) -> str:  # cache-dit's step indices count from its latest refresh
            cached = set(cache_dit.summary(demo.module, logging=False)[0].cached_steps)
            return "".join("R" if step in cached else "C" for step in range(steps))

        # Without refresh_context before each generation, a transformer-only cache-dit keeps counting steps
        # from the previous generation, and its refreshes come one step late.
        context = (lambda: _dynamo_limits(CACHE_DIT_COMPILE_LIMITS)) if compiled else contextlib.nullcontext
        return Observed(module, lambda: cache_dit.refresh_context(demo.module), decisions, context, pattern)

    return prepare


def para_attn(compiled: bool) -> Callable[..., Callable[..., Any]]:
    """ParaAttention's first-block cache on the transformer alone
    (`para_attn.first_block_cache.diffusers_adapters.apply_cache_on_transformer`), run inside a cache
    context created per generation, as its `apply_cache_on_pipe` wraps each pipeline call. Its README's
    compile mode (max-autotune-no-cudagraphs) is not used: every compiled row keeps Inductor's defaults."""

    def prepare(demo: DemoModel, workload: Any, compiler: str, fullgraph: bool = False) -> Callable[..., Any]:
        require("para_attn")
        from para_attn.first_block_cache import utils
        from para_attn.first_block_cache.diffusers_adapters import apply_cache_on_transformer

        _watch_para_attn(utils)
        apply_cache_on_transformer(demo.module)
        module = _compile(demo.module, compiler, fullgraph, compiled)
        decisions = Decisions()
        current: list[Any] = [None]

        def start() -> None:
            current[0] = utils.create_cache_context(residual_diff_threshold=workload.fields(METHOD)["threshold"],
                                                    warmup_steps=0)
            current[0].bench_decisions = decisions  # where the watched decision function records

        return Observed(module, start, decisions, lambda: utils.cache_context(current[0]))

    return prepare


def _watch_para_attn(utils: Any) -> None:
    """ParaAttention decides in module functions, found as globals at call time: wrap them once per process;
    each records into the decisions attached to the current cache context."""
    if getattr(utils, "_bench_watched", False):
        return
    log = lambda: getattr(utils.get_current_cache_context(), "bench_decisions", None)  # noqa: E731
    watch(utils, "get_can_use_cache", log, bool)
    utils._bench_watched = True


def diffusers_first_block_decisions(module: torch.nn.Module) -> Decisions:
    """Watch diffusers' FBC head hook's decision (`_should_compute_remaining_blocks`, True = compute) on
    `module`, whose hooks are registered: the step pattern and host reads also under torch.compile."""
    from diffusers.hooks import HookRegistry
    from diffusers.hooks.first_block_cache import _FBC_LEADER_BLOCK_HOOK

    decisions = Decisions()
    for block in module.modules():
        registry = getattr(block, "_diffusers_hook", None)
        hook = registry.get_hook(_FBC_LEADER_BLOCK_HOOK) if isinstance(registry, HookRegistry) else None
        if hook is not None:
            watch(hook, "_should_compute_remaining_blocks", lambda: decisions, lambda compute: not compute)
    return decisions


def rows() -> tuple[tuple[str, bool, Callable[..., Callable[..., Any]], str, str | None], ...]:
    """The peers' bench rows, (name, compiled, prepare, peer, calibrator), at the workload's FBC threshold; the
    calibrator is a cachepass.methods.CALIBRATORS name, for rows whose reuse a calibrator predicts."""
    return (
        ("cache-dit FBCache (eager)", False, cache_dit(0, False, False), "cache-dit", None),
        ("cache-dit FBCache + torch.compile", True, cache_dit(0, False, True), "cache-dit", None),
        ("cache-dit DBCache F1B1 (eager)", False, cache_dit(1, False, False), "cache-dit", None),
        ("cache-dit DBCache F1B1 + torch.compile", True, cache_dit(1, False, True), "cache-dit", None),
        ("cache-dit FBCache + TaylorSeer (eager)", False, cache_dit(0, True, False), "cache-dit", "taylorseer"),
        ("cache-dit FBCache + TaylorSeer + torch.compile", True, cache_dit(0, True, True), "cache-dit", "taylorseer"),
        ("ParaAttention FBC (eager)", False, para_attn(False), "ParaAttention", None),
        ("ParaAttention FBC + torch.compile", True, para_attn(True), "ParaAttention", None),
    )
