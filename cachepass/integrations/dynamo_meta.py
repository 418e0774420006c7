"""What cachepass reads and writes of Dynamo's private state, in one place.

Six things need it, and torch offers no public API for them:

- a graph variant must carry the metadata Dynamo attaches to the GraphModule it hands a backend, or
  aot_autograd treats it as a foreign graph (see NOTE [Dynamo's metadata on variants]);
- a variant must be compiled in the FakeTensorMode its example inputs belong to, or aot_autograd copies
  them into another mode and loses what Dynamo knew about them (see NOTE [Compiling in the inputs' fake mode]);
- a variant that drops the only use of a float input must not make Inductor ask Dynamo to specialize it
  (see NOTE [Float inputs a variant does not use]);
- a variant compiled after Dynamo installed its guards must not have added shape guards, which would be
  silently dropped (see NOTE [Guards after Dynamo froze the ShapeEnv]);
- a `ConfigError` the backend raises must reach the user as itself, not wrapped in Dynamo's
  `BackendCompilerFailed` (see NOTE [Config errors through Dynamo]);
- a variant must carry every node's `meta["example_value"]`, or AOTAutograd's cache skips it and a new process
  traces it again (see NOTE [Stable variants for Inductor's caches]); the caches' hits and misses are read from
  torch's counters (`torch._dynamo.utils.counters`).

Every private name is listed here; tests/test_dynamo_meta.py checks that torch still uses each of them,
so a torch upgrade that changes one fails there first, by name.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import fx
from torch._dynamo.exc import ShortenTraceback

logger = logging.getLogger(__name__)


# NOTE [Dynamo's metadata on variants]
# Dynamo's `OutputGraph._call_user_compiler` marks the GraphModule it gives a backend: `meta["dynamo_compile_id"]`
# (plus `dynamo_flat_name_to_original_fqn` and `backend_id`), the attributes `_param_name_to_source` and
# `_source_to_user_stacks`, and on every placeholder node the attribute `_dynamo_source` (not in `meta`:
# pytorch/pytorch#141640). aot_autograd's `_try_get_metadata_from_dynamo` (torch/_functorch/_aot_autograd/
# frontend_utils.py) only trusts a graph with `dynamo_compile_id`; it then reads every placeholder's
# `_dynamo_source` and takes as static the placeholders whose `meta["tensor_dict"]["_dynamo_static_input_type"]`
# is set (Dynamo sets it on parameters and buffers when it inlines nn.Modules). Those static input indices
# decide what Inductor's CUDA graphs copy into their pool on every replay (everything not static) and which
# inputs Inductor re-checks for alignment on every call. A variant is a fresh `fx.GraphModule`: without the
# marks every parameter is a dynamic input. `variant_module` copies them; the variant's extra placeholders
# (cache reads, per-step weights) have no Dynamo source, which aot_autograd allows (`_dynamo_source = None`,
# as for DDPOptimizer's split submodules) and treats as ordinary, non-static inputs.
GM_META_KEYS = ("dynamo_compile_id", "dynamo_flat_name_to_original_fqn", "backend_id")
GM_ATTRS = ("_param_name_to_source", "_source_to_user_stacks")
PLACEHOLDER_ATTR = "_dynamo_source"
STATIC_INPUT_META = ("tensor_dict", "_dynamo_static_input_type")  # node.meta[...][...], copied with node.meta


def variant_module(root: fx.GraphModule, graph: fx.Graph, class_name: str) -> fx.GraphModule:
    """`fx.GraphModule(root, graph)` that aot_autograd and Inductor see as the Dynamo graph `root` was.

    `graph` must keep `root`'s placeholders first, in order and by name (every variant does: the runtime
    calls it as `fn(*dynamo_args, *extras)`); placeholders after them are the variant's own inputs."""
    gm = fx.GraphModule(root, graph, class_name=class_name)
    for key in GM_META_KEYS:
        if key in root.meta:
            gm.meta[key] = root.meta[key]
    for attr in GM_ATTRS:
        if hasattr(root, attr):
            setattr(gm, attr, getattr(root, attr))
    originals = list(root.graph.find_nodes(op="placeholder"))
    placeholders = list(graph.find_nodes(op="placeholder"))
    names = [n.name for n in placeholders[: len(originals)]]
    if names != [n.name for n in originals]:
        raise RuntimeError(f"cachepass: variant {class_name} does not keep the captured graph's inputs first, in "
                           f"order: {names[:4]}... vs {[n.name for n in originals[:4]]}...")
    for original, node in zip(originals, placeholders):
        if hasattr(original, PLACEHOLDER_ATTR):
            setattr(node, PLACEHOLDER_ATTR, getattr(original, PLACEHOLDER_ATTR))
        for key, value in original.meta.items():  # node_copy copies meta; a graph built by hand may not
            node.meta.setdefault(key, value)
    for node in placeholders[len(originals):]:
        setattr(node, PLACEHOLDER_ATTR, None)
    return gm


