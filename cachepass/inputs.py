"""Synthetic call inputs for diffusers transformers built from a config or a checkpoint.

`cachepass dump` traces models it has never seen; every supported class gets an input builder that
reads the sizes it needs from the model's config, so a latent of the chosen size and a random text
embedding are all that is needed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from .models import DemoModel


@dataclass(frozen=True)
class InputSize:
    batch: int = 1
    frames: int = 2  # latent frames (video models)
    height: int = 8  # latent height
    width: int = 8  # latent width
    text_tokens: int = 8


Builder = Callable[[Any, InputSize, torch.Generator], dict[str, Any]]


def _cogvideox(config: Any, size: InputSize, gen: torch.Generator) -> dict[str, Any]:
    return {"hidden_states": torch.randn(size.batch, size.frames, config.in_channels, size.height, size.width,
                                         generator=gen),
            "encoder_hidden_states": torch.randn(size.batch, size.text_tokens, config.text_embed_dim, generator=gen)}


def _latte(config: Any, size: InputSize, gen: torch.Generator) -> dict[str, Any]:
    return {"hidden_states": torch.randn(size.batch, config.in_channels, size.frames, size.height, size.width,
                                         generator=gen),
            "encoder_hidden_states": torch.randn(size.batch, size.text_tokens, config.caption_channels, generator=gen),
            "enable_temporal_attentions": True}


def _pixart(config: Any, size: InputSize, gen: torch.Generator) -> dict[str, Any]:
    return {"hidden_states": torch.randn(size.batch, config.in_channels, size.height, size.width, generator=gen),
            "encoder_hidden_states": torch.randn(size.batch, size.text_tokens, config.caption_channels, generator=gen),
            "added_cond_kwargs": {"resolution": None, "aspect_ratio": None}}


BUILDERS: dict[str, Builder] = {
    "CogVideoXTransformer3DModel": _cogvideox,
    "LatteTransformer3DModel": _latte,
    "PixArtTransformer2DModel": _pixart,
}


def demo_model(module: nn.Module, size: InputSize, seed: int = 0) -> DemoModel:
    """Wrap a diffusers transformer with synthetic inputs of `size`."""
    name = type(module).__name__
    builder = BUILDERS.get(name)
    if builder is None:
        raise ValueError(f"cachepass has no synthetic inputs for {name}; supported classes: "
                         f"{', '.join(sorted(BUILDERS))}. Trace it from Python with torch.compile and "
                         f"cachepass.report() instead.")

    def make_inputs(batch: int) -> dict[str, Any]:
        gen = torch.Generator().manual_seed(seed)
        return builder(module.config, InputSize(batch, size.frames, size.height, size.width, size.text_tokens), gen)

    return DemoModel(name, "custom", module.eval(), make_inputs, batch=size.batch)
