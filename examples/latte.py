"""Latte text-to-video with Pyramid Attention Broadcast done by the cachepass compiler backend.

    python examples/latte.py                                  # tiny random Latte, no downloads
    python examples/latte.py --compiler eager --runs 1        # no Inductor compile: seconds on a CPU
    python examples/latte.py --checkpoint ./Latte-1 --save-frames frames/

The pipeline is diffusers' own `LattePipeline`; the only change is the transformer:

    pipe.transformer = torch.compile(pipe.transformer, backend="cachepass", options={
        "cache": PyramidAttentionBroadcastConfig(spatial_attention_block_skip_range=2,
                                                 spatial_attention_timestep_skip_range=(100, 800))})

Latte alternates spatial blocks (`transformer_blocks`) and temporal blocks
(`temporal_transformer_blocks`). With diffusers' config the temporal self attention is cached on the
*spatial* schedule whenever spatial_attention_block_skip_range is set (diffusers' identifiers are
searched anywhere in the name and "blocks" matches first); cachepass reproduces that, and says so in
a warning. The pipeline makes one batched CFG call per step (batch 2), with no cache_context.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402
import tiny_pipelines  # noqa: E402

_tiny = tiny_pipelines.LATTE_CALL
EXAMPLE = common.Example(
    name="Latte",
    pipeline_class="LattePipeline",
    frames_kwarg="video_length",
    build_tiny=lambda seed: tiny_pipelines.latte_pipeline(seed),
    tiny=common.Preset(_tiny["video_length"], _tiny["height"], _tiny["width"], _tiny["num_inference_steps"],
                       _tiny["guidance_scale"], {"clean_caption": False}),
    checkpoint=common.Preset(16, 512, 512, 50, 7.5, {"clean_caption": False}),
    checkpoint_hint="maxin-cn/Latte-1 downloaded with huggingface-cli",
)


def main(argv: Sequence[str] | None = None) -> common.Result:
    return common.main(EXAMPLE, __doc__.split("\n\n")[0], argv)


if __name__ == "__main__":
    main()