# NOTE [Compiling in the inputs' fake mode]
# Dynamo hands a backend REAL example inputs, and while the backend runs it points `TracingContext.fake_mode` at a
# fresh FakeTensorMode that shares its ShapeEnv (`backend_fake_mode`, torch/_dynamo/output_graph.py): Inductor
# re-fakifies the real inputs there, by their Dynamo sources. cachepass hands Inductor Dynamo's own FakeTensors
# (`meta["example_value"]`, the only inputs a variant compiled later has). aot_autograd takes the tracing
# context's mode as authoritative (`torch._guards.detect_fake_mode`) and copies every FakeTensor of another mode
# into it (`process_inputs`, torch/_functorch/_aot_autograd/frontend_utils.py), and the copy drops the tensor's
# memos. One of them matters: under dynamic=True Dynamo passes a module's float attribute (a dropout's `p`, a
# norm's `eps`) as a 0-d float64 tensor whose `.item()` is memoized as a BACKED SymFloat (`item_memo`, set in
# `FakeTensorConverter.from_real_tensor`). Without the memo `.item()` makes a new unbacked SymFloat, and
# `F.dropout`'s `p < 0.0` check fails with GuardOnDataDependentSymNode (CogVideoX's `embedding_dropout`).
# Any other memo or metadata Dynamo keeps on its fakes would be lost the same way. A variant compiled on first
# use, after Dynamo returned, has no tracing context, so Inductor already used the inputs' own mode there; the
# backend-time compile now does the same: `inputs_fake_mode` points the tracing context at the inputs' mode for
# the compile and restores Dynamo's backend mode after it. Both modes share the ShapeEnv, so guards are unchanged.
TRACING_CONTEXT_FAKE_MODE = "fake_mode"  # torch._guards.TracingContext attribute, read and set


@contextlib.contextmanager
def inputs_fake_mode(example_inputs: Sequence[Any]) -> Iterator[None]:
    """Inside, the tracing context (if any) uses the FakeTensorMode of `example_inputs` (NOTE above)."""
    from torch._guards import TracingContext
    from torch._subclasses.fake_tensor import FakeTensor

    context = TracingContext.try_get()
    mode = next((x.fake_mode for x in example_inputs if isinstance(x, FakeTensor)), None)
    previous = getattr(context, TRACING_CONTEXT_FAKE_MODE, None) if context is not None else None
    if context is None or mode is None or previous is None or previous is mode:
        yield
        return
    setattr(context, TRACING_CONTEXT_FAKE_MODE, mode)
    try:
        yield
    finally:
        setattr(context, TRACING_CONTEXT_FAKE_MODE, previous)


# NOTE [Float inputs a variant does not use]
# Under dynamic=True a float input (NOTE above) is symbolic, and Inductor's `tensorify_python_scalars` pass
# (torch/fx/passes/_tensorify_python_scalars.py) turns its uses into tensor math. It then checks EVERY float
# symbol of the ShapeEnv: one it did not tensorify and that Dynamo's `TensorifyState` does not list as
# specialized makes it raise `TensorifyScalarRestartAnalysis`, asking Dynamo to retrace with that float a
# constant. A variant that reads a region from the cache drops the region's nodes, and with them the only use of
# a float read inside it (Latte's `attn2.rescale_output_factor`): Inductor then asks to specialize a float the
# variant does not use, and for a variant compiled on first use nobody is left to retrace. An input a graph does
# not use needs neither tensorifying nor specializing, so `unused_floats_specialized` lists those symbols in
# `TensorifyState` for the compile and removes them after it. At backend time a restart Inductor asks for a
# float the graph does use reaches Dynamo (`run_stage`, errors.py), which retraces with it specialized, as for
# plain torch.compile; after Dynamo returned it is an error (`is_restart_dynamo_takes`).
TENSORIFY_STATE = "force_specializations"  # torch._dynamo.symbolic_convert.TensorifyState's set of symbol names


