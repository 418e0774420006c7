"""The example scripts run end to end on real diffusers pipelines and match diffusers' own PAB hook.

Each test runs an example's `main()` on its tiny random pipeline (cachepass with compiler="eager"
to skip Inductor compile time; Dynamo capture, tagging, planning, rewriting and dispatch are the
same as with Inductor), then builds the same pipeline again from the same seed, enables diffusers'
hook with `pipe.transformer.enable_cache(PyramidAttentionBroadcastConfig(...,
current_timestep_callback=lambda: pipe.current_timestep))`, calls it with the same arguments and
compares the videos.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
sys.path.insert(0, str(EXAMPLES))

import cachepass  # noqa: E402
import common  # noqa: E402
import tiny_pipelines  # noqa: E402
from cogvideox import EXAMPLE as COGVIDEOX  # noqa: E402
from cogvideox import main as cogvideox_main  # noqa: E402
from latte import EXAMPLE as LATTE  # noqa: E402
from latte import main as latte_main  # noqa: E402

TOLERANCE = 1e-4  # fp32, eager graph variants vs eager hooks
FAST = ["--compiler", "eager", "--runs", "1", "--quiet"]


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """The tiny pipelines are latency-bound: one thread is ~100x faster than two on a busy 2-core box."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def as_tensor(video) -> torch.Tensor:
    return torch.as_tensor(np.asarray(video)) if not isinstance(video, torch.Tensor) else video


def hooked_pipeline(example: common.Example, args, hooked: bool = True):
    """The same tiny pipeline (same seed), eager, with diffusers' PAB hook (or no cache at all)."""
    pipe = example.build_tiny(args.seed)
    if hooked:
        pipe.transformer.enable_cache(common.cache_config(args, current_timestep_callback=lambda: pipe.current_timestep))
    return pipe


def call(pipe, example: common.Example, args, seed: int | None = None, **overrides):
    """Call `pipe` as the example script did (same flags, same noise seed unless `seed` is given)."""
    kwargs = {**common.call_kwargs(example, args, pipe), **overrides}
    return pipe(generator=torch.Generator().manual_seed(args.seed if seed is None else seed), **kwargs).frames


def reference(example: common.Example, args, hooked: bool = True) -> torch.Tensor:
    return as_tensor(call(hooked_pipeline(example, args, hooked), example, args))


def steps_of(model) -> list[cachepass.methods.pab.runtime.StepRecord]:
    graphs = cachepass.report(model).graphs
    assert len(graphs) == 1, f"expected one cachepass graph (no recompiles), got {len(graphs)}"
    assert graphs[0].cached, graphs[0].reason
    return list(graphs[0].steps)


def reused_steps(steps) -> list[int]:
    return [s.iteration for s in steps if s.reused]


@pytest.mark.parametrize("method", ["assign", "module"])
def test_cogvideox_example_matches_diffusers_hook(method, tmp_path):
    result = cogvideox_main([*FAST, "--compile-method", method, "--save-frames", str(tmp_path)])
    video = result.video
    sizes = tiny_pipelines.COGVIDEOX_CALL
    # output_type="pt": (batch, frames, channels, height, width), values in [0, 1]
    assert isinstance(video, torch.Tensor)
    assert video.shape == (1, sizes["num_frames"], 3, sizes["height"], sizes["width"])
    assert 0.0 <= float(video.min()) and float(video.max()) <= 1.0
    assert len(list(tmp_path.glob("frame_*.png"))) == sizes["num_frames"]
    if method == "assign":
        assert isinstance(result.pipe.transformer, torch._dynamo.eval_frame.OptimizedModule)
    else:
        assert type(result.pipe.transformer).__name__ == "CogVideoXTransformer3DModel"

    # 10 trailing DDIM steps: 999, 899, ..., 99; (100, 800) with skip 2 reuses on iterations 3, 5, 7.
    steps = steps_of(result.pipe.transformer)
    assert [int(s.timestep) for s in steps] == list(range(999, 0, -100))
    assert reused_steps(steps) == [3, 5, 7]
    assert all(s.reused == frozenset({"spatial"}) for s in steps if s.reused)

    hooked = reference(COGVIDEOX, result.args)
    assert float((video - hooked).abs().max()) <= TOLERANCE
    uncached = reference(COGVIDEOX, result.args, hooked=False)
    assert float((video - uncached).abs().max()) > 100 * TOLERANCE  # reuse really changed the video


def test_latte_example_matches_diffusers_hook():
    result = latte_main([*FAST, "--output-type", "np"])
    video = result.video
    sizes = tiny_pipelines.LATTE_CALL
    # output_type="np": (batch, frames, height, width, channels)
    assert isinstance(video, np.ndarray)
    assert video.shape == (1, sizes["video_length"], sizes["height"], sizes["width"], 3)

    steps = steps_of(result.pipe.transformer)
    assert reused_steps(steps) == [3, 5, 7]
    # diffusers' rule caches the temporal blocks' self attention on the spatial schedule, like the spatial ones
    sites = cachepass.report(result.pipe.transformer).graphs[0].sites
    assert sorted(s.name for s in sites if s.cache_kind == "spatial") == [
        "temporal_transformer_blocks.0.attn1", "temporal_transformer_blocks.1.attn1",
        "transformer_blocks.0.attn1", "transformer_blocks.1.attn1"]

    hooked = reference(LATTE, result.args)
    assert float((as_tensor(video) - hooked).abs().max()) <= TOLERANCE
    uncached = reference(LATTE, result.args, hooked=False)
    assert float((as_tensor(video) - uncached).abs().max()) > 100 * TOLERANCE


