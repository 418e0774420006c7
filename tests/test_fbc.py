"""FirstBlockCache inside the compiler, checked against diffusers' own FBC hook on eager copies (and a
hand-written FBC loop for a plain PyTorch DiT): same outputs, same steps skipped, one graph, no
recompiles, one Inductor compile per piece used, one host read per step."""

from __future__ import annotations

import copy
import re

import pytest
import torch
from diffusers import FirstBlockCacheConfig
from diffusers.hooks import hooks as diffusers_hooks
from families import build_family
from fbc_helpers import THRESHOLDS, TIMESTEPS_12, FBCHooked, PlainDiTFBC, compiled_call, count_host_reads
from helpers import max_diff
from torch import nn
from torch._dynamo.utils import counters

import cachepass
from cachepass.methods.fbc.plan import FBCPlan, step_pattern
from cachepass.models import DemoModel, build
from cachepass.timesteps import timesteps_linspace


def inductor_compiles() -> int:
    c = counters["inductor"]
    return c["fxgraph_cache_miss"] + c["fxgraph_cache_hit"] + c["fxgraph_cache_bypass"]


def fbc_steps(compiled) -> list:
    """Every step of the model in call order, whichever of its graphs ran it (the state is per model)."""
    graph = cachepass.compiled_graphs(compiled)[0]
    return list(graph.states()[0][1].history)


@pytest.mark.parametrize("family", sorted(THRESHOLDS))
def test_fbc_matches_diffusers_hook_step_by_step(family):
    demo = build_family(family)
    threshold = THRESHOLDS[family]
    reference = FBCHooked(demo, threshold)
    uncached = FBCHooked(demo, 1e-9)  # never skips: the uncached output of the same inputs
    config = FirstBlockCacheConfig(threshold=threshold)
    compiled = torch.compile(demo.module, backend="cachepass", fullgraph=True, options={"cache": config})
    skipped_differs = []
    for _ in range(2):  # two generations, reset between them as a pipeline does at the end of __call__
        for t in TIMESTEPS_12:
            theirs, ours, plain = reference(t), compiled_call(demo, compiled, t), uncached(t)
            assert max_diff(ours, theirs) <= 1e-5, f"{family} at t={t}"
            if not reference.computed[-1]:
                skipped_differs.append(max_diff(ours, plain) > 1e-5)
        reference.reset()
        uncached.reset()
        demo.module._reset_stateful_cache()  # reaches cachepass's listener: a new generation
    assert config.threshold == threshold  # diffusers' config is read, never mutated
    steps = fbc_steps(compiled)
    assert [r.compute for r in steps] == reference.computed
    assert 0 < reference.computed.count(False) < len(TIMESTEPS_12) * 2 - 2, step_pattern(steps)
    assert any(skipped_differs), "skip steps must not equal the uncached output"
    assert {r.context for r in steps} == {"cond"} and {r.iteration for r in steps[12:]} == set(range(12))
    assert all(r.host_reads == 1 for r in steps)


def test_fbc_on_a_plain_pytorch_dit_matches_a_hand_written_loop():
    demo = build("dit")
    reference = PlainDiTFBC(demo.module, threshold=0.03)
    compiled = torch.compile(demo.module, backend="cachepass", fullgraph=True,
                             options={"cache": cachepass.FBCConfig(threshold=0.03)})
    for t in TIMESTEPS_12:
        kwargs = demo.inputs(t)
        expected = reference(kwargs["x"], kwargs["timestep"], kwargs["context"])
        assert max_diff(compiled_call(demo, compiled, t, context=None), expected) <= 1e-5
    assert [r.compute for r in fbc_steps(compiled)] == reference.computed
    assert 0 < reference.computed.count(False) < 11
    graph = cachepass.compiled_graphs(compiled)[0]
    assert [b.name for b in graph.stack.blocks] == ["blocks.0", "blocks.1"]


