"""FasterCache stage 1, capture: the full-batch graph Dynamo handed over, plus a half-batch twin.

On a CFG skip step the denoiser runs on the conditional half of its inputs. Dynamo's static graph
bakes the batch into `view`/`reshape` arguments (`view(q, 2, -1, 2, 8)`), so neither Inductor nor
`make_fx` can re-target it to the half batch, and automatic dynamic shapes always specialise a
size-1 batch. So, while the backend runs (Dynamo's translator for the user's frame is still current),
cachepass runs a *second* Dynamo capture of the same forward on the conditional half of the frame's
real arguments:

    backend(gm_full, example_inputs)                        # Dynamo graph 1: the CFG batch 2B
      tx = InstructionTranslator.current_tx()               # the frame: its code and real locals
      fn = the `forward` whose __code__ is tx.f_code        # e.g. diffusers' apply_lora_scale wrapper
      torch.compile(fn, backend=record, fullgraph=True, dynamic=False)(*args sliced to x.chunk(2)[1])
                                                            # Dynamo graph 2: the half batch B

The half capture happens before the user's cache entry exists, so Dynamo counts no recompile, and
its cache entry (on the same code object, for another backend) never serves the user's calls. Its
inputs are matched to the full graph's by Dynamo source name (`L['kwargs']['hidden_states']`); at run
time the inputs named in `split_inputs` are sliced to their conditional half (a view, no copy).

The split follows diffusers' denoiser hook (faster_cache.py:283-291): tensors passed under a name in
`split_inputs`, and tensors in the frame's `*args`. Other inputs are passed whole.
"""

from __future__ import annotations

import functools
import logging
import re
import types
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import fx

from ...compiler.capture import CapturedGraph, capture
from ...errors import ConfigError
from .config import FCConfig

logger = logging.getLogger(__name__)

_RESUME_PREFIX = "torch_dynamo_resume_in_"
_CO_VARARGS, _CO_VARKEYWORDS = 0x04, 0x08


@dataclass(frozen=True)
class HalfGraph:
    """The half-batch twin of the full graph and how to call it from the full graph's arguments."""

    captured: CapturedGraph
    batch: int  # B: the conditional half of the CFG batch 2B
    arg_map: tuple[tuple[int, bool], ...]  # per half-graph input: (full-graph input index, slice to cond half)
    input_shapes: tuple[tuple[int, tuple[int, ...]], ...]  # (half input index, shape) of its user tensors

    def args(self, full_args: Sequence[Any]) -> list[Any]:
        """The half graph's arguments from the full graph's: each split input's conditional half (a view)."""
        return [full_args[i].chunk(2, dim=0)[1] if sliced else full_args[i] for i, sliced in self.arg_map]


@dataclass(frozen=True)
class FCCapture:
    full: CapturedGraph
    half: HalfGraph | None
    half_reason: str  # why there is no half graph ("" when there is one)
    split_inputs: tuple[int, ...]  # full-graph inputs holding [uncond, cond] rows
    cfg_batch: int | None  # their common dim-0 size at capture, when they agree
    output_index: int  # the graph output holding the denoiser's prediction
    owner: weakref.ref | None = None  # the compiled instance's first parameter (its state's key)


def capture_fastercache(gm: fx.GraphModule, example_inputs: Sequence[Any], config: FCConfig) -> FCCapture:
    full = capture(gm, example_inputs)
    tx = _translator()
    _check_whole_forward(gm, tx)
    split = _split_inputs(full, tx, config)
    batches = {_dim0(example_inputs[i]) for i in split}
    cfg_batch = batches.pop() if len(batches) == 1 else None
    reason = _no_half_reason(config, split, batches, cfg_batch, tx)
    half, probe_index = None, None
    if not reason:
        half, probe_index, reason = _nested_capture(full, tx, config, split, cfg_batch, example_inputs)
    output_index = _output_index(full, probe_index, needs_frequencies=not config.guidance_distilled)
    if reason:
        logger.debug("capture: no half-batch graph: %s", reason)
    else:
        logger.debug("capture: half-batch graph at batch %d, %d inputs (%d sliced), output %d", half.batch,
                     len(half.arg_map), sum(s for _, s in half.arg_map), output_index)
    owner = example_inputs[full.owner_input] if full.owner_input is not None else None
    return FCCapture(full, half, reason, split, cfg_batch, output_index,
                     weakref.ref(owner) if isinstance(owner, torch.Tensor) else None)


