"""`cachepass.tune`: the fastest cache config that keeps a quality budget, found with few generations.

    result = cachepass.tune(generate, {"psnr": 35.0}, model=transformer)
    compiled = cachepass.compile(transformer, cache=result.config)

`generate(model)` is the user's own generation with a fixed seed, given the model to use, returning the tensor
to judge. The tuner runs it once uncached (the reference the budget is measured against), then, for each
method whose plug-in gives a search space (`MethodPlugin.tune_space`: one knob along which a generation reuses
more and its quality falls, crossed with a few settings of other fields), bisects the knob in each setting for the
most reuse that meets the budget; the winner is the fastest predicted of every candidate that met it.
Method-neutral: the methods and their knobs come from the registry and the plug-ins. With `prompts=[...]` it calls
`generate(model, prompt)` for each, and the budget must hold on every one (the worst decides). Budget metrics:
PSNR, SSIM (quality.py), relative L2, LPIPS (the optional `lpips` package).

# NOTE [The tuner's cost model]
Candidates are not timed one by one (a timing needs warm repeats): a candidate's generation time is predicted
as the sum, over the model calls its own generation made (the runtime's step records), of the compiled pieces
each call ran, each at its median time measured in the loop, plus one per-piece overhead per method (a clocked
generation's wall time minus its pieces' own times in that generation, over its pieces: the user's loop, Dynamo's
guards, the cachepass runtime). The first candidate that runs a piece not yet clocked pays `timing_runs` rounds of
two warm generations: the uncached model's (the yardstick) and the candidate's with every variant clocked.

# NOTE [How many generations a search takes]
A method's space of S settings (its crossed fields' product, at most methods.plugin.MAX_SETTINGS) and V values of
its knob takes at most S * ceil(log2(V + 1)) candidates bisected (S * V with search="grid"), each one generation
per input; a calibrated method (MagCache's ratios, TeaCache's coefficients) adds one run; a candidate that runs a piece not yet clocked adds
`timing_runs` rounds of two generations; `compose` searches a stack skip once more per calibrator. Besides: the
reference and the nudged run (two), and the winner's re-run and `repeats` rounds of two. E.g. MagCache's 2 x 2
settings of 10 thresholds: at most 16 candidates, where its 40 configs would take 40. `TuneSpace.evaluations`
gives the bound; `result.generations` counts what a tuning took.

# NOTE [Times in units of the uncached generation]
On a shared CPU the machine's speed swings several-fold over seconds (2 cores under a load of 4-9: torch's
intra-op threads wait on descheduled ones), and the clocks of a search are taken minutes apart: a winner predicted
at 1.91 s per generation from clocks taken under a burst of load measured 0.07 s later, and methods clocked at
different moments were compared by the moment, not by their cost. So every clocked time is divided by the
yardstick of its own round (the uncached generation, timed beside it), and the cost model predicts in those
units; the winner is then timed in `repeats` rounds of the same two generations (the uncached one and the
winner's), its measured time is the median of its rounds' ratios, and all predictions and that measurement are
converted to seconds at the median uncached generation of those rounds. Its predicted and measured seconds thus
come from the same rounds, and the uncached reference time is warm (the reference generation itself is the
model's first call, cold).
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import logging
import math
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from .api import compile as compile_cached
from .api import compiled_graphs, reset
from .errors import ConfigError
from .measure import psnr, rel_l2
from .methods import CALIBRATORS, METHODS, Method, method_named, method_of, to_cache_config
from .methods.plugin import MethodPlugin, TuneSeen, TuneSpace
from .quality import lpips_distance, lpips_module, ssim
from .runtime.clock import clock_variants, sync_outputs
from .runtime.registry import live_graphs

logger = logging.getLogger(__name__)

# NOTE [Checking the winner's clocks]
# A method's pieces are clocked once, when its first candidate runs them; a burst of load during those rounds
# (the uncached yardstick slowed, the clocked pass not, or the reverse) leaves its units wrong by several times for
# the rest of the search: in the first bench --tune run of 2026-12-08 a composition clocked during a burst was
# predicted at 0.06 s and measured 0.75 s, and won over a faster TeaCache. So the winner's measurement checks its
# clocks: outside CHECK_BAND its method is clocked again (old clocks of those pieces dropped) and the winner chosen
# again, at most MAX_RECLOCKS times and once per method, each said in `result.notes`. A method whose clocks were too
# *slow* is not caught (it never wins); the bound is the winner's, which is what the user runs.
CHECK_BAND = 1.25
MAX_RECLOCKS = 3


@dataclass(frozen=True)
class Metric:
    """One budget metric: its function of (output, reference), which way is better, its best value."""

    measure: Callable[[torch.Tensor, torch.Tensor], float]
    higher_is_better: bool
    text: str  # what its bound means, with an example
    best: float | None = None  # a floor above it can never be met (SSIM's 1)
    check: Callable[[], Any] | None = None  # raises ConfigError where it cannot run here (a missing package)


METRICS: dict[str, Metric] = {
    "psnr": Metric(psnr, True, "the lowest PSNR in dB against the uncached output (peak: the reference's range), "
                               "e.g. 35"),
    "ssim": Metric(ssim, True, "the lowest mean SSIM (gaussian window 11, sigma 1.5) against the uncached output, "
                               "at most 1, e.g. 0.95", best=1.0),
    "rel_l2": Metric(rel_l2, False, "the highest relative L2 error ||out - ref|| / ||ref||, e.g. 0.05"),
    "lpips": Metric(lpips_distance, False, "the highest LPIPS (AlexNet) on RGB images, e.g. 0.1; needs "
                                           "pip install lpips", check=lpips_module),
}
ALWAYS = ("psnr", "rel_l2")  # measured for every candidate besides the budget's own metrics


@dataclass(frozen=True)
class Budget:
    """Floors on the quality against the uncached output: every named metric must hold."""

    bounds: tuple[tuple[str, float], ...]

    def met(self, quality: dict[str, float]) -> bool:
        return all(quality[name] >= bound if METRICS[name].higher_is_better else quality[name] <= bound
                   for name, bound in self.bounds)

    def describe(self) -> str:
        return ", ".join(f"{name} {'>=' if METRICS[name].higher_is_better else '<='} {bound:g}"
                         for name, bound in self.bounds)

    def metrics(self) -> tuple[str, ...]:
        """The metrics every candidate is measured by: PSNR, relative L2 and the budget's own."""
        return tuple(dict.fromkeys([*ALWAYS, *(name for name, _ in self.bounds)]))