class RenamedDiT(nn.Module):
    """The plain DiT with its blocks in a ModuleList diffusers does not know by name."""

    def __init__(self, dit: nn.Module) -> None:
        super().__init__()
        self.inner = dit
        self.stack = dit.blocks
        del dit.blocks

    def forward(self, x, timestep, context):
        m = self.inner
        batch, channels, frames, height, width = x.shape
        h = m.embed(x.transpose(1, 2).reshape(batch * frames, channels, height, width))
        h = h.flatten(2).transpose(1, 2).reshape(batch, frames, -1, m.dim)
        from cachepass.models import _sinusoidal

        temb = m.time_mlp(_sinusoidal(timestep, m.dim))
        for block in self.stack:
            h = block(h, temb, context)
        h = m.proj_out(m.norm_out(h))
        p, gh, gw = m.patch, height // m.patch, width // m.patch
        h = h.reshape(batch, frames, gh, gw, channels, p, p).permute(0, 4, 1, 2, 5, 3, 6)
        return h.reshape(batch, channels, frames, height, width)


def test_block_stack_is_found_from_the_graph_when_diffusers_names_do_not_match():
    demo = build("dit")
    module = RenamedDiT(demo.module).eval()
    renamed = DemoModel("dit", "tiny", module, demo.make_inputs, returns_dict=False, latent_key="x")
    reference = PlainDiTFBC(module.inner, threshold=0.03, blocks=module.stack)
    compiled = torch.compile(module, backend="cachepass", fullgraph=True,
                             options={"cache": cachepass.FBCConfig(threshold=0.03), "compiler": "eager"})
    for t in TIMESTEPS_12:
        kwargs = renamed.inputs(t)
        expected = reference(kwargs["x"], kwargs["timestep"], kwargs["context"])
        assert max_diff(compiled_call(renamed, compiled, t, context=None), expected) <= 1e-5
    stack = cachepass.compiled_graphs(compiled)[0].stack
    assert stack.lists == ("stack",) and stack.found_by == "ModuleLists of repeated blocks in the graph"


def test_fifty_steps_one_graph_no_recompiles_one_compile_per_piece_one_host_read(monkeypatch):
    demo = build_family("cogvideox")
    compiled = torch.compile(demo.module, backend="cachepass", fullgraph=True,
                             options={"cache": cachepass.FBCConfig(threshold=THRESHOLDS["cogvideox"])})
    timesteps = timesteps_linspace(50)
    for t in timesteps:
        compiled_call(demo, compiled, t)
    reads = count_host_reads(monkeypatch)
    with torch.compiler.set_stance("fail_on_recompile"):  # raises on any recompile
        for t in timesteps:
            compiled_call(demo, compiled, t)
    monkeypatch.undo()
    assert len(reads) == len(timesteps), f"host reads in 50 steps: {reads[:5]}..."  # one per step, counted here
    assert counters["stats"]["unique_graphs"] == 1
    assert sum(counters["graph_break"].values()) == 0
    graph = cachepass.compiled_graphs(compiled)[0]
    steps = fbc_steps(compiled)
    values = [r.value for r in steps[:50]]
    predicted = graph.plan.pieces([0.0 if v is None else v for v in values])
    assert set(graph.lowered) == set(predicted) == {"head", "head+decide", "tail-compute", "tail-reuse"}
    assert inductor_compiles() == len(predicted)
    assert [r.compute for r in steps[:50]] == [d.compute for d in graph.plan.simulate(
        [0.0 if v is None else v for v in values])]


def test_cache_context_keeps_one_state_per_name_like_diffusers():
    demo = build_family("cogvideox")
    threshold = THRESHOLDS["cogvideox"]
    reference = FBCHooked(demo, threshold)  # one hooked model, two contexts, as a pipeline with sequential CFG
    compiled = torch.compile(demo.module, backend="cachepass", fullgraph=True,
                             options={"cache": FirstBlockCacheConfig(threshold=threshold), "compiler": "eager"})
    for t in TIMESTEPS_12:
        for context, batch in (("cond", 1), ("uncond", 2)):  # different inputs per context
            reference.context = context
            expected = reference(t, batch)
            assert max_diff(compiled_call(demo, compiled, t, context, batch), expected) <= 1e-5
    steps = fbc_steps(compiled)
    assert [r.compute for r in steps] == reference.computed
    assert {r.context for r in steps} == {"cond", "uncond"}
    assert [r.iteration for r in steps if r.context == "uncond"] == list(range(12))


