"""Context parallelism: what cachepass needs to know about diffusers' context parallelism (Ulysses or
ring attention over torch.distributed, `ContextParallelConfig`).

Under context parallelism each rank holds a shard of the sequence, and the captured graph holds the
communication as functional collectives (`_c10d_functional.all_to_all_single` in Ulysses attention,
`all_gather_into_tensor` where the output is gathered). cachepass needs three things from it:

- the CP group (`cp_group`): the largest process group the graph's collectives use, which spans every
  rank that holds a shard of the sequence;
- dead communication removed with the blocks a reuse variant skips (`is_removable_wait`): every rank
  runs the same rewrite of the same graph, so every rank drops the same collectives;
- agreement: the ranks must run the same variant on the same step, or one rank's collectives pair with
  another variant's (gloo: silently wrong outputs; NCCL: a hang). Step-driven schedules agree by
  construction, `RankAgreement` checks it on every step; data-dependent decisions (FirstBlockCache)
  reduce their decision value across the group inside the graph (`all_reduce_sum`), so every rank
  decides on the whole sequence, as one process would.

`enable_context_parallel` is diffusers' `enable_parallelism` done by hand, which also runs on CPU with
gloo (diffusers' own call divides by `torch.accelerator.device_count()`, 0 on a CPU machine).

# NOTE [Private torch APIs of context parallelism]
Two uses, both here: `torch.distributed.distributed_c10d._resolve_process_group` turns the group name a
functional collective carries in the graph into its ProcessGroup (for the group's size and backend;
torch has no public lookup by name), and the knowledge that `_c10d_functional.wait_tensor` is registered
as side-effectful (torch/distributed/_functional_collectives.py, `has_side_effect`), which keeps a dead
collective alive through FX's dead-code elimination. tests/test_context_parallel.py checks both.
"""

from __future__ import annotations

import logging
import zlib
from dataclasses import dataclass
from typing import Any

import torch
from torch import fx

logger = logging.getLogger(__name__)

_FUNCTIONAL = "_c10d_functional"


@dataclass(frozen=True)
class CPGroup:
    name: str  # the group name the graph's collectives carry
    size: int
    backend: str

    @property
    def reduces_cpu(self) -> bool:
        """Whether CPU tensors can be reduced on it without a device sync (gloo, or `cpu:gloo,cuda:nccl`)."""
        return "gloo" in self.backend


def _op_name(node: fx.Node) -> str | None:
    target = node.target
    if node.op != "call_function" or not isinstance(target, (torch._ops.OpOverload, torch._ops.OpOverloadPacket)):
        return None
    name = target.name() if isinstance(target, torch._ops.OpOverload) else target._qualified_op_name
    return name.replace("::", ".")


def is_collective(node: fx.Node) -> bool:
    name = _op_name(node)
    return name is not None and name.startswith(_FUNCTIONAL + ".") and not name.startswith(f"{_FUNCTIONAL}.wait_tensor")


def is_removable_wait(node: fx.Node) -> bool:
    """A `wait_tensor` whose value nothing uses: torch marks waits side-effectful (see NOTE above) so that
    a user's ignored collective still completes; a reuse variant drops the whole computation on every rank
    alike, so the wait and then its collective may go."""
    name = _op_name(node)
    return name is not None and name.startswith(f"{_FUNCTIONAL}.wait_tensor") and not node.users


def _group_name(node: fx.Node) -> str | None:
    target = node.target
    packet = target if isinstance(target, torch._ops.OpOverloadPacket) else target.overloadpacket
    schema = next(iter(packet.overloads()), None)
    arguments = getattr(packet, schema)._schema.arguments if schema else []
    for i, argument in enumerate(arguments):
        if argument.name == "group_name":
            value = node.args[i] if i < len(node.args) else node.kwargs.get("group_name")
            return value if isinstance(value, str) else None
    return None


def _resolve(name: str) -> Any:
    from torch.distributed.distributed_c10d import _resolve_process_group  # NOTE [Private torch APIs ...]

    return _resolve_process_group(name)


def cp_group(graph: fx.Graph) -> CPGroup | None:
    """The context-parallel group of a captured graph, or None when it communicates with no one."""
    names = sorted({name for node in graph.nodes if is_collective(node) and (name := _group_name(node))})
    if not names:
        return None
    import torch.distributed as dist

    groups = []
    for name in names:
        group = _resolve(name)
        groups.append(CPGroup(name, dist.get_world_size(group), str(dist.get_backend(group))))
    return max(groups, key=lambda g: g.size)  # ties (Ulysses alone: its group and the flattened one): the same ranks


def all_reduce_sum(graph: fx.Graph, value: fx.Node, group: CPGroup) -> fx.Node:
    """`value` summed over the group, inside the graph (a functional collective and its wait)."""
    ops = torch.ops._c10d_functional
    reduced = graph.call_function(ops.all_reduce.default, (value, "sum", group.name))
    return graph.call_function(ops.wait_tensor.default, (reduced,))


def key_code(key: Any) -> int:
    """A variant key as a number that is equal on every rank (set order and `hash()` differ per process)."""
    if isinstance(key, (frozenset, set)):
        text = "+".join(sorted(map(str, key)))
    elif isinstance(key, tuple):
        text = "/".join(str(key_code(k)) if isinstance(k, (frozenset, set, tuple)) else str(k) for k in key)
    else:
        text = str(key)
    return zlib.crc32(text.encode())


class RanksDisagree(RuntimeError):
    """The ranks of a context-parallel group were about to run different graph variants."""