def parse_budget(budget: Any) -> Budget:
    """A ConfigError naming the fix for anything but a non-empty {metric: bound} of known metrics and finite
    bounds that can be met (a PSNR floor > 0, an SSIM floor in (0, 1], a relative L2 or LPIPS ceiling >= 0), and
    for a metric that cannot run here (LPIPS without its package)."""
    known = "; ".join(f"{name!r}: {metric.text}" for name, metric in METRICS.items())
    if not isinstance(budget, dict) or not budget:
        raise ConfigError(f"tune's budget={budget!r} must be a non-empty dict of metric -> bound, e.g. "
                          f"{{'psnr': 35.0}}; metrics: {known}.")
    bounds = []
    for name, bound in budget.items():
        if name not in METRICS:
            raise ConfigError(f"tune's budget names {name!r}, an unknown metric; use {known}.")
        metric = METRICS[name]
        if isinstance(bound, bool) or not isinstance(bound, (int, float)) or not math.isfinite(bound):
            raise ConfigError(f"tune's budget {name!r}={bound!r} must be a finite number: {metric.text}.")
        too_high = metric.best is not None and bound > metric.best
        if bound < 0 or (metric.higher_is_better and bound == 0) or too_high:
            raise ConfigError(f"tune's budget {name!r}={bound!r} can never bind: give {metric.text}.")
        if metric.check is not None:
            metric.check()
        bounds.append((name, float(bound)))
    return Budget(tuple(bounds))


@dataclass(frozen=True)
class Candidate:
    """One evaluated cache config: its quality on the tuning inputs, its reuse and its predicted time."""

    method: str
    config: Any  # the method's config, or [it, a calibrator's config] (a composition)
    quality: dict[str, float]
    met: bool
    calls: int  # model calls of its generation
    reused_calls: int  # calls that reused something
    pieces: tuple[str, ...]  # the compiled pieces its generation ran, in order
    predicted_seconds: float = math.nan  # from the clocks at the end of the search, for every candidate alike
    measured_seconds: float | None = None  # the winner's only (NOTE [The tuner's cost model])
    calibrator: str | None = None  # the composed calibrator's registry name (methods.CALIBRATORS), if any

    @property
    def label(self) -> str:
        """The method, with its calibrator: what its clocks are kept under."""
        return self.method if self.calibrator is None else f"{self.method}+{self.calibrator}"

    def row(self) -> dict[str, Any]:
        configs = self.config if isinstance(self.config, list) else [self.config]
        return {"method": self.method, "calibrator": self.calibrator, "config": _describe(self.config),
                "fields": _fields(configs[0]), "calibrator_fields": _fields(configs[1]) if len(configs) > 1 else None,
                "quality": self.quality, "met": self.met, "calls": self.calls,
                "reused_calls": self.reused_calls, "predicted_s": self.predicted_seconds,
                "measured_s": self.measured_seconds}