def test_without_a_context_one_state_and_a_rising_timestep_starts_a_generation():
    demo = build_family("cogvideox")
    compiled = torch.compile(demo.module, backend="cachepass", fullgraph=True,
                             options={"cache": cachepass.FBCConfig(threshold=0.3), "compiler": "eager"})
    first = [compiled_call(demo, compiled, t, context=None) for t in TIMESTEPS_12]
    second = [compiled_call(demo, compiled, t, context=None) for t in TIMESTEPS_12]  # no reset: the rise tells
    for a, b in zip(first, second):
        assert max_diff(a, b) == 0
    steps = fbc_steps(compiled)
    assert steps[12].iteration == 0 and steps[12].generation != steps[11].generation
    assert steps[12].compute and steps[12].value is None


def test_the_listener_records_the_context_through_diffusers_private_function():
    # listen.py wraps diffusers.hooks.hooks._set_cache_context (see NOTE [The context of the first call]); if
    # diffusers renames or stops calling it, this fails loudly.
    assert getattr(diffusers_hooks._set_cache_context, "_cachepass_recorder", False)
    demo = build_family("cogvideox")
    from cachepass.integrations.listen import current_context

    with demo.module.cache_context("cond"):
        assert current_context(demo.module).name == "cond"
    assert current_context(demo.module) is None


@pytest.mark.parametrize("make, message", [
    (lambda: cachepass.FBCConfig(threshold=0), "FBCConfig.threshold=0 must be > 0"),
    (lambda: cachepass.FBCConfig(threshold=-0.1), "FBCConfig.threshold=-0.1 must be > 0"),
    (lambda: cachepass.FBCConfig(threshold="0.1"), "FBCConfig.threshold='0.1' must be a number > 0"),
    (lambda: cachepass.FBCConfig(treshold=0.1), "FBCConfig has no field 'treshold' (did you mean 'threshold'?)"),
    (lambda: cachepass.FBCConfig(block_lists="blocks"), "FBCConfig.block_lists='blocks' must be a non-empty tuple"),
])
def test_fbc_config_rejects_bad_values(make, message):
    with pytest.raises(cachepass.ConfigError, match=re.escape(message)):
        make()