class RankAgreement:
    """Checks, before a variant runs, that every rank of the CP group runs the same one: one all-reduce of
    two small integers on the CPU (no device sync). A group that cannot reduce CPU tensors (NCCL alone) is
    not checked, and that is said once."""

    def __init__(self, group: CPGroup) -> None:
        self.group = group
        self.checks = 0
        self._process_group = _resolve(group.name) if group.reduces_cpu else None
        if self._process_group is None:
            logger.warning("cachepass: context parallelism over group %s (backend %s): the per-step check that every "
                           "rank runs the same variant is off, as the group cannot reduce CPU tensors. Initialize "
                           "torch.distributed with backend='cpu:gloo,cuda:nccl' to have it.", group.name, group.backend)

    def check(self, key: Any, what: str) -> None:
        if self._process_group is None:
            return
        import torch.distributed as dist

        code = key_code(key)
        both = torch.tensor([code, -code], dtype=torch.int64)
        dist.all_reduce(both, op=dist.ReduceOp.MAX, group=self._process_group)
        self.checks += 1
        if int(both[0]) != -int(both[1]):
            raise RanksDisagree(
                f"cachepass: the ranks of context-parallel group {self.group.name} are about to run different "
                f"variants of the graph (this rank: {what}); their collectives would pair up wrongly. Every rank must "
                f"see the same timesteps, steps and cache_context calls (check the callback and the scheduler).")


def rank_agreement(graph: fx.Graph) -> RankAgreement | None:
    group = cp_group(graph)
    return RankAgreement(group) if group is not None and group.size > 1 else None


def enable_context_parallel(model: torch.nn.Module, config: Any, device: torch.device | str | None = None) -> Any:
    """diffusers' `model.enable_parallelism(config=ContextParallelConfig(...))`, done by hand so that it also
    runs on CPU processes (gloo). torch.distributed must be initialized; every rank calls it.

        torch.distributed.init_process_group("gloo")         # or torchrun + "nccl" on GPUs
        cachepass.enable_context_parallel(transformer, ContextParallelConfig(ulysses_degree=2))
        compiled = torch.compile(transformer, backend="cachepass", fullgraph=True, options={"cache": cfg})

    Returns diffusers' `ParallelConfig`. Also makes the model ready for a `fullgraph=True` capture
    (`ready_for_dynamo`; call that yourself after diffusers' `enable_parallelism` on GPUs)."""
    import torch.distributed as dist
    from diffusers.hooks.context_parallel import apply_context_parallel
    from diffusers.models._modeling_parallel import ParallelConfig
    from torch.distributed.device_mesh import init_device_mesh

    plan = getattr(model, "_cp_plan", None)
    if plan is None:
        raise ValueError(f"{type(model).__name__} has no context-parallel plan (`_cp_plan`) in diffusers; context "
                         f"parallelism does not apply to it.")
    if not dist.is_available() or not dist.is_initialized():
        raise RuntimeError("cachepass.enable_context_parallel: call torch.distributed.init_process_group() "
                           "first (every rank).")
    if getattr(model, "_parallel_config", None) is not None:
        raise RuntimeError(f"context parallelism is already applied to this {type(model).__name__}.")
    rank, world = dist.get_rank(), dist.get_world_size()
    if config.ring_degree * config.ulysses_degree != world:
        raise ValueError(f"ring_degree x ulysses_degree = {config.ring_degree * config.ulysses_degree}, but "
                         f"{world} processes run: they must be equal.")
    if device is None:
        device = next(model.parameters()).device
    device = torch.device(device)
    mesh = config.mesh or init_device_mesh(device.type, (config.ring_degree, config.ulysses_degree),
                                           mesh_dim_names=("ring", "ulysses"))
    parallel = ParallelConfig(context_parallel_config=config)
    parallel.setup(rank, world, device, mesh=mesh)
    model._parallel_config = parallel
    for module in model.modules():
        processor = getattr(module, "processor", None)
        if processor is not None and hasattr(processor, "_parallel_config"):
            processor._parallel_config = parallel
    apply_context_parallel(model, config, plan)
    ready_for_dynamo(model)
    return parallel


def ready_for_dynamo(model: torch.nn.Module) -> None:
    """What a `fullgraph=True` capture of a context-parallel diffusers model needs before its first call
    (also after diffusers' own `enable_parallelism`):

    - diffusers' CP input hooks find a positional argument's index with `inspect.signature(forward)` on
      their first call and cache it; Dynamo cannot trace that on a decorated forward (Wan's `blocks.0`:
      "Unsupported hasattr call" on `__wrapped__`), so the indices are filled in here, as the hook would;
    - Dynamo skips diffusers' `logger.warning_once` as it skips `logger.warning` (its CP split warns on
      some inputs, e.g. Wan's 1-D timestep; a graph break otherwise)."""
    import inspect

    for module in model.modules():
        registry = getattr(module, "_diffusers_hook", None)
        for hook in getattr(registry, "hooks", {}).values():
            metadata = getattr(hook, "module_forward_metadata", None)
            if metadata is not None and metadata.cached_parameter_indices is None and metadata._cls is not None:
                names = list(inspect.signature(metadata._cls.forward).parameters)[1:]  # without `self`
                metadata.cached_parameter_indices = {name: i for i, name in enumerate(names)}
    ignore_warning_once()


def ignore_warning_once() -> None:
    """Let Dynamo skip diffusers' `logger.warning_once` as it skips `logger.warning` (a graph break otherwise)."""
    import logging as std_logging

    warning_once = getattr(std_logging.Logger, "warning_once", None)
    ignored = torch._dynamo.config.ignore_logging_functions
    if warning_once is not None and warning_once not in ignored:
        ignored.add(warning_once)


__all__ = ["CPGroup", "RankAgreement", "RanksDisagree", "all_reduce_sum", "cp_group", "enable_context_parallel",
           "is_removable_wait", "key_code", "rank_agreement", "ready_for_dynamo"]