def _translator() -> Any:
    try:
        from torch._dynamo.symbolic_convert import InstructionTranslator

        return InstructionTranslator.current_tx()
    except Exception:  # private API; without it there is no nested capture, which the runtime reports
        return None


def _check_whole_forward(gm: fx.GraphModule, tx: Any) -> None:
    reason = getattr(gm, "compile_subgraph_reason", None)
    resumed = tx is not None and tx.f_code.co_name.startswith(_RESUME_PREFIX)
    if resumed or getattr(reason, "graph_break", False):
        why = str(getattr(reason, "reason", "") or "").strip().splitlines()
        raise ConfigError(
            "FasterCache needs the denoiser's whole forward as one graph, but Dynamo broke it into pieces "
            f"({'a resumed frame' if resumed else 'a graph break'}{': ' + why[0][:200] if why else ''}). Compile "
            "with fullgraph=True: Dynamo then also captures ops whose output shape or value depends on the data "
            "(Mochi's torch.nonzero, .item()), which break the graph otherwise; without fullgraph, set "
            "torch._dynamo.config.capture_dynamic_output_shape_ops = True and capture_scalar_outputs = True for "
            "the same. If it still breaks, fullgraph=True says where.")


def _split_inputs(full: CapturedGraph, tx: Any, config: FCConfig) -> tuple[int, ...]:
    """Full-graph user tensors passed under a split name, or through the frame's `*args`."""
    names = _frame_names(tx)
    wanted = set(config.split_inputs)
    split = []
    for graph_input in full.inputs_with_role("input"):
        match = re.fullmatch(r"L\['(\w+)'\](?:\['(\w+)'\]|\[(\d+)\])?", graph_input.source)
        if match is None:
            continue
        local, key, position = match.groups()
        if key is None and position is None and local in wanted and local not in (names["varargs"], names["varkw"]):
            split.append(graph_input.index)
        elif key is not None and local == names["varkw"] and key in wanted:
            split.append(graph_input.index)
        elif position is not None and local == names["varargs"]:
            split.append(graph_input.index)
    return tuple(split)


def _frame_names(tx: Any) -> dict[str, str | None]:
    return _frame_names_of(tx.f_code) if tx is not None else {"varargs": None, "varkw": "kwargs"}


def _dim0(value: Any) -> int | None:
    return int(value.shape[0]) if isinstance(value, torch.Tensor) and value.dim() > 0 else None


def _no_half_reason(config: FCConfig, split: tuple[int, ...], batches: set, cfg_batch: int | None, tx: Any) -> str:
    if config.guidance_distilled:
        return "guidance-distilled: there is no unconditional half"
    if config.cfg_calls == "sequential":
        return "cfg_calls='sequential': one branch per call"
    if tx is None:
        return "no Dynamo frame to capture again (the graph was not handed over by torch.compile)"
    if not split:
        return (f"no input named {', '.join(config.split_inputs)} reached the graph: nothing holds [uncond, cond] "
                f"rows (inputs passed positionally into named parameters are not split, as in diffusers)")
    if cfg_batch is None:
        return f"the inputs to split have different batch sizes {sorted(b for b in batches if b is not None)}"
    if cfg_batch % 2:
        return f"the CFG batch {cfg_batch} is odd: it cannot hold [uncond, cond] halves"
    return ""


