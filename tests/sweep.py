"""The families sweep: every diffusers transformer class with a time input x every cachepass method, against
the method's reference on an eager deep copy (scripts/sweep_families.py runs it over all classes and writes
docs/families.md; tests/test_sweep.py runs it on a few classes in CI).

A cell compiles the tiny model (tests/tiny_configs.py) with `backend="cachepass"`, the `compiler: "eager"`
option and `fullgraph=True` (without it where plain Dynamo cannot capture the model whole), runs 8 steps, and
compares each step with the reference: diffusers' hook (`module.enable_cache(cfg)`) for PAB, FasterCache,
FirstBlockCache, MagCache, TaylorSeer and SeaCache; cache-dit for DBCache; none for TeaCache (it must run and
reuse). Which steps the reference reused is read from the reference itself, whatever the method: a step
reused something when fewer leaf modules ran than in the uncached model's same step. Which steps cachepass
reused is read from its step records (`record.reused`). (cache-dit: from its own record, `cache_dit.summary`.)

NOTE [Thresholds on tiny random weights]
Data-dependent methods (FirstBlockCache, SeaCache, DBCache) decide from residual changes that are 0.03-0.5 per
step on random weights, so a fixed threshold reuses everything on one class and nothing on another. The sweep
measures: it runs the reference with each threshold of `LADDER` (eager, cheap) and takes the first that
reuses 2 to 6 of the 8 steps (else the first that reuses anything). cachepass then gets that threshold.
"""

from __future__ import annotations

import copy
import dataclasses
import importlib
import inspect
import pkgutil
import re
import signal
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import torch

from tiny_configs import NO_MODEL_TEST, TIME_INPUT, TINY, materialize

STEPS = 8
TIMESTEPS = [float(t) for t in torch.linspace(999, 0, STEPS)]
LADDER = (0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.8, 1.2)
TOLERANCE = 1e-5
# What the pipelines feed the model for the pipeline's timestep t (999 .. 0): t / 1000 (flow models with a
# time embedding scaled by 1000), 1 - t / 1000 (rising time), else t itself.
UNIT_TIME = {"FluxTransformer2DModel", "Flux2Transformer2DModel", "ChromaTransformer2DModel",
             "LongCatImageTransformer2DModel", "OvisImageTransformer2DModel", "QwenImageTransformer2DModel",
             "AuraFlowTransformer2DModel"}
RISING_TIME = {"Ideogram4Transformer2DModel", "LuminaNextDiT2DModel", "Lumina2Transformer2DModel",
               "ZImageTransformer2DModel"}
METHOD_NAMES = ("pab", "fastercache", "fbc", "magcache", "taylorseer", "teacache", "seacache", "dbcache")


def time_inputs() -> dict[str, type]:
    """Every ModelMixin class of diffusers.models.transformers whose forward takes a time input."""
    from diffusers import ModelMixin
    from diffusers.models import transformers

    found = {}
    for info in pkgutil.iter_modules(transformers.__path__):
        module = importlib.import_module(f"{transformers.__name__}.{info.name}")
        for name, obj in vars(module).items():
            if inspect.isclass(obj) and issubclass(obj, ModelMixin) and obj.__module__ == module.__name__:
                if any("time" in p or p == "t" for p in inspect.signature(obj.forward).parameters):
                    found[name] = obj
    return dict(sorted(found.items()))


