"""The one cache store every method keeps its tensors in, and the one read validator.

An entry is one or more tensors (PAB: an attention output; FasterCache: `[t_2, t]` of an attention
output, or the frequency deltas; FirstBlockCache: a residual) stamped with who wrote it:

    Stamp(graph=<runtime graph serial>, generation=<n>, context=<cache_context name or None>,
          signature=<shapes, dtypes and devices of the user inputs, and the symbolic sizes>)

`read_problem` is the validator: before any read, an entry must exist, carry the reader's stamp, and
hold tensors of the dtype, device and shape the reading graph expects. Any mismatch is a reason
(a string the runtime logs) to compute instead: never a stale read.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import torch

from .tag import TensorSpec


@dataclass(frozen=True)
class Stamp:
    graph: int  # serial of the runtime graph that wrote the entry (never an id(): addresses are reused)
    generation: int
    context: str | None  # diffusers' cache_context name for methods that keep a state per context
    signature: tuple


@dataclass(frozen=True)
class Entry:
    tensors: tuple[torch.Tensor, ...]
    stamp: Stamp

    @property
    def tensor(self) -> torch.Tensor:
        return self.tensors[-1]


class CacheStore:
    """Entries by key (a CacheSlot ident or a method's own name)."""

    def __init__(self) -> None:
        self._entries: dict[str, Entry] = {}

    def put(self, key: str, stamp: Stamp, *tensors: torch.Tensor) -> None:
        self._entries[key] = Entry(tuple(tensors), stamp)

    def get(self, key: str) -> Entry | None:
        return self._entries.get(key)

    def pop(self, key: str) -> Entry | None:
        return self._entries.pop(key, None)

    def drop(self, keys: Iterable[str]) -> None:
        for key in keys:
            self._entries.pop(key, None)

    def clear(self) -> None:
        self._entries.clear()

    def __contains__(self, key: str) -> bool:
        return key in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def __bool__(self) -> bool:
        return bool(self._entries)

    def keys(self) -> list[str]:
        return list(self._entries)

    def tensors(self) -> Iterator[torch.Tensor]:
        for entry in self._entries.values():
            yield from entry.tensors

    def nbytes(self) -> int:
        return nbytes(self.tensors())


def nbytes(tensors: Iterable[torch.Tensor]) -> int:
    """Bytes held by `tensors`; a storage shared by several of them (a view, `[x, x]`) counts once."""
    storages = {}
    for tensor in tensors:
        storage = tensor.untyped_storage()
        storages[(tensor.device, storage.data_ptr())] = storage.nbytes()
    return sum(storages.values())


def read_problem(entry: Entry | None, what: str, stamp: Stamp, spec: TensorSpec | None = None,
                 expected_shape: tuple[int, ...] | None = None) -> str | None:
    """Why `entry` may not be read by a graph stamped `stamp` expecting `spec` (None: it may)."""
    if entry is None:
        return f"no cached value for {what}"
    written = entry.stamp
    if written.graph != stamp.graph:
        return f"the cached value of {what} belongs to another graph"
    if written.generation != stamp.generation:
        return f"the cached value of {what} belongs to another generation"
    if written.context != stamp.context:
        return f"the cached value of {what} belongs to cache context {written.context!r}, not {stamp.context!r}"
    if written.signature != stamp.signature:
        return f"inputs changed shape, dtype or device since {what} was cached"
    if spec is None:
        return None
    if expected_shape is None and all(isinstance(d, int) for d in spec.shape):
        expected_shape = spec.shape
    for tensor in entry.tensors:
        if tensor.dtype != spec.dtype or tensor.device.type != spec.device.type or (
                expected_shape is not None and tuple(tensor.shape) != tuple(expected_shape)):
            return (f"cached {what} is {tuple(tensor.shape)} {tensor.dtype} on {tensor.device}, expected "
                    f"{expected_shape or spec.shape} {spec.dtype} on {spec.device.type}")
    return None
