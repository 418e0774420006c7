"""A stack skip on graphs of one block (regional compilation): one decision per model step, taken by the head
block's instance and followed by every other instance of the stack (NOTE [One decision across the block graphs],
methods/fbc/regional.py). Each stack skip that runs it brings its own decision rules (the step hooks)."""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch.utils.weak import WeakIdKeyDictionary

from ..compiler.blocks import BlockGraphStreams, model_stack
from ..compiler.editing import CacheSlot
from ..compiler.pieces import PieceGraph, block_head
from ..errors import ConfigError
from .base import read_floats
from .context import ContextState, ContextStates
from .pieces import HeadTailRuntime
from .store import next_stamp, read_problem


@dataclass
class StackStep(ContextState):
    """One cache_context's state of a stack spread over block graphs."""

    compute: bool = True  # the current model step's decision, taken by the head
    head_out: tuple[torch.Tensor, ...] = ()  # the head's outputs of a compute step, until the tail's residuals
    ran: set[str] = field(default_factory=set)  # the stack's blocks that ran in the last compute step
    covered: bool = False  # every block of the stack was seen running through a cachepass graph
    kept: dict[str, tuple[torch.Tensor, ...]] = field(default_factory=dict)  # a calibrator's factors, head to tail

    def reset(self) -> None:
        super().reset()
        self.compute, self.head_out, self.ran, self.covered, self.kept = True, (), set(), False, {}


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


class StackGraphRuntime(HeadTailRuntime):
    """What a graph of one block runs under a stack skip (NOTE [One decision across the block graphs],
    methods/fbc/regional.py). A method sets `_states`, `tail_words`, `head_slot`, `tail_site`, `probe_name` and
    the step hooks `head_key`, `decide_step` and `step_record`."""

    per_context = True
    timesteps_from = "probe"  # the head reads the timestep with its decision value
    first_variants = ("block",)
    head_slot: CacheSlot  # the head block's residual
    tail_site = "tail_residual"  # the tail slots' site name
    probe_name = "stack_probe"
    states_type: ClassVar[type] = StackStates

    def prepare(self, streams: BlockGraphStreams) -> None:
        self.streams = streams
        self.tags = None
        self._roles: WeakIdKeyDictionary = WeakIdKeyDictionary()  # first parameter -> Instance
        # one tail residual per stream; the head's stamp (its graph, generation, context, inputs) guards them
        self._tail_slots = tuple(CacheSlot(self.tail_site, "tail_residual", i, "", None)
                                 for i in range(len(streams.carried)))

    def stream_name(self, index: int) -> str:
        return self.streams.names[index]

    def hidden_index(self) -> int:
        return self.streams.hidden

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
            for tail_slot, out, head in zip(self._tail_slots, outputs, slot.head_out):
                self.put_residual(slot, tail_slot, slot.stamp, out - head, slot.kept)
            slot.head_out = ()
        return outputs

    def _head(self, args: tuple, instance: Instance, state: StackStates, slot: StackStep,
              context: str | None) -> list[torch.Tensor]:
        stamp = next_stamp(slot, self.serial, context, self._signature(args))
        previous = slot.store.get(self.head_slot.ident)
        problem = read_problem(previous, "the first block's residual", stamp)
        if previous is not None and problem is not None:
            self._warn_once(f"head:{problem.split(':')[0]}", f"{self.tail_words[0]}: not comparing with the "
                            f"previous first-block residual at step {slot.iteration}: {problem}; computing all blocks.")
        head = self.variant(self.head_key(slot, problem is None))
        outputs = head.fn(*args, *([previous.tensor] if head.variant.reads else []))
        del previous
        count = len(self.streams.carried)
        results, residual = list(outputs[:count]), outputs[count]
        timestep = instance.clock.model_timestep()
        reads = [*outputs[count + 1:count + 2], *([timestep] if timestep is not None else [])]
        values = read_floats(reads) if reads else []  # the one host read of the model step
        value = values[0][0] if head.variant.probe else None
        order = max(values[-1]) if timestep is not None else None
        has_previous = problem is None
        if self.starts_generation(order, slot, context):
            self.new_generation(state, slot)
            stamp = next_stamp(slot, self.serial, context, stamp.signature)
            value, has_previous = None, False  # it compared with the previous generation's residual
        self._check_covered(slot, instance.stack)
        decision = self.decide_step(slot, value, has_previous, self.tails_readable(slot, stamp))
        calibrator = self.calibrator_of(slot)  # its step begins once per model step, here
        if decision.compute:
            slot.kept = self.kept_before_compute(slot, calibrator, stamp, self._tail_slots)  # updated by the tail instance
            slot.store.clear()  # free the old residuals before the new ones exist
            slot.store.put(self.head_slot.ident, stamp, self.keep(residual))
            slot.head_out, slot.ran = tuple(self.keep(r) for r in results), {instance.path}
        else:
            results = [skip_output(self.reused(slot.store.get(tail_slot.ident), tail_slot, calibrator), out)
                       for tail_slot, out in zip(self._tail_slots, results)]
        slot.compute = decision.compute
        state.history.append(self.step_record(slot, context, order, value, decision, head.variant.key,
                                              len(instance.stack), 1 if reads else 0))
        slot.end_step(value, order, decision.compute)
        return results

    # -- the method's step ------------------------------------------------------------------------
    def head_key(self, slot: StackStep, has_previous: bool) -> str:
        """The head variant of this step: "head+decide" (reads the previous head residual) or "head"."""
        raise NotImplementedError

    def decide_step(self, slot: StackStep, value: float | None, has_previous: bool, tails_readable: bool) -> Any:
        """The step's decision (with `compute`), its counters updated on `slot`."""
        raise NotImplementedError

    def step_record(self, slot: StackStep, context: str | None, order: float | None, value: float | None,
                    decision: Any, head: str, blocks: int, reads: int) -> Any:
        """The step's record for the model's history."""
        raise NotImplementedError

    def _check_covered(self, slot: StackStep, stack: tuple[str, ...]) -> None:
        """After a generation's first step: every block of the stack ran through a cachepass graph."""
        if slot.covered or slot.iteration == 0:
            return
        missing = [path for path in stack if path not in slot.ran]
        if missing:
            raise ConfigError(
                f"{self.tail_words[0]}: the blocks {missing} of the stack did not run through a cachepass graph "
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
        return block_head(self.captured, self.streams, self.head_slot, key == "head+decide", self.probe_name)

    def new_state(self) -> StackStates:
        return self.states_type()


def skip_output(residual: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """`residual + out` (the hook's sum) laid out as `out`, the head's own output: the next block's graph guards on
    its input's strides, and a differently laid out sum on skip steps would recompile it (HunyuanVideo)."""
    result = torch.empty_strided(out.size(), out.stride(), dtype=out.dtype, device=out.device)
    return torch.add(residual, out, out=result)


def stack_key(model: torch.nn.Module, head: str) -> torch.Tensor:
    """The tensor a model's stack state is keyed by: its head block's first parameter."""
    return next(model.get_submodule(head).parameters())