def test_latte_pt_output_layout():
    result = latte_main([*FAST, "--output-type", "pt", "--frames", "4", "--steps", "4"])
    assert result.video.shape == (1, 4, 3, 16, 16)  # (batch, frames, channels, height, width)


def test_consecutive_calls_start_new_generations():
    """Two pipeline calls with different step counts: the timestep rises from 99 to 999 between them,
    so cachepass starts a new generation, as diffusers' `_reset_stateful_cache` does at the end of
    every pipeline call."""
    result = cogvideox_main([*FAST, "--steps", "10"])
    pipe, args = result.pipe, result.args
    second = call(pipe, COGVIDEOX, args, num_inference_steps=6, prompt="a red cat")

    steps = steps_of(pipe.transformer)
    # a new generation for the second call (the pipeline's end-of-call reset and the start of its denoising
    # loop each start one: the numbers are not consecutive)
    first, later = steps[0].generation, steps[10].generation
    assert [(s.generation, s.iteration) for s in steps] == [(first, i) for i in range(10)] + [(later, i) for i in range(6)]
    assert later > first
    assert [int(s.timestep) for s in steps[10:]] == [999, 832, 666, 499, 332, 166]
    assert reused_steps(steps[10:]) == [3, 5]

    ref = hooked_pipeline(COGVIDEOX, args)
    first_ref = call(ref, COGVIDEOX, args)
    second_ref = call(ref, COGVIDEOX, args, num_inference_steps=6, prompt="a red cat")
    assert float((result.video - first_ref).abs().max()) <= TOLERANCE
    assert float((second - second_ref).abs().max()) <= TOLERANCE


def test_one_step_calls_do_not_share_cache():
    result = cogvideox_main([*FAST, "--steps", "1", "--timesteps", "100", "1000"])
    pipe, args = result.pipe, result.args
    second = call(pipe, COGVIDEOX, args, seed=args.seed + 1, prompt="a red cat")
    assert not any(s.reused for s in steps_of(pipe.transformer))
    ref = hooked_pipeline(COGVIDEOX, args)
    call(ref, COGVIDEOX, args)
    second_ref = call(ref, COGVIDEOX, args, seed=args.seed + 1, prompt="a red cat")
    assert float((second - second_ref).abs().max()) <= TOLERANCE


def test_wan_pipeline_matches_diffusers_hook():
    """WanPipeline calls the transformer twice per step (cache_context "cond" then "uncond", same
    timestep). diffusers' PAB hook keeps one state per attention module, not per cache context, so its
    counter advances on both calls and, with skip 2, every uncond call inside the window returns the
    cond call's attention of the same step. cachepass counts calls the same way."""
    from diffusers import PyramidAttentionBroadcastConfig

    config = dict(spatial_attention_block_skip_range=2, spatial_attention_timestep_skip_range=(100, 800))
    wan_call = dict(tiny_pipelines.WAN_CALL, prompt=tiny_pipelines.PROMPT, negative_prompt=tiny_pipelines.NEGATIVE_PROMPT,
                output_type="pt")
    pipe = tiny_pipelines.wan_pipeline(0)
    pipe.transformer = torch.compile(pipe.transformer, backend="cachepass", fullgraph=True, options={
        "cache": PyramidAttentionBroadcastConfig(**config), "compiler": "eager"})
    video = pipe(generator=torch.Generator().manual_seed(0), **wan_call).frames
    ref = tiny_pipelines.wan_pipeline(0)
    ref.transformer.enable_cache(PyramidAttentionBroadcastConfig(**config,
                                                                 current_timestep_callback=lambda: ref.current_timestep))
    expected = ref(generator=torch.Generator().manual_seed(0), **wan_call).frames
    steps = steps_of(pipe.transformer)
    assert len(steps) == 2 * wan_call["num_inference_steps"]
    assert reused_steps(steps) == [9, 11, 13, 15, 17]  # the uncond calls at t = 790 .. 278
    assert float((video - expected).abs().max()) <= TOLERANCE


def test_checkpoint_folder(tmp_path):
    """--checkpoint loads a local diffusers folder with from_pretrained: here the tiny pipeline, saved."""
    COGVIDEOX.build_tiny(0).save_pretrained(tmp_path)
    sizes = tiny_pipelines.COGVIDEOX_CALL
    result = cogvideox_main([*FAST, "--checkpoint", str(tmp_path), "--frames", str(sizes["num_frames"]),
                             "--height", str(sizes["height"]), "--width", str(sizes["width"]),
                             "--steps", str(sizes["num_inference_steps"])])
    assert result.video.shape == (1, sizes["num_frames"], 3, sizes["height"], sizes["width"])
    assert reused_steps(steps_of(result.pipe.transformer)) == [3, 5, 7]
    hooked = hooked_pipeline(COGVIDEOX, result.args)
    expected = call(hooked, COGVIDEOX, result.args)
    assert float((result.video - expected).abs().max()) <= TOLERANCE


def test_help_explains_flags():
    for example in (COGVIDEOX, LATTE):
        text = common.build_parser(example, "x").format_help()
        for flag in ("--checkpoint", "--steps", "--frames", "--output-type", "--spatial-skip", "--timesteps",
                     "--compiler", "--compile-method", "--save-frames"):
            assert flag in text
        assert example.pipeline_class in text
