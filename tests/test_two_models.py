"""Two models of one class in one process (issue 29): Dynamo serves the second from the graph it compiled for the
first (equal backend options, guards that pass), so the runtime must keep each model's state, clock and
`cache_context` apart by itself. Each model runs a pipeline-style loop (cond and uncond calls per step, each in
its `cache_context`, the latent updated from both) under Inductor and must equal diffusers' hooks on an eager copy
of itself, call by call, over two generations: one model after the other, or interleaved call by call, with
equal-but-distinct configs or one shared config object."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import torch
from diffusers import (FasterCacheConfig, FirstBlockCacheConfig, MagCacheConfig, PyramidAttentionBroadcastConfig,
                       TaylorSeerCacheConfig)
from diffusers.hooks import apply_faster_cache
from diffusers.hooks.mag_cache import FLUX_MAG_RATIOS
from families import build_family
from fc_helpers import Clock, tiny_flux

import cachepass

STEPS = 10
TIMESTEPS = [float(t) for t in torch.linspace(999, 0, STEPS)]


@dataclass
class Method:
    demo: Any  # cachepass.models.DemoModel: the first model (the second is a perturbed copy)
    config: Callable[[Clock], Any]  # a fresh diffusers config reading the clock
    contexts: tuple[str, ...] = ("cond", "uncond")  # one call per context per step
    hook: Callable[[torch.nn.Module, Any], None] = lambda module, cfg: module.enable_cache(cfg)
    timestep_scale: float = 1.0  # the model takes t / timestep_scale (Flux: t / 1000, as FluxPipeline passes)


def _faster_cache_hook(module: torch.nn.Module, cfg: FasterCacheConfig) -> None:
    apply_faster_cache(module, dataclasses.replace(cfg))  # it fills in callbacks on the config it is given


METHODS: dict[str, Callable[[], Method]] = {
    "pab": lambda: Method(build_family("wan"), lambda clock: PyramidAttentionBroadcastConfig(
        spatial_attention_block_skip_range=2, spatial_attention_timestep_skip_range=(100, 800),
        current_timestep_callback=clock)),
    "fastercache": lambda: Method(tiny_flux(), lambda clock: FasterCacheConfig(
        spatial_attention_block_skip_range=2, spatial_attention_timestep_skip_range=(-1, 681),
        current_timestep_callback=clock, attention_weight_callback=lambda _: 0.4, is_guidance_distilled=True),
        contexts=("cond",), hook=_faster_cache_hook, timestep_scale=1000.0),
    "fbc": lambda: Method(build_family("wan"), lambda clock: FirstBlockCacheConfig(threshold=0.06)),
    "magcache": lambda: Method(build_family("wan"), lambda clock: MagCacheConfig(
        threshold=0.06, num_inference_steps=STEPS, mag_ratios=FLUX_MAG_RATIOS.clone())),
    "taylorseer": lambda: Method(build_family("wan"), lambda clock: TaylorSeerCacheConfig(
        cache_interval=3, disable_cache_before_step=2, taylor_factors_dtype=torch.float32,
        cache_identifiers=[r"^blocks\.\d+\.attn[12]"])),
}


def perturbed(module: torch.nn.Module, seed: int) -> torch.nn.Module:
    """A copy with other weights: a model run on another's state cannot come out right by accident."""
    other = copy.deepcopy(module)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in other.parameters():
            p.add_(0.02 * torch.randn(p.shape, generator=gen))
    return other


def generation(method: Method, clock: Clock, call: Any, module: torch.nn.Module) -> Iterator[torch.Tensor]:
    """One pipeline-style generation; yields every call's output. `module` is what `cache_context` is entered on."""
    demo = method.demo
    kwargs = demo.inputs(TIMESTEPS[0] / method.timestep_scale)
    latent = kwargs[demo.latent_key].clone()
    text = kwargs.get("encoder_hidden_states")
    with torch.no_grad():
        for t in TIMESTEPS:
            outputs = []
            for name in method.contexts:
                clock.t = t
                step = dict(demo.inputs(t / method.timestep_scale), **{demo.latent_key: latent})
                if name == "uncond":
                    step["encoder_hidden_states"] = -text
                with module.cache_context(name):
                    out = call(**step)
                out = out[0] if isinstance(out, (tuple, list)) else out
                outputs.append(out)
                yield out
            guided = outputs[0] if len(outputs) == 1 else outputs[1] + 3.0 * (outputs[0] - outputs[1])
            latent = latent - 0.08 * guided


def run_two(method: Method, shared_config: bool, interleaved: bool) -> None:
    """Two models compiled in a row, each equal to the hooks on an eager copy of itself, call by call."""
    clock = Clock()
    models = [method.demo.module, perturbed(method.demo.module, 1)]
    shared = method.config(clock)
    configs = [shared, shared] if shared_config else [method.config(clock), method.config(clock)]
    compiled = [torch.compile(m, backend="cachepass", fullgraph=True, options={"cache": c})
                for m, c in zip(models, configs)]
    references = []
    for model in models:
        reference = copy.deepcopy(model)
        method.hook(reference, method.config(clock))
        references.append(reference)
    for _ in range(2):  # the second generation starts after each pipeline's end-of-call reset
        ours = [generation(method, clock, c, m) for c, m in zip(compiled, models)]
        theirs = [generation(method, clock, r, r) for r in references]
        order = [(0, 1)] if interleaved else [(0,), (1,)]
        for which in order:
            for outs in zip(*(ours[i] for i in which)):
                for i, got in zip(which, outs):
                    expected = next(theirs[i])
                    assert float((got - expected).abs().max()) <= 1e-5, f"model {i}"
        for model in [*models, *references]:
            model._reset_stateful_cache()
    for c in compiled:  # the hooks skipped steps too: caching happened on both models
        states = [s for g in cachepass.compiled_graphs(c) if g.cached for _, s in g.states()]
        assert states, "nothing cached"


