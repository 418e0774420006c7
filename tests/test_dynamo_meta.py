"""Dynamo's metadata on graph variants, and guards added after Dynamo froze its ShapeEnv.

- every compiled variant of every method keeps the captured graph's static inputs (its parameters and
  buffers) as aot_autograd computes them, so CUDA graphs do not copy the weights on every replay;
- a variant compiled after Dynamo froze its ShapeEnv may not add a guard: the runtime raises;
- the private torch names cachepass relies on (cachepass/dynamo_meta.py) still mean what it assumes.
"""

from __future__ import annotations

import copy
import inspect

import pytest
import torch
from diffusers import MagCacheConfig, TaylorSeerCacheConfig
from diffusers.hooks.mag_cache import FLUX_MAG_RATIOS
from families import build_family
from fbc_helpers import THRESHOLDS, TIMESTEPS_12, compiled_call
from fc_helpers import cogvideox_case

import cachepass
from cachepass.integrations import dynamo_meta
from cachepass.errors import GuardsAfterFreeze, StageError
from cachepass.compiler.lower import _eager
from cachepass.models import build


def aot_static_indices(gm: torch.fx.GraphModule, example_inputs) -> list[int]:
    """The static input indices aot_autograd derives for `gm`, with the call `aot_module_simplified` makes
    (torch/_functorch/aot_autograd.py, prepare_aot_config); Inductor hands them on as `static_input_idxs`."""
    from torch._functorch._aot_autograd.descriptors import BufferAOTInput, ParamAOTInput
    from torch._functorch.aot_autograd import _try_get_metadata_from_dynamo

    params = dict(gm.named_parameters(remove_duplicate=False))
    buffers = dict(gm.named_buffers(remove_duplicate=False))
    descs = [*(ParamAOTInput(n) for n in params), *(BufferAOTInput(n) for n in buffers)]
    _, static = _try_get_metadata_from_dynamo(gm, {**params, **buffers}.keys(),
                                              len(params) + len(buffers) + len(example_inputs), descs)
    return static


def weights(captured) -> list[int]:
    """The independent oracle: inputs Dynamo read from a module's `_parameters` / `_buffers` (capture.py)."""
    return [i.index for i in captured.inputs if i.role in ("parameter", "buffer")]


def _pab():
    demo = build("cogvideox")
    compiled = torch.compile(demo.module, backend="cachepass",
                             options={"cache": cachepass.PABConfig(spatial_skip=2), "compiler": "eager"})
    with torch.no_grad():
        for t in TIMESTEPS_12:
            demo(compiled, t)
    return compiled


def _fastercache():
    case = cogvideox_case()
    compiled = torch.compile(case.demo.module, backend="cachepass", options={"cache": case.config, "compiler": "eager"})
    with torch.no_grad():
        for t in TIMESTEPS_12:
            case(compiled, t)
    return compiled


def _block_method(config, family="flux"):
    demo = build_family(family)
    compiled = torch.compile(demo.module, backend="cachepass", options={"cache": config, "compiler": "eager"})
    for t in TIMESTEPS_12:
        compiled_call(demo, compiled, t)
    return compiled


METHODS = {
    "pab": _pab,
    "fastercache": _fastercache,
    "fbc": lambda: _block_method(cachepass.FBCConfig(threshold=THRESHOLDS["cogvideox"]), "cogvideox"),
    "magcache": lambda: _block_method(MagCacheConfig(threshold=0.06, num_inference_steps=12,
                                                     mag_ratios=FLUX_MAG_RATIOS.clone())),
    "taylorseer": lambda: _block_method(TaylorSeerCacheConfig(cache_interval=3, disable_cache_before_step=2,
                                                              taylor_factors_dtype=torch.float32)),
}


def captured_of(graph, key):
    """The Dynamo graph a variant was cut from (FasterCache's half-batch variants: its second capture)."""
    if getattr(key, "graph", None) == "half":
        return graph.fc.half.captured
    return graph.captured


