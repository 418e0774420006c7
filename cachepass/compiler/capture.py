"""Stage 1, capture: what Dynamo handed the backend, with every input's role and the modules behind it.

Dynamo gives the backend one FX graph per captured frame. Parameters and buffers arrive as
placeholders (`inline_inbuilt_nn_modules`), so one graph serves every instance of the same model
class: the runtime tells instances apart by the identity of their first parameter (`owner_input`).
Node metadata carries the module each op was called from (`nn_module_stack`, outermost first, keyed
by `str(id(module))`); the live modules are looked up through the frame Dynamo is translating, so
that later stages can read attributes such as `is_cross_attention` and proper `named_modules()` names.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import re
import weakref
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import fx, nn

from ..integrations.scope import prefixed

logger = logging.getLogger(__name__)

# "attribute": a module's number Dynamo made a graph input (under dynamic=True, e.g. a norm's `eps`): no activation
Role = Literal["parameter", "buffer", "input", "symint", "attribute"]

_TIMESTEP_SOURCE = re.compile(r"\['timestep'\]$")
# L['self'].__dict__['_modules']['blocks']._modules['1']._modules['norm_q'].eps
_MODULE_ATTRIBUTE = re.compile(r"L\['self'\](\.__dict__\['_modules'\]\['[^']+'\])?(\._modules\['[^']+'\])*\.\w+$")


@dataclass(frozen=True)
class GraphInput:
    index: int
    name: str  # placeholder name
    source: str  # where Dynamo read it from, e.g. "L['kwargs']['timestep']"
    role: Role


@dataclass(frozen=True)
class ModuleInfo:
    """A module some graph nodes were called from."""

    key: str  # nn_module_stack key: "<id>" for a module's first call in the graph, "<id>@<n>" for later ones
    name: str  # its `named_modules()` name, "" for the root
    cls: type
    ref: weakref.ref | None  # the live instance seen at capture time, when it could be resolved

    @property
    def instance(self) -> nn.Module | None:
        return self.ref() if self.ref is not None else None

    @property
    def call(self) -> int:
        """Which call of this module in the forward: 0 for the first."""
        _, _, suffix = self.key.partition("@")
        return int(suffix) if suffix.isdigit() else 0

    @property
    def call_name(self) -> str:
        """`name` for a module's first call, `name#n` for its n-th repeated call."""
        return f"{self.name}#{self.call}" if self.call else self.name


@dataclass(frozen=True)
class CapturedGraph:
    gm: fx.GraphModule
    inputs: tuple[GraphInput, ...]
    num_outputs: int
    timestep_input: int | None  # index of the model's `timestep` tensor input, if any
    owner_input: int | None  # index of the first parameter: identifies the calling model instance
    modules: dict[str, ModuleInfo]  # by nn_module_stack key
    root: weakref.ref | None = None  # the module whose forward Dynamo compiled, when it could be resolved
    owner: weakref.ref | None = None  # the real first parameter Dynamo passed: the instance being compiled
    prefix: str = ""  # a graph of one block (scope.py): the path of the instance its names are under
    hooked_timestep: bool = False  # with a prefix: the owning model's pre-hook hands over its `timestep`
    model: weakref.ref | None = None  # with a prefix: the model owning the block (a stack spans its blocks)

    @property
    def has_timestep(self) -> bool:
        """Whether the model's own timestep reaches the runtime: a graph input, or the model's pre-hook."""
        return self.timestep_input is not None or self.hooked_timestep

    def placeholders(self) -> list[fx.Node]:
        return list(self.gm.graph.find_nodes(op="placeholder"))

    def example_inputs(self) -> list[Any]:
        """Fake example values (FakeTensor / SymInt) of the graph's inputs, for compiling variants."""
        return [node.meta["example_value"] for node in self.placeholders()]

    def has_symbolic_sizes(self) -> bool:
        """Whether Dynamo captured the graph with symbolic sizes (dynamic=True, or its automatic recompile)."""
        return any(isinstance(e, torch.SymInt) or (isinstance(e, torch.Tensor)
                                                   and any(isinstance(d, torch.SymInt) for d in e.shape))
                   for e in self.example_inputs())

    def inputs_with_role(self, *roles: Role) -> list[GraphInput]:
        return [i for i in self.inputs if i.role in roles]


