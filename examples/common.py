"""What the example scripts share: flags, the cache config, compiling the transformer, running and
timing the pipeline, printing cachepass's report, saving frames.

The scripts (`cogvideox.py`, `latte.py`) only say how to build their pipeline and which sizes to
use; everything cachepass-specific happens here and is the same three lines a user would write:

    config = PyramidAttentionBroadcastConfig(spatial_attention_block_skip_range=2,
                                             spatial_attention_timestep_skip_range=(100, 800))
    pipe.transformer = torch.compile(pipe.transformer, backend="cachepass", options={"cache": config})
    video = pipe(prompt, ...).frames
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

EXAMPLES = Path(__file__).resolve().parent
if str(EXAMPLES) not in sys.path:  # let `python examples/<name>.py` and tests import tiny_pipelines
    sys.path.insert(0, str(EXAMPLES))

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


@dataclass
class Preset:
    """Pipeline call sizes for one setting (tiny random model, or a real checkpoint)."""

    num_frames: int
    height: int
    width: int
    steps: int
    guidance_scale: float
    extra: dict[str, Any] = field(default_factory=dict)  # other pipeline kwargs (clean_caption, ...)


@dataclass
class Example:
    """One pipeline family: how to build it and what to call it with."""

    name: str  # "CogVideoX"
    pipeline_class: str  # diffusers class used with --checkpoint
    frames_kwarg: str  # the pipeline's name for the frame count: num_frames (CogVideoX) or video_length (Latte)
    build_tiny: Callable[[int], Any]  # seed -> pipeline with random weights
    tiny: Preset
    checkpoint: Preset  # defaults when --checkpoint is given
    checkpoint_hint: str  # which checkpoints fit, for --help
    from_pipeline: Callable[[Any], dict[str, Any]] | None = None  # call kwargs read from the loaded pipeline


@dataclass
class Result:
    pipe: Any
    video: Any  # what the pipeline returned in .frames for the output type: torch.Tensor, np.ndarray or PIL lists
    seconds: list[float]  # wall time of each pipeline call; the first includes compilation
    args: argparse.Namespace
    saved: list[Path] = field(default_factory=list)


def build_parser(example: Example, description: str) -> argparse.ArgumentParser:
    t, c = example.tiny, example.checkpoint
    parser = argparse.ArgumentParser(
        description=description, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=f"""sizes:
  without --checkpoint: a tiny {example.name} with random weights (no downloads):
    {t.num_frames} frames, {t.height}x{t.width}, {t.steps} steps, guidance {t.guidance_scale}
  with --checkpoint DIR: {example.pipeline_class}.from_pretrained(DIR), e.g. {example.checkpoint_hint}:
    {c.num_frames} frames, {c.height}x{c.width}, {c.steps} steps, guidance {c.guidance_scale}
  --frames/--height/--width/--steps/--guidance-scale override either.