@pytest.mark.parametrize("method", sorted(METHODS))
def test_every_variant_keeps_the_captured_graphs_static_inputs(method):
    compiled = METHODS[method]()
    [graph] = cachepass.compiled_graphs(compiled)
    assert len(graph.lowered) >= 2, sorted(map(str, graph.lowered))
    for key, lowered in graph.lowered.items():
        captured = captured_of(graph, key)
        expected = weights(captured)
        assert expected and aot_static_indices(captured.gm, captured.example_inputs()) == expected
        assert aot_static_indices(lowered.variant.gm, lowered.variant.example_inputs) == expected, key


def test_inductor_gets_the_static_inputs_of_every_variant():
    """End to end: the `static_input_idxs` Inductor's inner compiler receives (what CUDA graphs and the
    per-call alignment checks use) are the parameters and buffers, for both PAB variants."""
    from torch._inductor.compile_fx import compile_fx, compile_fx_inner

    seen: list[tuple[str, tuple[int, ...]]] = []

    def spying_inductor(gm, example_inputs):
        def inner(inner_gm, inputs, **kwargs):
            seen.append((type(gm).__name__, tuple(kwargs["static_input_idxs"])))
            return compile_fx_inner(inner_gm, inputs, **kwargs)

        return compile_fx(gm, example_inputs, inner_compile=inner)

    demo = build("cogvideox")
    compiled = torch.compile(demo.module, backend="cachepass",
                             options={"cache": cachepass.PABConfig(spatial_skip=2), "compiler": spying_inductor})
    # a cache hit in AOTAutograd's cache would skip the inner compiler, and with it the spy
    with torch._functorch.config.patch(enable_autograd_cache=False), torch.no_grad():
        for t in TIMESTEPS_12[:4]:
            demo(compiled, t)
    [graph] = cachepass.compiled_graphs(compiled)
    expected = tuple(weights(graph.captured))
    assert [name for name, _ in seen] == ["Variant_compute", "Variant_reuse_spatial"]
    assert all(static == expected for _, static in seen), seen


def _guarding(variant_class_prefix: str):
    """A compiler that asks a shape question about a symbolic size while compiling the named variants:
    what Inductor would do if a lowering decision depended on a size. Runs the graph eagerly."""
    def compiler(gm, example_inputs):
        if type(gm).__name__.startswith(variant_class_prefix):
            size = next((x for x in example_inputs if isinstance(x, torch.SymInt)), None)
            if size is not None:  # the static graph has none
                bool(size != 1000)  # a guard `Ne(s, 1000)` on the ShapeEnv
        return _eager(gm)

    return compiler


# TaylorSeer compiles its predict variants on first use also in a graph with symbolic sizes (PAB compiles every
# reachable variant with such a graph: NOTE [Variants of a dynamic-shape graph compile with it]).
TAYLORSEER_COGVIDEOX = TaylorSeerCacheConfig(cache_interval=3, disable_cache_before_step=2,
                                             taylor_factors_dtype=torch.float32,
                                             cache_identifiers=[r"transformer_blocks\.\d+\.attn1"])


def _batch_dynamic(compiler, cache=None):
    demo = build("cogvideox")
    compiled = torch.compile(demo.module, backend="cachepass",
                             options={"cache": cache or cachepass.PABConfig(spatial_skip=2), "compiler": compiler})
    with torch.no_grad():
        demo(compiled, 999.0, batch=1)  # static graph
        for t in TIMESTEPS_12[:6]:  # PAB: steps 3 and 5 reuse spatial attention; TaylorSeer: step 3 predicts
            demo(compiled, t, batch=2)  # automatic dynamic: a graph with a symbolic batch
    return compiled


def test_a_guard_added_after_dynamo_froze_the_shape_env_raises():
    with pytest.raises(StageError, match="Ne\\(s\\d+, 1000\\)") as failure:
        # predict variants are compiled on first use, after the freeze
        _batch_dynamic(_guarding("TSVariant_predict"), TAYLORSEER_COGVIDEOX)
    assert isinstance(failure.value.__cause__, GuardsAfterFreeze)
    assert "after Dynamo installed this graph's guards" in str(failure.value)


