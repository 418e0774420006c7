"""Built-in demo models: diffusers transformers and a plain PyTorch DiT, built from configs with
random weights (no downloads), in a `tiny` size for tests and a `small` size for the demo and bench.

    model = build("cogvideox", size="small")
    out = model.module(**model.inputs(timestep=torch.tensor([999.0])), return_dict=False)[0]
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

SIZES = ("tiny", "small")


@dataclass
class DemoModel:
    name: str
    size: str
    module: nn.Module
    make_inputs: Callable[[int], dict[str, Any]]  # batch -> call kwargs without the timestep
    batch: int = 1
    returns_dict: bool = True  # diffusers models take return_dict=
    latent_key: str = "hidden_states"  # the input a denoising loop updates
    channel_dim: int = 1  # channel dimension of the latent (2 for CogVideoX's B, F, C, H, W)
    device: torch.device = torch.device("cpu")
    dtype: torch.dtype = torch.float32

    def to(self, device: torch.device | str, dtype: torch.dtype) -> DemoModel:
        self.module.to(device=device, dtype=dtype)
        self.device, self.dtype = torch.device(device), dtype
        return self

    def inputs(self, timestep: torch.Tensor | float, batch: int | None = None) -> dict[str, Any]:
        """Call kwargs for one denoising step; `timestep` is broadcast to the batch as a float tensor."""
        batch = self.batch if batch is None else batch
        kwargs = {k: v.to(self.device, self.dtype) if isinstance(v, torch.Tensor) and v.is_floating_point() else v
                  for k, v in self.make_inputs(batch).items()}
        kwargs["timestep"] = torch.as_tensor(timestep, dtype=torch.float32).reshape(-1).expand(batch).contiguous().to(self.device)
        if self.returns_dict:
            kwargs["return_dict"] = False
        return kwargs

    def __call__(self, module: Callable[..., Any], timestep: torch.Tensor | float, batch: int | None = None):
        """Run `module` (this model, a compiled version, or a hooked copy) for one step; returns a tensor."""
        out = module(**self.inputs(timestep, batch))
        return out[0] if isinstance(out, (tuple, list)) else out


def _seeded_inputs(seed: int, shapes: dict[str, tuple[int, ...]], extra: dict[str, Any] | None = None):
    def make(batch: int) -> dict[str, Any]:
        gen = torch.Generator().manual_seed(seed)
        kwargs: dict[str, Any] = {k: torch.randn((batch, *shape), generator=gen) for k, shape in shapes.items()}
        kwargs.update(extra or {})
        return kwargs

    return make


def cogvideox(size: str = "tiny") -> DemoModel:
    from diffusers import CogVideoXTransformer3DModel

    if size == "tiny":  # 2 layers, 2x8 heads, 8 + 32 tokens
        dims = dict(num_attention_heads=2, attention_head_dim=8, num_layers=2, text_embed_dim=16, frames=2, hw=8, text=8)
    else:  # 4 layers, 4x32 heads, 32 text + 3 frames x 24x24/4 video tokens = 464 tokens
        dims = dict(num_attention_heads=4, attention_head_dim=32, num_layers=4, text_embed_dim=64, frames=3, hw=24,
                    text=32)
    module = CogVideoXTransformer3DModel(
        num_attention_heads=dims["num_attention_heads"], attention_head_dim=dims["attention_head_dim"],
        in_channels=4, out_channels=4, time_embed_dim=16, text_embed_dim=dims["text_embed_dim"],
        num_layers=dims["num_layers"], sample_width=dims["hw"], sample_height=dims["hw"], sample_frames=5,
        patch_size=2, temporal_compression_ratio=4, max_text_seq_length=dims["text"]).eval()
    shapes = {"hidden_states": (dims["frames"], 4, dims["hw"], dims["hw"]),
              "encoder_hidden_states": (dims["text"], dims["text_embed_dim"])}
    return DemoModel("cogvideox", size, module, _seeded_inputs(1, shapes), channel_dim=2)


def latte(size: str = "tiny") -> DemoModel:
    from diffusers import LatteTransformer3DModel

    heads, head_dim, layers, frames, hw = (2, 8, 2, 2, 8) if size == "tiny" else (4, 32, 4, 4, 16)
    module = LatteTransformer3DModel(
        num_attention_heads=heads, attention_head_dim=head_dim, in_channels=4, out_channels=8, num_layers=layers,
        cross_attention_dim=heads * head_dim, sample_size=hw, patch_size=2, video_length=frames,
        caption_channels=16, norm_type="ada_norm_single").eval()
    shapes = {"hidden_states": (4, frames, hw, hw), "encoder_hidden_states": (8, 16)}
    return DemoModel("latte", size, module, _seeded_inputs(2, shapes, {"enable_temporal_attentions": True}))


def pixart(size: str = "tiny") -> DemoModel:
    from diffusers import PixArtTransformer2DModel

    heads, head_dim, layers, hw = (2, 8, 2, 8) if size == "tiny" else (4, 32, 4, 32)
    module = PixArtTransformer2DModel(
        num_attention_heads=heads, attention_head_dim=head_dim, in_channels=4, out_channels=8, num_layers=layers,
        cross_attention_dim=heads * head_dim, sample_size=hw, patch_size=2, caption_channels=16,
        norm_type="ada_norm_single", use_additional_conditions=False).eval()
    shapes = {"hidden_states": (4, hw, hw), "encoder_hidden_states": (8, 16)}
    extra = {"added_cond_kwargs": {"resolution": None, "aspect_ratio": None}}
    return DemoModel("pixart", size, module, _seeded_inputs(3, shapes, extra))


def dit(size: str = "tiny") -> DemoModel:
    """A video DiT written in plain PyTorch: no diffusers classes, attention via F.scaled_dot_product_attention."""
    dim, heads, layers, frames, hw = (16, 2, 2, 2, 8) if size == "tiny" else (128, 4, 4, 4, 16)
    module = PlainVideoDiT(in_channels=4, dim=dim, heads=heads, layers=layers, context_dim=16).eval()
    shapes = {"x": (4, frames, hw, hw), "context": (8, 16)}
    return DemoModel("dit", size, module, _seeded_inputs(4, shapes), returns_dict=False, latent_key="x")


BUILDERS: dict[str, Callable[[str], DemoModel]] = {
    "cogvideox": cogvideox, "latte": latte, "pixart": pixart, "dit": dit}


def build(name: str, size: str = "tiny", seed: int = 0) -> DemoModel:
    if name not in BUILDERS:
        raise ValueError(f"unknown built-in model {name!r}; choose one of {', '.join(BUILDERS)}")
    if size not in SIZES:
        raise ValueError(f"unknown size {size!r}; choose one of {', '.join(SIZES)}")
    torch.manual_seed(seed)
    return BUILDERS[name](size)


# -- a plain PyTorch video DiT ---------------------------------------------------------------------

class Attention(nn.Module):
    """Multi-head attention; cross attention when called with a context."""

    def __init__(self, dim: int, heads: int, context_dim: int | None = None) -> None:
        super().__init__()
        self.heads = heads
        self.to_q = nn.Linear(dim, dim)
        self.to_kv = nn.Linear(context_dim or dim, 2 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        batch, tokens, dim = x.shape
        q = self.to_q(x)
        k, v = self.to_kv(x if context is None else context).chunk(2, dim=-1)
        q, k, v = (t.unflatten(-1, (self.heads, -1)).transpose(1, 2) for t in (q, k, v))
        out = F.scaled_dot_product_attention(q, k, v)
        return self.proj(out.transpose(1, 2).reshape(batch, tokens, dim))


class Block(nn.Module):
    """Spatial self attention within a frame, temporal self attention across frames, cross attention to
    the text context, MLP; all modulated by the timestep embedding (adaLN)."""

    def __init__(self, dim: int, heads: int, context_dim: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, elementwise_affine=False)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, elementwise_affine=False)
        self.temporal_attn = Attention(dim, heads)
        self.norm3 = nn.LayerNorm(dim)
        self.cross_attn = Attention(dim, heads, context_dim)
        self.norm4 = nn.LayerNorm(dim, elementwise_affine=False)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(approximate="tanh"), nn.Linear(4 * dim, dim))
        self.modulation = nn.Linear(dim, 6 * dim)

    def forward(self, x: torch.Tensor, temb: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        batch, frames, tokens, dim = x.shape
        shift1, scale1, gate1, shift2, scale2, gate2 = self.modulation(F.silu(temb))[:, None, None].chunk(6, dim=-1)
        h = (self.norm1(x) * (1 + scale1) + shift1).reshape(batch * frames, tokens, dim)
        x = x + gate1 * self.attn(h).reshape(batch, frames, tokens, dim)
        h = self.norm2(x).transpose(1, 2).reshape(batch * tokens, frames, dim)
        x = x + self.temporal_attn(h).reshape(batch, tokens, frames, dim).transpose(1, 2)
        h = self.norm3(x).reshape(batch, frames * tokens, dim)
        x = x + self.cross_attn(h, context).reshape(batch, frames, tokens, dim)
        return x + gate2 * self.mlp(self.norm4(x) * (1 + scale2) + shift2)


class PlainVideoDiT(nn.Module):
    def __init__(self, in_channels: int, dim: int, heads: int, layers: int, context_dim: int, patch: int = 2) -> None:
        super().__init__()
        self.patch = patch
        self.dim = dim
        self.embed = nn.Conv2d(in_channels, dim, patch, stride=patch)
        self.time_mlp = nn.Sequential(nn.Linear(dim, dim), nn.SiLU(), nn.Linear(dim, dim))
        self.blocks = nn.ModuleList(Block(dim, heads, context_dim) for _ in range(layers))
        self.norm_out = nn.LayerNorm(dim)
        self.proj_out = nn.Linear(dim, in_channels * patch * patch)

    def forward(self, x: torch.Tensor, timestep: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        batch, channels, frames, height, width = x.shape
        h = self.embed(x.transpose(1, 2).reshape(batch * frames, channels, height, width))
        h = h.flatten(2).transpose(1, 2).reshape(batch, frames, -1, self.dim)
        temb = self.time_mlp(_sinusoidal(timestep, self.dim))
        for block in self.blocks:
            h = block(h, temb, context)
        h = self.proj_out(self.norm_out(h))  # (B, F, N, C*p*p)
        p, gh, gw = self.patch, height // self.patch, width // self.patch
        h = h.reshape(batch, frames, gh, gw, channels, p, p).permute(0, 4, 1, 2, 5, 3, 6)
        return h.reshape(batch, channels, frames, height, width)


def _sinusoidal(timestep: torch.Tensor, dim: int) -> torch.Tensor:
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32, device=timestep.device) / half)
    angles = timestep.float()[:, None] * freqs[None]
    return torch.cat([torch.cos(angles), torch.sin(angles)], dim=-1)
