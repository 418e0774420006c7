"""Serving-process safety: shape, batch, CFG and step-count changes never read a stale cache;
memory does not grow over generations and is released by reset and garbage collection."""

from __future__ import annotations

import dataclasses
import functools
import gc
import logging
import threading

import pytest
import torch
from diffusers import PyramidAttentionBroadcastConfig
from torch._dynamo.utils import counters
from helpers import HookedReference, max_diff

import cachepass
from cachepass.models import build
from cachepass.timesteps import timesteps_linspace

CONFIG = PyramidAttentionBroadcastConfig(spatial_attention_block_skip_range=2)
EAGER = {"cache": CONFIG, "compiler": "eager"}


def compiled_and_reference(name="cogvideox"):
    demo = build(name)
    return demo, torch.compile(demo.module, backend="cachepass", options=EAGER), HookedReference(demo, CONFIG)


def test_step_count_changes_between_generations_match_the_hook():
    demo, compiled, reference = compiled_and_reference()
    with torch.no_grad():
        for steps in (12, 7, 20):
            reference.reset()  # what pipelines do at the end of __call__; cachepass sees the timestep rise
            for t in timesteps_linspace(steps):
                assert max_diff(demo(compiled, t), reference(t)) <= 1e-6, (steps, t)


def at_12x12(make_inputs):
    """`make_inputs` with a 12x12 latent instead of the demo's 8x8: a resolution change."""
    def larger(batch):
        inputs = make_inputs(batch)
        inputs["hidden_states"] = torch.randn(batch, 2, 4, 12, 12, generator=torch.Generator().manual_seed(5))
        return inputs
    return larger


def test_resolution_change_between_generations_uses_a_fresh_cache():
    demo, compiled, reference = compiled_and_reference()
    small = demo.make_inputs
    larger = at_12x12(small)

    with torch.no_grad():
        for make_inputs in (small, larger, small):
            demo.make_inputs = make_inputs
            reference.reset()
            for t in timesteps_linspace(8):
                assert max_diff(demo(compiled, t), reference(t)) <= 1e-6
    graphs = cachepass.compiled_graphs(compiled)
    assert len(graphs) == 2  # Dynamo's one recompile to a dynamic-shape graph; later sizes reuse it


def test_resolution_change_inside_a_generation_computes_instead_of_reading(caplog):
    demo = build("cogvideox")
    compiled = torch.compile(demo.module, backend="cachepass", options=EAGER)
    timesteps = timesteps_linspace(12)
    original = demo.make_inputs
    larger = at_12x12(original)

    with torch.no_grad():
        demo.make_inputs = larger
        demo(compiled, 999.0)  # compiles the static 12x12 graph
        demo(compiled, 999.0, batch=2)  # and the dynamic-shape one, which serves 8x8 and 12x12 alike
        demo.make_inputs = original
        for t in timesteps[:3]:
            demo(compiled, t, batch=2)
        demo.make_inputs = larger
        with caplog.at_level(logging.WARNING, logger="cachepass"):
            out = demo(compiled, timesteps[3], batch=2)  # planned reuse, but the cache holds 8x8 attention
        assert max_diff(out, demo(demo.module, timesteps[3], batch=2)) <= 1e-6
    record = cachepass.compiled_graphs(compiled)[-1].states()[0][1].history[-1]
    assert record.planned == {"spatial"} and record.reused == frozenset()
    assert "not reusing spatial attention at step 5 (timestep 726.545)" in caplog.text