class NoStack(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Linear(4, 4)

    def forward(self, x, timestep):
        return self.proj(x) * timestep[:, None]


@pytest.mark.parametrize("model, config, message", [
    ("cogvideox", FirstBlockCacheConfig(threshold=0.0), "FirstBlockCacheConfig.threshold=0.0 must be > 0"),
    ("nostack", cachepass.FBCConfig(), "found no stack of repeated transformer blocks in this graph"),
    ("cogvideox", cachepass.FBCConfig(block_lists=("layers",)), "FBCConfig.block_lists names ['layers']"),
])
def test_bad_fbc_input_fails_before_any_inductor_work(model, config, message):
    compiled_model = NoStack() if model == "nostack" else build_family(model).module
    compiled = torch.compile(compiled_model, backend="cachepass", options={"cache": config})
    with pytest.raises(Exception, match=re.escape(message)) as raised, torch.no_grad():
        if model == "nostack":
            compiled(torch.randn(2, 4), torch.ones(2))
        else:
            build_family(model)(compiled, 999.0)
    assert isinstance(getattr(raised.value, "inner_exception", raised.value), cachepass.ConfigError)
    assert not counters["inductor"]


@pytest.mark.parametrize("values, threshold, expected", [
    ([0, 0.1, 0.2, 0.05, 0.3], 0.15, "CRCRC"),  # step 0 always computes; then value > threshold computes
    ([0, 0.15, 0.150001], 0.15, "CRC"),  # strictly greater, as diffusers compares
    ([0, float("nan"), 1.0], 0.1, "CRC"),  # a NaN value compares False: skip, as in diffusers
])
def test_plan_follows_diffusers_rule(values, threshold, expected):
    plan = FBCPlan(threshold, ("hidden",))
    assert step_pattern(plan.simulate(values)) == expected
    assert plan.decide(3, 0.0, tail_cached=False).compute  # nothing to add: compute


def test_plan_predicts_the_pieces():
    plan = FBCPlan(0.5, ("hidden",))
    assert plan.pieces([0, 0.9, 0.9]) == ["head", "tail-compute", "head+decide"]
    assert plan.pieces([0, 0.1]) == ["head", "tail-compute", "head+decide", "tail-reuse"]


def kandinsky6_sr() -> DemoModel:
    """Kandinsky 6 SR at the smallest size its NABLA flex attention takes: one frame of 8 x 8 tokens (one 64-token
    attention block), 2 blocks of width 32."""
    from diffusers.models.transformers.transformer_kandinsky6_sr import Kandinsky6SRTransformer3DModel

    torch.manual_seed(0)
    module = Kandinsky6SRTransformer3DModel(in_visual_dim=4, out_visual_dim=4, time_dim=16, patch_size=(1, 1, 1),
                                            model_dim=32, ff_dim=32, num_visual_blocks=2, axes_dims=(4, 6, 6)).eval()
    make = lambda batch: {"hidden_states": torch.randn(batch, 1, 8, 8, 9, generator=torch.Generator().manual_seed(3))}
    return DemoModel("kandinsky6_sr", "tiny", module, make, channel_dim=4)


def test_flex_attention_blocks_match_the_hook(monkeypatch):
    """Kandinsky 6 SR builds a flex-attention block mask in each block: Dynamo leaves vmap nesting increments in
    block 0's region and their decrements just outside it. The head piece took only the increments and its
    flex_attention raised `KeyError: Vmap` (NOTE [State changes stay in their piece]). diffusers' hook does not
    know the block class: the test registers it, as a user would. The eager compiler: Inductor cannot lower this
    model's 5-d flex attention on CPU (plain torch.compile fails the same: "too many values to unpack")."""
    from diffusers.hooks import apply_first_block_cache
    from diffusers.hooks._helpers import TransformerBlockMetadata, TransformerBlockRegistry
    from diffusers.models.cache_utils import CacheMixin
    from diffusers.models.transformers.transformer_kandinsky6_sr import Kandinsky6SRTransformerBlock

    TransformerBlockRegistry._register()
    monkeypatch.setitem(TransformerBlockRegistry._registry, Kandinsky6SRTransformerBlock,
                        TransformerBlockMetadata(return_hidden_states_index=None, _cls=Kandinsky6SRTransformerBlock))
    demo, threshold = kandinsky6_sr(), 0.3
    hooked = copy.deepcopy(demo.module)
    apply_first_block_cache(hooked, FirstBlockCacheConfig(threshold=threshold))
    computed: list[bool] = []
    next(hooked.visual_transformer_blocks[-1].children()).register_forward_hook(lambda *_: computed.__setitem__(-1, 1))
    compiled = torch.compile(demo.module, backend="cachepass", fullgraph=True,
                             options={"cache": FirstBlockCacheConfig(threshold=threshold), "compiler": "eager"})
    for t in TIMESTEPS_12:
        computed.append(False)
        with torch.no_grad(), CacheMixin.cache_context(hooked, "cond"):
            theirs = demo(hooked, t)
        assert max_diff(compiled_call(demo, compiled, t, context=None), theirs) <= 1e-5, t
    steps = cachepass.compiled_graphs(compiled)[0].states()[0][1].history
    assert [r.compute for r in steps] == [bool(c) for c in computed] and not all(computed)
