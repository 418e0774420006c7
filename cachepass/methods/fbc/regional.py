"""FirstBlockCache on graphs of one block: regional compilation (`compile_repeated_blocks`), one graph per block
class serving every instance (NOTE [Graphs of one block], integrations/scope.py).

# NOTE [One decision across the block graphs]
diffusers' hook decides in the first block of the stack and every later block follows: on a skip step the head
block returns its output plus the tail residuals (per stream) of the last computed step, the other blocks
return their inputs unchanged, and code outside the blocks runs as always. Under regional compilation each
block instance is one call of its class's graph, so the decision is kept where every instance of the model
finds it: in the model's state (the FBC state registry, keyed by the head block's first parameter, one state
per thread and cache_context), taken once per model step by the head instance.

    instance   compute step                               skip step
    head       `head`/`head+decide`: block, r, probe       the same, then output + tail residual (per stream)
    middle     `block` (the block graph as is)             pass: its inputs, no kernel
    tail       `block`, then tail residual = out - head    pass
    outside    `block` (an instance not in the stack, e.g. a refiner's block of the same class)

The head reads its probe (decision value) and the model's timestep together: ONE host read per model step.
A block of the stack that does not run through these graphs (its class not compiled) would compute on a skip
step: the head refuses at the second step when the first did not run every block of the stack.
A passed-through block costs the Python calls of Dynamo's guard check, ScopedGraph and this runtime and no
kernel (docs/usage.md gives the measured cost).
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch.utils.weak import WeakIdKeyDictionary

from ...compiler.blocks import BlockGraphStreams, model_stack
from ...compiler.editing import CacheSlot
from ...compiler.pieces import PieceGraph, change_probe, copy_placeholders
from ...errors import ConfigError
from ...integrations.dynamo_meta import variant_module
from ...integrations.parallel import cp_group
from ...report import variant_reports
from ...runtime.base import read_floats
from ...runtime.context import ContextState, ContextStates
from ...runtime.pieces import HeadTailRuntime
from ...runtime.store import next_stamp, read_problem
from .dispatch import STATES, FBCGraphReport, FBCStepRecord

HEAD_SLOT = CacheSlot("fbc_head_residual", "head_residual", 0, "", None)  # the first block's residual


@dataclass
class StackStep(ContextState):
    """One cache_context's state of a stack spread over block graphs."""

    compute: bool = True  # the current model step's decision, taken by the head
    head_out: tuple[torch.Tensor, ...] = ()  # the head's outputs of a compute step, until the tail's residuals
    ran: set[str] = field(default_factory=set)  # the stack's blocks that ran in the last compute step
    covered: bool = False  # every block of the stack was seen running through a cachepass graph

    def reset(self) -> None:
        super().reset()
        self.compute, self.head_out, self.ran, self.covered = True, (), set(), False


@dataclass
class StackStates(ContextStates):
    context_type: ClassVar[type] = StackStep


@dataclass(frozen=True)
class Instance:
    """A block instance that runs this graph: where it sits in its model's stack."""

    path: str
    role: str  # "head", "middle", "tail", or "outside" (not a block of the stack)
    key: weakref.ref  # the head block's first parameter: the model's state key
    clock: Any  # scope.StepClock of its model: the model's timestep
    stack: tuple[str, ...]