@dataclass
class Model:
    """One tiny model and its inputs per step (the pipeline's t -> the model's kwargs)."""

    name: str
    module: torch.nn.Module
    time_input: str
    batch: int = 1  # 2: every batch-leading input doubled, [uncond, cond] as in batched CFG
    clock: dict = field(default_factory=lambda: {"t": None})
    leaf_calls: list[int] = field(default_factory=list)

    def kwargs(self, t: float) -> dict[str, Any]:
        tiny = TINY[self.name]
        kwargs = materialize(tiny.inputs, torch.Generator().manual_seed(0))
        first = kwargs[self.time_input]
        value = t / 1000 if self.name in UNIT_TIME else 1 - t / 1000 if self.name in RISING_TIME else t
        # float time always: an integer dtype at 999 and a float one at 856.4 would be two graphs
        shape = first.shape if isinstance(first, torch.Tensor) else ()  # PriorTransformer's test passes an int
        kwargs[self.time_input] = torch.full(shape, value, dtype=torch.float32)
        if self.batch == 2:
            kwargs = doubled(kwargs, batch_of(kwargs))
        return kwargs

    def plain_calls(self) -> list[int]:
        """Leaf modules the uncached model runs at each step (measured once, on a copy)."""
        if not self.leaf_calls:
            plain = copy.deepcopy(self.module)
            counter = LeafCounter(plain)
            for t in TIMESTEPS:
                counter.start()
                self(plain, t)
            self.leaf_calls = counter.calls
        return self.leaf_calls

    def __call__(self, module: Any, t: float) -> torch.Tensor:
        self.clock["t"] = t
        with torch.no_grad():
            return main_output(module(**self.kwargs(t)))


def latent_name(kwargs: dict[str, Any]) -> str | None:
    """The latent input: `hidden_states` (or `x`, `sample`), else the first floating tensor of 3 dims or more
    (None for a packed layout without a batch dimension, e.g. Cosmos 3's token lists)."""
    for key in ("hidden_states", "x", "sample"):
        if isinstance(kwargs.get(key), torch.Tensor):
            return key
    return next((k for k, v in kwargs.items() if isinstance(v, torch.Tensor) and v.is_floating_point()
                 and v.dim() >= 3), None)


def batch_of(kwargs: dict[str, Any]) -> int:
    return kwargs[latent_name(kwargs)].shape[0]


def doubled(kwargs: dict[str, Any], batch: int) -> dict[str, Any]:
    """Batched CFG: each tensor whose first dimension is the batch, twice along it."""
    return {k: torch.cat([v, v]) if isinstance(v, torch.Tensor) and v.dim() and v.shape[0] == batch else v
            for k, v in kwargs.items()}


def main_output(out: Any) -> torch.Tensor:
    while not isinstance(out, torch.Tensor):
        out = out[0]
    return out


def model_class(name: str) -> type:
    """The class, from diffusers' top level when exported there (no need to import every model module)."""
    import diffusers

    cls = getattr(diffusers, name, None)
    return cls if cls is not None else time_inputs()[name]


def build(name: str, batch: int = 1) -> Model:
    cls = model_class(name)
    torch.manual_seed(0)
    module = cls(**TINY[name].init).eval()
    return Model(name, module, TIME_INPUT.get(name, "timestep"), batch)


class LeafCounter:
    """Counts the leaf modules that run in each call of `module` (hooks on every leaf)."""

    def __init__(self, module: torch.nn.Module) -> None:
        self.calls: list[int] = []
        for sub in module.modules():
            if not list(sub.children()):
                sub.register_forward_hook(self._count)

    def _count(self, *_: Any) -> None:
        self.calls[-1] += 1

    def start(self) -> None:
        self.calls.append(0)


# -- the references, one per method -------------------------------------------------------------------

def attention_identifiers(module: torch.nn.Module) -> list[str] | None:
    """TaylorSeer identifiers for the attention modules inside the model's block lists (None: diffusers'
    defaults), one fullmatch pattern per distinct name with block indices generalized."""
    from diffusers.hooks._common import _ALL_TRANSFORMER_BLOCK_IDENTIFIERS
    from diffusers.models.attention import AttentionModuleMixin
    from diffusers.models.attention_processor import Attention

    patterns = []
    for name, sub in module.named_modules():
        if isinstance(sub, (AttentionModuleMixin, Attention)) and name.split(".")[0] in _ALL_TRANSFORMER_BLOCK_IDENTIFIERS:
            pattern = "^" + re.sub(r"\\\.\d+(\\\.|$)", r"\\.\\d+\1", re.escape(name)) + "$"
            if pattern not in patterns:
                patterns.append(pattern)
    return patterns or None