@contextlib.contextmanager
def unused_floats_specialized(gm: fx.GraphModule, example_inputs: Sequence[Any]) -> Iterator[None]:
    """Inside, the float symbols of the graph's ShapeEnv that `gm` does not use count as specialized."""
    from torch._dynamo.symbolic_convert import TensorifyState
    from torch._guards import detect_fake_mode
    from torch.utils._sympy.symbol import SymT, symbol_is_type

    mode = detect_fake_mode(list(example_inputs))
    env = mode.shape_env if mode is not None else None
    if env is None:
        yield
        return
    used: set[str] = set()
    for node, value in zip(gm.graph.find_nodes(op="placeholder"), example_inputs):
        if any(user.users or user.target != "item" for user in node.users):  # an unused `.item()` survives DCE
            used |= {str(s) for s in _free_symbols(value)}
    state: set[str] = getattr(TensorifyState, TENSORIFY_STATE)
    added = {str(s) for s in env.backed_var_to_val if symbol_is_type(s, SymT.FLOAT)} - used - state
    state |= added
    try:
        yield
    finally:
        state -= added


def _free_symbols(value: Any) -> set[Any]:
    """Symbols a graph input carries: its sizes, or the SymFloat Dynamo memoized for `.item()` of a float."""
    from torch._subclasses.fake_tensor import FakeTensor
    from torch.fx.experimental.symbolic_shapes import free_symbols

    symbols = set(free_symbols(value)) if isinstance(value, (torch.Tensor, torch.SymInt, torch.SymFloat)) else set()
    memo = value.item_memo if isinstance(value, FakeTensor) else None
    if isinstance(memo, torch.SymFloat):
        symbols |= memo.node.expr.free_symbols
    return symbols


def is_restart_dynamo_takes(err: BaseException) -> bool:
    """`err` asks Dynamo to retrace the frame, and Dynamo is there to do it (it is calling the backend)."""
    from torch._dynamo.exc import TensorifyScalarRestartAnalysis
    from torch._guards import TracingContext

    return isinstance(err, TensorifyScalarRestartAnalysis) and TracingContext.try_get() is not None


# NOTE [Guards after Dynamo froze the ShapeEnv]
# Dynamo builds a frame's guards from its ShapeEnv's `guards` right after the backend returns, then calls
# `ShapeEnv.freeze()` (torch/_dynamo/guards.py). cachepass compiles most variants later, on first use; they
# share the captured graph's FakeTensors and so its ShapeEnv. A guard added then is still appended to
# `ShapeEnv.guards` (a runtime assert: to `deferred_runtime_asserts`), but nothing checks it: the frozen
# ShapeEnv only counts it in `counter["ignored_backward_guard"]` and logs "Ignored guard ...". The variant
# would then run on sizes its code was not compiled for.
# Measured on torch 2.13 (tests/test_state.py, CogVideoX with symbolic H, W or batch): Inductor does add
# guards -- seven for symbolic H and W (`Ne(Mod(1, 2*((s18//2))), 0)`, ...) -- but while compiling the
# compute variant at backend time, where Dynamo installs them; the reuse variant compiled after the freeze
# adds none, because it asks the same questions of the same FakeTensors and the ShapeEnv already knows the
# answers. That is an observation, not a guarantee (a variant with other ops could ask new ones), so `lower`
# compares the ShapeEnv before and after every compile and raises `GuardsAfterFreeze` rather than run a
# variant compiled after the freeze whose guards would go unchecked.


#
# Runtime asserts are not guards: the ShapeEnv defers an assert only when it involves unbacked symbols (sizes
# read from data inside a graph, e.g. Framepack's text length from `.item()`), and Inductor emits each one in
# the code of the graph that binds its symbols, from the ShapeEnv's deferred asserts as they stand when that
# graph is lowered (torch/_inductor/graph.py, NOTE [Codegen runtime asserts in Inductor]). A variant compiled
# after the freeze checks its own; only `ShapeEnv.guards` go unchecked, and only they are counted.
@dataclass(frozen=True)
class GuardMark:
    """Where a ShapeEnv's guards stood before a compile (env None: no ShapeEnv)."""

    env: Any
    guards: int
    frozen: bool  # Dynamo has built the frame's guards: anything added now goes unchecked

    def added(self) -> tuple[str, ...]:
        """The guards added since the mark, as text."""
        if self.env is None:
            return ()
        return tuple(str(g.expr) for g in self.env.guards[self.guards:])


def mark_guards(example_inputs: Sequence[Any]) -> GuardMark:
    from torch._guards import detect_fake_mode

    mode = detect_fake_mode(list(example_inputs))
    env = mode.shape_env if mode is not None else None
    if env is None:
        return GuardMark(None, 0, False)
    return GuardMark(env, len(env.guards), bool(env.frozen))