@dataclass(frozen=True)
class TuneResult:
    """What `tune` found: `config` (None when no candidate met the budget) and every candidate it evaluated."""

    config: Any
    method: str | None
    budget: Budget
    table: tuple[Candidate, ...]
    reference_seconds: float  # one warm uncached generation: the median of the winner's rounds (NOTE [Times in
    # units of the uncached generation]); without a winner, of the clocks' rounds
    predicted_seconds: float | None  # the winner's
    measured_seconds: float | None  # the winner's, compiled afresh: the median over `repeats` rounds of its warm
    # generation over the round's uncached one, in seconds at reference_seconds
    quality: dict[str, float] | None  # the winner's, re-run fresh
    generations: int  # every call of `generate` the tuning made
    notes: tuple[str, ...] = ()  # methods left out, and why

    def save(self, path: str) -> None:
        data = {"budget": dict(self.budget.bounds), "method": self.method,
                "config": self.table_row_of_winner(), "reference_s": self.reference_seconds,
                "predicted_s": self.predicted_seconds, "measured_s": self.measured_seconds, "quality": self.quality,
                "generations": self.generations, "notes": list(self.notes), "table": [c.row() for c in self.table]}
        with open(path, "w") as f:
            json.dump(data, f, indent=2, default=str)

    def plot(self, path: str) -> str:
        """Every candidate's predicted seconds against its quality on the budget's first metric, one colour per
        method, the budget's bound as a line and the winner ringed; needs matplotlib (the `bench` extra)."""
        try:
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError as err:
            raise ConfigError("TuneResult.plot needs matplotlib: pip install matplotlib (or pip install "
                              "'cachepass[bench]'); result.save(path) writes the same table as JSON.") from err
        name, bound = self.budget.bounds[0]
        fig, ax = plt.subplots(figsize=(7, 4.5))
        for label in dict.fromkeys(c.label for c in self.table):
            rows = [c for c in self.table if c.label == label]
            ax.scatter([c.quality[name] for c in rows], [c.predicted_seconds for c in rows], label=label)
        winner = next((c for c in self.table if c.config is self.config), None) if self.config is not None else None
        if winner is not None:
            ax.scatter([winner.quality[name]], [winner.predicted_seconds], s=240, facecolors="none",
                       edgecolors="black", label=f"winner ({winner.label})")
        ax.axvline(bound, color="grey", linestyle="--", label=f"budget: {name} {bound:g}")
        ax.axhline(self.reference_seconds, color="grey", linestyle=":", label="uncached reference")
        ax.set_xlabel(f"{name} against the uncached output (worst over the inputs)")
        ax.set_ylabel("predicted s per generation")
        ax.set_title(f"cachepass tune: {len(self.table)} candidates, {self.generations} generations")
        ax.legend(fontsize="small")
        fig.tight_layout()
        fig.savefig(path)
        plt.close(fig)
        return path

    def table_row_of_winner(self) -> dict[str, Any] | None:
        return next((c.row() for c in self.table if c.config is self.config), None) if self.config else None

    def summary(self) -> str:
        if self.config is None:
            return (f"no candidate met {self.budget.describe()} in {self.generations} generations: loosen the "
                    f"budget, or compile without a cache config.")
        return (f"{_describe(self.config)} meets {self.budget.describe()}: predicted {self.predicted_seconds:.3g} s, "
                f"measured {self.measured_seconds:.3g} s per generation (uncached reference {self.reference_seconds:.3g} "
                f"s), {self.generations} generations to tune")