def test_a_guard_added_at_backend_time_is_installed_by_dynamo():
    """The compute variant is compiled while Dynamo still builds the graph's guards: its guard is kept."""
    compiled = _batch_dynamic(_guarding("Variant_compute"))
    dynamic = cachepass.compiled_graphs(compiled)[-1]
    compute = dynamic.lowered[frozenset()]
    assert len(compute.guards_added) == 1 and compute.guards_added[0].startswith("Ne(")
    assert all(not lowered.guards_added for key, lowered in dynamic.lowered.items() if key)


def test_pab_reuse_variants_of_a_dynamic_shape_graph_compile_with_it_and_keep_their_guards():
    """NOTE [Variants of a dynamic-shape graph compile with it]: a reuse variant that asks a new shape question
    (Latte's reuse-cross under dynamic=True does) is compiled at backend time, so Dynamo installs its guard;
    compiled on first use it would raise GuardsAfterFreeze (the test above, with TaylorSeer)."""
    compiled = _batch_dynamic(_guarding("Variant_reuse"))
    dynamic = cachepass.compiled_graphs(compiled)[-1]
    assert set(dynamic.lowered) == set(dynamic.plan.reachable())
    reuse = dynamic.lowered[frozenset({"spatial"})]
    assert not reuse.after_freeze and len(reuse.guards_added) == 1 and reuse.guards_added[0].startswith("Ne(")
    assert any(r.reused for _, s in dynamic.states() for r in s.history if r.graph == dynamic.serial)


def test_dynamo_still_marks_the_graphs_it_hands_a_backend():
    """The private names of NOTE [Dynamo's metadata on variants] and [Guards after Dynamo froze the
    ShapeEnv]: if a torch upgrade renames one, this test says which."""
    from torch._functorch.aot_autograd import _try_get_metadata_from_dynamo

    assert list(inspect.signature(_try_get_metadata_from_dynamo).parameters) == [
        "mod", "param_keys", "full_args_num", "full_args_descs"]
    source = inspect.getsource(_try_get_metadata_from_dynamo)
    for name in (dynamo_meta.GM_META_KEYS[0], dynamo_meta.GM_ATTRS[0], dynamo_meta.PLACEHOLDER_ATTR,
                 *dynamo_meta.STATIC_INPUT_META):
        assert name in source, name
    seen = {}

    def backend(gm, example_inputs):
        env = torch._guards.detect_fake_mode(example_inputs).shape_env
        seen.update(gm=gm, frozen_during=env.frozen, env=env)
        return gm.forward

    model = torch.nn.Linear(4, 4)
    with torch.no_grad():
        torch.compile(model, backend=backend)(torch.randn(2, 4))
    gm = seen["gm"]
    assert all(key in gm.meta for key in dynamo_meta.GM_META_KEYS)
    assert all(hasattr(gm, attr) for attr in dynamo_meta.GM_ATTRS)
    placeholders = list(gm.graph.find_nodes(op="placeholder"))
    assert all(getattr(n, dynamo_meta.PLACEHOLDER_ATTR) is not None for n in placeholders)
    table, key = dynamo_meta.STATIC_INPUT_META
    static = [n.meta.get(table, {}).get(key) is not None for n in placeholders]
    assert static == ["_parameters" in n._dynamo_source.name for n in placeholders] and sum(static) == 2  # W, b
    env = seen["env"]
    assert not seen["frozen_during"] and env.frozen  # extendable at backend time, frozen once it returned
    assert isinstance(env.guards, list) and isinstance(env.num_deferred_runtime_asserts, int)