class FirstBlockStackGraph(HeadTailRuntime):
    """What a graph of one block runs under FirstBlockCache (NOTE [One decision across the block graphs])."""

    _states = STATES
    per_context = True
    timesteps_from = "probe"  # the head reads the timestep with its decision value
    first_variants = ("block",)
    tail_words = ("cachepass FirstBlockCache", "tail residual")

    def prepare(self, streams: BlockGraphStreams) -> None:
        self.streams = streams
        self.tags = None
        self._roles: WeakIdKeyDictionary = WeakIdKeyDictionary()  # first parameter -> Instance
        # one tail residual per stream; the head's stamp (its graph, generation, context, inputs) guards them
        self._tail_slots = tuple(CacheSlot("fbc_tail_residual", "tail_residual", i, "", None)
                                 for i in range(len(streams.carried)))

    def stream_name(self, index: int) -> str:
        return self.streams.names[index]

    def variants_at_compile(self) -> tuple[str, ...]:
        model = self.captured.model()
        holds_head = model is not None and type(model.get_submodule(self.streams.head)) is self.streams.block_class
        return ("head", "block") if holds_head else ("block",)

    def compile_time_owner(self) -> torch.Tensor | None:
        model = self.captured.model()
        return stack_key(model, self.streams.head) if model is not None else None

    def name_instance(self, owner: torch.Tensor, path: str, clock: Any, model: Any = None) -> None:
        super().name_instance(owner, path, clock, model)
        stack = model_stack(model, self.config, path)[0] if model is not None else self.streams.stack
        role = "outside" if path not in stack else "head" if path == stack[0] else "tail" if path == stack[-1] \
            else "middle"
        key = stack_key(model, stack[0]) if model is not None else self.compile_time_owner()
        self._roles[owner] = Instance(path, role, weakref.ref(key), clock, stack)

    # -- the hot path -----------------------------------------------------------------------
    def __call__(self, *args: Any) -> list[torch.Tensor]:
        instance = self._roles[args[self.captured.owner_input]]
        if instance.role == "outside":
            return self.variant("block").fn(*args)
        key = instance.key()
        state = self._owner_state(key)
        context = self.context_of(key)
        slot = state.context(context)
        if instance.role == "head":
            return self._head(args, instance, state, slot, context)
        if not slot.compute:
            return [args[i] for i in self.streams.carried]  # passed through: no kernel
        outputs = self.variant("block").fn(*args)
        slot.ran.add(instance.path)
        if instance.role == "tail" and slot.head_out:
            for i, (out, head) in enumerate(zip(outputs, slot.head_out)):
                slot.store.put(self._tail_slots[i].ident, slot.stamp, self.keep(out - head))
            slot.head_out = ()
        return outputs

    def _head(self, args: tuple, instance: Instance, state: StackStates, slot: StackStep,
              context: str | None) -> list[torch.Tensor]:
        stamp = next_stamp(slot, self.serial, context, self._signature(args))
        previous = slot.store.get(HEAD_SLOT.ident)
        problem = read_problem(previous, "the first block's residual", stamp)
        if previous is not None and problem is not None:
            self._warn_once(f"head:{problem.split(':')[0]}", f"cachepass FirstBlockCache: not comparing with the "
                            f"previous first-block residual at step {slot.iteration}: {problem}; computing all blocks.")
        head = self.variant("head" if problem is not None else "head+decide")
        outputs = head.fn(*args, *([previous.tensor] if problem is None else []))
        del previous
        count = len(self.streams.carried)
        results, residual = list(outputs[:count]), outputs[count]
        timestep = instance.clock.model_timestep()
        reads = [*outputs[count + 1:count + 2], *([timestep] if timestep is not None else [])]
        values = read_floats(reads) if reads else []  # the one host read of the model step
        value = values[0][0] if head.variant.probe else None
        order = max(values[-1]) if timestep is not None else None
        if self.starts_generation(order, slot, context):
            self.new_generation(state, slot)
            stamp = next_stamp(slot, self.serial, context, stamp.signature)
            value = None  # it compared with the previous generation's residual
        self._check_covered(slot, instance.stack)
        decision = self.plan.decide(slot.iteration, value, self.tails_readable(slot, stamp))
        if decision.compute:
            slot.store.clear()  # free the old residuals before the new ones exist
            slot.store.put(HEAD_SLOT.ident, stamp, self.keep(residual))
            slot.head_out, slot.ran = tuple(self.keep(r) for r in results), {instance.path}
        else:
            results = [skip_output(slot.store.get(self._tail_slots[i].ident).tensor, out) for i, out in enumerate(results)]
        slot.compute = decision.compute
        state.history.append(FBCStepRecord(
            self.serial, slot.generation, context, slot.iteration, order, value, self.plan.threshold,
            decision.compute, decision.reason, len(instance.stack) if decision.compute else 1, 1 if reads else 0,
            (head.variant.key, "block" if decision.compute else "pass")))
        slot.end_step(value, order, decision.compute)
        return results

    @staticmethod
    def _check_covered(slot: StackStep, stack: tuple[str, ...]) -> None:
        """After a generation's first step: every block of the stack ran through a cachepass graph."""
        if slot.covered or slot.iteration == 0:
            return
        missing = [path for path in stack if path not in slot.ran]
        if missing:
            raise ConfigError(
                f"cachepass FirstBlockCache: the blocks {missing} of the stack did not run through a cachepass graph "
                f"(their class is not compiled with backend='cachepass'), so a skip step could not skip them. "
                f"Compile every block class of the stack (compile_repeated_blocks compiles the classes in the model's "
                f"_repeated_blocks), or the whole transformer.")
        slot.covered = True

    # -- variants -------------------------------------------------------------------------------
    def rewrite(self, key: str) -> PieceGraph:
        if key == "block":
            captured = self.captured
            return PieceGraph("block", captured.gm, (), (), tuple(captured.example_inputs()), captured.num_outputs,
                              False)
        return block_head(self.captured, self.streams, decide=key == "head+decide")

    def new_state(self) -> StackStates:
        return StackStates()

    def report(self, owner_ids: set[int] | None = None) -> FBCGraphReport:
        states, steps = self.reported(owner_ids)
        variants = variant_reports(self.lowered, [p for r in steps for p in r.pieces])
        return FBCGraphReport(self.serial, True, self.config.describe(), len(self.captured.gm.graph.nodes),
                              variants, sum(s.cache_bytes() for s in states), steps, self.plan)