def tune(generate: Callable[..., torch.Tensor], budget: dict[str, float], methods: Sequence[str] | None = None, *,
         model: torch.nn.Module, prompts: Sequence[Any] | None = None, options: dict[str, Any] | None = None,
         search: str = "bisect", repeats: int = 3, timing_runs: int = 2, progress: bool = False,
         compose: bool = True, bases: Mapping[str, Any] | None = None, **compile_kwargs: Any) -> TuneResult:
    """The fastest cache config of `methods` (default: every registered method with a search space) whose
    `generate(compiled model)` stays within `budget` of `generate(model)` uncached.

    - `budget`: {"psnr": dB floor}, {"ssim": floor <= 1}, {"rel_l2": ceiling}, {"lpips": ceiling} (needs the
      `lpips` package), any of them together, against the uncached output;
    - `prompts`: several inputs: `generate(model, prompt)` for each, a reference each, and the budget must hold
      for every one (the worst decides); times are per generation (a pass over the prompts, divided by them);
    - `options`: the backend's other options for every candidate (e.g. {"compiler": "eager"});
    - `search`: "bisect" (the knob bisected in each setting of the crossed fields: few generations, NOTE [How many
      generations a search takes]) or "grid" (every candidate);
    - `repeats`: rounds timing the winner, `timing_runs`: rounds clocking a method's variants, each round a warm
      uncached generation beside the candidate's (NOTE [Times in units of the uncached generation]);
    - `progress`: one line per candidate on stderr, with the best plan so far (the same lines are logged at INFO);
    - `compose`: also search each stack skip with each calibrator (`[config, calibrator]`, the same knob;
      methods/__init__.py NOTE [What composes]); the winner is then possibly a list, usable as options["cache"];
    - `bases`: {method name: its config} (cachepass's or diffusers'), the config a method's search varies: its knob
      and crossed fields are replaced, every other field kept (e.g. module names where a method's defaults miss the
      model's, a signal measured on real weights). A base is used as given: the method's calibration run (where its
      space has one) is skipped;
    - `compile_kwargs`: to `cachepass.compile` (`fullgraph`, `dynamic`, ...).

    A method named in `methods` that cannot be tuned on this model is a ConfigError; with `methods=None` it is
    left out with a note in the result (and a warning).

    A budget met on the tuning inputs is a calibration, not a guarantee for other inputs (docs/tune.md).
    """
    checked = parse_budget(budget)
    if search not in ("bisect", "grid"):
        raise ConfigError(f"tune's search={search!r} must be 'bisect' or 'grid'.")
    for name, value in (("repeats", repeats), ("timing_runs", timing_runs)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"tune's {name}={value!r} must be an int >= 1.")
    chosen = tunable_methods(methods)
    given = checked_bases(bases, chosen)
    session = _Session(generate, model, checked, _inputs(prompts), dict(options or {}), compile_kwargs, timing_runs,
                       progress)
    seen = session.reference_run()
    for method in chosen:
        try:
            space = session.calibrate(method, _space(method, seen, given.get(method.name)))
            for calibrator in (None, *(CALIBRATORS if compose and method.plugin.calibrated_skip else ())):
                if not session.search(method, space, search, calibrator):
                    break  # it cached nothing in this model: composed, it would cache nothing either
        except _GenerateError:
            raise
        except ConfigError as err:
            if methods is not None:
                raise
            session.notes.append(f"{method.name}: left out: {err}")
            logger.warning("cachepass tune: %s left out: %s", method.name, err)
    return session.result(repeats)


def _inputs(prompts: Sequence[Any] | None) -> tuple[tuple[Any, ...], ...]:
    """generate's arguments after the model, one tuple per generation of a pass: ((),) without prompts."""
    if prompts is None:
        return ((),)
    if isinstance(prompts, (str, bytes)) or not isinstance(prompts, Sequence) or not prompts:
        raise ConfigError(f"tune's prompts={prompts!r} must be a non-empty list (generate(model, prompt) is called "
                          f"with each), or None for generate(model).")
    return tuple((prompt,) for prompt in prompts)


def tunable_methods(methods: Sequence[str] | None) -> list[Method]:
    """The requested methods (registry names), each with a search space; ConfigError names the choices."""
    tunable = [m for m in METHODS if type(m.plugin).tune_space is not MethodPlugin.tune_space]
    names = ", ".join(m.name for m in tunable)
    if methods is None:
        return tunable
    if isinstance(methods, str) or not methods:
        raise ConfigError(f"tune's methods={methods!r} must be a non-empty sequence of method names from: {names}.")
    chosen = [method_named(name) for name in methods]  # ConfigError for an unknown name
    for method in chosen:
        if method not in tunable:
            raise ConfigError(f"method {method.name!r} gives tune no search space yet; choose from: {names}.")
    return chosen


def checked_bases(bases: Mapping[str, Any] | None, chosen: Sequence[Method]) -> dict[str, Any]:
    """tune's `bases` as {method name: cachepass config}: each named method tuned, each config that method's
    (diffusers' converted through the registry); a ConfigError names the problem before any generation."""
    if bases is None:
        return {}
    if not isinstance(bases, Mapping):
        raise ConfigError(f"tune's bases={bases!r} must be a dict {{method name: its config}}, e.g. "
                          f"{{'<method name>': <its config, diffusers' or cachepass's>}}.")
    names = [m.name for m in chosen]
    given = {}
    for name, config in bases.items():
        if name not in names:
            raise ConfigError(f"tune's bases names {name!r}, not a method this tuning searches ({', '.join(names)}); "
                              f"add it to methods or drop its base.")
        if isinstance(config, (list, tuple)):
            raise ConfigError(f"tune's bases[{name!r}] is a list: a base is one method's config (compositions with "
                              f"a calibrator are searched by compose=True).")
        converted = to_cache_config(config)  # ConfigError for what is no cache config
        if method_of(converted).name != name:
            raise ConfigError(f"tune's bases[{name!r}] is a {type(config).__name__}, {method_of(converted).title}'s "
                              f"config; give {name!r} a config of its own method.")
        given[name] = converted
    return given