PAB: an attention layer of a cached kind computes on every N-th call (N = --spatial-skip etc.) and
returns its previous output on the others, while the timestep lies strictly inside --timesteps.
The flags build diffusers' PyramidAttentionBroadcastConfig, which cachepass takes as is.""")
    model = parser.add_argument_group("model")
    model.add_argument("--checkpoint", type=Path, metavar="DIR",
                       help=f"a local diffusers {example.pipeline_class} folder (default: tiny random model)")
    model.add_argument("--dtype", choices=tuple(DTYPES), default=None,
                       help="weights dtype (default: bfloat16 for --checkpoint on a GPU, else float32)")
    model.add_argument("--device", default=None, help="cuda, cpu, ... (default: cuda when available)")
    model.add_argument("--seed", type=int, default=0, help="weights seed of the tiny model and noise seed (default: 0)")
    call = parser.add_argument_group("pipeline call")
    call.add_argument("--prompt", default=None, help="text prompt (default: a panda playing guitar)")
    call.add_argument("--negative-prompt", default=None, help="negative prompt for classifier-free guidance")
    call.add_argument("--frames", type=int, default=None, help=f"video frames ({example.frames_kwarg}=)")
    call.add_argument("--height", type=int, default=None, help="output height in pixels")
    call.add_argument("--width", type=int, default=None, help="output width in pixels")
    call.add_argument("--steps", type=int, default=None, help="num_inference_steps")
    call.add_argument("--guidance-scale", type=float, default=None, help="classifier-free guidance scale (> 1: CFG)")
    call.add_argument("--output-type", choices=("pt", "np", "pil"), default="pt",
                      help="pt: tensor (batch, frames, channels, H, W); np: array (batch, frames, H, W, channels); "
                           "pil: lists of PIL images (default: pt)")
    call.add_argument("--runs", type=int, default=2,
                      help="pipeline calls; the first one compiles, later ones show the warm time (default: 2)")
    cache = parser.add_argument_group("cache (diffusers' PyramidAttentionBroadcastConfig)")
    cache.add_argument("--spatial-skip", type=int, default=2,
                       help="spatial_attention_block_skip_range (default: 2; 0 disables)")
    cache.add_argument("--temporal-skip", type=int, default=0,
                       help="temporal_attention_block_skip_range (default: 0, disabled)")
    cache.add_argument("--cross-skip", type=int, default=0,
                       help="cross_attention_block_skip_range (default: 0, disabled)")
    cache.add_argument("--timesteps", type=float, nargs=2, default=(100, 800), metavar=("LOW", "HIGH"),
                       help="timestep window of every kind: reuse only while LOW < t < HIGH (default: 100 800)")
    comp = parser.add_argument_group("compiler")
    comp.add_argument("--compiler", choices=("inductor", "eager"), default="inductor",
                      help="how cachepass compiles its graph variants: inductor (default) or eager (FX graphs run "
                           "as Python; no compile time, for debugging)")
    comp.add_argument("--compile-method", choices=("assign", "module"), default="assign",
                      help="assign: pipe.transformer = torch.compile(pipe.transformer, ...) (default); "
                           "module: pipe.transformer.compile(...) in place")
    comp.add_argument("--no-fullgraph", action="store_true",
                      help="allow graph breaks (default: fullgraph=True, an error on any graph break)")
    comp.add_argument("--no-compile", action="store_true",
                      help="run the pipeline eagerly without cachepass (a baseline for timings and outputs)")
    comp.add_argument("--threads", type=int, default=None,
                      help="torch CPU threads (default: torch's choice; 1 is fastest for the tiny model)")
    out = parser.add_argument_group("output")
    out.add_argument("--save-frames", type=Path, metavar="DIR",
                     help="write the first video's frames as DIR/frame_000.png, ...")
    out.add_argument("--quiet", action="store_true", help="print only the summary line, not the cachepass report")
    return parser


def cache_config(args: argparse.Namespace, current_timestep_callback: Callable[[], Any] | None = None):
    """diffusers' PyramidAttentionBroadcastConfig from the flags (0 -> None: that kind is not cached)."""
    from diffusers import PyramidAttentionBroadcastConfig

    window = tuple(args.timesteps)
    return PyramidAttentionBroadcastConfig(
        spatial_attention_block_skip_range=args.spatial_skip or None,
        temporal_attention_block_skip_range=args.temporal_skip or None,
        cross_attention_block_skip_range=args.cross_skip or None,
        spatial_attention_timestep_skip_range=window, temporal_attention_timestep_skip_range=window,
        cross_attention_timestep_skip_range=window, current_timestep_callback=current_timestep_callback)


def compile_transformer(pipe: Any, args: argparse.Namespace) -> None:
    """Put cachepass on `pipe.transformer`, one of the two ways torch.compile can be applied."""
    options = {"cache": cache_config(args), "compiler": args.compiler}
    fullgraph = not args.no_fullgraph
    if args.compile_method == "assign":
        # An OptimizedModule: pipelines still read .config, .dtype, .cache_context(...) through it.
        pipe.transformer = torch.compile(pipe.transformer, backend="cachepass", fullgraph=fullgraph, options=options)
    else:
        # nn.Module.compile: the pipeline keeps the original module, whose __call__ now runs compiled.
        pipe.transformer.compile(backend="cachepass", fullgraph=fullgraph, options=options)


def load_pipeline(example: Example, args: argparse.Namespace) -> Any:
    import diffusers

    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    dtype_name = args.dtype or ("bfloat16" if args.checkpoint is not None and device.type == "cuda" else "float32")
    if args.checkpoint is not None:
        # diffusers >= 0.42 names it `dtype` (`torch_dtype` still works, with a deprecation warning)
        pipe = getattr(diffusers, example.pipeline_class).from_pretrained(args.checkpoint, dtype=DTYPES[dtype_name])
    else:
        pipe = example.build_tiny(args.seed)  # float32
        if dtype_name != "float32":
            pipe = pipe.to(dtype=DTYPES[dtype_name])
    pipe.set_progress_bar_config(disable=True)
    return pipe.to(device)


