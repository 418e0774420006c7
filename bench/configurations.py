"""The configurations compared on every workload, and how each one is set up."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from cachepass.measure import DiffusersHooked
from cachepass.methods import CALIBRATORS, METHODS, Calibrator, Method, method_named
from cachepass.models import DemoModel

from . import peers
from .workloads import Workload


@dataclass(frozen=True)
class Configuration:
    name: str
    method: str  # "none" or a registered method's name (cachepass.methods.METHODS)
    compiled: bool
    cachepass: bool
    # (demo, workload, compiler, fullgraph=False) -> the callable the loop runs
    prepare: Callable[..., Callable[..., Any]]
    peer: str | None = None  # another project's implementation: "cache-dit", "ParaAttention"
    calibrator: str | None = None  # a composed calibrator (cachepass.methods.CALIBRATORS name): predicted reuse

    @property
    def family(self) -> str:
        """Whose implementation: cachepass, diffusers (its hooks), a peer project, or none (the baselines)."""
        return "cachepass" if self.cachepass else self.peer or ("none" if self.method == "none" else "diffusers")


def diffusers_config(workload: Workload, method: str) -> Any:
    """diffusers' config of `method` for the workload: the method's plug-in reads the workload's fields for it."""
    return method_named(method).plugin.bench_config(workload.fields(method))


def _eager(demo: DemoModel, workload: Workload, compiler: str, fullgraph: bool = False) -> Callable[..., Any]:
    return demo.module


def _inductor(demo: DemoModel, workload: Workload, compiler: str, fullgraph: bool = False) -> Callable[..., Any]:
    return torch.compile(demo.module, backend=compiler, fullgraph=fullgraph)


def _hook(method: str, compiled: bool) -> Callable[..., Callable[..., Any]]:
    def prepare(demo: DemoModel, workload: Workload, compiler: str, fullgraph: bool = False) -> Callable[..., Any]:
        hooked = DiffusersHooked(demo, diffusers_config(workload, method), copy_module=False)
        probe = method_named(method).plugin.bench_probe  # how the hook's decisions are watched
        if probe == "first-block decision":  # step pattern and host reads, also under compile
            decisions = peers.diffusers_first_block_decisions(hooked.module)
        if compiled:
            hooked.module = torch.compile(hooked.module, backend=compiler, fullgraph=fullgraph)
        if probe == "first-block decision":
            return peers.Observed(hooked, lambda: None, decisions)
        if probe == "last block" and not compiled:
            return BlocksProbe(hooked, hooked.module)
        return hooked

    return prepare


class BlocksProbe:
    """diffusers' FBC or MagCache hook, recording per call whether the last block ran ("C") or was skipped
    ("R"): a forward hook on the last block's first submodule, which runs only when it computes.
    Eager only (under torch.compile the probe's side effect would change what Dynamo captures)."""

    def __init__(self, hooked: Any, module: torch.nn.Module) -> None:
        from diffusers.hooks._common import _ALL_TRANSFORMER_BLOCK_IDENTIFIERS

        self.hooked, self.pattern = hooked, []
        lists = [child for name, child in module.named_children()
                 if name in _ALL_TRANSFORMER_BLOCK_IDENTIFIERS and isinstance(child, torch.nn.ModuleList)]
        next(lists[-1][-1].children()).register_forward_hook(lambda *_: self.pattern.__setitem__(-1, "C"))

    def __call__(self, **kwargs: Any) -> Any:
        self.pattern.append("R")
        return self.hooked(**kwargs)

    def cache_context(self, name: str, **fields: Any) -> Any:
        """The loop's context reaches the hooked model (measure.step_context): SeaCache's hook decides from it."""
        return self.hooked.cache_context(name, **fields)

    def step_pattern(self, steps: int) -> str:
        return "".join(self.pattern[-steps:])


def _cachepass_steps(module: Any, steps: int) -> list[Any]:
    import cachepass

    graphs = [g for g in cachepass.compiled_graphs(module) if g.cached] if isinstance(module, torch.nn.Module) else []
    return list(graphs[-1].states()[0][1].history)[-steps:] if graphs else []


def step_pattern(module: Any, steps: int) -> str | None:
    """C/R per step of the latest generation: computed, or reused (cachepass: any reuse; diffusers' FBC hook
    and the peers: their decision functions, watched; MagCache hook: probed on the last block)."""
    if hasattr(module, "step_pattern"):
        return module.step_pattern(steps)
    history = _cachepass_steps(module, steps)
    return "".join("R" if r.reused else "C" for r in history) or None


def host_reads(module: Any, steps: int) -> int | None:
    """Device-to-host reads per generation made deciding: counted inside the watched decision functions
    (diffusers' FBC hook, the peers), or the cachepass FirstBlockCache runtime's own count per step."""
    if hasattr(module, "host_reads"):
        return module.host_reads()
    reads = [getattr(r, "host_reads", None) for r in _cachepass_steps(module, steps)]
    return sum(reads) if reads and None not in reads else None