def _space(method: Method, seen: TuneSeen, base: Any = None) -> TuneSpace:
    """The method's search space; around the user's `base` where given (it replaces the plug-in's base and any
    calibration run)."""
    space = method.plugin.tune_space(seen)
    if space is None or not space.values:
        raise ConfigError(f"method {method.name!r} has no search space for this model (its generation showed "
                          f"{seen.calls} calls, timesteps {'seen' if seen.timesteps else 'not passed'}); drop it from "
                          f"methods.")
    return space if base is None else dataclasses.replace(space, base=base, calibrate=None)


def _fields(config: Any) -> dict[str, Any]:
    if not dataclasses.is_dataclass(config):
        return {}
    return {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}


class _GenerateError(ConfigError):
    """The user's `generate` misused (it ignores its model, returns no tensor): never a method's problem."""


class _CachesNothing(Exception):
    """A candidate's compiled model cached nothing (the method found nothing to cache in it)."""


@dataclass
class _Session:
    """One tuning: the reference, the clocks and every candidate so far."""

    generate: Callable[..., torch.Tensor]
    model: torch.nn.Module
    budget: Budget
    inputs: tuple[tuple[Any, ...], ...]  # generate's arguments after the model, one per generation of a pass
    options: dict[str, Any]
    compile_kwargs: dict[str, Any]
    timing_runs: int
    progress: bool
    references: list[torch.Tensor] = field(default_factory=list)  # one per input
    reference_seconds: float = 0.0  # the reference pass, cold (the model's first calls)
    generations: int = 0
    table: list[Candidate] = field(default_factory=list)
    # Clocked times in units of their round's uncached pass (NOTE [Times in units of the uncached generation]):
    piece_units: dict[tuple[str, str], list[float]] = field(default_factory=dict)  # (label, variant) -> calls
    overhead: dict[str, list[float]] = field(default_factory=dict)  # label -> per-piece overhead of each round
    uncached_seconds: list[float] = field(default_factory=list)  # every round's uncached pass
    notes: list[str] = field(default_factory=list)  # what the result should say besides its table

    # -- generations ---------------------------------------------------------------------------
    def run(self, model: Any) -> tuple[list[torch.Tensor], float]:
        """(generate's outputs, their wall time): one pass, a generation per input, each counted."""
        start = time.perf_counter()
        outputs = [self.run_one(model, args) for args in self.inputs]
        return outputs, time.perf_counter() - start

    def run_one(self, model: Any, args: tuple[Any, ...]) -> torch.Tensor:
        self.generations += 1
        output = self.generate(model, *args)
        sync_outputs(output)
        if not isinstance(output, torch.Tensor):
            raise _GenerateError(f"tune's generate returned {type(output).__name__}; return the tensor to judge (the "
                                 f"image, video or latent), e.g. pipe(..., output_type='pt').images or the final "
                                 f"latent.")
        return output.detach()

    def per_generation(self, seconds: float) -> float:
        """A pass's seconds per generation (a pass runs one per input)."""
        return seconds / len(self.inputs)

    def quality(self, outputs: list[torch.Tensor]) -> dict[str, float]:
        """Each metric's worst over the inputs, against their references."""
        quality = {}
        for name in self.budget.metrics():
            metric = METRICS[name]
            values = [metric.measure(out, ref) for out, ref in zip(outputs, self.references, strict=True)]
            quality[name] = min(values) if metric.higher_is_better else max(values)
        return quality

    def reference_run(self) -> TuneSeen:
        """The uncached reference, watched (calls, timesteps); then one run whose model output is nudged: a
        `generate` whose output does not change with it does not judge the model it is given."""
        seen_calls: list[float | None] = []

        def watch(module: Any, args: Any, kwargs: dict[str, Any], output: Any) -> None:
            seen_calls.append(_first_float(kwargs.get("timestep")))

        handle = self.model.register_forward_hook(watch, with_kwargs=True)
        try:
            start = time.perf_counter()
            self.references = [self.run_one(self.model, self.inputs[0])]
            first_calls = len(seen_calls)  # the search space is sized from one generation
            self.references += [self.run_one(self.model, args) for args in self.inputs[1:]]
            self.reference_seconds = self.per_generation(time.perf_counter() - start)
        finally:
            handle.remove()
        if not seen_calls:
            raise _GenerateError("tune's generate never called the model it was given: call generate(model)'s "
                                 "`model` (e.g. pipe.transformer = model before the pipeline call), not a global one.")
        forms: list[bool] = []

        def nudge(module: Any, args: Any, output: Any) -> Any:
            changed = _nudged(output)
            forms.append(changed is not None)
            return changed

        handle = self.model.register_forward_hook(nudge)
        try:
            nudged, _ = self.run(self.model)
        finally:
            handle.remove()
        if all(forms) and any(torch.equal(n, r) for n, r in zip(nudged, self.references, strict=True)):
            raise _GenerateError("tune's generate returns the same output whatever the model computes: return "
                                 "what the model given to generate produced (e.g. the final latent or image), from a fixed seed.")
        self.quality(self.references)  # a metric that cannot judge these outputs fails here, before any candidate
        seen_calls = seen_calls[:first_calls]
        timesteps = tuple(t for t in seen_calls if t is not None)
        return TuneSeen(len(seen_calls), timesteps if len(timesteps) == len(seen_calls) else (),
                        tuple(name for name, _ in self.model.named_modules() if name))

    def compiled(self, config: Any) -> Any:
        """A fresh compile of the model with `config`: Dynamo's caches are dropped first, so that candidates never
        pile up against its recompile limit (past it the model would silently run uncached)."""
        torch._dynamo.reset()
        reset(self.model)
        return compile_cached(self.model, cache=config, options=self.options, **self.compile_kwargs)

    def cached_run(self, compiled: Any) -> tuple[list[torch.Tensor], list[Any], list[Any]]:
        """(outputs, the cachepass graphs that ran, their step records): one generation with `compiled`; no records
        when the method cached nothing in this model (the backend warned why)."""
        first = max((g.serial for g in live_graphs()), default=-1)
        reset(self.model)
        outputs, _ = self.run(compiled)
        ran = [g for g in compiled_graphs(self.model) if g.serial > first]
        graphs = [g for g in ran if g.cached]
        records = [r for g in graphs for _, s in g.states() for r in s.history if r.graph == g.serial]
        if not ran:
            raise _GenerateError("tune's generate ran no cachepass graph with the compiled model it was given: "
                                 "call generate(model)'s `model` (the compiled one), not the original or a global one.")
        for graph in graphs:  # the generation ends here (a hand-written loop never says so)
            for _, state in graph.states():
                graph.before_reset(state)
        return outputs, graphs, records

    # -- the search --------------------------------------------------------------------------
    def calibrate(self, method: Method, space: TuneSpace) -> TuneSpace:
        """`space` with its base config, measured by one calibration run where the method needs one."""
        if space.base is not None:
            return space
        with contextlib.redirect_stdout(io.StringIO()):  # a method may print its calibration, as diffusers does
            _, graphs, _ = self.cached_run(self.compiled(space.calibrate))
        return dataclasses.replace(space, base=method.plugin.calibrated(space, graphs))

    def search(self, method: Method, space: TuneSpace, search: str, calibrator: Any = None) -> bool:
        """In each setting of the space's crossed fields, bisect the knob for the last value that meets the budget
        (quality falls along `values`), or evaluate every value (`grid`); with `calibrator` (a methods.CALIBRATORS
        entry) each candidate is composed with its default config. Every candidate is built (and validated) before
        any runs. A method that caches nothing in this model is dropped, with a note: False."""
        settings = space.configs()  # a ConfigError for a bad value before any generation of this method

        def met(config: Any) -> Candidate:
            composed = config if calibrator is None else [config, calibrator.config_type()]
            candidate = self.evaluate(method, composed, None if calibrator is None else calibrator.name)
            if candidate is None:
                raise _CachesNothing
            return candidate

        ends = []  # per setting whose last value (the most reuse) met the budget: did its reuse still grow there?
        try:
            for setting, configs in zip(space.settings(), settings):
                if search == "grid":
                    tried = {i: met(config) for i, config in enumerate(configs)}
                else:
                    tried = {}
                    low, high = -1, len(configs)  # configs[low] met the budget (-1: none yet), configs[high] did not
                    while high - low > 1:
                        middle = (low + high) // 2
                        tried[middle] = met(configs[middle])
                        low, high = (middle, high) if tried[middle].met else (low, middle)
                last = tried.get(len(configs) - 1)
                if last is not None and last.met:
                    ends.append((setting, _still_growing(tried, last)))
        except _CachesNothing:
            self.notes.append(f"{method.name}: cached nothing in this model (the backend's warning says why); "
                              f"left out")
            return False
        if ends:
            self.note_space_end(method, space, calibrator, ends)
        return True

    def note_space_end(self, method: Method, space: TuneSpace, calibrator: Any,
                       ends: list[tuple[Any, bool]]) -> None:
        """Say where a search stopped at the end of its space rather than at the budget: a config reusing more
        than the space's last value may meet the budget too (a model that changes little from step to step) --
        unless the reuse had stopped growing along the knob (another field binds), which is said instead."""
        label = method.name if calibrator is None else f"{method.name} + {calibrator.name}"

        def where(settings: list[Any]) -> str:
            return "" if settings == [()] else " (with " + "; ".join(", ".join(f"{k}={v}" for k, v in s)
                                                                     for s in settings) + ")"

        growing = [setting for setting, grows in ends if grows]
        bound = [setting for setting, grows in ends if not grows]
        notes = []
        if growing:
            notes.append(f"{label}: the space's last value, {space.field}={space.values[-1]}{where(growing)}, met the "
                         f"budget: a config reusing more may meet it too; tune it by hand beyond that value, or "
                         f"tighten the budget.")
        if bound:
            notes.append(f"{label}: the space's last value, {space.field}={space.values[-1]}{where(bound)}, met the "
                         f"budget reusing no more calls than a lower value did: {space.field} no longer binds there "
                         f"(another field limits the reuse).")
        for note in notes:
            self.notes.append(note)
            logger.warning("cachepass tune: %s", note)

    def evaluate(self, method: Method, config: Any, calibrator: str | None = None) -> Candidate | None:
        compiled = self.compiled(config)
        outputs, graphs, records = self.cached_run(compiled)
        if not records:
            return None
        quality = self.quality(outputs)
        pieces = [p for r in records for p in r.pieces]
        candidate = Candidate(method.name, config, quality, self.budget.met(quality), len(records),
                              sum(bool(r.reused) for r in records), tuple(pieces), calibrator=calibrator)
        label = candidate.label
        if any((label, p) not in self.piece_units for p in pieces) or label not in self.overhead:
            self.clock(label, compiled, graphs, pieces)
        self.table.append(candidate)
        self.report_progress(candidate)
        return candidate

    def report_progress(self, candidate: Candidate) -> None:
        """One line for the candidate just evaluated, with the best plan so far at the clocks so far."""
        met = [c for c in self.table if c.met]
        best = min(met, key=self.predict_units, default=None)
        so_far = "none met yet" if best is None else (
            f"{_describe(best.config)} ~{self.seconds(best, statistics.median(self.uncached_seconds)):.3g} s")
        line = (f"cachepass tune [{len(self.table)}, {self.generations} generations] {_describe(candidate.config)}: "
                f"{', '.join(f'{k} {v:.4g}' for k, v in candidate.quality.items())} "
                f"({'met' if candidate.met else 'missed'}); best so far: {so_far}")
        logger.info("%s", line)
        if self.progress:
            print(line, file=sys.stderr, flush=True)

    def rounds(self, compiled: Any, rounds: int, clocked: Callable[[], Any] = contextlib.nullcontext
               ) -> Iterator[tuple[float, float]]:
        """(uncached pass seconds, `compiled` pass seconds) of each of `rounds` rounds, yielded as each ends, which
        one goes first alternating; the compiled pass runs inside `clocked()`. Every uncached pass is kept as a
        yardstick."""
        for round_ in range(rounds):
            times = {}
            for which in (("uncached", "compiled") if round_ % 2 == 0 else ("compiled", "uncached")):
                if which == "uncached":
                    times[which] = self.run(self.model)[1]
                    continue
                reset(self.model)
                with clocked():
                    times[which] = self.run(compiled)[1]
            self.uncached_seconds.append(times["uncached"])
            yield times["uncached"], times["compiled"]

    def clock(self, label: str, compiled: Any, graphs: list[Any], pieces: list[str]) -> None:
        """`timing_runs` rounds, each a clocked generation of `compiled` beside an uncached one (NOTE [The tuner's
        cost model]). The per-piece overhead is each clocked generation's wall time less its own pieces' times."""
        calls: list[tuple[str, float]] = []
        for uncached, wall in self.rounds(compiled, self.timing_runs, lambda: clock_variants(
                graphs, lambda graph, name, s: calls.append((name, s)))):
            for name, seconds in calls:
                self.piece_units.setdefault((label, name), []).append(seconds / uncached)
            self.overhead.setdefault(label, []).append(
                (wall - sum(s for _, s in calls)) / len(pieces) / uncached)
            calls.clear()

    def reclock(self, winner: Candidate, compiled: Any, graphs: list[Any], off: float) -> None:
        """The winner measured `off` times its prediction: clock its method again (its pieces' and overhead's old
        clocks replaced, other pieces of the label kept) and say so (NOTE [Checking the winner's clocks])."""
        label = winner.label
        note = (f"{_describe(winner.config)}: measured {off:.2f}x its predicted time; {label}'s clocks were "
                f"taken again (the machine's load changed between clocking and measuring) and the winner chosen again")
        self.notes.append(note)
        logger.warning("cachepass tune: %s", note)
        for piece in set(winner.pieces):
            self.piece_units.pop((label, piece), None)
        self.overhead.pop(label, None)
        self.clock(label, compiled, graphs, list(winner.pieces))

    def predict_units(self, candidate: Candidate) -> float:
        """The candidate's pass in units of the uncached pass: its pieces' median times plus its overhead."""
        label = candidate.label
        return (sum(statistics.median(self.piece_units[(label, p)]) for p in candidate.pieces)
                + len(candidate.pieces) * statistics.median(self.overhead[label]))

    def seconds(self, candidate: Candidate, uncached: float) -> float:
        """The candidate's predicted seconds per generation where an uncached pass takes `uncached` seconds."""
        return self.per_generation(self.predict_units(candidate) * uncached)

    # -- the winner --------------------------------------------------------------------------
    def result(self, repeats: int) -> TuneResult:
        met = [c for c in self.table if c.met]
        if not met:
            uncached = statistics.median(self.uncached_seconds) if self.uncached_seconds else None
            self.table = [dataclasses.replace(c, predicted_seconds=self.seconds(c, uncached)) for c in self.table]
            logger.warning("cachepass tune: no candidate met %s; nothing to cache within it.", self.budget.describe())
            reference = self.per_generation(uncached) if uncached else self.reference_seconds
            return TuneResult(None, None, self.budget, tuple(self.table), reference, None, None, None,
                              self.generations, tuple(self.notes))
        reclocked: set[str] = set()
        while True:  # NOTE [Checking the winner's clocks]
            best = min(met, key=self.predict_units)
            compiled = self.compiled(best.config)
            outputs, graphs, _ = self.cached_run(compiled)  # compiles; its output is the winner's quality, fresh
            pairs = list(self.rounds(compiled, repeats))  # NOTE [Times in units of the uncached generation]
            # In the same units as the prediction: each round's winner over its own uncached pass (a ratio taken in
            # one round cancels the load of that round; median wall over median uncached would mix rounds).
            measured_units = statistics.median(w / u for u, w in pairs)
            off = measured_units / self.predict_units(best)
            if 1 / CHECK_BAND <= off <= CHECK_BAND or best.label in reclocked or len(reclocked) >= MAX_RECLOCKS:
                break
            self.reclock(best, compiled, graphs, off)
            reclocked.add(best.label)
        uncached = statistics.median(u for u, _ in pairs)
        self.table = [dataclasses.replace(c, predicted_seconds=self.seconds(c, uncached)) for c in self.table]
        measured = self.per_generation(measured_units * uncached)
        index = next(i for i, c in enumerate(self.table) if c.config is best.config)
        winner = self.table[index] = dataclasses.replace(self.table[index], measured_seconds=measured)
        quality = self.quality(outputs)
        return TuneResult(winner.config, winner.method, self.budget, tuple(self.table),
                          self.per_generation(uncached), winner.predicted_seconds, measured, quality,
                          self.generations, tuple(self.notes))


def _still_growing(tried: dict[int, Candidate], last: Candidate) -> bool:
    """Whether the last value reused more calls than every lower value tried that met the budget (True where none
    was: the search cannot tell)."""
    lower = [c for c in tried.values() if c is not last and c.met]
    return all(c.reused_calls < last.reused_calls for c in lower)


def _describe(config: Any) -> str:
    if isinstance(config, list):
        return " + ".join(map(_describe, config))
    describe = getattr(config, "describe", None)
    return describe() if describe else repr(config)


def _first_float(value: Any) -> float | None:
    if isinstance(value, torch.Tensor) and value.numel():
        return float(value.reshape(-1)[0])
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return None


def _nudged(output: Any) -> Any:
    """The model's output with its (first) tensor changed by 5%: None where the output's form is unknown."""
    if isinstance(output, torch.Tensor):
        return output * 1.05 + 1e-3
    if isinstance(output, (tuple, list)) and output and isinstance(output[0], torch.Tensor):
        return type(output)([_nudged(output[0]), *output[1:]])
    return None