_NAMING: contextvars.ContextVar[tuple[str, bool, weakref.ref | None]] = contextvars.ContextVar(
    "cachepass_naming", default=("", False, None))


@contextlib.contextmanager
def named_under(prefix: str, hooked_timestep: bool, model: weakref.ref | None = None) -> Iterator[None]:
    """Captures inside name their modules under `prefix` (a block's path in its `model`, scope.py)."""
    token = _NAMING.set((prefix, hooked_timestep, model))
    try:
        yield
    finally:
        _NAMING.reset(token)


def capture(gm: fx.GraphModule, example_inputs: Sequence[Any]) -> CapturedGraph:
    placeholders = list(gm.graph.find_nodes(op="placeholder"))
    if len(placeholders) != len(example_inputs):
        raise RuntimeError(f"cachepass capture: graph has {len(placeholders)} placeholders but Dynamo passed "
                           f"{len(example_inputs)} example inputs")
    inputs = tuple(_graph_input(i, node) for i, node in enumerate(placeholders))
    timestep = [i.index for i in inputs if i.role == "input" and _TIMESTEP_SOURCE.search(i.source)]
    params = [i.index for i in inputs if i.role == "parameter"]
    prefix, hooked_timestep, model = _NAMING.get()
    captured = CapturedGraph(
        gm=gm,
        inputs=inputs,
        num_outputs=_num_outputs(gm),
        timestep_input=timestep[0] if timestep else None,
        owner_input=params[0] if params else None,
        modules=_modules(gm, prefix),
        root=_receiver(),
        owner=weakref.ref(example_inputs[params[0]]) if params else None,
        prefix=prefix,
        hooked_timestep=hooked_timestep,
        model=model,
    )
    logger.debug("capture: %d nodes, %d inputs (%d parameters), timestep input %s, %d modules",
                 len(gm.graph.nodes), len(inputs), len(params),
                 inputs[captured.timestep_input].source if timestep else None, len(captured.modules))
    return captured


def _graph_input(index: int, node: fx.Node) -> GraphInput:
    grapharg = node.meta.get("grapharg")
    source = grapharg.source.name if grapharg is not None and grapharg.source is not None else node.name
    example = node.meta.get("example_value")
    if isinstance(example, torch.SymInt) or not isinstance(example, torch.Tensor):
        role: Role = "symint"
    elif "_parameters" in source:
        role = "parameter"
    elif "_buffers" in source:
        role = "buffer"
    elif _MODULE_ATTRIBUTE.match(source) and example.dim() == 0:
        role = "attribute"
    else:
        role = "input"
    return GraphInput(index, node.name, source, role)


def _num_outputs(gm: fx.GraphModule) -> int:
    output = gm.graph.output_node()
    value = output.args[0]
    return len(value) if isinstance(value, (tuple, list)) else 1


def _modules(gm: fx.GraphModule, prefix: str = "") -> dict[str, ModuleInfo]:
    live = _live_modules()
    modules: dict[str, ModuleInfo] = {}
    for node in gm.graph.nodes:
        for key, (path, cls) in (node.meta.get("nn_module_stack") or {}).items():
            if key in modules:
                continue
            found = live.get(_module_id(key))
            if found is not None and type(found[1]) is cls:
                name, module = found
                modules[key] = ModuleInfo(key, prefixed(prefix, name), cls, weakref.ref(module))
            else:
                modules[key] = ModuleInfo(key, prefixed(prefix, module_name_from_path(path)), cls, None)
    return modules


def first_parameter(gm: fx.GraphModule, example_inputs: Sequence[Any]) -> torch.Tensor | None:
    """The first parameter Dynamo passed the graph: which instance is being compiled."""
    for index, node in enumerate(gm.graph.find_nodes(op="placeholder")):
        if _graph_input(index, node).role == "parameter":
            return example_inputs[index]
    return None