@pytest.mark.parametrize("interleaved", [False, True], ids=["in-a-row", "interleaved"])
@pytest.mark.parametrize("shared_config", [False, True], ids=["equal-configs", "one-shared-config"])
@pytest.mark.parametrize("name", sorted(METHODS))
def test_two_models_equal_the_hooks(name, shared_config, interleaved):
    """Every method, two models compiled in a row with equal configs or one shared config object, run one
    after the other or interleaved call by call: each equal to its own hook, two generations each. MagCache's
    equal configs hold separate equal ratio tensors (their comparison, which Dynamo makes of backend options,
    must not take a tensor's truth value)."""
    run_two(METHODS[name](), shared_config, interleaved)


def test_a_parameter_shared_by_two_models_is_refused():
    """Two models that hold one first parameter cannot be told apart: a clear error, not another's state."""
    demo = build_family("wan")
    first = demo.module
    second = perturbed(first, 1)
    for name, parameter in list(first.named_parameters()):  # whichever the graph's first parameter: shared
        path, _, attribute = name.rpartition(".")
        setattr(second.get_submodule(path), attribute, parameter)
    compiled = [torch.compile(m, backend="cachepass", fullgraph=True, options={"cache": FirstBlockCacheConfig(0.06),
                                                                               "compiler": "eager"})
                for m in (first, second)]
    with torch.no_grad(), pytest.raises(Exception, match="belongs to two models"):
        for c, m in zip(compiled, (first, second)):
            with m.cache_context("cond"):
                demo(c, 999.0)


def test_configs_holding_tensors_compare_as_torch_compares_backend_options():
    """What NOTE [Comparing configs that hold tensors] relies on: diffusers' configs are dataclasses whose generated
    `__eq__` takes a tensor's truth value, and torch compares two `torch.compile` wrappers by their options with
    `==`. After cachepass reads one config, equal configs compare equal (they share a graph), others do not, and
    reading again patches nothing more."""
    from cachepass.methods import compare_safely, to_cache_config

    def config(**changes: Any) -> MagCacheConfig:
        fields = dict(threshold=0.06, num_inference_steps=STEPS, mag_ratios=FLUX_MAG_RATIOS.clone())
        return MagCacheConfig(**dict(fields, **changes))

    a, b = config(), config()
    assert a.mag_ratios is not b.mag_ratios
    compared = [f.name for f in dataclasses.fields(MagCacheConfig) if f.compare]
    with pytest.raises(RuntimeError, match="ambiguous"):  # the generated __eq__'s comparison of field tuples
        bool(tuple(getattr(a, n) for n in compared) == tuple(getattr(b, n) for n in compared))
    to_cache_config(a)  # what the backend does at its first compile
    patched = MagCacheConfig.__dict__["__eq__"]
    compare_safely(MagCacheConfig)
    to_cache_config(b)
    assert MagCacheConfig.__dict__["__eq__"] is patched

    def wrapper(cfg: Any) -> Any:
        return torch._TorchCompileWrapper("cachepass", None, {"cache": cfg}, None)

    assert wrapper(a) == wrapper(b)
    assert wrapper(a) != wrapper(config(threshold=0.1))
    assert wrapper(a) != wrapper(config(mag_ratios=FLUX_MAG_RATIOS.clone() * 1.01))
    assert wrapper(a) != wrapper(config(mag_ratios=FLUX_MAG_RATIOS.clone().double()))


@pytest.mark.parametrize("name", sorted(METHODS))
def test_a_graph_goes_with_its_last_user_without_the_cycle_collector(name):
    """A notebook re-compiles after changing a threshold: the old graph (its variants, its cached tensors) must go
    when the compiled wrapper and Dynamo's cache entry go, by reference counting. A runtime that keeps a bound
    method of itself is a reference cycle: it lived on until the cyclic collector ran, and `compiled_graphs`
    of the model still listed it beside the new one."""
    import gc
    import weakref

    method, clock = METHODS[name](), Clock()
    compiled = torch.compile(method.demo.module, backend="cachepass", fullgraph=True,
                             options={"cache": method.config(clock), "compiler": "eager"})
    for _, _ in zip(range(4), generation(method, clock, compiled, method.demo.module)):
        pass
    graphs = [weakref.ref(g) for g in cachepass.compiled_graphs(compiled)]
    assert graphs and all(g() is not None for g in graphs)
    gc.collect()
    gc.disable()
    try:
        torch._dynamo.reset()
        del compiled
        assert all(g() is None for g in graphs), [type(g()).__name__ for g in graphs if g() is not None]
    finally:
        gc.enable()