def config_for(method: str, model: Model, threshold: float | None) -> Any:
    """The reference's config of `method` for this model (cachepass is given the same object)."""
    from diffusers import (FasterCacheConfig, FirstBlockCacheConfig, MagCacheConfig,
                           PyramidAttentionBroadcastConfig, SeaCacheConfig, TaylorSeerCacheConfig)
    from diffusers.hooks import sea_cache
    from diffusers.hooks.mag_cache import FLUX_MAG_RATIOS

    clock = lambda: model.clock["t"]  # noqa: E731 -- the pipeline's current_timestep
    if method == "pab":
        return PyramidAttentionBroadcastConfig(
            spatial_attention_block_skip_range=2, spatial_attention_timestep_skip_range=(100, 800),
            temporal_attention_block_skip_range=3, temporal_attention_timestep_skip_range=(150, 850),
            cross_attention_block_skip_range=3, cross_attention_timestep_skip_range=(50, 900),
            current_timestep_callback=clock)
    if method == "fastercache":
        return FasterCacheConfig(
            spatial_attention_block_skip_range=2, spatial_attention_timestep_skip_range=(-1, 681),
            attention_weight_callback=lambda _: 0.3, unconditional_batch_skip_range=5,
            unconditional_batch_timestep_skip_range=(-1, 781), current_timestep_callback=clock,
            tensor_format="BCFHW" if _latent(model).dim() == 5 else "BCHW")
    if method == "fbc":
        return FirstBlockCacheConfig(threshold=threshold)
    if method == "magcache":
        return MagCacheConfig(threshold=0.06, num_inference_steps=STEPS, mag_ratios=FLUX_MAG_RATIOS.clone())
    if method == "taylorseer":
        return TaylorSeerCacheConfig(cache_interval=3, disable_cache_before_step=2, max_order=2,
                                     taylor_factors_dtype=torch.float32,
                                     cache_identifiers=attention_identifiers(model.module))
    if method == "seacache":
        return SeaCacheConfig(threshold=threshold, raw_vision_callback=sea_cache._prepare_wan_t2v_raw_vision_metadata)
    if method == "dbcache":
        import cache_dit

        return cache_dit.DBCacheConfig(Fn_compute_blocks=1, Bn_compute_blocks=0, residual_diff_threshold=threshold,
                                       max_warmup_steps=0, enable_separate_cfg=False)
    if method == "teacache":
        import cachepass

        return cachepass.TeaCacheConfig(threshold=0.5, coefficients=(1.0, 0.0), num_inference_steps=STEPS,
                                        retention_steps=1, cutoff_steps=1)
    raise ValueError(method)


def _latent(model: Model) -> torch.Tensor:
    kwargs = model.kwargs(999.0)
    return kwargs[latent_name(kwargs)]


def calling(method: str, model: Model, module: Any, step: int, t: float) -> torch.Tensor:
    """One denoising step as the method's pipeline makes it (a cache context; SeaCache's step fields)."""
    model.clock["t"] = t
    context = getattr(getattr(module, "_orig_mod", module), "cache_context", None)
    if context is None or method in ("pab", "fastercache", "dbcache"):
        return model(module, t)
    extra = dict(step_index=step, sigma=t / 1000, num_inference_steps=STEPS) if method == "seacache" else {}
    with context("cond", **extra):
        return model(module, t)


def reference_run(method: str, model: Model, cfg: Any) -> tuple[list[torch.Tensor], list[bool]]:
    """The reference's 8 outputs and which steps it reused (fewer leaf modules than the uncached model)."""
    plain_calls = model.plain_calls()
    module = copy.deepcopy(model.module)
    if method == "dbcache":
        import cache_dit

        cache_dit.enable_cache(module, cache_config=cfg)
        cache_dit.refresh_context(module)
    elif method == "fastercache":
        from diffusers.hooks import apply_faster_cache

        apply_faster_cache(module, dataclasses.replace(cfg))  # it fills callbacks in: a copy
    else:
        module.enable_cache(cfg)
    counter = LeafCounter(module)
    outputs, reused = [], []
    for step, t in enumerate(TIMESTEPS):
        counter.start()
        outputs.append(calling(method, model, module, step, t))
        reused.append(counter.calls[-1] < plain_calls[step])
    if method == "dbcache":  # cache-dit's own record, as tests/test_dbcache.py reads it
        import cache_dit

        cached = set(cache_dit.summary(module, logging=False)[0].cached_steps)
        reused = [step in cached for step in range(STEPS)]
    return outputs, reused


