"""What cachepass reads and writes of Dynamo's private state, in one place.

Three things need it, and torch offers no public API for any:

- a graph variant must carry the metadata Dynamo attaches to the GraphModule it hands a backend, or
  aot_autograd treats it as a foreign graph (see NOTE [Dynamo's metadata on variants]);
- a variant compiled after Dynamo installed its guards must not have added shape guards, which would be
  silently dropped (see NOTE [Guards after Dynamo froze the ShapeEnv]);
- a `ConfigError` the backend raises must reach the user as itself, not wrapped in Dynamo's
  `BackendCompilerFailed` (see NOTE [Config errors through Dynamo]).

Every private name is listed here; tests/test_dynamo_meta.py checks that torch still uses each of them,
so a torch upgrade that changes one fails there first, by name.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from torch import fx
from torch._dynamo.exc import ShortenTraceback

from .errors import ConfigError

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
# `inner_exception`; tests/test_dynamo_meta.py fails first.
PASS_THROUGH = ShortenTraceback  # torch._dynamo.exc.ShortenTraceback: raised by a backend, not wrapped


class DynamoConfigError(PASS_THROUGH, ConfigError):
    """A `ConfigError` raised inside the backend, which Dynamo lets through unwrapped."""

    def __init__(self, message: str) -> None:
        super().__init__(message, first_useful_frame=None)  # None: keep the whole traceback


def through_dynamo(err: ConfigError) -> ConfigError:
    """`err` as an error Dynamo re-raises as is (NOTE [Config errors through Dynamo])."""
    if isinstance(err, DynamoConfigError):
        return err
    return DynamoConfigError(str(err)).with_traceback(err.__traceback__)