def test_cfg_switched_off_mid_generation_never_reads_the_batch_2_cache():
    """Batch 1 and batch 2 run in different Dynamo graphs; the model's step counter and latest cached
    values are shared, and a read must come from the same graph and input shapes."""
    demo = build("cogvideox")
    compiled = torch.compile(demo.module, backend="cachepass", options=EAGER)
    timesteps = timesteps_linspace(12)
    with torch.no_grad():
        demo(compiled, timesteps[0], batch=1)
        for t in timesteps[1:3]:
            demo(compiled, t, batch=2)  # CFG on: cond + uncond in one batch
        outs = [demo(compiled, t, batch=1) for t in timesteps[3:6]]  # CFG off
        for out, t in zip(outs[:2], timesteps[3:5]):
            assert max_diff(out, demo(demo.module, t, batch=1)) <= 1e-6
    history = cachepass.compiled_graphs(compiled)[0].states()[0][1].history
    assert [r.iteration for r in history] == list(range(6))
    assert history[3].planned == {"spatial"} and history[3].reused == frozenset()  # written by the batch-2 graph
    assert history[5].reused == {"spatial"}  # written at step 4 by the batch-1 graph: a valid read
    assert history[3].graph == history[0].graph != history[1].graph


def test_a_hundred_generations_hold_no_more_memory_than_one():
    demo = build("cogvideox")
    compiled = torch.compile(demo.module, backend="cachepass", options=EAGER)
    timesteps = timesteps_linspace(6, 700.0, 300.0)  # ends inside the window: caches stay held

    def live_tensors() -> int:
        gc.collect()
        return sum(1 for o in gc.get_objects() if isinstance(o, torch.Tensor))

    held = []
    with torch.no_grad():
        for generation in range(100):
            for t in timesteps:
                demo(compiled, t)
            state = cachepass.compiled_graphs(compiled)[0].states()[0][1]
            held.append((len(state.entries), state.cache_bytes()))
            if generation == 10:
                baseline = live_tensors()
    assert len(set(held)) == 1 and held[0][1] > 0
    assert live_tensors() <= baseline
    assert state.generation == 99


def test_reset_and_garbage_collection_release_the_caches():
    demo = build("cogvideox")
    compiled = torch.compile(demo.module, backend="cachepass", options=EAGER)
    with torch.no_grad():
        for t in timesteps_linspace(6, 700.0, 300.0):
            demo(compiled, t)
    graph = cachepass.compiled_graphs(compiled)[0]
    state = graph.states()[0][1]
    assert state.cache_bytes() > 0
    cachepass.reset(compiled)
    assert state.cache_bytes() == 0 and not state.entries

    with torch.no_grad():
        for t in timesteps_linspace(6, 700.0, 300.0):
            demo(compiled, t)
    assert [owner for owner, _ in graph.states() if owner is not None]
    del demo, compiled, state
    gc.collect()
    assert [owner for owner, _ in graph.states() if owner is not None] == []  # the model's state went with it


def test_windows_that_never_match_are_reported(caplog):
    demo = build("cogvideox")
    config = cachepass.PABConfig(spatial_skip=2, spatial_timesteps=(100, 800))
    compiled = torch.compile(demo.module, backend="cachepass", options={"cache": config, "compiler": "eager"})
    with torch.no_grad(), caplog.at_level(logging.WARNING, logger="cachepass"):
        for generation in range(2):
            for t in timesteps_linspace(8, 1.0, 0.0):  # a flow-matching model fed sigmas in [0, 1]
                demo(compiled, t)
    assert "a whole generation of 8 steps (timesteps 1 .. 0) reused no attention" in caplog.text
    assert "spatial (100, 800) never matched" in caplog.text


def test_a_pipeline_reset_reaches_the_model_after_the_graph_that_first_listened_is_gone():
    """A model's state outlives its graphs (a recompile, torch._dynamo.reset()): the pipeline's
    end-of-call reset must still reach it through the listener attached by the first graph."""
    demo = build("cogvideox")
    options = {"cache": PyramidAttentionBroadcastConfig(spatial_attention_block_skip_range=2), "compiler": "eager"}
    first = torch.compile(demo.module, backend="cachepass", options=options)
    with torch.no_grad():
        demo(first, 700.0)
    state = cachepass.compiled_graphs(first)[0].states()[0][1]
    del first
    torch._dynamo.reset()
    gc.collect()
    second = torch.compile(demo.module, backend="cachepass", options=options)
    with torch.no_grad():
        demo(second, 650.0)
    assert cachepass.compiled_graphs(second)[0].states()[0][1] is state  # same model, same state
    generation = state.generation
    demo.module._reset_stateful_cache()  # what a pipeline does at the end of __call__
    assert state.generation == generation + 1


