"""Generations found in what the model is fed (runtime/base.py, NOTE [When a generation starts]): models fed a
rising time (`1 - t / 1000`: Ideogram 4, Lumina-Next) equal diffusers' hooks step by step with the hooks'
steps reused, over two generations, with no recompile; and a generation that reused nothing although the plan
asked for reuse is said before the next one starts."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import pytest
import torch
from diffusers import PyramidAttentionBroadcastConfig, TaylorSeerCacheConfig
from diffusers.hooks import HookRegistry, apply_pyramid_attention_broadcast, apply_taylorseer_cache
from diffusers.models.cache_utils import CacheMixin
from helpers import max_diff
from torch._dynamo.utils import counters

import cachepass
from cachepass.models import DemoModel
from cachepass.runtime.base import GenerationOrder
from cachepass.timesteps import timesteps_linspace

STEPS = 8
TIMESTEPS = timesteps_linspace(STEPS)  # the scheduler's, falling; the models are fed 1 - t / 1000


@dataclass
class RisingTimeModel(DemoModel):
    """A DemoModel fed `1 - t / 1000` (0 is noise, 1 the image), as the Lumina-Next and Ideogram 4 pipelines
    feed their transformers."""

    def inputs(self, timestep: torch.Tensor | float, batch: int | None = None) -> dict[str, Any]:
        kwargs = super().inputs(timestep, batch)
        kwargs["timestep"] = 1 - kwargs["timestep"] / 1000
        return kwargs


def _seeded(seed: int, shapes: dict[str, tuple[int, ...]], per_sample: dict[str, torch.Tensor],
            fixed: dict[str, Any] | None = None):
    """Seeded random inputs of `shapes`, `per_sample` tensors (batch 1) repeated to the batch, `fixed` ones as given."""
    def make(batch: int) -> dict[str, Any]:
        gen = torch.Generator().manual_seed(seed)
        kwargs: dict[str, Any] = {k: torch.randn((batch, *shape), generator=gen) for k, shape in shapes.items()}
        kwargs.update({k: v.expand(batch, *v.shape[1:]).contiguous() for k, v in per_sample.items()})
        kwargs.update(fixed or {})
        return kwargs

    return make


def ideogram4() -> RisingTimeModel:
    """Ideogram 4: 2 blocks under `layers`, 8 text + 16 image tokens packed in one sequence, MRoPE ids."""
    from diffusers.models.transformers.transformer_ideogram4 import (LLM_TOKEN_INDICATOR, OUTPUT_IMAGE_INDICATOR,
                                                                     Ideogram4Transformer2DModel)

    torch.manual_seed(0)
    module = Ideogram4Transformer2DModel(in_channels=8, num_layers=2, attention_head_dim=16, num_attention_heads=2,
                                         intermediate_size=32, adaln_dim=16, llm_features_dim=16, rope_theta=10000,
                                         mrope_section=(2, 2, 2)).eval()
    text, grid = 8, 4
    indicator = torch.tensor([LLM_TOKEN_INDICATOR] * text + [OUTPUT_IMAGE_INDICATOR] * grid * grid)[None]
    positions = torch.zeros(1, text + grid * grid, 3, dtype=torch.long)
    positions[0, :text, 0] = torch.arange(text)
    positions[0, text:, 1] = torch.arange(grid).repeat_interleave(grid)
    positions[0, text:, 2] = torch.arange(grid).repeat(grid)
    extra = {"position_ids": positions, "segment_ids": torch.zeros(1, text + grid * grid, dtype=torch.long),
             "indicator": indicator}
    shapes = {"hidden_states": (text + grid * grid, 8), "encoder_hidden_states": (text + grid * grid, 16)}
    return RisingTimeModel("ideogram4", "tiny", module, _seeded(21, shapes, extra), channel_dim=2)


def lumina_next() -> RisingTimeModel:
    """Lumina-Next: 2 blocks under `layers` (self attention attn1, cross attention attn2), 2D RoPE as the
    pipeline builds it, a padded-prompt mask."""
    from diffusers import LuminaNextDiT2DModel
    from diffusers.models.embeddings import get_2d_rotary_pos_embed_lumina

    torch.manual_seed(0)
    module = LuminaNextDiT2DModel(sample_size=8, patch_size=2, in_channels=4, hidden_size=32, num_layers=2,
                                  num_attention_heads=2, num_kv_heads=2, multiple_of=16, learn_sigma=False,
                                  cross_attention_dim=16).eval()
    mask = torch.zeros(1, 8, dtype=torch.long)
    mask[:, :6] = 1
    rotary = {"image_rotary_emb": get_2d_rotary_pos_embed_lumina(module.head_dim, 16, 16),
              "cross_attention_kwargs": {}}  # the pipeline passes a dict; None fails in LuminaNextDiTBlock
    shapes = {"hidden_states": (4, 8, 8), "encoder_hidden_states": (8, 16)}
    return RisingTimeModel("lumina_next", "tiny", module, _seeded(22, shapes, {"encoder_mask": mask}, rotary))


MODELS = {"ideogram4": ideogram4, "lumina_next": lumina_next}
# Both families name their blocks `layers`, which neither diffusers' PAB identifiers nor TaylorSeer's default
# select; Lumina-Next's attn1 is its self attention (attn2, cross attention, is left out to keep two variants).
PAB_LAYERS = {"ideogram4": ("layers",), "lumina_next": ("layers",)}
TS_IDENTIFIERS = {"ideogram4": [r"layers\.\d+\.attention"], "lumina_next": [r"layers\.\d+\.attn1"]}


class Hooked:
    """An eager deep copy of a model with one of diffusers' hooks (TaylorSeer's needs a `cache_context`); the PAB
    callback returns the scheduler's timestep, as `lambda: pipe.current_timestep` does."""

    def __init__(self, demo: DemoModel, method: str, config: Any) -> None:
        self.demo, self.module, self.timestep = demo, copy.deepcopy(demo.module), None
        apply = apply_pyramid_attention_broadcast if method == "pab" else apply_taylorseer_cache
        apply(self.module, config)  # neither model is a CacheMixin: no enable_cache
        self.layers = [m for name, m in self.module.named_modules() if _hooked(m)]
        self.computed: list[int] = []  # per call: how many hooked layers ran their own forward
        for layer in self.layers:
            next(layer.children()).register_forward_hook(lambda *_: self._ran())

    def _ran(self) -> None:
        self.computed[-1] += 1

    def __call__(self, timestep: float) -> torch.Tensor:
        self.timestep = timestep
        self.computed.append(0)
        with torch.no_grad(), CacheMixin.cache_context(self.module, "cond"):
            return self.demo(self.module, timestep)

    def reset(self) -> None:  # a pipeline's end of __call__
        HookRegistry.check_if_exists_or_initialize(self.module).reset_stateful_hooks()

    def reused(self) -> list[bool]:
        return [ran < len(self.layers) for ran in self.computed]