def skip_output(residual: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """`residual + out` (the hook's sum) laid out as `out`, the head's own output: the next block's graph guards on
    its input's strides, and a differently laid out sum on skip steps would recompile it (HunyuanVideo)."""
    result = torch.empty_strided(out.size(), out.stride(), dtype=out.dtype, device=out.device)
    return torch.add(residual, out, out=result)


def stack_key(model: torch.nn.Module, head: str) -> torch.Tensor:
    """The tensor a model's stack state is keyed by: its head block's first parameter."""
    return next(model.get_submodule(head).parameters())


def block_head(captured: Any, streams: BlockGraphStreams, decide: bool) -> PieceGraph:
    """The block graph, plus the residual `hidden out - hidden in` and, with `decide`, the previous residual read
    and the decision value in a probe: outputs (*the block's, residual, probe?)."""
    source = captured.gm.graph
    graph, env = torch.fx.Graph(), {}
    copy_placeholders(source, graph, env)
    slot = HEAD_SLOT
    outputs = list(torch.fx.map_arg(source.output_node().args[0], lambda n: n))
    example = outputs[streams.hidden].meta["example_value"]
    prev = None
    if decide:
        prev = graph.placeholder(slot.read_name)
        prev.meta["example_value"] = example
    for node in source.nodes:
        if node.op not in ("placeholder", "output"):
            env[node] = graph.node_copy(node, lambda n: env[n])
    hidden_in = env[captured.placeholders()[streams.carried[streams.hidden]]]
    residual = graph.call_function(torch.sub, (env[outputs[streams.hidden]], hidden_in))
    residual.name = slot.write_name
    probe = change_probe(graph, residual, prev, None, cp_group(source), "fbc_probe")
    graph.output((*(env[o] for o in outputs), residual, *([probe] if probe is not None else [])))
    graph.lint()
    gm = variant_module(captured.gm, graph, "Piece_head_decide" if decide else "Piece_head")
    inputs = (*captured.example_inputs(), *([example] if decide else []))
    return PieceGraph("head+decide" if decide else "head", gm, (slot,) if decide else (), (slot,), inputs,
                      len(outputs), probe is not None)
