"""The typed plug-in every caching method exports (`PLUGIN` in its package) for the registry (methods/__init__.py).

The driver (`backend.compile_with_cache`) runs the stages in order, each a method of the plug-in:

    capture -> tag -> check -> plan -> runtime   (rewrite and lower run inside the runtime, per variant on
                                                  first use)

and the method-neutral tools ask it for the rest: `cachepass dump`'s files, flags and examples, the demo's
method, the bench's rows. A method overrides what it does differently; the defaults are what most methods do
(the plain capture, nothing to refuse, no name rules, no batched-CFG trace, no help examples, not the demo's).
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from torch import fx

from ..compiler.capture import capture


@dataclass(frozen=True)
class Uncached:
    """A graph the method has nothing to cache in: it is compiled as is, with this warning."""

    reason: str  # short, kept by the UncachedGraph for reports
    message: str  # the warning the user sees: what happened and what to do
    tags: Any = None  # an attention TagResult for the report, when there is one
    quiet: bool = False  # nothing there to cache (a block graph without attention): said at INFO, not WARNING


@dataclass(frozen=True)
class Flag:
    """A `cachepass dump` flag a method reads in `config_from_flags`. Methods that read the same flag share it:
    the first registered one defines it (`options`: argparse's keywords), each adds its `help` (cli.py)."""

    name: str  # e.g. "--threshold"
    help: str  # in the method's words
    options: tuple[tuple[str, Any], ...] = ()  # argparse.add_argument's keywords but help


@dataclass(frozen=True)
class TuneSeen:
    """What one uncached generation of the user's `generate` showed `cachepass.tune`, for a method's search space."""

    calls: int  # model calls in one generation
    timesteps: tuple[float, ...]  # the `timestep` input of each call (first element), where the model took one
    modules: tuple[str, ...] = ()  # the model's `named_modules()` names (a method whose defaults name modules)


MAX_SETTINGS = 6  # settings of a TuneSpace's crossed fields: each one is a bisection of its own


@dataclass(frozen=True)
class TuneSpace:
    """A method's search space for `cachepass.tune` (tune.py): one monotone knob, bisected within each setting of a
    few crossed fields, over a base config.

    A setting is one value for each field of `grid` (their product, at most MAX_SETTINGS); candidate i of a setting
    is `dataclasses.replace(base, **setting, **{field: values[i]})`. Along `values` a generation reuses more and
    its quality falls, so the tuner bisects the index within each setting; the crossed fields need not be monotone
    (a longer skip row may reuse more and lose less), so every setting is searched. A method whose base config needs
    a measured signal (MagCache's ratios) gives `calibrate`, a config the tuner runs once; `MethodPlugin.calibrated`
    turns that run's graphs into `base`."""

    field: str
    values: tuple[Any, ...]
    base: Any = None  # None: run `calibrate` first
    calibrate: Any = None
    grid: tuple[tuple[str, tuple[Any, ...]], ...] = ()  # (field, its values), crossed

    def __post_init__(self) -> None:
        from ..errors import ConfigError

        names = [name for name, _ in self.grid]
        if self.field in names or len(set(names)) != len(names):
            raise ConfigError(f"TuneSpace.grid {names} must name each field once, and not the bisected "
                              f"{self.field!r}.")
        for name, values in self.grid:
            if not isinstance(values, tuple) or not values or any(values.count(v) > 1 for v in values):
                raise ConfigError(f"TuneSpace.grid's {name!r} must be a non-empty tuple of distinct values, "
                                  f"got {values!r}.")
        if len(self.settings()) > MAX_SETTINGS:
            raise ConfigError(f"TuneSpace.grid crosses {len(self.settings())} settings ({names}); at most "
                              f"{MAX_SETTINGS}, each a search of its own: give fewer values.")

    def settings(self) -> tuple[tuple[tuple[str, Any], ...], ...]:
        """Every setting of the crossed fields as ((field, value), ...), the first field slowest; ((),) without."""
        names = [name for name, _ in self.grid]
        return tuple(tuple(zip(names, combo)) for combo in itertools.product(*(v for _, v in self.grid)))

    def configs(self) -> tuple[tuple[Any, ...], ...]:
        """Per setting, the candidate of each value: every config through its class's own validation (a
        ConfigError for a bad value), built before the search runs any of them."""
        from ..errors import ConfigError

        known = {f.name for f in dataclasses.fields(self.base)}
        unknown = [name for name in (self.field, *(n for n, _ in self.grid)) if name not in known]
        if unknown:
            raise ConfigError(f"TuneSpace names {unknown}, not fields of {type(self.base).__name__}.")
        return tuple(tuple(dataclasses.replace(self.base, **dict(setting), **{self.field: value})
                           for value in self.values) for setting in self.settings())

    def evaluations(self, search: str) -> int:
        """The most candidates a search evaluates: per setting, every value ("grid") or a bisection's
        ceil(log2(len(values) + 1)) (NOTE [How many generations a search takes], tune.py)."""
        per_setting = len(self.values) if search == "grid" else math.ceil(math.log2(len(self.values) + 1))
        return len(self.settings()) * per_setting


def check_block_graph(captured: Any, tags: Any, title: str) -> Uncached | None:
    """The check of a stack skip on a graph of one block (regional compilation, runtime/stack_graph.py): a stack
    of one block caches nothing (ConfigError); an instance of the block class outside the stack always runs,
    uncached. None for a whole-model graph's tags, and for a block of the stack."""
    from ..compiler.blocks import BlockGraphStreams
    from ..errors import ConfigError

    if not isinstance(tags, BlockGraphStreams):
        return None
    if len(tags.stack) < 2:
        raise ConfigError(f"cachepass {title}: the stack {list(tags.lists)} ({tags.found_by}) has {len(tags.stack)} "
                          f"block(s); skipping the blocks after the first needs at least two. Use PAB, which caches "
                          f"attention layers.")
    if not tags.carried:
        return Uncached("no block of the stack", f"cachepass {title}: {captured.prefix} is no block of the stack "
                        f"{list(tags.lists)}: it always runs, uncached.", quiet=True)
    return None


def block_graph_calibration_error(prefix: str, title: str, why: str, calibrating: str, result: str) -> Exception:
    """The ConfigError of calibrate=True on a graph of one block (`prefix`, regional compilation): `why` no block
    graph can calibrate; the fix calibrates with the whole model compiled under the config `calibrating` (its
    source text), then passes the printed `result` to the regional compile."""
    from ..errors import ConfigError

    return ConfigError(
        f"cachepass {title}: calibrate=True on a graph of one block ({prefix}: regional compilation) is not "
        f"supported: {why}. Calibrate with the whole transformer compiled (torch.compile(transformer, "
        f"backend='cachepass', fullgraph=True, options={{'cache': {calibrating}}})), then pass the printed {result} "
        f"to the regional compile.")


CLASSIFICATION = Flag("--classification", "how layers get their kind: from the graph (cachepass, default) or "
                      "diffusers' rule", (("choices", ("cachepass", "diffusers")), ("default", "cachepass")))


class MethodPlugin(ABC):
    """One caching method's stages and tool hooks; one instance per method package (`PLUGIN`)."""

    @staticmethod
    @abstractmethod
    def from_diffusers(cfg: Any) -> Any:
        """cachepass's typed config from diffusers' config of the same method (never mutated); a method sets its
        config module's function: `from_diffusers = staticmethod(from_diffusers)`."""

    # -- the stages, in the driver's order ----------------------------------------------------
    def capture(self, gm: fx.GraphModule, example_inputs: Sequence[Any], config: Any) -> Any:
        """The captured graph(s) (FasterCache adds a half-batch capture)."""
        return capture(gm, example_inputs)

    def plain(self, captured: Any) -> Any:
        """The graph Dynamo handed over (a `CapturedGraph`) of what `capture` returned: the one compiled as is
        when nothing is cached (FasterCache captures a half-batch twin beside it)."""
        return captured

    @abstractmethod
    def tag(self, captured: Any, config: Any) -> Any:
        """What the method caches (attention sites, the block stack, selected modules)."""

    def check(self, captured: Any, tags: Any, config: Any) -> Uncached | None:
        """A `ConfigError` for inputs that cannot work, an `Uncached` when there is nothing to cache, else None."""
        return None

    @abstractmethod
    def plan(self, tags: Any, config: Any) -> Any:
        """The pure schedule."""

    @abstractmethod
    def runtime(self, captured: Any, tags: Any, plan: Any, options: Any) -> Any:
        """The callable Dynamo runs: a `runtime.base.GraphRuntime`, which reports itself (`report(owner_ids)`)."""

    def name_patterns(self, config: Any) -> tuple[str, ...]:
        """The regexes the method's decisions read from module names: instances of one block whose names match
        differently get runtimes of their own (NOTE [Graphs of one block], scope.py). None by default: a method
        that refuses graphs of one block (scope.refuse_block_graph)."""
        return ()

    # -- `cachepass dump` ---------------------------------------------------------------------
    @abstractmethod
    def dump_files(self, graph: Any, demo: Any, steps: int) -> Any:
        """`cachepass dump`'s files for a cached graph of this method (dump.MethodDump)."""

    def flags(self) -> tuple[Flag, ...]:
        """The `cachepass dump` flags `config_from_flags` reads."""
        return ()

    @abstractmethod
    def config_from_flags(self, flags: dict[str, Any]) -> Any:
        """The config `cachepass dump --method NAME` builds from its flags."""

    # -- the bench (python -m bench) ----------------------------------------------------------
    bench_label: str = ""  # its rows' short name: "cachepass <label>", "diffusers <label> hook (eager)"
    bench_peer: str | None = None  # whose implementation its reference rows run: None, diffusers' hook; "cache-dit"

    @abstractmethod
    def bench_config(self, fields: dict[str, Any]) -> Any:
        """The reference's config of this method (diffusers', or `bench_peer`'s) from a bench workload's fields for
        it (bench/workloads.py)."""

    # How the bench watches diffusers' hook of this method decide, per step (bench/configurations.py):
    # "first-block decision" (diffusers' FBC leader hook's decision function, eager and compiled: the step pattern
    # and its host reads), "last block" (a forward hook on the last block, which runs only when it computes; eager
    # only), or "" (not watched).
    bench_probe: str = ""

    # -- the CLI's and the demo's texts ---------------------------------------------------------
    dump_example: str = ""  # `cachepass dump` arguments after the model for an example of this method (its --help)
    config_example: str = ""  # a `--cache-config` JSON of this method's cachepass config (its --help)

    demo: bool = False  # `cachepass demo` shows this method (the first registered plug-in that sets it)

    def demo_config(self) -> Any:
        """diffusers' config of this method that `cachepass demo` compares, its hook against cachepass (a method
        that sets `demo`)."""
        raise NotImplementedError(f"{type(self).__name__} is not the demo's method")

    # -- `cachepass.tune` ------------------------------------------------------------------------
    def tune_space(self, seen: TuneSeen) -> TuneSpace | None:
        """The method's search space for a model whose uncached generation showed `seen`; None: the method
        offers none (tune refuses it by name)."""
        return None

    def calibrated(self, space: TuneSpace, graphs: list[Any]) -> Any:
        """The base config from the cachepass graphs of one generation run with `space.calibrate` (a method whose
        `tune_space` gives `calibrate`); raises ConfigError when the run measured nothing."""
        raise NotImplementedError(f"{type(self).__name__} gives no calibration run")

    # -- compositions (methods/__init__.py, NOTE [What composes]) --------------------------------
    calibrated_skip: bool = False  # its skipped steps reuse a block-stack residual a calibrator may predict
    calibrated_hidden_only: bool = False  # the residual it reuses is the hidden stream's only (no text-stream one)
    compose_hint: str = ""  # said when it is listed with another cache: what to list instead
    cfg_inner: bool = False  # its runtime runs inside the rows a CFG skip runs, one state per row set
    cfg_skip: bool = False  # it offers a CFG skip around an inner cache (the `cfg_skip_*` hooks below)

    def cfg_skip_problem(self, config: Any) -> str | None:
        """Why this config cannot be a CFG skip around another cache (what to change), or None."""
        return None

    def cfg_skip_rows(self, gm: fx.GraphModule, example_inputs: Sequence[Any], config: Any) -> Any:
        """The captured row sets a CFG skip runs: an object with `full` and `half` CapturedGraphs (`half` None when
        none could be captured) that `cfg_skip_runtime` takes back."""
        raise NotImplementedError(f"{type(self).__name__} offers no CFG skip")

    def cfg_skip_runtime(self, rows: Any, full: Any, half: Any, options: Any) -> Any:
        """The runtime Dynamo runs: the CFG skip deciding each call's rows, running the inner cache's runtime `full`
        on the whole CFG batch or `half` on the conditional half (None when there is no half graph)."""
        raise NotImplementedError(f"{type(self).__name__} offers no CFG skip")

    def needs_cfg_batch(self, config: Any) -> bool:
        """Whether `cachepass dump` traces a batched-CFG call ([uncond, cond]) for this config."""
        return False