def _nested_capture(full: CapturedGraph, tx: Any, config: FCConfig, split: tuple[int, ...], cfg_batch: int,
                    example_inputs: Sequence[Any]) -> tuple[HalfGraph | None, int | None, str]:
    try:
        fn = _frame_function(tx)
    except LookupError as err:
        return None, None, str(err)
    recorded: dict[str, Any] = {}

    def record(gm: fx.GraphModule, inputs: Sequence[Any], **_: Any) -> Any:
        recorded["captured"] = capture(gm, inputs)  # now: grapharg metadata is gone once the backend returns
        forward = gm.forward

        def run(*args: Any) -> Any:
            recorded.setdefault("outputs", forward(*args))
            return recorded["outputs"]

        return run

    positional, kwargs = _half_call(fn, tx.f_locals, set(config.split_inputs))
    try:
        with torch.no_grad():
            result = torch.compile(fn, backend=record, fullgraph=True, dynamic=False)(*positional, **kwargs)
    except Exception as err:  # noqa: BLE001 -- reported at the first skip step, with the inputs to check
        suspects = _unsplit_with_cfg_batch(full, split, cfg_batch, example_inputs)
        hint = (f"; inputs {suspects} also have the CFG batch {cfg_batch} but are not split: if they hold "
                f"[uncond, cond] rows, add their names to split_inputs "
                f"(diffusers: _unconditional_conditional_input_kwargs_identifiers)") if suspects else ""
        logger.warning("cachepass FasterCache: capturing the half-batch graph failed (%s: %s)%s",
                       type(err).__name__, str(err).splitlines()[0] if str(err) else "", hint)
        return None, None, f"capturing the half-batch graph failed: {type(err).__name__}{hint}"
    half = recorded["captured"]
    index = {graph_input.source: graph_input.index for graph_input in full.inputs}
    missing = [i.source for i in half.inputs if i.source not in index]
    if missing:
        return None, None, f"the half-batch graph reads inputs the full graph does not: {missing}"
    sliced = set(split)
    arg_map = tuple((index[i.source], index[i.source] in sliced) for i in half.inputs)
    shapes = tuple((i.index, tuple(int(s) for s in e.shape)) for i, e in zip(half.inputs, half.example_inputs())
                   if i.role == "input" and isinstance(e, torch.Tensor))
    probe = _probe_output_index(result, recorded.get("outputs"))
    got, want = _output_shape(half, probe), _output_shape(full, probe)
    if got is None or want is None or got != (cfg_batch // 2, *want[1:]):
        suspects = _unsplit_with_cfg_batch(full, split, cfg_batch, example_inputs)
        return None, None, (f"the half-batch graph predicts {got} instead of {(cfg_batch // 2, *want[1:])}" + (
            f"; inputs {suspects} also have the CFG batch {cfg_batch} but are not split: if they hold [uncond, cond] "
            f"rows, add their names to split_inputs (diffusers: _unconditional_conditional_input_kwargs_identifiers)"
            if suspects else ""))
    _warn_unsplit(full, split, cfg_batch, example_inputs)
    return HalfGraph(half, cfg_batch // 2, arg_map, shapes), probe, ""


def _frame_function(tx: Any) -> types.FunctionType:
    """The Python function Dynamo is translating: the receiver's `forward` (or what wraps it, or the hook
    function diffusers' hook registry put in its place)."""
    names = tx.f_code.co_varnames
    receiver = tx.f_locals.get(names[0]) if names else None
    for klass in type(receiver).__mro__ if receiver is not None else ():
        candidate = klass.__dict__.get("forward")
        if isinstance(candidate, types.FunctionType) and candidate.__code__ is tx.f_code:
            return candidate
    # diffusers' hooks (e.g. context parallelism's input split on the model) set the instance's `forward` to
    # partial(new_forward, module): the frame is `new_forward(module, *args, **kwargs)`, called through the hooks
    bound = getattr(receiver, "__dict__", {}).get("forward")
    if isinstance(bound, functools.partial) and getattr(bound.func, "__code__", None) is tx.f_code:
        return bound.func
    raise LookupError(f"the compiled frame ({tx.f_code.co_name}) is not a module's forward: compile the denoiser "
                      f"itself (torch.compile(transformer, ...)), not a function that calls it")


def _half_call(fn: types.FunctionType, f_locals: dict[str, Any], split: set[str]) -> tuple[list, dict]:
    """The frame's arguments with the CFG-split tensors sliced to their conditional half."""
    code = fn.__code__
    n = code.co_argcount + code.co_kwonlyargcount
    names = code.co_varnames[:n]  # only parameters: f_locals may hold other locals of a wrapper

    def half(name: str, value: Any) -> Any:
        return value.chunk(2, dim=0)[1] if name in split and isinstance(value, torch.Tensor) else value

    frame = _frame_names_of(code)
    positional = [half(k, f_locals[k]) for k in names[: code.co_argcount]]
    if frame["varargs"]:
        positional += [a.chunk(2, dim=0)[1] if isinstance(a, torch.Tensor) else a for a in f_locals[frame["varargs"]]]
    kwargs = {k: half(k, f_locals[k]) for k in names[code.co_argcount:]}
    if frame["varkw"]:
        kwargs.update({k: half(k, v) for k, v in f_locals[frame["varkw"]].items()})
    return positional, kwargs


def _frame_names_of(code: types.CodeType) -> dict[str, str | None]:
    n = code.co_argcount + code.co_kwonlyargcount
    varargs = code.co_varnames[n] if code.co_flags & _CO_VARARGS else None
    varkw = code.co_varnames[n + (1 if varargs else 0)] if code.co_flags & _CO_VARKEYWORDS else None
    return {"varargs": varargs, "varkw": varkw}


def _unsplit_with_cfg_batch(full: CapturedGraph, split: tuple[int, ...], cfg_batch: int,
                            example_inputs: Sequence[Any]) -> list[str]:
    return [i.source for i in full.inputs_with_role("input")
            if i.index not in split and _dim0(example_inputs[i.index]) == cfg_batch]


def _warn_unsplit(full: CapturedGraph, split: tuple[int, ...], cfg_batch: int, example_inputs: Sequence[Any]) -> None:
    suspects = _unsplit_with_cfg_batch(full, split, cfg_batch, example_inputs)
    if suspects:
        logger.warning("cachepass FasterCache: inputs %s have the CFG batch %d at dim 0 but are passed whole on "
                       "skip steps (as diffusers does). If they hold [uncond, cond] rows, add their names to "
                       "split_inputs.", suspects, cfg_batch)


def _probe_output_index(result: Any, outputs: Any) -> int | None:
    """Which graph output is the forward's first returned tensor, by identity (Dynamo returns the graph's
    own tensors when it rebuilds the Python result)."""
    first = result
    if not isinstance(first, torch.Tensor):
        first = getattr(result, "sample", None) if not isinstance(result, (tuple, list)) else result[0]
    if not isinstance(first, torch.Tensor) or outputs is None:
        return None
    return next((j for j, out in enumerate(outputs) if out is first), None)


def _output_shape(captured: CapturedGraph, index: int | None) -> tuple | None:
    outputs = captured.gm.graph.output_node().args[0]
    outputs = outputs if isinstance(outputs, (tuple, list)) else (outputs,)
    node = outputs[index or 0] if len(outputs) > (index or 0) else None
    value = node.meta.get("example_value") if isinstance(node, fx.Node) else None
    return tuple(value.shape) if isinstance(value, torch.Tensor) else None


def _output_index(full: CapturedGraph, probe: int | None, needs_frequencies: bool) -> int:
    """The denoiser's prediction among the graph outputs: found by identity in the half capture, else the
    first output (Dynamo lists the returned tensors first)."""
    index = probe if probe is not None else 0
    outputs = full.gm.graph.output_node().args[0]
    outputs = outputs if isinstance(outputs, (tuple, list)) else (outputs,)
    value = outputs[index].meta.get("example_value") if isinstance(outputs[index], fx.Node) else None
    if needs_frequencies and (not isinstance(value, torch.Tensor) or value.dim() < 2):
        raise ConfigError(f"FasterCache estimates the unconditional output from its frequencies over the last two "
                          f"(H, W) dims, but the denoiser's output {index} is "
                          f"{tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__}.")
    return index