def test_variant_module_copies_dynamos_marks_and_marks_extra_inputs_sourceless():
    compiled = _pab()
    graph = cachepass.compiled_graphs(compiled)[0]
    variant = graph.lowered[frozenset({"spatial"})].variant
    root = graph.captured.gm
    assert variant.gm.meta["dynamo_compile_id"] == root.meta["dynamo_compile_id"]
    assert variant.gm._param_name_to_source is root._param_name_to_source
    placeholders = list(variant.gm.graph.find_nodes(op="placeholder"))
    originals = list(root.graph.find_nodes(op="placeholder"))
    assert [n._dynamo_source for n in placeholders[: len(originals)]] == [n._dynamo_source for n in originals]
    assert placeholders[len(originals):] and all(n._dynamo_source is None for n in placeholders[len(originals):])


def test_a_variant_that_reorders_the_captured_inputs_is_refused():
    compiled = _pab()
    root = cachepass.compiled_graphs(compiled)[0].captured.gm
    graph = copy.deepcopy(root.graph)
    with graph.inserting_before(next(iter(graph.find_nodes(op="placeholder")))):
        graph.placeholder("intruder")
    with pytest.raises(RuntimeError, match="does not keep the captured graph's inputs first"):
        dynamo_meta.variant_module(root, graph, "Reordered")


def test_dynamo_lets_a_backends_config_error_through_unwrapped():
    """NOTE [Config errors through Dynamo]: torch re-raises a `ShortenTraceback` a backend raised as is, and wraps
    anything else in `BackendCompilerFailed` (the fallback the docs name). If torch changes either, this says so."""
    from torch._dynamo.exc import BackendCompilerFailed

    def raising(error):
        def backend(gm, example_inputs):
            raise error
        return backend

    model, x = torch.nn.Linear(4, 4), torch.randn(2, 4)
    with pytest.raises(cachepass.ConfigError, match="bad option") as caught:
        torch.compile(model, backend=raising(cachepass.errors.through_dynamo(cachepass.ConfigError("bad option"))))(x)
    assert isinstance(caught.value, dynamo_meta.PASS_THROUGH)
    torch._dynamo.reset()
    with pytest.raises(BackendCompilerFailed) as wrapped:
        torch.compile(model, backend=raising(cachepass.ConfigError("bad option")))(x)
    assert isinstance(wrapped.value.inner_exception, cachepass.ConfigError)


def test_the_float_and_fake_mode_names_cachepass_relies_on_still_exist():
    """NOTE [Compiling in the inputs' fake mode] and [Float inputs a variant does not use]: the tracing context's
    fake mode, Dynamo's set of specialized float symbols, the restart Inductor raises, and the pass that raises it
    after checking every float symbol of the ShapeEnv. A torch upgrade that renames one fails here, by name."""
    from torch._dynamo.exc import TensorifyScalarRestartAnalysis
    from torch._dynamo.symbolic_convert import TensorifyState
    from torch._guards import TracingContext
    from torch.fx.passes import _tensorify_python_scalars

    assert dynamo_meta.TRACING_CONTEXT_FAKE_MODE in inspect.signature(TracingContext.__init__).parameters
    assert isinstance(getattr(TensorifyState, dynamo_meta.TENSORIFY_STATE), set)
    source = inspect.getsource(_tensorify_python_scalars)
    assert "backed_var_to_val" in source and "raise TensorifyScalarRestartAnalysis" in source
    assert TensorifyScalarRestartAnalysis.__name__ in inspect.getsource(torch._dynamo.output_graph.OutputGraph)


def test_the_cache_names_cachepass_relies_on_still_exist():
    """NOTE [Stable variants for Inductor's caches]: torch's counters of both caches (by the names the bench and
    `Lowered.cache` read) and AOTAutograd's refusal of a `call_method` node without an example value, which
    `fill_example_values` prevents. A torch upgrade that renames one fails here, by name (test_inductor_caches.py
    checks the behaviour in two processes)."""
    from torch._functorch._aot_autograd import autograd_cache

    assert isinstance(dynamo_meta.cache_counter("inductor", "fxgraph_cache_hit"), int)
    assert isinstance(dynamo_meta.cache_counter("aot_autograd", "autograd_cache_bypass"), int)
    source = inspect.getsource(autograd_cache)
    assert "autograd_cache_bypass" in source and "Unsupported call_method target" in source