def call_kwargs(example: Example, args: argparse.Namespace, pipe: Any) -> dict[str, Any]:
    """The pipeline call arguments (except the generator) from the flags, the preset and the pipeline."""
    from tiny_pipelines import NEGATIVE_PROMPT, PROMPT

    preset = example.checkpoint if args.checkpoint is not None else example.tiny
    kwargs = dict(preset.extra)
    if example.from_pipeline is not None:
        kwargs.update(example.from_pipeline(pipe))
    kwargs.update({
        "prompt": args.prompt or PROMPT,
        "negative_prompt": args.negative_prompt if args.negative_prompt is not None else NEGATIVE_PROMPT,
        example.frames_kwarg: args.frames or preset.num_frames,
        "height": args.height or preset.height,
        "width": args.width or preset.width,
        "num_inference_steps": args.steps or preset.steps,
        "guidance_scale": args.guidance_scale if args.guidance_scale is not None else preset.guidance_scale,
        "output_type": args.output_type,
    })
    return kwargs


def run(example: Example, args: argparse.Namespace) -> Result:
    """Build, compile with cachepass, call the pipeline `--runs` times, report and save."""
    if args.threads:
        torch.set_num_threads(args.threads)
    pipe = load_pipeline(example, args)
    if not args.no_compile:
        compile_transformer(pipe, args)
    kwargs = call_kwargs(example, args, pipe)
    seconds, video = [], None
    for _ in range(max(args.runs, 1)):
        generator = torch.Generator(device="cpu").manual_seed(args.seed)
        start = time.perf_counter()
        video = pipe(generator=generator, **kwargs).frames
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        seconds.append(time.perf_counter() - start)
    result = Result(pipe, video, seconds, args)
    if args.save_frames is not None:
        result.saved = save_frames(video, args.save_frames)
    return result


def describe_video(video: Any) -> str:
    if isinstance(video, torch.Tensor):
        return f"torch.Tensor {tuple(video.shape)} {video.dtype} (batch, frames, channels, height, width)"
    if hasattr(video, "shape"):  # numpy
        return f"numpy.ndarray {tuple(video.shape)} {video.dtype} (batch, frames, height, width, channels)"
    return f"{len(video)} video(s) of {len(video[0])} PIL images {video[0][0].size}"


def print_summary(example: Example, result: Result) -> None:
    import cachepass

    args = result.args
    what = "eager, no cache" if args.no_compile else f"cachepass ({args.compiler}, {args.compile_method})"
    source = args.checkpoint or f"tiny random {example.name}"
    print(f"{example.pipeline_class} [{source}] with {what}")
    print(f"output: {describe_video(result.video)}")
    times = ", ".join(f"{s:.2f}s" for s in result.seconds)
    note = "" if args.no_compile else "the first includes compilation; "
    print(f"pipeline calls: {times} ({note}{torch.get_num_threads()} CPU threads)")
    if result.saved:
        print(f"saved {len(result.saved)} frames to {result.saved[0].parent}")
    if not args.no_compile and not args.quiet:
        print()
        print(cachepass.report(result.pipe.transformer))


def save_frames(video: Any, folder: Path) -> list[Path]:
    """The first video's frames as PNG files."""
    import numpy as np
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    if isinstance(video, torch.Tensor):  # (B, F, C, H, W) in [0, 1]
        frames = [(f.permute(1, 2, 0).float().cpu().numpy() * 255).round().astype(np.uint8) for f in video[0]]
    elif hasattr(video, "shape"):  # (B, F, H, W, C) in [0, 1]
        frames = [(f * 255).round().astype(np.uint8) for f in video[0]]
    else:  # PIL
        frames = [np.asarray(f) for f in video[0]]
    paths = []
    for i, frame in enumerate(frames):
        path = folder / f"frame_{i:03d}.png"
        Image.fromarray(frame).save(path)
        paths.append(path)
    return paths


def main(example: Example, description: str, argv: Sequence[str] | None = None) -> Result:
    args = build_parser(example, description).parse_args(argv)
    result = run(example, args)
    print_summary(example, result)
    return result