def test_reset_reaches_a_state_whose_graphs_are_gone():
    """States outlive their graphs; torch._dynamo.reset() frees the graphs but not the states, and
    cachepass.reset must still reach them (it walks the methods' state registries, not live graphs)."""
    demo = build("cogvideox")
    compiled = torch.compile(demo.module, backend="cachepass", options=EAGER)
    with torch.no_grad():
        for t in timesteps_linspace(6, 700.0, 300.0):
            demo(compiled, t)
    state = cachepass.compiled_graphs(compiled)[0].states()[0][1]
    assert state.cache_bytes() > 0
    del compiled
    torch._dynamo.reset()
    gc.collect()
    assert cachepass.compiled_graphs(demo.module) == []  # no graph holds the state any more
    cachepass.reset(demo.module)
    assert state.cache_bytes() == 0 and state.iteration == 0


def _other_request(demo, seed: int):
    """The same model asked for another prompt: new encoder_hidden_states."""
    base = demo.make_inputs

    def make_inputs(batch):
        inputs = base(batch)
        text = inputs["encoder_hidden_states"]
        inputs["encoder_hidden_states"] = torch.randn(text.shape, generator=torch.Generator().manual_seed(seed))
        return inputs

    return dataclasses.replace(demo, make_inputs=make_inputs)


