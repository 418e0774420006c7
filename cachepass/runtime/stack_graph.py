"""A stack skip on graphs of one block (regional compilation): one decision per model step, taken by the head
block's instance and followed by every other instance of the stack (NOTE [One decision across the block graphs],
methods/fbc/regional.py). Each stack skip that runs it brings its own decision rules (the step hooks).

# NOTE [Deciding before the head]
FirstBlockCache and DBCache decide from the head block's residual, so their head block always runs and a skip
adds the tail residual to its output. A method whose decision needs no value of the block (MagCache: the step
index alone) decides first, as diffusers' MagCache head hook does: the head reads the timestep (the one host read
of the model step, for generation detection), decides, and on a skip step runs no block at all -- every stream
of the head returns its input, the kept streams (`residual_outputs`) plus the residual, tail output minus HEAD
INPUT, of the last computed step. A method's plan may also end a generation itself (`StackStep.ended`).
A method deciding from a value computed before the block (TeaCache: the first block's modulated input) computes
it in `head_probe`, read with the timestep in the same host read; on a compute step the head block then runs
whole (the few nodes of the probe run twice).

# NOTE [The plan's state]
A method's plan may keep its own state per cache_context (MagCache's and TeaCache's step counters and
accumulators, DBCache's counters): the runtime names its type in `plan_state_type` (a class called with no
argument; None: the plan keeps none), and every StackStep holds one in `plan_state`, built new with the step and
on each `reset` -- a new generation, a pipeline's reset -- so a generation never sees the last one's counts.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar

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
    head_out: tuple[torch.Tensor, ...] = ()  # a compute step's head outputs (inputs: decides_first), for the tail
    ran: set[str] = field(default_factory=set)  # the stack's blocks that ran in the last compute step
    covered: bool = False  # every block of the stack was seen running through a cachepass graph
    kept: dict[str, tuple[torch.Tensor, ...]] = field(default_factory=dict)  # a calibrator's factors, head to tail
    ended: bool = False  # the method's plan ended the generation at the last step (a step count wrapped)
    new_plan_state: Callable[[], Any] | None = field(default=None, repr=False)  # NOTE [The plan's state]
    plan_state: Any = field(init=False, default=None)  # new_plan_state()'s, new each generation

    def __post_init__(self) -> None:
        self.renew_plan_state()

    def renew_plan_state(self) -> None:
        self.plan_state = self.new_plan_state() if self.new_plan_state is not None else None

    def reset(self) -> None:
        super().reset()
        self.compute, self.head_out, self.ran, self.covered, self.kept, self.ended = True, (), set(), False, {}, False
        self.renew_plan_state()


@dataclass
class StackStates(ContextStates):
    context_type: ClassVar[type] = StackStep
    new_plan_state: Callable[[], Any] | None = None  # each context's plan state (NOTE [The plan's state])

    def new_context(self) -> StackStep:
        return StackStep(new_plan_state=self.new_plan_state)


@dataclass(frozen=True)
class HeadProbe:
    """What a head deciding first computes before its decision (NOTE [Deciding before the head])."""

    value: torch.Tensor | None = None  # read with the timestep, its first value decides; None: none
    compared: bool = False  # it compared with the previous step's
    kept: Any = None  # for `after_decision` (TeaCache's indicator): it outlives a generation the step starts


@dataclass(frozen=True)
class Decided:
    """A model step's decision as the head took it (`StackGraphRuntime._decide`)."""

    decision: Any  # the method's decision (with `compute`)
    value: float | None  # the probe's first value; None: none, or a new generation began
    order: float | None  # the order value: the model's timestep; None: none
    stamp: Any  # the step's stamp (renewed when a new generation began)
    reads: int  # host reads taken: 1 or 0


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
    the step hooks `head_key`, `decide_step` and `step_record`; a plan keeping its own state sets
    `plan_state_type` (NOTE [The plan's state]); a method deciding before its head runs sets `decides_first`
    (NOTE [Deciding before the head])."""

    per_context = True
    timesteps_from = "probe"  # the head reads the timestep with its decision value
    first_variants = ("block",)
    head_slot: CacheSlot  # the head block's residual
    tail_site = "tail_residual"  # the tail slots' site name
    probe_name = "stack_probe"
    plan_state_type: ClassVar[type | None] = None  # NOTE [The plan's state]
    decides_first: ClassVar[bool] = False  # NOTE [Deciding before the head]

    def prepare(self, streams: BlockGraphStreams) -> None:
        self.streams = streams
        self.tags = None
        self._roles: WeakIdKeyDictionary = WeakIdKeyDictionary()  # first parameter -> Instance
        # one tail residual per stream; the head's stamp (its graph, generation, context, inputs) guards them
        self._tail_slots = tuple(CacheSlot(self.tail_site, "tail_residual", i, "", None)
                                 for i in range(len(self.residual_outputs())))

    def residual_outputs(self) -> tuple[int, ...]:
        """The graph outputs whose tail residual is kept, in the order of `_tail_slots`: every stream's."""
        return tuple(range(len(self.streams.carried)))

    def stream_name(self, index: int) -> str:
        return self.streams.names[index]

    def hidden_index(self) -> int:
        return self.streams.hidden

    def variants_at_compile(self) -> tuple[str, ...]:
        model = self.captured.model()
        holds_head = model is not None and type(model.get_submodule(self.streams.head)) is self.streams.block_class
        return ("head", "block") if holds_head and not self.decides_first else ("block",)

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
            head = self._head_decided_first if self.decides_first else self._head
            return head(args, instance, state, slot, context)
        if not slot.compute:
            return [args[i] for i in self.streams.carried]  # passed through: no kernel
        outputs = self.variant("block").fn(*args)
        slot.ran.add(instance.path)
        if instance.role == "tail" and slot.head_out:
            for tail_slot, index, head in zip(self._tail_slots, self.residual_outputs(), slot.head_out):
                self.put_residual(slot, tail_slot, slot.stamp, outputs[index] - head, slot.kept)
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
        probe = outputs[count + 1] if head.variant.probe else None
        step = self._decide(probe, problem is None, instance, state, slot, context, stamp)
        calibrator = self.calibrator_of(slot)  # its step begins once per model step, here
        if step.decision.compute:
            # the calibrator's factors, updated by the tail instance
            slot.kept = self.kept_before_compute(slot, calibrator, step.stamp, self._tail_slots)
            slot.store.clear()  # free the old residuals before the new ones exist
            slot.store.put(self.head_slot.ident, step.stamp, self.keep(residual))
            slot.head_out, slot.ran = tuple(self.keep(r) for r in results), {instance.path}
        else:
            results = [skip_output(self.reused(slot.store.get(tail_slot.ident), tail_slot, calibrator), out)
                       for tail_slot, out in zip(self._tail_slots, results)]
        self._record(state, slot, context, step, head.variant.key, len(instance.stack))
        return results

    def _decide(self, probe: torch.Tensor | None, has_previous: bool, instance: Instance, state: StackStates,
                slot: StackStep, context: str | None, stamp: Any) -> Decided:
        """Read the probe (its first value decides) and the model's timestep in ONE host read, start a new
        generation where the timestep turns or the plan ended it, and decide."""
        timestep = instance.clock.model_timestep()
        reads = [*([probe] if probe is not None else []), *([timestep] if timestep is not None else [])]
        values = read_floats(reads) if reads else []  # the one host read of the model step
        value = values[0][0] if probe is not None else None
        order = max(values[-1]) if timestep is not None else None
        if self.starts_generation(order, slot, context) or slot.ended:
            self.new_generation(state, slot)
            stamp = next_stamp(slot, self.serial, context, stamp.signature)
            value, has_previous = None, False  # it compared with the previous generation's value
        self._check_covered(slot, instance.stack)
        decision = self.decide_step(slot, value, has_previous, self.tails_readable(slot, stamp))
        return Decided(decision, value, order, stamp, 1 if reads else 0)

    def _record(self, state: StackStates, slot: StackStep, context: str | None, step: Decided, head: str,
                blocks: int) -> None:
        """The head's step ran: its decision holds for the other blocks, its record joins the model's history."""
        slot.compute = step.decision.compute
        state.history.append(self.step_record(slot, context, step.order, step.value, step.decision, head, blocks,
                                              step.reads))
        slot.end_step(step.value, step.order, step.decision.compute)

    def _head_decided_first(self, args: tuple, instance: Instance, state: StackStates, slot: StackStep,
                            context: str | None) -> list[torch.Tensor]:
        """NOTE [Deciding before the head]: read the timestep, decide, then run the head block or add the kept
        residuals to its inputs."""
        stamp = next_stamp(slot, self.serial, context, self._signature(args))
        probe = self.head_probe(args, slot, stamp)
        step = self._decide(probe.value, probe.compared, instance, state, slot, context, stamp)
        calibrator = self.calibrator_of(slot)  # its step begins once per model step, here
        inputs = [args[i] for i in self.streams.carried]
        if step.decision.compute:
            slot.kept = self.kept_before_compute(slot, calibrator, step.stamp, self._tail_slots)
            slot.store.clear()  # free the old residuals before the new ones exist
            results = self.variant("block").fn(*args)
            slot.head_out, slot.ran = tuple(self.keep(inputs[i]) for i in self.residual_outputs()), {instance.path}
        else:
            results = inputs  # every stream its input; the kept ones plus their residual
            for tail_slot, index in zip(self._tail_slots, self.residual_outputs()):
                results[index] = skip_output(self.reused(slot.store.get(tail_slot.ident), tail_slot, calibrator),
                                             inputs[index])
        self.after_decision(slot, step.stamp, probe)
        self._record(state, slot, context, step, "block" if step.decision.compute else "pass", len(instance.stack))
        return results

    # -- the method's step ------------------------------------------------------------------------
    def head_key(self, slot: StackStep, has_previous: bool) -> str:
        """The head variant of this step: "head+decide" (reads the previous head residual) or "head"."""
        raise NotImplementedError

    def decide_step(self, slot: StackStep, value: float | None, has_previous: bool, tails_readable: bool) -> Any:
        """The step's decision (with `compute`), its counters updated on `slot`."""
        raise NotImplementedError

    def head_probe(self, args: tuple, slot: StackStep, stamp: Any) -> HeadProbe:
        """Deciding first: what the head computes before the decision (TeaCache's indicator change)."""
        return HeadProbe()

    def after_decision(self, slot: StackStep, stamp: Any, probe: HeadProbe) -> None:
        """Deciding first: after the step's store is settled (TeaCache keeps its indicator every step)."""

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
        return StackStates(new_plan_state=self.plan_state_type)


def skip_output(residual: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """`residual + out` (the hook's sum) laid out as `out`, the head's own output: the next block's graph guards on
    its input's strides, and a differently laid out sum on skip steps would recompile it (HunyuanVideo)."""
    result = torch.empty_strided(out.size(), out.stride(), dtype=out.dtype, device=out.device)
    return torch.add(residual, out, out=result)


def stack_key(model: torch.nn.Module, head: str) -> torch.Tensor:
    """The tensor a model's stack state is keyed by: its head block's first parameter."""
    return next(model.get_submodule(head).parameters())