def _hooked(module: torch.nn.Module) -> bool:
    registry = getattr(module, "_diffusers_hook", None)
    return registry is not None and any(registry.get_hook(name) is not None
                                        for name in ("pyramid_attention_broadcast", "taylorseer_cache"))


def _config(method: str, family: str, callback) -> Any:
    if method == "pab":
        return PyramidAttentionBroadcastConfig(spatial_attention_block_skip_range=2,
                                               spatial_attention_timestep_skip_range=(100, 800),
                                               spatial_attention_block_identifiers=PAB_LAYERS[family],
                                               current_timestep_callback=callback)
    return TaylorSeerCacheConfig(cache_interval=3, disable_cache_before_step=2, max_order=2,
                                 taylor_factors_dtype=torch.float32, cache_identifiers=TS_IDENTIFIERS[family])


@pytest.mark.parametrize("method", ["pab", "taylorseer"])
@pytest.mark.parametrize("family", sorted(MODELS))
def test_rising_time_equals_the_hooks_step_by_step_over_two_generations(family, method):
    """Fed 1 - t / 1000, the model's timestep rises: each call used to start a new generation, so nothing was
    reused (3e-4 .. 1e-2 from the hooks on these tiny models) and nothing said. The hook's generations end at the
    pipeline's reset; cachepass's, with no reset, where the timestep returns to the first value."""
    demo = MODELS[family]()
    reference = Hooked(demo, method, _config(method, family, lambda: reference.timestep))
    scheduler = [None]
    cfg = _config(method, family, lambda: scheduler[0])
    compiled = torch.compile(demo.module, backend="cachepass", fullgraph=True, options={"cache": cfg})  # Inductor
    with torch._dynamo.config.patch(error_on_recompile=True):
        for _ in range(2):
            for step, t in enumerate(TIMESTEPS):
                scheduler[0] = t
                theirs = reference(t)
                with torch.no_grad():
                    ours = demo(compiled, t)
                assert max_diff(ours, theirs) <= 1e-5, (step, t, max_diff(ours, theirs))
            reference.reset()
    graph = cachepass.compiled_graphs(compiled)[0]
    history = list(graph.states()[0][1].history)
    assert [bool(r.reused) for r in history] == reference.reused()
    assert sum(reference.reused()) >= 2 * 2  # the hooks reused something in each generation
    assert [r.generation for r in history] == [history[0].generation] * STEPS + [history[STEPS].generation] * STEPS
    assert history[0].generation != history[STEPS].generation
    assert counters["stats"]["unique_graphs"] == 1 and sum(counters["graph_break"].values()) == 0