# NOTE [Config errors through Dynamo]
# Dynamo calls a backend in `OutputGraph.call_user_compiler` (torch/_dynamo/output_graph.py) and wraps whatever it
# raises in `torch._dynamo.exc.BackendCompilerFailed` (the original is its `inner_exception`), so a user's
# `except cachepass.ConfigError` would never fire with `backend="cachepass"`. torch has no public way to let an
# error through; the one it uses itself (Inductor's `TritonMissing`, `GPUTooOldForTriton`) is to subclass
# `torch._dynamo.exc.ShortenTraceback`, which `call_user_compiler` re-raises unwrapped and `eval_frame` re-raises
# with Dynamo's frames stripped. The backend re-raises its ConfigErrors as `DynamoConfigError`, both a
# `ConfigError` and a `ShortenTraceback`. Dynamo still appends its "Set TORCHDYNAMO_VERBOSE=1 ..." lines to the
# message. `cachepass.compile` avoids all this for everything it can check before tracing. If a torch upgrade
# drops the pass-through, the error arrives as `BackendCompilerFailed` again, with the ConfigError as
# `inner_exception`; tests/test_dynamo_meta.py fails first. (`DynamoConfigError` and `through_dynamo` live in
# errors.py beside ConfigError; the private name is only here.)
PASS_THROUGH = ShortenTraceback  # torch._dynamo.exc.ShortenTraceback: raised by a backend, not wrapped


# NOTE [Stable variants for Inductor's caches]
# A new process (a notebook restart, a serverless worker) should find every variant in the Inductor cache the last
# one left, as plain torch.compile finds its graph. Two caches answer: AOTAutograd's (the traced joint graph and
# Inductor's code, counters["aot_autograd"]["autograd_cache_*"]) and, under it, Inductor's FX graph cache
# (counters["inductor"]["fxgraph_cache_*"]). AOTAutograd's cache refuses a graph -- "Bypassing autograd cache due
# to: Unsupported call_method target ..." -- when the receiver of a `call_method` node has no
# `meta["example_value"]`, which Dynamo's own nodes all have but nodes a method's rewrite adds may lack (FasterCache's
# frequency split, `delta.float()`); AOTAutograd then traces the variant again in every process (FasterCache on the
# smoke model: 32 s of a 78 s first generation in the second process). `fill_example_values` gives every node the
# fake value Dynamo would have recorded, in the inputs' fake mode, before Inductor sees the graph.


def fill_example_values(gm: fx.GraphModule, example_inputs: list[Any]) -> None:
    """`meta["example_value"]` for every node that lacks one (nodes a rewrite added), from its inputs' fake values
    (NOTE [Stable variants for Inductor's caches]). A rewrite may have made its new inputs' fakes in Dynamo's
    backend mode, not the graph's: they are remade in the graph's mode (same ShapeEnv, so the same sizes). A node
    whose value cannot be computed is left as it is: AOTAutograd then only skips its cache."""
    from torch._subclasses.fake_tensor import FakeTensor

    mode = next((x.fake_mode for x in example_inputs if isinstance(x, FakeTensor)), None)
    if mode is None:
        return
    values: dict[fx.Node, Any] = {}
    for node, example in zip(gm.graph.find_nodes(op="placeholder"), example_inputs):
        node.meta.setdefault("example_value", example)
        values[node] = _in_mode(example, mode)
    for node in gm.graph.nodes:
        if node.op not in ("call_function", "call_method"):
            continue
        if "example_value" in node.meta:
            values[node] = node.meta["example_value"]
            continue
        if any(n not in values for n in node.all_input_nodes):
            continue
        args, kwargs = fx.node.map_arg((node.args, node.kwargs), values.__getitem__)
        try:
            with mode, torch.no_grad():  # cachepass caches in inference only
                value = node.target(*args, **kwargs) if node.op == "call_function" else \
                    getattr(args[0], node.target)(*args[1:], **kwargs)
        except Exception as error:  # a value it cannot compute: only AOTAutograd's cache is skipped
            logger.debug("cachepass lower: no example value for %s: %s", node.name, error)
            continue
        node.meta["example_value"] = values[node] = value


def _in_mode(value: Any, mode: Any) -> Any:
    """A FakeTensor of another fake mode remade, by its metadata, in `mode` (whose ShapeEnv it shares)."""
    from torch._subclasses.fake_tensor import FakeTensor

    if not isinstance(value, FakeTensor) or value.fake_mode is mode:
        return value
    with mode:
        return torch.empty_strided(value.shape, value.stride(), dtype=value.dtype, device=value.device)


def cache_counter(group: str, name: str) -> int:
    """torch's own count `counters[group][name]` (e.g. "inductor", "fxgraph_cache_hit")."""
    from torch._dynamo.utils import counters

    return counters[group][name]
