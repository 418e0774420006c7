"""CogVideoX text-to-video with Pyramid Attention Broadcast done by the cachepass compiler backend.

    python examples/cogvideox.py                              # tiny random CogVideoX, no downloads
    python examples/cogvideox.py --compiler eager --runs 1    # no Inductor compile: seconds on a CPU
    python examples/cogvideox.py --checkpoint ./CogVideoX-2b --save-frames frames/

The pipeline is diffusers' own `CogVideoXPipeline`; the only change is the transformer:

    pipe.transformer = torch.compile(pipe.transformer, backend="cachepass", options={
        "cache": PyramidAttentionBroadcastConfig(spatial_attention_block_skip_range=2,
                                                 spatial_attention_timestep_skip_range=(100, 800))})

CogVideoX runs classifier-free guidance as one batched call per step (batch 2, under
`cache_context("cond_uncond")`) with an int64 timestep of shape (2,); cachepass reads the timestep
from that input, so no `current_timestep_callback` is needed.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402
import tiny_pipelines  # noqa: E402

_tiny = tiny_pipelines.COGVIDEOX_CALL
EXAMPLE = common.Example(
    name="CogVideoX",
    pipeline_class="CogVideoXPipeline",
    frames_kwarg="num_frames",
    build_tiny=lambda seed: tiny_pipelines.cogvideox_pipeline(seed),
    tiny=common.Preset(_tiny["num_frames"], _tiny["height"], _tiny["width"], _tiny["num_inference_steps"],
                       _tiny["guidance_scale"]),
    checkpoint=common.Preset(49, 480, 720, 50, 6.0),
    checkpoint_hint="THUDM/CogVideoX-2b or CogVideoX-5b downloaded with huggingface-cli",
    # The text length must equal the transformer's (CogVideoX 1.0 adds positional embeddings over text + video):
    # 226 for the released checkpoints, 16 for the tiny model.
    from_pipeline=lambda pipe: {"max_sequence_length": pipe.transformer.config.max_text_seq_length},
)


def main(argv: Sequence[str] | None = None) -> common.Result:
    return common.main(EXAMPLE, __doc__.split("\n\n")[0], argv)


if __name__ == "__main__":
    main()