def _alternate(jobs):
    """Run the threads' step lists strictly in turn (A0 B0 A1 B1 ...), each step in its own thread."""
    order = [k for i in range(max(map(len, jobs))) for k, job in enumerate(jobs) if i < len(job)]
    position, cond = [0], threading.Condition()
    results, errors = [[] for _ in jobs], []

    def run(k):
        try:
            with torch.no_grad():  # grad mode is per thread
                for step in jobs[k]:
                    with cond:
                        cond.wait_for(lambda: errors or order[position[0]] == k)
                        if errors:
                            return
                        try:
                            results[k].append(step())
                        finally:
                            position[0] += 1
                            cond.notify_all()
        except BaseException as err:  # noqa: BLE001 -- re-raised in the test's thread
            with cond:
                errors.append(err)
                cond.notify_all()

    threads = [threading.Thread(target=run, args=(k,)) for k in range(len(jobs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    if errors:
        raise errors[0]
    return results


def test_two_threads_driving_one_model_keep_their_own_caches():
    """Two requests (other prompts, other step counts) interleaved step by step on one compiled model:
    each equals diffusers' hooks running that request alone."""
    demo = build("cogvideox")
    compiled = torch.compile(demo.module, backend="cachepass", options=EAGER)
    with torch.no_grad():
        demo(compiled, 999.0)  # compile in this thread first
    cachepass.reset(compiled)
    requests = [(_other_request(demo, 11), timesteps_linspace(12)), (_other_request(demo, 12), timesteps_linspace(8, 900.0, 100.0))]
    jobs = [[functools.partial(request, compiled, t) for t in steps] for request, steps in requests]
    outputs = _alternate(jobs)
    for (request, steps), ours in zip(requests, outputs):
        reference = HookedReference(request, CONFIG)
        theirs = [reference(t) for t in steps]
        assert max(max_diff(a, b) for a, b in zip(ours, theirs)) <= 1e-6
    graph = cachepass.compiled_graphs(compiled)[0]
    gc.collect()
    assert len([s for owner, s in graph.states() if owner is not None]) == 1  # the requests' went with their threads


def test_two_threads_in_their_own_cache_contexts_keep_their_own_first_block_caches():
    """FirstBlockCache follows `cache_context` per thread: each thread holds its own context for its whole
    generation while the other's steps run in between."""
    from families import build_family
    from fbc_helpers import THRESHOLDS, TIMESTEPS_12, FBCHooked
    from diffusers import FirstBlockCacheConfig

    demo = build_family("flux")
    options = {"cache": FirstBlockCacheConfig(threshold=THRESHOLDS["flux"]), "compiler": "eager"}
    compiled = torch.compile(demo.module, backend="cachepass", options=options)
    with torch.no_grad(), demo.module.cache_context("warm-up"):
        demo(compiled, 999.0)
    requests = [(_other_request(demo, 21), "cond", TIMESTEPS_12), (_other_request(demo, 22), "uncond", TIMESTEPS_12[:8])]
    contexts = {}

    def step(k, request, context, t, first, last):
        if first:
            contexts[k] = demo.module.cache_context(context)
            contexts[k].__enter__()
        out = request(compiled, t)
        if last:
            contexts.pop(k).__exit__(None, None, None)
        return out

    jobs = [[functools.partial(step, k, request, context, t, i == 0, i == len(steps) - 1) for i, t in enumerate(steps)]
            for k, (request, context, steps) in enumerate(requests)]
    outputs = _alternate(jobs)
    for (request, context, steps), ours in zip(requests, outputs):
        reference = FBCHooked(request, THRESHOLDS["flux"], context)
        theirs = [reference(t) for t in steps]
        assert max(max_diff(a, b) for a, b in zip(ours, theirs)) <= 1e-5
        assert not all(reference.computed)  # some steps were skipped


def _generations_with_inductor(make_inputs_per_generation, batches, steps=6):
    """Generations at changing sizes through one Inductor-compiled model, each step checked against
    diffusers' hook (reset per generation, as pipelines do); returns the compiled model."""
    demo = build("cogvideox")
    compiled = torch.compile(demo.module, backend="cachepass", options={"cache": CONFIG})
    reference = HookedReference(demo, CONFIG)
    original = demo.make_inputs
    with torch.no_grad():
        for make_inputs, batch in zip(make_inputs_per_generation(original), batches):
            demo.make_inputs = make_inputs
            reference.reset()
            for t in timesteps_linspace(steps):
                assert max_diff(demo(compiled, t, batch=batch), reference(t, batch=batch)) <= 1e-5, (batch, t)
    return compiled


def _assert_dynamic_variants_compiled_with_the_graph(compiled):
    """The dynamic-shape graph read the cache through a variant compiled at backend time, with every variant
    its plan can reach (NOTE [Variants of a dynamic-shape graph compile with it]): none compiled after Dynamo
    froze its ShapeEnv, so any guard they added is one Dynamo installed (on torch 2.13 the compute variant
    adds seven for symbolic H and W)."""
    graphs = cachepass.compiled_graphs(compiled)
    assert len(graphs) == 2  # the static first graph, then Dynamo's automatic-dynamic one
    dynamic = graphs[-1]
    assert any(isinstance(e, torch.SymInt) for e in dynamic.captured.example_inputs())
    assert set(dynamic.lowered) == set(dynamic.plan.reachable()) and len(dynamic.lowered) > 1
    assert not any(lowered.after_freeze for lowered in dynamic.lowered.values())
    assert any(r.reused for _, s in dynamic.states() for r in s.history if r.graph == dynamic.serial)


def test_resolution_changes_with_inductor_under_dynamic_shapes_match_the_hook():
    """8x8, 12x12 (Dynamo recompiles with symbolic sizes), then 8x8 again on the dynamic graph: its reuse
    variant, compiled with the graph at 12x12, serves a size it was not compiled at."""
    compiled = _generations_with_inductor(lambda original: (original, at_12x12(original), original), (1, 1, 1))
    _assert_dynamic_variants_compiled_with_the_graph(compiled)


def test_batch_changes_with_inductor_under_dynamic_shapes_match_the_hook():
    compiled = _generations_with_inductor(lambda original: (original,) * 3, (1, 2, 3))
    _assert_dynamic_variants_compiled_with_the_graph(compiled)


def _one_generation_by_hand(timesteps, config=None):
    """A hand-written denoising loop: one generation, no pipeline, no second generation."""
    demo = build("cogvideox")
    config = config or cachepass.PABConfig(spatial_skip=2)  # spatial window (100, 800), diffusers' default
    compiled = torch.compile(demo.module, backend="cachepass", options={"cache": config, "compiler": "eager"})
    with torch.no_grad():
        outs = [demo(compiled, t) for t in timesteps]
    return demo, compiled, outs


WRONG_SCALES = {"t/1000": [t / 1000 for t in timesteps_linspace(8)], "5000..0": timesteps_linspace(8, 5000.0, 0.0)}


@pytest.mark.parametrize("scale", sorted(WRONG_SCALES))
def test_one_generation_in_another_timestep_scale_warns_by_reset(caplog, scale):
    timesteps = WRONG_SCALES[scale]
    with caplog.at_level(logging.WARNING, logger="cachepass"):
        demo, compiled, outs = _one_generation_by_hand(timesteps)
        graph = cachepass.compiled_graphs(compiled)[0]
        assert not any(r.reused for _, s in graph.states() for r in s.history)  # nothing was reused
        with torch.no_grad():  # and the outputs are plain eager's
            assert all(max_diff(out, demo(demo.module, t)) <= 1e-6 for out, t in zip(outs, timesteps))
        assert "reused no" not in caplog.text  # the generation has not ended yet
        cachepass.reset()
    message = f"a whole generation of 8 steps (timesteps {max(timesteps):g} .. {min(timesteps):g}) reused no attention"
    assert message in caplog.text
    assert "spatial (100, 800) never matched" in caplog.text and "current_timestep_callback" in caplog.text
    assert caplog.text.count("reused no") == 1


@pytest.mark.parametrize("scale", sorted(WRONG_SCALES))
def test_one_generation_in_another_timestep_scale_warns_when_collected(caplog, scale):
    with caplog.at_level(logging.WARNING, logger="cachepass"):
        demo, compiled, _ = _one_generation_by_hand(WRONG_SCALES[scale])
        del demo, compiled
        gc.collect()
        assert "spatial (100, 800) never matched" in caplog.text
        cachepass.reset()  # the state is gone: nothing to say twice
        gc.collect()
    assert caplog.text.count("reused no") == 1


def test_one_generation_in_the_model_scale_does_not_warn(caplog):
    with caplog.at_level(logging.WARNING, logger="cachepass"):
        demo, compiled, _ = _one_generation_by_hand(timesteps_linspace(8))
        graph = cachepass.compiled_graphs(compiled)[0]
        assert any(r.reused for _, s in graph.states() for r in s.history)
        cachepass.reset()
        del demo, compiled, graph
        gc.collect()
    assert "reused no" not in caplog.text


def test_a_resolution_change_mid_generation_says_the_variants_compile_again(caplog):
    """Dynamo's automatic-dynamic recompile hands cachepass a second graph of the same model: a WARNING names the
    input, its old and new shape, the variants that compile again and the fix; the first compile says nothing."""
    demo = build("cogvideox")
    compiled = torch.compile(demo.module, backend="cachepass", options=EAGER)
    timesteps = timesteps_linspace(12)
    larger = at_12x12(demo.make_inputs)

    with torch.no_grad(), caplog.at_level(logging.WARNING, logger="cachepass"):
        for t in timesteps[:4]:
            demo(compiled, t)
        assert counters["stats"]["unique_graphs"] == 1 and "input shapes changed" not in caplog.text
        first = cachepass.compiled_graphs(compiled)[0]
        compiled_variants = sorted(low.variant.name for low in first.lowered.values())
        assert compiled_variants == ["compute", "reuse-spatial"]
        demo.make_inputs = larger
        demo(compiled, timesteps[4])
    assert counters["stats"]["unique_graphs"] == 2  # torch's own count: Dynamo recompiled
    records = [r for r in caplog.records if "input shapes changed" in r.getMessage()]
    assert len(records) == 1 and records[0].levelno == logging.WARNING
    message = records[0].getMessage()
    assert "hidden_states (1, 2, 4, 8, 8) -> (1, 2, 4, 12, 12)" in message
    assert "the 2 variant(s) graph" in message and "(compute, reuse-spatial) compile again" in message
    assert "torch.compile(..., dynamic=True)" in message and "mark_dynamic(hidden_states, [3, 4])" in message
