"""Tiny random-weight builders for the diffusers transformer families cachepass is checked against.

Every builder returns a `cachepass.models.DemoModel`: 1-2 layers, 2 heads of 8-16 channels, a few
dozen tokens, so that a 12-step loop with Inductor compiles stays in seconds per family. Inputs are
what the family's diffusers pipeline passes to the transformer (rotary embeddings, position ids,
masks, pooled projections, guidance, size conditions), built the same way, except the timestep,
which `DemoModel.inputs` adds (a float tensor of shape (batch,)).

Timestep notes (what the pipelines really pass; `DemoModel.inputs` always passes float t in 999..0):
- Flux multiplies its `timestep` input by 1000: the pipeline passes t / 1000. `flux()` therefore
  returns a `ScaledTimestepModel` that divides by 1000 (otherwise the time embedding sees ~1e6 and
  Inductor's differently-ordered float math does not match eager). The timestep cachepass reads from
  the graph input is then t / 1000: a diffusers config needs `current_timestep_callback` (which
  diffusers requires anyway) for the windows to mean the same thing.
- Mochi's pipeline passes t decreasing but its `current_timestep` (what a PAB callback returns) is
  1000 - t, increasing.
- CogVideoX, Latte, PixArt, Allegro pipelines pass integer (int64) timesteps from DDIM/DPM schedulers;
  all 12 families were also checked with int64 timesteps (same parity), but this file passes floats.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from cachepass import models
from cachepass.models import DemoModel


@dataclass
class ScaledTimestepModel(DemoModel):
    """A DemoModel whose timestep input is `timestep * timestep_scale` (Flux: 1/1000), like its pipeline.

    What models.DemoModel.inputs would need as an option: `timestep_scale: float = 1.0` (and
    `timestep_dtype` for the integer-timestep pipelines)."""

    timestep_scale: float = 1.0

    def inputs(self, timestep: torch.Tensor | float, batch: int | None = None) -> dict[str, Any]:
        kwargs = super().inputs(timestep, batch)
        kwargs["timestep"] = kwargs["timestep"] * self.timestep_scale
        return kwargs


def _maker(seed: int, shapes: dict[str, tuple[int, ...]],
           extra: Callable[[int], dict[str, Any]] | None = None) -> Callable[[int], dict[str, Any]]:
    """Seeded random tensors (batch first) plus deterministic extras built per batch size."""

    def make(batch: int) -> dict[str, Any]:
        gen = torch.Generator().manual_seed(seed)
        kwargs: dict[str, Any] = {k: torch.randn((batch, *shape), generator=gen) for k, shape in shapes.items()}
        if extra is not None:
            kwargs.update(extra(batch))
        return kwargs

    return make


def _text_mask(batch: int, tokens: int, valid: int, dtype=torch.long) -> torch.Tensor:
    """A padded-prompt mask: the first `valid` tokens are real (1), the rest padding (0)."""
    mask = torch.zeros(batch, tokens, dtype=dtype)
    mask[:, :valid] = 1
    return mask


# -- families already built into cachepass.models -------------------------------------------------

def cogvideox() -> DemoModel:
    """CogVideoX 1.0 (2B-style: sincos positions, no rotary, no temporal patching)."""
    return models.cogvideox("tiny")


def latte() -> DemoModel:
    return models.latte("tiny")


def pixart() -> DemoModel:
    """PixArt-alpha, plus the padded-prompt mask its pipeline passes (encoder_attention_mask)."""
    demo = models.pixart("tiny")
    make = demo.make_inputs
    demo.make_inputs = lambda batch: {**make(batch), "encoder_attention_mask": _text_mask(batch, 8, 6)}
    return demo


# -- new families -----------------------------------------------------------------------------

def cogvideox15() -> DemoModel:
    """CogVideoX 1.5 (5B-I2V style): temporal patches (patch_size_t=2), ofs embedding, 3D rotary
    embeddings on a "slice" grid, no sincos/learned positions, no patch bias, image latents
    concatenated on channels (in_channels = 2 x out_channels)."""
    from diffusers import CogVideoXTransformer3DModel
    from diffusers.models.embeddings import get_3d_rotary_pos_embed

    heads, head_dim, hw, frames, p, p_t = 2, 16, 8, 4, 2, 2
    module = CogVideoXTransformer3DModel(
        num_attention_heads=heads, attention_head_dim=head_dim, in_channels=8, out_channels=4, time_embed_dim=16,
        ofs_embed_dim=16, text_embed_dim=16, num_layers=2, sample_width=hw, sample_height=hw, sample_frames=13,
        patch_size=p, patch_size_t=p_t, temporal_compression_ratio=4, max_text_seq_length=8, patch_bias=False,
        use_rotary_positional_embeddings=True, use_learned_positional_embeddings=False).eval()

    def extra(batch: int) -> dict[str, Any]:
        # pipeline_cogvideox_image2video: _prepare_rotary_positional_embeddings (1.5 branch) and ofs
        rotary = get_3d_rotary_pos_embed(embed_dim=head_dim, crops_coords=None, grid_size=(hw // p, hw // p),
                                         temporal_size=(frames + p_t - 1) // p_t, grid_type="slice",
                                         max_size=(hw // p, hw // p))
        return {"image_rotary_emb": rotary, "ofs": torch.full((1,), 2.0)}

    shapes = {"hidden_states": (frames, 8, hw, hw), "encoder_hidden_states": (8, 16)}
    # I2V: in_channels (8) = noisy latent (4) + image latent (4); a denoising loop updates only the first 4.
    return DemoModel("cogvideox15", "tiny", module, _maker(11, shapes, extra), channel_dim=2)


def allegro() -> DemoModel:
    """Allegro: spatial self attention with Allegro's 3D rotary embedding, cross attention with a
    padded-prompt mask (converted to a bias inside the model)."""
    from diffusers import AllegroTransformer3DModel
    from diffusers.models.embeddings import get_3d_rotary_pos_embed_allegro

    heads, head_dim, hw, frames, p = 2, 12, 8, 2, 2  # head_dim: 3 rotary axes of 4 channels
    module = AllegroTransformer3DModel(
        patch_size=p, patch_size_t=1, num_attention_heads=heads, attention_head_dim=head_dim, in_channels=4,
        out_channels=4, num_layers=2, cross_attention_dim=heads * head_dim, sample_height=hw, sample_width=hw,
        sample_frames=frames, caption_channels=16).eval()
    config = module.config

    def extra(batch: int) -> dict[str, Any]:
        # pipeline_allegro: _prepare_rotary_positional_embeddings
        grid = hw // p
        freqs_t, freqs_h, freqs_w, grid_t, grid_h, grid_w = get_3d_rotary_pos_embed_allegro(
            embed_dim=head_dim, crops_coords=((0, 0), (grid, grid)), grid_size=(grid, grid), temporal_size=frames,
            interpolation_scale=(config.interpolation_scale_t, config.interpolation_scale_h,
                                 config.interpolation_scale_w))
        pos = torch.cartesian_prod(grid_t.long(), grid_h.long(), grid_w.long())
        pos = pos.reshape(-1, 3).transpose(0, 1).reshape(3, 1, -1).contiguous()
        return {"image_rotary_emb": ((freqs_t, freqs_h, freqs_w), tuple(pos)),
                "encoder_attention_mask": _text_mask(batch, 8, 6)}

    shapes = {"hidden_states": (4, frames, hw, hw), "encoder_hidden_states": (8, 16)}
    return DemoModel("allegro", "tiny", module, _maker(12, shapes, extra))


def flux() -> DemoModel:
    """Flux-dev style: 1 double-stream + 1 single-stream block, guidance embedding, RoPE from ids."""
    from diffusers import FluxTransformer2DModel

    grid, text = 4, 8
    module = FluxTransformer2DModel(
        patch_size=1, in_channels=8, num_layers=1, num_single_layers=1, attention_head_dim=16, num_attention_heads=2,
        joint_attention_dim=16, pooled_projection_dim=16, guidance_embeds=True, axes_dims_rope=(4, 6, 6)).eval()

    def extra(batch: int) -> dict[str, Any]:
        # pipeline_flux: _prepare_latent_image_ids (2D, no batch dim) and zero text ids
        ids = torch.zeros(grid, grid, 3)
        ids[..., 1] = torch.arange(grid)[:, None]
        ids[..., 2] = torch.arange(grid)[None, :]
        return {"img_ids": ids.reshape(-1, 3), "txt_ids": torch.zeros(text, 3),
                "guidance": torch.full((batch,), 3.5)}

    shapes = {"hidden_states": (grid * grid, 8), "encoder_hidden_states": (text, 16), "pooled_projections": (16,)}
    return ScaledTimestepModel("flux", "tiny", module, _maker(13, shapes, extra), channel_dim=2,
                               timestep_scale=1 / 1000)


def hunyuanvideo() -> DemoModel:
    """HunyuanVideo: token refiner (its own attention, under `context_embedder...refiner_blocks`),
    1 dual-stream + 1 single-stream block, RoPE, padded-prompt mask, guidance embedding."""
    from diffusers import HunyuanVideoTransformer3DModel

    module = HunyuanVideoTransformer3DModel(
        in_channels=4, out_channels=4, num_attention_heads=2, attention_head_dim=16, num_layers=1,
        num_single_layers=1, num_refiner_layers=1, mlp_ratio=2.0, patch_size=2, patch_size_t=1,
        qk_norm="rms_norm", guidance_embeds=True, text_embed_dim=16, pooled_projection_dim=8,
        rope_axes_dim=(4, 6, 6)).eval()

    def extra(batch: int) -> dict[str, Any]:
        return {"encoder_attention_mask": _text_mask(batch, 8, 6), "guidance": torch.full((batch,), 6000.0)}

    shapes = {"hidden_states": (4, 2, 8, 8), "encoder_hidden_states": (8, 16), "pooled_projections": (8,)}
    return DemoModel("hunyuanvideo", "tiny", module, _maker(14, shapes, extra))


def mochi() -> DemoModel:
    """Mochi: joint video+text attention (MochiAttention) that drops padded prompt tokens per sample."""
    from diffusers import MochiTransformer3DModel

    module = MochiTransformer3DModel(
        patch_size=2, num_attention_heads=2, attention_head_dim=16, num_layers=2, pooled_projection_dim=16,
        in_channels=4, text_embed_dim=16, time_embed_dim=16, max_sequence_length=8).eval()

    def extra(batch: int) -> dict[str, Any]:
        return {"encoder_attention_mask": _text_mask(batch, 8, 6)}

    shapes = {"hidden_states": (4, 2, 8, 8), "encoder_hidden_states": (8, 16)}
    return DemoModel("mochi", "tiny", module, _maker(15, shapes, extra))


def framepack() -> DemoModel:
    """HunyuanVideoFramepack as diffusers' pipeline test builds it (history latents, image projection). At batch 1
    its forward cuts the text to `mask.sum()` tokens: a graph break without fullgraph, sizes read from data
    (unbacked symbols) with it. Frame indices are 1-D, as the pipeline passes them. Not in FAMILIES: its own tests."""
    from diffusers import HunyuanVideoFramepackTransformer3DModel

    module = HunyuanVideoFramepackTransformer3DModel(
        in_channels=4, out_channels=4, num_attention_heads=2, attention_head_dim=10, num_layers=1, num_single_layers=1,
        num_refiner_layers=1, patch_size=2, patch_size_t=1, guidance_embeds=True, text_embed_dim=16,
        pooled_projection_dim=8, rope_axes_dim=(2, 4, 4), image_condition_type=None, has_image_proj=True,
        image_proj_dim=32, has_clean_x_embedder=True).eval()

    def extra(batch: int) -> dict[str, Any]:
        return {"encoder_attention_mask": _text_mask(batch, 7, 5), "guidance": torch.full((batch,), 6.0),
                "indices_latents": torch.arange(0, 3), "indices_latents_clean": torch.arange(3, 6),
                "indices_latents_history_2x": torch.arange(6, 8), "indices_latents_history_4x": torch.arange(8, 24)}

    shapes = {"hidden_states": (4, 3, 8, 8), "encoder_hidden_states": (7, 16), "pooled_projections": (8,),
              "image_embeds": (3, 32), "latents_clean": (4, 3, 8, 8), "latents_history_2x": (4, 2, 8, 8),
              "latents_history_4x": (4, 16, 8, 8)}
    return DemoModel("framepack", "tiny", module, _maker(17, shapes, extra))


def wan() -> DemoModel:
    """Wan 2.1 T2V: self attention with RoPE, cross attention to text, under `blocks`."""
    from diffusers import WanTransformer3DModel

    module = WanTransformer3DModel(
        patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=16, in_channels=4, out_channels=4,
        text_dim=16, freq_dim=16, ffn_dim=32, num_layers=2, rope_max_seq_len=32).eval()
    shapes = {"hidden_states": (4, 2, 8, 8), "encoder_hidden_states": (8, 16)}
    return DemoModel("wan", "tiny", module, _maker(16, shapes))


def ltx() -> DemoModel:
    """LTX-Video: packed latents (B, F*H*W, C), RoPE from (frames, height, width), padded-prompt mask."""
    from diffusers import LTXVideoTransformer3DModel

    frames, hw = 2, 4
    module = LTXVideoTransformer3DModel(
        in_channels=8, out_channels=8, patch_size=1, patch_size_t=1, num_attention_heads=2, attention_head_dim=12,
        cross_attention_dim=24, num_layers=2, caption_channels=16).eval()

    def extra(batch: int) -> dict[str, Any]:
        # pipeline_ltx: rope_interpolation_scale = (temporal compression / frame rate, spatial, spatial)
        return {"encoder_attention_mask": _text_mask(batch, 8, 6), "num_frames": frames, "height": hw, "width": hw,
                "rope_interpolation_scale": (8 / 25, 32, 32)}

    shapes = {"hidden_states": (frames * hw * hw, 8), "encoder_hidden_states": (8, 16)}
    return DemoModel("ltx", "tiny", module, _maker(17, shapes, extra), channel_dim=2)


def sd3() -> DemoModel:
    """SD3.5 style: joint attention blocks, block 0 with the extra image-only attention (attn2,
    dual_attention_layers), qk RMSNorm, last block context_pre_only."""
    from diffusers import SD3Transformer2DModel

    module = SD3Transformer2DModel(
        sample_size=8, patch_size=2, in_channels=4, num_layers=2, attention_head_dim=8, num_attention_heads=2,
        joint_attention_dim=16, caption_projection_dim=16, pooled_projection_dim=16, out_channels=4,
        pos_embed_max_size=8, dual_attention_layers=(0,), qk_norm="rms_norm").eval()
    shapes = {"hidden_states": (4, 8, 8), "encoder_hidden_states": (8, 16), "pooled_projections": (16,)}
    return DemoModel("sd3", "tiny", module, _maker(18, shapes))


def cogview4() -> DemoModel:
    """CogView4: joint text+image attention with RoPE, SDXL-like size conditions."""
    from diffusers import CogView4Transformer2DModel

    module = CogView4Transformer2DModel(
        patch_size=2, in_channels=4, out_channels=4, num_layers=2, attention_head_dim=16, num_attention_heads=2,
        text_embed_dim=16, time_embed_dim=16, condition_dim=8, pos_embed_max_size=8, sample_size=8,
        rope_axes_dim=(8, 8)).eval()

    def extra(batch: int) -> dict[str, Any]:
        # pipeline_cogview4: (height, width) in pixels and the crop's top-left corner, per sample
        return {"original_size": torch.tensor([[64.0, 64.0]]).repeat(batch, 1),
                "target_size": torch.tensor([[64.0, 64.0]]).repeat(batch, 1),
                "crop_coords": torch.tensor([[0.0, 0.0]]).repeat(batch, 1)}

    shapes = {"hidden_states": (4, 8, 8), "encoder_hidden_states": (8, 16)}
    return DemoModel("cogview4", "tiny", module, _maker(19, shapes, extra))


FAMILIES: dict[str, Callable[[], DemoModel]] = {
    "cogvideox": cogvideox, "cogvideox15": cogvideox15, "latte": latte, "pixart": pixart, "allegro": allegro,
    "flux": flux, "hunyuanvideo": hunyuanvideo, "mochi": mochi, "wan": wan, "ltx": ltx, "sd3": sd3,
    "cogview4": cogview4,
}


def build_family(name: str, seed: int = 0) -> DemoModel:
    torch.manual_seed(seed)
    return FAMILIES[name]()