def pick_threshold(method: str, model: Model) -> tuple[float, str]:
    """NOTE [Thresholds on tiny random weights]: (threshold, how it was chosen). Reuse grows with the threshold,
    so the ladder is bisected: 3-4 reference runs instead of 8."""
    low, high, best = 0, len(LADDER) - 1, None
    while low <= high:
        middle = (low + high) // 2
        threshold = LADDER[middle]
        try:
            _, reused = reference_run(method, model, config_for(method, model, threshold))
        except Exception as error:  # the reference cannot run this class: cachepass gets a middle value
            return 0.3, f"reference fails ({first_line(error)})"
        count = sum(reused)
        if 2 <= count <= STEPS - 2:
            return threshold, f"reference reuses {count}"
        if count and (best is None or abs(count - STEPS // 2) < abs(best[1] - STEPS // 2)):
            best = (threshold, count)
        low, high = (middle + 1, high) if count < 2 else (low, middle - 1)
    if best:
        return best[0], f"reference reuses {best[1]}"
    return 0.3, "no threshold of the ladder reuses"


# -- one cell -----------------------------------------------------------------------------------------------

@dataclass
class Cell:
    model: str
    method: str
    # equal | differs | refused | hook fails | crash | both fail | reused nothing | runs (no reference) | timeout |
    # not run (the sweep could not set the cell up: its own limit, not cachepass's)
    outcome: str
    detail: str = ""
    max_diff: float | None = None
    ours: str = ""  # R/C per step
    theirs: str = ""
    fullgraph: bool = True
    threshold: float | None = None


def first_line(error: BaseException) -> str:
    text = f"{type(error).__name__}: {error}".strip()
    return text.splitlines()[0][:300] if text else type(error).__name__


def our_pattern(compiled: Any) -> list[bool]:
    """Per step, whether some cachepass graph of the model reused something at it (step records)."""
    import cachepass

    steps = [False] * STEPS
    for graph in cachepass.compiled_graphs(compiled):
        if not getattr(graph, "cached", False):
            continue
        _, records = graph.reported(None)
        records = records[-STEPS:]
        if len(records) == STEPS:
            steps = [a or bool(r.reused) for a, r in zip(steps, records)]
    return steps


def letters(reused: list[bool]) -> str:
    return "".join("R" if r else "C" for r in reused)


def run_cell(name: str, method: str, fullgraph: bool) -> Cell:
    import cachepass

    torch._dynamo.reset()
    model = build(name, batch=2 if method == "fastercache" else 1)
    if model.batch == 2 and latent_name(materialize(TINY[name].inputs, torch.Generator())) is None:
        return Cell(name, method, "not run", "no batched latent input to hold [uncond, cond] rows", fullgraph=fullgraph)
    if model.batch == 2 and TINY[name].inputs and batch_of(materialize(TINY[name].inputs, torch.Generator())) % 2 == 0:
        model.batch = 1  # the test's batch is already even: [uncond, cond] halves
    threshold, chosen = (None, "")
    if method in ("fbc", "seacache", "dbcache"):
        threshold, chosen = pick_threshold(method, model)
    cell = Cell(name, method, "", fullgraph=fullgraph, threshold=threshold)
    try:
        cfg = config_for(method, model, threshold)
    except Exception as error:
        cell.outcome, cell.detail = "not run", f"the sweep's config: {first_line(error)}"
        return cell
    theirs, their_reused, hook_error = None, None, None
    if method != "teacache":
        try:
            theirs, their_reused = reference_run(method, model, cfg)
        except Exception as error:
            hook_error = first_line(error)
    original = copy.deepcopy(model.module)
    model.module = original
    try:
        compiled = torch.compile(original, backend="cachepass", fullgraph=fullgraph,
                                 options={"cache": cfg, "compiler": "eager"})
        ours = [calling(method, model, compiled, step, t) for step, t in enumerate(TIMESTEPS)]
        reused = our_pattern(compiled)
    except cachepass.ConfigError as error:
        cell.outcome, cell.detail = "refused", first_line(error).split(": ", 1)[-1]
        if hook_error:
            cell.detail += f" (the reference fails too: {hook_error})"
        return cell
    except TimeoutError:
        raise
    except Exception as error:
        cell.outcome, cell.detail = ("both fail" if hook_error else "crash"), first_line(error)
        if hook_error:
            cell.detail += f" (the reference fails too: {hook_error})"
        return cell
    cell.ours = letters(reused)
    if method == "teacache":
        cell.outcome = "runs (no reference)" if any(reused) else "reused nothing"
        return cell
    if hook_error:
        cell.outcome, cell.detail = "hook fails", f"{hook_error}; cachepass reuses {sum(reused)} of {STEPS}"
        return cell
    cell.theirs = letters(their_reused)
    cell.max_diff = max(float((a - b).abs().max()) for a, b in zip(ours, theirs))
    # FasterCache's hook skips the unconditional half by running the model on the conditional half: the same
    # leaf modules run, so its leaf count sees only the attention reuse; the values are compared, the steps not.
    same_steps = cell.ours == cell.theirs or method == "fastercache"
    if cell.max_diff > TOLERANCE or not same_steps:
        cell.outcome = "differs"
        cell.detail = f"max diff {cell.max_diff:.1e}; steps ours {cell.ours} reference {cell.theirs}"
    elif not any(reused):
        cell.outcome, cell.detail = "reused nothing", f"neither reuses ({chosen})" if chosen else "neither reuses"
    else:
        cell.outcome, cell.detail = "equal", chosen
    return cell


def captures_whole(name: str) -> tuple[bool, str]:
    """Whether plain Dynamo (`backend="eager"`) captures the model in one graph; its error otherwise."""
    torch._dynamo.reset()
    model = build(name)
    try:
        model(torch.compile(model.module, backend="eager", fullgraph=True), TIMESTEPS[0])
        return True, ""
    except Exception as error:
        return False, first_line(error)
    finally:
        torch._dynamo.reset()


@dataclass
class ClassResult:
    model: str
    fullgraph: bool
    note: str
    cells: list[Cell]


class CellTimeout(TimeoutError):
    pass


def _alarm(*_: Any) -> None:
    raise CellTimeout()


def sweep_class(name: str, methods: tuple[str, ...] = METHOD_NAMES, cell_timeout: int = 0) -> ClassResult:
    """Every method on one class (each cell under `cell_timeout` seconds when > 0, by SIGALRM)."""
    if name not in TINY:
        why = "no model test in diffusers' tests/models/transformers" if name in NO_MODEL_TEST else "no tiny config"
        return ClassResult(name, False, why, [])
    try:
        model = build(name)
        model(copy.deepcopy(model.module), TIMESTEPS[0])
    except Exception as error:
        return ClassResult(name, False, f"eager model fails: {first_line(error)}", [])
    whole, why = captures_whole(name)
    note = "" if whole else f"Dynamo cannot capture it whole: {why}"
    cells = []
    for method in methods:
        if cell_timeout:
            signal.signal(signal.SIGALRM, _alarm)
            signal.alarm(cell_timeout)
        try:
            cells.append(run_cell(name, method, whole))
        except CellTimeout:
            cells.append(Cell(name, method, "timeout", f"over {cell_timeout} s", fullgraph=whole))
        finally:
            if cell_timeout:
                signal.alarm(0)
    return ClassResult(name, whole, note, cells)


def cells_of(results: list[ClassResult]) -> Iterator[Cell]:
    for result in results:
        yield from result.cells


__all__ = ["Cell", "ClassResult", "METHOD_NAMES", "STEPS", "TIMESTEPS", "build", "cells_of", "run_cell",
           "sweep_class", "time_inputs"]
