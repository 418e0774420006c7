"""`cachepass.tune`: the fastest cache config that keeps a quality budget, found with few generations.

    result = cachepass.tune(generate, {"psnr": 35.0}, model=transformer)
    compiled = cachepass.compile(transformer, cache=result.config)

`generate(model)` is the user's own generation with a fixed seed, given the model to use, returning the tensor
to judge. The tuner runs it once uncached (the reference the budget is measured against), then, for each
method whose plug-in gives a search space (`MethodPlugin.tune_space`: one knob along which a generation reuses
more and its quality falls), bisects the knob for the most reuse that meets the budget. Method-neutral: the
methods and their knobs come from the registry and the plug-ins.

# NOTE [The tuner's cost model]
Candidates are not timed one by one (a timing needs warm repeats): a candidate's generation time is predicted
as the sum, over the model calls its own generation made (the runtime's step records), of the compiled pieces
each call ran, each at its median time measured in the loop, plus one per-piece overhead per method (the
generation's wall time minus its pieces at their median times, over its pieces: the user's loop, Dynamo's guards,
the cachepass runtime, and on a busy machine the interruptions a whole generation meets). The first candidate that runs a piece not yet clocked pays `timing_runs` warm generations
with every variant clocked; later candidates of the method reuse those times. The winner is then compiled afresh
and timed (`repeats` warm generations, the median): both its prediction and its measurement are in the result.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import logging
import math
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from .api import compile as compile_cached
from .api import compiled_graphs, reset
from .errors import ConfigError
from .measure import psnr, rel_l2
from .methods import METHODS, Method, method_named
from .methods.plugin import MethodPlugin, TuneSeen, TuneSpace
from .runtime.clock import clock_variants, sync_outputs
from .runtime.registry import live_graphs

logger = logging.getLogger(__name__)

# Each budget metric: (its function of (output, reference), whether higher is better, what it means).
METRICS: dict[str, tuple[Callable[[torch.Tensor, torch.Tensor], float], bool, str]] = {
    "psnr": (psnr, True, "the lowest PSNR in dB against the uncached output (peak: the reference's range), e.g. 35"),
    "rel_l2": (rel_l2, False, "the highest relative L2 error ||out - ref|| / ||ref||, e.g. 0.05"),
}


@dataclass(frozen=True)
class Budget:
    """Floors on the quality against the uncached output: every named metric must hold."""

    bounds: tuple[tuple[str, float], ...]

    def met(self, quality: dict[str, float]) -> bool:
        return all(quality[name] >= bound if METRICS[name][1] else quality[name] <= bound for name, bound in self.bounds)

    def describe(self) -> str:
        return ", ".join(f"{name} {'>=' if METRICS[name][1] else '<='} {bound:g}" for name, bound in self.bounds)


def parse_budget(budget: Any) -> Budget:
    """A ConfigError naming the fix for anything but a non-empty {metric: bound} of known metrics and finite
    bounds that can be met (a PSNR floor > 0, a relative L2 ceiling >= 0)."""
    known = "; ".join(f"{name!r}: {text}" for name, (_, _, text) in METRICS.items())
    if not isinstance(budget, dict) or not budget:
        raise ConfigError(f"tune's budget={budget!r} must be a non-empty dict of metric -> bound, e.g. "
                          f"{{'psnr': 35.0}}; metrics: {known}.")
    bounds = []
    for name, bound in budget.items():
        if name not in METRICS:
            raise ConfigError(f"tune's budget names {name!r}, an unknown metric; use {known}.")
        if isinstance(bound, bool) or not isinstance(bound, (int, float)) or not math.isfinite(bound):
            raise ConfigError(f"tune's budget {name!r}={bound!r} must be a finite number: {METRICS[name][2]}.")
        if bound < 0 or (METRICS[name][1] and bound == 0):
            raise ConfigError(f"tune's budget {name!r}={bound!r} can never bind: give {METRICS[name][2]}.")
        bounds.append((name, float(bound)))
    return Budget(tuple(bounds))


@dataclass(frozen=True)
class Candidate:
    """One evaluated cache config: its quality on the tuning inputs, its reuse and its predicted time."""

    method: str
    config: Any
    quality: dict[str, float]
    met: bool
    calls: int  # model calls of its generation
    reused_calls: int  # calls that reused something
    pieces: tuple[str, ...]  # the compiled pieces its generation ran, in order
    predicted_seconds: float = math.nan  # from the clocks at the end of the search, for every candidate alike
    measured_seconds: float | None = None  # the winner's only (NOTE [The tuner's cost model])

    def row(self) -> dict[str, Any]:
        describe = getattr(self.config, "describe", None)
        return {"method": self.method, "config": describe() if describe else repr(self.config),
                "fields": _fields(self.config), "quality": self.quality, "met": self.met, "calls": self.calls,
                "reused_calls": self.reused_calls, "predicted_s": self.predicted_seconds,
                "measured_s": self.measured_seconds}


@dataclass(frozen=True)
class TuneResult:
    """What `tune` found: `config` (None when no candidate met the budget) and every candidate it evaluated."""

    config: Any
    method: str | None
    budget: Budget
    table: tuple[Candidate, ...]
    reference_seconds: float  # one uncached generation (the reference), as the user's `generate` ran it
    predicted_seconds: float | None  # the winner's
    measured_seconds: float | None  # the winner's, compiled afresh: the median of `repeats` warm generations
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

    def table_row_of_winner(self) -> dict[str, Any] | None:
        return next((c.row() for c in self.table if c.config is self.config), None) if self.config else None

    def summary(self) -> str:
        if self.config is None:
            return (f"no candidate met {self.budget.describe()} in {self.generations} generations: loosen the "
                    f"budget, or compile without a cache config.")
        return (f"{self.config.describe()} meets {self.budget.describe()}: predicted {self.predicted_seconds:.3g} s, "
                f"measured {self.measured_seconds:.3g} s per generation (uncached reference {self.reference_seconds:.3g} "
                f"s), {self.generations} generations to tune")


def tune(generate: Callable[[Any], torch.Tensor], budget: dict[str, float], methods: Sequence[str] | None = None, *,
         model: torch.nn.Module, options: dict[str, Any] | None = None, search: str = "bisect", repeats: int = 3,
         timing_runs: int = 2, **compile_kwargs: Any) -> TuneResult:
    """The fastest cache config of `methods` (default: every registered method with a search space) whose
    `generate(compiled model)` stays within `budget` of `generate(model)` uncached.

    - `budget`: {"psnr": dB floor} and / or {"rel_l2": ceiling}, against the uncached output;
    - `options`: the backend's other options for every candidate (e.g. {"compiler": "eager"});
    - `search`: "bisect" (a knob's candidates bisected: few generations) or "grid" (every candidate);
    - `repeats`: warm generations timing the winner; `timing_runs`: warm generations clocking a method's variants;
    - `compile_kwargs`: to `cachepass.compile` (`fullgraph`, `dynamic`, ...).

    A budget met on the tuning inputs is a calibration, not a guarantee for other inputs (docs/tune.md).
    """
    checked = parse_budget(budget)
    if search not in ("bisect", "grid"):
        raise ConfigError(f"tune's search={search!r} must be 'bisect' or 'grid'.")
    for name, value in (("repeats", repeats), ("timing_runs", timing_runs)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"tune's {name}={value!r} must be an int >= 1.")
    chosen = _methods(methods)
    session = _Session(generate, model, checked, dict(options or {}), compile_kwargs, timing_runs)
    seen = session.reference_run()
    spaces = [(method, _space(method, seen)) for method in chosen]
    for method, space in spaces:
        session.search(method, session.calibrate(method, space), search)
    return session.result(repeats)


def _methods(methods: Sequence[str] | None) -> list[Method]:
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


def _space(method: Method, seen: TuneSeen) -> TuneSpace:
    space = method.plugin.tune_space(seen)
    if space is None or not space.values:
        raise ConfigError(f"method {method.name!r} has no search space for this model (its generation showed "
                          f"{seen.calls} calls, timesteps {'seen' if seen.timesteps else 'not passed'}); drop it from "
                          f"methods.")
    return space


def _fields(config: Any) -> dict[str, Any]:
    if not dataclasses.is_dataclass(config):
        return {}
    return {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}


class _CachesNothing(Exception):
    """A candidate's compiled model cached nothing (the method found nothing to cache in it)."""


@dataclass
class _Session:
    """One tuning: the reference, the clocks and every candidate so far."""

    generate: Callable[[Any], torch.Tensor]
    model: torch.nn.Module
    budget: Budget
    options: dict[str, Any]
    compile_kwargs: dict[str, Any]
    timing_runs: int
    reference: torch.Tensor | None = None
    reference_seconds: float = 0.0
    generations: int = 0
    table: list[Candidate] = field(default_factory=list)
    piece_seconds: dict[tuple[str, str], list[float]] = field(default_factory=dict)  # (method, variant) -> calls
    overhead: dict[str, list[float]] = field(default_factory=dict)  # method -> per-piece overhead of each timed run
    notes: list[str] = field(default_factory=list)  # what the result should say besides its table

    # -- generations ---------------------------------------------------------------------------
    def run(self, model: Any) -> tuple[torch.Tensor, float]:
        """(generate's output, its wall time): one generation, counted."""
        self.generations += 1
        start = time.perf_counter()
        output = self.generate(model)
        sync_outputs(output)
        seconds = time.perf_counter() - start
        if not isinstance(output, torch.Tensor):
            raise ConfigError(f"tune's generate returned {type(output).__name__}; return the tensor to judge (the "
                              f"image, video or latent), e.g. pipe(..., output_type='pt').images or the final latent.")
        return output.detach(), seconds

    def reference_run(self) -> TuneSeen:
        """The uncached reference, watched (calls, timesteps); then one run whose model output is nudged: a
        `generate` whose output does not change with it does not judge the model it is given."""
        seen_calls: list[float | None] = []

        def watch(module: Any, args: Any, kwargs: dict[str, Any], output: Any) -> None:
            seen_calls.append(_first_float(kwargs.get("timestep")))

        handle = self.model.register_forward_hook(watch, with_kwargs=True)
        try:
            self.reference, self.reference_seconds = self.run(self.model)
        finally:
            handle.remove()
        if not seen_calls:
            raise ConfigError("tune's generate never called the model it was given: call generate(model)'s `model` "
                              "(e.g. pipe.transformer = model before the pipeline call), not a global one.")
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
        if all(forms) and torch.equal(nudged, self.reference):  # an output form we cannot nudge: not checked
            raise ConfigError("tune's generate returns the same output whatever the model computes: return what the "
                              "model given to generate produced (e.g. the final latent or image), from a fixed seed.")
        timesteps = tuple(t for t in seen_calls if t is not None)
        return TuneSeen(len(seen_calls), timesteps if len(timesteps) == len(seen_calls) else ())

    def compiled(self, config: Any) -> Any:
        """A fresh compile of the model with `config`: Dynamo's caches are dropped first, so that candidates never
        pile up against its recompile limit (past it the model would silently run uncached)."""
        torch._dynamo.reset()
        reset(self.model)
        return compile_cached(self.model, cache=config, options=self.options, **self.compile_kwargs)

    def cached_run(self, compiled: Any) -> tuple[torch.Tensor, list[Any], list[Any]]:
        """(output, the cachepass graphs that ran, their step records): one generation with `compiled`; no records
        when the method cached nothing in this model (the backend warned why)."""
        first = max((g.serial for g in live_graphs()), default=-1)
        reset(self.model)
        output, _ = self.run(compiled)
        ran = [g for g in compiled_graphs(self.model) if g.serial > first]
        graphs = [g for g in ran if g.cached]
        records = [r for g in graphs for _, s in g.states() for r in s.history if r.graph == g.serial]
        if not ran:
            raise ConfigError("tune's generate ran no cachepass graph with the compiled model it was given: call "
                              "generate(model)'s `model` (the compiled one), not the original or a global one.")
        for graph in graphs:  # the generation ends here (a hand-written loop never says so)
            for _, state in graph.states():
                graph.before_reset(state)
        return output, graphs, records

    # -- the search --------------------------------------------------------------------------
    def calibrate(self, method: Method, space: TuneSpace) -> TuneSpace:
        """`space` with its base config, measured by one calibration run where the method needs one."""
        if space.base is not None:
            return space
        with contextlib.redirect_stdout(io.StringIO()):  # a method may print its calibration, as diffusers does
            _, graphs, _ = self.cached_run(self.compiled(space.calibrate))
        return dataclasses.replace(space, base=method.plugin.calibrated(space, graphs))

    def search(self, method: Method, space: TuneSpace, search: str) -> None:
        """Bisect the knob for the last value that meets the budget (quality falls along `values`), or evaluate
        every value (`grid`). A method that caches nothing in this model is dropped, with a note."""

        def met(index: int) -> bool:
            candidate = self.evaluate(method, dataclasses.replace(space.base, **{space.field: space.values[index]}))
            if candidate is None:
                raise _CachesNothing
            return candidate.met

        try:
            if search == "grid":
                for index in range(len(space.values)):
                    met(index)
                return
            low, high = -1, len(space.values)  # values[low] met the budget (-1: none yet), values[high] did not
            while high - low > 1:
                middle = (low + high) // 2
                low, high = (middle, high) if met(middle) else (low, middle)
        except _CachesNothing:
            self.notes.append(f"{method.name}: cached nothing in this model (the backend's warning says why); "
                              f"left out")

    def evaluate(self, method: Method, config: Any) -> Candidate | None:
        compiled = self.compiled(config)
        output, graphs, records = self.cached_run(compiled)
        if not records:
            return None
        quality = {name: METRICS[name][0](output, self.reference) for name in METRICS}
        pieces = [p for r in records for p in r.pieces]
        if any((method.name, p) not in self.piece_seconds for p in pieces) or method.name not in self.overhead:
            self.clock(method, compiled, graphs, pieces)
        candidate = Candidate(method.name, config, quality, self.budget.met(quality), len(records),
                              sum(bool(r.reused) for r in records), tuple(pieces))
        self.table.append(candidate)
        logger.info("cachepass tune: %s -> %s (%s)", getattr(config, "describe", config.__repr__)(),
                    ", ".join(f"{k} {v:.4g}" for k, v in quality.items()), "met" if candidate.met else "missed")
        return candidate

    def clock(self, method: Method, compiled: Any, graphs: list[Any], pieces: list[str]) -> None:
        """`timing_runs` warm generations with every variant clocked (NOTE [The tuner's cost model]). The per-piece
        overhead is each run's wall time less its pieces at their median times: on a busy machine a whole
        generation is interrupted more often than a median piece, and the overhead carries that."""
        walls = []
        for _ in range(self.timing_runs):
            reset(self.model)
            with clock_variants(graphs, lambda graph, name, s: self.piece_seconds.setdefault(
                    (method.name, name), []).append(s)):
                walls.append(self.run(compiled)[1])
        variants = self.predict_variants(method, pieces)
        self.overhead.setdefault(method.name, []).extend(max(0.0, wall - variants) / len(pieces) for wall in walls)

    def predict_variants(self, method: Method, pieces: list[str]) -> float:
        return sum(statistics.median(self.piece_seconds[(method.name, p)]) for p in pieces)

    def predict(self, method: Method, pieces: list[str]) -> float:
        return self.predict_variants(method, pieces) + len(pieces) * statistics.median(self.overhead[method.name])

    # -- the winner --------------------------------------------------------------------------
    def result(self, repeats: int) -> TuneResult:
        self.table = [dataclasses.replace(c, predicted_seconds=self.predict(method_named(c.method), list(c.pieces)))
                      for c in self.table]
        met = [c for c in self.table if c.met]
        if not met:
            logger.warning("cachepass tune: no candidate met %s; nothing to cache within it.", self.budget.describe())
            return TuneResult(None, None, self.budget, tuple(self.table), self.reference_seconds, None, None, None,
                              self.generations, tuple(self.notes))
        best = min(met, key=lambda c: c.predicted_seconds)
        compiled = self.compiled(best.config)
        output, _, _ = self.cached_run(compiled)  # compiles; its output is the winner's quality, re-run fresh
        times = []
        for _ in range(repeats):
            reset(self.model)
            times.append(self.run(compiled)[1])
        measured = statistics.median(times)
        winner = dataclasses.replace(best, measured_seconds=measured)
        self.table[self.table.index(best)] = winner
        quality = {name: METRICS[name][0](output, self.reference) for name in METRICS}
        return TuneResult(winner.config, winner.method, self.budget, tuple(self.table), self.reference_seconds,
                          winner.predicted_seconds, measured, quality, self.generations, tuple(self.notes))


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