def _cachepass(method: str, calibrator: Calibrator | None = None) -> Callable[..., Callable[..., Any]]:
    def prepare(demo: DemoModel, workload: Workload, compiler: str, fullgraph: bool = False) -> Callable[..., Any]:
        cache = diffusers_config(workload, method)
        options = {"cache": [cache, calibrator.bench_config()] if calibrator else cache, "compiler": compiler}
        return torch.compile(demo.module, backend="cachepass", fullgraph=fullgraph, options=options)

    return prepare


def reference_row(method: Method) -> str:
    """The row a method's cachepass row is compared with: diffusers' hook in eager, or its peer's (`bench_peer`)."""
    label, peer = method.plugin.bench_label, method.plugin.bench_peer
    return f"{peer} {label} (eager)" if peer else f"diffusers {label} hook (eager)"


def method_rows(method: Method) -> tuple[Configuration, ...]:
    """A method's rows, from its plug-in: its reference eager and compiled -- diffusers' hook (when diffusers has
    the method) or its `bench_peer`'s own implementation -- and cachepass."""
    label, name, peer = method.plugin.bench_label, method.name, method.plugin.bench_peer
    if peer == "cache-dit":
        config = functools.partial(diffusers_config, method=name)
        return (Configuration(reference_row(method), name, False, False, peers.cache_dit_config(config, False), peer),
                Configuration(f"{peer} {label} + torch.compile", name, True, False, peers.cache_dit_config(config, True),
                              peer),
                Configuration(f"cachepass {label}", name, True, True, _cachepass(name)))
    hooks = (Configuration(f"diffusers {label} hook (eager)", name, False, False, _hook(name, False)),
             Configuration(f"diffusers {label} hook + torch.compile", name, True, False, _hook(name, True)))
    return (*(hooks if method.diffusers_config else ()),
            Configuration(f"cachepass {label}", name, True, True, _cachepass(name)))


def composed_rows(method: Method) -> tuple[Configuration, ...]:
    """A stack skip's rows with each calibrator (cachepass.methods NOTE [What composes]): cachepass's, and, for a
    method whose reference is cache-dit, cache-dit's hybrid of the same two, eager and compiled. (FirstBlockCache's
    cache-dit hybrid rows are the peers' own, bench/peers.py.)"""
    if not method.plugin.calibrated_skip:
        return ()
    rows: list[Configuration] = []
    label, name, peer = method.plugin.bench_label, method.name, method.plugin.bench_peer
    for calibrator in CALIBRATORS:
        both = f"{label} + {calibrator.title}"
        if peer == "cache-dit":
            config = functools.partial(diffusers_config, method=name)
            rows += [Configuration(f"{peer} {both}{' + torch.compile' if compiled else ' (eager)'}", name, compiled,
                                   False, peers.cache_dit_config(config, compiled, calibrator.bench_config), peer,
                                   calibrator.name) for compiled in (False, True)]
        rows.append(Configuration(f"cachepass {both}", name, True, True, _cachepass(name, calibrator),
                                  calibrator=calibrator.name))
    return tuple(rows)


CONFIGURATIONS: dict[str, Configuration] = {c.name: c for c in (
    Configuration("eager", "none", False, False, _eager),
    Configuration("torch.compile (inductor)", "none", True, False, _inductor),
    *(row for method in METHODS for row in method_rows(method)),
    *(row for method in METHODS for row in composed_rows(method)),
    # The peers' first-block caches (bench/peers.py), at the workload's threshold of the method they implement.
    *(Configuration(name, peers.METHOD, compiled, False, prepare, peer, calibrator)
      for name, compiled, prepare, peer, calibrator in peers.rows()),
)}

# The reference row each cached configuration is compared with (diffusers' hook, or the method's `bench_peer`),
# and each method's cachepass row.
HOOK_OF = {m.name: reference_row(m) for m in METHODS if m.diffusers_config}
CACHEPASS_OF = {m.name: f"cachepass {m.plugin.bench_label}" for m in METHODS}


def _reference(configuration: Configuration) -> str | None:
    """The row a configuration's output and steps are compared with: its method's reference (HOOK_OF), or for a
    composed row the eager reference row of the same composition (cache-dit's hybrid), if there is one."""
    if configuration.calibrator is None:
        return HOOK_OF.get(configuration.method)
    return next((c.name for c in CONFIGURATIONS.values() if not c.cachepass and not c.compiled
                 and (c.method, c.calibrator) == (configuration.method, configuration.calibrator)), None)


REFERENCE_OF = {c.name: _reference(c) for c in CONFIGURATIONS.values()}


def applies(configuration: Configuration, workload: Workload) -> bool:
    """Whether the workload defines the configuration's method (the block-stack methods: not on Latte, whose
    spatial and temporal blocks interleave, which diffusers' hooks do not handle)."""
    return configuration.method == "none" or workload.fields(configuration.method) is not None


def why_not(configuration: Configuration, workload: Workload) -> str | None:
    if applies(configuration, workload):
        return None
    return workload.why_not.get(configuration.method, f"{workload.name} defines no {configuration.method} settings")


# The first-block comparison (python -m bench --peers): every FirstBlockCache implementation, at the
# workload's one threshold, beside the uncached baselines.
FIRST_BLOCK_COMPARISON = ["eager", "torch.compile (inductor)",
                          *(c.name for c in CONFIGURATIONS.values() if c.method == peers.METHOD)]