@pytest.mark.parametrize("method", ["pab", "taylorseer"])
def test_a_generation_whose_every_read_was_refused_says_why_before_the_next_starts(method, caplog):
    """Batch 2 and 3 taking turns (one graph, its batch symbolic): each read the plan asks for was cached for the
    other batch and is refused. PAB's warning used to blame windows that did match; TaylorSeer said nothing."""
    demo, scheduler = ideogram4(), [None]
    compiled = torch.compile(demo.module, backend="cachepass", dynamic=True,
                             options={"cache": _config(method, "ideogram4", lambda: scheduler[0]), "compiler": "eager"})
    with torch.no_grad():
        for step, t in enumerate(TIMESTEPS):
            scheduler[0] = t
            demo(compiled, t, batch=2 + step % 2)
        assert "reused no" not in caplog.text  # the generation has not ended yet
        scheduler[0] = TIMESTEPS[0]
        demo(compiled, TIMESTEPS[0], batch=2)  # back to the first timestep: the next generation
    assert "although its plan asked for reuse" in caplog.text and "inputs changed shape" in caplog.text
    assert "never matched" not in caplog.text
    assert len(cachepass.compiled_graphs(compiled)) == 1


def test_generation_order_follows_either_direction():
    """The rule of NOTE [When a generation starts], call by call."""
    def generations(values: list[float]) -> list[int]:
        order, number, out = GenerationOrder(), 0, []
        for value in values:
            if order.starts_new(value):
                order, number = GenerationOrder(), number + 1
            order.follow(value)
            out.append(number)
        return out

    assert generations([999, 999, 500, 500, 0, 0, 999, 999, 0]) == [0, 0, 0, 0, 0, 0, 1, 1, 1]  # CFG calls, falling
    assert generations([0.0, 0.5, 1.0, 0.0, 0.5, 1.0]) == [0, 0, 0, 1, 1, 1]  # rising, run twice
    assert generations([0.2, 0.6, 0.2, 0.6]) == [0, 0, 1, 1]  # back to the first value
    assert generations([0.5, 0.7, 0.9, 0.8]) == [0, 0, 0, 1]  # against the direction
    assert generations([500, 999, 0]) == [0, 0, 1]  # a direction set by the first change, then turned