def receiver() -> nn.Module | None:
    """The module whose forward Dynamo is compiling now (None outside a compile or when unknown)."""
    ref = _receiver()
    return ref() if ref is not None else None


def _receiver() -> weakref.ref | None:
    try:
        from torch._dynamo.symbolic_convert import InstructionTranslator

        tx = InstructionTranslator.current_tx()
        value = tx.f_locals.get(_receiver_name(tx.f_code, tx.f_locals)) if tx is not None else None
    except Exception:  # private API: the runtime then finds modules through their parameters
        return None
    return weakref.ref(value) if isinstance(value, nn.Module) else None


def _receiver_name(code: Any, frame_locals: dict[str, Any]) -> str:
    """The local holding the module whose forward is compiled: the first argument, except in the code after a
    graph break (a resume function takes the stack's values first), where it is the forward's own `self`."""
    if code is not None and code.co_name.startswith(RESUME_PREFIX) and "self" in frame_locals:
        return "self"
    return code.co_varnames[0] if code is not None and code.co_varnames else "self"


# NOTE [A module call cut by a graph break]
# Where Dynamo breaks inside a module's forward (or its attention processor: `grid.tolist()`), the code after
# the break runs as a resume function (`torch_dynamo_resume_in_<function>_at_<line>`), traced as a graph of its
# own. The module whose call was cut is then no module called in that graph but a local of the frame (`attn`,
# `self`), so its ops there have no module of their own in `nn_module_stack`: no method can cache that call's
# output from this piece. `cut_call` names such modules so that a method can say which layers it left out.

RESUME_PREFIX = "torch_dynamo_resume_in_"


def cut_call() -> tuple[str, tuple[nn.Module, ...]]:
    """(the function a graph break cut, the modules among its locals) when Dynamo is compiling the code after a
    break inside a call (NOTE [A module call cut by a graph break]); ("", ()) otherwise."""
    try:
        from torch._dynamo.symbolic_convert import InstructionTranslator

        tx = InstructionTranslator.current_tx()
        name, frame_locals = (tx.f_code.co_name, tx.f_locals) if tx is not None else ("", {})
    except Exception:  # private API: nothing to say rather than a failed compile
        return "", ()
    if not name.startswith(RESUME_PREFIX):
        return "", ()
    function = name[len(RESUME_PREFIX):].rsplit("_at_", 1)[0]
    return function, tuple(v for v in frame_locals.values() if isinstance(v, nn.Module))


def _module_id(key: str) -> int | None:
    head = key.split("@")[0]
    return int(head) if head.isdigit() else None


def _live_modules() -> dict[int, tuple[str, nn.Module]]:
    """Modules reachable from the locals of the frame Dynamo is compiling, by id, with their names.

    Uses Dynamo's current instruction translator, which is set while the backend runs. When it is not
    (a graph handed to the backend by hand), names come from `nn_module_stack` paths instead.
    """
    try:
        from torch._dynamo.symbolic_convert import InstructionTranslator

        tx = InstructionTranslator.current_tx()
        frame_locals = tx.f_locals if tx is not None else {}
    except Exception:  # private API: degrade to path names, never fail the compile
        return {}
    receiver = _receiver_name(tx.f_code if tx is not None else None, frame_locals)
    live: dict[int, tuple[str, nn.Module]] = {}
    for local_name, value in frame_locals.items():
        if isinstance(value, nn.Module):
            prefix = "" if local_name == receiver else local_name
            for name, module in value.named_modules(remove_duplicate=False):
                full = ".".join(p for p in (prefix, name) if p)
                live.setdefault(id(module), (full, module))
    return live


def module_name_from_path(path: str) -> str:
    """`L['self'].__dict__['_modules']['transformer_blocks'].0.attn1` -> `transformer_blocks.0.attn1`."""
    path = re.sub(r"^L\['self'\]", "", path)
    path = re.sub(r"^L\['([^']+)'\]", r"\1", path)
    path = re.sub(r"(?:__dict__\[)?'?_modules'?\]?\['([^']+)'\]", r"\1", path)
    path = re.sub(r"\['([^']+)'\]", r".\1", path)
    return re.sub(r"\.+", ".", path).strip(".")
